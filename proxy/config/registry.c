/*
 * The numbered registry table. Entry 1 "remote" is the public default
 * (Docker Hub unless configured otherwise), entry 2 "local" is the cache
 * alone; entries 3 and up come from the configuration.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static int	registry_is_docker_hub_host(const char *);
static int	registry_serves_host(const struct registry *, const char *);

static const struct {
	const char	*name;
	unsigned	 bit;
} registry_auth_names[] = {
	{ "basic", AUTH_BASIC },
	{ "bearer", AUTH_BEARER },
	{ "token", AUTH_TOKEN },
	{ "mtls", AUTH_MTLS },
};
#define REGISTRY_NAUTH (sizeof registry_auth_names / sizeof registry_auth_names[0])

/* Adds one scheme name ("none", "basic", ...) to *auth. */
int
registry_parse_auth(const char *name, unsigned *auth, char **cause)
{
	size_t	i;

	if (strcmp(name, "none") == 0)
		return 0;
	for (i = 0; i < REGISTRY_NAUTH; i++) {
		if (strcmp(name, registry_auth_names[i].name) == 0) {
			*auth |= registry_auth_names[i].bit;
			return 0;
		}
	}
	*cause = util_printf("unknown auth scheme '%s' (none, basic, bearer, "
	    "token, mtls)", name);
	return -1;
}

/* The name of one AUTH_* bit. */
const char *
registry_auth_name(unsigned bit)
{
	size_t	i;

	for (i = 0; i < REGISTRY_NAUTH; i++)
		if (registry_auth_names[i].bit == bit)
			return registry_auth_names[i].name;
	return "none";
}

/* Checks that an entry's schemes have what they need. */
int
registry_check(struct registry *r, char **cause)
{
	if (r->is_local && r->auth != 0) {
		*cause = util_printf("registry '%s' is the local cache: no auth", r->name);
		return -1;
	}
	if (r->is_parent && (r->is_local || r->is_docker_hub ||
	    r->has_namespaces || r->nmirror_of > 0)) {
		*cause = util_printf("registry '%s': a parent is another pullgate's "
		    "URL, with no namespaces or mirror_of (it takes every request "
		    "the child does not route itself)", r->name);
		return -1;
	}
	if ((r->auth & AUTH_BEARER) && (r->auth & (AUTH_BASIC | AUTH_TOKEN))) {
		*cause = util_printf("registry '%s': bearer cannot be combined with "
		    "basic or token (both set the Authorization header)", r->name);
		return -1;
	}
	if (r->credential_helper[0] != '\0' && r->docker_config[0] != '\0') {
		*cause = util_printf("registry '%s': credential_helper and "
		    "docker_config exclude each other", r->name);
		return -1;
	}
	if (registry_cred_outside(r) && (!(r->auth & AUTH_BASIC) ||
	    r->username[0] != '\0' || r->password_file[0] != '\0')) {
		*cause = util_printf("registry '%s': %s gives the username and "
		    "password: it needs auth basic (or [\"basic\", \"token\"]) "
		    "and no username or password_file", r->name,
		    r->credential_helper[0] != '\0' ? "credential_helper" :
		    "docker_config");
		return -1;
	}
	if ((r->auth & AUTH_BASIC) && !registry_cred_outside(r) &&
	    (r->username[0] == '\0' || r->password_file[0] == '\0')) {
		*cause = util_printf("registry '%s': basic needs username and "
		    "password_file (or credential_helper, or docker_config)",
		    r->name);
		return -1;
	}
	if ((r->auth & AUTH_BEARER) && r->bearer_file[0] == '\0') {
		*cause = util_printf("registry '%s': bearer needs bearer_file", r->name);
		return -1;
	}
	if ((r->auth & AUTH_MTLS) && (r->cert[0] == '\0' || r->key[0] == '\0')) {
		*cause = util_printf("registry '%s': mtls needs cert and key (or the "
		    "device's, set in device { cert; key; })", r->name);
		return -1;
	}
	if (r->url[0] != '\0' && strncmp(r->url, "https://", 8) != 0 &&
	    (r->auth & AUTH_MTLS)) {
		*cause = util_printf("registry '%s': mtls needs an https:// URL",
		    r->name);
		return -1;
	}
	return 0;
}

/*
 * Whether the entry's username and password come from outside the
 * configuration (a credential helper, a Docker config.json), and may
 * change while running.
 */
int
registry_cred_outside(const struct registry *r)
{
	return r->credential_helper[0] != '\0' || r->docker_config[0] != '\0';
}

/* Reads the entry's secret files into memory. */
int
registry_load_secrets(struct registry *r, char **cause)
{
	char	*why = NULL;

	secret_free(r->password);
	secret_free(r->bearer);
	r->password = r->bearer = NULL;
	htpasswd_free(r->client_users);
	r->client_users = NULL;
	/* A JSON key file (GCR, Artifact Registry) is a password of lines. */
	if ((r->auth & AUTH_BASIC) && r->password_file[0] != '\0' &&
	    strcmp(r->username, "_json_key") == 0 &&
	    secret_read_lines(r->password_file, &r->password, &why) != 0)
		goto fail;
	if ((r->auth & AUTH_BASIC) && r->password_file[0] != '\0' &&
	    strcmp(r->username, "_json_key") != 0 &&
	    secret_read(r->password_file, &r->password, &why) != 0)
		goto fail;
	if ((r->auth & AUTH_BEARER) &&
	    secret_read(r->bearer_file, &r->bearer, &why) != 0)
		goto fail;
	/* config.json: read now, and again when it changes (dockercred.c). */
	memset(&r->cred, 0, sizeof r->cred);
	if (r->docker_config[0] != '\0' && dockercred_load(r, &why) < 0)
		goto fail;
	/* The client key (the device's, or the entry's) is a secret too. */
	if ((r->auth & AUTH_MTLS) && r->key[0] != '\0' &&
	    secret_check(r->key, &why) != 0)
		goto fail;
	/* What this entry's clients must present (checked in proxy/access.c). */
	if (r->client_credentials[0] != '\0' &&
	    (r->client_users = htpasswd_load(r->client_credentials, &why)) == NULL)
		goto fail;
	return 0;
fail:
	*cause = util_printf("registry '%s': %s", r->name, why);
	free(why);
	return -1;
}

/*
 * Whether a mirror request's ns=<host> names entry r: its own host, one of
 * its mirror_of hosts, or any Docker Hub name for Docker Hub.
 */
static int
registry_serves_host(const struct registry *r, const char *host)
{
	size_t	i;

	if (r->is_local)
		return 0;
	if (strcasecmp(r->host, host) == 0)
		return 1;
	for (i = 0; i < r->nmirror_of; i++)
		if (strcasecmp(r->mirror_of[i], host) == 0)
			return 1;
	return r->is_docker_hub && registry_is_docker_hub_host(host);
}

/*
 * The name entry r knows repository repo by, into buf (which may be repo
 * itself): Docker Hub keeps its one-component official images under
 * library/ ("alpine" is "library/alpine"); any other name is itself. The
 * one home of that rule: the daemon's cache and upstream requests and
 * every command use this name. -1 if it would pass REFERENCE_NAME_MAX or
 * not fit len.
 */
int
registry_upstream_name(const struct registry *r, const char *repo, char *buf,
    size_t len)
{
	char	name[REFERENCE_NAME_MAX + 1];
	int	n;

	if (r->is_docker_hub && strchr(repo, '/') == NULL)
		n = snprintf(name, sizeof name, "library/%s", repo);
	else
		n = snprintf(name, sizeof name, "%s", repo);
	if (n < 0 || (size_t)n >= sizeof name || (size_t)n >= len)
		return -1;
	memcpy(buf, name, (size_t)n + 1);
	return 0;
}

/*
 * The entries whose tag indexes answer for r, into names (room for
 * t->count): r's own; for the local entry, its own and then every other
 * entry's, by id. Returns how many.
 */
static size_t
registry_tag_sources(const struct registry_table *t, const struct registry *r,
    const char **names)
{
	const struct registry	*x, *next;
	size_t			 i, n = 0;
	int			 last = 0;

	names[n++] = r->name;
	if (!r->is_local)
		return n;
	for (;;) {
		next = NULL;
		for (i = 0; i < t->count; i++) {
			x = &t->entries[i];
			if (!x->is_local && x->id > last &&
			    (next == NULL || x->id < next->id))
				next = x;
		}
		if (next == NULL)
			return n;
		names[n++] = next->name;
		last = next->id;
	}
}

/*
 * A tag of entry r from the cache alone, as the daemon and 'pullgate
 * resolve' answer it: the first of registry_tag_sources' indexes that has
 * it with its manifest cached. -1 if none (or out of memory).
 */
int
registry_resolve_tag(const struct registry_table *t, const struct cache *c,
    const struct registry *r, const char *repo, const char *tag,
    struct tagindex_entry *e)
{
	const char	**names;
	size_t		  n;
	int		  rc;

	if ((names = calloc(t->count + 1, sizeof *names)) == NULL)
		return -1;
	n = registry_tag_sources(t, r, names);
	rc = tagindex_resolve(c, names, n, repo, tag, e);
	free(names);
	return rc;
}

/*
 * Whether entry r is chosen by a name or id at this daemon. A child (a
 * table with a parent entry) leaves the numbered table to its parent: ids
 * other than local's, entry 1 "remote" and Docker Hub's hosts are the
 * parent's; its own entries answer by name only.
 */
static int
registry_here(const struct registry_table *t, const struct registry *r,
    const char *which)
{
	if (registry_parent(t) == NULL || r->is_local)
		return 1;
	return r->id != REGISTRY_ID_REMOTE && strcmp(which, r->name) == 0;
}

/*
 * The entry a repository path (the part after /v2/ and before /manifests/,
 * or an IMAGE of the commands) goes to, after ns= routing: a first
 * component naming an entry (name or id; *strip is its length with the
 * '/', to be taken off), else a first component that an entry's
 * namespaces pattern claims (kept: it is part of the upstream name, like
 * an IoT platform's 32-hex account ID), else the parent entry if there is
 * one (the path goes to it unchanged), else the default entry.
 */
struct registry *
registry_route(struct registry_table *t, const char *path, size_t *strip,
    enum registry_rule *rule)
{
	struct registry	*r;
	const char	*slash = strchr(path, '/');
	char		 first[REFERENCE_NAME_MAX + 1];
	size_t		 len, i;

	*strip = 0;
	if (slash != NULL && (len = (size_t)(slash - path)) < sizeof first) {
		memcpy(first, path, len);
		first[len] = '\0';
		if ((r = registry_lookup(t, first)) != NULL &&
		    registry_here(t, r, first)) {
			*strip = len + 1;
			*rule = REGISTRY_RULE_NAME;
			return r;
		}
		for (i = 0; i < t->count; i++) {
			r = &t->entries[i];
			if (r->has_namespaces && registry_here(t, r, r->name) &&
			    regexec(&r->namespaces, first, 0, NULL, 0) == 0) {
				*rule = REGISTRY_RULE_NAMESPACE;
				return r;
			}
		}
	}
	if ((r = registry_parent(t)) != NULL) {
		*rule = REGISTRY_RULE_PARENT;
		return r;
	}
	*rule = REGISTRY_RULE_DEFAULT;
	return registry_default(t);
}

/*
 * The entry a mirror request's ns=<host> goes to: one whose URL or
 * mirror_of names host; at a child, none of the parent tier's (remote,
 * the parent itself), and the parent for every host no entry of its own
 * names. NULL: no entry serves host.
 */
struct registry *
registry_route_ns(struct registry_table *t, const char *host)
{
	struct registry	*r;
	size_t		 i;

	for (i = 0; i < t->count; i++) {
		r = &t->entries[i];
		if (registry_here(t, r, r->name) && !r->is_parent &&
		    registry_serves_host(r, host))
			return r;
	}
	return registry_parent(t);
}

/* The entry whose upstream is a parent pullgate, or NULL. */
struct registry *
registry_parent(const struct registry_table *t)
{
	size_t	i;

	for (i = 0; i < t->count; i++)
		if (t->entries[i].is_parent)
			return &t->entries[i];
	return NULL;
}

#define REGISTRY_NS_MARK	"ns__"

/*
 * The name a child caches a request to its parent under, into buf: the
 * client's path unchanged, or for a mirror request "ns__<host>/<path>"
 * (':' of host:port as '_'; Docker Hub's hosts as docker.io), so that
 * /v2/3/acme/app, /v2/acme/app and acme/app of ns=docker.io and of
 * ns=ghcr.io are four names. A path whose first component starts with
 * "ns__" is refused (no registry's namespaces are spelt so), and so is a
 * host that cannot be a name: -1 with *cause.
 */
int
registry_parent_key(const char *ns, const char *path, char *buf, size_t len,
    char **cause)
{
	char	host[256];
	size_t	i;
	int	n;

	if (strncmp(path, REGISTRY_NS_MARK, strlen(REGISTRY_NS_MARK)) == 0) {
		*cause = util_printf("a first component starting with '%s' is "
		    "reserved by a pullgate with a parent", REGISTRY_NS_MARK);
		return -1;
	}
	if (ns == NULL) {
		if (util_strlcpy(buf, path, len) != 0)
			goto long_name;
		return 0;
	}
	if (registry_is_docker_hub_host(ns))
		ns = "docker.io";
	if (util_strlcpy(host, ns, sizeof host) != 0)
		goto bad_host;
	for (i = 0; host[i] != '\0'; i++) {
		host[i] = (char)tolower((unsigned char)host[i]);
		if (host[i] == ':')
			host[i] = '_';
		else if (!isalnum((unsigned char)host[i]) &&
		    strchr(".-", host[i]) == NULL)
			goto bad_host;
	}
	n = snprintf(buf, len, "%s%s/%s", REGISTRY_NS_MARK, host, path);
	if (n < 0 || (size_t)n >= len || n > REFERENCE_NAME_MAX)
		goto long_name;
	if (!reference_valid_name(buf))
		goto bad_host;
	return 0;
bad_host:
	*cause = util_printf("ns= is not a host a parent can be asked for");
	return -1;
long_name:
	*cause = util_printf("repository name too long");
	return -1;
}

/*
 * What registry_parent_key encoded: the path to ask the parent for, and
 * the ns= host to add ("" for none). -1 if they do not fit.
 */
int
registry_parent_path(const char *key, char *path, size_t pathlen, char *ns,
    size_t nslen)
{
	const char	*slash;
	size_t		 mark = strlen(REGISTRY_NS_MARK), i;

	ns[0] = '\0';
	if (strncmp(key, REGISTRY_NS_MARK, mark) != 0 ||
	    (slash = strchr(key, '/')) == NULL)
		return util_strlcpy(path, key, pathlen) != 0 ? -1 : 0;
	if ((size_t)(slash - key) - mark >= nslen)
		return -1;
	memcpy(ns, key + mark, (size_t)(slash - key) - mark);
	ns[(size_t)(slash - key) - mark] = '\0';
	for (i = 0; ns[i] != '\0'; i++)
		if (ns[i] == '_')
			ns[i] = ':';
	return util_strlcpy(path, slash + 1, pathlen) != 0 ? -1 : 0;
}

const char *
registry_rule_name(enum registry_rule rule)
{
	return rule == REGISTRY_RULE_NAME ? "name" :
	    rule == REGISTRY_RULE_NAMESPACE ? "namespace" :
	    rule == REGISTRY_RULE_PARENT ? "parent" : "default";
}

/* Whether tag matches the entry's immutable_tags pattern. */
int
registry_tag_immutable(const struct registry *r, const char *tag)
{
	return r->has_immutable && regexec(&r->immutable, tag, 0, NULL, 0) == 0;
}

/*
 * Whether credentials of r may go to host (host[:port]): its own host, a
 * configured token host, or Docker Hub's token service for Docker Hub.
 */
int
registry_trusts_host(const struct registry *r, const char *host)
{
	size_t	i;

	if (strcasecmp(host, r->host) == 0)
		return 1;
	for (i = 0; i < r->ntoken_hosts; i++)
		if (strcasecmp(host, r->token_hosts[i]) == 0)
			return 1;
	return r->is_docker_hub && strcasecmp(host, "auth.docker.io") == 0;
}

static int
registry_is_docker_hub_host(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 ||
	    strcasecmp(host, "index.docker.io") == 0 ||
	    strcasecmp(host, "registry-1.docker.io") == 0;
}

/*
 * Checks that url is an http(s) URL with a host and no query, userinfo or
 * fragment, and copies its host[:port] into host. Returns -1 with *cause.
 */
int
registry_parse_url(const char *url, char *host, size_t hostlen, char **cause)
{
	const char	*p, *end;
	size_t		 len, i;

	if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else {
		*cause = util_printf("URL must start with http:// or https://: %s", url);
		return -1;
	}
	end = p + strcspn(p, "/");
	len = (size_t)(end - p);
	if (len == 0 || len >= hostlen) {
		*cause = util_printf("URL has no valid host: %s", url);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)p[i]) && strchr(".-:[]", p[i]) == NULL) {
			*cause = util_printf("URL host has an illegal character: %s", url);
			return -1;
		}
	}
	if (strpbrk(url, "?#@ ") != NULL) {
		*cause = util_printf("URL must not carry a query, fragment or user: %s", url);
		return -1;
	}
	if (strlen(url) >= REGISTRY_URL_MAX) {
		*cause = util_printf("URL too long");
		return -1;
	}
	memcpy(host, p, len);
	host[len] = '\0';
	return 0;
}

static int
registry_valid_name(const char *name)
{
	const char	*p;
	int		 digits = 1;

	if (*name == '\0' || strlen(name) >= REGISTRY_NAME_MAX)
		return 0;
	if (!islower((unsigned char)*name) && !isdigit((unsigned char)*name))
		return 0;
	for (p = name; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			digits = 0;
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    strchr("-_.", *p) == NULL)
			return 0;
	}
	return !digits;		/* an all-digit name would shadow an id */
}

static int
registry_fill(struct registry *r, int id, const char *name, const char *url,
    char **cause)
{
	size_t	len;

	memset(r, 0, sizeof *r);
	r->id = id;
	r->tag_ttl = -1;
	r->credential_lifetime = 900;
	r->credential_timeout = 10;
	if (!registry_valid_name(name)) {
		*cause = util_printf("invalid registry name '%s' (lowercase "
		    "letters, digits, '-', '_', '.'; not only digits)", name);
		return -1;
	}
	util_strlcpy(r->name, name, sizeof r->name);
	if (url == NULL) {
		r->is_local = 1;
		return 0;
	}
	if (registry_parse_url(url, r->host, sizeof r->host, cause) != 0)
		return -1;
	util_strlcpy(r->url, url, sizeof r->url);
	len = strlen(r->url);
	while (len > 0 && r->url[len - 1] == '/')
		r->url[--len] = '\0';
	r->is_docker_hub = registry_is_docker_hub_host(r->host);
	if (r->is_docker_hub) {
		/* docker.io itself serves no registry API. */
		util_strlcpy(r->url, "https://registry-1.docker.io", sizeof r->url);
		util_strlcpy(r->host, "registry-1.docker.io", sizeof r->host);
	}
	return 0;
}

/* Creates the table with its two fixed entries; remote_url is entry 1's URL. */
int
registry_table_init(struct registry_table *t, const char *remote_url, char **cause)
{
	memset(t, 0, sizeof *t);
	t->entries = calloc(2, sizeof *t->entries);
	if (t->entries == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	t->count = 2;
	t->default_id = REGISTRY_ID_REMOTE;
	if (registry_fill(&t->entries[0], REGISTRY_ID_REMOTE, "remote",
	    remote_url, cause) != 0)
		return -1;
	t->entries[0].auth = AUTH_TOKEN;	/* anonymous unless configured */
	return registry_fill(&t->entries[1], REGISTRY_ID_LOCAL, "local", NULL, cause);
}

/* Appends entry id; returns it for the caller to fill its auth, or NULL. */
struct registry *
registry_table_add(struct registry_table *t, int id, const char *name,
    const char *url, char **cause)
{
	struct registry	*n, r;

	if (id <= REGISTRY_ID_LOCAL || id > 9999) {
		*cause = util_printf("registry '%s': id must be 3..9999", name);
		return NULL;
	}
	if (registry_fill(&r, id, name, url, cause) != 0)
		return NULL;
	if (registry_find_id(t, id) != NULL) {
		*cause = util_printf("registry id %d is used twice", id);
		return NULL;
	}
	if (registry_find_name(t, name) != NULL) {
		*cause = util_printf("registry name '%s' is used twice", name);
		return NULL;
	}
	n = reallocarray(t->entries, t->count + 1, sizeof *n);
	if (n == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	t->entries = n;
	t->entries[t->count] = r;
	return &t->entries[t->count++];
}

/* Appends a package feed: a named upstream with the entries' auth. */
struct registry *
registry_table_add_feed(struct registry_table *t, const char *name,
    const char *url, char **cause)
{
	struct registry	*n, r;

	if (registry_fill(&r, 0, name, url, cause) != 0)
		return NULL;
	r.is_feed = 1;
	r.is_docker_hub = 0;
	if (registry_find_name(t, name) != NULL) {
		*cause = util_printf("feed name '%s' is used twice", name);
		return NULL;
	}
	if ((n = reallocarray(t->entries, t->count + 1, sizeof *n)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	t->entries = n;
	t->entries[t->count] = r;
	return &t->entries[t->count++];
}

/* Points an upstream entry at another URL (serve --upstream, config). */
int
registry_set_url(struct registry *r, const char *url, char **cause)
{
	struct registry	n;

	if (r->is_local) {
		*cause = util_printf("registry '%s' is the local cache and has "
		    "no URL", r->name);
		return -1;
	}
	if (registry_fill(&n, r->id, r->name, url, cause) != 0)
		return -1;
	memcpy(r->url, n.url, sizeof r->url);
	memcpy(r->host, n.host, sizeof r->host);
	r->is_docker_hub = n.is_docker_hub;
	return 0;
}

void
registry_table_free(struct registry_table *t)
{
	size_t	i;

	for (i = 0; i < t->count; i++) {
		if (t->entries[i].has_immutable)
			regfree(&t->entries[i].immutable);
		if (t->entries[i].has_namespaces)
			regfree(&t->entries[i].namespaces);
		secret_free(t->entries[i].password);
		secret_free(t->entries[i].bearer);
		identity_free(t->entries[i].identity);
		htpasswd_free(t->entries[i].client_users);
	}
	free(t->entries);
	t->entries = NULL;
	t->count = 0;
}

struct registry *
registry_find_id(struct registry_table *t, int id)
{
	size_t	i;

	for (i = 0; i < t->count; i++)
		if (t->entries[i].id == id)
			return &t->entries[i];
	return NULL;
}

struct registry *
registry_find_name(struct registry_table *t, const char *name)
{
	size_t	i;

	for (i = 0; i < t->count; i++)
		if (strcmp(t->entries[i].name, name) == 0)
			return &t->entries[i];
	return NULL;
}

/* An entry by name, or by id given as digits ("remote", "3"). */
struct registry *
registry_lookup(struct registry_table *t, const char *which)
{
	struct registry	*r;
	long		 id;

	if ((r = registry_find_name(t, which)) == NULL &&
	    util_parse_long(which, 1, 9999, &id) == 0)
		r = registry_find_id(t, (int)id);
	return r;
}

struct registry *
registry_default(struct registry_table *t)
{
	return registry_find_id(t, t->default_id);
}
