/*
 * Unit tests: the origin a credential belongs to (fetch_origin), which
 * decides whether a redirect keeps the request's credentials and which
 * token a request may carry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxy.h"

static void
test_fetch_origin_ports(void **state)
{
	char	o[300];

	(void)state;
	assert_int_equal(fetch_origin("https://registry.example/v2/", o, sizeof o), 0);
	assert_string_equal(o, "https://registry.example:443");
	assert_int_equal(fetch_origin("http://registry.example/v2/", o, sizeof o), 0);
	assert_string_equal(o, "http://registry.example:80");
	/* The scheme's own port written out is the same origin. */
	assert_int_equal(fetch_origin("https://registry.example:443/x", o, sizeof o), 0);
	assert_string_equal(o, "https://registry.example:443");
	assert_int_equal(fetch_origin("http://127.0.0.1:5000/v2/a/blobs/x?y=1", o,
	    sizeof o), 0);
	assert_string_equal(o, "http://127.0.0.1:5000");
}

static void
test_fetch_origin_case_and_forms(void **state)
{
	char	o[300];

	(void)state;
	assert_int_equal(fetch_origin("HTTPS://Registry.EXAMPLE/v2/", o, sizeof o), 0);
	assert_string_equal(o, "https://registry.example:443");
	assert_int_equal(fetch_origin("https://[::1]:8443/t", o, sizeof o), 0);
	assert_string_equal(o, "https://[::1]:8443");
	/* User information is no part of the origin. */
	assert_int_equal(fetch_origin("https://u:p@cdn.example/b", o, sizeof o), 0);
	assert_string_equal(o, "https://cdn.example:443");
}

static void
test_fetch_origin_refused(void **state)
{
	char	o[300], small[16];

	(void)state;
	assert_int_equal(fetch_origin("", o, sizeof o), -1);
	assert_int_equal(fetch_origin("/relative/path", o, sizeof o), -1);
	assert_int_equal(fetch_origin("http://", o, sizeof o), -1);
	/* Too long for the buffer: refused, not cut short. */
	assert_int_equal(fetch_origin("https://a-long-host-name.example/", small,
	    sizeof small), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_origin_ports),
		cmocka_unit_test(test_fetch_origin_case_and_forms),
		cmocka_unit_test(test_fetch_origin_refused),
	};

	return cmocka_run_group_tests_name("fetch", tests, NULL, NULL);
}
