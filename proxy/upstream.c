/*
 * Requests to a registry entry: URLs and headers. Credential injection
 * for the entry is added here, and only here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

/* The manifest types we ask for when the client named none. */
static const char *upstream_default_accept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

/*
 * The repository name the upstream knows: Docker Hub keeps one-component
 * official images under library/.
 */
const char *
upstream_name(const struct registry *r, const char *repo, char *buf, size_t len)
{
	if (r->is_docker_hub && strchr(repo, '/') == NULL) {
		snprintf(buf, len, "library/%s", repo);
		return buf;
	}
	return repo;
}

/* <url>/v2/<repo>/<what>[/<ref>][?<query>], or NULL. */
char *
upstream_url(const struct registry *r, const char *repo, const char *what,
    const char *ref, const char *query)
{
	char	name[REFERENCE_NAME_MAX + 16];

	repo = upstream_name(r, repo, name, sizeof name);
	return util_printf("%s/v2/%s/%s%s%s%s%s", r->url, repo, what,
	    ref != NULL ? "/" : "", ref != NULL ? ref : "",
	    query != NULL ? "?" : "", query != NULL ? query : "");
}

static int
upstream_header_value_ok(const char *v)
{
	for (; *v != '\0'; v++)
		if (iscntrl((unsigned char)*v))
			return 0;
	return 1;
}

/*
 * The headers of an upstream request: for manifests (want_accept) every
 * Accept value the client sent, joined, or all manifest types we know.
 */
struct curl_slist *
upstream_headers(const struct registry *r, struct evkeyvalq *client,
    int want_accept)
{
	struct curl_slist	*list = NULL, *n;
	struct evkeyval		*kv;
	char			*accept = NULL, *joined;

	(void)r;
	if (want_accept && client != NULL) {
		TAILQ_FOREACH(kv, client, next) {
			if (strcasecmp(kv->key, "Accept") != 0 ||
			    !upstream_header_value_ok(kv->value) ||
			    kv->value[0] == '\0')
				continue;
			joined = (accept == NULL) ?
			    util_printf("Accept: %s", kv->value) :
			    util_printf("%s, %s", accept, kv->value);
			free(accept);
			if ((accept = joined) == NULL)
				return NULL;
			if (strlen(accept) > 4096)
				break;
		}
	}
	if (want_accept) {
		n = curl_slist_append(list, accept != NULL ? accept :
		    upstream_default_accept);
		free(accept);
		if (n == NULL)
			return NULL;
		list = n;
	}
	return list;
}
