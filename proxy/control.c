/*
 * The control socket: a Unix socket only the daemon's user can open
 * (mode 0600), never the TCP listener, answering what is for the operator
 * alone. GET /status is the daemon's state as JSON ('pullgate status'):
 * version, uptime, listen address, every entry with its circuit breaker,
 * last success and last error and certificate expiry, the cache against
 * its budget, and the downloads in flight with their progress.
 *
 * POST /reload reads the configuration again (reload.c) and answers
 * the outcome ('pullgate reload', 'pullgate registry add|rm').
 *
 * The socket is control_socket, by default control.sock in the cache
 * directory (always writable by the daemon, also under systemd's
 * ProtectSystem=strict). A socket there that still answers belongs to
 * another daemon on the same cache: this one then runs without one and
 * says so.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>

#include "proxy.h"

static json_t *
control_time(time_t t)
{
	char	buf[64];

	if (t == 0)
		return json_null();
	identity_format_time(t, buf, sizeof buf);
	return json_string(buf);
}

static json_t *
control_entry(struct proxy *p, struct registry *r)
{
	json_t	*e, *cert;
	time_t	 now = time(NULL);
	char	 why[256];
	int	 usable;

	e = json_pack("{s:i, s:s, s:s, s:b, s:b}", "id", r->id, "name", r->name,
	    "url", r->url, "local", r->is_local, "feed", r->is_feed);
	if (e == NULL || r->is_local)
		return e;
	json_object_set_new(e, "breaker", json_string(
	    p->config->offline ? "offline" :
	    r->down_until > now ? "open" : "closed"));
	if (r->down_until > now)
		json_object_set_new(e, "breaker_closes_in",
		    json_integer((json_int_t)(r->down_until - now)));
	json_object_set_new(e, "last_success", control_time(r->last_success));
	json_object_set_new(e, "last_failure", control_time(r->last_failure));
	json_object_set_new(e, "last_error", r->last_failure != 0 ?
	    json_string(r->last_error) : json_null());
	if ((r->auth & AUTH_MTLS) && r->identity != NULL) {
		usable = identity_usable(r->identity, why, sizeof why);
		cert = json_pack("{s:s, s:b}", "subject",
		    r->identity->loaded ? r->identity->info.subject : "",
		    "usable", usable);
		if (cert != NULL && r->identity->loaded) {
			json_object_set_new(cert, "not_after",
			    control_time(r->identity->info.not_after));
			json_object_set_new(cert, "days_left", json_integer(
			    (json_int_t)((r->identity->info.not_after - now) / 86400)));
		}
		if (cert != NULL && !usable)
			json_object_set_new(cert, "problem", json_string(why));
		json_object_set_new(e, "certificate", cert);
	}
	return e;
}

static void
control_transfer(const struct transfer *t, void *arg)
{
	json_t	*list = arg;

	json_array_append_new(list, json_pack("{s:s, s:I, s:I}",
	    "what", transfer_what(t),
	    "received", (json_int_t)transfer_written(t),
	    "length", (json_int_t)transfer_length(t)));
}

static json_t *
control_status(struct proxy *p)
{
	struct config		*c = p->config;
	json_t			*s, *entries, *feeds, *transfers;
	char			 listen[300];
	size_t			 i;

	snprintf(listen, sizeof listen, "%s%s%s:%d",
	    strchr(c->listen_host, ':') != NULL ? "[" : "", c->listen_host,
	    strchr(c->listen_host, ':') != NULL ? "]" : "", c->listen_port);
	s = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:b}",
	    "version", PULLGATE_VERSION, "crypto", crypto_backend->name,
	    "uptime_seconds", (json_int_t)(time(NULL) - p->started),
	    "pid", (int)getpid(), "listen", listen, "config", c->file,
	    "offline", c->offline);
	if (s == NULL)
		return NULL;
	json_object_set_new(s, "default_registry",
	    json_string(registry_default(&c->registries)->name));
	json_object_set_new(s, "cache", json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
	    "dir", c->cache_dir,
	    "bytes", (json_int_t)stats_get(STATS_CACHE_BYTES),
	    "max_bytes", (json_int_t)c->cache_max_bytes,
	    "reserved_bytes", (json_int_t)stats_get(STATS_CACHE_RESERVED_BYTES),
	    "pinned_bytes", (json_int_t)stats_get(STATS_CACHE_PINNED_BYTES),
	    "files", (json_int_t)stats_get(STATS_CACHE_FILES)));
	entries = json_array();
	for (i = 0; i < c->registries.count; i++)
		json_array_append_new(entries,
		    control_entry(p, &c->registries.entries[i]));
	json_object_set_new(s, "registries", entries);
	feeds = json_array();
	for (i = 0; i < c->feeds.count; i++)
		json_array_append_new(feeds, control_entry(p, &c->feeds.entries[i]));
	json_object_set_new(s, "feeds", feeds);
	transfers = json_array();
	transfer_each(p, control_transfer, transfers);
	json_object_set_new(s, "transfers", transfers);
	return s;
}

/* POST /reload: the outcome, as JSON, 200 or 409 (refused). */
static json_t *
control_reload(struct proxy *p, int *status)
{
	char	*cause = NULL, *note = NULL;
	json_t	*s;

	if (reload_apply(p, &note, &cause) != 0) {
		*status = 409;
		s = json_pack("{s:b, s:s}", "reloaded", 0, "error",
		    cause != NULL ? cause : "refused");
	} else {
		*status = 200;
		s = json_pack("{s:b}", "reloaded", 1);
		if (s != NULL && note != NULL)
			json_object_set_new(s, "note", json_string(note));
	}
	free(cause);
	free(note);
	return s;
}

static void
control_request_cb(struct evhttp_request *req, void *arg)
{
	struct proxy	*p = arg;
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct evbuffer	*b;
	json_t		*s;
	char		*text;
	int		 status = 200;

	if (path != NULL && strcmp(path, "/status") == 0 &&
	    method == EVHTTP_REQ_GET)
		s = control_status(p);
	else if (path != NULL && strcmp(path, "/reload") == 0 &&
	    method == EVHTTP_REQ_POST)
		s = control_reload(p, &status);
	else {
		reply_text(req, 404, "the control socket answers GET /status "
		    "and POST /reload");
		return;
	}
	if (s == NULL ||
	    (text = json_dumps(s, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(s);
		reply_text(req, 500, "out of memory");
		return;
	}
	json_decref(s);
	if ((b = evbuffer_new()) != NULL)
		evbuffer_add_printf(b, "%s\n", text);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	reply_send(req, status, b);
	if (b != NULL)
		evbuffer_free(b);
}

/* 1 if a daemon answers on the socket at sun, 0 if not. */
static int
control_in_use(const struct sockaddr_un *sun)
{
	int	fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0;
	close(fd);
	return rc;
}

int
control_start(struct proxy *p, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (config_control_socket(p->config, sun.sun_path, sizeof sun.sun_path) != 0) {
		*cause = util_printf("control socket path too long (at most %zu "
		    "bytes): set control_socket", sizeof sun.sun_path - 1);
		return -1;
	}
	if (lstat(sun.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*cause = util_printf("%s exists and is not a socket",
			    sun.sun_path);
			return -1;
		}
		if (control_in_use(&sun)) {
			log_warn("another pullgate answers on %s: running "
			    "without a control socket", sun.sun_path);
			return 0;
		}
		unlink(sun.sun_path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*cause = util_printf("control socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
		umask(old);
		*cause = util_printf("cannot create the control socket %s: %s",
		    sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(sun.sun_path, 0600) != 0 || listen(fd, 16) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0 ||
	    (p->control = evhttp_new(p->base)) == NULL ||
	    evhttp_accept_socket_with_handle(p->control, fd) == NULL) {
		*cause = util_printf("cannot serve the control socket %s",
		    sun.sun_path);
		close(fd);
		unlink(sun.sun_path);
		return -1;
	}
	evhttp_set_timeout(p->control, 10);
	evhttp_set_allowed_methods(p->control, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(p->control, control_request_cb, p);
	util_strlcpy(p->control_path, sun.sun_path, sizeof p->control_path);
	return 0;
}

void
control_stop(struct proxy *p)
{
	if (p->control == NULL)
		return;
	evhttp_free(p->control);
	p->control = NULL;
	unlink(p->control_path);
}
