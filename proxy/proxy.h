/*
 * pullgate: the proxy — the OCI distribution pull API on evhttp, upstream
 * transfers on libcurl's multi interface in the same event loop, and the
 * verified content-addressed cache. Prototypes are grouped by file.
 */
#ifndef PULLGATE_PROXY_H
#define PULLGATE_PROXY_H

#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"

struct event_base;
struct evbuffer;
struct proxy;
struct fetch;
struct transfer;
struct transfer_kind;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;
struct evkeyvalq;

/* conn.c: client connections, their limits and deadlines. */
struct conns;

struct conns *conn_init(struct proxy *, struct evhttp *,
	     struct evhttp_bound_socket *, char **);
void	 conn_unlisten(struct conns *);
void	 conn_free(struct conns *);
void	 conn_request(struct conns *, struct evhttp_request *);
void	 conn_request_done(struct conns *, struct evhttp_request *);
void	 conn_set_closecb(struct conns *, struct evhttp_connection *,
	     void (*)(struct evhttp_connection *, void *), void *);
/* access.c: who may use the proxy, and which entry. */
#define ACCESS_ALLOWED	0
#define ACCESS_ANSWERED	(-1)	/* refused: the request is answered */
#define ACCESS_PENDING	1	/* credentials being checked: hands off */

struct access;

int	 access_start(struct proxy *, void (*)(struct evhttp_request *, void *),
	     void *, char **);
void	 access_stop(struct proxy *);
int	 access_check(const struct config *, char **);
int	 access_reload(struct proxy *, char **);
int	 access_client(struct proxy *, struct evhttp_request *);
int	 access_entry(struct proxy *, struct evhttp_request *,
	     const struct registry *);
int	 access_ping(struct proxy *, struct evhttp_request *);

/* feed.c: apt and opkg feeds through the cache, by HTTP proxy or /feeds/. */
void	 feed_handle(struct proxy *, struct evhttp_request *, struct registry *,
	     const char *);
struct registry *feed_for_url(struct proxy *, const char *, const char *,
	     const char **);

/* feedfile.c: a feed file's kind of transfer, and how one is answered. */
struct feedfile {
	unsigned	 magic;
	struct proxy	*proxy;
	char		 dest[PATH_MAX];	/* the file's place; "" none */
	char		 meta[PATH_MAX];	/* what is known of it */
	char		 root[PATH_MAX];	/* must exist to publish; "" any */
	int		 verify;		/* digest is what it must be */
	struct digest	 digest;
	int64_t		 size;			/* from an index; -1 unknown */
	int		 passthrough;		/* unverifiable: sent, never kept */
	char		 etag[256];		/* the upstream's answer */
	char		 last_modified[64];
	/* A package index's lookup, parsed by feedfile_place: */
	int		 index_state;		/* 0 none, 1 built, -1 unusable */
	char		 index_built[PATH_MAX];	/* the lookup, in tmp/ */
	char		 index_cause[256];	/* why unusable */
};

extern const struct transfer_kind feedfile_kind;
void	 feedfile_init(struct feedfile *, struct proxy *, const char *,
	     const char *, const char *, const struct digest *, int64_t);
struct feedfile *feedfile_new(struct proxy *, const char *, const char *,
	     const char *, const struct digest *, int64_t);
int	 feedfile_cached(const char *, const char *, struct feed_meta *,
	     off_t *);
void	 feedfile_answer(struct proxy *, struct evhttp_request *, const char *,
	     const char *, const struct feed_meta *);
void	 feedfile_fetch(struct proxy *, struct evhttp_request *,
	     struct registry *, const char *, const struct transfer_kind *,
	     void *, const struct digest *, const char *,
	     const struct feed_meta *);
int	 feedfile_response(void *, struct fetch *, int64_t, char **);
int	 feedfile_publish(void *, struct transfer *, const struct digest *);
int	 feedfile_place(void *, const struct transfer *, const struct digest *);
void	 feedfile_drop_built(struct feedfile *);
void	 feedfile_headers(void *, struct evhttp_request *);
void	 feedfile_send_file(void *, struct evhttp_request *);
void	 feedfile_fail(void *, struct evhttp_request *, int, const char *);
void	 feedfile_free(void *);

/* feedset.c: a suite's signed index set, switched as one unit. */
int	 feedset_handle(struct proxy *, struct evhttp_request *,
	     struct registry *, const char *);

/* fetch.c: one upstream HTTP transfer on the shared curl multi handle. */
struct fetcher;
struct fetch;

struct fetch_callbacks {
	/* The final response's status line and headers arrived; -1 aborts. */
	int	(*on_headers)(struct fetch *, long, void *);
	/*
	 * Body bytes; NULL buffers the body (up to max_body); -1 aborts,
	 * FETCH_PAUSE takes none of them: curl holds them until
	 * fetch_unpause.
	 */
	int	(*on_data)(struct fetch *, const char *, size_t, void *);
	/* Always called once, unless cancelled; error is NULL on success. */
	void	(*on_done)(struct fetch *, const char *, void *);
};

struct fetch_request {
	const char		*url;
	int			 head;		/* HEAD instead of GET */
	struct curl_slist	*headers;	/* extra request headers (taken) */
	size_t			 max_body;	/* for buffered bodies */
	const char		*username;	/* basic auth, this host only */
	const char		*password;
	const char		*tls_cert;	/* client certificate file */
	int			 tls_cert_der;
	const char		*tls_key;
	int			 tls_key_der;
	const char		*tls_ca;	/* CA bundle; NULL: the system's */
	int			 timeout;	/* whole transfer, seconds; 0: none */
};

struct fetcher	*fetcher_new(struct event_base *, const struct config *);
void		 fetcher_set_config(struct fetcher *, const struct config *);
void		 fetcher_free(struct fetcher *);
void		 fetch_request_tls(struct fetch_request *, const struct registry *);
int		 fetch_origin(const char *, char *, size_t);
struct fetch	*fetch_start(struct fetcher *, const struct fetch_request *,
		     const struct fetch_callbacks *, void *);
#define FETCH_PAUSE	1
void		 fetch_cancel(struct fetch *);
void		 fetch_unpause(struct fetch *);
void		 fetch_retain(struct fetch *);
void		 fetch_release(struct fetch *);
long		 fetch_status(const struct fetch *);
const char	*fetch_header(const struct fetch *, const char *);
int64_t		 fetch_content_length(const struct fetch *);
struct evbuffer	*fetch_body(const struct fetch *);

/* entryqueue.c: at most N upstream requests per entry, the rest in line. */
struct entryqueue;
struct entryqueue_ticket;
typedef void (*entryqueue_cb)(int, void *);

struct entryqueue *entryqueue_new(struct event_base *, int, int);
void	 entryqueue_free(struct entryqueue *);
void	 entryqueue_prune(struct entryqueue *);
struct entryqueue_ticket *entryqueue_enter(struct entryqueue *, const void *,
	     entryqueue_cb, void *, int *);
void	 entryqueue_leave(struct entryqueue *, struct entryqueue_ticket *);
void	 entryqueue_counts(const struct entryqueue *, const void *, int *,
	     int *);

/* proxy.c: the daemon's shared state. */
struct transfer;
struct stream;
struct upstream_call;
TAILQ_HEAD(transfer_list, transfer);
TAILQ_HEAD(stream_list, stream);
TAILQ_HEAD(upstream_list, upstream_call);
TAILQ_HEAD(reload_list, reload_retired);

struct proxy {
	struct event_base	*base;
	struct evhttp		*http;
	struct conns		*conns;		/* client connections */
	struct config		*config;
	struct cache		 cache;
	struct budget		*budget;	/* and the store index */
	struct feedindex	*feedindex;	/* what package files must be */
	struct storewatch	*watch;
	struct event		*watch_ev;
	struct event		*watch_turn_ev;	/* manifest.c: manifest_store_current */
	int			 watch_fresh;	/* read in this loop turn */
	struct fetcher		*fetcher;
	struct tokens		*tokens;
	struct credhelpers	*credhelpers;	/* credentials from outside */
	struct access		*access;	/* who may use it */
	struct transfer_list	 transfers;	/* downloads in flight */
	struct workers		*workers;	/* their hashing and writing */
	struct workers		*syncers;	/* their syncs, re-hashes, parses */
	struct stream_list	 streams;	/* clients following them */
	struct upstream_list	 upstreams;	/* upstream requests in flight */
	struct entryqueue	*queue;		/* their slots per entry */
	struct event		*sigint, *sigterm, *sighup;
	struct reload_list	 retired;	/* configurations still pointed into */
	struct event		*collect_ev;	/* frees them once nothing is */
	const char		*upstream_flag;	/* serve --upstream, kept at reload */
	const char		*level_flag;	/* serve --log-level, likewise */
	struct evhttp		*control;	/* the owner-only control socket */
	char			 control_path[108];
	time_t			 started;
};

int	 proxy_run(struct config *, const char *, const char *);

/* reload.c: a new configuration while running. */
int	 reload_start(struct proxy *);
void	 reload_stop(struct proxy *);
int	 reload_apply(struct proxy *, char **, char **);

/* control.c: the control socket (status, and what only the operator asks). */
int	 control_start(struct proxy *, char **);
void	 control_stop(struct proxy *);

/* metrics.c: GET /metrics. */
void	 metrics_handle(struct proxy *, struct evhttp_request *);

/* reqstat.c: each request's route, status, source and latency. */
void	 reqstat_begin(struct evhttp_request *, enum stats_route);
void	 reqstat_route(struct evhttp_request *, enum stats_route);
void	 reqstat_end(struct evhttp_request *);

/* server.c: the evhttp front and request dispatch. */
int	 server_start(struct proxy *, char **);
void	 server_stop(struct proxy *);

/* reply.c: response helpers. */
void	 reply_headers(struct evhttp_request *);
void	 reply_digest_headers(struct evhttp_request *, const struct digest *,
	     const char *);
void	 reply_error(struct evhttp_request *, int, const char *, const char *);
void	 reply_json(struct evhttp_request *, int, struct evbuffer *);
void	 reply_send(struct evhttp_request *, int, struct evbuffer *);
void	 reply_send_head(struct evhttp_request *, int, size_t);
void	 reply_upstream_failure(struct evhttp_request *, const struct registry *,
	     long, const char *, const char *);
void	 reply_text(struct evhttp_request *, int, const char *);
#define REPLY_FILE_HEAD		0x1	/* the headers only */
#define REPLY_FILE_RANGE	0x2	/* honour the request's Range */
#define REPLY_FILE_OCI		0x4	/* errors as OCI bodies */
int	 reply_file(struct evhttp_request *, int, off_t, int);
void	 reply_tune_connection(struct evhttp_connection *);

/* token.c: Docker token flow tokens, per entry, origin and scope. */
#define TOKEN_SCOPE_MAX		(REFERENCE_NAME_MAX + 32)

struct tokens;
struct token_waiter;
/* error NULL: cached; else why not, with the token service's status. */
typedef void (*token_cb)(const char *, long, void *);

struct tokens	*tokens_new(struct proxy *);
void		 tokens_free(struct tokens *);
void		 tokens_flush(struct tokens *);
int		 tokens_idle(const struct tokens *);
const char	*token_lookup(struct tokens *, const struct registry *,
		     const char *, const char *);
int		 token_request(struct tokens *, struct registry *, const char *,
		     const char *, const struct challenge *, token_cb, void *,
		     struct token_waiter **, char **);
void		 token_forget(struct tokens *, struct token_waiter *);

/* credhelper.c: credentials from a helper or a config.json, kept fresh. */
struct credhelpers;
struct credhelper_waiter;
typedef void (*credhelper_cb)(const char *, void *);

struct credhelpers *credhelpers_new(struct proxy *);
void	 credhelpers_free(struct credhelpers *);
int	 credhelpers_idle(const struct credhelpers *);
int	 credhelper_ready(struct credhelpers *, struct registry *, credhelper_cb,
	     void *, struct credhelper_waiter **, char **);
int	 credhelper_refused(struct credhelpers *, struct registry *, unsigned);
void	 credhelper_forget(struct credhelpers *, struct credhelper_waiter *);

/* upstream.c: every request to a registry entry, with its authentication. */
struct upstream_req;

struct upstream_request {
	const char		*repo;		/* registry_upstream_name's */
	const char		*what;		/* "manifests", "blobs", "tags/list" */
	const char		*ref;		/* or NULL */
	const char		*query;		/* or NULL */
	int			 head;
	int			 accept_manifests;	/* every manifest type */
	size_t			 max_body;
	int			 timeout;	/* seconds; 0: low-speed limits only */
	const char		*url;		/* a whole URL instead (feeds) */
	struct curl_slist	*extra_headers;	/* copied */
};

struct upstream_req *upstream_start(struct proxy *, struct registry *,
	     const struct upstream_request *, const struct fetch_callbacks *,
	     void *, long *, char **);
void	 upstream_cancel(struct upstream_req *);
int	 upstream_busy(const char *);
void	 upstream_shutdown(struct proxy *);

/* api.c: the /v2/ pull API, routed to the handlers below. */

struct api_request {
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct registry		*registry;
	enum apipath_kind	 kind;
	int			 head;
	const char		*rawpath;	/* as requested; valid until return */
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 ref[REFERENCE_TAG_MAX + DIGEST_STRING_LEN + 1];
};

void	 api_handle(struct proxy *, struct evhttp_request *, const char *);

/* manifest.c */
void	 manifest_handle(struct api_request *);

/* blob.c */
void	 blob_handle(struct api_request *);

/* tags.c */
void	 tags_handle(struct api_request *);

/* referrers.c */
void	 referrers_handle(struct api_request *);

/*
 * transfer.c: one upstream download, read by many streams. What it is a
 * download of (a blob, a feed file, a suite's index set) is its kind's
 * business: the kind's state is opaque here, handed back to the kind's
 * callbacks and freed through its free.
 */
enum transfer_state {
	TRANSFER_CONNECTING,	/* no response headers yet */
	TRANSFER_STREAMING,	/* 200 received, bytes arriving */
	TRANSFER_PUBLISHING,	/* verified; the kind puts it in place */
	TRANSFER_DONE,		/* in place */
	TRANSFER_UNCHANGED,	/* a 304: the file in place stands */
	TRANSFER_FAILED
};

/* workers.c: threads for the blocking disk work of downloads. */
struct worker_job {
	void			(*work)(struct worker_job *);	/* a thread */
	void			(*done)(struct worker_job *);	/* the loop */
	void			*arg;
	TAILQ_ENTRY(worker_job)	 entry;
};

struct workers;
struct workers	*workers_new(struct event_base *, int);
void		 workers_submit(struct workers *, struct worker_job *);
void		 workers_free(struct workers *);

struct transfer_watch {
	void			(*cb)(void *);
	void			*arg;
	TAILQ_ENTRY(transfer_watch) entry;
};

#define TRANSFER_KEY_MAX	(PATH_MAX + 32)

struct transfer_kind {
	const char	*name;
	int		 conditional;	/* a 304 is an answer */
	int		 whole;		/* readers get the file once in place */
	/*
	 * Optional: the final 200 response's headers arrived, with the
	 * announced length (-1 unknown); the kind keeps what it wants of
	 * them (ETag, Last-Modified). -1 with *cause refuses the body.
	 */
	int		 (*response)(void *, struct fetch *, int64_t, char **);
	/*
	 * Puts the verified temporary file in place (transfer_publish_to);
	 * actual NULL: a 304, the file in place is fresh again. 0 done, -1
	 * failed, 1 in progress: the kind calls transfer_finish later.
	 */
	int		 (*publish)(void *, struct transfer *, const struct digest *);
	/*
	 * Optional, on a worker thread once the verified file is synced,
	 * before publish, with the file's digest: work of publishing that
	 * only reads the file and writes files of its own (a package index
	 * parsed into its lookup), so the loop never waits for it. It reads
	 * only kind state the loop does not change meanwhile, and may set
	 * fields of its own that publish reads. 0, or -1 with errno: the
	 * file cannot be stored.
	 */
	int		 (*place)(void *, const struct transfer *,
			     const struct digest *);
	/*
	 * Optional, on a worker thread once publish returned 0, before
	 * readers get the last byte: makes what publish did durable (the
	 * sync of the directory it renamed the file into), touching only the
	 * file system and the kind's unchanging state, so the loop never
	 * waits for it. The rename itself stays on the loop, with the
	 * budget's count of the file (no window where a file in place is
	 * counted twice, or evicted before it is published).
	 */
	void		 (*durable)(void *, const struct transfer *);
	/* The headers of a streamed 200 answer (not Content-Length). */
	void		 (*headers)(void *, struct evhttp_request *);
	/* Answers from the file in place (Range, HEAD, 304...). */
	void		 (*send_file)(void *, struct evhttp_request *);
	/*
	 * Answers a download that failed or never started: status is the
	 * upstream's (0: no usable answer), error what went wrong. Each
	 * kind speaks its clients' language (OCI error bodies, plain HTTP).
	 */
	void		 (*fail)(void *, struct evhttp_request *, int, const char *);
	void		 (*free)(void *);
};

struct transfer_request {
	const struct transfer_kind	*kind;
	void				*state;	/* the kind's, see transfer_start */
	const char			*key;	/* one download per key */
	const char			*what;	/* for the logs */
	const struct digest		*digest; /* what it must hash to; NULL: any */
	const struct upstream_request	*upstream;
};

struct transfer *transfer_start(struct proxy *, struct registry *,
	     const struct transfer_request *, long *, char **);
int	 transfer_publish_to(struct transfer *, const char *);
const char *transfer_tmp(const struct transfer *);
int	 transfer_fd(const struct transfer *);
void	 transfer_finish(struct transfer *, int, const char *);
const struct transfer_kind *transfer_kind(const struct transfer *);
void	*transfer_kind_state(const struct transfer *);
const char *transfer_what(const struct transfer *);
void	 transfer_ref(struct transfer *);
void	 transfer_unref(struct transfer *);
void	 transfer_watch(struct transfer *, struct transfer_watch *);
void	 transfer_unwatch(struct transfer *, struct transfer_watch *);
enum transfer_state transfer_state(const struct transfer *);
off_t	 transfer_written(const struct transfer *);
off_t	 transfer_length(const struct transfer *);
void	 transfer_each(struct proxy *, void (*)(const struct transfer *, void *),
	     void *);
int	 transfer_http_status(const struct transfer *);
const char *transfer_error(const struct transfer *);
void	 transfer_abort_all(struct proxy *);

/* stream.c: sends a download to one client while it arrives. */
int	 stream_transfer(struct proxy *, struct evhttp_request *,
	     struct registry *, const struct transfer_request *);
void	 stream_free_all(struct proxy *);

#endif
