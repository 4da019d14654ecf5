/* Unit tests: the tags/list document, read and written a page at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib.h"

static void
test_taglist_parse(void **state)
{
	const char	*text = "{\"name\":\"a\",\"tags\":[\"v2\",\"-bad\",5,null,"
			    "\"a/b\",\"v1\"]}";
	char		**tags;
	size_t		  count;

	(void)state;
	assert_int_equal(taglist_parse(text, strlen(text), &tags, &count), 0);
	assert_int_equal(count, 2);
	assert_string_equal(tags[0], "v2");
	assert_string_equal(tags[1], "v1");
	taglist_free(tags, count);
	assert_int_equal(taglist_parse("{\"tags\":null}", 13, &tags, &count), -1);
	assert_int_equal(taglist_parse("{\"tags\":[]", 10, &tags, &count), -1);
	assert_int_equal(taglist_parse("{\"tags\":[]}", 11, &tags, &count), 0);
	assert_int_equal(count, 0);
	taglist_free(tags, count);
}

static void
test_taglist_page(void **state)
{
	char	*t[] = { strdup("v3"), strdup("v1"), strdup("v4"), strdup("v2") };
	char	*page, next[REFERENCE_TAG_MAX + 1];

	(void)state;
	page = taglist_page("acme/app", t, 4, 2, "", next, sizeof next);
	assert_string_equal(page, "{\"name\":\"acme/app\",\"tags\":[\"v1\",\"v2\"]}");
	assert_string_equal(next, "v2");
	free(page);
	page = taglist_page("acme/app", t, 4, 2, "v2", next, sizeof next);
	assert_string_equal(page, "{\"name\":\"acme/app\",\"tags\":[\"v3\",\"v4\"]}");
	assert_string_equal(next, "");
	free(page);
	page = taglist_page("acme/app", t, 4, -1, "v3", next, sizeof next);
	assert_string_equal(page, "{\"name\":\"acme/app\",\"tags\":[\"v4\"]}");
	free(page);
	page = taglist_page("acme/app", t, 4, 0, "", next, sizeof next);
	assert_string_equal(page, "{\"name\":\"acme/app\",\"tags\":[]}");
	assert_string_equal(next, "");
	free(page);
	page = taglist_page("acme/app", NULL, 0, 5, "", next, sizeof next);
	assert_string_equal(page, "{\"name\":\"acme/app\",\"tags\":[]}");
	free(page);
	free(t[0]); free(t[1]); free(t[2]); free(t[3]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_taglist_parse),
		cmocka_unit_test(test_taglist_page),
	};

	return cmocka_run_group_tests_name("taglist", tests, NULL, NULL);
}
