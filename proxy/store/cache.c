/*
 * The content-addressed store. Layout under the cache directory:
 *
 *   blobs/sha256/<2 hex>/<64 hex>   verified content (blobs and manifests)
 *   manifests/sha256/<64 hex>       a manifest's media type
 *   repos/<entry>/<repo>/_tags/<tag> tag index (tagindex.c)
 *   pins/<entry>/<repo>/_tags/<tag>  pinned images (same format)
 *   referrers/<entry>/<repo>/_tags/sha256-<hex>  referrers listings (same)
 *   tmp/                            downloads in progress
 *   partial/<64 hex>                a broken download, to be resumed
 *   quarantine/                     blobs that failed 'cache verify'
 *
 * A file appears under blobs/ only by rename(2) of a temporary file whose
 * SHA-256 matched, after fsync, so a reader never sees unverified or
 * partial bytes there, whatever happened to the process or the machine.
 * A partial file is only ever read back by a download of its digest
 * (cache_partial_claim), which re-hashes it before it goes on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/* What is partial/ is kept for at most: older ones are not resumed. */
#define CACHE_PARTIAL_MAX_AGE	(7 * 24 * 3600)
#define CACHE_PARTIAL_TRIM_MAX	64	/* files removed per trim, at most */

/*
 * Whether name is a download's temporary file ("<64 hex>.<pid>.<seq>",
 * cache_tmp_create); its label's hex goes to hex.
 */
static int
cache_tmp_label(const char *name, char hex[DIGEST_HEX_LEN + 1])
{
	size_t	i;

	for (i = 0; i < DIGEST_HEX_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	if (name[DIGEST_HEX_LEN] != '.')
		return 0;
	memcpy(hex, name, DIGEST_HEX_LEN);
	hex[DIGEST_HEX_LEN] = '\0';
	return 1;
}

/*
 * Keeps what a crashed run left of a download in partial/<hex>, the
 * larger when there are two, for cache_partial_claim; the rest of tmp/
 * is removed. Nothing there is ever served: only a download of that
 * digest takes it back, re-hashes it and checks the digest at the end.
 */
static int
cache_keep_tmp(const struct cache *c, int dfd, const char *name)
{
	char		 hex[DIGEST_HEX_LEN + 1], to[PATH_MAX];
	struct stat	 st, old;

	if (!cache_tmp_label(name, hex) || fstatat(dfd, name, &st, 0) != 0 ||
	    !S_ISREG(st.st_mode) || st.st_size == 0)
		return -1;
	snprintf(to, sizeof to, "%s/partial/%s", c->dir, hex);
	if (stat(to, &old) == 0 && old.st_size >= st.st_size)
		return -1;
	return renameat(dfd, name, AT_FDCWD, to);
}

/* Removes what a crashed run left in tmp/, but for its partial downloads. */
static void
cache_clean_tmp(const struct cache *c)
{
	char		 path[PATH_MAX], sub[PATH_MAX + 264];
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	int		 n = 0, kept = 0;

	snprintf(path, sizeof path, "%s/tmp", c->dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (cache_keep_tmp(c, dirfd(d), de->d_name) == 0) {
			kept++;
			continue;
		}
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR ? util_rmtree(sub) == 0 :
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
		else
			log_warn("%s: %s/%s: %s", __func__, path, de->d_name,
			    strerror(errno));
	}
	closedir(d);
	snprintf(path, sizeof path, "%s/partial", c->dir);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' ||
			    fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
			    st.st_mtime + CACHE_PARTIAL_MAX_AGE >= time(NULL))
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				n++;
		}
		closedir(d);
	}
	if (n > 0)
		log_info("removed %d unfinished download(s) left by an earlier run", n);
	if (kept > 0)
		log_info("kept %d partial download(s) of an earlier run, to be "
		    "resumed", kept);
}

/*
 * Opens (creating) the store. Only the daemon passes clean: the files in
 * tmp/ are its downloads, which a command must never remove under it.
 */
int
cache_open(struct cache *c, const char *dir, int clean, char **cause)
{
	static const char	*subdirs[] = { "blobs/sha256", "manifests/sha256",
	    "repos", "pins", "tmp", "partial", "quarantine", NULL };
	char			 path[PATH_MAX];
	int			 i;

	c->mem = NULL;
	if (util_strlcpy(c->dir, dir, sizeof c->dir) != 0) {
		*cause = util_printf("cache directory path too long");
		return -1;
	}
	for (i = 0; subdirs[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
		if (util_mkdirs(path, 0755) != 0) {
			*cause = util_printf("cannot create %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	if (clean)
		cache_clean_tmp(c);
	return 0;
}

int
cache_blob_path(const struct cache *c, const struct digest *d, char *buf,
    size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/blobs/sha256/%.2s/%s", c->dir, d->hex, d->hex);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* Opens a verified blob read-only; returns -1 (errno ENOENT) when absent. */
int
cache_blob_open(const struct cache *c, const struct digest *d, off_t *size)
{
	char		path[PATH_MAX];
	struct stat	st;
	int		fd;

	if (cache_blob_path(c, d, path, sizeof path) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EIO;
		return -1;
	}
	*size = st.st_size;
	return fd;
}

int
cache_blob_exists(const struct cache *c, const struct digest *d)
{
	char	path[PATH_MAX];

	if (c->mem != NULL && memcache_manifest_has(c->mem, d))
		return 1;
	if (cache_blob_path(c, d, path, sizeof path) != 0)
		return 0;
	return access(path, F_OK) == 0;
}

/* Creates a fresh temporary file for a download of d; its path goes to buf. */
int
cache_tmp_create(const struct cache *c, const struct digest *d, char *buf,
    size_t len)
{
	static unsigned	 seq;
	int		 fd, n;

	n = snprintf(buf, len, "%s/tmp/%s.%ld.%u", c->dir, d->hex,
	    (long)getpid(), ++seq);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(buf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1)
		log_warn("%s: %s: %s", __func__, buf, strerror(errno));
	return fd;
}

/*
 * Takes the partial download of d that an earlier download (or run)
 * left, as a fresh temporary file (path to buf): its descriptor and, in
 * *size, how many bytes it holds. -1 when there is none. One rename: of
 * two downloads asking at once, one gets it.
 */
int
cache_partial_claim(const struct cache *c, const struct digest *d, char *buf,
    size_t len, off_t *size)
{
	static unsigned	 seq;
	char		 from[PATH_MAX];
	struct stat	 st;
	int		 fd, n;

	snprintf(from, sizeof from, "%s/partial/%s", c->dir, d->hex);
	n = snprintf(buf, len, "%s/tmp/%s.%ld.r%u", c->dir, d->hex,
	    (long)getpid(), ++seq);
	if (n < 0 || (size_t)n >= len || rename(from, buf) != 0)
		return -1;
	if ((fd = open(buf, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_warn("%s: %s: %s", __func__, buf, strerror(errno));
		if (fd != -1)
			close(fd);
		cache_discard(buf);
		return -1;
	}
	*size = st.st_size;
	return fd;
}

/*
 * Trims partial/ to at most max bytes, the oldest files first. Partial
 * files are outside the budget: a run of broken downloads (a flaky or
 * lying upstream) must not fill the disk with them.
 */
static void
cache_partial_trim(const struct cache *c, int64_t max)
{
	char		 path[PATH_MAX], oldest[NAME_MAX + 1];
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	time_t		 when = 0;
	int64_t		 total;
	int		 i;

	snprintf(path, sizeof path, "%s/partial", c->dir);
	for (i = 0; i < CACHE_PARTIAL_TRIM_MAX; i++) {
		if ((d = opendir(path)) == NULL)
			return;
		total = 0;
		oldest[0] = '\0';
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name,
			    &st, AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			total += st.st_size;
			if (oldest[0] == '\0' || st.st_mtime < when) {
				util_strlcpy(oldest, de->d_name, sizeof oldest);
				when = st.st_mtime;
			}
		}
		if (total > max && oldest[0] != '\0' &&
		    unlinkat(dirfd(d), oldest, 0) == 0)
			log_info("partial/ holds %lld bytes, more than %lld: "
			    "removed %s", (long long)total, (long long)max, oldest);
		else
			i = CACHE_PARTIAL_TRIM_MAX;
		closedir(d);
	}
}

/*
 * Sets the temporary file tmp of a broken download of d aside in
 * partial/, for the next download of d to resume from; partial/ is then
 * trimmed to max bytes (0: no bound).
 */
void
cache_partial_keep(const struct cache *c, const struct digest *d,
    const char *tmp, int64_t max)
{
	char	to[PATH_MAX];

	snprintf(to, sizeof to, "%s/partial/%s", c->dir, d->hex);
	if (rename(tmp, to) != 0 && errno != ENOENT)
		log_warn("%s: %s: %s", __func__, tmp, strerror(errno));
	if (max > 0)
		cache_partial_trim(c, max);
}

/* Makes a rename (or link) into path's directory durable. */
void
cache_fsync_dir(const char *path)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd;

	if (util_strlcpy(dir, path, sizeof dir) != 0)
		return;
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	fsync(fd);
	close(fd);
}

/*
 * Renames a verified temporary file, already on disk, into place as blob
 * d (making its directory if need be). The rename is durable once
 * cache_fsync_dir has run on the blob's path.
 */
int
cache_place(const struct cache *c, const char *tmp, const struct digest *d)
{
	char	path[PATH_MAX], dir[PATH_MAX];

	if (cache_blob_path(c, d, path, sizeof path) != 0)
		return -1;
	snprintf(dir, sizeof dir, "%s/blobs/sha256/%.2s", c->dir, d->hex);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		log_warn("%s: %s: %s", __func__, dir, strerror(errno));
		return -1;
	}
	if (rename(tmp, path) != 0) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Publishes a verified temporary file as blob d: flush it to disk (fd;
 * -1 when the caller has), then rename it into place, durably. The caller
 * has checked the digest.
 */
int
cache_publish(const struct cache *c, int fd, const char *tmp,
    const struct digest *d)
{
	char	path[PATH_MAX];

	if (cache_blob_path(c, d, path, sizeof path) != 0)
		return -1;
	if (fd != -1 && fdatasync(fd) != 0) {
		log_warn("%s: %s: %s", __func__, tmp, strerror(errno));
		return -1;
	}
	if (cache_place(c, tmp, d) != 0)
		return -1;
	cache_fsync_dir(path);
	return 0;
}

void
cache_discard(const char *tmp)
{
	if (unlink(tmp) != 0 && errno != ENOENT)
		log_warn("%s: %s: %s", __func__, tmp, strerror(errno));
}

static int
cache_write_all(int fd, const void *p, size_t len)
{
	const char	*b = p;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Stores a small object held in memory (a manifest) after checking it is d. */
int
cache_put(const struct cache *c, const struct digest *d, const void *p,
    size_t len)
{
	struct digest	actual;
	char		tmp[PATH_MAX];
	int		fd, rc = -1;

	if (hash_buffer(p, len, &actual) != 0 || !digest_equal(&actual, d)) {
		log_warn("%s: content does not match sha256:%s", __func__, d->hex);
		return -1;
	}
	if (cache_blob_exists(c, d))
		return 0;
	if ((fd = cache_tmp_create(c, d, tmp, sizeof tmp)) == -1)
		return -1;
	if (cache_write_all(fd, p, len) != 0) {
		log_warn("%s: %s: %s", __func__, tmp, strerror(errno));
		goto out;
	}
	rc = cache_publish(c, fd, tmp, d);
out:
	close(fd);
	if (rc != 0)
		cache_discard(tmp);
	return rc;
}

/*
 * Stores a manifest with its media type: the type first, so that a crash
 * in between never leaves a manifest that cannot be answered by digest.
 */
int
cache_put_manifest(const struct cache *c, const struct digest *d,
    const void *p, size_t len, const char *type)
{
	if (cache_manifest_type_set(c, d, type) != 0 ||
	    cache_put(c, d, p, len) != 0)
		return -1;
	if (c->mem != NULL)
		memcache_manifest_put(c->mem, d, p, len, type);
	return 0;
}

/*
 * Writes a small file atomically and durably: temporary file, fsync,
 * rename, fsync of the directory.
 */
int
cache_write_file(const struct cache *c, const char *path, const char *data)
{
	char	tmp[PATH_MAX];
	int	fd, rc = -1;
	static unsigned seq;

	snprintf(tmp, sizeof tmp, "%s/tmp/small.%ld.%u", c->dir, (long)getpid(), ++seq);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1) {
		log_warn("%s: %s: %s", __func__, tmp, strerror(errno));
		return -1;
	}
	if (cache_write_all(fd, data, strlen(data)) == 0 && fdatasync(fd) == 0 &&
	    rename(tmp, path) == 0) {
		cache_fsync_dir(path);	/* the rename itself survives a crash */
		rc = 0;
	} else
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
	close(fd);
	if (rc != 0)
		cache_discard(tmp);
	return rc;
}

int
cache_manifest_type_set(const struct cache *c, const struct digest *d,
    const char *type)
{
	char	path[PATH_MAX];

	snprintf(path, sizeof path, "%s/manifests/sha256/%s", c->dir, d->hex);
	return cache_write_file(c, path, type);
}

int
cache_manifest_type_get(const struct cache *c, const struct digest *d,
    char *buf, size_t len)
{
	char		 path[PATH_MAX];
	const unsigned char *data;
	const char	*type;
	size_t		 dlen;
	ssize_t		 n;
	int		 fd;

	if (c->mem != NULL &&
	    memcache_manifest_peek(c->mem, d, &data, &dlen, &type) == 0)
		return util_strlcpy(buf, type, len);
	snprintf(path, sizeof path, "%s/manifests/sha256/%s", c->dir, d->hex);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Moves a blob that failed its digest out of blobs/ (one rename: a reader
 * that had it open keeps its bytes, no new reader finds it), keeping it
 * for inspection in quarantine/.
 */
int
cache_quarantine(const struct cache *c, const struct digest *d)
{
	char	from[PATH_MAX], to[PATH_MAX];

	if (cache_blob_path(c, d, from, sizeof from) != 0)
		return -1;
	snprintf(to, sizeof to, "%s/quarantine/sha256-%s.%ld", c->dir, d->hex,
	    (long)time(NULL));
	if (rename(from, to) != 0) {
		log_warn("%s: %s: %s", __func__, from, strerror(errno));
		return -1;
	}
	if (c->mem != NULL)
		memcache_forget(c->mem, d);
	return 0;
}

/*
 * Calls cb(digest, path, stat) for every blob in the store; a non-zero
 * return stops the walk and is returned. Names that are not digests are
 * passed over.
 */
int
cache_walk_blobs(const struct cache *c, cache_walk_cb cb, void *arg)
{
	char		 dir[PATH_MAX], sub[PATH_MAX + 264], path[PATH_MAX + 528];
	char		 dstr[DIGEST_STRING_LEN + 8];
	DIR		*top, *d;
	struct dirent	*t, *de;
	struct digest	 dg;
	struct stat	 st;
	int		 rc = 0;

	snprintf(dir, sizeof dir, "%s/blobs/sha256", c->dir);
	if ((top = opendir(dir)) == NULL)
		return -1;
	while (rc == 0 && (t = readdir(top)) != NULL) {
		if (t->d_name[0] == '.' || strlen(t->d_name) != 2)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, t->d_name);
		if ((d = opendir(sub)) == NULL)
			continue;
		while (rc == 0 && (de = readdir(d)) != NULL) {
			snprintf(dstr, sizeof dstr, "sha256:%.64s", de->d_name);
			snprintf(path, sizeof path, "%s/%s", sub, de->d_name);
			if (strlen(de->d_name) != DIGEST_HEX_LEN ||
			    digest_parse(dstr, &dg) != 0 || stat(path, &st) != 0)
				continue;
			rc = cb(&dg, path, &st, arg);
		}
		closedir(d);
	}
	closedir(top);
	return rc;
}

/* Removes a blob (and a manifest's media type) from the store. */
int
cache_remove_blob(const struct cache *c, const struct digest *d)
{
	char	path[PATH_MAX];

	if (cache_blob_path(c, d, path, sizeof path) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/manifests/sha256/%s", c->dir, d->hex);
	unlink(path);
	if (c->mem != NULL)
		memcache_forget(c->mem, d);
	return 0;
}

/* Replaces the stamp file dir/name (a time), which a running daemon watches. */
static int
cache_stamp(const struct cache *c, const char *dir, const char *name)
{
	char	path[PATH_MAX], stamp[64];

	snprintf(path, sizeof path, "%s/%s/%s", c->dir, dir, name);
	snprintf(stamp, sizeof stamp, "%lld\n", (long long)time(NULL));
	return cache_write_file(c, path, stamp);
}

/*
 * Marks the pins as changed (pins/.changed replaced), so that a running
 * daemon re-reads them before it next evicts anything.
 */
int
cache_pins_changed(const struct cache *c)
{
	return cache_stamp(c, "pins", CACHE_PINS_CHANGED);
}

/*
 * Marks the tag index as changed (repos/.changed replaced), so that a
 * running daemon forgets the tags it holds in memory. Only commands need
 * it: the daemon's own tag writes go to its memory directly.
 */
int
cache_tags_changed(const struct cache *c)
{
	return cache_stamp(c, "repos", CACHE_TAGS_CHANGED);
}

/*
 * Reads manifest d (at most max bytes) and its media type from the disk
 * into the daemon's memory: 0 with them as memcache_manifest_get gives
 * them, -1 if it is not in the store, too large, or memory keeps nothing.
 */
int
cache_manifest_load(const struct cache *c, const struct digest *d, size_t max,
    const unsigned char **data, size_t *len, const char **mtype)
{
	char		 type[TAGINDEX_MEDIA_TYPE_MAX];
	unsigned char	*buf = NULL;
	off_t		 size;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd, rc = -1;

	if (c->mem == NULL ||
	    cache_manifest_type_get(c, d, type, sizeof type) != 0 ||
	    (fd = cache_blob_open(c, d, &size)) == -1)
		return -1;
	if (size <= 0 || (uint64_t)size > max ||
	    (buf = malloc((size_t)size)) == NULL)
		goto out;
	while (got < (size_t)size) {
		n = read(fd, buf + got, (size_t)size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	memcache_manifest_put(c->mem, d, buf, got, type);
	rc = memcache_manifest_peek(c->mem, d, data, len, mtype);
out:
	free(buf);
	close(fd);
	return rc;
}
