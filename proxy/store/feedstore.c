/*
 * Feed files in the store. For feed <name>, under the cache directory:
 *
 *   feeds/<name>/data/<path>#          a loose file: package files, and
 *   feeds/<name>/meta/<path>#          volatile files no set holds; its
 *                                      meta (ETag, Last-Modified, SHA-256,
 *                                      when checked), as JSON
 *   feeds/<name>/sets/<head>#/current  symlink naming the set's current
 *                                      version, "v.XXXXXX"
 *   feeds/<name>/sets/<head>#/v.XXXXXX/data/<path>#
 *   feeds/<name>/sets/<head>#/v.XXXXXX/meta/<path>#
 *                                      one version of a set: its head and
 *                                      the members it holds, with paths
 *                                      from the feed root (so the package
 *                                      index readers take a version's
 *                                      data/ as a feed root)
 *
 * <head> is a set's head file: dists/<suite>/InRelease or Release, or an
 * opkg feed's [<dir>/]Packages.gz (feedset.c). The '#' (which no valid
 * path may contain) keeps a file from ever taking the name of a
 * directory — caching "dists" cannot break "dists/stable/InRelease" — and
 * a set's directory from taking the name of anything else.
 *
 * A set changes only by whole versions: a new one is built in a fresh
 * directory (mkdtemp) that nothing names, every file in it flushed and
 * renamed into place, unchanged members hard-linked from the current
 * version (files are never modified in place); then its directories are
 * flushed and one rename of a new symlink over "current", followed by a
 * flush of the set's directory, switches it. A kill at any moment leaves
 * "current" naming the old version or the new one, each complete.
 * Versions no pointer names (a build cut short, an old version not yet
 * removed) are removed when the daemon starts (feedstore_clean). A file
 * may be added to the current version later, verified against that
 * version's head, by the same flush-and-rename.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

/*
 * A path inside a feed: components of [A-Za-z0-9._+~:=@,-] (no '%': what
 * we check is what the upstream gets), none "." or
 * "..", at most 16 deep. Anything else never reaches the file system.
 */
int
feedstore_valid_path(const char *rel)
{
	const char	*p = rel, *c;
	int		 depth = 0;
	size_t		 len;

	if (*rel == '\0' || strlen(rel) > 1024)
		return 0;
	while (*p != '\0') {
		len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.') || ++depth > 16)
			return 0;
		for (c = p; c < p + len; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || strchr("._+~:=@,-", *c) != NULL))
				return 0;
		p += len;
		if (*p == '/' && *++p == '\0')
			return 0;	/* a trailing '/' */
	}
	return 1;
}

/* <cache>/feeds/<feed>: the root of a feed's loose files. */
int
feedstore_root(const struct cache *c, const char *feed, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/feeds/%s", c->dir, feed);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/*
 * <root>/<tree>/<rel># for tree "data" or "meta"; root is a feed's
 * (feedstore_root) or a set version's.
 */
int
feedstore_path(const char *root, const char *tree, const char *rel,
    char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/%s/%s#", root, tree, rel);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Creates the directories above path. */
int
feedstore_mkparent(const char *path)
{
	char	dir[PATH_MAX], *slash;

	if (util_strlcpy(dir, path, sizeof dir) != 0)
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	return util_mkdirs(dir, 0755);
}

int
feedstore_meta_read(const char *path, struct feed_meta *m)
{
	json_t		*o;
	json_error_t	 err;
	const char	*s;

	memset(m, 0, sizeof *m);
	if ((o = json_load_file(path, 0, &err)) == NULL)
		return -1;
	if ((s = json_string_value(json_object_get(o, "etag"))) != NULL)
		util_strlcpy(m->etag, s, sizeof m->etag);
	if ((s = json_string_value(json_object_get(o, "last_modified"))) != NULL)
		util_strlcpy(m->last_modified, s, sizeof m->last_modified);
	if ((s = json_string_value(json_object_get(o, "sha256"))) != NULL)
		util_strlcpy(m->sha256, s, sizeof m->sha256);
	m->checked = (time_t)json_integer_value(json_object_get(o, "checked"));
	json_decref(o);
	return 0;
}

int
feedstore_meta_write(const struct cache *c, const char *path, const struct feed_meta *m)
{
	char	*text;
	json_t	*o;
	int	 rc;

	if (feedstore_mkparent(path) != 0)
		return -1;
	o = json_pack("{s:s, s:s, s:s, s:I}", "etag", m->etag, "last_modified",
	    m->last_modified, "sha256", m->sha256, "checked",
	    (json_int_t)m->checked);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return -1;
	rc = cache_write_file(c, path, text);
	free(text);
	return rc;
}

/*
 * Removes a feed file (its absolute data path) and what is known of it:
 * the budget evicts package files this way.
 */
int
feedstore_remove(const struct cache *c, const char *data)
{
	char		 meta[PATH_MAX];
	const char	*at;
	size_t		 len = strlen(c->dir);
	int		 rc = 0;

	if (strncmp(data, c->dir, len) != 0 || data[len] != '/' ||
	    strstr(data, "/../") != NULL)
		return -1;
	if (unlink(data) != 0 && errno != ENOENT)
		rc = -1;
	if ((at = strstr(data + len, "/data/")) != NULL &&
	    (size_t)snprintf(meta, sizeof meta, "%.*s/meta/%s", (int)(at - data),
	    data, at + 6) < sizeof meta)
		unlink(meta);
	return rc;
}

/* feeds/<name>/sets/<head>#: the directory of the set headed by head. */
int
feedstore_set_dir(const struct cache *c, const char *feed, const char *head,
    char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/feeds/%s/sets/%s#", c->dir, feed, head);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* A version's name as "current" may hold it: v.XXXXXX, nothing else. */
static int
feedstore_version_name(const char *name)
{
	size_t	i;

	if (strncmp(name, "v.", 2) != 0 || strlen(name) != 8)
		return 0;
	for (i = 2; i < 8; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

/* The name current gives in setdir; -1 if none (no set yet). */
static int
feedstore_current_name(const char *setdir, char *name, size_t len)
{
	char	link[PATH_MAX];
	ssize_t	n;

	if ((size_t)snprintf(link, sizeof link, "%s/current", setdir) >=
	    sizeof link || len < 2)
		return -1;
	if ((n = readlink(link, name, len - 1)) < 0)
		return -1;
	name[n] = '\0';
	if (!feedstore_version_name(name)) {
		log_warn("%s: %s names %.40s, not a version", __func__, link, name);
		return -1;
	}
	return 0;
}

/* The directory of the set's current version; -1 if there is none. */
int
feedstore_set_current(const char *setdir, char *buf, size_t len)
{
	char	name[32];
	int	n;

	if (feedstore_current_name(setdir, name, sizeof name) != 0)
		return -1;
	n = snprintf(buf, len, "%s/%s", setdir, name);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* A new, empty version of the set, which nothing names yet. */
int
feedstore_set_begin(const char *setdir, char *buf, size_t len)
{
	int	n;

	if (util_mkdirs(setdir, 0755) != 0) {
		log_warn("%s: %s: %s", __func__, setdir, strerror(errno));
		return -1;
	}
	n = snprintf(buf, len, "%s/v.XXXXXX", setdir);
	if (n < 0 || (size_t)n >= len || mkdtemp(buf) == NULL) {
		log_warn("%s: %s: %s", __func__, setdir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Carries rel, unchanged, from version from into version to: its file and
 * its meta, hard-linked.
 */
int
feedstore_set_link(const char *from, const char *to, const char *rel)
{
	static const char	*trees[] = { "data", "meta", NULL };
	char			 src[PATH_MAX], dst[PATH_MAX];
	int			 i;

	for (i = 0; trees[i] != NULL; i++) {
		if (feedstore_path(from, trees[i], rel, src, sizeof src) != 0 ||
		    feedstore_path(to, trees[i], rel, dst, sizeof dst) != 0 ||
		    feedstore_mkparent(dst) != 0 || link(src, dst) != 0) {
			log_warn("%s: %s: %s", __func__, rel, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Flushes every directory under path, deepest first, so that the entries
 * renamed and linked into a version are on disk before anything names it.
 */
static int
feedstore_sync_tree(const char *path, int depth)
{
	char		 sub[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	int		 rc = 0;

	if (depth > 40 || (d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    de->d_type != DT_DIR)
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >=
		    sizeof sub || feedstore_sync_tree(sub, depth + 1) != 0)
			rc = -1;
	}
	if (fsync(dirfd(d)) != 0)
		rc = -1;
	closedir(d);
	return rc;
}

/*
 * Makes version the set's current one: the version flushed, then one
 * rename of a new symlink over "current", flushed with the set's
 * directory; then the version it replaced is removed. On failure the old
 * version stays current.
 */
int
feedstore_set_commit(const char *setdir, const char *version)
{
	char		 old[32], oldpath[PATH_MAX], link[PATH_MAX], tmp[PATH_MAX];
	const char	*name = strrchr(version, '/');
	int		 had_old;

	if (name == NULL || !feedstore_version_name(name + 1))
		return -1;
	name++;
	had_old = feedstore_current_name(setdir, old, sizeof old) == 0 &&
	    strcmp(old, name) != 0;
	snprintf(link, sizeof link, "%s/current", setdir);
	snprintf(tmp, sizeof tmp, "%s/current.new", setdir);
	if (feedstore_sync_tree(version, 0) != 0) {
		log_warn("%s: %s: cannot flush it", __func__, version);
		return -1;
	}
	if ((unlink(tmp) != 0 && errno != ENOENT) || symlink(name, tmp) != 0 ||
	    rename(tmp, link) != 0) {
		log_warn("%s: %s: %s", __func__, link, strerror(errno));
		unlink(tmp);
		return -1;
	}
	cache_fsync_dir(link);
	if (had_old) {
		snprintf(oldpath, sizeof oldpath, "%s/%s", setdir, old);
		if (util_rmtree(oldpath) != 0)
			log_warn("%s: cannot remove %s", __func__, oldpath);
	}
	return 0;
}

/* Drops a version that was never made current. */
void
feedstore_set_discard(const char *version)
{
	if (version[0] != '\0' && util_rmtree(version) != 0)
		log_warn("%s: cannot remove %s", __func__, version);
}

typedef int (*feedstore_set_cb)(const char *, void *);

/*
 * Calls cb(setdir) for every set directory under dir (the sets/ of a
 * feed, or a directory below it); a non-zero return stops the walk.
 */
static int
feedstore_walk_sets(const char *dir, int depth, feedstore_set_cb cb, void *arg)
{
	char		 sub[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	size_t		 len;
	int		 rc = 0;

	if (depth > 17 || (d = opendir(dir)) == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR ||
		    (size_t)snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >=
		    sizeof sub)
			continue;
		len = strlen(de->d_name);
		if (de->d_name[len - 1] == '#')
			rc = cb(sub, arg);
		else
			rc = feedstore_walk_sets(sub, depth + 1, cb, arg);
	}
	closedir(d);
	return rc;
}


/* Removes from a set's directory all but "current" and what it names. */
static int
feedstore_clean_cb(const char *setdir, void *arg)
{
	int		*removed = arg;
	char		 current[32], path[PATH_MAX];
	DIR		*d;
	struct dirent	*de;

	if (feedstore_current_name(setdir, current, sizeof current) != 0)
		current[0] = '\0';
	if ((d = opendir(setdir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, current) == 0 ||
		    (current[0] != '\0' && strcmp(de->d_name, "current") == 0))
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", setdir,
		    de->d_name) >= sizeof path)
			continue;
		if (de->d_type == DT_DIR ? util_rmtree(path) == 0 :
		    unlink(path) == 0)
			(*removed)++;
		else
			log_warn("%s: %s: %s", __func__, path, strerror(errno));
	}
	closedir(d);
	return 0;
}

/*
 * At daemon start, before any request: removes what a crashed run left —
 * set versions no pointer names, unfinished pointers, and the pending/
 * directories of older layouts. Never run by a command, under a running
 * daemon.
 */
void
feedstore_clean(const struct cache *c)
{
	char		 dir[PATH_MAX], sub[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	int		 removed = 0;

	snprintf(dir, sizeof dir, "%s/feeds", c->dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s/pending", dir,
		    de->d_name) >= sizeof sub)
			continue;
		if (access(sub, F_OK) == 0) {
			if (util_rmtree(sub) == 0)
				removed++;
			else
				log_warn("%s: cannot remove %s", __func__, sub);
		}
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s/sets", dir,
		    de->d_name) < sizeof sub)
			feedstore_walk_sets(sub, 0, feedstore_clean_cb, &removed);
	}
	closedir(d);
	if (removed > 0)
		log_info("removed %d unfinished feed set version(s) left by an "
		    "earlier run", removed);
}

/*
 * Splits a feed file's place (its data path: a loose file's, or a set
 * version's member) into its feed's name and its path from the feed
 * root. -1 if it is not a feed file's place.
 */
int
feedstore_split(const struct cache *c, const char *data, char *feed,
    size_t flen, char *rel, size_t rlen)
{
	const char	*p, *slash, *v, *end;
	size_t		 len = strlen(c->dir);

	if (strncmp(data, c->dir, len) != 0 || strncmp(data + len, "/feeds/", 7) != 0)
		return -1;
	p = data + len + 7;
	if ((slash = strchr(p, '/')) == NULL ||
	    (size_t)snprintf(feed, flen, "%.*s", (int)(slash - p), p) >= flen)
		return -1;
	p = slash + 1;
	if (strncmp(p, "sets/", 5) == 0) {
		/* sets/<head>#/v.XXXXXX/data/<rel># */
		if ((v = strstr(p, "#/v.")) == NULL || (p = strchr(v + 2, '/')) == NULL)
			return -1;
		p++;
	}
	if (strncmp(p, "data/", 5) != 0)
		return -1;
	p += 5;
	end = p + strlen(p);
	if (end == p || end[-1] != '#' ||
	    (size_t)snprintf(rel, rlen, "%.*s", (int)(end - p - 1), p) >= rlen)
		return -1;
	return 0;
}
