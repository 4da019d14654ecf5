/* Unit tests: the WWW-Authenticate parser, with hostile inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib.h"

static void
test_challenge_docker_hub(void **state)
{
	struct challenge	c;

	(void)state;
	assert_int_equal(challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	    "service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"",
	    &c), 0);
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/alpine:pull");
}

static void
test_challenge_forms(void **state)
{
	struct challenge	c;

	(void)state;
	/* Case-insensitive scheme and keys, spaces, unquoted tokens. */
	assert_int_equal(challenge_parse("bearer  Realm=http://127.0.0.1:5001/auth , "
	    "SERVICE=reg", &c), 0);
	assert_string_equal(c.realm, "http://127.0.0.1:5001/auth");
	assert_string_equal(c.service, "reg");
	assert_string_equal(c.scope, "");
	/* Commas and escaped quotes inside a quoted value. */
	assert_int_equal(challenge_parse("Bearer realm=\"https://a/t\",scope=\""
	    "repository:a:pull,push repository:b:pull\",error=\"insufficient_scope\"",
	    &c), 0);
	assert_string_equal(c.scope, "repository:a:pull,push repository:b:pull");
	assert_int_equal(challenge_parse("Bearer realm=\"https://a/t\",x=\"q\\\"uote\"",
	    &c), 0);
	/* The first realm wins. */
	assert_int_equal(challenge_parse("Bearer realm=\"https://a/t\",realm=\"https://evil/t\"",
	    &c), 0);
	assert_string_equal(c.realm, "https://a/t");
}

static void
test_challenge_hostile(void **state)
{
	struct challenge	 c;
	char			*huge;
	size_t			 n = 100000;

	(void)state;
	assert_int_equal(challenge_parse(NULL, &c), -1);
	assert_int_equal(challenge_parse("", &c), -1);
	assert_int_equal(challenge_parse("Basic realm=\"x\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer", &c), -1);
	assert_int_equal(challenge_parse("Bearerrealm=\"https://a\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer service=\"x\"", &c), -1);	/* no realm */
	assert_int_equal(challenge_parse("Bearer realm=\"https://a", &c), -1);	/* open quote */
	assert_int_equal(challenge_parse("Bearer realm=\"https://a\\", &c), -1);
	assert_int_equal(challenge_parse("Bearer realm", &c), -1);
	assert_int_equal(challenge_parse("Bearer =\"x\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer realm=\"https://a\"x", &c), -1);
	assert_int_equal(challenge_parse("Bearer realm=\"ftp://a\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer realm=\"file:///etc/passwd\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer realm=\"https://a\r\nX: y\"", &c), -1);
	assert_int_equal(challenge_parse("Bearer ,,,,", &c), -1);

	huge = malloc(n + 64);
	assert_non_null(huge);
	strcpy(huge, "Bearer realm=\"https://");
	memset(huge + strlen(huge), 'a', n);
	strcpy(huge + 22 + n, "\"");
	assert_int_equal(challenge_parse(huge, &c), -1);	/* too long a value */
	memset(huge, 'k', n);
	memcpy(huge, "Bearer ", 7);
	huge[n] = '\0';
	assert_int_equal(challenge_parse(huge, &c), -1);	/* too long a key */
	/* A service longer than its field is refused, not cut short. */
	memset(huge, 0, n);
	strcpy(huge, "Bearer realm=\"https://a/t\",service=\"");
	memset(huge + strlen(huge), 's', 300);
	strcat(huge, "\"");
	assert_int_equal(challenge_parse(huge, &c), -1);
	free(huge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_docker_hub),
		cmocka_unit_test(test_challenge_forms),
		cmocka_unit_test(test_challenge_hostile),
	};

	return cmocka_run_group_tests_name("challenge", tests, NULL, NULL);
}
