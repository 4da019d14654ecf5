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
struct cache {
	char	dir[1024];
};

int	 cache_open(struct cache *, const char *, int, char **);
int	 cache_blob_path(const struct cache *, const struct digest *, char *, size_t);
int	 cache_blob_open(const struct cache *, const struct digest *, off_t *);
int	 cache_blob_exists(const struct cache *, const struct digest *);
int	 cache_tmp_create(const struct cache *, const struct digest *, char *, size_t);
int	 cache_publish(const struct cache *, int, const char *, const struct digest *);
void	 cache_discard(const char *);
int	 cache_put(const struct cache *, const struct digest *, const void *, size_t);
int	 cache_write_file(const struct cache *, const char *, const char *);
void	 cache_fsync_dir(const char *);
int	 cache_manifest_type_set(const struct cache *, const struct digest *, const char *);
int	 cache_manifest_type_get(const struct cache *, const struct digest *, char *, size_t);
int	 cache_quarantine(const struct cache *, const struct digest *);
int	 cache_remove_blob(const struct cache *, const struct digest *);
typedef int (*cache_walk_cb)(const struct digest *, const char *,
	     const struct stat *, void *);
int	 cache_walk_blobs(const struct cache *, cache_walk_cb, void *);

/* tagindex.c: which digest a tag of a repository of an entry points to. */
#define TAGINDEX_MEDIA_TYPE_MAX	128
#define TAGINDEX_TAGS		"repos"		/* what tags resolved to */
#define TAGINDEX_PINS		"pins"		/* what the operator pinned */

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
typedef int (*tagindex_walk_cb)(const char *, const char *, const char *,
	     const struct tagindex_entry *, void *);
int	 tagindex_walk(const struct cache *, tagindex_walk_cb, void *);
int	 tagindex_get_in(const struct cache *, const char *, const char *,
	     const char *, const char *, struct tagindex_entry *);
int	 tagindex_put_in(const struct cache *, const char *, const char *,
	     const char *, const char *, const struct tagindex_entry *);
int	 tagindex_remove_in(const struct cache *, const char *, const char *,
	     const char *, const char *);
int	 tagindex_list_in(const struct cache *, const char *, const char *,
	     const char *, char ***, size_t *);
int	 tagindex_walk_in(const struct cache *, const char *, tagindex_walk_cb,
	     void *);

/* image.c: an image's graph of manifests and blobs, from the cache. */
typedef int (*image_walk_cb)(const struct digest *, int64_t, int, int, void *);

int	 image_walk(const struct cache *, const struct digest *, image_walk_cb,
	     void *);

/* refs.c: digest sets, and what an index's images reference. */
struct digest_set {
	struct digest		*v;
	size_t			 n, cap;
	int			 sorted;
	const struct cache	*cache;
};

int	 digest_set_add(struct digest_set *, const struct digest *);
int	 digest_set_contains(struct digest_set *, const struct digest *);
void	 digest_set_free(struct digest_set *);
int	 refs_collect(const struct cache *, const char *, struct digest_set *);

/* budget.c: the byte budget of the cache, kept by evicting LRU blobs. */
int	 budget_reserve(const struct cache *, int64_t, int64_t, char **);
void	 budget_touch(int);

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
int	 feedstore_set_dir(const struct cache *, const char *, const char *,
	     char *, size_t);
int	 feedstore_set_current(const char *, char *, size_t);
int	 feedstore_set_begin(const char *, char *, size_t);
int	 feedstore_set_link(const char *, const char *, const char *);
int	 feedstore_set_commit(const char *, const char *);
void	 feedstore_set_discard(const char *);
int	 feedstore_packages_lookup(const struct cache *, const char *,
	     const char *, struct digest *, int64_t *);
void	 feedstore_clean(const struct cache *);

/* packages.c: package indexes (Packages, Packages.gz). */
int	 packages_lookup(const char *, const char *, struct digest *, int64_t *);
int	 packages_release_lookup(const char *, const char *, struct digest *,
	     int64_t *);
struct packages_release {
	FILE	*f;
	int	 in_sha;	/* inside the SHA256 section */
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
};

int	 tar_next(struct tar_reader *, char **);
int	 tar_copy(struct tar_reader *, int, char **);
int	 tar_skip(struct tar_reader *, char **);
int	 tar_write_file(int, const char *, int, int64_t, char **);
int	 tar_write_end(int, char **);

#endif
