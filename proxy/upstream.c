/*
 * Requests to a registry entry. Every upstream request of the proxy goes
 * through upstream_start, which injects the entry's authentication — and
 * is the only place that does:
 *
 *   basic   username and password (curl sends them to this host only):
 *           stored, or from outside (credhelper.c), made ready before
 *           the first attempt; a 401 (from the upstream or its token
 *           service) to a pair from outside asks for it again, and the
 *           request starts over once
 *   bearer  "Authorization: Bearer <access key>"
 *   token   the cached token for the scope; on a 401 with a Bearer
 *           challenge, one token fetch (token.c) and one retry
 *   mtls    the client certificate and key, if the identity is usable
 *
 * The client's own Authorization header is never passed on, nor its
 * Accept: a manifest is always asked for with every manifest type, so
 * the answer (a tag's index) is the same whoever asked. A redirect to
 * another origin carries no credentials and no client certificate
 * (fetch.c follows redirects, by one rule for every request).
 *
 * Upstream work is bounded: identical requests in flight are one call
 * (upstream_key), and each call holds one of its entry's slots
 * (entryqueue.c) while it runs, waiting in line for one if needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy.h"

#define UPSTREAM_MAGIC	0x55505354	/* "UPST" */
#define UPSTREAM_CALL_MAGIC	0x5550434c	/* "UPCL" */

/* What a request that got no slot in time ends with (upstream_busy). */
static const char upstream_queue_timeout[] =
    "too many requests to this upstream at once: no slot within the queue "
    "timeout";

/*
 * One request to an entry as it goes out: identical requests in flight
 * (the same key) are one call with several callers, so 20 clients asking
 * for one uncached tag make one upstream GET. It holds one of its entry's
 * slots (entryqueue.c) while it runs.
 */
struct upstream_call {
	unsigned		 magic;
	struct proxy		*proxy;
	struct registry		*registry;
	char			*key;		/* NULL: never shared */
	char			*url;
	char			*accept;	/* "Accept: ..." or NULL */
	struct curl_slist	*extra;		/* more request headers */
	int			 head;
	size_t			 max_body;
	int			 timeout;
	char			 scope[TOKEN_SCOPE_MAX];
	struct fetch_callbacks	 cb;		/* the only caller's, if unshared */
	struct entryqueue_ticket *ticket;	/* its slot, or its place in line */
	struct fetch		*fetch;		/* the running attempt */
	struct fetch		*held;		/* the 401, while a token comes */
	struct token_waiter	*waiter;
	struct credhelper_waiter *cwaiter;	/* its credentials, if coming */
	int			 attempt;
	int			 want_token;
	int			 want_creds;	/* a 401: start over with new ones */
	int			 creds_retried;	/* once per request */
	unsigned		 cred_gen;	/* the pair the attempt sent */
	struct challenge	 challenge;
	TAILQ_HEAD(, upstream_req) callers;
	TAILQ_ENTRY(upstream_call) entry;	/* proxy->upstreams */
};

/* One caller's handle on a call. */
struct upstream_req {
	unsigned		 magic;
	struct upstream_call	*call;
	struct fetch_callbacks	 cb;
	void			*arg;
	TAILQ_ENTRY(upstream_req) entry;	/* call->callers */
};

/*
 * <url>/v2/<repo>/<what>[/<ref>][?<query>], or NULL. To a parent, repo is
 * the child's name for it (registry_parent_key): the client's path, and
 * its ns= again.
 */
static char *
upstream_url(const struct registry *r, const char *repo, const char *what,
    const char *ref, const char *query)
{
	char	path[REFERENCE_NAME_MAX + 1], ns[256];

	if (!r->is_parent || registry_parent_path(repo, path, sizeof path, ns,
	    sizeof ns) != 0 || ns[0] == '\0')
		return util_printf("%s/v2/%s/%s%s%s%s%s", r->url, repo, what,
		    ref != NULL ? "/" : "", ref != NULL ? ref : "",
		    query != NULL ? "?" : "", query != NULL ? query : "");
	return util_printf("%s/v2/%s/%s%s%s?ns=%s%s%s", r->url, path, what,
	    ref != NULL ? "/" : "", ref != NULL ? ref : "", ns,
	    query != NULL ? "&" : "", query != NULL ? query : "");
}

static void
upstream_call_free(struct upstream_call *c)
{
	TAILQ_REMOVE(&c->proxy->upstreams, c, entry);
	if (c->fetch != NULL)
		fetch_cancel(c->fetch);
	if (c->held != NULL)
		fetch_release(c->held);
	if (c->waiter != NULL)
		token_forget(c->proxy->tokens, c->waiter);
	if (c->cwaiter != NULL)
		credhelper_forget(c->proxy->credhelpers, c->cwaiter);
	if (c->ticket != NULL)
		entryqueue_leave(c->proxy->queue, c->ticket);
	free(c->key);
	free(c->url);
	free(c->accept);
	curl_slist_free_all(c->extra);
	c->magic = 0;
	free(c);
}

static int	upstream_attempt(struct upstream_call *);
static int	upstream_begin(struct upstream_call *, char **);

/*
 * Whether a 401 to the call's credentials may go away with new ones: a
 * pair from outside, not asked for again yet by this request.
 */
static int
upstream_refresh(struct upstream_call *c)
{
	if (c->creds_retried || !(c->registry->auth & AUTH_BASIC) ||
	    !credhelper_refused(c->proxy->credhelpers, c->registry, c->cred_gen))
		return 0;
	c->creds_retried = 1;
	return 1;
}

static int
upstream_headers_cb(struct fetch *f, long status, void *arg)
{
	struct upstream_call	*c = arg;

	if (status == 401 && (c->registry->auth & AUTH_TOKEN) && c->attempt == 0 &&
	    challenge_parse(fetch_header(f, "WWW-Authenticate"), &c->challenge) == 0) {
		c->want_token = 1;
		return -1;	/* ends this attempt; on_done asks for a token */
	}
	if (status == 401 && upstream_refresh(c)) {
		c->want_creds = 1;
		return -1;	/* ends this attempt; on_done starts over */
	}
	if (c->cb.on_headers != NULL)	/* unshared calls only */
		return c->cb.on_headers(f, status,
		    TAILQ_FIRST(&c->callers)->arg);
	return 0;
}

static int
upstream_data_cb(struct fetch *f, const char *data, size_t len, void *arg)
{
	struct upstream_call	*c = arg;
	int			 rc;

	rc = c->cb.on_data(f, data, len, TAILQ_FIRST(&c->callers)->arg);
	if (rc != FETCH_PAUSE) {	/* paused: curl hands them over again */
		stats_add(STATS_UPSTREAM_BYTES, (int64_t)len);
		stats_entry_add(c->registry->name, STATS_ENTRY_BYTES,
		    (int64_t)len);
	}
	return rc;
}

/*
 * The circuit breaker: an upstream that could not be reached or failed
 * (no answer, 5xx) is skipped for breaker_seconds, so the requests that
 * follow fall back on the cache at once instead of each waiting for a
 * timeout. Any answer closes it again.
 */
static void
upstream_breaker(struct upstream_call *c, struct fetch *f, const char *error)
{
	struct registry	*r = c->registry;
	long		 status = fetch_status(f);
	int		 secs = c->proxy->config->breaker_seconds;

	if (f == NULL)
		return;
	/* A parent's 5xx is its upstream's failure, not its own. */
	if ((status == 0 && error != NULL) || (status >= 500 && !r->is_parent)) {
		r->last_failure = time(NULL);
		snprintf(r->last_error, sizeof r->last_error, "%s",
		    status == 0 ? error : "5xx");
		if (secs > 0 && r->down_until <= time(NULL)) {
			stats_entry_add(r->name, STATS_ENTRY_BREAKER_OPENINGS, 1);
			log_warn("registry '%s': upstream failing (%s); skipping it "
			    "for %d s", r->name, status == 0 ? error : "5xx", secs);
		}
		r->down_until = time(NULL) + secs;
	} else if (status > 0) {
		r->down_until = 0;
		r->last_success = time(NULL);
	}
}

/*
 * Ends the call: every caller's on_done, in the order they came, then
 * nothing more. The slot is given back first, so the next in line starts.
 */
static void
upstream_finish(struct upstream_call *c, struct fetch *f, const char *error)
{
	struct upstream_req	*u;

	upstream_breaker(c, f, error);
	stats_entry_add(c->registry->name, STATS_ENTRY_REQUESTS, 1);
	if (error != NULL || f == NULL || fetch_status(f) >= 500)
		stats_entry_add(c->registry->name, STATS_ENTRY_ERRORS, 1);
	free(c->key);		/* a request made from a callback starts anew */
	c->key = NULL;
	if (c->ticket != NULL) {
		entryqueue_leave(c->proxy->queue, c->ticket);
		c->ticket = NULL;
	}
	if (f != NULL)
		fetch_retain(f);	/* for callers after the one releasing it */
	while ((u = TAILQ_FIRST(&c->callers)) != NULL) {
		TAILQ_REMOVE(&c->callers, u, entry);
		u->cb.on_done(f, error, u->arg);
		u->magic = 0;
		free(u);
	}
	if (f != NULL)
		fetch_release(f);
	upstream_call_free(c);
}

/* Starts the call over (new credentials), or ends it with why not. */
static void
upstream_restart(struct upstream_call *c)
{
	char	*cause = NULL;

	c->attempt = 0;
	if (upstream_begin(c, &cause) != 0) {
		upstream_finish(c, NULL, cause);
		free(cause);
	}
}

static void
upstream_token_cb(const char *error, long status, void *arg)
{
	struct upstream_call	*c = arg;
	char			 msg[512];
	struct fetch		*held = c->held;

	c->waiter = NULL;
	if (error != NULL && (status == 401 || status == 403) &&
	    upstream_refresh(c)) {
		c->held = NULL;
		fetch_release(held);
		upstream_restart(c);
		return;
	}
	if (error != NULL) {
		snprintf(msg, sizeof msg, "%s", error);
		c->held = NULL;
		upstream_finish(c, held, msg);
		fetch_release(held);
		return;
	}
	fetch_release(c->held);
	c->held = NULL;
	c->attempt++;
	if (upstream_attempt(c) != 0)
		upstream_finish(c, NULL, "cannot start the upstream request");
}

static void
upstream_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct upstream_call	*c = arg;
	char			*cause = NULL;

	c->fetch = NULL;
	if (c->want_creds) {
		c->want_creds = 0;
		upstream_restart(c);
		return;
	}
	if (!c->want_token) {
		upstream_finish(c, f, error);
		return;
	}
	c->want_token = 0;
	fetch_retain(f);
	c->held = f;
	if (token_request(c->proxy->tokens, c->registry, c->url, c->scope,
	    &c->challenge, upstream_token_cb, c, &c->waiter, &cause) != 0) {
		c->held = NULL;
		upstream_finish(c, f, cause);
		fetch_release(f);
		free(cause);
	}
}

static int
upstream_attempt(struct upstream_call *c)
{
	struct fetch_callbacks	 cb = { upstream_headers_cb,
	    c->cb.on_data != NULL ? upstream_data_cb : NULL, upstream_done_cb };
	struct registry		*r = c->registry;
	struct fetch_request	 fr;
	struct curl_slist	*h = NULL, *n, *x;
	const char		*token;
	char			*auth = NULL;

	memset(&fr, 0, sizeof fr);
	fr.url = c->url;
	fr.head = c->head;
	fr.max_body = c->max_body;
	fr.timeout = c->timeout;
	if (c->accept != NULL && (h = curl_slist_append(h, c->accept)) == NULL)
		return -1;
	for (x = c->extra; x != NULL; x = x->next) {
		if ((n = curl_slist_append(h, x->data)) == NULL) {
			curl_slist_free_all(h);
			return -1;
		}
		h = n;
	}
	if (r->auth & AUTH_BEARER)
		auth = util_printf("Authorization: Bearer %s", r->bearer);
	else if ((r->auth & AUTH_TOKEN) &&
	    (token = token_lookup(c->proxy->tokens, r, c->url, c->scope)) != NULL)
		auth = util_printf("Authorization: Bearer %s", token);
	else if ((r->auth & AUTH_BASIC) && !(r->auth & AUTH_TOKEN)) {
		fr.username = r->username;
		fr.password = r->password;
	}
	c->cred_gen = r->cred.gen;	/* what a token fetch sends too */
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
	if ((c->fetch = fetch_start(c->proxy->fetcher, &fr, &cb, c)) == NULL) {
		curl_slist_free_all(h);
		return -1;
	}
	stats_add(STATS_UPSTREAM_REQUESTS, 1);
	return 0;
}

/* The entry's credentials came (error NULL), or could not be had. */
static void
upstream_creds_cb(const char *error, void *arg)
{
	struct upstream_call	*c = arg;

	c->cwaiter = NULL;
	if (error != NULL)
		upstream_finish(c, NULL, error);
	else if (upstream_attempt(c) != 0)
		upstream_finish(c, NULL, "cannot start the upstream request");
}

/*
 * The call holds its slot: its first attempt, once the entry's
 * credentials are ready (credhelper.c), at once or from
 * upstream_creds_cb. -1 with *cause if it cannot be made.
 */
static int
upstream_begin(struct upstream_call *c, char **cause)
{
	switch (credhelper_ready(c->proxy->credhelpers, c->registry,
	    upstream_creds_cb, c, &c->cwaiter, cause)) {
	case 0:
		if (upstream_attempt(c) == 0)
			return 0;
		*cause = util_printf("cannot start the upstream request");
		return -1;
	case 1:
		return 0;
	default:
		return -1;
	}
}

/* The call got its slot after waiting in line, or waited too long. */
static void
upstream_slot_cb(int granted, void *arg)
{
	struct upstream_call	*c = arg;
	char			*cause = NULL;

	if (c->magic != UPSTREAM_CALL_MAGIC)
		fatal("%s: bad magic", __func__);
	if (!granted) {
		c->ticket = NULL;	/* gone */
		log_warn("registry '%s': %s", c->registry->name,
		    upstream_queue_timeout);
		upstream_finish(c, NULL, upstream_queue_timeout);
		return;
	}
	if (upstream_begin(c, &cause) != 0) {
		upstream_finish(c, NULL, cause);
		free(cause);
	}
}

/*
 * Whether a request ended because it got no slot of its entry in time
 * (error is its on_done's): its caller answers 503 with Retry-After, or
 * from the cache.
 */
int
upstream_busy(const char *error)
{
	return error == upstream_queue_timeout;
}

/*
 * What makes two requests one: entry, method, URL, the Accept sent, and
 * what the answer may be. Only requests whose whole answer goes to
 * on_done (no streaming callbacks, no extra headers) are shared.
 */
static char *
upstream_key(const struct registry *r, const struct upstream_call *c,
    const struct fetch_callbacks *cb)
{
	if (cb->on_headers != NULL || cb->on_data != NULL || c->extra != NULL)
		return NULL;
	return util_printf("%s %s %s|%s|%zu|%d", r->name,
	    c->head ? "HEAD" : "GET", c->url, c->accept != NULL ? c->accept : "",
	    c->max_body, c->timeout);
}

static struct upstream_call *
upstream_find(struct proxy *p, const char *key)
{
	struct upstream_call	*c;

	TAILQ_FOREACH(c, &p->upstreams, entry)
		if (c->key != NULL && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static struct upstream_req *
upstream_caller(struct upstream_call *c, const struct fetch_callbacks *cb,
    void *arg)
{
	struct upstream_req	*u;

	if ((u = calloc(1, sizeof *u)) == NULL)
		return NULL;
	u->magic = UPSTREAM_MAGIC;
	u->call = c;
	u->cb = *cb;
	u->arg = arg;
	TAILQ_INSERT_TAIL(&c->callers, u, entry);
	return u;
}

/*
 * Starts a request to registry r for repository repo, or joins the
 * identical one in flight. It waits for a slot of r's if all are taken.
 * Returns NULL with *cause (never a secret) and *status (401 when our own
 * credentials are unusable, else 0) if it cannot be made at all.
 */
struct upstream_req *
upstream_start(struct proxy *p, struct registry *r,
    const struct upstream_request *ur, const struct fetch_callbacks *cb,
    void *arg, long *status, char **cause)
{
	struct upstream_call	*c, *same;
	struct upstream_req	*u;
	struct curl_slist	*x;
	char			 why[600], *why_not = NULL;
	int			 granted;

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
	if ((c = calloc(1, sizeof *c)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	c->magic = UPSTREAM_CALL_MAGIC;
	c->proxy = p;
	TAILQ_INIT(&c->callers);
	TAILQ_INSERT_TAIL(&p->upstreams, c, entry);
	c->registry = r;
	c->head = ur->head;
	c->max_body = ur->max_body;
	c->timeout = ur->timeout;
	c->cb = *cb;
	snprintf(c->scope, sizeof c->scope, "repository:%s:pull",
	    ur->repo != NULL ? ur->repo : "");
	if (ur->url != NULL)
		c->url = util_printf("%s", ur->url);
	else
		c->url = upstream_url(r, ur->repo, ur->what, ur->ref, ur->query);
	for (x = ur->extra_headers; x != NULL; x = x->next)
		c->extra = curl_slist_append(c->extra, x->data);
	if (ur->accept_manifests)
		c->accept = util_printf("%s", mediatype_accept_header);
	if (c->url == NULL || (ur->accept_manifests && c->accept == NULL))
		goto fail;
	c->key = upstream_key(r, c, cb);
	if (c->key != NULL && (same = upstream_find(p, c->key)) != NULL &&
	    same != c) {
		upstream_call_free(c);
		if ((u = upstream_caller(same, cb, arg)) == NULL) {
			*cause = util_printf("out of memory");
			return NULL;
		}
		stats_add(STATS_UPSTREAM_SHARED, 1);
		log_debug("%s: %s: joined the request in flight", __func__,
		    same->url);
		return u;
	}
	if ((u = upstream_caller(c, cb, arg)) == NULL)
		goto fail;
	c->ticket = entryqueue_enter(p->queue, r, upstream_slot_cb, c, &granted);
	if (c->ticket == NULL || (granted && upstream_begin(c, &why_not) != 0))
		goto fail;
	if (!granted)
		log_debug("%s: %s: waiting for a slot", __func__, c->url);
	return u;
fail:
	while ((u = TAILQ_FIRST(&c->callers)) != NULL) {
		TAILQ_REMOVE(&c->callers, u, entry);
		free(u);
	}
	upstream_call_free(c);
	*cause = why_not != NULL ? why_not :
	    util_printf("cannot start the upstream request");
	return NULL;
}

/* Stops a caller's request; its callbacks are never called again. */
void
upstream_cancel(struct upstream_req *u)
{
	struct upstream_call	*c = u->call;

	if (u->magic != UPSTREAM_MAGIC)
		fatal("%s: bad magic", __func__);
	TAILQ_REMOVE(&c->callers, u, entry);
	u->magic = 0;
	free(u);
	if (TAILQ_EMPTY(&c->callers))
		upstream_call_free(c);	/* nobody waits for it any more */
}

/*
 * At shutdown, while the clients' connections still exist: every request
 * in flight or in line ends with an error for its callers (who answer
 * their clients), and nothing is left behind.
 */
void
upstream_shutdown(struct proxy *p)
{
	struct upstream_call	*c;

	while ((c = TAILQ_FIRST(&p->upstreams)) != NULL) {
		if (c->fetch != NULL) {
			fetch_cancel(c->fetch);
			c->fetch = NULL;
		}
		upstream_finish(c, NULL, "pullgate is shutting down");
	}
}
