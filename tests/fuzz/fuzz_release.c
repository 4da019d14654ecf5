/*
 * Fuzz target: Release and InRelease files, the SHA256 section and the
 * clear-signed wrapper (pkgindex.c), and the suite lookup of the feed
 * code over the same file in a feed root (packages.c).
 */
#include "fuzz.h"
#include "store.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkgindex_release		 r;
	struct pkgindex_release_entry	 e;
	struct digest			 d;
	int64_t				 psize;
	char				 root[256], path[512], *cause = NULL;
	int				 fd = fuzz_memfd(data, size), rc, n = 0;

	pkgindex_release_init(&r, fd);
	while ((rc = pkgindex_release_next(&r, &e, &cause)) == 1) {
		FUZZ_CHECK(e.size >= 0);
		FUZZ_CHECK(strnlen(e.path, sizeof e.path) < sizeof e.path &&
		    e.path[0] != '\0');
		n++;
	}
	FUZZ_CHECK(rc == 0 || (rc == -1 && cause != NULL));
	free(cause);
	close(fd);

	/* The same bytes as a cached InRelease of dists/stable/. */
	snprintf(root, sizeof root, "%s/feed", fuzz_dir());
	snprintf(path, sizeof path, "%s/dists/stable", root);
	if (util_mkdirs(path, 0700) != 0)
		abort();
	snprintf(path, sizeof path, "%s/dists/stable/InRelease#", root);
	fuzz_write_file(path, data, size);
	(void)packages_release_lookup(root,
	    "dists/stable/main/binary-amd64/Packages.xz", &d, &psize);
	(void)packages_release_lookup(root, "dists/stable/main/binary-amd64/"
	    "by-hash/SHA256/0000000000000000000000000000000000000000000000000000"
	    "000000000000", &d, &psize);
	return 0;
}
