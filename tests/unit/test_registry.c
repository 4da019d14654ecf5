/*
 * Unit tests: the registry table's rules that every part shares — the
 * name an entry knows a repository by (Docker Hub's library/).
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upstream_name),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
