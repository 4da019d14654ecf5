/*
 * Content digests. Only sha256 is stored; anything else is refused before
 * it can name a file, so a digest string is always safe in a path.
 */
#include <stdio.h>
#include <string.h>

#include "lib.h"

/* Accepts exactly "sha256:" followed by 64 lowercase hex digits. */
int
digest_parse(const char *s, struct digest *d)
{
	size_t	i;

	if (strncmp(s, "sha256:", 7) != 0)
		return -1;
	s += 7;
	for (i = 0; i < DIGEST_HEX_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	}
	if (s[DIGEST_HEX_LEN] != '\0')
		return -1;
	memcpy(d->hex, s, DIGEST_HEX_LEN + 1);
	return 0;
}

void
digest_from_raw(const unsigned char *raw, struct digest *d)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < DIGEST_HEX_LEN / 2; i++) {
		d->hex[2 * i] = hex[raw[i] >> 4];
		d->hex[2 * i + 1] = hex[raw[i] & 0xf];
	}
	d->hex[DIGEST_HEX_LEN] = '\0';
}

void
digest_format(const struct digest *d, char *buf, size_t len)
{
	snprintf(buf, len, "sha256:%s", d->hex);
}

int
digest_equal(const struct digest *a, const struct digest *b)
{
	return memcmp(a->hex, b->hex, DIGEST_HEX_LEN) == 0;
}
