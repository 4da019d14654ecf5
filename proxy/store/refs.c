/*
 * Sets of digests, and the set an index references: every manifest and
 * blob of every image its tags (or pins) name. What gc keeps and what the
 * byte budget may not evict are computed here.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

static int
refs_cmp(const void *a, const void *b)
{
	return memcmp(((const struct digest *)a)->hex,
	    ((const struct digest *)b)->hex, DIGEST_HEX_LEN);
}

int
digest_set_add(struct digest_set *s, const struct digest *d)
{
	struct digest	*n;
	size_t		 cap;

	if (s->n == s->cap) {
		cap = s->cap == 0 ? 64 : s->cap * 2;
		if ((n = reallocarray(s->v, cap, sizeof *n)) == NULL)
			return -1;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = *d;
	s->sorted = 0;
	return 0;
}

int
digest_set_contains(struct digest_set *s, const struct digest *d)
{
	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof *s->v, refs_cmp);
		s->sorted = 1;
	}
	return bsearch(d, s->v, s->n, sizeof *s->v, refs_cmp) != NULL;
}

void
digest_set_free(struct digest_set *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

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
	struct digest_set	*s = arg;

	(void)entry;
	(void)repo;
	(void)tag;
	return image_walk(s->cache, &e->digest, refs_add_cb, s);
}

/* Adds to s everything the images of index root (TAGINDEX_*) reference. */
int
refs_collect(const struct cache *c, const char *root, struct digest_set *s)
{
	s->cache = c;
	return tagindex_walk_in(c, root, refs_tag_cb, s);
}
