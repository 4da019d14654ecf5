/*
 * Sends one download to one client while its transfer brings it in. The
 * stream hands evhttp one range of the growing temporary file at a time,
 * which leaves by sendfile(2); the next goes out only when the last one
 * has left the output buffer, so a client costs no buffer memory whatever
 * its speed.
 *
 * The last byte of the body is held back until the transfer has verified
 * and published it: a client never sees a clean end of unverified
 * content, and a client that has the whole body finds it in the cache.
 * If the transfer fails, the connection is closed short of
 * Content-Length. A stream that has sent nothing yet lets the transfer's
 * kind answer instead: from the file in place (a Range, a HEAD, an
 * HTTP/1.0 client, a "whole" kind, a 304 upstream), or with the kind's
 * own error answer (OCI bodies for registry clients, plain HTTP for
 * package clients).
 *
 * States, one dispatch (stream_wake_cb), scheduled by the transfer's
 * notifications, by evhttp's write completion and by the client's close:
 *
 *   WAITING   -> FOLLOWING (headers sent) | CLOSED (answered by the kind)
 *   FOLLOWING -> WRITING (a chunk handed to evhttp) | CLOSED (end or cut)
 *   WRITING   -> FOLLOWING (the chunk left)
 *   any       -> CLOSED when the client goes away
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
#define STREAM_CHUNK	(4 * 1024 * 1024)	/* of the file: no memory */

enum stream_state {
	STREAM_WAITING,		/* nothing sent; the transfer has no answer */
	STREAM_FOLLOWING,	/* headers sent; next chunk when bytes arrive */
	STREAM_WRITING,		/* a chunk is in evhttp's hands */
	STREAM_CLOSED		/* answered, cut short or abandoned */
};

static const char *stream_state_names[] = {
	"waiting", "following", "writing", "closed"
};

struct stream {
	unsigned		 magic;
	enum stream_state	 state;
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct evhttp_connection *evcon;
	struct transfer		*transfer;
	struct transfer_watch	 watch;
	struct event		*wake;
	struct evbuffer		*chunk;
	off_t			 sent;
	int			 client_gone;	/* an event, seen by the dispatch */
	int			 whole;		/* answer from the file in place */
	TAILQ_ENTRY(stream)	 entry;		/* proxy->streams */
};

static void
stream_set_state(struct stream *s, enum stream_state to)
{
	log_debug("%s: %s: %s -> %s", __func__, transfer_what(s->transfer),
	    stream_state_names[s->state], stream_state_names[to]);
	s->state = to;
}

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
	if (s->state == STREAM_WRITING)
		stream_set_state(s, STREAM_FOLLOWING);
	stream_schedule(s);
}

/* Releases everything; the request must already be answered or freed. */
static void
stream_free(struct stream *s)
{
	if (s->evcon != NULL)
		conn_set_closecb(s->proxy->conns, s->evcon, NULL, NULL);
	TAILQ_REMOVE(&s->proxy->streams, s, entry);
	stats_add(STATS_STREAMS_ACTIVE, -1);
	transfer_unwatch(s->transfer, &s->watch);
	transfer_unref(s->transfer);
	event_free(s->wake);
	evbuffer_free(s->chunk);
	s->magic = 0;
	free(s);
}

/* The request is answered (or gone): close and free the stream. */
static void
stream_close(struct stream *s)
{
	stream_set_state(s, STREAM_CLOSED);
	stream_free(s);
}

/* Ends the response without a clean end: the client sees a short body. */
static void
stream_abort(struct stream *s)
{
	struct evhttp_connection	*evcon = s->evcon;

	log_warn("%s: %s: response cut short: %s", __func__,
	    transfer_what(s->transfer), transfer_error(s->transfer));
	if (evcon != NULL) {
		conn_set_closecb(s->proxy->conns, evcon, NULL, NULL);
		s->evcon = NULL;
		evhttp_connection_free(evcon);	/* frees the request too */
	} else
		evhttp_send_reply_end(s->req);	/* detached: frees it */
	s->req = NULL;
	stream_close(s);
}

static void
stream_send_headers(struct stream *s)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(s->req);
	char			 len[32];
	off_t			 length = transfer_length(s->transfer);

	transfer_kind(s->transfer)->headers(transfer_kind_state(s->transfer),
	    s->req);
	if (length >= 0) {
		snprintf(len, sizeof len, "%lld", (long long)length);
		evhttp_add_header(h, "Content-Length", len);
	}
	if (evhttp_find_header(h, "X-Pullgate-Source") == NULL)
		evhttp_add_header(h, "X-Pullgate-Source", "upstream");
	evhttp_send_reply_start(s->req, 200, NULL);
	stream_set_state(s, STREAM_FOLLOWING);
}

/*
 * Hands evhttp the next chunk, a range of the growing file that leaves
 * by sendfile(2) (the chunk buffer drains to a socket): no copy, and no
 * memory per client whatever the chunk's size. -1 if the file cannot be
 * referred to.
 */
static int
stream_send_chunk(struct stream *s, off_t limit)
{
	size_t	want;
	int	fd;

	want = (size_t)(limit - s->sent);
	if (want > STREAM_CHUNK)
		want = STREAM_CHUNK;
	/* The buffer closes its descriptor when the range has left. */
	if ((fd = dup(transfer_fd(s->transfer))) == -1)
		return -1;
	if (evbuffer_add_file(s->chunk, fd, s->sent, (ev_off_t)want) != 0) {
		close(fd);
		return -1;
	}
	s->sent += (off_t)want;
	stream_set_state(s, STREAM_WRITING);
	evhttp_send_reply_chunk_with_cb(s->req, s->chunk, stream_written_cb, s);
	return 0;
}

/* WAITING: nothing sent yet; the kind answers, or the body starts. */
static void
stream_wait(struct stream *s)
{
	const struct transfer_kind	*k = transfer_kind(s->transfer);
	void				*ks = transfer_kind_state(s->transfer);

	switch (transfer_state(s->transfer)) {
	case TRANSFER_CONNECTING:
		return;
	case TRANSFER_FAILED:
		k->fail(ks, s->req, transfer_http_status(s->transfer),
		    transfer_error(s->transfer));
		stream_close(s);
		return;
	case TRANSFER_UNCHANGED:
		k->send_file(ks, s->req);
		stream_close(s);
		return;
	case TRANSFER_DONE:
		if (s->whole) {
			k->send_file(ks, s->req);
			stream_close(s);
			return;
		}
		break;
	case TRANSFER_STREAMING:
	case TRANSFER_PUBLISHING:
		if (s->whole)
			return;		/* until it is in place */
		break;
	}
	stream_send_headers(s);
	stream_schedule(s);
}

/* FOLLOWING: the next chunk, the clean end, or a cut. */
static void
stream_follow(struct stream *s)
{
	enum transfer_state	 state = transfer_state(s->transfer);
	off_t			 limit;

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
		conn_set_closecb(s->proxy->conns, s->evcon, NULL, NULL);
		s->evcon = NULL;
		evhttp_send_reply_end(s->req);
		stream_close(s);
	}
}

/* The one dispatch. */
static void
stream_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stream	*s = arg;

	(void)fd;
	(void)what;
	if (s->client_gone) {
		if (s->req != NULL)
			evhttp_send_reply_end(s->req);	/* detached: frees it */
		s->req = NULL;
		stream_close(s);
		return;
	}
	switch (s->state) {
	case STREAM_WAITING:
		stream_wait(s);
		break;
	case STREAM_FOLLOWING:
		stream_follow(s);
		break;
	case STREAM_WRITING:	/* stream_written_cb moves on */
	case STREAM_CLOSED:
		break;
	}
}

/* Streams transfer t to the client of req; -1 if nothing was started. */
static int
stream_start(struct proxy *p, struct evhttp_request *req, struct transfer *t)
{
	struct stream	*s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->magic = STREAM_MAGIC;
	s->state = STREAM_WAITING;
	s->proxy = p;
	s->req = req;
	s->transfer = t;
	/*
	 * A Range, a HEAD, and an HTTP/1.0 client (whose body, when the
	 * length is not known in advance, ends with the connection — so a
	 * cut would look like a clean end), are answered from the file in
	 * place only.
	 */
	s->whole = (evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Range") != NULL) || req->major < 1 ||
	    (req->major == 1 && req->minor == 0) ||
	    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ||
	    transfer_kind(t)->whole;
	s->wake = event_new(p->base, -1, 0, stream_wake_cb, s);
	s->chunk = evbuffer_new();
	if (s->chunk != NULL)
		evbuffer_set_flags(s->chunk, EVBUFFER_FLAG_DRAINS_TO_FD);
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
	stats_add(STATS_STREAMS_ACTIVE, 1);
	s->watch.cb = stream_notify_cb;
	s->watch.arg = s;
	transfer_watch(t, &s->watch);
	s->evcon = evhttp_request_get_connection(req);
	conn_set_closecb(p->conns, s->evcon, stream_close_cb, s);
	stream_schedule(s);
	return 0;
}

/*
 * Answers req with the download tr describes from registry (or feed) r,
 * joining the one running for its key: streamed as it arrives, or from
 * the file in place. A download that cannot start is answered by its
 * kind, whose state is then freed. Returns -1 if req got an error.
 */
int
stream_transfer(struct proxy *p, struct evhttp_request *req,
    struct registry *r, const struct transfer_request *tr)
{
	struct transfer	*t;
	char		*cause = NULL;
	long		 status;
	int		 rc = 0;

	if ((t = transfer_start(p, r, tr, &status, &cause)) == NULL) {
		tr->kind->fail(tr->state, req, (int)status,
		    cause != NULL ? cause : "cannot start the download");
		tr->kind->free(tr->state);
		free(cause);
		return -1;
	}
	if (stream_start(p, req, t) != 0) {
		tr->kind->fail(transfer_kind_state(t), req, 0, "out of memory");
		rc = -1;
	}
	transfer_unref(t);
	return rc;
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
