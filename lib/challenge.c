/*
 * The WWW-Authenticate header of a 401: Bearer realm="...",service="...",
 * scope="...". The header comes from the network: every length is
 * bounded, quoting is checked, and anything malformed is refused whole.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lib.h"

/* Reads one quoted-string or token into out; returns the rest, or NULL. */
static const char *
challenge_value(const char *p, char *out, size_t len)
{
	size_t	n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				return NULL;		/* unterminated */
			if (*p == '\\') {
				p++;
				if (*p == '\0')
					return NULL;
			}
			if ((unsigned char)*p < 0x20 || n + 1 >= len)
				return NULL;
			out[n++] = *p;
		}
		p++;
	} else {
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t') {
			if ((unsigned char)*p < 0x20 || *p == '"' || n + 1 >= len)
				return NULL;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return p;
}

int
challenge_parse(const char *h, struct challenge *c)
{
	const char	*p = h;
	char		 key[32], value[CHALLENGE_VALUE_MAX];
	size_t		 klen;

	memset(c, 0, sizeof *c);
	if (h == NULL)
		return -1;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return -1;
	p += 6;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		klen = 0;
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '-') {
			if (klen + 1 >= sizeof key)
				return -1;
			key[klen++] = (char)tolower((unsigned char)*p++);
		}
		key[klen] = '\0';
		if (klen == 0 || *p != '=')
			return -1;
		p++;
		if ((p = challenge_value(p, value, sizeof value)) == NULL)
			return -1;
		if (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			return -1;
		/* The first of each wins; one too long refuses the whole. */
		if (strcmp(key, "realm") == 0 && c->realm[0] == '\0') {
			if (util_strlcpy(c->realm, value, sizeof c->realm) != 0)
				return -1;
		} else if (strcmp(key, "service") == 0 && c->service[0] == '\0') {
			if (util_strlcpy(c->service, value, sizeof c->service) != 0)
				return -1;
		} else if (strcmp(key, "scope") == 0 && c->scope[0] == '\0') {
			if (util_strlcpy(c->scope, value, sizeof c->scope) != 0)
				return -1;
		}
	}
	if (c->realm[0] == '\0' ||
	    (strncmp(c->realm, "http://", 7) != 0 &&
	    strncmp(c->realm, "https://", 8) != 0))
		return -1;
	return 0;
}
