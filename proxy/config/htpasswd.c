/*
 * Client credential files: "user:hash" lines as `htpasswd -B` writes
 * them, kept like every secret file (mode 0600). Only bcrypt hashes
 * ($2a$, $2b$, $2y$) are accepted: anything weaker is refused at start.
 * Checking a password costs one bcrypt (tens of milliseconds): callers
 * keep that off the event loop.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define HTPASSWD_FILE_MAX	(256 * 1024)
#define HTPASSWD_HASH_LEN	60	/* "$2b$NN$" + 53 characters */

struct htpasswd_user {
	char	name[BASICAUTH_MAX];
	char	hash[HTPASSWD_HASH_LEN + 1];
};

struct htpasswd {
	struct htpasswd_user	*users;
	size_t			 count;
};

/* Whether h has the form of a bcrypt hash crypt(3) can check. */
static int
htpasswd_bcrypt(const char *h, size_t len)
{
	size_t	i;

	if (len != HTPASSWD_HASH_LEN || h[0] != '$' || h[1] != '2' ||
	    strchr("aby", h[2]) == NULL || h[3] != '$' ||
	    h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
		return 0;
	for (i = 7; i < len; i++)
		if (strchr("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789", h[i]) == NULL || h[i] == '\0')
			return 0;
	return 1;
}

/* Adds the line [p, p + len) (not empty, not a comment) to h. */
static int
htpasswd_line(struct htpasswd *h, const char *path, unsigned lineno,
    const char *p, size_t len, char **cause)
{
	struct htpasswd_user	*n;
	const char		*colon;
	size_t			 ulen, i;

	if ((colon = memchr(p, ':', len)) == NULL || colon == p ||
	    (ulen = (size_t)(colon - p)) >= BASICAUTH_MAX) {
		*cause = util_printf("%s:%u: not a user:hash line", path, lineno);
		return -1;
	}
	for (i = 0; i < ulen; i++) {
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			*cause = util_printf("%s:%u: a control character in the "
			    "user name", path, lineno);
			return -1;
		}
	}
	if (!htpasswd_bcrypt(colon + 1, len - ulen - 1)) {
		*cause = util_printf("%s:%u: not a bcrypt hash (make it with "
		    "htpasswd -B)", path, lineno);
		return -1;
	}
	for (i = 0; i < h->count; i++) {
		if (strlen(h->users[i].name) == ulen &&
		    memcmp(h->users[i].name, p, ulen) == 0) {
			*cause = util_printf("%s:%u: user listed twice", path,
			    lineno);
			return -1;
		}
	}
	if ((n = reallocarray(h->users, h->count + 1, sizeof *n)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	h->users = n;
	n = &h->users[h->count++];
	memcpy(n->name, p, ulen);
	n->name[ulen] = '\0';
	memcpy(n->hash, colon + 1, HTPASSWD_HASH_LEN);
	n->hash[HTPASSWD_HASH_LEN] = '\0';
	return 0;
}

/*
 * Reads a credential file (mode 0600, at least one user). NULL with
 * *cause naming the file and the line; the cause never quotes a hash.
 */
struct htpasswd *
htpasswd_load(const char *path, char **cause)
{
	struct htpasswd	*h;
	char		*text = NULL, *p, *end, *nl;
	size_t		 len, n;
	unsigned	 lineno = 0;

	if (secret_read_text(path, HTPASSWD_FILE_MAX, &text, &len, cause) != 0)
		return NULL;
	if ((h = calloc(1, sizeof *h)) == NULL) {
		*cause = util_printf("out of memory");
		goto fail;
	}
	if (memchr(text, '\0', len) != NULL) {
		*cause = util_printf("%s: not a text file", path);
		goto fail;
	}
	for (p = text, end = text + len; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0 || p[0] == '#')
			continue;
		if (htpasswd_line(h, path, lineno, p, n, cause) != 0)
			goto fail;
	}
	if (h->count == 0) {
		*cause = util_printf("%s: no user in it", path);
		goto fail;
	}
	secret_free(text);
	return h;
fail:
	secret_free(text);
	htpasswd_free(h);
	return NULL;
}

void
htpasswd_free(struct htpasswd *h)
{
	if (h == NULL)
		return;
	if (h->users != NULL)
		explicit_bzero(h->users, h->count * sizeof *h->users);
	free(h->users);
	free(h);
}

/*
 * The hash of user into hash (HTPASSWD_HASH_MAX bytes). An unknown user
 * gets the first user's hash and -1: checking against it costs what a
 * known user costs, so the time taken does not tell who exists.
 */
int
htpasswd_hash(const struct htpasswd *h, const char *user, char *hash)
{
	size_t	i;

	for (i = 0; i < h->count; i++) {
		if (strcmp(h->users[i].name, user) == 0) {
			memcpy(hash, h->users[i].hash, sizeof h->users[i].hash);
			return 0;
		}
	}
	memcpy(hash, h->users[0].hash, sizeof h->users[0].hash);
	return -1;
}

/*
 * Whether password matches a bcrypt hash: one crypt_rn, slow by design.
 * Safe in any thread (data is the caller's). The comparison takes the
 * same time wherever the strings differ.
 */
int
htpasswd_check(const char *hash, const char *password)
{
	struct crypt_data	*data;
	const char		*out;
	unsigned char		 diff = 0;
	size_t			 i;
	int			 ok = 0;

	if ((data = calloc(1, sizeof *data)) == NULL)
		return 0;
	out = crypt_rn(password, hash, data, sizeof *data);
	if (out != NULL && out[0] != '*' && strlen(out) == strlen(hash)) {
		for (i = 0; hash[i] != '\0'; i++)
			diff |= (unsigned char)(out[i] ^ hash[i]);
		ok = diff == 0;
	}
	explicit_bzero(data, sizeof *data);
	free(data);
	return ok;
}
