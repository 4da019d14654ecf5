/* Unit tests: repository names, tags and image references. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib.h"

static void
test_names(void **state)
{
	char	long_name[300];

	(void)state;
	assert_true(reference_valid_name("alpine"));
	assert_true(reference_valid_name("library/alpine"));
	assert_true(reference_valid_name("acme/app-server/v2"));
	assert_true(reference_valid_name("a.b_c__d---e/f"));
	assert_true(reference_valid_name("123/456"));

	assert_false(reference_valid_name(""));
	assert_false(reference_valid_name("/alpine"));
	assert_false(reference_valid_name("alpine/"));
	assert_false(reference_valid_name("acme//app"));
	assert_false(reference_valid_name(".."));
	assert_false(reference_valid_name("acme/../etc"));
	assert_false(reference_valid_name("acme/./app"));
	assert_false(reference_valid_name("Acme/app"));
	assert_false(reference_valid_name("acme/app."));
	assert_false(reference_valid_name("acme/-app"));
	assert_false(reference_valid_name("a___b"));
	assert_false(reference_valid_name("a._b"));
	assert_false(reference_valid_name("acme/_tags"));
	assert_false(reference_valid_name("acme/app:v1"));
	assert_false(reference_valid_name("acme app"));
	assert_false(reference_valid_name("acme%2fapp"));

	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_false(reference_valid_name(long_name));
	long_name[REFERENCE_NAME_MAX] = '\0';
	assert_true(reference_valid_name(long_name));
}

static void
test_tags(void **state)
{
	char	t[200];

	(void)state;
	assert_true(reference_valid_tag("latest"));
	assert_true(reference_valid_tag("v1.2.3-rc.1_build"));
	assert_true(reference_valid_tag("_x"));
	assert_true(reference_valid_tag("3.20"));
	assert_false(reference_valid_tag(""));
	assert_false(reference_valid_tag(".hidden"));
	assert_false(reference_valid_tag("-x"));
	assert_false(reference_valid_tag(".."));
	assert_false(reference_valid_tag("a/b"));
	assert_false(reference_valid_tag("a:b"));
	assert_false(reference_valid_tag("a b"));
	memset(t, 'a', sizeof t - 1);
	t[sizeof t - 1] = '\0';
	assert_false(reference_valid_tag(t));
	t[REFERENCE_TAG_MAX] = '\0';
	assert_true(reference_valid_tag(t));
}

static void
test_parse(void **state)
{
	struct reference	 r;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(reference_parse("acme/app:v1", &r, &cause), 0);
	assert_string_equal(r.name, "acme/app");
	assert_string_equal(r.tag, "v1");
	assert_false(r.has_digest);

	assert_int_equal(reference_parse("alpine", &r, &cause), 0);
	assert_string_equal(r.name, "alpine");
	assert_string_equal(r.tag, "latest");

	assert_int_equal(reference_parse("acme/app@sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    &r, &cause), 0);
	assert_true(r.has_digest);
	assert_string_equal(r.tag, "");

	assert_int_equal(reference_parse("acme/app:v1@sha256:"
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    &r, &cause), 0);
	assert_string_equal(r.tag, "v1");
	assert_true(r.has_digest);

	assert_int_equal(reference_parse("acme/app@sha256:abc", &r, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	assert_int_equal(reference_parse("Acme/app:v1", &r, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(reference_parse("acme/app:.bad", &r, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(reference_parse("../etc/passwd", &r, &cause), -1);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
