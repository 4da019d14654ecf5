/* Unit tests: digest parsing and computing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "certs.h"

#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
test_digest_valid(void **state)
{
	struct digest	d;
	char		buf[DIGEST_STRING_LEN + 1];

	(void)state;
	assert_int_equal(digest_parse("sha256:" HEX64, &d), 0);
	assert_string_equal(d.hex, HEX64);
	digest_format(&d, buf, sizeof buf);
	assert_string_equal(buf, "sha256:" HEX64);
}

static void
test_digest_invalid(void **state)
{
	struct digest	d;

	(void)state;
	assert_int_equal(digest_parse("", &d), -1);
	assert_int_equal(digest_parse("sha256:", &d), -1);
	assert_int_equal(digest_parse(HEX64, &d), -1);
	assert_int_equal(digest_parse("sha512:" HEX64, &d), -1);
	assert_int_equal(digest_parse("SHA256:" HEX64, &d), -1);
	/* One short, one long, uppercase, traversal. */
	assert_int_equal(digest_parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", &d), -1);
	assert_int_equal(digest_parse("sha256:" HEX64 "0", &d), -1);
	assert_int_equal(digest_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &d), -1);
	assert_int_equal(digest_parse("sha256:../../../../etc/passwd", &d), -1);
	assert_int_equal(digest_parse("sha256:" HEX64 "/", &d), -1);
}

static void
test_hash_buffer(void **state)
{
	struct digest	d, e;

	(void)state;
	assert_int_equal(hash_buffer("", 0, &d), 0);
	assert_string_equal(d.hex, HEX64);	/* sha256 of nothing */
	assert_int_equal(hash_buffer("abc", 3, &e), 0);
	assert_string_equal(e.hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_false(digest_equal(&d, &e));
	assert_true(digest_equal(&d, &d));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_valid),
		cmocka_unit_test(test_digest_invalid),
		cmocka_unit_test(test_hash_buffer),
	};

	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
