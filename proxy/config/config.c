/*
 * Configuration: built-in defaults, then the libconfig file, then the
 * command-line flags. etc/pullgate.conf documents every key read here.
 */
#include <errno.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "config.h"

#define CONFIG_DEFAULT_UPSTREAM	"https://registry-1.docker.io"

/* The built-in defaults: the daemon runs on these with no file at all. */
static void
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
	c->head_timeout = 10;
	c->connect_timeout = 10;
	c->low_speed_time = 30;
	c->low_speed_limit = 1024;
	c->manifest_max_bytes = 4 * 1024 * 1024;
	c->memory_cache_max_bytes = 16 * 1024 * 1024;
	c->upstream_max_per_entry = 16;
	c->upstream_queue_timeout = 60;
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

/*
 * The keys of the file, as tables: a key's name, its type, its bounds and
 * the field it sets. Reading a group checks that every key in it is in its
 * table (a typo never goes unnoticed), then applies the rows in table
 * order — so "registries" comes before "default_registry", which comes
 * before "upstream". A key that is absent leaves its field as it was.
 */
enum config_key_type {
	CONFIG_KEY_INT,		/* an integer field (int, long, size_t, int64_t) */
	CONFIG_KEY_BOOL,	/* an int: true or false */
	CONFIG_KEY_STRING,	/* a char[size] */
	CONFIG_KEY_PATH,	/* a char[size]: an absolute path */
	CONFIG_KEY_HOSTS,	/* char[max][size] host[:port]s; a size_t count */
	CONFIG_KEY_PREFIXES,	/* struct prefix[max]; a size_t count */
	CONFIG_KEY_GROUP,	/* a group { ... } of the keys of sub */
	CONFIG_KEY_CUSTOM,	/* read by apply */
	CONFIG_KEY_ENTRY	/* read where a registry entry is made */
};

/* Where a row of the entry table is allowed; 0: everywhere. */
#define CONFIG_IN_REGISTRY	0x01
#define CONFIG_IN_FEED		0x02

struct config_key {
	const char		*name;
	enum config_key_type	 type;
	size_t			 offset;	/* of the field in its struct */
	size_t			 size;		/* of the field (HOSTS: of one) */
	long long		 min, max;	/* INT: bounds; HOSTS: max count */
	const char		*unit;		/* INT: named with the bounds */
	size_t			 count;		/* HOSTS: offset of the count */
	const struct config_key	*sub;		/* GROUP: its keys */
	int			(*apply)(void *, config_setting_t *, char **);
	unsigned		 only;		/* CONFIG_IN_*, or 0 */
};

#define CONFIG_FIELD(type, f)	\
	.offset = offsetof(type, f), .size = sizeof(((type *)0)->f)
#define CONFIG_HOSTS_FIELD(type, f, n)					\
	.offset = offsetof(type, f), .size = sizeof(((type *)0)->f[0]),	\
	.max = sizeof(((type *)0)->f) / sizeof(((type *)0)->f[0]),	\
	.count = offsetof(type, n)

static int	config_listen(void *, config_setting_t *, char **);
static int	config_log_level(void *, config_setting_t *, char **);
static int	config_registries(void *, config_setting_t *, char **);
static int	config_registries_from_file(void *, config_setting_t *, char **);
static int	config_feeds(void *, config_setting_t *, char **);
static int	config_default_registry(void *, config_setting_t *, char **);
static int	config_upstream(void *, config_setting_t *, char **);
static int	config_auth(void *, config_setting_t *, char **);
static int	config_immutable_tags(void *, config_setting_t *, char **);
static int	config_namespaces(void *, config_setting_t *, char **);
static int	config_credential_helper(void *, config_setting_t *, char **);

static const struct config_key config_client_keys[] = {
	{ "max_header_bytes", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, max_header_bytes),
	    .min = 1024, .max = 1048576, .unit = "bytes" },
	{ "max_body_bytes", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, max_body_bytes),
	    .min = 0, .max = 1048576, .unit = "bytes" },
	{ "timeout", CONFIG_KEY_INT, CONFIG_FIELD(struct config, client_timeout),
	    .min = 1, .max = 86400, .unit = "seconds" },
	{ "head_timeout", CONFIG_KEY_INT, CONFIG_FIELD(struct config, head_timeout),
	    .min = 1, .max = 3600, .unit = "seconds" },
	{ "max_connections", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, max_connections),
	    .min = 0, .max = 1L << 24, .unit = "connections; 0: from ulimit -n" },
	{ "max_connections_per_address", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, max_connections_per_address),
	    .min = 0, .max = 1L << 24,
	    .unit = "connections; 0: a quarter of max_connections" },
	{ NULL }
};

static const struct config_key config_transfer_keys[] = {
	{ "connect_timeout", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, connect_timeout),
	    .min = 1, .max = 600, .unit = "seconds" },
	{ "low_speed_time", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, low_speed_time),
	    .min = 1, .max = 3600, .unit = "seconds" },
	{ "low_speed_limit", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, low_speed_limit),
	    .min = 1, .max = 1L << 30, .unit = "bytes per second" },
	{ "manifest_max_bytes", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, manifest_max_bytes),
	    .min = 4096, .max = 64L << 20, .unit = "bytes" },
	{ "max_per_entry", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, upstream_max_per_entry),
	    .min = 1, .max = 1024, .unit = "requests" },
	{ "queue_timeout", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, upstream_queue_timeout),
	    .min = 1, .max = 3600, .unit = "seconds" },
	{ NULL }
};

static const struct config_key config_device_keys[] = {
	{ "cert", CONFIG_KEY_PATH, CONFIG_FIELD(struct config, device_cert) },
	{ "key", CONFIG_KEY_PATH, CONFIG_FIELD(struct config, device_key) },
	{ "expiry_warning_days", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, cert_warn_days),
	    .min = 0, .max = 3650, .unit = "days" },
	{ NULL }
};

/* The top level of the file, in the order it is applied. */
static const struct config_key config_keys[] = {
	{ "listen", CONFIG_KEY_CUSTOM, .apply = config_listen },
	{ "cache_dir", CONFIG_KEY_PATH, CONFIG_FIELD(struct config, cache_dir) },
	{ "control_socket", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct config, control_socket) },
	{ "log_level", CONFIG_KEY_CUSTOM, .apply = config_log_level },
	{ "tag_ttl", CONFIG_KEY_INT, CONFIG_FIELD(struct config, tag_ttl),
	    .min = 0, .max = 365L * 86400, .unit = "seconds" },
	{ "breaker_seconds", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, breaker_seconds),
	    .min = 0, .max = 3600, .unit = "seconds; 0: no circuit breaker" },
	{ "offline", CONFIG_KEY_BOOL, CONFIG_FIELD(struct config, offline) },
	{ "server_names", CONFIG_KEY_HOSTS,
	    CONFIG_HOSTS_FIELD(struct config, server_names, nserver_names) },
	{ "clients", CONFIG_KEY_PREFIXES,
	    CONFIG_HOSTS_FIELD(struct config, clients, nclients) },
	{ "cache_max_bytes", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, cache_max_bytes),
	    .min = 0, .max = INT64_MAX, .unit = "bytes; 0: no budget" },
	{ "memory_cache_max_bytes", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct config, memory_cache_max_bytes),
	    .min = 0, .max = 1L << 40, .unit = "bytes; 0: none" },
	{ "client", CONFIG_KEY_GROUP, .sub = config_client_keys },
	{ "upstream_transfer", CONFIG_KEY_GROUP, .sub = config_transfer_keys },
	{ "device", CONFIG_KEY_GROUP, .sub = config_device_keys },
	{ "registries_file", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct config, registries_file) },
	{ "registries", CONFIG_KEY_CUSTOM, .apply = config_registries },
	{ "feeds", CONFIG_KEY_CUSTOM, .apply = config_feeds },
	{ "feed_ttl", CONFIG_KEY_INT, CONFIG_FIELD(struct config, feed_ttl),
	    .min = 0, .max = 365L * 86400, .unit = "seconds" },
	{ "default_registry", CONFIG_KEY_CUSTOM,
	    .apply = config_default_registry },
	{ "upstream", CONFIG_KEY_CUSTOM, .apply = config_upstream },
	{ NULL }
};

/* The registries file holds the list and nothing else. */
static const struct config_key config_registries_file_keys[] = {
	{ "registries", CONFIG_KEY_CUSTOM, .apply = config_registries_from_file },
	{ NULL }
};

/* A registry entry, or a package feed (the rows without "only"). */
static const struct config_key config_entry_keys[] = {
	{ "id", CONFIG_KEY_ENTRY, .only = CONFIG_IN_REGISTRY },
	{ "name", CONFIG_KEY_ENTRY, .only = 0 },
	{ "url", CONFIG_KEY_ENTRY, .only = 0 },
	{ "auth", CONFIG_KEY_CUSTOM, .apply = config_auth },
	{ "username", CONFIG_KEY_STRING, CONFIG_FIELD(struct registry, username) },
	{ "password_file", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct registry, password_file) },
	{ "bearer_file", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct registry, bearer_file) },
	{ "cert", CONFIG_KEY_PATH, CONFIG_FIELD(struct registry, cert) },
	{ "key", CONFIG_KEY_PATH, CONFIG_FIELD(struct registry, key) },
	{ "ca", CONFIG_KEY_PATH, CONFIG_FIELD(struct registry, ca) },
	{ "token_hosts", CONFIG_KEY_HOSTS,
	    CONFIG_HOSTS_FIELD(struct registry, token_hosts, ntoken_hosts),
	    .only = CONFIG_IN_REGISTRY },
	{ "mirror_of", CONFIG_KEY_HOSTS,
	    CONFIG_HOSTS_FIELD(struct registry, mirror_of, nmirror_of),
	    .only = CONFIG_IN_REGISTRY },
	{ "tag_ttl", CONFIG_KEY_INT, CONFIG_FIELD(struct registry, tag_ttl),
	    .min = 0, .max = 365L * 86400, .unit = "seconds",
	    .only = CONFIG_IN_REGISTRY },
	{ "immutable_tags", CONFIG_KEY_CUSTOM, .apply = config_immutable_tags,
	    .only = CONFIG_IN_REGISTRY },
	{ "namespaces", CONFIG_KEY_CUSTOM, .apply = config_namespaces,
	    .only = CONFIG_IN_REGISTRY },
	{ "parent", CONFIG_KEY_BOOL, CONFIG_FIELD(struct registry, is_parent),
	    .only = CONFIG_IN_REGISTRY },
	{ "clients", CONFIG_KEY_PREFIXES,
	    CONFIG_HOSTS_FIELD(struct registry, clients, nclients) },
	{ "client_credentials", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct registry, client_credentials) },
	{ "credential_helper", CONFIG_KEY_CUSTOM, .apply = config_credential_helper },
	{ "docker_config", CONFIG_KEY_PATH,
	    CONFIG_FIELD(struct registry, docker_config) },
	{ "credential_lifetime", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct registry, credential_lifetime),
	    .min = 10, .max = 7L * 86400, .unit = "seconds" },
	{ "credential_timeout", CONFIG_KEY_INT,
	    CONFIG_FIELD(struct registry, credential_timeout),
	    .min = 1, .max = 600, .unit = "seconds" },
	{ NULL }
};

static const struct config_key *
config_key_find(const struct config_key *keys, unsigned where, const char *name)
{
	for (; keys->name != NULL; keys++)
		if (strcmp(keys->name, name) == 0 &&
		    (keys->only == 0 || (keys->only & where)))
			return keys;
	return NULL;
}

/* Every key of group g is a row of keys allowed where g is. */
static int
config_keys_check(const struct config_key *keys, unsigned where,
    config_setting_t *g, const char *context, char **cause)
{
	config_setting_t	*s;
	unsigned		 i;

	for (i = 0; (s = config_setting_get_elem(g, i)) != NULL; i++) {
		if (config_key_find(keys, where, config_setting_name(s)) == NULL) {
			*cause = util_printf("line %d: unknown key '%s'%s",
			    config_setting_source_line(s), config_setting_name(s),
			    context);
			return -1;
		}
	}
	return 0;
}

/* Stores v in an integer field of size bytes (its bounds made it fit). */
static void
config_store_int(void *field, size_t size, long long v)
{
	int32_t	v32 = (int32_t)v;
	int64_t	v64 = (int64_t)v;

	if (size == sizeof v32)
		memcpy(field, &v32, size);
	else if (size == sizeof v64)
		memcpy(field, &v64, size);
	else
		fatal("%s: an integer key of %zu bytes", __func__, size);
}

static int
config_key_int(const struct config_key *k, config_setting_t *s, void *field,
    char **cause)
{
	long long	v;

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		*cause = util_printf("line %d: '%s' must be an integer",
		    config_setting_source_line(s), k->name);
		return -1;
	}
	if (v < k->min || v > k->max) {
		*cause = util_printf("line %d: '%s' must be between %lld and %lld "
		    "(%s)", config_setting_source_line(s), k->name, k->min, k->max,
		    k->unit);
		return -1;
	}
	if (k->size < sizeof(int64_t) && k->max > INT32_MAX)
		fatal("%s: '%s' is bounded beyond its field", __func__, k->name);
	config_store_int(field, k->size, v);
	return 0;
}

static int
config_key_string(const struct config_key *k, config_setting_t *s, char *field,
    char **cause)
{
	const char	*v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    (k->type == CONFIG_KEY_PATH && config_setting_get_string(s)[0] != '/')) {
		*cause = util_printf("line %d: '%s' must be %s",
		    config_setting_source_line(s), k->name,
		    k->type == CONFIG_KEY_PATH ? "an absolute path" : "a string");
		return -1;
	}
	v = config_setting_get_string(s);
	if (util_strlcpy(field, v, k->size) != 0) {
		*cause = util_printf("line %d: '%s' is too long (at most %zu "
		    "bytes)", config_setting_source_line(s), k->name, k->size - 1);
		return -1;
	}
	return 0;
}

/* A list of at most k->max host[:port] strings. */
static int
config_key_hosts(const struct config_key *k, config_setting_t *s, char *field,
    size_t *count, char **cause)
{
	config_setting_t	*h;
	unsigned		 i;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		goto fail;
	*count = 0;
	for (i = 0; (h = config_setting_get_elem(s, i)) != NULL; i++) {
		if (config_setting_type(h) != CONFIG_TYPE_STRING ||
		    i >= (unsigned long long)k->max ||
		    util_strlcpy(field + i * k->size, config_setting_get_string(h),
		    k->size) != 0)
			goto fail;
		*count = i + 1;
	}
	return 0;
fail:
	*cause = util_printf("line %d: '%s' must be a list of at most %lld "
	    "host[:port] strings", config_setting_source_line(s), k->name, k->max);
	return -1;
}

/*
 * A non-empty list of at most k->max addresses or prefixes ("10.0.0.0/8",
 * "192.168.1.20", "fd00::/8"); an empty list would let no one in, which
 * is never what a configuration means.
 */
static int
config_key_prefixes(const struct config_key *k, config_setting_t *s,
    struct prefix *field, size_t *count, char **cause)
{
	config_setting_t	*h;
	unsigned		 i;

	if ((!config_setting_is_array(s) && !config_setting_is_list(s)) ||
	    config_setting_length(s) == 0 ||
	    (long long)config_setting_length(s) > k->max) {
		*cause = util_printf("line %d: '%s' must be a list of 1 to %lld "
		    "addresses or prefixes", config_setting_source_line(s),
		    k->name, k->max);
		return -1;
	}
	for (i = 0; (h = config_setting_get_elem(s, i)) != NULL; i++) {
		if (config_setting_type(h) != CONFIG_TYPE_STRING ||
		    prefix_parse(config_setting_get_string(h), &field[i]) != 0) {
			*cause = util_printf("line %d: '%s': not an address or "
			    "prefix (a.b.c.d[/n] or an IPv6 address[/n], no bits "
			    "set past the length): %.100s",
			    config_setting_source_line(s), k->name,
			    config_setting_type(h) == CONFIG_TYPE_STRING ?
			    config_setting_get_string(h) : "(not a string)");
			return -1;
		}
	}
	*count = i;
	return 0;
}

static int	config_keys_apply(const struct config_key *, unsigned,
		    config_setting_t *, void *, char **);

/* Applies one key k, present as s, to the struct at base. */
static int
config_key_apply(const struct config_key *k, unsigned where,
    config_setting_t *s, void *base, char **cause)
{
	char	*field = (char *)base + k->offset;
	char	 context[64];
	int	 v;

	switch (k->type) {
	case CONFIG_KEY_INT:
		return config_key_int(k, s, field, cause);
	case CONFIG_KEY_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			*cause = util_printf("line %d: '%s' must be true or false",
			    config_setting_source_line(s), k->name);
			return -1;
		}
		v = config_setting_get_bool(s);
		memcpy(field, &v, sizeof v);
		return 0;
	case CONFIG_KEY_STRING:
	case CONFIG_KEY_PATH:
		return config_key_string(k, s, field, cause);
	case CONFIG_KEY_HOSTS:
		return config_key_hosts(k, s, field,
		    (size_t *)(void *)((char *)base + k->count), cause);
	case CONFIG_KEY_PREFIXES:
		return config_key_prefixes(k, s, (struct prefix *)(void *)field,
		    (size_t *)(void *)((char *)base + k->count), cause);
	case CONFIG_KEY_GROUP:
		if (!config_setting_is_group(s)) {
			*cause = util_printf("line %d: '%s' must be a group: "
			    "%s: { ... };", config_setting_source_line(s), k->name,
			    k->name);
			return -1;
		}
		snprintf(context, sizeof context, " in '%s'", k->name);
		if (config_keys_check(k->sub, where, s, context, cause) != 0)
			return -1;
		return config_keys_apply(k->sub, where, s, base, cause);
	case CONFIG_KEY_CUSTOM:
		return k->apply(base, s, cause);
	case CONFIG_KEY_ENTRY:
		return 0;
	}
	return 0;
}

/* Applies every row of keys present in group g (checked) to base. */
static int
config_keys_apply(const struct config_key *keys, unsigned where,
    config_setting_t *g, void *base, char **cause)
{
	config_setting_t	*s;

	for (; keys->name != NULL; keys++) {
		if (keys->only != 0 && !(keys->only & where))
			continue;
		if ((s = config_setting_get_member(g, keys->name)) != NULL &&
		    config_key_apply(keys, where, s, base, cause) != 0)
			return -1;
	}
	return 0;
}

/* The string value of a custom key, or NULL with *cause. */
static const char *
config_custom_string(config_setting_t *s, char **cause)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		*cause = util_printf("line %d: '%s' must be a string",
		    config_setting_source_line(s), config_setting_name(s));
		return NULL;
	}
	return config_setting_get_string(s);
}

/* An integer or string a registry entry is made from; absent is 0/NULL. */
static int
config_entry_int(config_setting_t *e, const char *name, long min, long max,
    long *out, char **cause)
{
	config_setting_t	*s;

	if ((s = config_setting_get_member(e, name)) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT ||
	    config_setting_get_int(s) < min || config_setting_get_int(s) > max) {
		*cause = util_printf("line %d: '%s' must be an integer between "
		    "%ld and %ld", config_setting_source_line(s), name, min, max);
		return -1;
	}
	*out = config_setting_get_int(s);
	return 0;
}

static int
config_entry_string(config_setting_t *e, const char *name, const char **out,
    char **cause)
{
	config_setting_t	*s;

	if ((s = config_setting_get_member(e, name)) == NULL)
		return 0;
	return (*out = config_custom_string(s, cause)) == NULL ? -1 : 0;
}

/* listen = "HOST:PORT"; */
static int
config_listen(void *base, config_setting_t *s, char **cause)
{
	struct config	*c = base;
	const char	*v;

	if ((v = config_custom_string(s, cause)) == NULL)
		return -1;
	if (config_parse_listen(v, c->listen_host, sizeof c->listen_host,
	    &c->listen_port) != 0) {
		*cause = util_printf("line %d: 'listen' must be HOST:PORT, not '%s'",
		    config_setting_source_line(s), v);
		return -1;
	}
	return 0;
}

static int
config_log_level(void *base, config_setting_t *s, char **cause)
{
	struct config	*c = base;
	const char	*v;

	if ((v = config_custom_string(s, cause)) == NULL)
		return -1;
	if (log_parse_level(v, &c->log_level) != 0) {
		*cause = util_printf("line %d: 'log_level' must be error, warn, "
		    "info or debug", config_setting_source_line(s));
		return -1;
	}
	return 0;
}

/* auth = "basic"; or auth = ["mtls", "token"]; */
static int
config_auth(void *base, config_setting_t *s, char **cause)
{
	struct registry		*r = base;
	config_setting_t	*v;
	char			*why = NULL;
	unsigned		 i;

	r->auth = 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		v = s;
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		v = config_setting_get_elem(s, 0);
	else
		v = NULL;
	if (v == NULL && config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		goto fail;
	for (i = 0; v != NULL; v = config_setting_get_elem(s, ++i)) {
		if (config_setting_type(v) != CONFIG_TYPE_STRING ||
		    registry_parse_auth(config_setting_get_string(v), &r->auth,
		    &why) != 0)
			goto fail;
		if (v == s)
			break;
	}
	return 0;
fail:
	*cause = util_printf("line %d: %s", config_setting_source_line(s),
	    why != NULL ? why : "'auth' must be a string or a list of strings");
	free(why);
	return -1;
}

static int
config_immutable_tags(void *base, config_setting_t *s, char **cause)
{
	struct registry	*r = base;
	const char	*pattern;

	if ((pattern = config_custom_string(s, cause)) == NULL)
		return -1;
	if (r->has_immutable)
		regfree(&r->immutable);
	r->has_immutable = 0;
	if (regcomp(&r->immutable, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		*cause = util_printf("registry '%s': immutable_tags is not a "
		    "valid extended regular expression", r->name);
		return -1;
	}
	r->has_immutable = 1;
	util_strlcpy(r->immutable_src, pattern, sizeof r->immutable_src);
	return 0;
}

/* An entry's namespaces: an ERE over a request's first path component. */
static int
config_namespaces(void *base, config_setting_t *s, char **cause)
{
	struct registry	*r = base;
	const char	*pattern;

	if ((pattern = config_custom_string(s, cause)) == NULL)
		return -1;
	if (r->has_namespaces)
		regfree(&r->namespaces);
	r->has_namespaces = 0;
	if (regcomp(&r->namespaces, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
		*cause = util_printf("registry '%s': namespaces is not a valid "
		    "extended regular expression", r->name);
		return -1;
	}
	r->has_namespaces = 1;
	util_strlcpy(r->namespaces_src, pattern, sizeof r->namespaces_src);
	return 0;
}

/* credential_helper = "NAME": docker-credential-NAME on the PATH. */
static int
config_credential_helper(void *base, config_setting_t *s, char **cause)
{
	struct registry	*r = base;
	const char	*name;

	if ((name = config_custom_string(s, cause)) == NULL)
		return -1;
	if (!dockercred_valid_helper(name)) {
		*cause = util_printf("line %d: 'credential_helper' must be the NAME "
		    "of docker-credential-NAME (letters, digits, '.', '_', '-')",
		    config_setting_source_line(s));
		return -1;
	}
	util_strlcpy(r->credential_helper, name, sizeof r->credential_helper);
	return 0;
}

static int
config_load_registries(struct config *c, config_setting_t *list, int from_file,
    char **cause)
{
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
		if (!config_setting_is_group(e)) {
			*cause = util_printf("line %d: a registry entry must be a "
			    "group { id = ...; name = ...; url = ...; }",
			    config_setting_source_line(e));
			return -1;
		}
		if (config_keys_check(config_entry_keys, CONFIG_IN_REGISTRY, e,
		    " in a registry entry", cause) != 0 ||
		    config_entry_int(e, "id", 1, 9999, &id, cause) != 0 ||
		    config_entry_string(e, "name", &name, cause) != 0 ||
		    config_entry_string(e, "url", &url, cause) != 0)
			return -1;
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
		if (config_keys_apply(config_entry_keys, CONFIG_IN_REGISTRY, e, r,
		    cause) != 0)
			return -1;
	}
	return 0;
}

static int
config_registries(void *base, config_setting_t *s, char **cause)
{
	return config_load_registries(base, s, 0, cause);
}

static int
config_registries_from_file(void *base, config_setting_t *s, char **cause)
{
	return config_load_registries(base, s, 1, cause);
}

/* feeds = ( { name = "debian"; url = "http://deb.debian.org/debian"; ... } ); */
static int
config_feeds(void *base, config_setting_t *list, char **cause)
{
	struct config		*c = base;
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
		if (!config_setting_is_group(e)) {
			*cause = util_printf("line %d: a feed must be a group "
			    "{ name = ...; url = ...; }", config_setting_source_line(e));
			return -1;
		}
		if (config_keys_check(config_entry_keys, CONFIG_IN_FEED, e,
		    " in a feed", cause) != 0 ||
		    config_entry_string(e, "name", &name, cause) != 0 ||
		    config_entry_string(e, "url", &url, cause) != 0)
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
		if (config_keys_apply(config_entry_keys, CONFIG_IN_FEED, e, r,
		    cause) != 0)
			return -1;
	}
	return 0;
}

static int
config_default_registry(void *base, config_setting_t *s, char **cause)
{
	struct config	*c = base;
	struct registry	*r;
	const char	*v;

	if ((v = config_custom_string(s, cause)) == NULL)
		return -1;
	if ((r = registry_lookup(&c->registries, v)) == NULL) {
		*cause = util_printf("line %d: 'default_registry' names no "
		    "registry: %s", config_setting_source_line(s), v);
		return -1;
	}
	c->registries.default_id = r->id;
	return 0;
}

static int
config_upstream(void *base, config_setting_t *s, char **cause)
{
	const char	*v;
	char		*why = NULL;

	if ((v = config_custom_string(s, cause)) == NULL)
		return -1;
	if (config_set_upstream(base, v, &why) != 0) {
		*cause = util_printf("line %d: 'upstream': %s",
		    config_setting_source_line(s), why);
		free(why);
		return -1;
	}
	return 0;
}

static int
config_apply(struct config *c, config_t *cf, char **cause)
{
	config_setting_t	*root = config_root_setting(cf);

	if (config_keys_check(config_keys, 0, root, "", cause) != 0)
		return -1;
	return config_keys_apply(config_keys, 0, root, c, cause);
}

/* Reads path over the defaults already in c. Returns -1 with *cause. */
static int
config_load(struct config *c, const char *path, char **cause)
{
	config_t	cf;
	int		rc;

	util_strlcpy(c->file, path, sizeof c->file);
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
static int
config_load_registries_file(struct config *c, const char *path, char **cause)
{
	config_setting_t	*root;
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
	root = config_root_setting(&cf);
	if (config_keys_check(config_registries_file_keys, 0, root, "",
	    &inner) != 0 ||
	    config_keys_apply(config_registries_file_keys, 0, root, c,
	    &inner) != 0)
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
		if (r->is_parent && registry_parent(&c->registries) != r) {
			*cause = util_printf("registry '%s': only one entry can "
			    "be the parent", r->name);
			return -1;
		}
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
 * The configuration as the daemon and the commands read it: defaults,
 * the file (or the default file if it exists), and the registries file
 * (registries, or NULL: the one the file names). Secrets are not read.
 * Returns -1 with *cause; c needs config_free either way.
 */
int
config_read_all(struct config *c, const char *file, const char *registries,
    char **cause)
{
	config_defaults(c);
	if (file == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
		file = CONFIG_DEFAULT_FILE;
	if (file != NULL && config_load(c, file, cause) != 0)
		return -1;
	return config_load_registries_file(c, registries != NULL ? registries :
	    c->registries_file, cause);
}

/* The control socket's path: control_socket, or control.sock in the cache. */
int
config_control_socket(const struct config *c, char *dst, size_t len)
{
	int	n;

	if (c->control_socket[0] != '\0')
		n = snprintf(dst, len, "%s", c->control_socket);
	else
		n = snprintf(dst, len, "%s/control.sock", c->cache_dir);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}
