/*
 * The store index: every file the cache keeps (blobs, feed files), with
 * its size, whether the budget may evict it, and whether something pinned
 * holds it, in memory, so that the budget decides without touching the
 * disk. Entries are found by a 32-byte key (a blob's raw digest, or the
 * SHA-256 of a feed file's path from the cache directory) in a hash
 * table; the evictable ones that no pin holds sit on one list in the
 * order of their last use, least recent first.
 *
 * Built once at start from one walk of the store, then kept current by
 * the daemon: publishes, uses and removals of its own, and the changes
 * other processes make (storewatch.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "store.h"

#define STOREINDEX_MAGIC	0x53494458	/* "SIDX" */
#define STOREINDEX_FEED_DEPTH	24

struct storeindex_entry {
	unsigned char			 key[STOREINDEX_KEY_LEN];
	enum storeindex_class		 class;
	int				 pinned;
	int				 on_lru;
	int64_t				 size;
	struct timespec			 used;
	char				*path;	/* feed files: from the cache dir */
	struct storeindex_entry		*next;	/* hash chain */
	TAILQ_ENTRY(storeindex_entry)	 lru;
};

TAILQ_HEAD(storeindex_lru, storeindex_entry);

struct storeindex {
	unsigned			 magic;
	struct storeindex_entry		**buckets;
	size_t				 nbuckets;	/* a power of two */
	size_t				 count;
	int64_t				 bytes;
	int64_t				 pinned_bytes;
	int64_t				 lru_bytes;	/* what may be evicted */
	struct storeindex_lru		 lru;
};

static size_t
storeindex_bucket(const struct storeindex *ix, const unsigned char *key)
{
	uint64_t	h;

	memcpy(&h, key, sizeof h);	/* keys are SHA-256 output: uniform */
	return (size_t)h & (ix->nbuckets - 1);
}

static struct storeindex_entry *
storeindex_find(const struct storeindex *ix, const unsigned char *key)
{
	struct storeindex_entry	*e;

	for (e = ix->buckets[storeindex_bucket(ix, key)]; e != NULL; e = e->next)
		if (memcmp(e->key, key, STOREINDEX_KEY_LEN) == 0)
			return e;
	return NULL;
}

static int
storeindex_grow(struct storeindex *ix)
{
	struct storeindex_entry	**nb, *e, *next;
	size_t			  n = ix->nbuckets * 2, i, b;

	if ((nb = calloc(n, sizeof *nb)) == NULL)
		return -1;
	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			memcpy(&b, e->key, sizeof b);
			b &= n - 1;
			e->next = nb[b];
			nb[b] = e;
		}
	free(ix->buckets);
	ix->buckets = nb;
	ix->nbuckets = n;
	return 0;
}

/* The evictable and unpinned are on the LRU list; nothing else is. */
static void
storeindex_place(struct storeindex *ix, struct storeindex_entry *e)
{
	int	want = e->class != STOREINDEX_FEED_KEPT && !e->pinned;

	if (e->on_lru && !want) {
		TAILQ_REMOVE(&ix->lru, e, lru);
		e->on_lru = 0;
		ix->lru_bytes -= e->size;
	} else if (!e->on_lru && want) {
		TAILQ_INSERT_TAIL(&ix->lru, e, lru);	/* most recent */
		e->on_lru = 1;
		ix->lru_bytes += e->size;
	}
}

static void
storeindex_gauges(const struct storeindex *ix)
{
	stats_set(STATS_CACHE_BYTES, ix->bytes);
	stats_set(STATS_CACHE_FILES, (int64_t)ix->count);
	stats_set(STATS_CACHE_PINNED_BYTES, ix->pinned_bytes);
	stats_set(STATS_INDEX_MEMORY, (int64_t)storeindex_memory(ix));
}

struct storeindex *
storeindex_new(void)
{
	struct storeindex	*ix;

	if ((ix = calloc(1, sizeof *ix)) == NULL)
		return NULL;
	ix->magic = STOREINDEX_MAGIC;
	ix->nbuckets = 1024;
	if ((ix->buckets = calloc(ix->nbuckets, sizeof *ix->buckets)) == NULL) {
		free(ix);
		return NULL;
	}
	TAILQ_INIT(&ix->lru);
	return ix;
}

void
storeindex_free(struct storeindex *ix)
{
	struct storeindex_entry	*e, *next;
	size_t			 i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
	free(ix->buckets);
	ix->magic = 0;
	free(ix);
}

void
storeindex_key_blob(const struct digest *d, unsigned char *key)
{
	int	i, hi, lo;

	for (i = 0; i < STOREINDEX_KEY_LEN; i++) {
		hi = d->hex[2 * i] <= '9' ? d->hex[2 * i] - '0' :
		    d->hex[2 * i] - 'a' + 10;
		lo = d->hex[2 * i + 1] <= '9' ? d->hex[2 * i + 1] - '0' :
		    d->hex[2 * i + 1] - 'a' + 10;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
}

int
storeindex_key_path(const char *path, unsigned char *key)
{
	struct digest	 d;
	char		*named;
	int		 rc;

	/* "feed:" keeps a path's key apart from any blob's digest. */
	if ((named = util_printf("feed:%s", path)) == NULL)
		return -1;
	rc = hash_buffer(named, strlen(named), &d);
	free(named);
	if (rc != 0)
		return -1;
	storeindex_key_blob(&d, key);
	return 0;
}

/*
 * Records a file (or updates it: a publish seen twice, by the daemon and
 * by its watch, is one entry). path is NULL for blobs. used is its last
 * use; NULL: now.
 */
int
storeindex_put(struct storeindex *ix, const unsigned char *key,
    enum storeindex_class class, int64_t size, const struct timespec *used,
    const char *path)
{
	struct storeindex_entry	*e;
	size_t			 b;

	if ((e = storeindex_find(ix, key)) != NULL) {
		ix->bytes += size - e->size;
		if (e->pinned)
			ix->pinned_bytes += size - e->size;
		if (e->on_lru)
			ix->lru_bytes += size - e->size;
		e->size = size;
		storeindex_touch(ix, key);
		storeindex_gauges(ix);
		return 0;
	}
	if (ix->count >= ix->nbuckets && storeindex_grow(ix) != 0)
		return -1;
	if ((e = calloc(1, sizeof *e)) == NULL)
		return -1;
	if (path != NULL && (e->path = strdup(path)) == NULL) {
		free(e);
		return -1;
	}
	memcpy(e->key, key, STOREINDEX_KEY_LEN);
	e->class = class;
	e->size = size;
	if (used != NULL)
		e->used = *used;
	else
		clock_gettime(CLOCK_REALTIME, &e->used);
	b = storeindex_bucket(ix, key);
	e->next = ix->buckets[b];
	ix->buckets[b] = e;
	ix->count++;
	ix->bytes += size;
	storeindex_place(ix, e);
	storeindex_gauges(ix);
	return 0;
}

/* A use: the file moves to the recent end of the LRU order. O(1). */
void
storeindex_touch(struct storeindex *ix, const unsigned char *key)
{
	struct storeindex_entry	*e;

	if ((e = storeindex_find(ix, key)) == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &e->used);
	if (e->on_lru) {
		TAILQ_REMOVE(&ix->lru, e, lru);
		TAILQ_INSERT_TAIL(&ix->lru, e, lru);
	}
}

void
storeindex_remove(struct storeindex *ix, const unsigned char *key)
{
	struct storeindex_entry	**pe, *e;

	for (pe = &ix->buckets[storeindex_bucket(ix, key)]; (e = *pe) != NULL;
	    pe = &e->next)
		if (memcmp(e->key, key, STOREINDEX_KEY_LEN) == 0)
			break;
	if (e == NULL)
		return;
	*pe = e->next;
	if (e->on_lru) {
		TAILQ_REMOVE(&ix->lru, e, lru);
		ix->lru_bytes -= e->size;
	}
	ix->count--;
	ix->bytes -= e->size;
	if (e->pinned)
		ix->pinned_bytes -= e->size;
	free(e->path);
	free(e);
	storeindex_gauges(ix);
}

/* Unpins everything (before a new pinned set is applied). */
void
storeindex_unpin_all(struct storeindex *ix)
{
	struct storeindex_entry	*e;
	size_t			 i;

	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = e->next)
			if (e->pinned) {
				e->pinned = 0;
				storeindex_place(ix, e);
			}
	ix->pinned_bytes = 0;
	storeindex_gauges(ix);
}

/* Pins one file: it leaves the LRU order, the budget never evicts it. */
void
storeindex_pin(struct storeindex *ix, const unsigned char *key)
{
	struct storeindex_entry	*e;

	if ((e = storeindex_find(ix, key)) == NULL || e->pinned)
		return;
	e->pinned = 1;
	ix->pinned_bytes += e->size;
	storeindex_place(ix, e);
	storeindex_gauges(ix);
}

/*
 * The least recently used file the budget may evict, or 0 if none: its
 * key, size, and for a feed file its path (valid until it is removed).
 */
int
storeindex_oldest(const struct storeindex *ix, unsigned char *key,
    int64_t *size, const char **path)
{
	const struct storeindex_entry	*e;

	if ((e = TAILQ_FIRST(&ix->lru)) == NULL)
		return 0;
	memcpy(key, e->key, STOREINDEX_KEY_LEN);
	*size = e->size;
	*path = e->path;
	return 1;
}

int64_t
storeindex_bytes(const struct storeindex *ix)
{
	return ix->bytes;
}

int64_t
storeindex_evictable_bytes(const struct storeindex *ix)
{
	return ix->lru_bytes;
}

size_t
storeindex_count(const struct storeindex *ix)
{
	return ix->count;
}

/* Rough memory held: the entries and the table (not feed paths). */
size_t
storeindex_memory(const struct storeindex *ix)
{
	return ix->count * sizeof(struct storeindex_entry) +
	    ix->nbuckets * sizeof(struct storeindex_entry *);
}

/* Building: every blob, then every feed file, in last-use order. */
struct storeindex_item {
	unsigned char		 key[STOREINDEX_KEY_LEN];
	enum storeindex_class	 class;
	int64_t			 size;
	struct timespec		 used;
	char			*path;
};

struct storeindex_scan {
	struct storeindex_item	*v;
	size_t			 n, cap;
};

static struct storeindex_item *
storeindex_scan_add(struct storeindex_scan *s)
{
	struct storeindex_item	*n;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		if ((n = reallocarray(s->v, s->cap, sizeof *n)) == NULL)
			return NULL;
		s->v = n;
	}
	memset(&s->v[s->n], 0, sizeof s->v[s->n]);
	return &s->v[s->n++];
}

static int
storeindex_scan_blob(const struct digest *d, const char *path,
    const struct stat *st, void *arg)
{
	struct storeindex_item	*it;

	(void)path;
	if ((it = storeindex_scan_add(arg)) == NULL)
		return -1;
	storeindex_key_blob(d, it->key);
	it->class = STOREINDEX_BLOB;
	it->size = st->st_size;
	it->used = st->st_atim;
	return 0;
}

/*
 * Whether a directory of a feed holds what is known of files (meta/,
 * a few hundred bytes each), which is outside the budget like tag files:
 * "meta" right below a feed's root or a set version's directory.
 */
static int
storeindex_meta_dir(const char *rel, const char *name)
{
	const char	*last, *c;
	int		 slashes = 0;

	if (strcmp(name, "meta") != 0)
		return 0;
	for (c = rel; *c != '\0'; c++)
		slashes += *c == '/';
	if (slashes == 1 && strncmp(rel, "feeds/", 6) == 0)
		return 1;		/* feeds/<name>/meta */
	last = (last = strrchr(rel, '/')) != NULL ? last + 1 : rel;
	return strncmp(last, "v.", 2) == 0;
}

/*
 * Every feed file below rel (a directory from the cache directory), with
 * its class.
 */
static int
storeindex_scan_feeds(const char *cachedir, const char *rel, int depth,
    struct storeindex_scan *s)
{
	char			 dir[PATH_MAX], sub[PATH_MAX];
	DIR			*d;
	struct dirent		*de;
	struct stat		 st;
	struct storeindex_item	*it;
	int			 rc = 0;

	if (depth > STOREINDEX_FEED_DEPTH)
		return 0;
	if ((size_t)snprintf(dir, sizeof dir, "%s/%s", cachedir, rel) >= sizeof dir)
		return 0;
	if ((d = opendir(dir)) == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name) >=
		    sizeof sub)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (!storeindex_meta_dir(rel, de->d_name))
				rc = storeindex_scan_feeds(cachedir, sub, depth + 1,
				    s);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if ((it = storeindex_scan_add(s)) == NULL ||
		    (it->path = strdup(sub)) == NULL ||
		    storeindex_key_path(it->path, it->key) != 0) {
			rc = -1;
			break;
		}
		it->class = storeindex_classify(it->path);
		it->size = st.st_size;
		it->used = st.st_atim;
	}
	closedir(d);
	return rc;
}

static int
storeindex_used_cmp(const void *a, const void *b)
{
	const struct storeindex_item	*x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return 0;
}

/*
 * A feed file's class from its path below the cache directory: the loose
 * files of a feed (feeds/<name>/data/: packages, volatile files no set
 * holds) may be evicted; a set's members, the by-hash copies of indexes
 * (what apt reads a set's indexes as) and the package lookups go only
 * with their set.
 */
enum storeindex_class
storeindex_classify(const char *path)
{
	const char	*p;

	if (strncmp(path, "feeds/", 6) != 0 ||
	    (p = strchr(path + 6, '/')) == NULL ||
	    strncmp(p, "/data/", 6) != 0 || strstr(p, "/by-hash/") != NULL)
		return STOREINDEX_FEED_KEPT;
	return STOREINDEX_FEED_FILE;
}

/*
 * Puts what a walk found into the index, least recently used first (so
 * the LRU order is the files' access times), and frees the walk. -1 if
 * memory ran out.
 */
static int
storeindex_put_scan(struct storeindex *ix, struct storeindex_scan *s)
{
	size_t	i;
	int	rc = 0;

	if (s->n > 0)
		qsort(s->v, s->n, sizeof *s->v, storeindex_used_cmp);
	for (i = 0; i < s->n; i++) {
		if (rc == 0 && storeindex_put(ix, s->v[i].key, s->v[i].class,
		    s->v[i].size, &s->v[i].used, s->v[i].path) != 0)
			rc = -1;
		free(s->v[i].path);
	}
	free(s->v);
	memset(s, 0, sizeof *s);
	return rc;
}

/* Forgets everything and walks the store once. */
int
storeindex_rebuild(struct storeindex *ix, const struct cache *c, char **cause)
{
	struct storeindex_scan	 s;
	struct storeindex_entry	*e, *next;
	size_t			 i;
	int			 rc = -1;

	memset(&s, 0, sizeof s);
	if (cache_walk_blobs(c, storeindex_scan_blob, &s) != 0 ||
	    storeindex_scan_feeds(c->dir, "feeds", 0, &s) != 0) {
		*cause = util_printf("cannot index the cache: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < ix->nbuckets; i++) {
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
		ix->buckets[i] = NULL;
	}
	TAILQ_INIT(&ix->lru);
	ix->count = 0;
	ix->bytes = ix->pinned_bytes = ix->lru_bytes = 0;
	if (storeindex_put_scan(ix, &s) != 0) {
		*cause = util_printf("out of memory indexing the cache");
		goto out;
	}
	stats_add(STATS_INDEX_REBUILDS, 1);
	rc = 0;
out:
	for (i = 0; i < s.n; i++)
		free(s.v[i].path);
	free(s.v);
	return rc;
}

/*
 * The files below rel (a directory from the cache directory) changed
 * wholesale (a feed set switched): their entries are forgotten and the
 * directory read again. O(entries) to forget, then one walk of rel.
 */
int
storeindex_rescan(struct storeindex *ix, const struct cache *c, const char *rel)
{
	struct storeindex_scan	 s;
	struct storeindex_entry	*e, *next;
	unsigned char		 key[STOREINDEX_KEY_LEN];
	size_t			 i, len = strlen(rel);
	int			 rc = 0;

	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (e->path != NULL && strncmp(e->path, rel, len) == 0 &&
			    e->path[len] == '/') {
				memcpy(key, e->key, sizeof key);
				storeindex_remove(ix, key);
			}
		}
	memset(&s, 0, sizeof s);
	if (storeindex_scan_feeds(c->dir, rel, 0, &s) != 0)
		rc = -1;
	if (storeindex_put_scan(ix, &s) != 0)
		rc = -1;
	return rc;
}
