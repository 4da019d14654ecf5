/*
 * A client's "Authorization: Basic <base64 of user:password>" header
 * (RFC 7617), decoded strictly: canonical base64 with its padding, a user
 * without ':' or control characters, a password without NUL or line
 * breaks. Anything else is no credentials at all.
 */
#include <string.h>
#include <strings.h>

#include "lib.h"

static int
basicauth_sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes n base64 characters (a multiple of 4, canonical, padded) into
 * out (outlen bytes); -1 if invalid or too long.
 */
int
basicauth_decode(const char *in, size_t n, unsigned char *out, size_t outlen,
    size_t *len)
{
	size_t		i, o = 0;
	int		v[4], k, pad;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > outlen)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad > 0 || (v[k] = basicauth_sextet(in[i + k])) < 0)
				return -1;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		else if ((v[1] & 0xf) != 0)
			return -1;		/* not canonical */
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
		else if (pad == 1 && (v[2] & 0x3) != 0)
			return -1;
	}
	*len = o;
	return 0;
}

/*
 * Splits a Basic Authorization header into user and password (each
 * NUL-terminated, at most BASICAUTH_MAX - 1 bytes). 0, or -1 if the
 * header is not well-formed Basic credentials. The caller wipes password.
 */
int
basicauth_parse(const char *header, char *user, char *password)
{
	unsigned char	 buf[2 * BASICAUTH_MAX + 4];
	const char	*b64, *colon;
	size_t		 n, len, ulen;
	int		 rc = -1;

	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	for (b64 = header + 6; *b64 == ' '; b64++)
		;
	n = strlen(b64);
	while (n > 0 && b64[n - 1] == ' ')
		n--;
	if (basicauth_decode(b64, n, buf, sizeof buf - 1, &len) != 0)
		goto out;
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL ||
	    (colon = memchr(buf, ':', len)) == NULL)
		goto out;
	ulen = (size_t)(colon - (const char *)buf);
	if (ulen == 0 || ulen >= BASICAUTH_MAX ||
	    len - ulen - 1 >= BASICAUTH_MAX ||
	    strpbrk(colon + 1, "\r\n") != NULL)
		goto out;
	for (n = 0; n < ulen; n++)
		if (buf[n] < 0x20 || buf[n] == 0x7f)
			goto out;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(password, colon + 1, len - ulen);	/* with its NUL */
	rc = 0;
out:
	explicit_bzero(buf, sizeof buf);
	return rc;
}
