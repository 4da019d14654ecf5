/*
 * Unit tests: a tag resolved from the cache alone — tagindex_resolve takes
 * the first index, in the order given, whose manifest is cached, and
 * registry_resolve_tag gives it an entry's order (the local entry: its
 * own index, then every other entry's by id).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static char	dir[] = "/tmp/pullgate-unit-resolve.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return util_rmtree(dir);
}

/* A manifest "text" in the cache (if cached) and tagged in entry's index. */
static void
tag(const struct cache *c, const char *entry, const char *text, int cached,
    struct digest *d)
{
	struct tagindex_entry	e;

	memset(&e, 0, sizeof e);
	hash_buffer(text, strlen(text), &e.digest);
	strcpy(e.media_type, MEDIATYPE_OCI_MANIFEST);
	if (cached)
		assert_int_equal(cache_put(c, &e.digest, text, strlen(text)), 0);
	assert_int_equal(tagindex_put(c, entry, "acme/app", "v1", &e), 0);
	*d = e.digest;
}

static void
test_tagindex_resolve(void **state)
{
	struct cache		 c;
	struct tagindex_entry	 e;
	struct digest		 a, b, gone;
	const char		*ab[] = { "a", "b" }, *ba[] = { "b", "a" };
	const char		*ga[] = { "gone", "a" }, *none[] = { "x", "y" };
	char			*cause = NULL;

	(void)state;
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	tag(&c, "a", "manifest a", 1, &a);
	tag(&c, "b", "manifest b", 1, &b);
	tag(&c, "gone", "manifest never cached", 0, &gone);

	/* The first index in the order given wins. */
	assert_int_equal(tagindex_resolve(&c, ab, 2, "acme/app", "v1", &e), 0);
	assert_true(digest_equal(&e.digest, &a));
	assert_int_equal(tagindex_resolve(&c, ba, 2, "acme/app", "v1", &e), 0);
	assert_true(digest_equal(&e.digest, &b));
	/* An index whose manifest is not cached is skipped. */
	assert_int_equal(tagindex_resolve(&c, ga, 2, "acme/app", "v1", &e), 0);
	assert_true(digest_equal(&e.digest, &a));
	assert_int_equal(tagindex_resolve(&c, ga, 1, "acme/app", "v1", &e), -1);
	/* Nothing, or an unknown tag. */
	assert_int_equal(tagindex_resolve(&c, none, 2, "acme/app", "v1", &e), -1);
	assert_int_equal(tagindex_resolve(&c, ab, 0, "acme/app", "v1", &e), -1);
	assert_int_equal(tagindex_resolve(&c, ab, 2, "acme/app", "v2", &e), -1);
}

static void
test_registry_resolve_tag(void **state)
{
	struct registry_table	 t;
	struct registry		*local, *remote, *beta;
	struct cache		 c;
	struct tagindex_entry	 e;
	struct digest		 in_beta, in_gamma, in_local, in_remote;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(util_rmtree(dir), 0);
	assert_int_equal(cache_open(&c, dir, 1, &cause), 0);
	assert_int_equal(registry_table_init(&t, "https://registry-1.docker.io",
	    &cause), 0);
	/* Table order is not id order: 5 before 3. */
	assert_non_null(registry_table_add(&t, 5, "gamma", "https://g.example",
	    &cause));
	assert_non_null(registry_table_add(&t, 3, "beta", "https://b.example",
	    &cause));
	local = registry_find_id(&t, REGISTRY_ID_LOCAL);
	remote = registry_find_id(&t, REGISTRY_ID_REMOTE);
	beta = registry_find_name(&t, "beta");

	/* Nothing cached: no answer anywhere. */
	assert_int_equal(registry_resolve_tag(&t, &c, local, "acme/app", "v1",
	    &e), -1);

	tag(&c, "gamma", "gamma's", 1, &in_gamma);
	tag(&c, "beta", "beta's", 1, &in_beta);
	tag(&c, "local", "local's, not cached", 0, &in_local);

	/* local: its own index has no cached manifest; then by id: 1, 3, 5. */
	assert_int_equal(registry_resolve_tag(&t, &c, local, "acme/app", "v1",
	    &e), 0);
	assert_true(digest_equal(&e.digest, &in_beta));
	/* Entry 1 comes before 3. */
	tag(&c, "remote", "remote's", 1, &in_remote);
	assert_int_equal(registry_resolve_tag(&t, &c, local, "acme/app", "v1",
	    &e), 0);
	assert_true(digest_equal(&e.digest, &in_remote));
	/* A manifest that went away: the next index answers. */
	assert_int_equal(cache_remove_blob(&c, &in_remote), 0);
	assert_int_equal(cache_remove_blob(&c, &in_beta), 0);
	assert_int_equal(registry_resolve_tag(&t, &c, local, "acme/app", "v1",
	    &e), 0);
	assert_true(digest_equal(&e.digest, &in_gamma));
	/* local's own index, once its manifest is cached, comes first. */
	tag(&c, "local", "local's", 1, &in_local);
	assert_int_equal(registry_resolve_tag(&t, &c, local, "acme/app", "v1",
	    &e), 0);
	assert_true(digest_equal(&e.digest, &in_local));

	/* Any other entry answers from its own index only. */
	assert_int_equal(registry_resolve_tag(&t, &c, beta, "acme/app", "v1",
	    &e), -1);
	assert_int_equal(registry_resolve_tag(&t, &c, remote, "acme/app", "v1",
	    &e), -1);
	tag(&c, "beta", "beta's again", 1, &in_beta);
	assert_int_equal(registry_resolve_tag(&t, &c, beta, "acme/app", "v1",
	    &e), 0);
	assert_true(digest_equal(&e.digest, &in_beta));

	registry_table_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tagindex_resolve),
		cmocka_unit_test(test_registry_resolve_tag),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("resolve", tests, setup, teardown);
}
