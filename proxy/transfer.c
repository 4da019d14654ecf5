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

#include "proxy.h"
#include "crypto.h"

#define TRANSFER_MAGIC	0x5452414e	/* "TRAN" */

struct transfer {
	unsigned		 magic;
	int			 refs;
	int			 listed;
	TAILQ_ENTRY(transfer)	 entry;
	struct proxy		*proxy;
	struct registry		*registry;
	struct digest		 digest;
	char			 what[REGISTRY_NAME_MAX + REFERENCE_NAME_MAX + 2];
	char			 tmp[PATH_MAX];
	int			 fd;
	off_t			 written;
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

static void
transfer_unlist(struct transfer *t)
{
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

static int
transfer_headers_cb(struct fetch *f, long status, void *arg)
{
	struct transfer	*t = arg;
	char		*cause = NULL;

	if (status != 200) {
		transfer_fail(t, (int)status, "the upstream answered %ld", status);
		return -1;
	}
	t->length = fetch_content_length(f);
	if (t->length > 0 && budget_reserve(&t->proxy->cache,
	    t->proxy->config->cache_max_bytes, t->length, &cause) != 0) {
		log_warn("%s sha256:%s: %s", t->what, t->digest.hex, cause);
		transfer_fail(t, 507, "%s", cause);
		free(cause);
		return -1;
	}
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
	crypto_backend->sha256_update(t->hash, data, len);
	while (done < len) {
		n = pwrite(t->fd, data + done, len - done, t->written + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			log_error("%s: %s: %s", __func__, t->tmp, strerror(errno));
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
		log_warn("%s sha256:%s: %s", t->what, t->digest.hex, error);
		transfer_fail(t, 0, "upstream transfer failed: %s", error);
		goto out;
	}
	if (t->length >= 0 && t->written != t->length) {
		transfer_fail(t, 0, "upstream body ended early");
		goto out;
	}
	crypto_backend->sha256_final(t->hash, raw);
	digest_from_raw(raw, &actual);
	if (!digest_equal(&actual, &t->digest)) {
		log_error("%s sha256:%s: upstream sent content with digest "
		    "sha256:%s; discarded", t->what, t->digest.hex, actual.hex);
		transfer_fail(t, 0, "the upstream sent content that does not "
		    "match its digest");
		goto out;
	}
	if (cache_publish(&t->proxy->cache, t->fd, t->tmp, &t->digest) != 0) {
		transfer_fail(t, 0, "cannot store the blob");
		goto out;
	}
	log_info("%s sha256:%s: cached, %lld bytes", t->what, t->digest.hex,
	    (long long)t->written);
	t->length = t->written;
	transfer_set_state(t, TRANSFER_DONE);
	transfer_unlist(t);
	transfer_notify(t);
out:
	transfer_unref(t);	/* the upstream request's reference */
}

static struct transfer *
transfer_find(struct proxy *p, const struct digest *d)
{
	struct transfer	*t;

	TAILQ_FOREACH(t, &p->transfers, entry)
		if (digest_equal(&t->digest, d))
			return t;
	return NULL;
}

/*
 * The running download of d, or a new one from registry r. The caller gets
 * a reference and gives it back with transfer_unref.
 */
struct transfer *
transfer_get(struct proxy *p, struct registry *r, const char *repo,
    const struct digest *d, long *status, char **cause)
{
	struct fetch_callbacks	 cb = { transfer_headers_cb, transfer_data_cb,
	    transfer_done_cb };
	struct upstream_request	 ur;
	struct transfer		*t;
	char			 dstr[DIGEST_STRING_LEN + 1];

	if ((t = transfer_find(p, d)) != NULL) {
		transfer_ref(t);
		return t;
	}
	*status = 0;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	t->magic = TRANSFER_MAGIC;
	t->refs = 1;		/* the caller's */
	t->proxy = p;
	t->registry = r;
	t->digest = *d;
	t->length = -1;
	t->fd = -1;
	TAILQ_INIT(&t->watches);
	snprintf(t->what, sizeof t->what, "%s/%s", r->name, repo);
	if ((t->hash = crypto_backend->sha256_new()) == NULL ||
	    (t->fd = cache_tmp_create(&p->cache, d, t->tmp, sizeof t->tmp)) == -1) {
		*cause = util_printf("cannot create a file in the cache");
		goto fail;
	}
	digest_format(d, dstr, sizeof dstr);
	memset(&ur, 0, sizeof ur);
	ur.repo = repo;
	ur.what = "blobs";
	ur.ref = dstr;
	t->refs++;		/* the upstream request's */
	if ((t->upstream = upstream_start(p, r, &ur, &cb, t, status, cause)) == NULL) {
		t->refs--;
		goto fail;
	}
	TAILQ_INSERT_TAIL(&p->transfers, t, entry);
	t->listed = 1;
	log_debug("%s: %s sha256:%s: download started", __func__, t->what, d->hex);
	return t;
fail:
	log_warn("%s: %s sha256:%s: %s", __func__, t->what, d->hex, *cause);
	if (t->fd != -1)
		cache_discard(t->tmp);
	transfer_unref(t);
	return NULL;
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
