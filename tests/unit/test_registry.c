/*
 * Unit tests: the registry table's rules that every part shares — the
 * name an entry knows a repository by (Docker Hub's library/), and a
 * child's routing to its parent with the names it caches under.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static void
test_upstream_name(void **state)
{
	struct registry_table	 t;
	struct registry		*hub, *acme, *local;
	char			*cause = NULL, buf[REFERENCE_NAME_MAX + 1];
	char			 small[8], name[REFERENCE_NAME_MAX + 1];

	(void)state;
	assert_int_equal(registry_table_init(&t, "https://index.docker.io",
	    &cause), 0);
	assert_non_null(registry_table_add(&t, 3, "acme",
	    "https://registry.acme.example", &cause));
	hub = registry_find_id(&t, REGISTRY_ID_REMOTE);
	acme = registry_find_name(&t, "acme");
	local = registry_find_id(&t, REGISTRY_ID_LOCAL);

	/* Docker Hub: one-component names are official images. */
	assert_int_equal(registry_upstream_name(hub, "alpine", buf, sizeof buf), 0);
	assert_string_equal(buf, "library/alpine");
	assert_int_equal(registry_upstream_name(hub, "acme/app", buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "acme/app");
	/* Idempotent: a normalised name stays what it is. */
	assert_int_equal(registry_upstream_name(hub, "library/alpine", buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "library/alpine");

	/* Any other entry, and the local cache: the name is itself. */
	assert_int_equal(registry_upstream_name(acme, "alpine", buf, sizeof buf), 0);
	assert_string_equal(buf, "alpine");
	assert_int_equal(registry_upstream_name(local, "alpine", buf, sizeof buf), 0);
	assert_string_equal(buf, "alpine");

	/* In place, as the callers use it. */
	strcpy(name, "busybox");
	assert_int_equal(registry_upstream_name(hub, name, name, sizeof name), 0);
	assert_string_equal(name, "library/busybox");

	/* Too long for the buffer or for a repository name: refused. */
	assert_int_equal(registry_upstream_name(hub, "alpine", small,
	    sizeof small), -1);
	memset(name, 'a', REFERENCE_NAME_MAX - 4);
	name[REFERENCE_NAME_MAX - 4] = '\0';
	assert_int_equal(registry_upstream_name(hub, name, buf, sizeof buf), -1);
	assert_int_equal(registry_upstream_name(acme, name, buf, sizeof buf), 0);

	registry_table_free(&t);
}

/* A child: the parent takes ids, remote, ns= and the default. */
static void
test_parent_route(void **state)
{
	struct registry_table	 t;
	struct registry		*site, *own, *r;
	enum registry_rule	 rule;
	size_t			 strip;
	char			*cause = NULL, key[REFERENCE_NAME_MAX + 1];
	char			 path[REFERENCE_NAME_MAX + 1], ns[256];

	(void)state;
	assert_int_equal(registry_table_init(&t, "https://index.docker.io",
	    &cause), 0);
	assert_non_null(registry_table_add(&t, 3, "site",
	    "http://site-cache.lan:8080", &cause));
	assert_non_null(registry_table_add(&t, 4, "own",
	    "https://own.example", &cause));
	site = registry_find_name(&t, "site");	/* after the last add */
	own = registry_find_name(&t, "own");
	/* Not a child yet: ids and ns= are this table's. */
	assert_ptr_equal(registry_route(&t, "3/acme/app", &strip, &rule), site);
	assert_null(registry_route_ns(&t, "ghcr.io"));
	site->is_parent = 1;
	assert_ptr_equal(registry_parent(&t), site);

	r = registry_route(&t, "3/acme/app", &strip, &rule);
	assert_ptr_equal(r, site);
	assert_int_equal(rule, REGISTRY_RULE_PARENT);
	assert_int_equal(strip, 0);
	r = registry_route(&t, "remote/library/alpine", &strip, &rule);
	assert_ptr_equal(r, site);
	assert_int_equal(strip, 0);
	r = registry_route(&t, "acme/app", &strip, &rule);
	assert_ptr_equal(r, site);
	/* Its own: local by name or id, another entry by name only. */
	r = registry_route(&t, "2/acme/app", &strip, &rule);
	assert_int_equal(r->id, REGISTRY_ID_LOCAL);
	assert_int_equal(strip, 2);
	assert_ptr_equal(registry_route(&t, "own/x/y", &strip, &rule), own);
	assert_ptr_equal(registry_route(&t, "4/x/y", &strip, &rule), site);
	assert_ptr_equal(registry_route(&t, "site/x/y", &strip, &rule), site);
	assert_int_equal(strip, 5);
	/* ns=: its own entries' hosts, else the parent (Docker Hub's too). */
	assert_ptr_equal(registry_route_ns(&t, "own.example"), own);
	assert_ptr_equal(registry_route_ns(&t, "docker.io"), site);
	assert_ptr_equal(registry_route_ns(&t, "ghcr.io"), site);

	/* The names it caches under, and back. */
	assert_int_equal(registry_parent_key(NULL, "3/acme/app", key,
	    sizeof key, &cause), 0);
	assert_string_equal(key, "3/acme/app");
	assert_int_equal(registry_parent_key("GHCR.io", "acme/app", key,
	    sizeof key, &cause), 0);
	assert_string_equal(key, "ns__ghcr.io/acme/app");
	assert_int_equal(registry_parent_key("index.docker.io", "acme/app", key,
	    sizeof key, &cause), 0);
	assert_string_equal(key, "ns__docker.io/acme/app");
	assert_int_equal(registry_parent_key("127.0.0.1:5000", "acme/app", key,
	    sizeof key, &cause), 0);
	assert_string_equal(key, "ns__127.0.0.1_5000/acme/app");
	assert_int_equal(registry_parent_path(key, path, sizeof path, ns,
	    sizeof ns), 0);
	assert_string_equal(path, "acme/app");
	assert_string_equal(ns, "127.0.0.1:5000");
	assert_int_equal(registry_parent_path("3/acme/app", path, sizeof path,
	    ns, sizeof ns), 0);
	assert_string_equal(path, "3/acme/app");
	assert_string_equal(ns, "");
	/* Refused: the reserved spelling, hosts that are no name. */
	assert_int_equal(registry_parent_key(NULL, "ns__x/app", key,
	    sizeof key, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(registry_parent_key("[::1]:5000", "app", key,
	    sizeof key, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(registry_parent_key("a&b=c", "app", key,
	    sizeof key, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(registry_parent_key("", "app", key, sizeof key,
	    &cause), -1);
	free(cause);
	registry_table_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upstream_name),
		cmocka_unit_test(test_parent_route),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
