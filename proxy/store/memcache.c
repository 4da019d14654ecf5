/*
 * The daemon's memory of small store objects: manifests (their bytes and
 * media type, by digest) and tag index entries, under a byte budget with
 * LRU eviction. A manifest by digest never changes; it leaves memory when
 * its blob leaves the store (storewatch.c sees every removal, also by
 * other processes). A tag moves: the daemon's own tag writes go through
 * here, and a command that writes a tag replaces repos/.changed, on which
 * the watch forgets every tag. The daemon reads the watch before it
 * answers from memory, once per loop turn (manifest.c says why that is
 * enough), so a change a command finished is never missed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "store.h"

#define MEMCACHE_MAGIC		0x4d454d43	/* "MEMC" */
#define MEMCACHE_BUCKETS	1024		/* at first; doubles as it fills */
#define MEMCACHE_KEY_MAX	(1 + 256 + 1 + REFERENCE_NAME_MAX + 1 + \
				    REFERENCE_TAG_MAX + 1)

enum memcache_kind {
	MEMCACHE_MANIFEST,
	MEMCACHE_TAG
};

struct memcache_item {
	TAILQ_ENTRY(memcache_item)	 lru;	/* most recently used first */
	struct memcache_item		*next;	/* in its bucket */
	uint32_t			 hash;
	enum memcache_kind		 kind;
	size_t				 cost;
	struct tagindex_entry		 tag;	/* a tag's; a manifest's type */
	size_t				 len;	/* a manifest's bytes */
	unsigned char			*data;
	char				 key[];
};
TAILQ_HEAD(memcache_lru, memcache_item);

struct memcache {
	unsigned		 magic;
	size_t			 max, bytes;
	struct memcache_item	**buckets;
	size_t			 nbuckets, count;
	struct memcache_lru	 lru;
};

static uint32_t
memcache_hash(const char *key)
{
	uint32_t	h = 2166136261u;	/* FNV-1a */

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h;
}

static void
memcache_gauges(const struct memcache *m)
{
	stats_set(STATS_MEMCACHE_BYTES, (int64_t)m->bytes);
	stats_set(STATS_MEMCACHE_ITEMS, (int64_t)m->count);
}

/* A cache of at most max bytes (0: nothing is kept). */
struct memcache *
memcache_new(size_t max)
{
	struct memcache	*m;

	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	if ((m->buckets = calloc(MEMCACHE_BUCKETS, sizeof *m->buckets)) == NULL) {
		free(m);
		return NULL;
	}
	m->magic = MEMCACHE_MAGIC;
	m->nbuckets = MEMCACHE_BUCKETS;
	m->max = max;
	TAILQ_INIT(&m->lru);
	return m;
}

static struct memcache_item **
memcache_slot(struct memcache *m, const char *key, uint32_t h)
{
	struct memcache_item	**ip;

	for (ip = &m->buckets[h & (m->nbuckets - 1)]; *ip != NULL;
	    ip = &(*ip)->next)
		if ((*ip)->hash == h && strcmp((*ip)->key, key) == 0)
			break;
	return ip;
}

static void
memcache_unlink(struct memcache *m, struct memcache_item **ip)
{
	struct memcache_item	*it = *ip;

	*ip = it->next;
	TAILQ_REMOVE(&m->lru, it, lru);
	m->bytes -= it->cost;
	m->count--;
	free(it->data);
	free(it);
}

static void
memcache_remove(struct memcache *m, const char *key)
{
	struct memcache_item	**ip = memcache_slot(m, key, memcache_hash(key));

	if (*ip != NULL) {
		memcache_unlink(m, ip);
		memcache_gauges(m);
	}
}

/* Evicts the least recently used items until need more bytes fit. */
static void
memcache_make_room(struct memcache *m, size_t need)
{
	struct memcache_item	*it;

	while (m->bytes + need > m->max &&
	    (it = TAILQ_LAST(&m->lru, memcache_lru)) != NULL) {
		memcache_unlink(m, memcache_slot(m, it->key, it->hash));
		stats_add(STATS_MEMCACHE_EVICTIONS, 1);
	}
}

static void
memcache_grow(struct memcache *m)
{
	struct memcache_item	**nb, *it, *next;
	size_t			  n = m->nbuckets * 2, i;

	if ((nb = calloc(n, sizeof *nb)) == NULL)
		return;			/* longer chains, still correct */
	for (i = 0; i < m->nbuckets; i++)
		for (it = m->buckets[i]; it != NULL; it = next) {
			next = it->next;
			it->next = nb[it->hash & (n - 1)];
			nb[it->hash & (n - 1)] = it;
		}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

/*
 * Keeps a copy of data (len bytes, may be 0) and e under key, replacing
 * what was there. An item larger than an eighth of the budget is not
 * kept: one manifest never empties the cache.
 */
static void
memcache_put(struct memcache *m, enum memcache_kind kind, const char *key,
    const void *data, size_t len, const struct tagindex_entry *e)
{
	struct memcache_item	*it;
	size_t			 klen = strlen(key), cost;

	memcache_remove(m, key);
	cost = sizeof *it + klen + 1 + len;
	if (cost > m->max / 8)
		return;
	memcache_make_room(m, cost);
	if ((it = calloc(1, sizeof *it + klen + 1)) == NULL)
		return;
	if (len > 0 && (it->data = malloc(len)) == NULL) {
		free(it);
		return;
	}
	if (len > 0)
		memcpy(it->data, data, len);
	memcpy(it->key, key, klen + 1);
	it->hash = memcache_hash(key);
	it->kind = kind;
	it->cost = cost;
	it->len = len;
	it->tag = *e;
	if (m->count >= m->nbuckets)
		memcache_grow(m);
	it->next = m->buckets[it->hash & (m->nbuckets - 1)];
	m->buckets[it->hash & (m->nbuckets - 1)] = it;
	TAILQ_INSERT_HEAD(&m->lru, it, lru);
	m->bytes += cost;
	m->count++;
	memcache_gauges(m);
}

/* The item under key, now the most recently used; counts the lookup. */
static struct memcache_item *
memcache_get(struct memcache *m, const char *key)
{
	struct memcache_item	*it = *memcache_slot(m, key, memcache_hash(key));

	if (it == NULL) {
		stats_add(STATS_MEMCACHE_MISSES, 1);
		return NULL;
	}
	stats_add(STATS_MEMCACHE_HITS, 1);
	TAILQ_REMOVE(&m->lru, it, lru);
	TAILQ_INSERT_HEAD(&m->lru, it, lru);
	return it;
}

static void
memcache_manifest_key(const struct digest *d, char *key, size_t len)
{
	snprintf(key, len, "m%s", d->hex);
}

static int
memcache_tag_key(const char *entry, const char *repo, const char *tag,
    char *key, size_t len)
{
	int	n;

	/* A newline is in no entry, repository or tag name. */
	n = snprintf(key, len, "t%s\n%s\n%s", entry, repo, tag);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/*
 * Manifest d from memory: its bytes and media type, valid until the next
 * call that changes the cache. -1 (a miss, counted) if it is not kept.
 */
int
memcache_manifest_get(struct memcache *m, const struct digest *d,
    const unsigned char **data, size_t *len, const char **type)
{
	struct memcache_item	*it;
	char			 key[2 + DIGEST_HEX_LEN];

	memcache_manifest_key(d, key, sizeof key);
	if ((it = memcache_get(m, key)) == NULL)
		return -1;
	*data = it->data;
	*len = it->len;
	*type = it->tag.media_type;
	return 0;
}

/* Like memcache_manifest_get, without counting or reordering anything. */
int
memcache_manifest_peek(struct memcache *m, const struct digest *d,
    const unsigned char **data, size_t *len, const char **type)
{
	struct memcache_item	*it;
	char			 key[2 + DIGEST_HEX_LEN];

	memcache_manifest_key(d, key, sizeof key);
	if ((it = *memcache_slot(m, key, memcache_hash(key))) == NULL)
		return -1;
	*data = it->data;
	*len = it->len;
	*type = it->tag.media_type;
	return 0;
}

/* Whether manifest d is kept. */
int
memcache_manifest_has(struct memcache *m, const struct digest *d)
{
	const unsigned char	*data;
	const char		*type;
	size_t			 len;

	return memcache_manifest_peek(m, d, &data, &len, &type) == 0;
}

/* Keeps manifest d, len bytes of verified content of the given type. */
void
memcache_manifest_put(struct memcache *m, const struct digest *d,
    const void *data, size_t len, const char *type)
{
	struct tagindex_entry	e;
	char			key[2 + DIGEST_HEX_LEN];

	memset(&e, 0, sizeof e);
	e.digest = *d;
	if (util_strlcpy(e.media_type, type, sizeof e.media_type) != 0)
		return;
	memcache_manifest_key(d, key, sizeof key);
	memcache_put(m, MEMCACHE_MANIFEST, key, data, len, &e);
}

/* Blob d left the store: so does its manifest from memory. */
void
memcache_forget(struct memcache *m, const struct digest *d)
{
	char	key[2 + DIGEST_HEX_LEN];

	memcache_manifest_key(d, key, sizeof key);
	memcache_remove(m, key);
}

int
memcache_tag_get(struct memcache *m, const char *entry, const char *repo,
    const char *tag, struct tagindex_entry *e)
{
	struct memcache_item	*it;
	char			 key[MEMCACHE_KEY_MAX];

	if (memcache_tag_key(entry, repo, tag, key, sizeof key) != 0 ||
	    (it = memcache_get(m, key)) == NULL)
		return -1;
	*e = it->tag;
	return 0;
}

void
memcache_tag_put(struct memcache *m, const char *entry, const char *repo,
    const char *tag, const struct tagindex_entry *e)
{
	char	key[MEMCACHE_KEY_MAX];

	if (memcache_tag_key(entry, repo, tag, key, sizeof key) == 0)
		memcache_put(m, MEMCACHE_TAG, key, NULL, 0, e);
}

void
memcache_tag_forget(struct memcache *m, const char *entry, const char *repo,
    const char *tag)
{
	char	key[MEMCACHE_KEY_MAX];

	if (memcache_tag_key(entry, repo, tag, key, sizeof key) == 0)
		memcache_remove(m, key);
}

/* Forgets every tag (another process changed some), or everything. */
static void
memcache_drop(struct memcache *m, int tags_only)
{
	struct memcache_item	*it, *prev;

	for (it = TAILQ_LAST(&m->lru, memcache_lru); it != NULL; it = prev) {
		prev = TAILQ_PREV(it, memcache_lru, lru);
		if (!tags_only || it->kind == MEMCACHE_TAG)
			memcache_unlink(m, memcache_slot(m, it->key, it->hash));
	}
	stats_add(STATS_MEMCACHE_FLUSHES, 1);
	memcache_gauges(m);
}

void
memcache_tags_flush(struct memcache *m)
{
	memcache_drop(m, 1);
}

void
memcache_flush(struct memcache *m)
{
	memcache_drop(m, 0);
}

/* A new budget (a reload): what no longer fits goes, oldest first. */
void
memcache_set_max(struct memcache *m, size_t max)
{
	m->max = max;
	memcache_make_room(m, 0);
	memcache_gauges(m);
}

void
memcache_free(struct memcache *m)
{
	if (m == NULL)
		return;
	memcache_drop(m, 0);
	free(m->buckets);
	m->magic = 0;
	free(m);
}
