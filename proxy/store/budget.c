/*
 * The byte budget (cache_max_bytes) over everything the cache keeps:
 * blobs and feed files, plus what downloads in flight have reserved.
 * A download reserves its announced length before its first byte (or,
 * without a length, step by step as it grows); if the budget has no room,
 * the least recently used files that the budget may evict and no pin
 * holds are removed until it has. Pinned content, and a feed's index
 * files, are never evicted on their own; if they alone leave no room the
 * reservation is refused with the reason and nothing is removed.
 *
 * Every decision reads the store index (storeindex.c), never the disk:
 * O(1) per reservation, plus O(1) per file evicted. The pinned set is
 * re-read only after the pins changed on disk (budget_pins_changed).
 *
 * "Recently used" also goes to the file's access time (set explicitly,
 * so it works on noatime mounts): the order survives a restart.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define BUDGET_MAGIC	0x42444754	/* "BDGT" */

struct budget {
	unsigned		 magic;
	const struct cache	*cache;
	struct storeindex	*index;
	int64_t			 max;		/* 0: no budget */
	int64_t			 reserved;	/* by downloads in flight */
	int			 pins_stale;	/* re-read before evicting */
	struct digest_set	 pinned;	/* as last read, for new arrivals */
};

static void
budget_gauges(const struct budget *b)
{
	stats_set(STATS_CACHE_RESERVED_BYTES, b->reserved);
}

/* Builds the index of the store at c; max 0 means no budget. */
/* A new budget (a reload); a smaller one is met at the next reservation. */
void
budget_set_max(struct budget *b, int64_t max)
{
	b->max = max > 0 ? max : 0;
}

struct budget *
budget_new(const struct cache *c, int64_t max, char **cause)
{
	struct budget	*b;

	if ((b = calloc(1, sizeof *b)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	b->magic = BUDGET_MAGIC;
	b->cache = c;
	b->max = max > 0 ? max : 0;
	b->pins_stale = 1;
	if ((b->index = storeindex_new()) == NULL) {
		*cause = util_printf("out of memory");
		free(b);
		return NULL;
	}
	if (storeindex_rebuild(b->index, c, cause) != 0) {
		budget_free(b);
		return NULL;
	}
	return b;
}

void
budget_free(struct budget *b)
{
	if (b == NULL)
		return;
	storeindex_free(b->index);
	digest_set_free(&b->pinned);
	b->magic = 0;
	free(b);
}

struct storeindex *
budget_index(struct budget *b)
{
	return b->index;
}

/* Walks the disk again (after the change notices overflowed). */
int
budget_rebuild(struct budget *b, char **cause)
{
	b->pins_stale = 1;
	return storeindex_rebuild(b->index, b->cache, cause);
}

void
budget_pins_changed(struct budget *b)
{
	b->pins_stale = 1;
}

/* The pinned set: every blob of a pinned image, every pinned feed file. */
static int
budget_reload_pins(struct budget *b)
{
	struct digest_set	 pinned;
	unsigned char		 key[STOREINDEX_KEY_LEN];
	size_t			 i;

	memset(&pinned, 0, sizeof pinned);
	if (refs_collect(b->cache, TAGINDEX_PINS, &pinned) != 0) {
		digest_set_free(&pinned);
		return -1;
	}
	storeindex_unpin_all(b->index);
	for (i = 0; i < pinned.n; i++) {
		storeindex_key_blob(&pinned.v[i], key);
		storeindex_pin(b->index, key);
	}
	digest_set_free(&b->pinned);
	b->pinned = pinned;		/* what arrives later is pinned too */
	if (feedpins_apply(b->cache, b->index) != 0)
		return -1;
	b->pins_stale = 0;
	stats_add(STATS_PIN_RELOADS, 1);
	return 0;
}

/*
 * Removes the least recently used evictable file: its size, or -1 if
 * there is none or it cannot be removed (it stays counted).
 */
static int64_t
budget_evict_one(struct budget *b)
{
	unsigned char	 key[STOREINDEX_KEY_LEN];
	const char	*path;
	char		 full[PATH_MAX];
	struct digest	 d;
	int64_t		 size;

	if (!storeindex_oldest(b->index, key, &size, &path))
		return -1;
	if (path == NULL) {
		digest_from_raw(key, &d);	/* a blob's key is its digest */
		if (cache_remove_blob(b->cache, &d) != 0) {
			/* Still on disk: still counted; nothing more goes now. */
			log_warn("%s: sha256:%s could not be removed", __func__,
			    d.hex);
			storeindex_touch(b->index, key);
			return -1;
		}
	} else {
		snprintf(full, sizeof full, "%s/%s", b->cache->dir, path);
		if (feedstore_remove(b->cache, full) != 0) {
			log_warn("%s: %s could not be removed", __func__, full);
			storeindex_touch(b->index, key);
			return -1;
		}
	}
	storeindex_remove(b->index, key);
	stats_add(STATS_CACHE_EVICTIONS, 1);
	stats_add(STATS_CACHE_EVICTED_BYTES, size);
	return size;
}

/*
 * Makes room for need more bytes and reserves them for a download; the
 * download gives them back with budget_release when it ends, however it
 * ends (a published file is counted by the index from then on). -1 with
 * *cause when pinned content and other reservations leave no room.
 */
int
budget_reserve(struct budget *b, int64_t need, char **cause)
{
	int64_t	freed = 0, size;
	int	evicted = 0;

	if (need < 0)
		need = 0;
	if (b->max == 0) {
		b->reserved += need;
		budget_gauges(b);
		return 0;
	}
	/* Compared as need > max - used: nothing here can overflow. */
	while (need > b->max - (storeindex_bytes(b->index) + b->reserved)) {
		if (need > b->max) {
			*cause = util_printf("the cache is full: %lld bytes needed, "
			    "more than cache_max_bytes (%lld)", (long long)need,
			    (long long)b->max);
			goto refuse;
		}
		if (b->pins_stale && budget_reload_pins(b) != 0) {
			/* Without the pinned set nothing may go: fail closed. */
			*cause = util_printf("the cache is full and its pins cannot "
			    "be read; nothing was evicted");
			goto refuse;
		}
		if (need > b->max - (storeindex_bytes(b->index) + b->reserved -
		    storeindex_evictable_bytes(b->index))) {
			*cause = util_printf("the cache is full: %lld bytes needed, "
			    "cache_max_bytes is %lld and pinned content, feed "
			    "indexes or downloads in flight hold %lld",
			    (long long)need, (long long)b->max,
			    (long long)(storeindex_bytes(b->index) + b->reserved -
			    storeindex_evictable_bytes(b->index)));
			goto refuse;
		}
		if ((size = budget_evict_one(b)) < 0)
			break;
		freed += size;
		evicted++;
	}
	if (evicted > 0)
		log_info("budget: evicted %d least recently used file(s), %lld "
		    "bytes, for a download of %lld", evicted, (long long)freed,
		    (long long)need);
	b->reserved += need;
	budget_gauges(b);
	return 0;
refuse:
	stats_add(STATS_BUDGET_REFUSALS, 1);
	return -1;
}

void
budget_release(struct budget *b, int64_t n)
{
	b->reserved -= n;
	if (b->reserved < 0) {
		log_warn("%s: %lld bytes more released than reserved", __func__,
		    (long long)-b->reserved);
		b->reserved = 0;
	}
	budget_gauges(b);
}

/* A blob was published (by the daemon, or seen on disk). */
int
budget_add_blob(struct budget *b, const struct digest *d, int64_t size)
{
	unsigned char	key[STOREINDEX_KEY_LEN];

	storeindex_key_blob(d, key);
	if (storeindex_put(b->index, key, STOREINDEX_BLOB, size, NULL, NULL) != 0)
		return -1;
	/*
	 * A blob of a pinned image that arrives after the pins were read (a
	 * layer pulled after its image was pinned) is pinned at once. It may
	 * be a manifest naming blobs the last read could not see: the pins
	 * are read again before anything is evicted.
	 */
	if (b->pinned.n > 0 && digest_set_contains(&b->pinned, d)) {
		storeindex_pin(b->index, key);
		b->pins_stale = 1;
	}
	return 0;
}

void
budget_forget_blob(struct budget *b, const struct digest *d)
{
	unsigned char	key[STOREINDEX_KEY_LEN];

	storeindex_key_blob(d, key);
	storeindex_remove(b->index, key);
}

/* A path under the cache as the index keys it: from the cache directory. */
static const char *
budget_rel(const struct budget *b, const char *path)
{
	size_t	len = strlen(b->cache->dir);

	if (strncmp(path, b->cache->dir, len) == 0 && path[len] == '/')
		return path + len + 1;
	return path;
}

/* A feed file was published at path (absolute, under the cache). */
int
budget_add_file(struct budget *b, const char *path, int64_t size)
{
	unsigned char	 key[STOREINDEX_KEY_LEN];
	const char	*rel = budget_rel(b, path);

	if (storeindex_key_path(rel, key) != 0)
		return -1;
	return storeindex_put(b->index, key, storeindex_classify(rel), size,
	    NULL, rel);
}

/* Marks a file as used now: the index's LRU order and its access time. */
static void
budget_touch_fd(int fd)
{
	struct timespec	ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };

	if (fd != -1)		/* -1: served from memory, no file open */
		futimens(fd, ts);
}

void
budget_use_blob(struct budget *b, const struct digest *d, int fd)
{
	unsigned char	key[STOREINDEX_KEY_LEN];

	if (b != NULL) {
		storeindex_key_blob(d, key);
		storeindex_touch(b->index, key);
	}
	budget_touch_fd(fd);
}

void
budget_use_file(struct budget *b, const char *path, int fd)
{
	unsigned char	 key[STOREINDEX_KEY_LEN];

	if (b != NULL) {
		if (storeindex_key_path(budget_rel(b, path), key) == 0)
			storeindex_touch(b->index, key);
	}
	budget_touch_fd(fd);
}

/* A directory (absolute, under the cache) changed wholesale: read it again. */
int
budget_rescan(struct budget *b, const char *dir)
{
	return storeindex_rescan(b->index, b->cache, budget_rel(b, dir));
}
