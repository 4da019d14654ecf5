/*
 * The Docker client's credential formats: a config.json's "auths" (as
 * 'docker login' and 'oc create secret docker-registry' write them: a
 * base64 "auth" of user:password, or "username" and "password"), and a
 * credential helper's answer to "get" ({"ServerURL", "Username",
 * "Secret"}). Both name a registry as docker does: by its host[:port], or
 * Docker Hub by its index URL. The pair found becomes the entry's username
 * and password, used as a stored pair would be (upstream.c, token.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "config.h"

#define DOCKERCRED_FILE_MAX	(1024 * 1024)
#define DOCKERCRED_HUB_SERVER	"https://index.docker.io/v1/"

/* The names docker gives Docker Hub, as config.json keys' hosts. */
static const char *dockercred_hub_hosts[] = {
	"index.docker.io", "docker.io", "registry-1.docker.io", NULL
};

/* The server URL docker names entry r by (a helper's stdin, a key). */
const char *
dockercred_server(const struct registry *r)
{
	return r->is_docker_hub ? DOCKERCRED_HUB_SERVER : r->host;
}

/* A helper NAME: letters, digits, '.', '_', '-'; no path. */
int
dockercred_valid_helper(const char *name)
{
	const char	*p;

	if (*name == '\0' || strlen(name) >= REGISTRY_NAME_MAX)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return 0;
	return 1;
}

/* Whether an auths key (any scheme, any path) names r's host. */
static int
dockercred_key_matches(const struct registry *r, const char *key)
{
	char	 host[256];
	size_t	 len, i;

	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	if ((len = strcspn(key, "/")) == 0 || len >= sizeof host)
		return 0;
	memcpy(host, key, len);
	host[len] = '\0';
	if (strcasecmp(host, r->host) == 0)
		return 1;
	for (i = 0; r->is_docker_hub && dockercred_hub_hosts[i] != NULL; i++)
		if (strcasecmp(host, dockercred_hub_hosts[i]) == 0)
			return 1;
	return 0;
}

/*
 * Checks a pair and copies it out: a user of at most userlen - 1 bytes
 * without control characters, a non-empty secret without NUL of at most
 * DOCKERCRED_SECRET_MAX bytes. Never names the secret.
 */
static int
dockercred_pair(const char *u, size_t ulen, const char *s, size_t slen,
    char *user, size_t userlen, char **secret, char **cause)
{
	size_t	i;

	if (ulen == 0 || ulen >= userlen || memchr(u, '\0', ulen) != NULL) {
		*cause = util_printf("no usable username (empty, too long or "
		    "not text)");
		return -1;
	}
	for (i = 0; i < ulen; i++) {
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f) {
			*cause = util_printf("the username has control characters");
			return -1;
		}
	}
	if (ulen == 7 && memcmp(u, "<token>", 7) == 0) {
		*cause = util_printf("an identity token (username <token>) is "
		    "not supported: give a username and password");
		return -1;
	}
	if (slen == 0 || slen > DOCKERCRED_SECRET_MAX ||
	    memchr(s, '\0', slen) != NULL) {
		*cause = util_printf("no usable secret (empty, larger than %d "
		    "bytes, or not text)", DOCKERCRED_SECRET_MAX);
		return -1;
	}
	if ((*secret = malloc(slen + 1)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	memcpy(*secret, s, slen);
	(*secret)[slen] = '\0';
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	return 0;
}

/* One auths entry: "auth" (base64 of user:password) or username/password. */
static int
dockercred_entry(json_t *e, char *user, size_t userlen, char **secret,
    char **cause)
{
	json_t		*auth = json_object_get(e, "auth");
	json_t		*u = json_object_get(e, "username");
	json_t		*pw = json_object_get(e, "password");
	unsigned char	*buf;
	const char	*colon;
	size_t		 n, len;
	int		 rc;

	if (json_is_string(auth) && json_string_length(auth) > 0) {
		n = json_string_length(auth);
		if ((buf = malloc(n)) == NULL) {
			*cause = util_printf("out of memory");
			return -1;
		}
		if (basicauth_decode(json_string_value(auth), n, buf, n, &len) != 0 ||
		    (colon = memchr(buf, ':', len)) == NULL) {
			free(buf);
			*cause = util_printf("its \"auth\" is not the base64 of "
			    "user:password");
			return -1;
		}
		rc = dockercred_pair((const char *)buf,
		    (size_t)(colon - (const char *)buf), colon + 1,
		    len - (size_t)(colon - (const char *)buf) - 1, user, userlen,
		    secret, cause);
		explicit_bzero(buf, n);
		free(buf);
		return rc;
	}
	if (json_is_string(u) && json_is_string(pw))
		return dockercred_pair(json_string_value(u), json_string_length(u),
		    json_string_value(pw), json_string_length(pw), user, userlen,
		    secret, cause);
	if (json_is_string(json_object_get(e, "identitytoken")))
		*cause = util_printf("an identity token is not supported: give "
		    "\"auth\" or a username and password");
	else
		*cause = util_printf("it has neither \"auth\" nor a username and "
		    "password");
	return -1;
}

/*
 * The pair a config.json (text, len bytes) holds for entry r: the auths
 * key equal to docker's server name for r, else the first key naming its
 * host with or without scheme and path. 0, or -1 with *cause (no secret).
 */
int
dockercred_parse_config(const char *text, size_t len, const struct registry *r,
    char *user, size_t userlen, char **secret, char **cause)
{
	json_t		*root, *auths, *e, *found = NULL;
	json_error_t	 jerr;
	const char	*key, *name = NULL;
	char		*why = NULL;
	int		 rc = -1;

	*secret = NULL;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		*cause = util_printf("not JSON (line %d)", jerr.line);
		return -1;
	}
	if (!json_is_object(auths = json_object_get(root, "auths"))) {
		*cause = util_printf("no \"auths\" object");
		goto out;
	}
	if ((found = json_object_get(auths, dockercred_server(r))) != NULL)
		name = dockercred_server(r);
	json_object_foreach(auths, key, e) {
		if (found != NULL)
			break;
		if (dockercred_key_matches(r, key)) {
			found = e;
			name = key;
		}
	}
	if (found == NULL) {
		*cause = util_printf("no \"auths\" entry for %s", dockercred_server(r));
		goto out;
	}
	if (!json_is_object(found) ||
	    dockercred_entry(found, user, userlen, secret, &why) != 0) {
		*cause = util_printf("\"auths\" entry %s: %s", name,
		    why != NULL ? why : "not an object");
		free(why);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * A credential helper's answer to "get" (its standard output):
 * {"ServerURL": ..., "Username": ..., "Secret": ...}. 0, or -1 with
 * *cause, which never quotes the answer.
 */
int
dockercred_parse_answer(const char *text, size_t len, char *user,
    size_t userlen, char **secret, char **cause)
{
	json_t		*root, *u, *s;
	json_error_t	 jerr;
	char		*why = NULL;
	int		 rc = -1;

	*secret = NULL;
	if ((root = json_loadb(text, len, 0, &jerr)) == NULL ||
	    !json_is_object(root)) {
		*cause = util_printf("its answer is not a JSON object");
		json_decref(root);
		return -1;
	}
	u = json_object_get(root, "Username");
	s = json_object_get(root, "Secret");
	if (!json_is_string(u) || !json_is_string(s)) {
		*cause = util_printf("its answer has no Username and Secret strings");
		goto out;
	}
	if (dockercred_pair(json_string_value(u), json_string_length(u),
	    json_string_value(s), json_string_length(s), user, userlen, secret,
	    &why) != 0) {
		*cause = util_printf("its answer: %s", why);
		free(why);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * Reads entry r's docker_config into its username and password if the
 * file changed since it was last read (or never was): 1 a new pair, 0
 * unchanged, -1 with *cause (the pair in use stays; a file that fails is
 * reported once per change).
 */
int
dockercred_load(struct registry *r, char **cause)
{
	struct stat	 st;
	char		*text = NULL, *secret = NULL, *why = NULL;
	char		 user[sizeof r->username];
	size_t		 len;
	int		 rc = -1;

	if (stat(r->docker_config, &st) != 0) {
		*cause = util_printf("docker_config %s: %s", r->docker_config,
		    strerror(errno));
		return -1;
	}
	if (r->cred.since != 0 && st.st_ino == r->cred.ino &&
	    st.st_size == r->cred.size &&
	    st.st_mtim.tv_sec == r->cred.mtime.tv_sec &&
	    st.st_mtim.tv_nsec == r->cred.mtime.tv_nsec)
		return 0;
	r->cred.since = time(NULL);
	r->cred.ino = st.st_ino;
	r->cred.size = st.st_size;
	r->cred.mtime = st.st_mtim;
	if (secret_read_text(r->docker_config, DOCKERCRED_FILE_MAX, &text, &len,
	    cause) != 0)
		return -1;
	if (dockercred_parse_config(text, len, r, user, sizeof user, &secret,
	    &why) != 0) {
		*cause = util_printf("docker_config %s: %s", r->docker_config, why);
		free(why);
		goto out;
	}
	memcpy(r->username, user, sizeof r->username);
	secret_free(r->password);
	r->password = secret;
	r->cred.gen++;
	stats_add(STATS_DOCKER_CONFIG_READS, 1);
	rc = 1;
out:
	explicit_bzero(user, sizeof user);
	secret_free(text);
	return rc;
}
