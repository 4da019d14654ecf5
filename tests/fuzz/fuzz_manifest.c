/*
 * Fuzz target: manifests and indexes in the cache and the image graph
 * walk over them (image.c, refs.c), as cache ls, verify, gc, pin and the
 * byte budget use it. The input is up to 8 documents separated by a line
 * "--"; document k is stored as the blob sha256:000...0<k+1> (the walk
 * trusts the cache's names, so they may refer to each other, to
 * themselves, or to blobs that are not there), and a tag names
 * document 0.
 */
#include <limits.h>

#include "fuzz.h"
#include "store.h"

#define FUZZ_DOCS	8

static struct cache	cache;
static struct digest	docs[FUZZ_DOCS];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tagindex_entry	 e;
	char			 dir[512], path[PATH_MAX], *cause = NULL;
	int			 k;

	snprintf(dir, sizeof dir, "%s/cache", fuzz_dir());
	if (cache_open(&cache, dir, 0, &cause) != 0)
		abort();
	for (k = 0; k < FUZZ_DOCS; k++) {
		memset(docs[k].hex, '0', DIGEST_HEX_LEN);
		docs[k].hex[DIGEST_HEX_LEN - 1] = (char)('1' + k);
		docs[k].hex[DIGEST_HEX_LEN] = '\0';
	}
	cache_blob_path(&cache, &docs[0], path, sizeof path);
	*strrchr(path, '/') = '\0';
	if (util_mkdirs(path, 0700) != 0)
		abort();
	memset(&e, 0, sizeof e);
	e.digest = docs[0];
	util_strlcpy(e.media_type, MEDIATYPE_OCI_INDEX, sizeof e.media_type);
	if (tagindex_put(&cache, "remote", "acme/app", "v1", &e) != 0)
		abort();
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

struct walk {
	size_t	calls;
};

static int
fuzz_walk_cb(const struct digest *d, int64_t size, int is_manifest,
    int present, void *arg)
{
	struct walk	*w = arg;
	struct digest	 again;
	char		 text[DIGEST_STRING_LEN + 1];

	digest_format(d, text, sizeof text);
	FUZZ_CHECK(digest_parse(text, &again) == 0);
	FUZZ_CHECK(present == cache_blob_exists(&cache, d));
	FUZZ_CHECK(is_manifest == 0 || is_manifest == 1);
	w->calls++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest_set	 set;
	struct walk		 w;
	char			 path[PATH_MAX];
	const uint8_t		*p = data, *end = data + size, *sep;
	size_t			 len;
	int			 k, ndocs = 0;

	for (k = 0; k < FUZZ_DOCS && p <= end; k++) {
		sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		len = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
		cache_blob_path(&cache, &docs[k], path, sizeof path);
		fuzz_write_file(path, p, len);
		ndocs++;
		if (sep == NULL)
			break;
		p = sep + 4;
	}
	memset(&w, 0, sizeof w);
	FUZZ_CHECK(image_walk(&cache, &docs[0], fuzz_walk_cb, &w) == 0);
	FUZZ_CHECK(w.calls >= 1);
	memset(&set, 0, sizeof set);
	FUZZ_CHECK(refs_collect(&cache, TAGINDEX_TAGS, &set) == 0);
	FUZZ_CHECK(digest_set_contains(&set, &docs[0]));
	digest_set_free(&set);
	(void)mediatype_guess(memmem(data, size, "\"manifests\"", 11) != NULL,
	    memmem(data, size, "\"layers\"", 8) != NULL);
	for (k = 0; k < ndocs; k++) {
		cache_blob_path(&cache, &docs[k], path, sizeof path);
		unlink(path);
	}
	return 0;
}
