/*
 * Small helpers: bounded string copies, strict number parsing, formatted
 * allocation and directory creation.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

/* Copies src into dst of size n; returns -1 (and a truncated copy) if it did not fit. */
int
util_strlcpy(char *dst, const char *src, size_t n)
{
	size_t	len = strlen(src);

	if (n == 0)
		return -1;
	if (len >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

/* Parses a whole decimal string into [min, max]; -1 on anything else. */
int
util_parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

char *
util_printf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	return s;
}

/* mkdir -p: creates every missing directory of path with mode. */
int
util_mkdirs(const char *path, mode_t mode)
{
	char	 buf[PATH_MAX];
	char	*p;

	if (util_strlcpy(buf, path, sizeof buf) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int
util_rmtree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT;
}

/* rm -rf of one tree, without a shell and without following links. */
int
util_rmtree(const char *path)
{
	if (nftw(path, util_rmtree_cb, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		return -1;
	return 0;
}

/* Microseconds on the monotonic clock: for durations and deadlines. */
int64_t
util_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
