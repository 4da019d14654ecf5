/*
 * Repository names, tags and "name[:tag][@digest]" references, checked
 * against the distribution grammar. A valid name can never contain "..",
 * a leading '/', or any character outside [a-z0-9._/-], so it is safe as a
 * relative path under the cache directory.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib.h"

static int
reference_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator := "." | "_" | "__" | "-"+
 */
static const char *
reference_component(const char *p)
{
	if (!reference_alnum(*p))
		return NULL;
	while (reference_alnum(*p))
		p++;
	for (;;) {
		if (*p == '.')
			p++;
		else if (*p == '_')
			p += (p[1] == '_') ? 2 : 1;
		else if (*p == '-')
			while (*p == '-')
				p++;
		else
			return p;
		if (!reference_alnum(*p))
			return NULL;
		while (reference_alnum(*p))
			p++;
	}
}

int
reference_valid_name(const char *name)
{
	const char	*p = name;

	if (strlen(name) > REFERENCE_NAME_MAX)
		return 0;
	for (;;) {
		if ((p = reference_component(p)) == NULL)
			return 0;
		if (*p == '\0')
			return 1;
		if (*p != '/')
			return 0;
		p++;
	}
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
int
reference_valid_tag(const char *tag)
{
	size_t	i, len = strlen(tag);

	if (len == 0 || len > REFERENCE_TAG_MAX)
		return 0;
	if (!isalnum((unsigned char)tag[0]) && tag[0] != '_')
		return 0;
	for (i = 1; i < len; i++) {
		if (!isalnum((unsigned char)tag[i]) && strchr("_.-", tag[i]) == NULL)
			return 0;
	}
	return 1;
}

/* Parses "name[:tag][@sha256:hex]"; a reference with neither gets "latest". */
int
reference_parse(const char *s, struct reference *ref, char **cause)
{
	char	 buf[REFERENCE_NAME_MAX + REFERENCE_TAG_MAX + DIGEST_STRING_LEN + 4];
	char	*at, *colon, *slash;

	memset(ref, 0, sizeof *ref);
	if (util_strlcpy(buf, s, sizeof buf) != 0) {
		*cause = util_printf("reference too long");
		return -1;
	}
	if ((at = strchr(buf, '@')) != NULL) {
		*at++ = '\0';
		if (digest_parse(at, &ref->digest) != 0) {
			*cause = util_printf("invalid digest '%s' (expected sha256:"
			    "<64 lowercase hex digits>)", at);
			return -1;
		}
		ref->has_digest = 1;
	}
	slash = strrchr(buf, '/');
	colon = strrchr(buf, ':');
	if (colon != NULL && (slash == NULL || colon > slash)) {
		*colon++ = '\0';
		if (!reference_valid_tag(colon)) {
			*cause = util_printf("invalid tag '%s'", colon);
			return -1;
		}
		util_strlcpy(ref->tag, colon, sizeof ref->tag);
	}
	if (!reference_valid_name(buf)) {
		*cause = util_printf("invalid repository name '%s' (lowercase "
		    "components of [a-z0-9] joined by '.', '_', '__' or '-', "
		    "separated by '/')", buf);
		return -1;
	}
	util_strlcpy(ref->name, buf, sizeof ref->name);
	if (!ref->has_digest && ref->tag[0] == '\0')
		util_strlcpy(ref->tag, "latest", sizeof ref->tag);
	return 0;
}
