/*
 * A suite's Release or InRelease, as the feed code reads it: its SHA256
 * section's entries (through pkgindex.c), and what it lists for one file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/*
 * The next entry of a Release or InRelease file's SHA256 section: 1 with
 * its digest, size and path (from the suite directory), 0 at the end, -1
 * (logged) if the file is broken (see pkgindex_release_next). Malformed
 * entries, and paths longer than flen, are passed over. r->f must not
 * have been read through stdio.
 */
int
packages_release_next(struct packages_release *r, struct digest *d,
    int64_t *size, char *file, size_t flen)
{
	struct pkgindex_release_entry	 e;
	char				*cause = NULL;
	int				 rc;

	if (!r->started) {
		pkgindex_release_init(&r->it, fileno(r->f));
		r->started = 1;
	}
	while ((rc = pkgindex_release_next(&r->it, &e, &cause)) == 1) {
		if (util_strlcpy(file, e.path, flen) != 0)
			continue;
		digest_from_raw(e.sha256, d);
		*size = e.size;
		return 1;
	}
	if (rc == -1) {
		log_warn("%s: %s", __func__, cause);
		free(cause);
	}
	return rc;
}

/*
 * What a suite's signed index (InRelease, or Release) lists for a file:
 * rel is a path from the feed root such as dists/stable/main/binary-all/
 * Packages.gz; the cached InRelease/Release of dists/stable/ is read from
 * root. 0 with the digest and size from its SHA256 section.
 */
int
packages_release_lookup(const char *root, const char *rel, struct digest *d,
    int64_t *size)
{
	const char	*dists, *suite_end, *names[] = { "InRelease", "Release", NULL };
	char		 path[PATH_MAX], file[1024];
	struct packages_release	 r;
	int		 i, found = 0;

	if ((dists = strstr(rel, "dists/")) == NULL ||
	    (dists != rel && dists[-1] != '/'))
		return -1;
	if ((suite_end = strchr(dists + 6, '/')) == NULL)
		return -1;
	for (i = 0; names[i] != NULL && !found; i++) {
		if (strcmp(suite_end + 1, names[i]) == 0 ||
		    strcmp(suite_end + 1, "Release.gpg") == 0)
			return -1;	/* the heads themselves */
		snprintf(path, sizeof path, "%s/%.*s/%s#", root,
		    (int)(suite_end - rel), rel, names[i]);
		memset(&r, 0, sizeof r);
		if ((r.f = fopen(path, "r")) == NULL)
			continue;
		while (!found && packages_release_next(&r, d, size, file,
		    sizeof file) == 1)
			found = strcmp(file, suite_end + 1) == 0;
		fclose(r.f);
	}
	return found ? 0 : -1;
}
