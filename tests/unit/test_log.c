/* Unit tests: a log message is one line whatever it carries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib.h"

/* Runs one log_warn with stderr going to a file; returns what it wrote. */
static char *
logged(const char *fmt, const char *arg)
{
	char	 path[] = "/tmp/pullgate-unit-log.XXXXXX";
	char	*buf;
	int	 fd, saved;
	long	 len;
	FILE	*f;

	assert_true((fd = mkstemp(path)) != -1);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	log_warn(fmt, arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	assert_non_null(buf = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	return buf;
}

static int
count_lines(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_log_forged_line(void **state)
{
	char	*out;

	(void)state;
	out = logged("refused: ns=%s",
	    "evil\r\n2026-01-01T00:00:00Z pullgate[error] forged");
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "ns=evil\\x0d\\x0a2026-01-01T00:00:00Z"));
	free(out);
}

static void
test_log_terminal_escape(void **state)
{
	char	*out;

	(void)state;
	out = logged("path %s", "a\x1b[2Jb\x7f");
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "path a\\x1b[2Jb\\x7f\n"));
	assert_null(strchr(out, '\x1b'));
	free(out);
}

static void
test_log_long_message_cut(void **state)
{
	char	*out, *big;

	(void)state;
	assert_non_null(big = malloc(10000));
	memset(big, 'x', 9999);
	big[9999] = '\0';
	out = logged("%s", big);
	assert_int_equal(count_lines(out), 1);
	assert_true(strlen(out) < 4200);
	assert_non_null(strstr(out, "...\n"));
	free(out);
	free(big);
}

static void
test_log_plain_text_unchanged(void **state)
{
	char	*out;

	(void)state;
	out = logged("cache %s: 3 files", "/var/lib/pullgate é");
	assert_non_null(strstr(out, "cache /var/lib/pullgate é: 3 files\n"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_forged_line),
		cmocka_unit_test(test_log_terminal_escape),
		cmocka_unit_test(test_log_long_message_cut),
		cmocka_unit_test(test_log_plain_text_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
