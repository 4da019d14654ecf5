/*
 * Blobs: a cache hit is sent from the file with sendfile (an evbuffer file
 * segment), with Range; a miss joins or starts an upstream download of
 * that digest (transfer.c says which it may join) and streams from it
 * (stream.c). The blob kind of
 * transfer lives here: verified by digest, published into blobs/, errors
 * answered as OCI error bodies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy.h"

static void
blob_add_headers(struct evhttp_request *req, const struct digest *d)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	reply_digest_headers(req, d, "application/octet-stream");
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	evhttp_add_header(h, "Cache-Control", "max-age=31536000");
}

/*
 * Answers with a complete, verified blob file (fd is consumed), honouring
 * the request's Range header.
 */
static void
blob_send_file(struct budget *b, struct evhttp_request *req, int fd,
    off_t size, const struct digest *d, int head)
{
	blob_add_headers(req, d);
	budget_use_blob(b, d, fd);
	reply_file(req, fd, size, REPLY_FILE_RANGE | REPLY_FILE_OCI |
	    (head ? REPLY_FILE_HEAD : 0));
}

/* The blob kind of transfer: its state. */
#define BLOB_TRANSFER_MAGIC	0x424c4f42	/* "BLOB" */

struct blob_transfer {
	unsigned	 magic;
	struct proxy	*proxy;
	struct registry	*registry;
	struct digest	 digest;
};

static struct blob_transfer *
blob_transfer_state(void *ks)
{
	struct blob_transfer	*bt = ks;

	if (bt->magic != BLOB_TRANSFER_MAGIC)
		fatal("%s: bad magic", __func__);
	return bt;
}

/*
 * The loop: the synced, verified file renamed into blobs/ and counted in
 * the cache's budget at once (the transfer gives its reservation back).
 */
static int
blob_kind_publish(void *ks, struct transfer *t, const struct digest *actual)
{
	struct blob_transfer	*bt = blob_transfer_state(ks);

	(void)actual;		/* the transfer checked it is bt->digest */
	if (cache_place(&bt->proxy->cache, transfer_tmp(t), &bt->digest) != 0)
		return -1;
	budget_add_blob(bt->proxy->budget, &bt->digest, transfer_written(t));
	return 0;
}

/* A worker thread: the rename into blobs/ made durable. */
static void
blob_kind_durable(void *ks, const struct transfer *t)
{
	struct blob_transfer	*bt = blob_transfer_state(ks);
	char			 path[PATH_MAX];

	(void)t;
	if (cache_blob_path(&bt->proxy->cache, &bt->digest, path,
	    sizeof path) == 0)
		cache_fsync_dir(path);
}

static void
blob_kind_headers(void *ks, struct evhttp_request *req)
{
	reply_digest_headers(req, &blob_transfer_state(ks)->digest,
	    "application/octet-stream");
}

static void
blob_kind_send_file(void *ks, struct evhttp_request *req)
{
	struct blob_transfer	*bt = blob_transfer_state(ks);
	off_t			 size;
	int			 fd;

	if ((fd = cache_blob_open(&bt->proxy->cache, &bt->digest, &size)) == -1) {
		reply_error(req, 500, "UNKNOWN", "cannot read the cache");
		return;
	}
	blob_send_file(bt->proxy->budget, req, fd, size, &bt->digest,
	    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD);
}

static void
blob_kind_fail(void *ks, struct evhttp_request *req, int status,
    const char *error)
{
	struct blob_transfer	*bt = blob_transfer_state(ks);

	reply_upstream_failure(req, bt->registry, status,
	    status == 404 ? NULL : error, "BLOB_UNKNOWN");
}

static void
blob_kind_free(void *ks)
{
	struct blob_transfer	*bt = blob_transfer_state(ks);

	bt->magic = 0;
	free(bt);
}

static const struct transfer_kind blob_kind = {
	.name = "blob",
	.conditional = 0,
	.whole = 0,
	.publish = blob_kind_publish,
	.durable = blob_kind_durable,
	.headers = blob_kind_headers,
	.send_file = blob_kind_send_file,
	.fail = blob_kind_fail,
	.free = blob_kind_free,
};

/* Streams blob d of repository repo in ar's registry from the one download. */
static void
blob_fetch(struct api_request *ar, const struct digest *d)
{
	struct transfer_request	 tr;
	struct upstream_request	 ur;
	struct blob_transfer	*bt;
	char			 dstr[DIGEST_STRING_LEN + 1];
	char			 what[REGISTRY_NAME_MAX + REFERENCE_NAME_MAX + 80];

	if ((bt = calloc(1, sizeof *bt)) == NULL) {
		reply_error(ar->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	bt->magic = BLOB_TRANSFER_MAGIC;
	bt->proxy = ar->proxy;
	bt->registry = ar->registry;
	bt->digest = *d;
	digest_format(d, dstr, sizeof dstr);
	snprintf(what, sizeof what, "%s/%s %s", ar->registry->name, ar->repo,
	    dstr);
	memset(&ur, 0, sizeof ur);
	ur.repo = ar->repo;
	ur.what = "blobs";
	ur.ref = dstr;
	memset(&tr, 0, sizeof tr);
	tr.kind = &blob_kind;
	tr.state = bt;
	tr.key = d->hex;
	tr.what = what;
	tr.digest = d;
	tr.upstream = &ur;
	stream_transfer(ar->proxy, ar->req, ar->registry, &tr);
}

struct blob_head {
	struct evhttp_request	*req;
	struct digest		 digest;
	struct registry		*registry;
};

/* A HEAD for an uncached blob asks the upstream, and caches nothing. */
static void
blob_head_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct blob_head	*bh = arg;
	struct evkeyvalq	*h = evhttp_request_get_output_headers(bh->req);
	long			 status = upstream_busy(error) ? 503 : fetch_status(f);
	int64_t			 len = fetch_content_length(f);
	char			 buf[32];

	if (error == NULL && status == 200) {
		blob_add_headers(bh->req, &bh->digest);
		if (len >= 0) {
			snprintf(buf, sizeof buf, "%lld", (long long)len);
			evhttp_add_header(h, "Content-Length", buf);
		}
		evhttp_send_reply(bh->req, 200, NULL, NULL);
	} else
		reply_upstream_failure(bh->req, bh->registry, status, error,
		    "BLOB_UNKNOWN");
	free(bh);
}

static void
blob_head_upstream(struct api_request *ar, const struct digest *d)
{
	struct fetch_callbacks	 cb = { NULL, NULL, blob_head_done_cb };
	struct upstream_request	 ur;
	struct blob_head	*bh;
	char			*cause = NULL;
	long			 status;

	if ((bh = calloc(1, sizeof *bh)) == NULL) {
		reply_error(ar->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	bh->req = ar->req;
	bh->digest = *d;
	bh->registry = ar->registry;
	memset(&ur, 0, sizeof ur);
	ur.repo = ar->repo;
	ur.what = "blobs";
	ur.ref = ar->ref;
	ur.head = 1;
	if (upstream_start(ar->proxy, ar->registry, &ur, &cb, bh, &status,
	    &cause) == NULL) {
		reply_upstream_failure(ar->req, ar->registry, status, cause,
		    "BLOB_UNKNOWN");
		free(cause);
		free(bh);
	}
}

void
blob_handle(struct api_request *ar)
{
	struct proxy	*p = ar->proxy;
	struct digest	 d;
	off_t		 size;
	int		 fd;

	if (digest_parse(ar->ref, &d) != 0) {
		reply_error(ar->req, 400, "DIGEST_INVALID",
		    "invalid digest (expected sha256:<64 lowercase hex digits>)");
		return;
	}
	if ((fd = cache_blob_open(&p->cache, &d, &size)) != -1) {
		blob_send_file(ar->proxy->budget, ar->req, fd, size, &d, ar->head);
		return;
	}
	if (errno != ENOENT) {
		log_warn("%s: sha256:%s: %s", __func__, d.hex, strerror(errno));
		reply_error(ar->req, 500, "UNKNOWN", "cannot read the cache");
		return;
	}
	if (ar->registry->is_local) {
		reply_error(ar->req, 404, "BLOB_UNKNOWN", "blob not in the local cache");
		return;
	}
	if (ar->head) {
		blob_head_upstream(ar, &d);
		return;
	}
	blob_fetch(ar, &d);
}
