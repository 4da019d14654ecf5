/*
 * Package indexes (Debian "Packages", opkg "Packages", plain or gzip):
 * what size and SHA-256 a package file must have. An apt index names
 * files relative to the archive root; an opkg index relative to its own
 * directory; both are tried.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "store.h"

#define PACKAGES_MAX_DEPTH	8
#define PACKAGES_LINE_MAX	4096

struct packages_want {
	const char	*rel;		/* the package file, from the feed root */
	const char	*dir;		/* the index's directory, from the root */
	struct digest	 digest;
	int64_t		 size;
	int		 found;
};

static int
packages_matches(struct packages_want *w, const char *filename)
{
	size_t	dlen = strlen(w->dir);

	if (strcmp(filename, w->rel) == 0)
		return 1;
	return dlen > 0 && strncmp(w->rel, w->dir, dlen) == 0 &&
	    w->rel[dlen] == '/' && strcmp(w->rel + dlen + 1, filename) == 0;
}

/* Scans one index (gzip or plain: gzread reads both). */
static void
packages_scan(const char *path, struct packages_want *w)
{
	gzFile		 gz;
	char		 line[PACKAGES_LINE_MAX], filename[PACKAGES_LINE_MAX];
	char		 sha[DIGEST_STRING_LEN + 8];
	long long	 size = -1;
	size_t		 len;
	int		 end = 0;

	if ((gz = gzopen(path, "rb")) == NULL)
		return;
	filename[0] = sha[0] = '\0';
	while (!w->found) {
		if (gzgets(gz, line, sizeof line) == NULL) {
			line[0] = '\0';
			end = 1;
		}
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0) {		/* end of a stanza */
			if (filename[0] != '\0' && packages_matches(w, filename)) {
				struct digest d;
				char dstr[DIGEST_STRING_LEN + 8];

				snprintf(dstr, sizeof dstr, "sha256:%s", sha);
				if (digest_parse(dstr, &d) == 0) {
					w->digest = d;
					w->size = size;
					w->found = 1;
				}
			}
			filename[0] = sha[0] = '\0';
			size = -1;
			if (end)
				break;
			continue;
		}
		if (strncmp(line, "Filename: ", 10) == 0)
			util_strlcpy(filename, line + 10, sizeof filename);
		else if (strncmp(line, "SHA256: ", 8) == 0 ||
		    strncmp(line, "SHA256sum: ", 11) == 0)
			util_strlcpy(sha, strchr(line, ' ') + 1, sizeof sha);
		else if (strncmp(line, "Size: ", 6) == 0)
			size = strtoll(line + 6, NULL, 10);
	}
	gzclose(gz);
}

static void
packages_walk(const char *root, const char *sub, int depth,
    struct packages_want *w)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 264], next[PATH_MAX];
	DIR		*d;
	struct dirent	*de;

	if (depth > PACKAGES_MAX_DEPTH || w->found)
		return;
	snprintf(dir, sizeof dir, "%s%s%s", root, sub[0] != '\0' ? "/" : "", sub);
	if ((d = opendir(dir)) == NULL)
		return;
	while (!w->found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		snprintf(next, sizeof next, "%s%s%s", sub, sub[0] != '\0' ? "/" : "",
		    de->d_name);
		if (de->d_type == DT_DIR)
			packages_walk(root, next, depth + 1, w);
		else if (strcmp(de->d_name, "Packages#") == 0 ||
		    strcmp(de->d_name, "Packages.gz#") == 0) {
			w->dir = sub;
			packages_scan(path, w);
		}
	}
	closedir(d);
}

/*
 * Looks rel (a package file's path from the feed root) up in the cached
 * indexes under root (feed files end in '#', see feed.c); 0 with its
 * digest and size if one lists it.
 */
int
packages_lookup(const char *root, const char *rel, struct digest *d,
    int64_t *size)
{
	struct packages_want	w;

	memset(&w, 0, sizeof w);
	w.rel = rel;
	w.dir = "";
	packages_walk(root, "", 0, &w);
	if (!w.found)
		return -1;
	*d = w.digest;
	*size = w.size;
	return 0;
}

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
