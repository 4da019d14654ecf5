/*
 * Response helpers: the headers every registry answer carries, OCI error
 * bodies, plain-text errors for package clients, and the one way a cached
 * file is sent. Error messages never carry secrets: callers pass only
 * entry names, repository names and reasons.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <unistd.h>

#include "proxy.h"

void
reply_headers(struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_remove_header(h, "Docker-Distribution-API-Version");
	evhttp_add_header(h, "Docker-Distribution-API-Version", "registry/2.0");
}

/*
 * Sends a small in-memory answer. A HEAD gets the headers only, with the
 * Content-Length the body would have: evhttp would otherwise write the
 * body after the headers, which a keep-alive client reads as garbage.
 */
void
reply_send(struct evhttp_request *req, int status, struct evbuffer *body)
{
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		reply_send_head(req, status,
		    body != NULL ? evbuffer_get_length(body) : 0);
	else
		evhttp_send_reply(req, status, NULL, body);
}

/* A HEAD's answer: the headers, with the length of a body of len bytes. */
void
reply_send_head(struct evhttp_request *req, int status, size_t len)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 lstr[32];

	snprintf(lstr, sizeof lstr, "%zu", len);
	evhttp_remove_header(h, "Content-Length");
	evhttp_add_header(h, "Content-Length", lstr);
	evhttp_send_reply(req, status, NULL, NULL);
}

/* The headers of content named by its digest (blobs, manifests). */
void
reply_digest_headers(struct evhttp_request *req, const struct digest *d,
    const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 dstr[DIGEST_STRING_LEN + 1];

	digest_format(d, dstr, sizeof dstr);
	reply_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Docker-Content-Digest", dstr);
	evhttp_add_header(h, "Etag", dstr);
}

void
reply_json(struct evhttp_request *req, int status, struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	reply_headers(req);
	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", "application/json");
	reply_send(req, status, body);
}

/* {"errors":[{"code":CODE,"message":MESSAGE}]} with the given status. */
void
reply_error(struct evhttp_request *req, int status, const char *code,
    const char *message)
{
	struct evbuffer	*body;
	json_t		*root;
	char		*text;

	body = evbuffer_new();
	root = json_pack("{s:[{s:s, s:s}]}", "errors", "code", code,
	    "message", message);
	text = (root != NULL) ? json_dumps(root, JSON_COMPACT) : NULL;
	if (body != NULL && text != NULL)
		evbuffer_add_printf(body, "%s\n", text);
	free(text);
	json_decref(root);
	reply_json(req, status, body);
	if (body != NULL)
		evbuffer_free(body);
}

/*
 * The request's Range against a body of size bytes: 200 (first and last
 * span it all), 206 (Content-Range set), or 416 (Content-Range "bytes
 * *\/size" set; the caller answers).
 */
static int
reply_range(struct evhttp_request *req, off_t size, off_t *first, off_t *last)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 buf[96];

	*first = 0;
	*last = size - 1;
	switch (range_parse(evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Range"), size, first, last)) {
	case RANGE_UNSATISFIABLE:
		snprintf(buf, sizeof buf, "bytes */%lld", (long long)size);
		evhttp_add_header(h, "Content-Range", buf);
		return 416;
	case RANGE_OK:
		snprintf(buf, sizeof buf, "bytes %lld-%lld/%lld", (long long)*first,
		    (long long)*last, (long long)size);
		evhttp_add_header(h, "Content-Range", buf);
		return 206;
	default:
		*first = 0;
		*last = size - 1;
		return 200;
	}
}

/*
 * A body that is a range of a file (fd is consumed, also on failure). The
 * buffer is marked as draining to a socket, so libevent hands the range to
 * sendfile(2) instead of mapping the file into memory.
 */
static struct evbuffer *
reply_file_body(int fd, off_t offset, off_t length)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		close(fd);
		return NULL;
	}
	evbuffer_set_flags(b, EVBUFFER_FLAG_DRAINS_TO_FD);
	if (length == 0) {
		close(fd);
		return b;
	}
	if (evbuffer_add_file(b, fd, offset, length) != 0) {
		evbuffer_free(b);
		close(fd);
		return NULL;
	}
	return b;
}

/*
 * The one way a cached file is sent (blobs, manifests, feed files): fd,
 * of size bytes, is consumed; the caller has set the headers that
 * describe it. REPLY_FILE_RANGE honours the request's Range (206, or 416
 * with an OCI error body under REPLY_FILE_OCI and an empty one
 * otherwise); REPLY_FILE_HEAD sends the headers only, with the
 * Content-Length the body would have. The body leaves by sendfile(2).
 * Returns -1 if the file could not be queued (a 500 was sent).
 */
int
reply_file(struct evhttp_request *req, int fd, off_t size, int flags)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;
	off_t			 first = 0, last = size - 1;
	char			 len[32];
	int			 status = 200;

	if ((flags & REPLY_FILE_RANGE) &&
	    (status = reply_range(req, size, &first, &last)) == 416) {
		close(fd);
		if (flags & REPLY_FILE_OCI) {
			evhttp_remove_header(h, "Content-Type");
			reply_error(req, 416, "SIZE_INVALID",
			    "requested range not satisfiable");
		} else {
			evhttp_add_header(h, "Content-Length", "0");
			evhttp_send_reply(req, 416, NULL, NULL);
		}
		return 0;
	}
	if (flags & REPLY_FILE_HEAD) {
		close(fd);
		snprintf(len, sizeof len, "%lld", (long long)(last - first + 1));
		evhttp_add_header(h, "Content-Length", len);
		evhttp_send_reply(req, status, NULL, NULL);
		return 0;
	}
	if ((b = reply_file_body(fd, first, last - first + 1)) == NULL) {
		if (flags & REPLY_FILE_OCI)
			reply_error(req, 500, "UNKNOWN", "cannot read the cache");
		else
			reply_text(req, 500, "cannot read the cache");
		return -1;
	}
	if (evhttp_find_header(h, "X-Pullgate-Source") == NULL)
		evhttp_add_header(h, "X-Pullgate-Source", "cache");
	stats_add(STATS_SERVED_CACHE_BYTES, (int64_t)(last - first + 1));
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
	return 0;
}

/*
 * A plain-text answer, for clients that are not registry clients (apt,
 * opkg): the status and one line saying why.
 */
void
reply_text(struct evhttp_request *req, int status, const char *message)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", "text/plain");
	if ((b = evbuffer_new()) != NULL)
		evbuffer_add_printf(b, "%s\n", message);
	reply_send(req, status, b);
	if (b != NULL)
		evbuffer_free(b);
}

/*
 * Lets one write(2) or sendfile(2) move more than libevent's 16 KiB
 * default, and sends the headers without waiting for Nagle's algorithm
 * (headers and body leave in separate writes).
 */
void
reply_tune_connection(struct evhttp_connection *evcon)
{
	struct bufferevent		*bev;
	int				 one = 1;

	bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_set_max_single_write(bev, 1024 * 1024);
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof one);
}

/*
 * The client's answer when the upstream of registry r did not deliver:
 * status is the upstream's (0 if it never answered), error what went
 * wrong, notfound the OCI code for a 404. The message names the entry and
 * the reason, never a credential.
 */
void
reply_upstream_failure(struct evhttp_request *req, const struct registry *r,
    long status, const char *error, const char *notfound)
{
	char	msg[768], what[64];

	snprintf(what, sizeof what, "the upstream answered %ld", status);
	if (status == 507)
		snprintf(what, sizeof what, "the cache is full");
	if (status == 401 && error == NULL)
		error = "the upstream refused the credentials";
	else if (status == 403 && error == NULL)
		error = "the upstream denied access";
	else if (status == 404)
		error = "not found upstream";
	else if (error == NULL)
		error = what;
	snprintf(msg, sizeof msg, "registry '%s': %s", r->name, error);
	switch (status) {
	case 401:
		reply_error(req, 401, "UNAUTHORIZED", msg);
		break;
	case 403:
		reply_error(req, 403, "DENIED", msg);
		break;
	case 404:
		reply_error(req, 404, notfound, msg);
		break;
	case 429:
		reply_error(req, 429, "TOOMANYREQUESTS", msg);
		break;
	case 503:	/* no slot of the entry's in time (upstream_busy) */
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "10");
		reply_error(req, 503, "UNAVAILABLE", msg);
		break;
	case 507:	/* ours: the byte budget */
		reply_error(req, 507, "UNAVAILABLE", msg);
		break;
	default:
		reply_error(req, 502, "UNAVAILABLE", msg);
		break;
	}
}
