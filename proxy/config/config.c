/*
 * Configuration: built-in defaults, then the libconfig file, then the
 * command-line flags. etc/pullgate.conf documents every key read here.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "config.h"

#define CONFIG_DEFAULT_UPSTREAM	"https://registry-1.docker.io"

void
config_defaults(struct config *c)
{
	char	*cause = NULL;

	memset(c, 0, sizeof *c);
	util_strlcpy(c->listen_host, "127.0.0.1", sizeof c->listen_host);
	c->listen_port = 8080;
	util_strlcpy(c->cache_dir, "/var/lib/pullgate", sizeof c->cache_dir);
	c->log_level = LOG_LEVEL_INFO;
	c->max_header_bytes = 16384;
	c->max_body_bytes = 65536;
	c->client_timeout = 120;
	c->connect_timeout = 10;
	c->low_speed_time = 30;
	c->low_speed_limit = 1024;
	c->manifest_max_bytes = 4 * 1024 * 1024;
	c->tag_ttl = 300;
	c->breaker_seconds = 30;
	c->feed_ttl = 300;
	util_strlcpy(c->server_names[0], "containers.local", sizeof c->server_names[0]);
	util_strlcpy(c->server_names[1], "localhost", sizeof c->server_names[1]);
	util_strlcpy(c->server_names[2], "127.0.0.1", sizeof c->server_names[2]);
	util_strlcpy(c->server_names[3], "::1", sizeof c->server_names[3]);
	c->nserver_names = 4;
	c->cert_warn_days = 30;
	util_strlcpy(c->registries_file, "/etc/pullgate/registries.conf",
	    sizeof c->registries_file);
	if (registry_table_init(&c->registries, CONFIG_DEFAULT_UPSTREAM, &cause) != 0)
		fatal("%s: %s", __func__, cause);
}

void
config_free(struct config *c)
{
	registry_table_free(&c->registries);
	registry_table_free(&c->feeds);
}

/* Splits "HOST:PORT" (or "[V6]:PORT"). */
int
config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char	*colon;
	size_t		 len;
	long		 p;

	colon = strrchr(s, ':');
	if (colon == NULL || util_parse_long(colon + 1, 1, 65535, &p) != 0)
		return -1;
	len = (size_t)(colon - s);
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= hostlen)
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	*port = (int)p;
	return 0;
}

/* Sets the URL of the default registry entry (serve --upstream). */
int
config_set_upstream(struct config *c, const char *url, char **cause)
{
	return registry_set_url(registry_default(&c->registries), url, cause);
}

static const char *config_top_keys[] = {
	"listen", "cache_dir", "log_level", "upstream", "default_registry",
	"tag_ttl", "client", "upstream_transfer", "registries", "device",
	"registries_file", "offline", "breaker_seconds", "server_names",
	"cache_max_bytes", "feeds", "feed_ttl", NULL
};

static int
config_check_keys(config_setting_t *group, const char **known,
    const char *where, char **cause)
{
	config_setting_t	*s;
	int			 i, k;

	for (i = 0; (s = config_setting_get_elem(group, (unsigned)i)) != NULL; i++) {
		for (k = 0; known[k] != NULL; k++)
			if (strcmp(config_setting_name(s), known[k]) == 0)
				break;
		if (known[k] == NULL) {
			*cause = util_printf("line %d: unknown key '%s'%s",
			    config_setting_source_line(s), config_setting_name(s), where);
			return -1;
		}
	}
	return 0;
}

static int
config_int(config_setting_t *group, const char *name, long min, long max,
    long *out, char **cause)
{
	config_setting_t	*s;
	long long		 v;

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		*cause = util_printf("line %d: '%s' must be an integer",
		    config_setting_source_line(s), name);
		return -1;
	}
	if (v < min || v > max) {
		*cause = util_printf("line %d: '%s' must be between %ld and %ld",
		    config_setting_source_line(s), name, min, max);
		return -1;
	}
	*out = (long)v;
	return 0;
}

static int
config_string(config_setting_t *group, const char *name, const char **out,
    char **cause)
{
	config_setting_t	*s;

	s = config_setting_get_member(group, name);
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		*cause = util_printf("line %d: '%s' must be a string",
		    config_setting_source_line(s), name);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static int
config_path(config_setting_t *g, const char *name, char *out, size_t len,
    char **cause)
{
	const char	*v = NULL;

	if (config_string(g, name, &v, cause) != 0)
		return -1;
	if (v == NULL)
		return 0;
	if (v[0] != '/' || util_strlcpy(out, v, len) != 0) {
		*cause = util_printf("line %d: '%s' must be an absolute path",
		    config_setting_source_line(config_setting_get_member(g, name)),
		    name);
		return -1;
	}
	return 0;
}

/* auth = "basic"; or auth = ["mtls", "token"]; */
static int
config_auth(config_setting_t *e, unsigned *auth, char **cause)
{
	config_setting_t	*s, *v;
	char			*why = NULL;
	unsigned		 i;

	if ((s = config_setting_get_member(e, "auth")) == NULL)
		return 0;
	*auth = 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		v = s;
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		v = config_setting_get_elem(s, 0);
	else
		v = NULL;
	for (i = 0; v != NULL; v = config_setting_get_elem(s, ++i)) {
		if (config_setting_type(v) != CONFIG_TYPE_STRING ||
		    registry_parse_auth(config_setting_get_string(v), auth, &why) != 0) {
			*cause = util_printf("line %d: %s",
			    config_setting_source_line(s),
			    why != NULL ? why : "'auth' must be a string or a "
			    "list of strings");
			free(why);
			return -1;
		}
		if (v == s)
			break;
	}
	return 0;
}

/* A list of at most max host[:port] strings. */
static int
config_hosts(config_setting_t *e, const char *name, char out[][256],
    size_t max, size_t *n, char **cause)
{
	config_setting_t	*hosts, *h;
	unsigned		 i;

	if ((hosts = config_setting_get_member(e, name)) == NULL)
		return 0;
	*n = 0;
	for (i = 0; (h = config_setting_get_elem(hosts, i)) != NULL; i++) {
		if (config_setting_type(h) != CONFIG_TYPE_STRING || i >= max ||
		    util_strlcpy(out[i], config_setting_get_string(h), 256) != 0) {
			*cause = util_printf("line %d: '%s' must be a list of at "
			    "most %zu host[:port] strings",
			    config_setting_source_line(hosts), name, max);
			return -1;
		}
		*n = i + 1;
	}
	return 0;
}

static int
config_registry_auth(struct config *c, struct registry *r, config_setting_t *e,
    char **cause)
{
	const char		*user = NULL, *pattern = NULL;
	long			 ttl = -1;
	int			 rc;

	(void)c;
	if (config_auth(e, &r->auth, cause) != 0 ||
	    config_string(e, "username", &user, cause) != 0 ||
	    config_path(e, "password_file", r->password_file,
	    sizeof r->password_file, cause) != 0 ||
	    config_path(e, "bearer_file", r->bearer_file, sizeof r->bearer_file,
	    cause) != 0 ||
	    config_path(e, "cert", r->cert, sizeof r->cert, cause) != 0 ||
	    config_path(e, "key", r->key, sizeof r->key, cause) != 0 ||
	    config_path(e, "ca", r->ca, sizeof r->ca, cause) != 0)
		return -1;
	if (user != NULL && util_strlcpy(r->username, user, sizeof r->username) != 0) {
		*cause = util_printf("registry '%s': username too long", r->name);
		return -1;
	}
	if (config_hosts(e, "token_hosts", r->token_hosts, REGISTRY_TOKEN_HOSTS,
	    &r->ntoken_hosts, cause) != 0 ||
	    config_hosts(e, "mirror_of", r->mirror_of, REGISTRY_TOKEN_HOSTS,
	    &r->nmirror_of, cause) != 0 ||
	    config_int(e, "tag_ttl", 0, 365L * 86400, &ttl, cause) != 0 ||
	    config_string(e, "immutable_tags", &pattern, cause) != 0)
		return -1;
	r->tag_ttl = (int)ttl;
	if (pattern != NULL) {
		if (r->has_immutable)
			regfree(&r->immutable);
		r->has_immutable = 0;
		if ((rc = regcomp(&r->immutable, pattern, REG_EXTENDED | REG_NOSUB)) != 0) {
			*cause = util_printf("registry '%s': immutable_tags is not a "
			    "valid extended regular expression", r->name);
			return -1;
		}
		r->has_immutable = 1;
		util_strlcpy(r->immutable_src, pattern, sizeof r->immutable_src);
	}
	return 0;
}

static int
config_load_registries(struct config *c, config_setting_t *list, int from_file,
    char **cause)
{
	static const char	*keys[] = { "id", "name", "url", "auth", "username",
	    "password_file", "bearer_file", "cert", "key", "ca", "token_hosts",
	    "mirror_of", "tag_ttl", "immutable_tags", NULL };
	config_setting_t	*e;
	struct registry		*r;
	const char		*name, *url;
	long			 id;
	unsigned		 i;
	char			*why = NULL;

	if (!config_setting_is_list(list)) {
		*cause = util_printf("line %d: 'registries' must be a list ( {...}, ... )",
		    config_setting_source_line(list));
		return -1;
	}
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
		name = url = NULL;
		id = 0;
		if (!config_setting_is_group(e) ||
		    config_check_keys(e, keys, " in a registry entry", cause) != 0 ||
		    config_int(e, "id", 1, 9999, &id, cause) != 0 ||
		    config_string(e, "name", &name, cause) != 0 ||
		    config_string(e, "url", &url, cause) != 0) {
			if (*cause == NULL)
				*cause = util_printf("line %d: a registry entry must "
				    "be a group { id = ...; name = ...; url = ...; }",
				    config_setting_source_line(e));
			return -1;
		}
		if (id == REGISTRY_ID_REMOTE) {
			/* Entry 1 is configured in place; it keeps its name. */
			r = registry_find_id(&c->registries, REGISTRY_ID_REMOTE);
			if ((name != NULL && strcmp(name, r->name) != 0) ||
			    (url != NULL && registry_set_url(r, url, &why) != 0)) {
				*cause = util_printf("line %d: %s",
				    config_setting_source_line(e), why != NULL ? why :
				    "entry 1 is always named 'remote'");
				free(why);
				return -1;
			}
		} else if (id == REGISTRY_ID_LOCAL) {
			*cause = util_printf("line %d: entry 2 is the local cache and "
			    "cannot be configured", config_setting_source_line(e));
			return -1;
		} else {
			if (id == 0 || name == NULL || url == NULL) {
				*cause = util_printf("line %d: a registry entry needs id, "
				    "name and url", config_setting_source_line(e));
				return -1;
			}
			r = registry_table_add(&c->registries, (int)id, name, url, &why);
			if (r == NULL) {
				*cause = util_printf("line %d: %s",
				    config_setting_source_line(e), why);
				free(why);
				return -1;
			}
		}
		r->from_file = from_file;
		if (config_registry_auth(c, r, e, cause) != 0)
			return -1;
	}
	return 0;
}

/* feeds = ( { name = "debian"; url = "http://deb.debian.org/debian"; ... } ); */
static int
config_load_feeds(struct config *c, config_setting_t *list, char **cause)
{
	static const char	*keys[] = { "name", "url", "auth", "username",
	    "password_file", "bearer_file", "cert", "key", "ca", NULL };
	config_setting_t	*e;
	struct registry		*r;
	const char		*name, *url;
	char			*why = NULL;
	unsigned		 i;

	if (!config_setting_is_list(list)) {
		*cause = util_printf("line %d: 'feeds' must be a list ( {...}, ... )",
		    config_setting_source_line(list));
		return -1;
	}
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
		name = url = NULL;
		if (!config_setting_is_group(e) ||
		    config_check_keys(e, keys, " in a feed", cause) != 0 ||
		    config_string(e, "name", &name, cause) != 0 ||
		    config_string(e, "url", &url, cause) != 0)
			return -1;
		if (name == NULL || url == NULL) {
			*cause = util_printf("line %d: a feed needs name and url",
			    config_setting_source_line(e));
			return -1;
		}
		if ((r = registry_table_add_feed(&c->feeds, name, url, &why)) == NULL) {
			*cause = util_printf("line %d: %s",
			    config_setting_source_line(e), why);
			free(why);
			return -1;
		}
		if (config_registry_auth(c, r, e, cause) != 0)
			return -1;
	}
	return 0;
}

static int
config_apply(struct config *c, config_t *cf, char **cause)
{
	static const char	*client_keys[] = { "max_header_bytes",
	    "max_body_bytes", "timeout", NULL };
	static const char	*transfer_keys[] = { "connect_timeout",
	    "low_speed_time", "low_speed_limit", "manifest_max_bytes", NULL };
	config_setting_t	*root, *g;
	struct registry		*r;
	const char		*s;
	long			 v;

	root = config_root_setting(cf);
	if (config_check_keys(root, config_top_keys, "", cause) != 0)
		return -1;

	s = NULL;
	if (config_string(root, "listen", &s, cause) != 0)
		return -1;
	if (s != NULL && config_parse_listen(s, c->listen_host,
	    sizeof c->listen_host, &c->listen_port) != 0) {
		*cause = util_printf("'listen' must be HOST:PORT, not '%s'", s);
		return -1;
	}
	s = NULL;
	if (config_string(root, "cache_dir", &s, cause) != 0)
		return -1;
	if (s != NULL && (s[0] != '/' ||
	    util_strlcpy(c->cache_dir, s, sizeof c->cache_dir) != 0)) {
		*cause = util_printf("'cache_dir' must be an absolute path");
		return -1;
	}
	s = NULL;
	if (config_string(root, "log_level", &s, cause) != 0)
		return -1;
	if (s != NULL && log_parse_level(s, &c->log_level) != 0) {
		*cause = util_printf("'log_level' must be error, warn, info or debug");
		return -1;
	}
	v = c->tag_ttl;
	if (config_int(root, "tag_ttl", 0, 365L * 86400, &v, cause) != 0)
		return -1;
	c->tag_ttl = (int)v;
	v = c->breaker_seconds;
	if (config_int(root, "breaker_seconds", 0, 3600, &v, cause) != 0)
		return -1;
	c->breaker_seconds = (int)v;
	if ((g = config_setting_get_member(root, "offline")) != NULL) {
		if (config_setting_type(g) != CONFIG_TYPE_BOOL) {
			*cause = util_printf("line %d: 'offline' must be true or false",
			    config_setting_source_line(g));
			return -1;
		}
		c->offline = config_setting_get_bool(g);
	}
	if (config_hosts(root, "server_names", c->server_names, 8,
	    &c->nserver_names, cause) != 0)
		return -1;
	if ((g = config_setting_get_member(root, "cache_max_bytes")) != NULL) {
		if ((config_setting_type(g) != CONFIG_TYPE_INT &&
		    config_setting_type(g) != CONFIG_TYPE_INT64) ||
		    config_setting_get_int64(g) < 0) {
			*cause = util_printf("line %d: 'cache_max_bytes' must be a "
			    "number of bytes (0: no budget)",
			    config_setting_source_line(g));
			return -1;
		}
		c->cache_max_bytes = config_setting_get_int64(g);
	}

	if ((g = config_setting_get_member(root, "client")) != NULL) {
		if (config_check_keys(g, client_keys, " in 'client'", cause) != 0)
			return -1;
		v = (long)c->max_header_bytes;
		if (config_int(g, "max_header_bytes", 1024, 1048576, &v, cause) != 0)
			return -1;
		c->max_header_bytes = (size_t)v;
		v = (long)c->max_body_bytes;
		if (config_int(g, "max_body_bytes", 0, 1048576, &v, cause) != 0)
			return -1;
		c->max_body_bytes = (size_t)v;
		v = c->client_timeout;
		if (config_int(g, "timeout", 1, 86400, &v, cause) != 0)
			return -1;
		c->client_timeout = (int)v;
	}
	if ((g = config_setting_get_member(root, "upstream_transfer")) != NULL) {
		if (config_check_keys(g, transfer_keys, " in 'upstream_transfer'",
		    cause) != 0)
			return -1;
		v = c->connect_timeout;
		if (config_int(g, "connect_timeout", 1, 600, &v, cause) != 0)
			return -1;
		c->connect_timeout = (int)v;
		v = c->low_speed_time;
		if (config_int(g, "low_speed_time", 1, 3600, &v, cause) != 0)
			return -1;
		c->low_speed_time = (int)v;
		if (config_int(g, "low_speed_limit", 1, 1L << 30,
		    &c->low_speed_limit, cause) != 0)
			return -1;
		v = (long)c->manifest_max_bytes;
		if (config_int(g, "manifest_max_bytes", 4096, 64L << 20, &v, cause) != 0)
			return -1;
		c->manifest_max_bytes = (size_t)v;
	}
	if ((g = config_setting_get_member(root, "device")) != NULL) {
		static const char *device_keys[] = { "cert", "key",
		    "expiry_warning_days", NULL };

		if (config_check_keys(g, device_keys, " in 'device'", cause) != 0 ||
		    config_path(g, "cert", c->device_cert, sizeof c->device_cert,
		    cause) != 0 ||
		    config_path(g, "key", c->device_key, sizeof c->device_key,
		    cause) != 0)
			return -1;
		v = c->cert_warn_days;
		if (config_int(g, "expiry_warning_days", 0, 3650, &v, cause) != 0)
			return -1;
		c->cert_warn_days = (int)v;
	}
	if (config_path(root, "registries_file", c->registries_file,
	    sizeof c->registries_file, cause) != 0)
		return -1;
	if ((g = config_setting_get_member(root, "registries")) != NULL &&
	    config_load_registries(c, g, 0, cause) != 0)
		return -1;
	if ((g = config_setting_get_member(root, "feeds")) != NULL &&
	    config_load_feeds(c, g, cause) != 0)
		return -1;
	v = c->feed_ttl;
	if (config_int(root, "feed_ttl", 0, 365L * 86400, &v, cause) != 0)
		return -1;
	c->feed_ttl = (int)v;

	s = NULL;
	if (config_string(root, "default_registry", &s, cause) != 0)
		return -1;
	if (s != NULL) {
		r = registry_lookup(&c->registries, s);
		if (r == NULL) {
			*cause = util_printf("'default_registry' names no registry: %s", s);
			return -1;
		}
		c->registries.default_id = r->id;
	}
	s = NULL;
	if (config_string(root, "upstream", &s, cause) != 0)
		return -1;
	if (s != NULL && config_set_upstream(c, s, cause) != 0)
		return -1;
	return 0;
}

/* Reads path over the defaults already in c. Returns -1 with *cause. */
int
config_load(struct config *c, const char *path, char **cause)
{
	config_t	cf;
	int		rc;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			*cause = util_printf("%s: cannot read: %s", path, strerror(errno));
		else
			*cause = util_printf("%s:%d: %s", path,
			    config_error_line(&cf), config_error_text(&cf));
		config_destroy(&cf);
		return -1;
	}
	rc = config_apply(c, &cf, cause);
	if (rc != 0) {
		char *inner = *cause;

		*cause = util_printf("%s: %s", path, inner);
		free(inner);
	}
	config_destroy(&cf);
	return rc;
}

/*
 * Reads the entries that 'pullgate registry add' keeps in their own file
 * (a list "registries = ( ... );" and nothing else). A missing file is
 * no error: there is nothing added yet.
 */
int
config_load_registries_file(struct config *c, const char *path, char **cause)
{
	static const char	*keys[] = { "registries", NULL };
	config_setting_t	*g;
	config_t		 cf;
	char			*inner = NULL;
	int			 rc = -1;

	if (access(path, F_OK) != 0)
		return 0;
	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		*cause = util_printf("%s:%d: %s", path, config_error_line(&cf),
		    config_error_text(&cf) != NULL ? config_error_text(&cf) :
		    strerror(errno));
		goto out;
	}
	if (config_check_keys(config_root_setting(&cf), keys, "", &inner) != 0)
		goto fail;
	g = config_setting_get_member(config_root_setting(&cf), "registries");
	if (g != NULL && config_load_registries(c, g, 1, &inner) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	*cause = util_printf("%s: %s", path, inner);
	free(inner);
out:
	config_destroy(&cf);
	return rc;
}

/*
 * The last step of loading: every entry complete and consistent, its
 * secrets read and its client identity attached. Returns -1 with *cause.
 */
int
config_load_secrets(struct config *c, char **cause)
{
	struct registry	*r;
	size_t		 i, n = c->registries.count;

	for (i = 0; i < n + c->feeds.count; i++) {
		r = i < n ? &c->registries.entries[i] : &c->feeds.entries[i - n];
		if ((r->auth & AUTH_MTLS) && r->cert[0] == '\0' && r->key[0] == '\0') {
			util_strlcpy(r->cert, c->device_cert, sizeof r->cert);
			util_strlcpy(r->key, c->device_key, sizeof r->key);
		}
		if (registry_check(r, cause) != 0 ||
		    registry_load_secrets(r, cause) != 0)
			return -1;
		if ((r->auth & AUTH_MTLS) && r->identity == NULL &&
		    (r->identity = identity_new(r->cert, r->key,
		    c->cert_warn_days)) == NULL) {
			*cause = util_printf("out of memory");
			return -1;
		}
	}
	return 0;
}

/*
 * What the command-line tools read: defaults, the file (or the default
 * file if it exists), and the registries file. Secrets are not read.
 */
int
config_read_all(struct config *c, const char *file, char **cause)
{
	config_defaults(c);
	if (file == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
		file = CONFIG_DEFAULT_FILE;
	if (file != NULL && config_load(c, file, cause) != 0)
		return -1;
	return config_load_registries_file(c, c->registries_file, cause);
}
