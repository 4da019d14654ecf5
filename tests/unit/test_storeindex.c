/*
 * Unit tests: the store index (put, touch, remove, LRU order, pins,
 * growth) and the budget over it (reservations, eviction order, pinned
 * and feed index files kept, overflow, the watch of other processes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

static char	dir[] = "/tmp/pullgate-unit-index.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	cmd[256];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static void
key_of(int n, unsigned char *key)
{
	char	text[32];

	snprintf(text, sizeof text, "blob-%d", n);
	storeindex_key_path(text, key);
}

static void
test_index_lru_and_pins(void **state)
{
	struct storeindex	*ix = storeindex_new();
	unsigned char		 k[5][STOREINDEX_KEY_LEN], out[STOREINDEX_KEY_LEN];
	struct timespec		 t = { 100, 0 };
	const char		*path;
	int64_t			 size;
	int			 i;

	(void)state;
	assert_non_null(ix);
	for (i = 0; i < 5; i++) {
		key_of(i, k[i]);
		t.tv_sec = 100 + i;
		assert_int_equal(storeindex_put(ix, k[i], STOREINDEX_BLOB, 10 * (i + 1),
		    &t, NULL), 0);
	}
	assert_int_equal(storeindex_count(ix), 5);
	assert_int_equal(storeindex_bytes(ix), 150);
	/* Oldest first; a touch sends it to the recent end. */
	assert_int_equal(storeindex_oldest(ix, out, &size, &path), 1);
	assert_memory_equal(out, k[0], STOREINDEX_KEY_LEN);
	storeindex_touch(ix, k[0]);
	storeindex_oldest(ix, out, &size, &path);
	assert_memory_equal(out, k[1], STOREINDEX_KEY_LEN);
	/* A pinned file is never offered; unpinning brings it back. */
	storeindex_pin(ix, k[1]);
	storeindex_oldest(ix, out, &size, &path);
	assert_memory_equal(out, k[2], STOREINDEX_KEY_LEN);
	assert_int_equal(storeindex_evictable_bytes(ix), 150 - 20);
	storeindex_unpin_all(ix);
	assert_int_equal(storeindex_evictable_bytes(ix), 150);
	/* Putting the same key again updates it: no second entry. */
	assert_int_equal(storeindex_put(ix, k[3], STOREINDEX_BLOB, 7, NULL, NULL), 0);
	assert_int_equal(storeindex_count(ix), 5);
	assert_int_equal(storeindex_bytes(ix), 150 - 40 + 7);
	storeindex_remove(ix, k[3]);
	storeindex_remove(ix, k[3]);		/* twice is harmless */
	assert_int_equal(storeindex_count(ix), 4);
	assert_int_equal(storeindex_bytes(ix), 150 - 40);
	storeindex_free(ix);
}

static void
test_index_feed_classes_and_growth(void **state)
{
	struct storeindex	*ix = storeindex_new();
	unsigned char		 k[STOREINDEX_KEY_LEN], out[STOREINDEX_KEY_LEN];
	const char		*path;
	int64_t			 size;
	int			 i;

	(void)state;
	assert_int_equal(storeindex_classify("feeds/deb/data/pool/main/a/a_1_all.deb#"),
	    STOREINDEX_FEED_FILE);
	assert_int_equal(storeindex_classify("feeds/op/data/base/x_1.ipk#"),
	    STOREINDEX_FEED_FILE);
	/* A volatile loose file goes by LRU too. */
	assert_int_equal(storeindex_classify("feeds/deb/data/dists/s/Contents#"),
	    STOREINDEX_FEED_FILE);
	/* A set's members, by-hash indexes, meta, lookups go with their set. */
	assert_int_equal(storeindex_classify(
	    "feeds/deb/data/dists/s/main/binary-amd64/by-hash/SHA256/ab#"),
	    STOREINDEX_FEED_KEPT);
	assert_int_equal(storeindex_classify(
	    "feeds/deb/sets/dists/s/InRelease#/v.abcdef/data/dists/s/InRelease#"),
	    STOREINDEX_FEED_KEPT);
	assert_int_equal(storeindex_classify("feeds/deb/meta/pool/a.deb#"),
	    STOREINDEX_FEED_KEPT);
	assert_int_equal(storeindex_classify("feeds/deb/pkgidx/%dists%s/ab"),
	    STOREINDEX_FEED_KEPT);
	/* A set's file is counted but never offered for eviction. */
	storeindex_key_path("feeds/deb/sets/dists/s/InRelease#/v.abcdef/data/"
	    "dists/s/InRelease#", k);
	storeindex_put(ix, k, STOREINDEX_FEED_KEPT, 1000, NULL,
	    "feeds/deb/sets/dists/s/InRelease#/v.abcdef/data/dists/s/InRelease#");
	assert_int_equal(storeindex_oldest(ix, out, &size, &path), 0);
	assert_int_equal(storeindex_bytes(ix), 1000);
	/* 100,000 entries: the table grows, lookups stay right. */
	for (i = 0; i < 100000; i++) {
		key_of(i, k);
		assert_int_equal(storeindex_put(ix, k, STOREINDEX_BLOB, 1, NULL,
		    NULL), 0);
	}
	assert_int_equal(storeindex_count(ix), 100001);
	key_of(0, k);
	assert_int_equal(storeindex_oldest(ix, out, &size, &path), 1);
	assert_memory_equal(out, k, STOREINDEX_KEY_LEN);
	for (i = 0; i < 100000; i += 2) {
		key_of(i, k);
		storeindex_remove(ix, k);
	}
	assert_int_equal(storeindex_count(ix), 50001);
	assert_int_equal(storeindex_bytes(ix), 1000 + 50000);
	storeindex_free(ix);
}

/* Stores text as a blob last used at second 'used' (0: now). */
static void
put_blob(struct cache *c, const char *text, struct digest *d, time_t used)
{
	struct timespec	ts[2] = { { used, 0 }, { 0, UTIME_OMIT } };
	char		path[1024];

	assert_int_equal(hash_buffer(text, strlen(text), d), 0);
	assert_int_equal(cache_put(c, d, text, strlen(text)), 0);
	assert_int_equal(cache_blob_path(c, d, path, sizeof path), 0);
	if (used != 0)
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_budget_reserve_and_evict(void **state)
{
	struct cache	 c;
	struct budget	*b;
	struct digest	 d1, d2, d3;
	char		*cause = NULL;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	put_blob(&c, "aaaaaaaaaa", &d1, 1000);		/* 10 bytes, oldest */
	put_blob(&c, "bbbbbbbbbbbbbbbbbbbb", &d2, 2000);	/* 20 */
	put_blob(&c, "cccccccccccccccccccccccccccccc", &d3, 3000);	/* 30 */
	assert_non_null(b = budget_new(&c, 100, &cause));
	assert_int_equal(storeindex_bytes(budget_index(b)), 60);
	budget_use_blob(b, &d1, -1);		/* d1 now the most recent */
	/* 40 fit without eviction; then 15 more evict the LRU (d2). */
	assert_int_equal(budget_reserve(b, 40, &cause), 0);
	assert_true(cache_blob_exists(&c, &d2));
	assert_int_equal(budget_reserve(b, 15, &cause), 0);
	assert_false(cache_blob_exists(&c, &d2));
	assert_true(cache_blob_exists(&c, &d1));
	assert_true(cache_blob_exists(&c, &d3));
	/* Reservations count: 40 + 15 reserved, 40 stored; 50 more cannot fit. */
	assert_int_equal(budget_reserve(b, 50, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	/* Nothing was evicted by the refusal. */
	assert_true(cache_blob_exists(&c, &d1));
	assert_true(cache_blob_exists(&c, &d3));
	budget_release(b, 55);
	/* More than the whole budget, and a size that would overflow. */
	assert_int_equal(budget_reserve(b, 101, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(budget_reserve(b, INT64_MAX, &cause), -1);
	free(cause);
	cause = NULL;
	assert_true(cache_blob_exists(&c, &d1));
	budget_free(b);
}

static void
test_watch_sees_other_processes(void **state)
{
	struct cache		 c;
	struct budget		*b;
	struct storewatch	*w;
	struct digest		 d;
	char			*cause = NULL;
	int64_t			 before;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	assert_non_null(w = storewatch_new(&c, &cause));
	assert_non_null(b = budget_new(&c, 0, &cause));
	before = storeindex_bytes(budget_index(b));
	/* A blob in a new directory, as 'pullgate import' would publish it. */
	put_blob(&c, "published by another process", &d, 0);
	assert_int_equal(storewatch_read(w, b), 0);
	assert_int_equal(storeindex_bytes(budget_index(b)),
	    before + (int64_t)strlen("published by another process"));
	/* ...and removed, as 'pullgate cache gc' would. */
	assert_int_equal(cache_remove_blob(&c, &d), 0);
	assert_int_equal(storewatch_read(w, b), 0);
	assert_int_equal(storeindex_bytes(budget_index(b)), before);
	storewatch_free(w);
	budget_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_lru_and_pins),
		cmocka_unit_test(test_index_feed_classes_and_growth),
		cmocka_unit_test(test_budget_reserve_and_evict),
		cmocka_unit_test(test_watch_sees_other_processes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
