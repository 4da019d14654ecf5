/*
 * What a feed's package files must be: every package index the feed
 * published (Packages, Packages.gz, Packages.xz, and their by-hash
 * copies) is parsed once, when it is published, into a lookup file
 * (pkgindex.c), kept under
 *
 *   feeds/<name>/pkgidx/<dir>/<sha256 of the index>
 *
 * where <dir> is the index's directory from the feed root with '/'
 * written as '%' ("%" alone for the root: '%' is never in a feed path,
 * so no two directories share a name). A package file is then checked
 * against these lookups, newest first — its path as apt names it (from
 * the archive root) or as opkg does (from the index's directory) — with a
 * few preads, never a scan of Packages on the request path. The list of
 * lookups is read once at start and kept in memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define FEEDINDEX_MAGIC		0x46494458	/* "FIDX" */
#define FEEDINDEX_MAX		64	/* lookups kept per index directory */

struct feedindex_entry {
	char			 feed[64];
	char			 dir[1024];	/* from the feed root, "" the root */
	char			 path[PATH_MAX];	/* the lookup file */
	time_t			 made;
	struct feedindex_entry	*next;		/* newest first */
};

struct feedindex {
	unsigned		 magic;
	const struct cache	*cache;
	struct feedindex_entry	*head;
	size_t			 count;
};

/*
 * Whether rel (a feed file's path from its feed root) is a package index:
 * a Packages file in any compression, or a by-hash copy in a binary-*
 * directory (where only Packages files live).
 */
int
feedindex_is_packages(const char *rel)
{
	const char	*base = strrchr(rel, '/'), *bh;

	base = base != NULL ? base + 1 : rel;
	if (strcmp(base, "Packages") == 0 || strcmp(base, "Packages.gz") == 0 ||
	    strcmp(base, "Packages.xz") == 0)
		return 1;
	if ((bh = strstr(rel, "/by-hash/SHA256/")) == NULL)
		return 0;
	while (bh > rel && bh[-1] != '/')
		bh--;
	return strncmp(bh, "binary-", 7) == 0;
}

/* The directory a package index's Filenames may be relative to. */
static void
feedindex_dir_of(const char *rel, char *dir, size_t len)
{
	const char	*bh = strstr(rel, "/by-hash/"), *slash;
	size_t		 n;

	if (bh != NULL)
		n = (size_t)(bh - rel);
	else if ((slash = strrchr(rel, '/')) != NULL)
		n = (size_t)(slash - rel);
	else
		n = 0;
	snprintf(dir, len, "%.*s", (int)n, rel);
}

static void
feedindex_encode(const char *dir, char *out, size_t len)
{
	size_t	i;

	snprintf(out, len, "%%%s", dir);
	for (i = 1; out[i] != '\0'; i++)
		if (out[i] == '/')
			out[i] = '%';
}

static int
feedindex_remember(struct feedindex *fx, const char *feed, const char *dir,
    const char *path, time_t made)
{
	struct feedindex_entry	*e, **pe;
	size_t			 n = 0;

	/* Known already (an index published again): it becomes the newest. */
	for (pe = &fx->head; (e = *pe) != NULL; pe = &e->next)
		if (strcmp(e->path, path) == 0) {
			*pe = e->next;
			fx->count--;
			break;
		}
	if (e == NULL && (e = calloc(1, sizeof *e)) == NULL)
		return -1;
	util_strlcpy(e->feed, feed, sizeof e->feed);
	util_strlcpy(e->dir, dir, sizeof e->dir);
	util_strlcpy(e->path, path, sizeof e->path);
	e->made = made;
	/* Newest first. */
	for (pe = &fx->head; *pe != NULL && (*pe)->made > made; pe = &(*pe)->next)
		;
	e->next = *pe;
	*pe = e;
	fx->count++;
	/* Bounded: the oldest of a directory beyond FEEDINDEX_MAX go. */
	for (pe = &fx->head; (e = *pe) != NULL;) {
		if (strcmp(e->feed, feed) == 0 && strcmp(e->dir, dir) == 0 &&
		    ++n > FEEDINDEX_MAX) {
			*pe = e->next;
			free(e);
			fx->count--;
			continue;
		}
		pe = &e->next;
	}
	return 0;
}

/* Reads the lookups of every feed in the store (one listing at start). */
struct feedindex *
feedindex_open(const struct cache *c)
{
	struct feedindex	*fx;
	char			 feeds[PATH_MAX], idx[PATH_MAX], sub[PATH_MAX];
	char			 path[PATH_MAX], dir[1024];
	DIR			*fd, *dd, *xd;
	struct dirent		*f, *d, *x;
	struct stat		 st;
	size_t			 i;

	if ((fx = calloc(1, sizeof *fx)) == NULL)
		return NULL;
	fx->magic = FEEDINDEX_MAGIC;
	fx->cache = c;
	snprintf(feeds, sizeof feeds, "%s/feeds", c->dir);
	if ((fd = opendir(feeds)) == NULL)
		return fx;
	while ((f = readdir(fd)) != NULL) {
		if (f->d_name[0] == '.' || (size_t)snprintf(idx, sizeof idx,
		    "%s/%s/pkgidx", feeds, f->d_name) >= sizeof idx ||
		    (dd = opendir(idx)) == NULL)
			continue;
		while ((d = readdir(dd)) != NULL) {
			if (d->d_name[0] != '%' || (size_t)snprintf(sub, sizeof sub,
			    "%s/%s", idx, d->d_name) >= sizeof sub ||
			    (xd = opendir(sub)) == NULL)
				continue;
			util_strlcpy(dir, d->d_name + 1, sizeof dir);
			for (i = 0; dir[i] != '\0'; i++)
				if (dir[i] == '%')
					dir[i] = '/';
			while ((x = readdir(xd)) != NULL) {
				if (strlen(x->d_name) != DIGEST_HEX_LEN ||
				    (size_t)snprintf(path, sizeof path, "%s/%s", sub,
				    x->d_name) >= sizeof path ||
				    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
					continue;
				feedindex_remember(fx, f->d_name, dir, path,
				    st.st_mtime);
			}
			closedir(xd);
		}
		closedir(dd);
	}
	closedir(fd);
	return fx;
}

void
feedindex_free(struct feedindex *fx)
{
	struct feedindex_entry	*e, *next;

	if (fx == NULL)
		return;
	for (e = fx->head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	fx->magic = 0;
	free(fx);
}

size_t
feedindex_count(const struct feedindex *fx)
{
	return fx->count;
}

/* The lookup file of rel's index with this digest, and its directory. */
static int
feedindex_paths(const struct cache *c, const char *feed, const char *rel,
    const struct digest *digest, char dpath[PATH_MAX], char path[PATH_MAX])
{
	char	dir[1024], enc[1100];

	feedindex_dir_of(rel, dir, sizeof dir);
	feedindex_encode(dir, enc, sizeof enc);
	return (size_t)snprintf(dpath, PATH_MAX, "%s/feeds/%s/pkgidx/%s",
	    c->dir, feed, enc) >= PATH_MAX ||
	    (size_t)snprintf(path, PATH_MAX, "%s/%s", dpath, digest->hex) >=
	    PATH_MAX ? -1 : 0;
}

/* Parses the index at data into the new file tmp, flushed to disk. */
static int
feedindex_make(const char *data, const char *tmp, size_t *count,
    char **cause)
{
	int	in = -1, out = -1, rc = -1;

	if ((in = open(data, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (out = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1) {
		*cause = util_printf("%s: %s", in == -1 ? data : tmp,
		    strerror(errno));
		goto out;
	}
	if (pkgindex_build(in, out, PKGINDEX_MAX_DEFAULT, count, cause) != 0)
		goto out;
	if (fdatasync(out) != 0) {
		*cause = util_printf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/*
 * The lookup of a package index (rel of feed, at data, hashing to digest)
 * parsed into tmp ahead of feedindex_add, unless the cache has it
 * already. It touches nothing but the file system and its arguments: a
 * worker thread runs it while a download is stored, so the loop never
 * parses a large index. 1 built, 0 already there, -1 with *cause.
 */
int
feedindex_build(const struct cache *c, const char *feed, const char *rel,
    const char *data, const struct digest *digest, const char *tmp,
    char **cause)
{
	char	dpath[PATH_MAX], path[PATH_MAX];
	size_t	count;

	if (feedindex_paths(c, feed, rel, digest, dpath, path) != 0) {
		*cause = util_printf("%s: path too long", rel);
		return -1;
	}
	if (access(path, F_OK) == 0)
		return 0;
	if (feedindex_make(data, tmp, &count, cause) != 0)
		return -1;
	log_info("feed %s: %s: %zu packages indexed", feed, rel, count);
	return 1;
}

/*
 * A package index of feed was published at data (rel from the feed
 * root): its lookup is built (once per content: the name is the index's
 * digest), or taken from built (feedindex_build's file; NULL: none), and
 * remembered; its path goes to where. 0, or -1 with *cause (the index is
 * unusable; nothing is remembered). built is consumed either way: put in
 * place or removed, never left in tmp/.
 */
int
feedindex_add(struct feedindex *fx, const char *feed, const char *rel,
    const char *data, const struct digest *digest, const char *built,
    char *where, size_t wlen, char **cause)
{
	char	dir[1024], dpath[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	size_t	count;

	feedindex_dir_of(rel, dir, sizeof dir);
	if (feedindex_paths(fx->cache, feed, rel, digest, dpath, path) != 0) {
		*cause = util_printf("%s: path too long", rel);
		goto fail;
	}
	util_strlcpy(where, path, wlen);
	if (access(path, F_OK) == 0) {
		if (built != NULL)
			unlink(built);
		utimensat(AT_FDCWD, path, NULL, 0);	/* newest after a restart too */
		return feedindex_remember(fx, feed, dir, path, time(NULL));
	}
	if (util_mkdirs(dpath, 0755) != 0) {
		*cause = util_printf("%s: %s", dpath, strerror(errno));
		goto fail;
	}
	if (built == NULL) {
		snprintf(tmp, sizeof tmp, "%s/tmp/pkgidx.%s.%ld", fx->cache->dir,
		    digest->hex, (long)getpid());
		if (feedindex_make(data, tmp, &count, cause) != 0)
			return -1;
		log_info("feed %s: %s: %zu packages indexed", feed, rel, count);
		built = tmp;
	}
	if (rename(built, path) != 0) {
		*cause = util_printf("%s: %s", path, strerror(errno));
		goto fail;
	}
	cache_fsync_dir(path);
	stats_add(STATS_FEED_INDEXES_PARSED, 1);
	return feedindex_remember(fx, feed, dir, path, time(NULL));
fail:
	if (built != NULL)
		unlink(built);
	return -1;
}

static int
feedindex_lookup_file(const char *path, const char *name, struct digest *d,
    int64_t *size)
{
	int	fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = pkgindex_lookup(fd, name, d, size);
	close(fd);
	return rc;
}

/*
 * What feed's package file rel must be, per the newest lookup that lists
 * it: 1 with its digest and size (-1 if unknown), 0 if no cached index
 * lists it, -1 if none does but a lookup could not be read (fail closed:
 * it may have listed it).
 */
int
feedindex_lookup(const struct feedindex *fx, const char *feed, const char *rel,
    struct digest *d, int64_t *size)
{
	const struct feedindex_entry	*e;
	size_t				 dlen;
	int				 rc, damaged = 0;

	for (e = fx->head; e != NULL; e = e->next) {
		if (strcmp(e->feed, feed) != 0)
			continue;
		if ((rc = feedindex_lookup_file(e->path, rel, d, size)) == 1)
			return 1;
		damaged |= rc == -1;
		dlen = strlen(e->dir);
		if (dlen > 0 && strncmp(rel, e->dir, dlen) == 0 &&
		    rel[dlen] == '/') {
			if ((rc = feedindex_lookup_file(e->path, rel + dlen + 1, d,
			    size)) == 1)
				return 1;
			damaged |= rc == -1;
		}
	}
	return damaged ? -1 : 0;
}
