/*
 * Requests to a registry entry. Every upstream request of the proxy goes
 * through upstream_start, which injects the entry's authentication — and
 * is the only place that does:
 *
 *   basic   username and password (curl sends them to this host only)
 *   bearer  "Authorization: Bearer <access key>"
 *   token   the cached token for the scope; on a 401 with a Bearer
 *           challenge, one token fetch (token.c) and one retry
 *   mtls    the client certificate and key, if the identity is usable
 *
 * The client's own Authorization header is never passed on. A redirect to
 * another origin carries no credentials and no client certificate
 * (fetch.c follows redirects, by one rule for every request).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define UPSTREAM_MAGIC	0x55505354	/* "UPST" */

struct upstream_req {
	unsigned		 magic;
	struct proxy		*proxy;
	struct registry		*registry;
	char			*url;
	char			*accept;	/* "Accept: ..." or NULL */
	struct curl_slist	*extra;		/* more request headers */
	int			 head;
	size_t			 max_body;
	int			 timeout;
	char			 scope[TOKEN_SCOPE_MAX];
	struct fetch_callbacks	 cb;
	void			*arg;
	struct fetch		*fetch;		/* the running attempt */
	struct fetch		*held;		/* the 401, while a token comes */
	struct token_waiter	*waiter;
	int			 attempt;
	int			 want_token;
	struct challenge	 challenge;
	TAILQ_ENTRY(upstream_req) entry;	/* proxy->upstreams */
};

/* <url>/v2/<repo>/<what>[/<ref>][?<query>], or NULL. */
static char *
upstream_url(const struct registry *r, const char *repo, const char *what,
    const char *ref, const char *query)
{
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

/* Every Accept value the client sent, joined, or all manifest types. */
static char *
upstream_accept(struct evkeyvalq *client)
{
	struct evkeyval	*kv;
	char		*accept = NULL, *joined;

	if (client != NULL) {
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
	if (accept == NULL)
		return util_printf("%s", mediatype_accept_header);
	if (strstr(accept, "application/vnd.") == NULL) {
		/* Only wildcards (curl's "*\/\*"): registries want the types. */
		joined = util_printf("%s, %s", mediatype_accept_header, accept + 8);
		free(accept);
		accept = joined;
	}
	return accept;
}

static void
upstream_free(struct upstream_req *u)
{
	TAILQ_REMOVE(&u->proxy->upstreams, u, entry);
	if (u->held != NULL)
		fetch_release(u->held);
	if (u->waiter != NULL)
		token_forget(u->proxy->tokens, u->waiter);
	free(u->url);
	free(u->accept);
	curl_slist_free_all(u->extra);
	u->magic = 0;
	free(u);
}

static int	upstream_attempt(struct upstream_req *);

static int
upstream_headers_cb(struct fetch *f, long status, void *arg)
{
	struct upstream_req	*u = arg;

	if (status == 401 && (u->registry->auth & AUTH_TOKEN) && u->attempt == 0 &&
	    challenge_parse(fetch_header(f, "WWW-Authenticate"), &u->challenge) == 0) {
		u->want_token = 1;
		return -1;	/* ends this attempt; on_done asks for a token */
	}
	if (u->cb.on_headers != NULL)
		return u->cb.on_headers(f, status, u->arg);
	return 0;
}

static int
upstream_data_cb(struct fetch *f, const char *data, size_t len, void *arg)
{
	struct upstream_req	*u = arg;

	return u->cb.on_data(f, data, len, u->arg);
}

/*
 * The circuit breaker: an upstream that could not be reached or failed
 * (no answer, 5xx) is skipped for breaker_seconds, so the requests that
 * follow fall back on the cache at once instead of each waiting for a
 * timeout. Any answer closes it again.
 */
static void
upstream_breaker(struct upstream_req *u, struct fetch *f, const char *error)
{
	struct registry	*r = u->registry;
	long		 status = fetch_status(f);
	int		 secs = u->proxy->config->breaker_seconds;

	if (f == NULL)
		return;
	if ((status == 0 && error != NULL) || status >= 500) {
		if (secs > 0 && r->down_until <= time(NULL))
			log_warn("registry '%s': upstream failing (%s); skipping it "
			    "for %d s", r->name, status == 0 ? error : "5xx", secs);
		r->down_until = time(NULL) + secs;
	} else if (status > 0)
		r->down_until = 0;
}

/* Ends the request: the caller's on_done, then nothing more. */
static void
upstream_finish(struct upstream_req *u, struct fetch *f, const char *error)
{
	upstream_breaker(u, f, error);
	u->cb.on_done(f, error, u->arg);
	upstream_free(u);
}

static void
upstream_token_cb(const char *error, void *arg)
{
	struct upstream_req	*u = arg;
	char			 msg[512];

	u->waiter = NULL;
	if (error != NULL) {
		snprintf(msg, sizeof msg, "%s", error);
		upstream_finish(u, u->held, msg);
		return;
	}
	fetch_release(u->held);
	u->held = NULL;
	u->attempt++;
	if (upstream_attempt(u) != 0)
		upstream_finish(u, NULL, "cannot start the upstream request");
}

static void
upstream_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct upstream_req	*u = arg;
	char			*cause = NULL;

	u->fetch = NULL;
	if (!u->want_token) {
		upstream_finish(u, f, error);
		return;
	}
	u->want_token = 0;
	fetch_retain(f);
	u->held = f;
	if (token_request(u->proxy->tokens, u->registry, u->url, u->scope,
	    &u->challenge, upstream_token_cb, u, &u->waiter, &cause) != 0) {
		upstream_finish(u, f, cause);
		free(cause);
	}
}

static int
upstream_attempt(struct upstream_req *u)
{
	struct fetch_callbacks	 cb = { upstream_headers_cb,
	    u->cb.on_data != NULL ? upstream_data_cb : NULL, upstream_done_cb };
	struct registry		*r = u->registry;
	struct fetch_request	 fr;
	struct curl_slist	*h = NULL, *n, *x;
	const char		*token;
	char			*auth = NULL;

	memset(&fr, 0, sizeof fr);
	fr.url = u->url;
	fr.head = u->head;
	fr.max_body = u->max_body;
	fr.timeout = u->timeout;
	if (u->accept != NULL && (h = curl_slist_append(h, u->accept)) == NULL)
		return -1;
	for (x = u->extra; x != NULL; x = x->next) {
		if ((n = curl_slist_append(h, x->data)) == NULL) {
			curl_slist_free_all(h);
			return -1;
		}
		h = n;
	}
	if (r->auth & AUTH_BEARER)
		auth = util_printf("Authorization: Bearer %s", r->bearer);
	else if ((r->auth & AUTH_TOKEN) &&
	    (token = token_lookup(u->proxy->tokens, r, u->url, u->scope)) != NULL)
		auth = util_printf("Authorization: Bearer %s", token);
	else if ((r->auth & AUTH_BASIC) && !(r->auth & AUTH_TOKEN)) {
		fr.username = r->username;
		fr.password = r->password;
	}
	if (auth != NULL) {
		n = curl_slist_append(h, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (n == NULL) {
			curl_slist_free_all(h);
			return -1;
		}
		h = n;
	}
	fr.headers = h;
	fetch_request_tls(&fr, r);
	if ((u->fetch = fetch_start(u->proxy->fetcher, &fr, &cb, u)) == NULL) {
		curl_slist_free_all(h);
		return -1;
	}
	return 0;
}

/*
 * Starts a request to registry r for repository repo. Returns NULL with
 * *cause (never a secret) and *status (401 when our own credentials are
 * unusable, else 0) if it cannot be made at all.
 */
struct upstream_req *
upstream_start(struct proxy *p, struct registry *r,
    const struct upstream_request *ur, const struct fetch_callbacks *cb,
    void *arg, long *status, char **cause)
{
	struct upstream_req	*u;
	struct curl_slist	*x;
	char			 why[600];

	*status = 0;
	if (r->is_local || r->url[0] == '\0') {
		*cause = util_printf("registry '%s' never goes upstream", r->name);
		return NULL;
	}
	if (p->config->offline) {
		*cause = util_printf("offline mode: the network is not used");
		return NULL;
	}
	if (r->down_until > time(NULL)) {
		*cause = util_printf("upstream unreachable; not retried for another "
		    "%lld s (circuit breaker)", (long long)(r->down_until - time(NULL)));
		return NULL;
	}
	if ((r->auth & AUTH_MTLS) &&
	    (r->identity == NULL || !identity_usable(r->identity, why, sizeof why))) {
		*status = 401;
		*cause = util_printf("%s", r->identity == NULL ?
		    "no client certificate configured" : why);
		return NULL;
	}
	if ((u = calloc(1, sizeof *u)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	u->magic = UPSTREAM_MAGIC;
	u->proxy = p;
	TAILQ_INSERT_TAIL(&p->upstreams, u, entry);
	u->registry = r;
	u->head = ur->head;
	u->max_body = ur->max_body;
	u->timeout = ur->timeout;
	u->cb = *cb;
	u->arg = arg;
	snprintf(u->scope, sizeof u->scope, "repository:%s:pull",
	    ur->repo != NULL ? ur->repo : "");
	if (ur->url != NULL)
		u->url = util_printf("%s", ur->url);
	else
		u->url = upstream_url(r, ur->repo, ur->what, ur->ref, ur->query);
	for (x = ur->extra_headers; x != NULL; x = x->next)
		u->extra = curl_slist_append(u->extra, x->data);
	if (ur->accept_manifests)
		u->accept = upstream_accept(ur->client_headers);
	if (u->url == NULL || (ur->accept_manifests && u->accept == NULL) ||
	    upstream_attempt(u) != 0) {
		upstream_free(u);
		*cause = util_printf("cannot start the upstream request");
		return NULL;
	}
	return u;
}

/* Stops a request; its callbacks are never called again. */
void
upstream_cancel(struct upstream_req *u)
{
	if (u->fetch != NULL)
		fetch_cancel(u->fetch);
	upstream_free(u);
}

/*
 * At shutdown, while the clients' connections still exist: every request
 * in flight ends with an error for its caller (who answers its client),
 * and nothing is left behind.
 */
void
upstream_shutdown(struct proxy *p)
{
	struct upstream_req	*u;

	while ((u = TAILQ_FIRST(&p->upstreams)) != NULL) {
		if (u->fetch != NULL) {
			fetch_cancel(u->fetch);
			u->fetch = NULL;
		}
		u->cb.on_done(NULL, "pullgate is shutting down", u->arg);
		upstream_free(u);
	}
}
