/*
 * Unit tests: the memory cache of manifests and tags (hits and misses,
 * replacement, LRU eviction within the byte budget, items too large to
 * keep, forgetting a blob, flushing tags only, a smaller budget), and the
 * store functions that consult it (tags written through, a command's tag
 * change announced in repos/.changed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

static void
digest_of(int n, struct digest *d)
{
	char	buf[32];

	snprintf(buf, sizeof buf, "manifest %d", n);
	hash_buffer(buf, strlen(buf), d);
}

static void
test_manifest_hit_miss(void **state)
{
	struct memcache		*m = memcache_new(1 << 20);
	struct digest		 d;
	const unsigned char	*data;
	const char		*type;
	size_t			 len;
	int64_t			 h = stats_get(STATS_MEMCACHE_HITS);
	int64_t			 x = stats_get(STATS_MEMCACHE_MISSES);

	(void)state;
	digest_of(1, &d);
	assert_int_equal(memcache_manifest_get(m, &d, &data, &len, &type), -1);
	memcache_manifest_put(m, &d, "{\"a\":1}", 7, MEDIATYPE_OCI_MANIFEST);
	assert_int_equal(memcache_manifest_get(m, &d, &data, &len, &type), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "{\"a\":1}", 7);
	assert_string_equal(type, MEDIATYPE_OCI_MANIFEST);
	assert_int_equal(stats_get(STATS_MEMCACHE_HITS) - h, 1);
	assert_int_equal(stats_get(STATS_MEMCACHE_MISSES) - x, 1);
	assert_true(memcache_manifest_has(m, &d));
	memcache_forget(m, &d);
	assert_false(memcache_manifest_has(m, &d));
	assert_int_equal(stats_get(STATS_MEMCACHE_BYTES), 0);
	memcache_free(m);
}

static void
test_lru_budget(void **state)
{
	struct memcache		*m = memcache_new(16384);
	struct digest		 d;
	char			 body[600];
	const unsigned char	*data;
	const char		*type;
	size_t			 len;
	int64_t			 ev = stats_get(STATS_MEMCACHE_EVICTIONS);
	int			 i;

	(void)state;
	memset(body, 'x', sizeof body);
	for (i = 0; i < 100; i++) {
		digest_of(i, &d);
		memcache_manifest_put(m, &d, body, sizeof body, MEDIATYPE_OCI_INDEX);
		if (i >= 1) {	/* keep 0 the most recently used */
			digest_of(0, &d);
			assert_int_equal(memcache_manifest_get(m, &d, &data,
			    &len, &type), 0);
		}
		assert_true(stats_get(STATS_MEMCACHE_BYTES) <= 16384);
	}
	assert_true(stats_get(STATS_MEMCACHE_EVICTIONS) - ev > 50);
	digest_of(0, &d);
	assert_true(memcache_manifest_has(m, &d));	/* used: kept */
	digest_of(1, &d);
	assert_false(memcache_manifest_has(m, &d));	/* oldest: gone */
	digest_of(99, &d);
	assert_true(memcache_manifest_has(m, &d));
	/* Larger than an eighth of the budget: not kept, nothing evicted. */
	ev = stats_get(STATS_MEMCACHE_EVICTIONS);
	digest_of(1000, &d);
	{
		char	*big = calloc(1, 4096);

		assert_non_null(big);
		memcache_manifest_put(m, &d, big, 4096, MEDIATYPE_OCI_INDEX);
		free(big);
	}
	assert_false(memcache_manifest_has(m, &d));
	/* A smaller budget drops the oldest until it fits. */
	memcache_set_max(m, 4096);
	assert_true(stats_get(STATS_MEMCACHE_BYTES) <= 4096);
	memcache_free(m);
}

static void
test_tags_flush(void **state)
{
	struct memcache		*m = memcache_new(1 << 20);
	struct tagindex_entry	 e, got;
	struct digest		 d;

	(void)state;
	memset(&e, 0, sizeof e);
	digest_of(7, &e.digest);
	util_strlcpy(e.media_type, MEDIATYPE_OCI_INDEX, sizeof e.media_type);
	e.checked = 1234;
	memcache_tag_put(m, "hub", "library/alpine", "3", &e);
	memcache_tag_put(m, "hub", "library/alpine", "latest", &e);
	digest_of(7, &d);
	memcache_manifest_put(m, &d, "{}", 2, MEDIATYPE_OCI_INDEX);
	assert_int_equal(memcache_tag_get(m, "hub", "library/alpine", "3", &got), 0);
	assert_true(digest_equal(&got.digest, &e.digest));
	assert_int_equal(got.checked, 1234);
	/* Another entry, or a repository that is a prefix, is another key. */
	assert_int_equal(memcache_tag_get(m, "hub2", "library/alpine", "3", &got), -1);
	assert_int_equal(memcache_tag_get(m, "hub", "library/alpin", "e3", &got), -1);
	memcache_tag_forget(m, "hub", "library/alpine", "latest");
	assert_int_equal(memcache_tag_get(m, "hub", "library/alpine", "latest",
	    &got), -1);
	memcache_tags_flush(m);
	assert_int_equal(memcache_tag_get(m, "hub", "library/alpine", "3", &got), -1);
	assert_true(memcache_manifest_has(m, &d));	/* manifests stay */
	memcache_flush(m);
	assert_false(memcache_manifest_has(m, &d));
	memcache_free(m);
}

/* The store with memory: tags written through; without: announced. */
static void
test_store_tags(void **state)
{
	char			 dir[] = "/tmp/pullgate-unit-memcache.XXXXXX";
	char			 path[PATH_MAX], cmd[PATH_MAX + 16], *cause = NULL;
	struct cache		 daemon, command;
	struct tagindex_entry	 e, got;
	struct stat		 st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(cache_open(&daemon, dir, 0, &cause), 0);
	assert_int_equal(cache_open(&command, dir, 0, &cause), 0);
	daemon.mem = memcache_new(1 << 20);
	snprintf(path, sizeof path, "%s/repos/%s", dir, CACHE_TAGS_CHANGED);
	memset(&e, 0, sizeof e);
	digest_of(1, &e.digest);
	util_strlcpy(e.media_type, MEDIATYPE_OCI_INDEX, sizeof e.media_type);
	assert_int_equal(tagindex_put(&daemon, "hub", "a/b", "v1", &e), 0);
	assert_int_equal(stat(path, &st), -1);	/* the daemon's own: no notice */
	assert_int_equal(memcache_tag_get(daemon.mem, "hub", "a/b", "v1", &got), 0);
	/* A command moves the tag: the disk changes, and the notice appears. */
	digest_of(2, &e.digest);
	assert_int_equal(tagindex_put(&command, "hub", "a/b", "v1", &e), 0);
	assert_int_equal(stat(path, &st), 0);
	/* Memory is stale until the watch flushes it, as storewatch.c does. */
	assert_int_equal(tagindex_get(&daemon, "hub", "a/b", "v1", &got), 0);
	digest_of(1, &e.digest);
	assert_true(digest_equal(&got.digest, &e.digest));
	memcache_tags_flush(daemon.mem);
	assert_int_equal(tagindex_get(&daemon, "hub", "a/b", "v1", &got), 0);
	digest_of(2, &e.digest);
	assert_true(digest_equal(&got.digest, &e.digest));
	memcache_free(daemon.mem);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_hit_miss),
		cmocka_unit_test(test_lru_budget),
		cmocka_unit_test(test_tags_flush),
		cmocka_unit_test(test_store_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
