/*
 * Upstream HTTP transfers: libcurl's multi socket interface driven by the
 * daemon's one libevent loop (the pattern of curl's multi-event.c). Curl
 * tells us which sockets to watch and when its timer fires; we tell curl
 * when a socket is ready. Nothing here blocks.
 *
 * Redirects are followed (registries send blob downloads to a CDN); curl
 * sends a custom Authorization header only to the host it was given for.
 */
#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
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
	int			 follow;	/* curl follows redirects */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 message[CURL_ERROR_SIZE + 128];
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
	evhttp_clear_headers(&f->response_headers);
	if (f->body != NULL)
		evbuffer_free(f->body);
	free(f);
}

/* Whether a failed transfer failed in or right after the TLS handshake. */
static int
fetch_tls_failure(struct fetch *f, CURLcode code)
{
	char	*url = NULL;

	curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (url == NULL || strncmp(url, "https://", 8) != 0 || f->status != 0)
		return 0;
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
		return 1;
	default:
		return 0;
	}
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
		if (msg->data.result != CURLE_OK) {
			if (f->abort_reason != NULL)
				error = f->abort_reason;
			else {
				/* curl's category, then its detail. */
				snprintf(f->message, sizeof f->message, "%s%s%s%s",
				    fetch_tls_failure(f, msg->data.result) ?
				    "TLS connection failed (server certificate, CA "
				    "bundle, or a client certificate the upstream "
				    "refused): " : "",
				    curl_easy_strerror(msg->data.result),
				    f->errbuf[0] != '\0' ? ": " : "", f->errbuf);
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
	if (f->follow && code >= 300 && code < 400 &&
	    evhttp_find_header(&f->response_headers, "Location") != NULL)
		return len;	/* curl follows it */
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

	if (f->cancelled)
		return 0;
	if (f->cb.on_data != NULL) {
		if (f->cb.on_data(f, data, len, f->arg) != 0) {
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
	TAILQ_INIT(&f->response_headers);
	if ((f->body = evbuffer_new()) == NULL || (f->easy = curl_easy_init()) == NULL)
		goto fail;

	curl_easy_setopt(f->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, (char *)f);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	f->follow = !r->no_redirect;
	curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, (long)f->follow);
	curl_easy_setopt(f->easy, CURLOPT_MAXREDIRS, (long)FETCH_MAX_REDIRECTS);
	curl_easy_setopt(f->easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, (long)c->connect_timeout);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, (long)c->low_speed_time);
	curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "pullgate/" PULLGATE_VERSION);
	curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
	if (r->head)
		curl_easy_setopt(f->easy, CURLOPT_NOBODY, 1L);
	if (r->username != NULL) {
		/* Sent to this URL's host only, never after a redirect elsewhere. */
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
	if (r->timeout > 0)
		curl_easy_setopt(f->easy, CURLOPT_TIMEOUT, (long)r->timeout);
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
