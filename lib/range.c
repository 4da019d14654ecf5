/*
 * The Range header: one "bytes=" range. Malformed or multi-range headers
 * are ignored (the whole body is sent), as RFC 9110 allows; a range that
 * starts past the end is unsatisfiable (416).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib.h"

static int
range_number(const char **pp, off_t *out)
{
	const char	*p = *pp;
	off_t		 v = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
		p++;
	}
	*pp = p;
	*out = v;
	return 0;
}

enum range_result
range_parse(const char *h, off_t size, off_t *first, off_t *last)
{
	const char	*p;
	off_t		 a, b;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return RANGE_NONE;
	p = h + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ',') != NULL)
		return RANGE_NONE;
	if (*p == '-') {			/* suffix: the last b bytes */
		p++;
		if (range_number(&p, &b) != 0 || *p != '\0')
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = (b >= size) ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (range_number(&p, &a) != 0 || *p != '-')
		return RANGE_NONE;
	p++;
	if (*p == '\0')
		b = -1;
	else if (range_number(&p, &b) != 0 || *p != '\0' || b < a)
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = (b < 0 || b >= size) ? size - 1 : b;
	return RANGE_OK;
}
