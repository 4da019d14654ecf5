/*
 * The Docker token flow's tokens: fetched from the realm a 401 named (only
 * if the entry trusts the realm's host, and never over plain http with an
 * https entry's credentials), anonymously or with the entry's
 * credentials, and cached until they expire. A token is keyed to what it
 * was issued for: the entry (the entry itself, not a number: every feed
 * has id 0, and two entries on one realm may hold different credentials),
 * the origin that asked for it (scheme, host, port of the challenged
 * URL), and the scope. It is only ever sent back to that entry's requests
 * to that origin. Several requests that need the same token wait on one
 * fetch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "proxy.h"

#define TOKEN_MAX_CACHED	256
#define TOKEN_ORIGIN_MAX	300

/* What a token is for: the entry, the origin it was issued for, the scope. */
struct token_key {
	const struct registry	*registry;
	char			 origin[TOKEN_ORIGIN_MAX];
	char			 scope[TOKEN_SCOPE_MAX];
};

struct token_entry {
	TAILQ_ENTRY(token_entry) entry;
	struct token_key	 key;
	char			*token;
	time_t			 expires;
};

struct token_waiter {
	TAILQ_ENTRY(token_waiter) entry;
	token_cb		 cb;
	void			*arg;
};

struct token_pending {
	TAILQ_ENTRY(token_pending) entry;
	struct tokens		*tokens;
	struct registry		*registry;
	struct token_key	 key;
	struct fetch		*fetch;
	TAILQ_HEAD(, token_waiter) waiters;
};

struct tokens {
	struct proxy			*proxy;
	TAILQ_HEAD(, token_entry)	 cached;
	TAILQ_HEAD(, token_pending)	 pending;
	size_t				 count;
};

struct tokens *
tokens_new(struct proxy *p)
{
	struct tokens	*t;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	t->proxy = p;
	TAILQ_INIT(&t->cached);
	TAILQ_INIT(&t->pending);
	return t;
}

static void
token_entry_free(struct tokens *t, struct token_entry *e)
{
	TAILQ_REMOVE(&t->cached, e, entry);
	t->count--;
	secret_free(e->token);
	free(e);
}

/*
 * Forgets every cached token (a reload: they were keyed by entries of the
 * configuration that was in force).
 */
void
tokens_flush(struct tokens *t)
{
	struct token_entry	*e;

	while ((e = TAILQ_FIRST(&t->cached)) != NULL)
		token_entry_free(t, e);
}

/* No token is being fetched. */
int
tokens_idle(const struct tokens *t)
{
	return TAILQ_EMPTY(&t->pending);
}

/* At shutdown; the fetches of pending tokens are the fetcher's to free. */
void
tokens_free(struct tokens *t)
{
	struct token_entry	*e;
	struct token_pending	*tp;
	struct token_waiter	*w;

	if (t == NULL)
		return;
	while ((e = TAILQ_FIRST(&t->cached)) != NULL)
		token_entry_free(t, e);
	while ((tp = TAILQ_FIRST(&t->pending)) != NULL) {
		TAILQ_REMOVE(&t->pending, tp, entry);
		while ((w = TAILQ_FIRST(&tp->waiters)) != NULL) {
			TAILQ_REMOVE(&tp->waiters, w, entry);
			free(w);
		}
		free(tp);
	}
	free(t);
}

/* The key of entry r's request to url for scope; -1 if url has no origin. */
static int
token_key(struct token_key *k, const struct registry *r, const char *url,
    const char *scope)
{
	memset(k, 0, sizeof *k);
	k->registry = r;
	if (fetch_origin(url, k->origin, sizeof k->origin) != 0)
		return -1;
	return util_strlcpy(k->scope, scope, sizeof k->scope);
}

static int
token_key_equal(const struct token_key *a, const struct token_key *b)
{
	return a->registry == b->registry && strcmp(a->origin, b->origin) == 0 &&
	    strcmp(a->scope, b->scope) == 0;
}

/*
 * A cached, unexpired token of entry r for its request to url, for
 * scope; NULL if there is none.
 */
const char *
token_lookup(struct tokens *t, const struct registry *r, const char *url,
    const char *scope)
{
	struct token_entry	*e, *next;
	struct token_key	 k;
	time_t			 now = time(NULL);

	if (token_key(&k, r, url, scope) != 0)
		return NULL;
	for (e = TAILQ_FIRST(&t->cached); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->expires <= now) {
			token_entry_free(t, e);
			continue;
		}
		if (token_key_equal(&e->key, &k))
			return e->token;
	}
	return NULL;
}

static void
token_store(struct tokens *t, const struct token_key *k, const char *token,
    long ttl)
{
	struct token_entry	*e;

	if (t->count >= TOKEN_MAX_CACHED)
		token_entry_free(t, TAILQ_FIRST(&t->cached));
	if ((e = calloc(1, sizeof *e)) == NULL)
		return;
	if ((e->token = strdup(token)) == NULL) {
		free(e);
		return;
	}
	e->key = *k;
	/* Renew a little early, so a token never expires in flight. */
	e->expires = time(NULL) + (ttl > 10 ? ttl - 2 : ttl);
	TAILQ_INSERT_TAIL(&t->cached, e, entry);
	t->count++;
}

static void
token_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct token_pending	*tp = arg;
	struct tokens		*t = tp->tokens;
	struct token_waiter	*w;
	struct evbuffer		*body = fetch_body(f);
	char			*token = NULL, why[256];
	long			 ttl, status = fetch_status(f);

	why[0] = '\0';
	if (error != NULL)
		snprintf(why, sizeof why, "token service unreachable: %s", error);
	else if (status == 401 || status == 403)
		snprintf(why, sizeof why, "the token service refused the "
		    "credentials (%ld)", status);
	else if (status != 200)
		snprintf(why, sizeof why, "the token service answered %ld", status);
	else if (tokenreply_parse((const char *)evbuffer_pullup(body, -1),
	    evbuffer_get_length(body), &token, &ttl) != 0)
		snprintf(why, sizeof why, "the token service sent no usable token");
	else {
		token_store(t, &tp->key, token, ttl);
		stats_add(STATS_TOKENS_FETCHED, 1);
		log_debug("%s: %s '%s' at %s scope %s: token for %ld s", __func__,
		    tp->registry->is_feed ? "feed" : "registry", tp->registry->name,
		    tp->key.origin, tp->key.scope, ttl);
	}
	if (why[0] != '\0')
		log_warn("%s '%s': %s", tp->registry->is_feed ? "feed" :
		    "registry", tp->registry->name, why);
	TAILQ_REMOVE(&t->pending, tp, entry);
	while ((w = TAILQ_FIRST(&tp->waiters)) != NULL) {
		TAILQ_REMOVE(&tp->waiters, w, entry);
		w->cb(why[0] == '\0' ? NULL : why, status, w->arg);
		free(w);
	}
	secret_free(token);
	free(tp);
}

/* Appends "name=<value, escaped>" to a query. */
static char *
token_query_add(char *url, const char *name, const char *value)
{
	char	*esc, *n;

	if (url == NULL || value[0] == '\0')
		return url;
	if ((esc = curl_easy_escape(NULL, value, 0)) == NULL) {
		free(url);
		return NULL;
	}
	n = util_printf("%s%c%s=%s", url, strchr(url, '?') != NULL ? '&' : '?',
	    name, esc);
	curl_free(esc);
	free(url);
	return n;
}

/*
 * Asks for a token of entry r for its request to url (which answered with
 * challenge c), for scope; cb runs when it is cached (error NULL) or
 * could not be had. Returns -1 with *cause at once when the realm is not
 * trusted. Causes name no host: they reach clients; the log has it.
 */
int
token_request(struct tokens *t, struct registry *r, const char *url,
    const char *scope, const struct challenge *c, token_cb cb, void *arg,
    struct token_waiter **wp, char **cause)
{
	struct fetch_callbacks	 fcb = { NULL, NULL, token_done_cb };
	struct fetch_request	 fr;
	struct token_pending	*tp;
	struct token_waiter	*w;
	struct token_key	 k;
	char			 host[256], *why = NULL, *realm;

	if (registry_parse_url(c->realm, host, sizeof host, &why) != 0) {
		log_warn("%s '%s': the upstream named an unusable token realm: %s",
		    r->is_feed ? "feed" : "registry", r->name, why);
		free(why);
		*cause = util_printf("the upstream named an unusable token realm");
		return -1;
	}
	if (!registry_trusts_host(r, host)) {
		log_warn("%s '%s': refused the token realm on host %s, which the "
		    "entry does not trust (token_hosts)",
		    r->is_feed ? "feed" : "registry", r->name, host);
		*cause = util_printf("refused the token realm: the entry does not "
		    "trust its host (token_hosts)");
		return -1;
	}
	/* An https entry's password never goes over plain http. */
	if ((r->auth & AUTH_BASIC) && r->password != NULL &&
	    strncmp(r->url, "https://", 8) == 0 &&
	    strncmp(c->realm, "https://", 8) != 0) {
		log_warn("%s '%s': refused the plain-http token realm on host "
		    "%s: the entry's credentials go over https only",
		    r->is_feed ? "feed" : "registry", r->name, host);
		*cause = util_printf("refused a plain-http token realm: the "
		    "entry's credentials go over https only");
		return -1;
	}
	if (token_key(&k, r, url, scope) != 0) {
		*cause = util_printf("no token for this request");
		return -1;
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	w->cb = cb;
	w->arg = arg;
	TAILQ_FOREACH(tp, &t->pending, entry) {
		if (token_key_equal(&tp->key, &k)) {
			TAILQ_INSERT_TAIL(&tp->waiters, w, entry);
			*wp = w;
			return 0;
		}
	}
	if ((tp = calloc(1, sizeof *tp)) == NULL) {
		free(w);
		*cause = util_printf("out of memory");
		return -1;
	}
	tp->tokens = t;
	tp->registry = r;
	tp->key = k;
	TAILQ_INIT(&tp->waiters);
	TAILQ_INSERT_TAIL(&tp->waiters, w, entry);

	realm = util_printf("%s", c->realm);
	realm = token_query_add(realm, "service", c->service);
	realm = token_query_add(realm, "scope", c->scope[0] != '\0' ? c->scope :
	    scope);
	memset(&fr, 0, sizeof fr);
	fr.url = realm;
	fr.max_body = 2 * TOKENREPLY_MAX_LEN + 4096;
	if ((r->auth & AUTH_BASIC) && r->password != NULL) {
		fr.username = r->username;
		fr.password = r->password;
	}
	fetch_request_tls(&fr, r);
	if (realm == NULL || (tp->fetch = fetch_start(t->proxy->fetcher, &fr,
	    &fcb, tp)) == NULL) {
		free(realm);
		free(w);
		free(tp);
		*cause = util_printf("cannot ask the token service");
		return -1;
	}
	free(realm);
	TAILQ_INSERT_TAIL(&t->pending, tp, entry);
	*wp = w;
	return 0;
}

/* The waiter's request went away: its callback will not run. */
void
token_forget(struct tokens *t, struct token_waiter *w)
{
	struct token_pending	*tp;
	struct token_waiter	*x;

	TAILQ_FOREACH(tp, &t->pending, entry) {
		TAILQ_FOREACH(x, &tp->waiters, entry) {
			if (x == w) {
				TAILQ_REMOVE(&tp->waiters, w, entry);
				free(w);
				return;
			}
		}
	}
}
