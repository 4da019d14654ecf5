/*
 * The client side: one evhttp server with its limits set (header and body
 * size, timeouts; connections through conn.c), admitting only the
 * clients access.c lets in, dispatching /v2/ to the pull API and
 * answering /healthz itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "proxy.h"

/* Whether host (without port) is one of server_names or the listen address. */
static int
server_name_ours(const struct config *c, const char *host)
{
	size_t	i, len;

	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	for (i = 0; i < c->nserver_names; i++)
		if (strlen(c->server_names[i]) == len &&
		    strncasecmp(host, c->server_names[i], len) == 0)
			return 1;
	return strlen(c->listen_host) == len &&
	    strncasecmp(host, c->listen_host, len) == 0;
}

/*
 * Requests must name us: one of server_names or the listen address. A
 * request without a Host header (HTTP/1.0) is taken.
 */
static int
server_host_allowed(struct proxy *p, struct evhttp_request *req)
{
	const char	*host;

	if (evhttp_find_header(evhttp_request_get_input_headers(req), "Host") == NULL)
		return 1;
	if ((host = evhttp_request_get_host(req)) == NULL)
		return 0;
	return server_name_ours(p->config, host);
}

/*
 * Whether an absolute-form target names this server itself, as apt sends
 * the mapped /feeds/ URLs when its proxy setting is pullgate too (both
 * shipped snippets installed): then it is an ordinary request.
 */
static int
server_target_is_self(struct proxy *p, const struct evhttp_uri *uri)
{
	const char	*scheme = evhttp_uri_get_scheme(uri);
	const char	*host = evhttp_uri_get_host(uri);
	int		 port = evhttp_uri_get_port(uri);

	return scheme != NULL && strcasecmp(scheme, "http") == 0 &&
	    host != NULL && (port < 0 ? 80 : port) == p->config->listen_port &&
	    server_name_ours(p->config, host);
}

/* HTTP-proxy mode (apt, opkg): only hosts that a feed names. */
static void
server_proxy_request(struct proxy *p, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct registry	*f = NULL;
	const char	*scheme = evhttp_uri_get_scheme(uri);
	const char	*path = evhttp_uri_get_path(uri), *rel = NULL;
	char		 hostport[300], *decoded = NULL;
	size_t		 len;
	int		 port = evhttp_uri_get_port(uri);

	if (port > 0 && port != 80)
		snprintf(hostport, sizeof hostport, "%s:%d",
		    evhttp_uri_get_host(uri), port);
	else
		snprintf(hostport, sizeof hostport, "%s", evhttp_uri_get_host(uri));
	if (scheme != NULL && strcasecmp(scheme, "http") == 0 && path != NULL &&
	    (decoded = evhttp_uridecode(path, 0, &len)) != NULL &&
	    strlen(decoded) == len)
		f = feed_for_url(p, hostport, decoded, &rel);
	if (f == NULL) {
		log_info("refused: proxy request for %.100s, not a configured feed",
		    hostport);
		reply_error(req, 403, "DENIED", "pullgate is not an open proxy: "
		    "this host is not a configured feed");
		free(decoded);
		return;
	}
	feed_handle(p, req, f, rel);
	free(decoded);
}

/* /feeds/<name>/<path>: a feed by name. */
static void
server_feed_request(struct proxy *p, struct evhttp_request *req, const char *raw)
{
	struct registry	*f;
	char		*decoded, *slash;
	size_t		 len;

	if ((decoded = evhttp_uridecode(raw, 0, &len)) == NULL ||
	    strlen(decoded) != len || (slash = strchr(decoded, '/')) == NULL) {
		reply_error(req, 404, "NAME_UNKNOWN", "not a feed path");
		free(decoded);
		return;
	}
	*slash = '\0';
	if ((f = registry_find_name(&p->config->feeds, decoded)) == NULL) {
		reply_error(req, 404, "NAME_UNKNOWN", "no such feed");
		free(decoded);
		return;
	}
	feed_handle(p, req, f, slash + 1);
	free(decoded);
}

/* A response sent whole: its connection waits for the next; counted. */
static void
server_complete_cb(struct evhttp_request *req, void *arg)
{
	struct proxy	*p = arg;

	conn_request_done(p->conns, req);
	reqstat_end(req);
}

/* The route a request is counted under (api.c refines /v2/ ones). */
static enum stats_route
server_route(const struct evhttp_uri *uri, const char *path)
{
	if (evhttp_uri_get_host(uri) != NULL ||
	    (path != NULL && strncmp(path, "/feeds/", 7) == 0))
		return STATS_ROUTE_FEED;
	if (path == NULL)
		return STATS_ROUTE_OTHER;
	if (strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0)
		return STATS_ROUTE_API;
	if (strcmp(path, "/healthz") == 0)
		return STATS_ROUTE_HEALTH;
	if (strcmp(path, "/metrics") == 0)
		return STATS_ROUTE_METRICS;
	return STATS_ROUTE_OTHER;
}

static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct proxy		*p = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = evhttp_uri_get_path(uri);
	struct evbuffer		*b;

	conn_request(p->conns, req);
	reqstat_begin(req, server_route(uri, path));
	evhttp_request_set_on_complete_cb(req, server_complete_cb, p);
	/* Who may use the proxy at all, before the request does anything. */
	if (access_client(p, req) != 0)
		return;
	if (evhttp_uri_get_host(uri) != NULL && !server_target_is_self(p, uri)) {
		/* An absolute-form target: a configured feed, or refused. */
		server_proxy_request(p, req, uri);
		return;
	}
	if (!server_host_allowed(p, req)) {
		log_info("refused: Host %.100s is not a configured server name",
		    evhttp_request_get_host(req));
		reply_error(req, 403, "DENIED", "unknown Host: this proxy answers "
		    "only for its configured server names");
		return;
	}
	if (path == NULL || path[0] != '/') {
		reply_error(req, 400, "UNSUPPORTED", "malformed request target");
		return;
	}
	log_debug("%s: %d %.300s", __func__, (int)evhttp_request_get_command(req),
	    evhttp_request_get_uri(req));
	if (strcmp(path, "/v2") == 0 || strncmp(path, "/v2/", 4) == 0) {
		api_handle(p, req, path);
		return;
	}
	if (strncmp(path, "/feeds/", 7) == 0) {
		server_feed_request(p, req, path + 7);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		if ((b = evbuffer_new()) != NULL)
			evbuffer_add_printf(b, "ok\n");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain");
		reply_send(req, 200, b);
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics_handle(p, req);
		return;
	}
	reply_error(req, 404, "NAME_UNKNOWN", "not found: pullgate serves /v2/");
}

int
server_start(struct proxy *p, char **cause)
{
	const struct config		*c = p->config;
	struct evhttp_bound_socket	*bound;

	if ((p->http = evhttp_new(p->base)) == NULL) {
		*cause = util_printf("cannot create the HTTP server");
		return -1;
	}
	evhttp_set_max_headers_size(p->http, (ev_ssize_t)c->max_header_bytes);
	evhttp_set_max_body_size(p->http, (ev_ssize_t)c->max_body_bytes);
	evhttp_set_timeout(p->http, c->client_timeout);
	evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(p->http, server_request_cb, p);
	/* A request whose credentials were checked comes back the same way. */
	if (access_start(p, server_request_cb, p, cause) != 0)
		return -1;
	if ((bound = evhttp_bind_socket_with_handle(p->http, c->listen_host,
	    (ev_uint16_t)c->listen_port)) == NULL) {
		*cause = util_printf("cannot listen on %s:%d (address in use, "
		    "or not an address of this machine)", c->listen_host,
		    c->listen_port);
		return -1;
	}
	if ((p->conns = conn_init(p, p->http, bound, cause)) == NULL)
		return -1;
	log_info("listening on %s:%d", c->listen_host, c->listen_port);
	return 0;
}

void
server_stop(struct proxy *p)
{
	conn_unlisten(p->conns);
	if (p->http != NULL)
		evhttp_free(p->http);
	p->http = NULL;
	conn_free(p->conns);
	p->conns = NULL;
	access_stop(p);
}
