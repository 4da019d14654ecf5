/*
 * The token service's answer in the Docker token flow: a JSON object with
 * "token" (or OAuth2's "access_token") and an optional "expires_in". It
 * comes from the network: the token must fit and be printable, because it
 * goes into a header line.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib.h"

/*
 * 0 with the token (the caller's to free) and its lifetime in seconds
 * (TOKENREPLY_DEFAULT_TTL unless the answer gave one in (0, 30 days)),
 * or -1 if the answer holds no usable token.
 */
int
tokenreply_parse(const char *buf, size_t len, char **token, long *ttl)
{
	json_error_t	 err;
	json_t		*root, *v;
	const char	*s;
	size_t		 i;
	int		 rc = -1;

	*token = NULL;
	if ((root = json_loadb(buf, len, 0, &err)) == NULL)
		return -1;
	s = json_string_value(json_object_get(root, "token"));
	if (s == NULL || *s == '\0')
		s = json_string_value(json_object_get(root, "access_token"));
	if (s == NULL || *s == '\0' || strlen(s) > TOKENREPLY_MAX_LEN)
		goto out;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			goto out;
	*ttl = TOKENREPLY_DEFAULT_TTL;
	v = json_object_get(root, "expires_in");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < 86400 * 30)
		*ttl = (long)json_integer_value(v);
	if ((*token = strdup(s)) != NULL)
		rc = 0;
out:
	json_decref(root);
	return rc;
}
