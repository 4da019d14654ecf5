/*
 * Unit tests: which paths inside a feed may reach the file system
 * (feedstore_valid_path), and feedstore_path refusing a result that does
 * not fit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "store.h"

#define HEX64	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"

static void
expect_valid(const char *rel)
{
	if (feedstore_valid_path(rel) != 1)
		fail_msg("'%.100s' refused", rel);
}

static void
expect_invalid(const char *rel)
{
	if (feedstore_valid_path(rel) != 0)
		fail_msg("'%.100s' accepted", rel);
}

static void
test_feedpath_accepted(void **state)
{
	(void)state;
	expect_valid("pool/main/h/hello_1.0_all.deb");
	expect_valid("dists/stable/InRelease");
	expect_valid("dists/stable/main/binary-amd64/by-hash/SHA256/" HEX64);
	expect_valid("dists/stable/main/binary-amd64/Packages.xz");
	expect_valid("pool/main/libg/libgcc++/libstdc++6_12.2.0-14~deb12u1_amd64.deb");
	expect_valid("pool/main/e/epoch/epoch_1:2.3-1_all.deb");
	expect_valid("a=b/c@d/e,f/g-h/i~j/k+l/m:n/o_p/q.r");
	expect_valid("README");
	expect_valid("x");
	/* Dots inside a component are fine; only "." and ".." are not. */
	expect_valid("...");
	expect_valid("a/.../b");
	expect_valid(".hidden/..x/x..");
}

static void
test_feedpath_empty_and_dots(void **state)
{
	(void)state;
	expect_invalid("");
	expect_invalid(".");
	expect_invalid("..");
	expect_invalid("./dists/stable/InRelease");
	expect_invalid("../dists/stable/InRelease");
	expect_invalid("dists/./stable/InRelease");
	expect_invalid("dists/../../etc/passwd");
	expect_invalid("dists/stable/.");
	expect_invalid("dists/stable/..");
	expect_invalid("pool/main/h/../../../../../../etc/shadow");
}

static void
test_feedpath_slashes(void **state)
{
	(void)state;
	expect_invalid("/");
	expect_invalid("/etc/passwd");
	expect_invalid("/dists/stable/InRelease");
	expect_invalid("dists//stable/InRelease");
	expect_invalid("dists/stable/InRelease/");
	expect_invalid("dists/");
	expect_invalid("//");
	expect_invalid("a\\b");
}

static void
test_feedpath_characters(void **state)
{
	char	path[32];
	int	c;

	(void)state;
	expect_invalid("pool/main/h/hello%2f..%2fx.deb");
	expect_invalid("pool/main/h/hello%00.deb");
	expect_invalid("dists/stable#/InRelease");
	expect_invalid("dists/stable/InRelease#");
	expect_invalid("dists/stable/In Release");
	expect_invalid(" dists/stable/InRelease");
	expect_invalid("dists/stable/InRelease?x=1");
	expect_invalid("dists/stable/InRelease\n");
	expect_invalid("dists/\tstable/InRelease");
	expect_invalid("dists/stable/\x01InRelease");
	expect_invalid("dists/stable/InRelease\x7f");
	expect_invalid("dists/stable/\x1b[31m");
	/* Non-ASCII bytes, UTF-8 or not. */
	expect_invalid("pool/main/h/h\xc3\xa9llo.deb");
	expect_invalid("pool/main/h/\xff");
	expect_invalid("\x80");
	expect_invalid("pool/main/h/hello\xe2\x80\xae.deb");

	/* Every byte from 1 to 255, alone in a middle component. */
	for (c = 1; c < 256; c++) {
		int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._+~:=@,-", c) != NULL;

		snprintf(path, sizeof path, "a/%cx/b", c);
		if (feedstore_valid_path(path) != want)
			fail_msg("byte 0x%02x: got %d, expected %d", c,
			    !want, want);
	}
}

static void
test_feedpath_length(void **state)
{
	char	path[1100];

	(void)state;
	/* Exactly 1024 bytes is fine, one more is not. */
	memset(path, 'a', 1024);
	path[1024] = '\0';
	expect_valid(path);
	memset(path, 'a', 1025);
	path[1025] = '\0';
	expect_invalid(path);

	/* 1024 with separators: 15 components of 64 and one of 49. */
	memset(path, 'b', 1024);
	path[1024] = '\0';
	for (int i = 64; i < 1024; i += 65)
		path[i] = '/';
	assert_int_equal(strlen(path), 1024);
	expect_valid(path);
	path[1024] = 'b';
	path[1025] = '\0';
	expect_invalid(path);
}

static void
test_feedpath_depth(void **state)
{
	char	path[64];
	int	i;

	(void)state;
	/* a/a/.../a with 16 components, then 17. */
	path[0] = '\0';
	for (i = 0; i < 16; i++)
		strcat(path, i == 0 ? "a" : "/a");
	assert_int_equal(strlen(path), 31);
	expect_valid(path);
	strcat(path, "/a");
	expect_invalid(path);
	strcat(path, "/a/a/a");
	expect_invalid(path);
}

/* A feed's file as the store names it: its root, then the path. */
static int
feed_file_path(const struct cache *c, const char *feed, const char *tree,
    const char *rel, char *buf, size_t len)
{
	char	root[4096];

	if (feedstore_root(c, feed, root, sizeof root) != 0)
		return -1;
	return feedstore_path(root, tree, rel, buf, len);
}

static void
test_feedpath_path_fits(void **state)
{
	struct cache	c;
	char		buf[256], small[32];
	const char	*want = "/var/cache/pullgate/feeds/debian/data/"
			    "dists/stable/InRelease#";
	size_t		len = strlen(want);

	(void)state;
	memset(&c, 0, sizeof c);
	snprintf(c.dir, sizeof c.dir, "/var/cache/pullgate");
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", buf, sizeof buf), 0);
	assert_string_equal(buf, want);
	assert_int_equal(feed_file_path(&c, "debian", "meta",
	    "dists/stable/InRelease", buf, sizeof buf), 0);
	assert_string_equal(buf, "/var/cache/pullgate/feeds/debian/meta/"
	    "dists/stable/InRelease#");

	/* Exactly len + 1 fits (the NUL); one less does not. */
	assert_true(len + 1 <= sizeof buf);
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", buf, len + 1), 0);
	assert_string_equal(buf, want);
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", buf, len), -1);
	/* Short by the '#' alone: a truncated name would be a directory's. */
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", buf, len - 1), -1);
	assert_true(sizeof small < len);
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", small, sizeof small), -1);
	assert_int_equal(feed_file_path(&c, "debian", "data",
	    "dists/stable/InRelease", buf, 0), -1);
}

static void
test_feedpath_path_long_rel(void **state)
{
	struct cache	c;
	char		rel[1025], buf[4096], exact[2048];

	(void)state;
	memset(&c, 0, sizeof c);
	memset(c.dir, 'd', sizeof c.dir - 1);
	c.dir[0] = '/';
	memset(rel, 'r', 1024);
	rel[1024] = '\0';
	expect_valid(rel);
	/* A valid path under the longest cache directory overflows 2048. */
	assert_int_equal(feed_file_path(&c, "f", "data", rel, exact,
	    sizeof exact), -1);
	assert_int_equal(feed_file_path(&c, "f", "data", rel, buf, sizeof buf),
	    0);
	assert_int_equal(strlen(buf), 1023 + strlen("/feeds/f/data/") + 1024 + 1);
	assert_int_equal(buf[strlen(buf) - 1], '#');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feedpath_accepted),
		cmocka_unit_test(test_feedpath_empty_and_dots),
		cmocka_unit_test(test_feedpath_slashes),
		cmocka_unit_test(test_feedpath_characters),
		cmocka_unit_test(test_feedpath_length),
		cmocka_unit_test(test_feedpath_depth),
		cmocka_unit_test(test_feedpath_path_fits),
		cmocka_unit_test(test_feedpath_path_long_rel),
	};

	return cmocka_run_group_tests_name("feedpath", tests, NULL, NULL);
}
