/*
 * Unit tests: the cache's publish and discard, the tag index, and what
 * pins keep (refs.c), referrers included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

static char	dir[] = "/tmp/pullgate-unit.XXXXXX";

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

static int
count_tmp(void)
{
	char	cmd[256];
	FILE	*p;
	int	 n = -1;

	snprintf(cmd, sizeof cmd, "ls -A '%s/tmp' | wc -l", dir);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

static void
test_publish_and_discard(void **state)
{
	struct cache	 c;
	struct digest	 d, other;
	char		*cause = NULL, tmp[1024], buf[16];
	off_t		 size;
	int		 fd;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	hash_buffer("hello", 5, &d);
	hash_buffer("other", 5, &other);
	assert_false(cache_blob_exists(&c, &d));

	/* Discard: the temporary file goes, nothing is published. */
	fd = cache_tmp_create(&c, &other, tmp, sizeof tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "xx", 2), 2);
	close(fd);
	assert_int_equal(count_tmp(), 1);
	cache_discard(tmp);
	assert_int_equal(count_tmp(), 0);
	assert_false(cache_blob_exists(&c, &other));

	/* Publish: atomically in place, readable, tmp empty again. */
	fd = cache_tmp_create(&c, &d, tmp, sizeof tmp);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(cache_publish(&c, fd, tmp, &d), 0);
	close(fd);
	assert_int_equal(count_tmp(), 0);
	assert_true(cache_blob_exists(&c, &d));
	fd = cache_blob_open(&c, &d, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 5);
	assert_int_equal(read(fd, buf, sizeof buf), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fd);

	/* cache_put refuses content that does not match its digest. */
	assert_int_equal(cache_put(&c, &other, "hello", 5), -1);
	assert_false(cache_blob_exists(&c, &other));
	assert_int_equal(cache_put(&c, &other, "other", 5), 0);
	assert_true(cache_blob_exists(&c, &other));
	assert_int_equal(count_tmp(), 0);
}

/*
 * What a crashed run left in tmp/ is gone from there at the next open;
 * a download's partial file is kept in partial/ to be resumed.
 */
static void
test_leftovers_removed_at_open(void **state)
{
	struct cache	 c;
	struct digest	 d;
	char		*cause = NULL, tmp[1024], tmp2[1024], buf[16];
	off_t		 size;
	int		 fd;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	hash_buffer("crash", 5, &d);
	fd = cache_tmp_create(&c, &d, tmp, sizeof tmp);
	assert_int_equal(write(fd, "cra", 3), 3);
	close(fd);			/* the process "dies" here */
	assert_int_equal(count_tmp(), 1);
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	assert_int_equal(count_tmp(), 0);
	assert_false(cache_blob_exists(&c, &d));

	/* ...kept aside in partial/, never as a blob, taken back once. */
	fd = cache_partial_claim(&c, &d, tmp, sizeof tmp, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 3);
	assert_int_equal(read(fd, buf, sizeof buf), 3);
	assert_memory_equal(buf, "cra", 3);
	assert_int_equal(count_tmp(), 1);
	assert_int_equal(cache_partial_claim(&c, &d, tmp2, sizeof tmp2, &size), -1);
	/* A broken download sets its file aside again, for the next one. */
	cache_partial_keep(&c, &d, tmp, 0);
	close(fd);
	assert_int_equal(count_tmp(), 0);
	assert_false(cache_blob_exists(&c, &d));
	fd = cache_partial_claim(&c, &d, tmp2, sizeof tmp2, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 3);
	close(fd);
	cache_discard(tmp2);
	assert_int_equal(cache_partial_claim(&c, &d, tmp2, sizeof tmp2, &size), -1);
}

static void
test_tagindex(void **state)
{
	struct cache		 c;
	struct tagindex_entry	 e, got;
	char			*cause = NULL, **tags;
	size_t			 n;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	memset(&e, 0, sizeof e);
	hash_buffer("m", 1, &e.digest);
	strcpy(e.media_type, "application/vnd.oci.image.manifest.v1+json");
	e.checked = 1234;
	assert_int_equal(tagindex_get(&c, "remote", "acme/app", "v1", &got), -1);
	assert_int_equal(tagindex_put(&c, "remote", "acme/app", "v1", &e), 0);
	assert_int_equal(tagindex_put(&c, "remote", "acme/app", "v2", &e), 0);
	assert_int_equal(tagindex_get(&c, "remote", "acme/app", "v1", &got), 0);
	assert_true(digest_equal(&got.digest, &e.digest));
	assert_string_equal(got.media_type, e.media_type);
	assert_int_equal(got.checked, 1234);
	assert_int_equal(tagindex_list(&c, "remote", "acme/app", &tags, &n), 0);
	assert_int_equal(n, 2);
	tagindex_list_free(tags, n);
	assert_int_equal(tagindex_list(&c, "remote", "acme/none", &tags, &n), 0);
	assert_int_equal(n, 0);
	/* Another entry's namespace is separate. */
	assert_int_equal(tagindex_get(&c, "local", "acme/app", "v1", &got), -1);
}

/* Puts JSON text in the cache as a manifest; returns its digest. */
static void
put_json(struct cache *c, const char *text, struct digest *d)
{
	hash_buffer(text, strlen(text), d);
	assert_int_equal(cache_put_manifest(c, d, text, strlen(text),
	    "application/vnd.oci.image.manifest.v1+json"), 0);
}

/* The referrers listed for a pinned image are what the pin keeps too. */
static void
test_refs_referrers(void **state)
{
	struct cache		 c;
	struct tagindex_entry	 e;
	struct digest_set	 set;
	struct digest		 layer, image, sig, listing;
	char			*cause = NULL, text[1024], hex[DIGEST_STRING_LEN + 1];
	char			 tag[REFERENCE_TAG_MAX + 1];

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	hash_buffer("layer", 5, &layer);
	digest_format(&layer, hex, sizeof hex);
	snprintf(text, sizeof text, "{\"layers\":[{\"digest\":\"%s\"}]}", hex);
	put_json(&c, text, &image);
	snprintf(text, sizeof text, "{\"artifactType\":\"x\",\"layers\":[]}");
	put_json(&c, text, &sig);
	digest_format(&sig, hex, sizeof hex);
	snprintf(text, sizeof text, "{\"manifests\":[{\"digest\":\"%s\"}]}",
	    hex);
	put_json(&c, text, &listing);

	memset(&e, 0, sizeof e);
	e.digest = image;
	strcpy(e.media_type, "application/vnd.oci.image.manifest.v1+json");
	assert_int_equal(tagindex_put_in(&c, TAGINDEX_PINS, "remote", "acme/app",
	    "v1", &e), 0);
	memset(&set, 0, sizeof set);
	assert_int_equal(refs_collect(&c, TAGINDEX_PINS, &set), 0);
	assert_true(digest_set_contains(&set, &layer));
	assert_false(digest_set_contains(&set, &sig));
	digest_set_free(&set);

	snprintf(tag, sizeof tag, "sha256-%s", image.hex);
	e.digest = listing;
	assert_int_equal(tagindex_put_in(&c, TAGINDEX_REFERRERS, "remote",
	    "acme/app", tag, &e), 0);
	memset(&set, 0, sizeof set);
	assert_int_equal(refs_collect(&c, TAGINDEX_PINS, &set), 0);
	assert_true(digest_set_contains(&set, &listing));
	assert_true(digest_set_contains(&set, &sig));
	digest_set_free(&set);
	/* Another repository's pin keeps none of them. */
	assert_int_equal(tagindex_remove_in(&c, TAGINDEX_PINS, "remote",
	    "acme/app", "v1"), 0);
	e.digest = image;
	assert_int_equal(tagindex_put_in(&c, TAGINDEX_PINS, "remote", "acme/other",
	    "v1", &e), 0);
	memset(&set, 0, sizeof set);
	assert_int_equal(refs_collect(&c, TAGINDEX_PINS, &set), 0);
	assert_false(digest_set_contains(&set, &sig));
	digest_set_free(&set);
}

/*
 * partial/ is outside the budget: keeping one more broken download trims
 * it to the bound given, the oldest first (the newest stays if it fits).
 */
static void
test_partial_bounded(void **state)
{
	struct cache	 c;
	struct digest	 d[4];
	struct timespec	 ts[2];
	char		 tmp[PATH_MAX], path[PATH_MAX], buf[100], *cause = NULL;
	off_t		 size;
	int		 fd, i, left = 0;

	(void)state;
	memset(buf, 'x', sizeof buf);
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "partial-%d", i);
		hash_buffer(path, strlen(path), &d[i]);
		fd = cache_tmp_create(&c, &d[i], tmp, sizeof tmp);
		assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
		ts[0].tv_sec = ts[1].tv_sec = 1000000 + i;	/* oldest first */
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		assert_int_equal(futimens(fd, ts), 0);
		close(fd);
		cache_partial_keep(&c, &d[i], tmp, 250);
	}
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/partial/%s", dir, d[i].hex);
		left += access(path, F_OK) == 0;
	}
	assert_int_equal(left, 2);
	fd = cache_partial_claim(&c, &d[3], tmp, sizeof tmp, &size);
	assert_true(fd >= 0);
	close(fd);
	cache_discard(tmp);
	assert_int_equal(cache_partial_claim(&c, &d[0], tmp, sizeof tmp, &size), -1);
	fd = cache_partial_claim(&c, &d[2], tmp, sizeof tmp, &size);
	assert_true(fd >= 0);
	close(fd);
	cache_discard(tmp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_and_discard),
		cmocka_unit_test(test_leftovers_removed_at_open),
		cmocka_unit_test(test_tagindex),
		cmocka_unit_test(test_refs_referrers),
		cmocka_unit_test(test_partial_bounded),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
