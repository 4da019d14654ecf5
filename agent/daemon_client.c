/*
 * The commands' HTTP client for the running daemon (resolve, prefill): one
 * blocking GET at a time on libcurl's easy interface — a command has no
 * event loop — with the manifest Accept header, never through a proxy.
 * The daemon is local, so a refused connection means that none runs.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

#define DAEMON_CLIENT_CONNECT_TIMEOUT	3L	/* seconds; it is local */
#define DAEMON_CLIENT_ERROR_MAX		4096	/* of an error body, kept */

struct daemon_client_xfer {
	const struct daemon_client	*dc;
	const struct daemon_client_batch *batch;	/* or NULL */
	size_t				 index;		/* in the batch */
	struct daemon_client_reply	*reply;
	CURL				*curl;
	struct curl_slist		*headers;
	char				 url[2048];
	size_t				 max;		/* 0: count, keep nothing */
	int				 too_large;
	char				 error[DAEMON_CLIENT_ERROR_MAX + 1];
	size_t				 errlen;
};

/* The daemon's control socket (config_control_socket); -1 if too long. */
int
daemon_client_init_control(struct daemon_client *dc, const struct config *c)
{
	memset(dc, 0, sizeof *dc);
	util_strlcpy(dc->base, "http://localhost", sizeof dc->base);
	return config_control_socket(c, dc->unix_path, sizeof dc->unix_path);
}

/* "http://HOST:PORT" ([HOST] for IPv6) of the daemon; -1 if too long. */
int
daemon_client_init(struct daemon_client *dc, const char *host, int port)
{
	int	n;

	memset(dc, 0, sizeof *dc);
	n = snprintf(dc->base, sizeof dc->base, "http://%s%s%s:%d",
	    strchr(host, ':') != NULL ? "[" : "", host,
	    strchr(host, ':') != NULL ? "]" : "", port);
	return (n < 0 || (size_t)n >= sizeof dc->base) ? -1 : 0;
}

/* Whether a daemon answers /healthz at the base address (2 s at most). */
int
daemon_client_up(const struct daemon_client *dc)
{
	char	 url[sizeof dc->base + 16];
	CURL	*curl;
	long	 code = 0;

	if ((curl = curl_easy_init()) == NULL)
		return 0;
	snprintf(url, sizeof url, "%s/healthz", dc->base);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 2L);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	return code == 200;
}

/* Copies the value of header line (name included) into dst, if it fits. */
static void
daemon_client_value(const char *line, size_t len, size_t namelen, char *dst,
    size_t dstlen)
{
	size_t	vlen;

	line += namelen;
	len -= namelen;
	while (len > 0 && *line == ' ') {
		line++;
		len--;
	}
	for (vlen = 0; vlen < len && line[vlen] != '\r' && line[vlen] != '\n';
	    vlen++)
		;
	if (vlen < dstlen) {
		memcpy(dst, line, vlen);
		dst[vlen] = '\0';
	}
}

static size_t
daemon_client_header_cb(char *line, size_t size, size_t n, void *arg)
{
	static const struct {
		const char	*name;
		size_t		 offset, size;
	} wanted[] = {
		{ "Docker-Content-Digest:",
		    offsetof(struct daemon_client_reply, digest),
		    sizeof ((struct daemon_client_reply *)0)->digest },
		{ "Content-Type:", offsetof(struct daemon_client_reply, type),
		    sizeof ((struct daemon_client_reply *)0)->type },
		{ "X-Pullgate-Source:", offsetof(struct daemon_client_reply, source),
		    sizeof ((struct daemon_client_reply *)0)->source },
	};
	struct daemon_client_xfer	*x = arg;
	size_t				 len = size * n, i, nl;

	for (i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
		nl = strlen(wanted[i].name);
		if (len > nl && strncasecmp(line, wanted[i].name, nl) == 0)
			daemon_client_value(line, len, nl,
			    (char *)x->reply + wanted[i].offset, wanted[i].size);
	}
	return len;
}

static size_t
daemon_client_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct daemon_client_xfer	*x = arg;
	struct daemon_client_reply	*r = x->reply;
	size_t				 len = size * n, take;
	long				 code = 0;
	char				*nb;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		/* An error: its start is kept for the message. */
		take = DAEMON_CLIENT_ERROR_MAX - x->errlen;
		if (take > len)
			take = len;
		memcpy(x->error + x->errlen, data, take);
		x->errlen += take;
		x->error[x->errlen] = '\0';
		return len;
	}
	if (x->max == 0) {
		if (x->batch != NULL && x->batch->bytes != NULL)
			x->batch->bytes(x->index, len, x->batch->arg);
		return len;
	}
	if (len > x->max - r->len) {
		x->too_large = 1;
		return 0;
	}
	if ((nb = realloc(r->body, r->len + len + 1)) == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* The message of an OCI error body ({"errors":[{"message":...}]}), if any. */
static void
daemon_client_message(const char *body, char *dst, size_t len)
{
	json_t		*root;
	const char	*m;

	if ((root = json_loads(body, 0, NULL)) == NULL)
		return;
	m = json_string_value(json_object_get(json_array_get(json_object_get(root,
	    "errors"), 0), "message"));
	if (m == NULL)		/* the control socket's {"error": ...} */
		m = json_string_value(json_object_get(root, "error"));
	if (m != NULL)
		util_strlcpy(dst, m, len);
	json_decref(root);
}

/* Sets up x's easy handle for path; -1 with *cause if it cannot be. */
static int
daemon_client_easy(struct daemon_client_xfer *x, const struct daemon_client *dc,
    int post, const char *path, size_t max, struct daemon_client_reply *r,
    char **cause)
{
	CURL	*curl;

	memset(r, 0, sizeof *r);
	x->dc = dc;
	x->reply = r;
	x->max = max;
	if (snprintf(x->url, sizeof x->url, "%s%s", dc->base, path) >=
	    (int)sizeof x->url) {
		*cause = util_printf("%s: path too long", path);
		return -1;
	}
	if ((curl = curl_easy_init()) == NULL ||
	    (x->headers = curl_slist_append(NULL, mediatype_accept_header)) == NULL) {
		curl_easy_cleanup(curl);
		*cause = util_printf("%s: out of memory", path);
		return -1;
	}
	x->curl = curl;
	curl_easy_setopt(curl, CURLOPT_URL, x->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_PRIVATE, (char *)x);
	if (post) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (dc->unix_path[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, dc->unix_path);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, DAEMON_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, dc->timeout);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, daemon_client_header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, daemon_client_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	return 0;
}

/*
 * The outcome of x's request (curl's rc): 0 on a 200, else -1 with
 * *cause; x's handle is freed.
 */
static int
daemon_client_result(struct daemon_client_xfer *x, CURLcode rc,
    const char *path, char **cause)
{
	const struct daemon_client	*dc = x->dc;
	struct daemon_client_reply	*r = x->reply;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(x->curl);
	x->curl = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	if (x->too_large) {
		*cause = util_printf("%s: larger than %zu bytes", path, x->max);
		return -1;
	}
	if (rc != CURLE_OK) {
		r->no_daemon = (rc == CURLE_COULDNT_CONNECT);
		if (r->no_daemon && dc->unix_path[0] != '\0')
			*cause = util_printf("no daemon answers on %s (or this "
			    "user may not open it)", dc->unix_path);
		else
			*cause = util_printf("%s: %s", path,
			    curl_easy_strerror(rc));
		return -1;
	}
	if (r->status != 200) {
		daemon_client_message(x->error, r->message, sizeof r->message);
		*cause = util_printf("%s: %ld %s", path, r->status, r->message);
		return -1;
	}
	return 0;
}

/*
 * GETs path from the daemon into *r: the body up to max bytes (more is an
 * error), or with max 0 none (counted by a batch's callback). Returns 0
 * on a 200; else -1 with *cause ("PATH: what went wrong"), r->status (0:
 * no answer), r->no_daemon when nothing listens, and r->message when the
 * daemon sent an OCI error. Free r with daemon_client_reply_free either way.
 */
static int
daemon_client_request(const struct daemon_client *dc, int post,
    const char *path, size_t max, struct daemon_client_reply *r, char **cause)
{
	struct daemon_client_xfer	 x;

	memset(&x, 0, sizeof x);
	if (daemon_client_easy(&x, dc, post, path, max, r, cause) != 0)
		return -1;
	return daemon_client_result(&x, curl_easy_perform(x.curl), path, cause);
}

/*
 * Runs the batch b: its GETs, at most b->jobs at once, on one multi
 * handle. Every path is asked for whatever the others do. Returns 0 when
 * all were 200s, else -1 with *cause, the first failure.
 */
int
daemon_client_get_batch(const struct daemon_client *dc,
    const struct daemon_client_batch *b, char **cause)
{
	struct daemon_client_xfer	*xs = NULL, *x;
	struct daemon_client_reply	*rs = NULL;
	CURLM				*multi;
	CURLMsg				*msg;
	char				*why;
	CURLcode			 res;
	size_t				 next = 0, done = 0;
	int				 running = 0, left, jobs, rc = 0;

	jobs = b->jobs > 0 ? b->jobs : 1;
	if (b->n == 0)
		return 0;
	if ((multi = curl_multi_init()) == NULL ||
	    (xs = calloc(b->n, sizeof *xs)) == NULL ||
	    (rs = calloc(b->n, sizeof *rs)) == NULL) {
		*cause = util_printf("out of memory");
		rc = -1;
		goto out;
	}
	while (done < b->n) {
		while (next < b->n && running < jobs) {
			x = &xs[next];
			x->batch = b;
			x->index = next;
			why = NULL;
			if (daemon_client_easy(x, dc, 0, b->paths[next], 0,
			    &rs[next], &why) != 0 ||
			    curl_multi_add_handle(multi, x->curl) != CURLM_OK) {
				if (x->curl != NULL)
					daemon_client_result(x, CURLE_FAILED_INIT,
					    b->paths[next], &why);
				b->ended(next, why != NULL ? why : "cannot start",
				    b->arg);
				if (rc == 0)
					*cause = why;
				else
					free(why);
				rc = -1;
				done++;
				next++;
				continue;
			}
			if (b->started != NULL)
				b->started(next, b->arg);
			next++;
			running++;
		}
		if (running == 0)
			continue;
		curl_multi_perform(multi, &left);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			res = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&x);
			curl_multi_remove_handle(multi, msg->easy_handle);
			why = NULL;
			if (daemon_client_result(x, res, b->paths[x->index],
			    &why) == 0)
				b->ended(x->index, NULL, b->arg);
			else {
				b->ended(x->index, why, b->arg);
				if (rc == 0) {
					*cause = why;
					why = NULL;
				}
				rc = -1;
			}
			free(why);
			running--;
			done++;
		}
		if (b->tick != NULL)
			b->tick(b->arg);
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
out:
	curl_multi_cleanup(multi);
	free(xs);
	free(rs);
	return rc;
}

int
daemon_client_get(const struct daemon_client *dc, const char *path, size_t max,
    struct daemon_client_reply *r, char **cause)
{
	return daemon_client_request(dc, 0, path, max, r, cause);
}

/* The same as a POST with no body (the control socket's actions). */
static int
daemon_client_post(const struct daemon_client *dc, const char *path,
    size_t max, struct daemon_client_reply *r, char **cause)
{
	return daemon_client_request(dc, 1, path, max, r, cause);
}

void
daemon_client_reply_free(struct daemon_client_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/*
 * Asks the daemon of configuration c, over its control socket, to read
 * its configuration again. Returns 1 when it did (*note: what waits for a
 * restart, or NULL), 0 when no daemon answers, -1 when it refused or
 * could not be asked (*cause). The caller frees *note and *cause.
 */
int
daemon_client_reload(const struct config *c, char **note, char **cause)
{
	struct daemon_client		 dc;
	struct daemon_client_reply	 r;
	json_t				*root;
	const char			*n;
	int				 rc;

	*note = NULL;
	if (daemon_client_init_control(&dc, c) != 0) {
		*cause = util_printf("control socket path too long");
		return -1;
	}
	dc.timeout = 60;
	if (daemon_client_post(&dc, "/reload", 65536, &r, cause) != 0) {
		rc = r.no_daemon ? 0 : -1;
		if (rc == -1 && r.message[0] != '\0') {
			free(*cause);
			*cause = util_printf("%s", r.message);
		}
		daemon_client_reply_free(&r);
		return rc;
	}
	if ((root = json_loadb(r.body, r.len, 0, NULL)) != NULL &&
	    (n = json_string_value(json_object_get(root, "note"))) != NULL)
		*note = util_printf("%s", n);
	json_decref(root);
	daemon_client_reply_free(&r);
	return 1;
}
