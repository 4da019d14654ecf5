/*
 * The /v2/ pull API: parse the path, pick the registry entry, validate
 * names and references, and hand the request to its handler. Nothing that
 * fails validation here ever reaches the cache or the network.
 *
 * Routing, in order: ?ns=<host> (containerd and k3s mirrors) matched
 * against the entries' hosts; a first path component equal to an entry's
 * name or id; one an entry's namespaces claim; otherwise the parent, or
 * the default entry (proxy/config/registry.c has the rules).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

/* Splits "/v2/<name>/<kind>/<ref>" into ar; returns -1 after replying. */
static int
api_parse(struct api_request *ar, const char *path)
{
	struct apipath	ap;

	if (apipath_parse(path, &ap) != 0) {
		reply_error(ar->req, ap.status, ap.code, ap.message);
		return -1;
	}
	ar->kind = ap.kind;
	memcpy(ar->repo, ap.repo, sizeof ar->repo);
	memcpy(ar->ref, ap.ref, sizeof ar->ref);
	return 0;
}

/*
 * Picks the entry: ns=, then the path (registry_route: a leading
 * "<name>/" or "<id>/", stripped; a namespace an entry claims; the
 * default); *rule is the counter of the rule that chose it.
 */
static int
api_route(struct api_request *ar, const char *query, enum stats_counter *rule)
{
	struct registry_table	*t = &ar->proxy->config->registries;
	struct evkeyvalq	 params;
	struct registry		*r = NULL;
	const char		*ns = NULL;
	enum registry_rule	 how;
	size_t			 strip;
	char			 key[REFERENCE_NAME_MAX + 1], *cause = NULL;

	TAILQ_INIT(&params);
	if (query != NULL && evhttp_parse_query_str(query, &params) == 0 &&
	    (ns = evhttp_find_header(&params, "ns")) != NULL) {
		if ((r = registry_route_ns(t, ns)) == NULL) {
			log_info("refused: ns=%.100s names no configured registry", ns);
			evhttp_clear_headers(&params);
			reply_error(ar->req, 403, "DENIED",
			    "no configured registry serves this host");
			return -1;
		}
		*rule = r->is_parent ? STATS_ROUTED_PARENT : STATS_ROUTED_NS;
	}
	if (r == NULL) {
		ns = NULL;
		r = registry_route(t, ar->repo, &strip, &how);
		memmove(ar->repo, ar->repo + strip, strlen(ar->repo + strip) + 1);
		*rule = how == REGISTRY_RULE_NAME ? STATS_ROUTED_NAME :
		    how == REGISTRY_RULE_NAMESPACE ? STATS_ROUTED_NAMESPACE :
		    how == REGISTRY_RULE_PARENT ? STATS_ROUTED_PARENT :
		    STATS_ROUTED_DEFAULT;
	}
	/* To a parent: the client's path and ns=, under a name of their own. */
	if (r->is_parent && (registry_parent_key(ns, ar->repo, key, sizeof key,
	    &cause) != 0 || util_strlcpy(ar->repo, key, sizeof ar->repo) != 0)) {
		evhttp_clear_headers(&params);
		reply_error(ar->req, 400, "NAME_INVALID", cause != NULL ? cause :
		    "repository name too long");
		free(cause);
		return -1;
	}
	evhttp_clear_headers(&params);
	ar->registry = r;
	/* One name per image, in the cache and upstream. */
	if (registry_upstream_name(r, ar->repo, ar->repo, sizeof ar->repo) != 0) {
		reply_error(ar->req, 400, "NAME_INVALID", "repository name too long");
		return -1;
	}
	return 0;
}

void
api_handle(struct proxy *proxy, struct evhttp_request *req, const char *rawpath)
{
	struct api_request	 ar;
	const char		*query;
	char			*path = NULL;
	size_t			 len;
	enum evhttp_cmd_type	 method;
	enum stats_counter	 rule;

	memset(&ar, 0, sizeof ar);
	ar.proxy = proxy;
	ar.req = req;
	method = evhttp_request_get_command(req);
	ar.head = (method == EVHTTP_REQ_HEAD);
	ar.rawpath = rawpath;

	if (strcmp(rawpath, "/v2") == 0 || strcmp(rawpath, "/v2/") == 0) {
		if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
			reply_error(req, 405, "UNSUPPORTED", "method not allowed");
			return;
		}
		if (access_ping(proxy, req) != 0)
			return;
		struct evbuffer *b = evbuffer_new();
		if (b != NULL)
			evbuffer_add(b, "{}", 2);
		reply_json(req, 200, b);
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	path = evhttp_uridecode(rawpath + 4, 0, &len);
	if (path == NULL || strlen(path) != len || len == 0) {
		reply_error(req, 400, "NAME_INVALID", "malformed path");
		goto out;
	}
	if (api_parse(&ar, path) != 0)
		goto out;
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (api_route(&ar, query, &rule) != 0)
		goto out;
	/* The one place a request's entry is known: may this client use it? */
	if (access_entry(proxy, req, ar.registry) != ACCESS_ALLOWED)
		goto out;
	stats_add(rule, 1);
	if (!reference_valid_name(ar.repo)) {
		reply_error(req, 400, "NAME_INVALID", "invalid repository name");
		goto out;
	}
	if (ar.kind == APIPATH_UPLOAD || (method != EVHTTP_REQ_GET &&
	    method != EVHTTP_REQ_HEAD)) {
		reply_error(req, 405, "UNSUPPORTED", "pullgate is a read-only "
		    "pull-through cache: push and delete are not supported");
		goto out;
	}
	reqstat_route(req, ar.kind == APIPATH_MANIFEST ? STATS_ROUTE_MANIFEST :
	    ar.kind == APIPATH_BLOB ? STATS_ROUTE_BLOB :
	    ar.kind == APIPATH_TAGS ? STATS_ROUTE_TAGS : STATS_ROUTE_API);
	switch (ar.kind) {
	case APIPATH_MANIFEST:
		manifest_handle(&ar);
		break;
	case APIPATH_BLOB:
		blob_handle(&ar);
		break;
	case APIPATH_TAGS:
		tags_handle(&ar);
		break;
	case APIPATH_REFERRERS:
		referrers_handle(&ar);
		break;
	default:
		reply_error(req, 404, "NAME_UNKNOWN", "unknown API path");
		break;
	}
out:
	free(path);
}
