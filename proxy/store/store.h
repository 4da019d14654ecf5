/*
 * pullgate's store, above the basics and certs: the content-addressed
 * blobs, the tag index and pins, the image graph, the byte budget, feed
 * file storage, package indexes and tar archives. No event loop, no
 * network: the daemon and the commands that touch the cache share it.
 */
#ifndef PULLGATE_STORE_H
#define PULLGATE_STORE_H

#include <sys/stat.h>
#include <sys/types.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "certs.h"

/* cache.c: the content-addressed store on disk. */
struct memcache;
struct cache {
	char		 dir[1024];
	struct memcache	*mem;	/* the daemon's memory of it, or NULL */
};

int	 cache_open(struct cache *, const char *, int, char **);
int	 cache_blob_path(const struct cache *, const struct digest *, char *, size_t);
int	 cache_blob_open(const struct cache *, const struct digest *, off_t *);
int	 cache_blob_exists(const struct cache *, const struct digest *);
int	 cache_tmp_create(const struct cache *, const struct digest *, char *, size_t);
int	 cache_publish(const struct cache *, int, const char *, const struct digest *);
int	 cache_place(const struct cache *, const char *, const struct digest *);
void	 cache_discard(const char *);
int	 cache_partial_claim(const struct cache *, const struct digest *, char *,
	     size_t, off_t *);
void	 cache_partial_keep(const struct cache *, const struct digest *,
	     const char *, int64_t);
int	 cache_put(const struct cache *, const struct digest *, const void *, size_t);
int	 cache_put_manifest(const struct cache *, const struct digest *,
	     const void *, size_t, const char *);
int	 cache_write_file(const struct cache *, const char *, const char *);
void	 cache_fsync_dir(const char *);
int	 cache_manifest_type_set(const struct cache *, const struct digest *, const char *);
int	 cache_manifest_type_get(const struct cache *, const struct digest *, char *, size_t);
int	 cache_quarantine(const struct cache *, const struct digest *);
int	 cache_remove_blob(const struct cache *, const struct digest *);
typedef int (*cache_walk_cb)(const struct digest *, const char *,
	     const struct stat *, void *);
int	 cache_walk_blobs(const struct cache *, cache_walk_cb, void *);
#define CACHE_PINS_CHANGED	".changed"	/* under pins/ */
int	 cache_pins_changed(const struct cache *);
#define CACHE_TAGS_CHANGED	".changed"	/* under repos/ */
int	 cache_tags_changed(const struct cache *);
int	 cache_manifest_load(const struct cache *, const struct digest *,
	     size_t, const unsigned char **, size_t *, const char **);

/* tagindex.c: which digest a tag of a repository of an entry points to. */
#define TAGINDEX_MEDIA_TYPE_MAX	128
#define TAGINDEX_TAGS		"repos"		/* what tags resolved to */
#define TAGINDEX_PINS		"pins"		/* what the operator pinned */
#define TAGINDEX_REFERRERS	"referrers"	/* listings, as sha256-<hex> */

struct tagindex_entry {
	struct digest	digest;
	char		media_type[TAGINDEX_MEDIA_TYPE_MAX];
	time_t		checked;	/* last confirmed with the upstream */
};

int	 tagindex_get(const struct cache *, const char *, const char *,
	     const char *, struct tagindex_entry *);
int	 tagindex_put(const struct cache *, const char *, const char *,
	     const char *, const struct tagindex_entry *);
int	 tagindex_list(const struct cache *, const char *, const char *,
	     char ***, size_t *);
void	 tagindex_list_free(char **, size_t);
int	 tagindex_resolve(const struct cache *, const char *const *, size_t,
	     const char *, const char *, struct tagindex_entry *);
typedef int (*tagindex_walk_cb)(const char *, const char *, const char *,
	     const struct tagindex_entry *, void *);
int	 tagindex_walk(const struct cache *, tagindex_walk_cb, void *);
int	 tagindex_get_in(const struct cache *, const char *, const char *,
	     const char *, const char *, struct tagindex_entry *);
int	 tagindex_put_in(const struct cache *, const char *, const char *,
	     const char *, const char *, const struct tagindex_entry *);
int	 tagindex_remove_in(const struct cache *, const char *, const char *,
	     const char *, const char *);
int	 tagindex_walk_in(const struct cache *, const char *, tagindex_walk_cb,
	     void *);

/* image.c: an image's graph of manifests and blobs, from the cache. */
typedef int (*image_walk_cb)(const struct digest *, int64_t, int, int, void *);

int	 image_walk(const struct cache *, const struct digest *, image_walk_cb,
	     void *);

/* digest_set.c: sets of digests; all zero is an empty set. */
struct digest_set {
	struct digest		*v;
	size_t			 n, cap;
	int			 sorted;
};

int	 digest_set_add(struct digest_set *, const struct digest *);
int	 digest_set_contains(struct digest_set *, const struct digest *);
void	 digest_set_free(struct digest_set *);

/* refs.c: what an index's images reference. */
int	 refs_collect(const struct cache *, const char *, struct digest_set *);

/* storeindex.c: what the store holds, in memory, for the budget. */
#define STOREINDEX_KEY_LEN	32

enum storeindex_class {
	STOREINDEX_BLOB,		/* evictable unless pinned */
	STOREINDEX_FEED_FILE,		/* a loose feed file: evictable unless pinned */
	STOREINDEX_FEED_KEPT		/* a set's member, a lookup: goes with its set */
};

struct storeindex;

struct storeindex *storeindex_new(void);
void	 storeindex_free(struct storeindex *);
int	 storeindex_rebuild(struct storeindex *, const struct cache *, char **);
int	 storeindex_rescan(struct storeindex *, const struct cache *,
	     const char *);
void	 storeindex_key_blob(const struct digest *, unsigned char *);
int	 storeindex_key_path(const char *, unsigned char *);
enum storeindex_class storeindex_classify(const char *);
int	 storeindex_put(struct storeindex *, const unsigned char *,
	     enum storeindex_class, int64_t, const struct timespec *,
	     const char *);
void	 storeindex_touch(struct storeindex *, const unsigned char *);
void	 storeindex_remove(struct storeindex *, const unsigned char *);
void	 storeindex_unpin_all(struct storeindex *);
void	 storeindex_pin(struct storeindex *, const unsigned char *);
int	 storeindex_oldest(const struct storeindex *, unsigned char *,
	     int64_t *, const char **);
int64_t	 storeindex_bytes(const struct storeindex *);
int64_t	 storeindex_evictable_bytes(const struct storeindex *);
size_t	 storeindex_count(const struct storeindex *);
size_t	 storeindex_memory(const struct storeindex *);

/* budget.c: cache_max_bytes over blobs, feed files and downloads. */
struct budget;

struct budget *budget_new(const struct cache *, int64_t, char **);
void	 budget_set_max(struct budget *, int64_t);
void	 budget_free(struct budget *);
struct storeindex *budget_index(struct budget *);
int	 budget_rebuild(struct budget *, char **);
void	 budget_pins_changed(struct budget *);
int	 budget_reserve(struct budget *, int64_t, char **);
void	 budget_release(struct budget *, int64_t);
int	 budget_rescan(struct budget *, const char *);
int	 budget_add_blob(struct budget *, const struct digest *, int64_t);
void	 budget_forget_blob(struct budget *, const struct digest *);
int	 budget_add_file(struct budget *, const char *, int64_t);
void	 budget_use_blob(struct budget *, const struct digest *, int);
void	 budget_use_file(struct budget *, const char *, int);

/* memcache.c: manifests and tags in the daemon's memory, LRU by bytes. */
struct memcache *memcache_new(size_t);
void	 memcache_free(struct memcache *);
void	 memcache_set_max(struct memcache *, size_t);
int	 memcache_manifest_get(struct memcache *, const struct digest *,
	     const unsigned char **, size_t *, const char **);
int	 memcache_manifest_has(struct memcache *, const struct digest *);
int	 memcache_manifest_peek(struct memcache *, const struct digest *,
	     const unsigned char **, size_t *, const char **);
void	 memcache_manifest_put(struct memcache *, const struct digest *,
	     const void *, size_t, const char *);
void	 memcache_forget(struct memcache *, const struct digest *);
int	 memcache_tag_get(struct memcache *, const char *, const char *,
	     const char *, struct tagindex_entry *);
void	 memcache_tag_put(struct memcache *, const char *, const char *,
	     const char *, const struct tagindex_entry *);
void	 memcache_tag_forget(struct memcache *, const char *, const char *,
	     const char *);
void	 memcache_tags_flush(struct memcache *);
void	 memcache_flush(struct memcache *);

/* storewatch.c: changes other processes make, seen by the daemon. */
struct storewatch;

struct storewatch *storewatch_new(const struct cache *, char **);
void	 storewatch_free(struct storewatch *);
int	 storewatch_fd(const struct storewatch *);
int	 storewatch_read(struct storewatch *, struct budget *);

/* feedpins.c: feed files that prefill --feed pinned. */
int	 feedpins_add(const struct cache *, const char *, const char *);
int	 feedpins_apply(const struct cache *, struct storeindex *);

/* mediatype.c: manifest media types, one list. */
#define MEDIATYPE_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MEDIATYPE_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MEDIATYPE_DOCKER_LIST	\
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIATYPE_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"

extern const char mediatype_accept_header[];
int	 mediatype_is_manifest(const char *);
const char *mediatype_guess(int, int);

/*
 * feedstore.c: feed files under feeds/<name>/{data,meta}/<path>#, and
 * suites' index sets as versions under feeds/<name>/sets/<head>#/ that
 * one pointer switches.
 */
struct feed_meta {
	char	etag[256];		/* the upstream's */
	char	last_modified[64];	/* the upstream's */
	char	sha256[DIGEST_HEX_LEN + 1];
	time_t	checked;
};

int	 feedstore_valid_path(const char *);
int	 feedstore_root(const struct cache *, const char *, char *, size_t);
int	 feedstore_path(const char *, const char *, const char *, char *,
	     size_t);
int	 feedstore_mkparent(const char *);
int	 feedstore_meta_read(const char *, struct feed_meta *);
int	 feedstore_meta_write(const struct cache *, const char *,
	     const struct feed_meta *);
int	 feedstore_remove(const struct cache *, const char *);

/*
 * pkgindex.c: Debian and opkg package indexes. One streaming parser for
 * "Packages" (plain, gzip or xz, told apart by their magic bytes) and for
 * the SHA256 section of Release/InRelease, and a compact on-disk lookup
 * index built from a Packages file once, when it is published.
 */
#define PKGINDEX_SHA256_LEN	32
#define PKGINDEX_MAX_DEFAULT	(1ULL << 30)	/* decompressed bytes */
#define PKGINDEX_LINE_MAX	(256 * 1024)	/* bookworm's longest: 75 KB */
#define PKGINDEX_STANZA_MAX	(512 * 1024)	/* the kept fields of a stanza */
#define PKGINDEX_RECORDS_MAX	(1024 * 1024)	/* packages in one index */
#define PKGINDEX_XZ_MEMLIMIT	(80 * 1024 * 1024)	/* xz -9 needs 65 MiB */

/*
 * One stanza of a Packages file. The strings are "" when the field is
 * absent and valid only during the callback; a field's continuation lines
 * are joined to it with one space. Field names match case-insensitively;
 * opkg's "SHA256sum" is the same field as "SHA256".
 */
struct pkgindex_stanza {
	const char	*package;
	const char	*version;
	const char	*architecture;
	const char	*filename;
	const char	*depends;
	const char	*pre_depends;
	const char	*provides;
	int64_t		 size;			/* -1 when absent */
	int		 has_sha256;
	unsigned char	 sha256[PKGINDEX_SHA256_LEN];
	uint64_t	 line;			/* its first line, from 1 */
};

struct pkgindex_stats {
	uint64_t	stanzas;	/* handed to the callback */
	uint64_t	skipped;	/* malformed: never handed over */
	uint64_t	bytes;		/* of text, after decompression */
};

/*
 * Called once per well-formed stanza: 0 goes on, 1 stops the parse (it
 * then returns 1), -1 fails it (with *cause set by the callback, or not).
 */
typedef int (*pkgindex_stanza_cb)(const struct pkgindex_stanza *, void *,
	     char **);

/*
 * Reads a Packages file from fd to its end and hands each well-formed
 * stanza to cb. 0 at the end of the input, 1 if cb stopped it, -1 with
 * *cause on a read error, a broken, truncated or unsupported compressed
 * stream, more than max bytes of text, or cb's failure. A stanza is
 * skipped (and counted in stats, which may be NULL) for: a line longer
 * than PKGINDEX_LINE_MAX, a NUL byte, a line that is neither "Name: value"
 * nor a continuation of one, a kept field given twice, kept fields over
 * PKGINDEX_STANZA_MAX, an SHA256 that is not 64 hex digits, a Size that is
 * not a decimal in [0, INT64_MAX].
 */
int	 pkgindex_parse(int, uint64_t, pkgindex_stanza_cb, void *,
	     struct pkgindex_stats *, char **);

/*
 * Builds the lookup index of the Packages file on in_fd (any compression,
 * at most max_decompressed bytes of text) into out_fd, a new regular file
 * written from offset 0 (the caller syncs and renames it). Stanzas without
 * a Filename or an SHA256 are left out; of stanzas naming the same path,
 * the first one in the file is kept. 0 with the number of packages in
 * *count, or -1 with *cause (out_fd then holds nothing usable).
 */
int	 pkgindex_build(int, int, uint64_t, size_t *, char **);

/*
 * What the index on idx_fd lists for path (a Filename as the Packages file
 * names it; leading "./" is ignored, as in the build): 1 with its SHA-256
 * and size (-1 if the stanza gave none), 0 if it is not listed, -1 (and a
 * warning logged) if the index is truncated or corrupt. Reads only the
 * header and the records of a binary search, with pread.
 */
int	 pkgindex_lookup(int, const char *, struct digest *, int64_t *);

/*
 * Checks a whole index (header, every record's checksum, order, and the
 * records' SHA-256 in the header): 0 with its number of packages, or -1
 * with *cause. For housekeeping, not the request path.
 */
int	 pkgindex_verify(int, size_t *, char **);

/*
 * Release and InRelease: the entries of the SHA256 section, in file order.
 * An InRelease's clear-signed wrapper is understood (armor headers,
 * dash-escaped lines, the signature block); its signature is not checked.
 */
#define PKGINDEX_RELEASE_LINE_MAX	8192
#define PKGINDEX_RELEASE_MAX		(64 * 1024 * 1024)	/* bytes read */
#define PKGINDEX_PATH_MAX		1024

struct pkgindex_release_entry {
	unsigned char	sha256[PKGINDEX_SHA256_LEN];
	int64_t		size;
	char		path[PKGINDEX_PATH_MAX];	/* from the suite directory */
};

/* Private to pkgindex.c; embeddable, nothing to free. */
struct pkgindex_lines {
	size_t		start, end;	/* unread bytes in the buffer */
	uint64_t	line;		/* lines returned so far */
	int		eof;
};

struct pkgindex_release {
	int			fd;
	int			state;
	int			in_sha256;
	uint64_t		bytes;
	struct pkgindex_lines	lines;
	char			buf[PKGINDEX_RELEASE_LINE_MAX + 1];
};

/* Starts reading a Release or InRelease from fd (the caller's, left open). */
void	 pkgindex_release_init(struct pkgindex_release *, int);

/*
 * The next entry: 1 with it, 0 at the end, -1 with *cause on a read error,
 * more than PKGINDEX_RELEASE_MAX bytes, or a broken wrapper (text outside
 * the signed message, armor in an unsigned file, a truncated signed
 * message) — which can come after entries were returned, so a caller that
 * must trust the whole file reads to the end first. Malformed entries and
 * over-long lines are passed over.
 */
int	 pkgindex_release_next(struct pkgindex_release *,
	     struct pkgindex_release_entry *, char **);
int	 feedstore_set_dir(const struct cache *, const char *, const char *,
	     char *, size_t);
int	 feedstore_set_current(const char *, char *, size_t);
int	 feedstore_set_begin(const char *, char *, size_t);
int	 feedstore_set_link(const char *, const char *, const char *);
int	 feedstore_set_commit(const char *, const char *);
void	 feedstore_set_discard(const char *);
int	 feedstore_split(const struct cache *, const char *, char *, size_t,
	     char *, size_t);
void	 feedstore_clean(const struct cache *);

/* feedindex.c: what a feed's package files must be, from its indexes. */
struct feedindex;

struct feedindex *feedindex_open(const struct cache *);
void	 feedindex_free(struct feedindex *);
size_t	 feedindex_count(const struct feedindex *);
int	 feedindex_is_packages(const char *);
int	 feedindex_build(const struct cache *, const char *, const char *,
	     const char *, const struct digest *, const char *, char **);
int	 feedindex_add(struct feedindex *, const char *, const char *,
	     const char *, const struct digest *, const char *, char *, size_t,
	     char **);
int	 feedindex_lookup(const struct feedindex *, const char *, const char *,
	     struct digest *, int64_t *);

/* packages.c: a suite's Release or InRelease, its SHA256 entries. */
int	 packages_release_lookup(const char *, const char *, struct digest *,
	     int64_t *);
struct packages_release {
	FILE			*f;	/* the caller's, read by its descriptor */
	int			 started;
	struct pkgindex_release	 it;
};
int	 packages_release_next(struct packages_release *, struct digest *,
	     int64_t *, char *, size_t);

/* tar.c: reading and writing tar archives (import, export). */
#define TAR_NAME_MAX	512

struct tar_reader {
	int	fd;
	char	name[TAR_NAME_MAX];
	char	type;			/* '0' file, '5' directory */
	int64_t	size;
	int64_t	left;			/* data not read yet */
	void	(*progress)(int64_t, void *);	/* tar_copy's bytes, or NULL */
	void	*progress_arg;
};

int	 tar_next(struct tar_reader *, char **);
int	 tar_copy(struct tar_reader *, int, char **);
int	 tar_skip(struct tar_reader *, char **);
int	 tar_write_file(int, const char *, int, int64_t, char **);
int	 tar_write_end(int, char **);

#endif
