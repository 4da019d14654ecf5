/* Unit tests: the Range header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib.h"

static void
test_range_ok(void **state)
{
	off_t	a, b;

	(void)state;
	assert_int_equal(range_parse("bytes=0-99", 1000, &a, &b), RANGE_OK);
	assert_int_equal(a, 0);
	assert_int_equal(b, 99);
	assert_int_equal(range_parse("bytes=100-", 1000, &a, &b), RANGE_OK);
	assert_int_equal(a, 100);
	assert_int_equal(b, 999);
	assert_int_equal(range_parse("bytes=990-5000", 1000, &a, &b), RANGE_OK);
	assert_int_equal(b, 999);		/* clamped to the end */
	assert_int_equal(range_parse("bytes=-10", 1000, &a, &b), RANGE_OK);
	assert_int_equal(a, 990);
	assert_int_equal(b, 999);
	assert_int_equal(range_parse("bytes=-5000", 1000, &a, &b), RANGE_OK);
	assert_int_equal(a, 0);
	assert_int_equal(range_parse("bytes=999-999", 1000, &a, &b), RANGE_OK);
	assert_int_equal(a, 999);
	assert_int_equal(b, 999);
}

static void
test_range_unsatisfiable(void **state)
{
	off_t	a, b;

	(void)state;
	assert_int_equal(range_parse("bytes=1000-", 1000, &a, &b), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=5000-6000", 1000, &a, &b), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=-0", 1000, &a, &b), RANGE_UNSATISFIABLE);
	assert_int_equal(range_parse("bytes=0-", 0, &a, &b), RANGE_UNSATISFIABLE);
}

static void
test_range_ignored(void **state)
{
	off_t	a, b;

	(void)state;
	assert_int_equal(range_parse(NULL, 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("items=0-1", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=5-1", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=0-1,5-6", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=a-b", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=1-2x", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=--1", 1000, &a, &b), RANGE_NONE);
	assert_int_equal(range_parse("bytes=99999999999999999999999-", 1000, &a, &b),
	    RANGE_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_ok),
		cmocka_unit_test(test_range_unsatisfiable),
		cmocka_unit_test(test_range_ignored),
	};

	return cmocka_run_group_tests_name("range", tests, NULL, NULL);
}
