/*
 * One upstream download of a blob, shared by every client that asks for it
 * while it runs. Bytes go to a temporary file in the cache and into a
 * SHA-256 as they arrive; readers (stream.c) follow the growing file at
 * their own pace, so a slow client never holds the download back. When
 * the body ends and its digest matches, the file is published by rename;
 * otherwise it is removed and every reader's response is cut short.
 *
 * References: the in-flight list holds one until the transfer ends, and
 * each reader holds one; the temporary file's descriptor lives as long
 * as the last reference.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/http.h>

#include "proxy.h"

#define TRANSFER_MAGIC		0x5452414e	/* "TRAN" */
#define TRANSFER_RESERVE_STEP	(1024 * 1024)	/* bodies of unknown length */

struct transfer {
	unsigned		 magic;
	int			 refs;
	int			 listed;
	TAILQ_ENTRY(transfer)	 entry;
	struct proxy		*proxy;
	struct registry		*registry;
	const struct transfer_kind *kind;
	char			 key[TRANSFER_KEY_MAX];	/* one download per key */
	int			 verify;	/* digest is what it must hash to */
	struct digest		 digest;
	int64_t			 expected_size;	/* from an index; -1 unknown */
	char			 dest[PATH_MAX];	/* a feed file's place */
	char			 meta[PATH_MAX];	/* and what is known of it */
	char			 etag[256];		/* the upstream's */
	char			 last_modified[64];
	int			 not_modified;	/* a revalidation answered 304 */
	char			 what[TRANSFER_KEY_MAX + 80];
	char			 tmp[PATH_MAX];
	int			 fd;
	off_t			 written;
	int64_t			 reserved;	/* of the budget */
	off_t			 length;	/* announced; -1 if unknown */
	struct crypto_sha256	*hash;
	struct upstream_req	*upstream;
	enum transfer_state	 state;
	int			 http_status;
	char			 error[256];
	TAILQ_HEAD(, transfer_watch) watches;
};

static const char *transfer_state_names[] = {
	"connecting", "streaming", "done", "failed"
};

static void
transfer_set_state(struct transfer *t, enum transfer_state s)
{
	log_debug("%s: sha256:%.12s %s -> %s", __func__, t->digest.hex,
	    transfer_state_names[t->state], transfer_state_names[s]);
	t->state = s;
}

static void
transfer_notify(struct transfer *t)
{
	struct transfer_watch	*w;

	TAILQ_FOREACH(w, &t->watches, entry)
		w->cb(w->arg);
}

/* The reservation goes back once the transfer ends, however it ends. */
static void
transfer_release(struct transfer *t)
{
	budget_release(t->proxy->budget, t->reserved);
	t->reserved = 0;
}

static void
transfer_unlist(struct transfer *t)
{
	transfer_release(t);
	if (!t->listed)
		return;
	TAILQ_REMOVE(&t->proxy->transfers, t, entry);
	t->listed = 0;
}

static void
transfer_fail(struct transfer *t, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
transfer_fail(struct transfer *t, int http_status, const char *fmt, ...)
{
	va_list	ap;

	if (t->state == TRANSFER_FAILED || t->state == TRANSFER_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof t->error, fmt, ap);
	va_end(ap);
	t->http_status = http_status;
	transfer_set_state(t, TRANSFER_FAILED);
	cache_discard(t->tmp);
	transfer_unlist(t);
	transfer_notify(t);
}

/* Reserves n more bytes of the budget; fails the transfer if it has no room. */
static int
transfer_reserve(struct transfer *t, int64_t n)
{
	char	*cause = NULL;

	if (budget_reserve(t->proxy->budget, n, &cause) != 0) {
		log_warn("%s: %s", t->what, cause);
		transfer_fail(t, 507, "%s", cause);
		free(cause);
		return -1;
	}
	t->reserved += n;
	return 0;
}

static int
transfer_headers_cb(struct fetch *f, long status, void *arg)
{
	struct transfer	*t = arg;
	const char	*v;

	if (status == 304 && t->kind->conditional) {
		t->not_modified = 1;
		return 0;
	}
	if (status != 200) {
		transfer_fail(t, (int)status, "the upstream answered %ld", status);
		return -1;
	}
	t->length = fetch_content_length(f);
	if (t->expected_size >= 0 && t->length >= 0 &&
	    t->length != t->expected_size) {
		log_error("%s: the upstream announced %lld bytes, the index %lld; "
		    "discarded", t->what, (long long)t->length,
		    (long long)t->expected_size);
		transfer_fail(t, 0, "the upstream's file does not match its index");
		return -1;
	}
	if ((v = fetch_header(f, "ETag")) != NULL)
		util_strlcpy(t->etag, v, sizeof t->etag);
	if ((v = fetch_header(f, "Last-Modified")) != NULL)
		util_strlcpy(t->last_modified, v, sizeof t->last_modified);
	if (t->length > 0 && transfer_reserve(t, t->length) != 0)
		return -1;
	transfer_set_state(t, TRANSFER_STREAMING);
	transfer_notify(t);
	return 0;
}

static int
transfer_data_cb(struct fetch *f, const char *data, size_t len, void *arg)
{
	struct transfer	*t = arg;
	size_t		 done = 0;
	ssize_t		 n;

	(void)f;
	if (t->length >= 0 && t->written + (off_t)len > t->length) {
		transfer_fail(t, 0, "upstream sent more than it announced");
		return -1;
	}
	/* A body of unknown length reserves its room as it grows. */
	while (t->written + (off_t)len > t->reserved)
		if (transfer_reserve(t, TRANSFER_RESERVE_STEP) != 0)
			return -1;
	crypto_backend->sha256_update(t->hash, data, len);
	while (done < len) {
		n = pwrite(t->fd, data + done, len - done, t->written + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			log_error("%s: %s: %s", __func__, t->tmp, strerror(errno));
			stats_add(STATS_CACHE_WRITE_ERRORS, 1);
			transfer_fail(t, 0, "cannot write to the cache: %s",
			    strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	t->written += (off_t)len;
	transfer_notify(t);
	return 0;
}

static void
transfer_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct transfer	*t = arg;
	unsigned char	 raw[CRYPTO_SHA256_LEN];
	struct digest	 actual;

	(void)f;
	t->upstream = NULL;
	if (t->state == TRANSFER_FAILED)
		goto out;
	if (error != NULL) {
		log_warn("%s: %s", t->what, error);
		transfer_fail(t, 0, "upstream transfer failed: %s", error);
		goto out;
	}
	if (t->length >= 0 && t->written != t->length) {
		transfer_fail(t, 0, "upstream body ended early");
		goto out;
	}
	if (t->not_modified) {
		/* A revalidation: the cached file stands, fresh again. */
		t->kind->publish(t, NULL);
		transfer_set_state(t, TRANSFER_DONE);
		transfer_unlist(t);
		transfer_notify(t);
		goto out;
	}
	if (t->expected_size >= 0 && t->written != t->expected_size) {
		stats_add(STATS_VERIFY_FAILURES, 1);
		transfer_fail(t, 0, "the upstream's file does not match its index");
		goto out;
	}
	crypto_backend->sha256_final(t->hash, raw);
	digest_from_raw(raw, &actual);
	if (t->verify && !digest_equal(&actual, &t->digest)) {
		stats_add(STATS_VERIFY_FAILURES, 1);
		log_error("%s sha256:%s: upstream sent content with digest "
		    "sha256:%s; discarded", t->what, t->digest.hex, actual.hex);
		transfer_fail(t, 0, "the upstream sent content that does not "
		    "match its digest");
		goto out;
	}
	if (!t->verify)
		t->digest = actual;
	switch (t->kind->publish(t, &actual)) {
	case 0:
		break;
	case 1:
		goto out;	/* the kind finishes it (transfer_finish) */
	default:
		transfer_fail(t, 0, "cannot store the file in the cache");
		goto out;
	}
	log_info("%s sha256:%s: cached, %lld bytes", t->what, actual.hex,
	    (long long)t->written);
	t->length = t->written;
	transfer_set_state(t, TRANSFER_DONE);
	transfer_unlist(t);
	transfer_notify(t);
out:
	transfer_unref(t);	/* the upstream request's reference */
}

static struct transfer *
transfer_find(struct proxy *p, const char *key)
{
	struct transfer	*t;

	TAILQ_FOREACH(t, &p->transfers, entry)
		if (strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

/*
 * The running download of d, or a new one from registry r. The caller gets
 * a reference and gives it back with transfer_unref.
 */
/*
 * The running download for key, or a new one of the given kind: the
 * request ur to registry (or feed) r; expected, if not NULL, is the digest
 * the content must have, expected_size its size from an index (or -1).
 * The caller gets a reference and gives it back with transfer_unref.
 */
struct transfer *
transfer_start(struct proxy *p, struct registry *r, const char *key,
    const struct transfer_kind *kind, const struct upstream_request *ur,
    const struct digest *expected, int64_t expected_size, const char *dest,
    const char *what, long *status, char **cause)
{
	struct fetch_callbacks	 cb = { transfer_headers_cb, transfer_data_cb,
	    transfer_done_cb };
	struct transfer		*t;
	struct digest		 label;

	*status = 0;
	if ((t = transfer_find(p, key)) != NULL) {
		transfer_ref(t);
		stats_add(STATS_TRANSFERS_JOINED, 1);
		return t;
	}
	if ((t = calloc(1, sizeof *t)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	t->magic = TRANSFER_MAGIC;
	t->refs = 1;		/* the caller's */
	t->proxy = p;
	t->registry = r;
	t->kind = kind;
	util_strlcpy(t->key, key, sizeof t->key);
	if (expected != NULL) {
		t->verify = 1;
		t->digest = *expected;
	}
	t->expected_size = expected_size;
	if (dest != NULL)
		util_strlcpy(t->dest, dest, sizeof t->dest);
	t->length = -1;
	t->fd = -1;
	TAILQ_INIT(&t->watches);
	util_strlcpy(t->what, what, sizeof t->what);
	/* The temporary file is named after the digest when there is one. */
	if (expected != NULL)
		label = *expected;
	else
		hash_buffer(key, strlen(key), &label);
	if ((t->hash = crypto_backend->sha256_new()) == NULL ||
	    (t->fd = cache_tmp_create(&p->cache, &label, t->tmp, sizeof t->tmp)) == -1) {
		*cause = util_printf("cannot create a file in the cache");
		goto fail;
	}
	t->refs++;		/* the upstream request's */
	if ((t->upstream = upstream_start(p, r, ur, &cb, t, status, cause)) == NULL) {
		t->refs--;
		goto fail;
	}
	TAILQ_INSERT_TAIL(&p->transfers, t, entry);
	t->listed = 1;
	stats_add(STATS_TRANSFERS_STARTED, 1);
	log_debug("%s: %s: download started", __func__, t->what);
	return t;
fail:
	log_warn("%s: %s: %s", __func__, t->what, *cause);
	if (t->fd != -1)
		cache_discard(t->tmp);
	transfer_unref(t);
	return NULL;
}

/* The blob kind: verified by digest, published into blobs/. */
static int
transfer_blob_publish(struct transfer *t, const struct digest *actual)
{
	(void)actual;
	if (cache_publish(&t->proxy->cache, t->fd, t->tmp, &t->digest) != 0)
		return -1;
	budget_add_blob(t->proxy->budget, &t->digest, t->written);
	return 0;
}

static int
transfer_blob_open(struct transfer *t, off_t *size)
{
	return cache_blob_open(&t->proxy->cache, &t->digest, size);
}

static void
transfer_blob_headers(struct transfer *t, struct evhttp_request *req)
{
	reply_digest_headers(req, &t->digest, "application/octet-stream");
}

static void
transfer_blob_send_file(struct transfer *t, struct evhttp_request *req, int fd,
    off_t size)
{
	blob_send_file(t->proxy, req, fd, size, &t->digest, 0);
}

const struct transfer_kind transfer_kind_blob = {
	.name = "blob",
	.conditional = 0,
	.publish = transfer_blob_publish,
	.open = transfer_blob_open,
	.headers = transfer_blob_headers,
	.send_file = transfer_blob_send_file,
};

/* The one upstream download of blob d of repo in registry r. */
struct transfer *
transfer_get(struct proxy *p, struct registry *r, const char *repo,
    const struct digest *d, long *status, char **cause)
{
	struct upstream_request	 ur;
	char			 dstr[DIGEST_STRING_LEN + 1];
	char			 what[REGISTRY_NAME_MAX + REFERENCE_NAME_MAX + 80];

	digest_format(d, dstr, sizeof dstr);
	snprintf(what, sizeof what, "%s/%s %s", r->name, repo, dstr);
	memset(&ur, 0, sizeof ur);
	ur.repo = repo;
	ur.what = "blobs";
	ur.ref = dstr;
	return transfer_start(p, r, d->hex, &transfer_kind_blob, &ur, d, -1, NULL,
	    what, status, cause);
}

/*
 * Ends a transfer whose kind published it asynchronously: ok, or failed
 * with why. Gives back the reference the kind took.
 */
void
transfer_finish(struct transfer *t, int ok, const char *why)
{
	if (ok) {
		t->length = t->written;
		transfer_set_state(t, TRANSFER_DONE);
		transfer_unlist(t);
		transfer_notify(t);
	} else
		transfer_fail(t, 0, "%s", why);
	transfer_unref(t);
}

/* Moves the finished temporary file to path (a feed file's place). */
int
transfer_publish_to(struct transfer *t, const char *path)
{
	if (fdatasync(t->fd) != 0 || rename(t->tmp, path) != 0) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	return 0;
}

struct proxy *
transfer_proxy(const struct transfer *t)
{
	return t->proxy;
}

/* What a kind needs of its transfer. */
const char *
transfer_dest(const struct transfer *t)
{
	return t->dest;
}

void
transfer_set_meta(struct transfer *t, const char *path)
{
	util_strlcpy(t->meta, path, sizeof t->meta);
}

const char *
transfer_meta(const struct transfer *t)
{
	return t->meta;
}

const char *
transfer_etag(const struct transfer *t)
{
	return t->etag;
}

const char *
transfer_last_modified(const struct transfer *t)
{
	return t->last_modified;
}

const struct digest *
transfer_digest(const struct transfer *t)
{
	return &t->digest;
}

int
transfer_verified(const struct transfer *t)
{
	return t->verify;
}

int
transfer_not_modified(const struct transfer *t)
{
	return t->not_modified;
}

const struct transfer_kind *
transfer_kind(const struct transfer *t)
{
	return t->kind;
}

void
transfer_ref(struct transfer *t)
{
	t->refs++;
}

void
transfer_unref(struct transfer *t)
{
	if (--t->refs > 0)
		return;
	transfer_unlist(t);
	if (t->fd != -1)
		close(t->fd);
	crypto_backend->sha256_free(t->hash);
	t->magic = 0;
	free(t);
}

void
transfer_watch(struct transfer *t, struct transfer_watch *w)
{
	TAILQ_INSERT_TAIL(&t->watches, w, entry);
}

void
transfer_unwatch(struct transfer *t, struct transfer_watch *w)
{
	TAILQ_REMOVE(&t->watches, w, entry);
}

enum transfer_state
transfer_state(const struct transfer *t)
{
	return t->state;
}

off_t
transfer_written(const struct transfer *t)
{
	return t->written;
}

off_t
transfer_length(const struct transfer *t)
{
	return t->length;
}

int
transfer_fd(const struct transfer *t)
{
	return t->fd;
}

int
transfer_http_status(const struct transfer *t)
{
	return t->http_status;
}

struct registry *
transfer_registry(const struct transfer *t)
{
	return t->registry;
}

const char *
transfer_error(const struct transfer *t)
{
	return t->error;
}

/* At shutdown: stop every download and remove its temporary file. */
void
transfer_abort_all(struct proxy *p)
{
	struct transfer	*t;

	while ((t = TAILQ_FIRST(&p->transfers)) != NULL) {
		transfer_ref(t);
		if (t->upstream != NULL) {
			upstream_cancel(t->upstream);
			t->upstream = NULL;
			t->refs--;	/* the upstream request's reference */
		}
		transfer_fail(t, 0, "shutting down");
		transfer_unref(t);
	}
}
