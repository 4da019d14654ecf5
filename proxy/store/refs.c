/*
 * The set an index references: every manifest and blob of every image its
 * tags (or pins) name, and of the referrers (signatures, SBOMs) cached for
 * each such image. What gc keeps and what the byte budget may not evict
 * are computed here.
 */
#include <stdio.h>
#include <string.h>

#include "store.h"

struct refs_walk {
	const struct cache	*cache;
	struct digest_set	*set;
};

static int
refs_add_cb(const struct digest *d, int64_t size, int is_manifest, int present,
    void *arg)
{
	(void)size;
	(void)is_manifest;
	(void)present;
	return digest_set_add(arg, d);
}

static int
refs_tag_cb(const char *entry, const char *repo, const char *tag,
    const struct tagindex_entry *e, void *arg)
{
	struct refs_walk	*w = arg;

	struct tagindex_entry	 l;
	char			 name[REFERENCE_TAG_MAX + 1];

	(void)tag;
	if (image_walk(w->cache, &e->digest, refs_add_cb, w->set) != 0)
		return -1;
	/* Its signatures and SBOMs go with the image, when they are listed. */
	snprintf(name, sizeof name, "sha256-%s", e->digest.hex);
	if (tagindex_get_in(w->cache, TAGINDEX_REFERRERS, entry, repo, name,
	    &l) != 0)
		return 0;
	return image_walk(w->cache, &l.digest, refs_add_cb, w->set);
}

/* Adds to s everything the images of index root (TAGINDEX_*) reference. */
int
refs_collect(const struct cache *c, const char *root, struct digest_set *s)
{
	struct refs_walk	w = { c, s };

	return tagindex_walk_in(c, root, refs_tag_cb, &w);
}
