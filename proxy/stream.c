/*
 * Sends one blob to one client while its transfer downloads it. The stream
 * reads the growing temporary file and hands evhttp one chunk at a time;
 * the next chunk goes out only when the last one has left the output
 * buffer, so memory per client stays at one chunk whatever its speed.
 *
 * The last byte of the body is held back until the transfer has verified
 * the digest: a client never sees a clean end of unverified content. If
 * verification fails, the connection is closed short of Content-Length.
 *
 * All work happens in stream_wake_cb, scheduled by the transfer's
 * notifications, by evhttp's write completion and by the client's close.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>	/* the request's HTTP version */

#include "proxy.h"

#define STREAM_MAGIC	0x5354524d	/* "STRM" */
#define STREAM_CHUNK	(64 * 1024)

struct stream {
	unsigned		 magic;
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct transfer		*transfer;
	struct transfer_watch	 watch;
	struct event		*wake;
	struct evbuffer		*chunk;
	struct digest		 digest;
	off_t			 sent;
	int			 started;	/* status line and headers sent */
	int			 writing;	/* a chunk is in evhttp's hands */
	int			 client_gone;
	int			 ranged;	/* wait for the verified file */
	TAILQ_ENTRY(stream)	 entry;		/* proxy->streams */
};

static void
stream_schedule(struct stream *s)
{
	event_active(s->wake, EV_WRITE, 0);
}

static void
stream_notify_cb(void *arg)
{
	stream_schedule(arg);
}

/*
 * The client's connection is going away. If libevent detached our request
 * from it (the client left), the request is ours to free; if not (the
 * whole server is being freed), libevent frees it right after this.
 */
static void
stream_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct stream	*s = arg;

	(void)evcon;
	s->client_gone = 1;
	s->evcon = NULL;
	if (s->req != NULL && evhttp_request_get_connection(s->req) != NULL)
		s->req = NULL;
	stream_schedule(s);
}

static void
stream_written_cb(struct evhttp_connection *evcon, void *arg)
{
	struct stream	*s = arg;

	(void)evcon;
	s->writing = 0;
	stream_schedule(s);
}

/* Releases everything; the request must already be answered or freed. */
static void
stream_free(struct stream *s)
{
	if (s->evcon != NULL)
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	TAILQ_REMOVE(&s->proxy->streams, s, entry);
	transfer_unwatch(s->transfer, &s->watch);
	transfer_unref(s->transfer);
	event_free(s->wake);
	evbuffer_free(s->chunk);
	s->magic = 0;
	free(s);
}

/* Ends the response without a clean end: the client sees a short body. */
static void
stream_abort(struct stream *s)
{
	struct evhttp_connection	*evcon = s->evcon;

	log_warn("%s: sha256:%s: response cut short: %s", __func__,
	    s->digest.hex, transfer_error(s->transfer));
	if (evcon != NULL) {
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		s->evcon = NULL;
		evhttp_connection_free(evcon);	/* frees the request too */
	} else
		evhttp_send_reply_end(s->req);	/* detached: frees it */
	s->req = NULL;
	stream_free(s);
}

static void
stream_fail_early(struct stream *s)
{
	const struct transfer_kind	*k = transfer_kind(s->transfer);
	int				 status = transfer_http_status(s->transfer);

	if (k->fallback != NULL && k->fallback(s->transfer, s->req, status)) {
		stream_free(s);
		return;
	}
	reply_upstream_failure(s->req, transfer_registry(s->transfer), status,
	    status == 404 ? NULL : transfer_error(s->transfer), "BLOB_UNKNOWN");
	stream_free(s);
}

static void
stream_send_headers(struct stream *s)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(s->req);
	char			 len[32];
	off_t			 length = transfer_length(s->transfer);

	transfer_kind(s->transfer)->headers(s->transfer, s->req);
	if (length >= 0) {
		snprintf(len, sizeof len, "%lld", (long long)length);
		evhttp_add_header(h, "Content-Length", len);
	}
	evhttp_send_reply_start(s->req, 200, NULL);
	s->started = 1;
}

/* Hands evhttp the next chunk; returns -1 if the file cannot be read. */
static int
stream_send_chunk(struct stream *s, off_t limit)
{
	struct evbuffer_iovec	 v;
	size_t			 want;
	ssize_t			 n;

	want = (size_t)(limit - s->sent);
	if (want > STREAM_CHUNK)
		want = STREAM_CHUNK;
	if (evbuffer_reserve_space(s->chunk, (ev_ssize_t)want, &v, 1) < 1)
		return -1;
	do
		n = pread(transfer_fd(s->transfer), v.iov_base, want, s->sent);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	v.iov_len = (size_t)n;
	evbuffer_commit_space(s->chunk, &v, 1);
	s->sent += n;
	s->writing = 1;
	evhttp_send_reply_chunk_with_cb(s->req, s->chunk, stream_written_cb, s);
	return 0;
}

static void
stream_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream		*s = arg;
	enum transfer_state	 state = transfer_state(s->transfer);
	off_t			 limit, size;
	int			 blobfd;

	(void)fd;
	(void)what;
	if (s->client_gone) {
		if (s->req != NULL)
			evhttp_send_reply_end(s->req);	/* detached: frees it */
		stream_free(s);
		return;
	}
	if (!s->started) {
		if (state == TRANSFER_FAILED) {
			stream_fail_early(s);
			return;
		}
		if (state == TRANSFER_CONNECTING)
			return;
		if (s->ranged || transfer_not_modified(s->transfer)) {
			/* A Range (or a 304 upstream): from the file in place. */
			if (state != TRANSFER_DONE)
				return;
			blobfd = transfer_kind(s->transfer)->open(s->transfer, &size);
			if (blobfd == -1)
				reply_error(s->req, 500, "UNKNOWN", "cannot read the cache");
			else
				transfer_kind(s->transfer)->send_file(s->transfer,
				    s->req, blobfd, size);
			stream_free(s);
			return;
		}
		stream_send_headers(s);
	}
	if (s->writing)
		return;
	if (state == TRANSFER_FAILED) {
		stream_abort(s);
		return;
	}
	limit = transfer_written(s->transfer);
	if (state != TRANSFER_DONE)
		limit--;		/* hold back the last byte until verified */
	if (s->sent < limit) {
		if (stream_send_chunk(s, limit) != 0)
			stream_abort(s);
		return;
	}
	if (state == TRANSFER_DONE) {
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
		s->evcon = NULL;
		evhttp_send_reply_end(s->req);
		stream_free(s);
	}
}

/* Streams transfer t to the client of req. Returns -1 if nothing was started. */
int
stream_start(struct proxy *p, struct evhttp_request *req, struct transfer *t,
    const struct digest *d)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->magic = STREAM_MAGIC;
	s->proxy = p;
	s->req = req;
	s->transfer = t;
	s->digest = *d;
	/*
	 * A Range, and an HTTP/1.0 client (whose body, when the length is not
	 * known in advance, ends with the connection — so a cut would look
	 * like a clean end), are served from the verified file only.
	 */
	s->ranged = (evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Range") != NULL) || req->major < 1 ||
	    (req->major == 1 && req->minor == 0) || transfer_kind(t)->whole;
	s->wake = event_new(p->base, -1, 0, stream_wake_cb, s);
	s->chunk = evbuffer_new();
	if (s->wake == NULL || s->chunk == NULL) {
		if (s->wake != NULL)
			event_free(s->wake);
		if (s->chunk != NULL)
			evbuffer_free(s->chunk);
		free(s);
		return -1;
	}
	transfer_ref(t);
	TAILQ_INSERT_TAIL(&p->streams, s, entry);
	s->watch.cb = stream_notify_cb;
	s->watch.arg = s;
	transfer_watch(t, &s->watch);
	s->evcon = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(s->evcon, stream_close_cb, s);
	stream_schedule(s);
	return 0;
}

/*
 * At shutdown, after the server (and with it every connection) is freed:
 * the streams left. A request that libevent detached is still ours.
 */
void
stream_free_all(struct proxy *p)
{
	struct stream	*s;

	while ((s = TAILQ_FIRST(&p->streams)) != NULL) {
		if (s->client_gone && s->req != NULL)
			evhttp_request_free(s->req);
		s->evcon = NULL;
		stream_free(s);
	}
}
