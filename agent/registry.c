/*
 * The numbered registry table. Entry 1 "remote" is the public default
 * (Docker Hub unless configured otherwise), entry 2 "local" is the cache
 * alone; entries 3 and up come from the configuration.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

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
	return registry_fill(&t->entries[1], REGISTRY_ID_LOCAL, "local", NULL, cause);
}

int
registry_table_add(struct registry_table *t, int id, const char *name,
    const char *url, char **cause)
{
	struct registry	*n, r;

	if (id <= REGISTRY_ID_LOCAL || id > 9999) {
		*cause = util_printf("registry '%s': id must be 3..9999", name);
		return -1;
	}
	if (registry_fill(&r, id, name, url, cause) != 0)
		return -1;
	if (registry_find_id(t, id) != NULL) {
		*cause = util_printf("registry id %d is used twice", id);
		return -1;
	}
	if (registry_find_name(t, name) != NULL) {
		*cause = util_printf("registry name '%s' is used twice", name);
		return -1;
	}
	n = reallocarray(t->entries, t->count + 1, sizeof *n);
	if (n == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	t->entries = n;
	t->entries[t->count++] = r;
	return 0;
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
	*r = n;
	return 0;
}

void
registry_table_free(struct registry_table *t)
{
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

struct registry *
registry_default(struct registry_table *t)
{
	return registry_find_id(t, t->default_id);
}
