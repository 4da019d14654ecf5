/*
 * Upstream HTTP transfers: libcurl's multi socket interface driven by the
 * daemon's one libevent loop (the pattern of curl's multi-event.c). Curl
 * tells us which sockets to watch and when its timer fires; we tell curl
 * when a socket is ready. Nothing here blocks.
 *
 * Redirects: every upstream request follows them, by one rule, here —
 * registries send blob downloads to a CDN and apt mirrors send clients to
 * other mirrors, and what arrives is verified by digest (blobs, a signed
 * set's indexes, packages an index lists) whichever host sent it. Curl does
 * not follow: fetch_redirect does, at most FETCH_MAX_REDIRECTS times, to
 * http and https URLs only, and the credentials of the request (basic
 * auth, an Authorization header, the client certificate and key) go to
 * the origin (scheme, host, port) of the URL it was given for and never
 * to another: curl itself would keep offering the client certificate.
 *
 * A failure reaches the caller (and so the client) as its class only —
 * unreachable, refused, timed out, TLS, connection broken — never curl's
 * text, which names hosts and addresses; the full detail is logged here.
 */
#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define FETCH_MAGIC		0x46455443	/* "FETC" */
#define FETCH_MAX_HEADERS	100
#define FETCH_MAX_REDIRECTS	5

struct fetch {
	unsigned		 magic;
	int			 refs;
	struct fetcher		*fetcher;
	CURL			*easy;
	struct fetch_callbacks	 cb;
	void			*arg;
	struct curl_slist	*headers;
	long			 status;
	int			 headers_done;
	int			 nheaders;
	struct evkeyvalq	 response_headers;
	struct evbuffer		*body;
	size_t			 max_body;
	const char		*abort_reason;
	int			 cancelled;
	char			*url;		/* of the current hop */
	char			*location;	/* a 3xx's, resolved; to follow */
	int			 redirects;	/* followed so far */
	int			 foreign;	/* left the origin: no credentials */
	int			 head;
	int64_t			 deadline_ms;	/* whole transfer; 0: none */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 message[256];
	TAILQ_ENTRY(fetch)	 entry;		/* fetcher->cancelled */
	TAILQ_ENTRY(fetch)	 all;		/* fetcher->fetches */
};

struct fetcher {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	const struct config	*config;
	int			 busy;		/* inside curl_multi_socket_action */
	TAILQ_HEAD(, fetch)	 cancelled;	/* to be removed once not busy */
	TAILQ_HEAD(, fetch)	 fetches;	/* every fetch not yet freed */
};

/* What curl_multi_assign keeps for a socket: its event. */
struct fetch_socket {
	struct event	*ev;
};

static void	fetcher_process(struct fetcher *, curl_socket_t, int);

static void
fetch_free(struct fetch *f)
{
	if (f->fetcher != NULL)
		TAILQ_REMOVE(&f->fetcher->fetches, f, all);
	f->magic = 0;
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	free(f->url);
	free(f->location);
	evhttp_clear_headers(&f->response_headers);
	if (f->body != NULL)
		evbuffer_free(f->body);
	free(f);
}

/* Whether curl names code as a TLS failure. */
static int
fetch_code_is_tls(CURLcode code)
{
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return 1;
	default:
		return 0;
	}
}

/*
 * Whether a failed transfer failed in or right after the TLS handshake:
 * a TLS code, or an https connection that broke before any answer (an
 * upstream refusing the client certificate often just closes).
 */
static int
fetch_tls_failure(struct fetch *f, CURLcode code)
{
	char	*url = NULL;

	curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (url == NULL || strncmp(url, "https://", 8) != 0 || f->status != 0)
		return 0;
	return fetch_code_is_tls(code) || code == CURLE_SEND_ERROR ||
	    code == CURLE_RECV_ERROR || code == CURLE_HTTP2;
}

/*
 * What went wrong, as a client may be told it: the class of the failure,
 * never curl's text (it names hosts and addresses).
 */
static const char *
fetch_failure_class(struct fetch *f, CURLcode code)
{
	long	oserr = 0;

	if (fetch_tls_failure(f, code))
		return "TLS connection to the upstream failed (server "
		    "certificate, CA bundle, or a client certificate the upstream "
		    "refused)";
	if (fetch_code_is_tls(code))
		return "TLS failure talking to the upstream";
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return "upstream unreachable (its name does not resolve)";
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(f->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == ECONNREFUSED)
			return "the upstream refused the connection";
		return "upstream unreachable";
	case CURLE_OPERATION_TIMEDOUT:
		return "the upstream timed out";
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		return "the upstream connection broke";
	default:
		return "the upstream transfer failed";
	}
}

/*
 * The origin of url — "scheme://host:port", lowercase, the scheme's port
 * when the URL names none — where credentials may go; -1 if it has none.
 */
int
fetch_origin(const char *url, char *buf, size_t len)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL, *port = NULL;
	int	 n = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		n = snprintf(buf, len, "%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (n < 0 || (size_t)n >= len)
		return -1;
	for (; *buf != '\0'; buf++)
		*buf = (char)tolower((unsigned char)*buf);
	return 0;
}

/* location resolved against the URL of the current hop, or NULL. */
static char *
fetch_resolve(const char *base, const char *location)
{
	CURLU	*u;
	char	*out = NULL, *url = NULL;

	if ((u = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK)
		out = util_printf("%s", url);
	curl_free(url);
	curl_url_cleanup(u);
	return out;
}

/* The request without its Authorization header, for another origin. */
static void
fetch_drop_credentials(struct fetch *f)
{
	struct curl_slist	*kept = NULL, *h, *n;

	curl_easy_setopt(f->easy, CURLOPT_USERNAME, NULL);
	curl_easy_setopt(f->easy, CURLOPT_PASSWORD, NULL);
	curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_NONE);
	curl_easy_setopt(f->easy, CURLOPT_SSLCERT, NULL);
	curl_easy_setopt(f->easy, CURLOPT_SSLKEY, NULL);
	for (h = f->headers; h != NULL; h = h->next) {
		if (strncasecmp(h->data, "Authorization:", 14) == 0)
			continue;
		if ((n = curl_slist_append(kept, h->data)) == NULL)
			break;		/* fewer headers, never the credential */
		kept = n;
	}
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, kept);
	curl_slist_free_all(f->headers);
	f->headers = kept;
	f->foreign = 1;
}

/*
 * Follows the 3xx the last hop answered: the same easy handle, the next
 * URL; credentials only if it has the first URL's origin. NULL when the
 * next hop runs, else why not.
 */
static const char *
fetch_redirect(struct fetch *f)
{
	struct fetcher	*fr = f->fetcher;
	char		 from[512], to[512];
	char		*next = f->location;
	int64_t		 left = 0;

	f->location = NULL;
	if (++f->redirects > FETCH_MAX_REDIRECTS) {
		log_warn("%s: %s: more than %d redirects", __func__, f->url,
		    FETCH_MAX_REDIRECTS);
		free(next);
		return "the upstream redirected too many times";
	}
	if ((strncasecmp(next, "http://", 7) != 0 &&
	    strncasecmp(next, "https://", 8) != 0) ||
	    fetch_origin(next, to, sizeof to) != 0) {
		log_warn("%s: %s: redirect to a URL that is not http or https",
		    __func__, f->url);
		free(next);
		return "the upstream redirected to an unusable URL";
	}
	if (f->deadline_ms > 0 && (left = f->deadline_ms - util_now_us() / 1000) <= 0) {
		free(next);
		return "the upstream timed out";
	}
	if (!f->foreign && (fetch_origin(f->url, from, sizeof from) != 0 ||
	    strcmp(from, to) != 0)) {
		fetch_drop_credentials(f);
		stats_add(STATS_REDIRECTS_CROSS_ORIGIN, 1);
	}
	stats_add(STATS_REDIRECTS, 1);
	log_debug("%s: %s -> %s%s", __func__, f->url, next,
	    f->foreign ? " (no credentials)" : "");
	free(f->url);
	f->url = next;
	f->status = 0;
	f->headers_done = 0;
	f->errbuf[0] = '\0';
	f->abort_reason = NULL;
	evhttp_clear_headers(&f->response_headers);
	f->nheaders = 0;
	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	if (f->deadline_ms > 0)
		curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)left);
	if (curl_multi_add_handle(fr->multi, f->easy) != CURLM_OK)
		return "cannot follow the upstream's redirect";
	return NULL;
}

static void
fetcher_check_done(struct fetcher *fr)
{
	CURLMsg		*msg;
	struct fetch	*f;
	const char	*error;
	int		 left;
	char		*priv;

	while ((msg = curl_multi_info_read(fr->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		f = (struct fetch *)priv;
		if (f->cancelled)
			continue;	/* freed with the cancelled list */
		curl_multi_remove_handle(fr->multi, f->easy);
		error = NULL;
		if (f->location != NULL) {
			/* The 3xx hop was cut after its headers on purpose. */
			if ((error = fetch_redirect(f)) == NULL)
				continue;
		} else if (msg->data.result != CURLE_OK) {
			if (f->abort_reason != NULL)
				error = f->abort_reason;
			else {
				log_warn("%s %s: %s%s%s", f->head ? "HEAD" : "GET",
				    f->url, curl_easy_strerror(msg->data.result),
				    f->errbuf[0] != '\0' ? ": " : "", f->errbuf);
				snprintf(f->message, sizeof f->message, "%s",
				    fetch_failure_class(f, msg->data.result));
				error = f->message;
			}
		}
		f->cb.on_done(f, error, f->arg);
		fetch_release(f);
	}
}

static void
fetcher_reap_cancelled(struct fetcher *fr)
{
	struct fetch	*f;

	while ((f = TAILQ_FIRST(&fr->cancelled)) != NULL) {
		TAILQ_REMOVE(&fr->cancelled, f, entry);
		curl_multi_remove_handle(fr->multi, f->easy);
		fetch_release(f);
	}
}

static void
fetcher_process(struct fetcher *fr, curl_socket_t fd, int action)
{
	int	running;

	fr->busy++;
	curl_multi_socket_action(fr->multi, fd, action, &running);
	fetcher_check_done(fr);
	fr->busy--;
	if (fr->busy == 0)
		fetcher_reap_cancelled(fr);
}

static void
fetcher_socket_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetcher	*fr = arg;
	int		 action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	fetcher_process(fr, fd, action);
}

static void
fetcher_timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fetcher_process(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching a socket. */
static int
fetcher_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct fetcher		*fr = userp;
	struct fetch_socket	*s = socketp;
	short			 kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(fr->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		if ((s = calloc(1, sizeof *s)) == NULL)
			return -1;
		s->ev = event_new(fr->base, fd, kind, fetcher_socket_event_cb, fr);
		if (s->ev == NULL) {
			free(s);
			return -1;
		}
		curl_multi_assign(fr->multi, fd, s);
	} else {
		/* Reassigned in place: this may run inside s->ev's own callback. */
		event_del(s->ev);
		event_assign(s->ev, fr->base, fd, kind, fetcher_socket_event_cb, fr);
	}
	if (event_add(s->ev, NULL) != 0) {
		log_error("%s: cannot watch socket %d", __func__, (int)fd);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be called after timeout_ms. */
static int
fetcher_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct fetcher	*fr = userp;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(fr->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(fr->timer, &tv);
	return 0;
}

struct fetcher *
fetcher_new(struct event_base *base, const struct config *config)
{
	struct fetcher	*fr;

	if ((fr = calloc(1, sizeof *fr)) == NULL)
		return NULL;
	fr->base = base;
	fr->config = config;
	TAILQ_INIT(&fr->cancelled);
	TAILQ_INIT(&fr->fetches);
	fr->multi = curl_multi_init();
	fr->timer = evtimer_new(base, fetcher_timer_event_cb, fr);
	if (fr->multi == NULL || fr->timer == NULL) {
		fetcher_free(fr);
		return NULL;
	}
	curl_multi_setopt(fr->multi, CURLMOPT_SOCKETFUNCTION, fetcher_socket_cb);
	curl_multi_setopt(fr->multi, CURLMOPT_SOCKETDATA, fr);
	curl_multi_setopt(fr->multi, CURLMOPT_TIMERFUNCTION, fetcher_timer_cb);
	curl_multi_setopt(fr->multi, CURLMOPT_TIMERDATA, fr);
	curl_multi_setopt(fr->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
	return fr;
}

/* Frees every fetch still running, without calling back: the end. */
void
fetcher_free(struct fetcher *fr)
{
	struct fetch	*f;

	if (fr == NULL)
		return;
	fetcher_reap_cancelled(fr);
	while ((f = TAILQ_FIRST(&fr->fetches)) != NULL) {
		curl_multi_remove_handle(fr->multi, f->easy);
		fetch_free(f);
	}
	if (fr->multi != NULL)
		curl_multi_cleanup(fr->multi);
	if (fr->timer != NULL)
		event_free(fr->timer);
	free(fr);
}

/* Remembers one header line of the current response. */
static void
fetch_store_header(struct fetch *f, const char *line, size_t len)
{
	char	 buf[8192];
	char	*colon, *value, *end;

	if (len >= sizeof buf || f->nheaders >= FETCH_MAX_HEADERS)
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	end = buf + len;
	while (end > buf && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		*--end = '\0';
	if ((colon = strchr(buf, ':')) == NULL || colon == buf)
		return;
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (evhttp_add_header(&f->response_headers, buf, value) == 0)
		f->nheaders++;
}

static size_t
fetch_header_cb(char *line, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 len = size * n;
	long		 code = 0;
	const char	*location;

	if (f->cancelled)
		return 0;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 1xx) starts over. */
		evhttp_clear_headers(&f->response_headers);
		f->nheaders = 0;
		return len;
	}
	if (len > 2 || (line[0] != '\r' && line[0] != '\n')) {
		fetch_store_header(f, line, len);
		return len;
	}
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200)
		return len;
	if (code >= 300 && code < 400 && (location =
	    evhttp_find_header(&f->response_headers, "Location")) != NULL) {
		/* Cut here: fetch_redirect follows it, by our rule. */
		if ((f->location = fetch_resolve(f->url, location)) == NULL)
			f->abort_reason = "the upstream redirected to an "
			    "unusable URL";
		return 0;
	}
	f->status = code;
	f->headers_done = 1;
	if (f->cb.on_headers != NULL && f->cb.on_headers(f, code, f->arg) != 0) {
		if (f->abort_reason == NULL)
			f->abort_reason = "response refused";
		return 0;
	}
	return len;
}

static size_t
fetch_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 len = size * n;
	int		 rc;

	if (f->cancelled)
		return 0;
	if (f->cb.on_data != NULL) {
		rc = f->cb.on_data(f, data, len, f->arg);
		if (rc == FETCH_PAUSE)
			return CURL_WRITEFUNC_PAUSE;
		if (rc != 0) {
			if (f->abort_reason == NULL)
				f->abort_reason = "transfer aborted";
			return 0;
		}
		return len;
	}
	if (evbuffer_get_length(f->body) + len > f->max_body) {
		f->abort_reason = "response body too large";
		return 0;
	}
	if (evbuffer_add(f->body, data, len) != 0) {
		f->abort_reason = "out of memory";
		return 0;
	}
	return len;
}

/*
 * The TLS side of a request to entry r: its client certificate and key
 * (mtls, when its identity is loaded) and its CA bundle, if it has one.
 */
void
fetch_request_tls(struct fetch_request *fr, const struct registry *r)
{
	if ((r->auth & AUTH_MTLS) && r->identity != NULL) {
		fr->tls_cert = r->cert;
		fr->tls_cert_der = r->identity->info.is_der;
		fr->tls_key = r->key;
		fr->tls_key_der = r->identity->is_key_der;
	}
	if (r->ca[0] != '\0')
		fr->tls_ca = r->ca;
}

/* The configuration new fetches take their limits from (a reload). */
void
fetcher_set_config(struct fetcher *fr, const struct config *config)
{
	fr->config = config;
}

struct fetch *
fetch_start(struct fetcher *fr, const struct fetch_request *r,
    const struct fetch_callbacks *cb, void *arg)
{
	const struct config	*c = fr->config;
	struct fetch		*f;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return NULL;
	f->magic = FETCH_MAGIC;
	f->refs = 1;
	f->fetcher = fr;
	TAILQ_INSERT_TAIL(&fr->fetches, f, all);
	f->cb = *cb;
	f->arg = arg;
	f->headers = r->headers;
	f->max_body = r->max_body;
	f->head = r->head;
	TAILQ_INIT(&f->response_headers);
	if ((f->url = util_printf("%s", r->url)) == NULL ||
	    (f->body = evbuffer_new()) == NULL || (f->easy = curl_easy_init()) == NULL)
		goto fail;

	curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, (char *)f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);	/* ours */
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_time);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "pullgate/" PULLGATE_VERSION);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	/* Fewer, larger reads, hashes and writes than curl's 16 KiB. */
	curl_easy_setopt(f->easy, CURLOPT_BUFFERSIZE, 512L * 1024);
	if (r->head)
		curl_easy_setopt(f->easy, CURLOPT_NOBODY, 1L);
	if (r->username != NULL) {
		/* Sent to this URL's origin only (fetch_redirect). */
		curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(f->easy, CURLOPT_USERNAME, r->username);
		curl_easy_setopt(f->easy, CURLOPT_PASSWORD,
		    r->password != NULL ? r->password : "");
	}
	if (r->tls_cert != NULL) {
		curl_easy_setopt(f->easy, CURLOPT_SSLCERT, r->tls_cert);
		curl_easy_setopt(f->easy, CURLOPT_SSLCERTTYPE,
		    r->tls_cert_der ? "DER" : "PEM");
	}
	if (r->tls_key != NULL) {
		curl_easy_setopt(f->easy, CURLOPT_SSLKEY, r->tls_key);
		curl_easy_setopt(f->easy, CURLOPT_SSLKEYTYPE,
		    r->tls_key_der ? "DER" : "PEM");
	}
	if (r->tls_ca != NULL)
		curl_easy_setopt(f->easy, CURLOPT_CAINFO, r->tls_ca);
	if (r->timeout > 0) {
		curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)r->timeout);
		f->deadline_ms = util_now_us() / 1000 + (int64_t)r->timeout * 1000;
	}
	if (f->headers != NULL)
		curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
	if (curl_multi_add_handle(fr->multi, f->easy) != CURLM_OK)
		goto fail;
	log_debug("%s: %s %s", __func__, r->head ? "HEAD" : "GET", r->url);
	return f;
fail:
	f->headers = NULL;	/* the caller still owns them */
	fetch_free(f);
	return NULL;
}

/*
 * Keeps a finished fetch (its status, headers and body) alive past its
 * on_done callback, until fetch_release.
 */
void
fetch_retain(struct fetch *f)
{
	f->refs++;
}

void
fetch_release(struct fetch *f)
{
	if (--f->refs > 0)
		return;
	fetch_free(f);
}

/* Stops a transfer; its callbacks are never called again. */
void
fetch_cancel(struct fetch *f)
{
	struct fetcher	*fr = f->fetcher;

	if (f->cancelled)
		return;
	f->cancelled = 1;
	TAILQ_INSERT_TAIL(&fr->cancelled, f, entry);
	if (fr->busy == 0)
		fetcher_reap_cancelled(fr);
}

long
fetch_status(const struct fetch *f)
{
	return f != NULL ? f->status : 0;
}

const char *
fetch_header(const struct fetch *f, const char *name)
{
	if (f == NULL)
		return NULL;
	return evhttp_find_header(&((struct fetch *)f)->response_headers, name);
}

/* The final response's Content-Length, or -1 when it has none. */
int64_t
fetch_content_length(const struct fetch *f)
{
	const char	*v = fetch_header(f, "Content-Length");	/* NULL-safe */
	long		 n;

	if (v == NULL || util_parse_long(v, 0, INT64_MAX, &n) != 0)
		return -1;
	return n;
}

/* The buffered body; NULL for no fetch (a request that never got one). */
struct evbuffer *
fetch_body(const struct fetch *f)
{
	return f != NULL ? f->body : NULL;
}

/*
 * Lets the body of a transfer paused by its on_data (FETCH_PAUSE) flow
 * again; curl may hand the held bytes over before this returns.
 */
void
fetch_unpause(struct fetch *f)
{
	struct fetcher	*fr = f->fetcher;

	if (f->cancelled)
		return;
	fr->busy++;
	curl_easy_pause(f->easy, CURLPAUSE_CONT);
	fr->busy--;
	if (fr->busy == 0)
		fetcher_reap_cancelled(fr);
}
