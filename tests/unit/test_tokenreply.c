/* Unit tests: the token service's answer, with hostile inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib.h"

static int
parse(const char *text, char **token, long *ttl)
{
	return tokenreply_parse(text, strlen(text), token, ttl);
}

static void
test_tokenreply_forms(void **state)
{
	char	*token;
	long	 ttl;

	(void)state;
	assert_int_equal(parse("{\"token\":\"abc.def\",\"expires_in\":300}",
	    &token, &ttl), 0);
	assert_string_equal(token, "abc.def");
	assert_int_equal(ttl, 300);
	free(token);
	/* OAuth2's name; no lifetime, or one out of range: the default. */
	assert_int_equal(parse("{\"access_token\":\"x\",\"expires_in\":0}",
	    &token, &ttl), 0);
	assert_string_equal(token, "x");
	assert_int_equal(ttl, TOKENREPLY_DEFAULT_TTL);
	free(token);
	assert_int_equal(parse("{\"token\":\"\",\"access_token\":\"y\","
	    "\"expires_in\":99999999999}", &token, &ttl), 0);
	assert_string_equal(token, "y");
	assert_int_equal(ttl, TOKENREPLY_DEFAULT_TTL);
	free(token);
}

static void
test_tokenreply_refused(void **state)
{
	char	*token, *huge;
	long	 ttl;
	size_t	 n = TOKENREPLY_MAX_LEN + 64;

	(void)state;
	/* What cannot go into a header line, or is not there. */
	assert_int_equal(parse("{\"token\":\"a b\"}", &token, &ttl), -1);
	assert_null(token);
	assert_int_equal(parse("{\"token\":\"a\\r\\nX-Evil: 1\"}", &token, &ttl), -1);
	assert_int_equal(parse("{\"token\":\"\\u00e9\"}", &token, &ttl), -1);
	assert_int_equal(parse("{\"token\":5}", &token, &ttl), -1);
	assert_int_equal(parse("[\"token\"]", &token, &ttl), -1);
	assert_int_equal(parse("token=abc", &token, &ttl), -1);
	assert_int_equal(tokenreply_parse(NULL, 0, &token, &ttl), -1);
	huge = malloc(n + 32);
	assert_non_null(huge);
	strcpy(huge, "{\"token\":\"");
	memset(huge + strlen(huge), 'a', TOKENREPLY_MAX_LEN + 1);
	strcpy(huge + 10 + TOKENREPLY_MAX_LEN + 1, "\"}");
	assert_int_equal(parse(huge, &token, &ttl), -1);
	free(huge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokenreply_forms),
		cmocka_unit_test(test_tokenreply_refused),
	};

	return cmocka_run_group_tests_name("tokenreply", tests, NULL, NULL);
}
