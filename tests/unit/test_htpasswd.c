/* Unit tests: client credential files (user:bcrypt lines, mode 0600). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

/* htpasswd -Bbn -C 4 alice 'pa:ss wörd' */
#define ALICE	"alice:$2y$04$4q6OM6HLYFYG6QA194bzJ.A9rLLWdt.8A13I8O3TY9yFbZCrXdu8O"

static char	dir[] = "/tmp/pullgate-unit-htpasswd.XXXXXX";
static char	path[256];

static void
put(const char *text, mode_t mode)
{
	FILE	*f;

	unlink(path);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static struct htpasswd *
load(const char *text, const char *why)
{
	struct htpasswd	*h;
	char		*cause = NULL;

	put(text, 0600);
	h = htpasswd_load(path, &cause);
	if (why == NULL) {
		assert_non_null(h);
		assert_null(cause);
	} else {
		assert_null(h);
		assert_non_null(cause);
		if (strstr(cause, why) == NULL)
			fail_msg("'%s' does not say '%s'", cause, why);
		/* An error never quotes a hash. */
		assert_null(strstr(cause, "$2y$"));
		free(cause);
	}
	return h;
}

static void
test_htpasswd_check(void **state)
{
	struct htpasswd	*h;
	char		 hash[HTPASSWD_HASH_MAX];

	(void)state;
	h = load("# gateway clients\n\n" ALICE "\r\n"
	    "bob:$2b$04$4q6OM6HLYFYG6QA194bzJ.A9rLLWdt.8A13I8O3TY9yFbZCrXdu8O",
	    NULL);
	assert_int_equal(htpasswd_hash(h, "alice", hash), 0);
	assert_true(htpasswd_check(hash, "pa:ss wörd"));
	assert_false(htpasswd_check(hash, "pa:ss word"));
	assert_false(htpasswd_check(hash, ""));
	assert_int_equal(htpasswd_hash(h, "bob", hash), 0);
	assert_int_equal(strncmp(hash, "$2b$04$", 7), 0);
	/* An unknown user is checked against a real hash, and is refused. */
	assert_int_equal(htpasswd_hash(h, "carol", hash), -1);
	assert_int_equal(strncmp(hash, "$2y$04$", 7), 0);
	assert_int_equal(htpasswd_hash(h, "", hash), -1);
	htpasswd_free(h);
}

static void
test_htpasswd_refused(void **state)
{
	char	*cause = NULL;

	(void)state;
	load("", "no user");
	load("# only a comment\n", "no user");
	load("bob:$apr1$jPjq24zx$fq2EhFENqipyoVE5sq9lF.\n", ":1: not a bcrypt hash");
	load(ALICE "\nbob:plaintext\n", ":2: not a bcrypt hash");
	load(ALICE "\nbob:{SHA}C+7Hteo/D9vJXQ3UfzxbwnXaijM=\n", "not a bcrypt");
	load(ALICE "x\n", "not a bcrypt");
	load("alice$2y$04$4q6OM6HLYFYG6QA194bzJ.A9rLLWdt.8A13I8O3TY9yFbZCrXdu8O\n",
	    "not a user:hash line");
	load(":$2y$04$4q6OM6HLYFYG6QA194bzJ.A9rLLWdt.8A13I8O3TY9yFbZCrXdu8O\n",
	    "not a user:hash line");
	load(ALICE "\n" ALICE "\n", ":2: user listed twice");
	load("al\tice:$2y$04$4q6OM6HLYFYG6QA194bzJ.A9rLLWdt.8A13I8O3TY9yFbZCrXdu8O\n",
	    "control character");
	/* Others may read it: refused like every secret file. */
	put(ALICE "\n", 0644);
	assert_null(htpasswd_load(path, &cause));
	assert_non_null(strstr(cause, "readable by group or others"));
	free(cause);
	cause = NULL;
	assert_null(htpasswd_load("/nonexistent/htpasswd", &cause));
	free(cause);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof path, "%s/clients.htpasswd", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htpasswd_check),
		cmocka_unit_test(test_htpasswd_refused),
	};

	return cmocka_run_group_tests_name("htpasswd", tests, setup, teardown);
}
