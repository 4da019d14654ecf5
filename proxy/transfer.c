/*
 * One upstream download, shared by every client that asks for the same
 * key while it runs. Bytes go to a temporary file in the cache and into a
 * SHA-256 as they arrive — gathered over one wakeup of the loop (up to
 * 1 MiB), then hashed and written by two worker jobs side by side
 * (workers.c) while the next buffer fills; when both are behind, the
 * upstream is paused. Readers (stream.c) follow the growing file at their
 * own pace, so a slow client never holds the download back. When the body
 * ends (and its digest matches, when one is expected), a job syncs the
 * file (and does the kind's work that only reads it: a package index's
 * parse) and the kind publishes it (renames it into place and counts it
 * in the budget, on the loop: nothing sees it there uncounted or counted
 * twice), then a job of the kind's makes that durable (for a blob, the
 * sync of its directory); otherwise it is removed and every reader's
 * response is cut short. The loop itself never waits for the disk, except
 * for those renames and the directory syncs of feed files.
 *
 * What the download is of — a blob, a feed file, a suite's index set — is
 * the kind's business (struct transfer_kind): its state is an opaque
 * pointer handed back to its callbacks and freed through its free. The
 * transfer itself keeps only what every download has.
 *
 * States: CONNECTING -> STREAMING -> [PUBLISHING ->] DONE, CONNECTING ->
 * UNCHANGED (a 304 to a conditional kind), and FAILED from any of the
 * first three.
 *
 * Sharing: a request joins the running download of its key when that
 * download asks the same source (the same entry, the same repository) or
 * has already had its 200 — from then on its body is the content the key
 * names, verified whoever asked for it. A download of another source that
 * is still waiting for its answer is never joined: its 404, 401 or
 * unreachable upstream is that source's answer, not this request's (a
 * client asking an entry that lacks a blob must not fail the pulls of it
 * through the entry that has it). Such a request starts its own download
 * of the key; two of one key may then run side by side, each publishing
 * the same verified file.
 *
 * Resuming: a download of a known digest whose upstream connection breaks
 * after some bytes goes on with "Range: bytes=<written>-" (and If-Range,
 * when the first answer had a strong ETag or a Last-Modified), appending
 * to the same file and the same running hash, so readers see no gap and
 * the upstream sends the blob about once. At most TRANSFER_MAX_RESUMES
 * times, and only after progress since the last. A 206 must start where
 * the file ends and name the same total; a 200 instead (Range ignored,
 * If-Range failed) starts over from byte 0, hash anew; the new body must
 * repeat the bytes readers may have sent (else it fails: nothing is
 * spliced onto them), and readers wait until it passes them. Whatever
 * happened, the digest is checked at the end and nothing that fails it is
 * published. A download that ends broken sets its file aside in
 * partial/ (cache.c), as does a crash (at the next start); the next
 * download of that digest takes it back, re-hashes it from disk (the hash
 * state is not kept) and asks for the rest. Nothing serves a partial file.
 *
 * References: each reader holds one, and the download holds one while it
 * is in flight (the upstream request, then an asynchronous publish); the
 * temporary file's descriptor and the kind's state live as long as the
 * last reference.
 */
#include <errno.h>
#include <fcntl.h>		/* sync_file_range */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "proxy.h"

#define TRANSFER_MAGIC		0x5452414e	/* "TRAN" */
#define TRANSFER_RESERVE_STEP	(1024 * 1024)	/* bodies of unknown length */
#define TRANSFER_MAX_RESUMES	4
#define TRANSFER_REHASH_CHUNK	(256 * 1024)
#define TRANSFER_WRITE_BUFFER	(1024 * 1024)	/* coalesced writes */
#define TRANSFER_WRITEOUT_STEP	(8 * 1024 * 1024)	/* to the disk early */
#define TRANSFER_PARTIAL_SHARE	8	/* partial/: 1/8 of cache_max_bytes */

struct transfer {
	unsigned		 magic;
	int			 refs;
	int			 listed;
	TAILQ_ENTRY(transfer)	 entry;
	struct proxy		*proxy;
	const struct transfer_kind *kind;
	void			*kstate;	/* the kind's */
	char			 key[TRANSFER_KEY_MAX];	/* one download per key */
	const struct registry	*registry;	/* the source: entry, */
	char			 repo[REFERENCE_NAME_MAX + 1];	/* repository */
	int			 verify;	/* digest is what it must hash to */
	struct digest		 digest;
	char			 what[TRANSFER_KEY_MAX + 80];
	char			 tmp[PATH_MAX];
	int			 fd;
	off_t			 written;	/* hashed and in the file */
	unsigned char		*wbuf;		/* received, not written yet */
	size_t			 wlen, wsize;
	struct event		*flush_ev;	/* hands wbuf over after a wakeup */
	struct fetch		*paused;	/* the upstream, waiting for room */
	/*
	 * The disk jobs in flight (workers.c): a buffer's hashing and its
	 * writing side by side, or one other; their input and result.
	 */
	struct worker_job	 jobs[2];
	int			 job_busy;	/* how many */
	unsigned char		*jbuf;		/* a write job's bytes */
	size_t			 jlen, jsize;
	off_t			 writeout_from;	/* a write job's: not started */
	off_t			 jsize_partial;	/* a re-hash job's file size */
	int			 jerrno;	/* the job failed: why */
	int			 jdiffers;	/* the repeated body differs */
	int			 inflight;	/* holds the in-flight reference */
	int			 ended;		/* the upstream request ended, */
	int			 end_failed;	/* with this error: */
	char			 end_error[256];
	int			 storing;	/* counted as storing, not active */
	int64_t			 reserved;	/* of the budget */
	off_t			 length;	/* announced; -1 if unknown */
	struct crypto_sha256	*hash;
	struct upstream_req	*upstream;
	enum transfer_state	 state;
	int			 http_status;	/* the upstream's */
	char			 error[256];
	/* What to ask the upstream again, to resume (copies). */
	struct upstream_request	 ureq;
	char			*ustr[4];	/* ureq's what, ref, query, url */
	char			 validator[256];	/* for If-Range, or "" */
	off_t			 range_from;	/* the running request's start */
	int			 resumes;
	int			 keep_partial;	/* a broken download: set it aside */
	int			 restart;	/* a 416 to a partial: ask it whole */
	off_t			 same_to;	/* bytes readers may have had */
	TAILQ_HEAD(, transfer_watch) watches;
};

static struct transfer *
transfer_check(void *arg)
{
	struct transfer	*t = arg;

	if (t->magic != TRANSFER_MAGIC)
		fatal("%s: bad magic", __func__);
	return t;
}

static const char *transfer_state_names[] = {
	"connecting", "streaming", "publishing", "done", "unchanged", "failed"
};

static void
transfer_set_state(struct transfer *t, enum transfer_state s)
{
	log_debug("%s: %s: %s -> %s", __func__, t->what,
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
	stats_add(t->storing ? STATS_TRANSFERS_STORING :
	    STATS_TRANSFERS_ACTIVE, -1);
	t->listed = 0;
}

static void
transfer_fail(struct transfer *t, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
transfer_fail(struct transfer *t, int http_status, const char *fmt, ...)
{
	va_list	ap;

	if (t->state == TRANSFER_FAILED || t->state == TRANSFER_DONE ||
	    t->state == TRANSFER_UNCHANGED)
		return;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof t->error, fmt, ap);
	va_end(ap);
	t->http_status = http_status;
	transfer_set_state(t, TRANSFER_FAILED);
	if (t->keep_partial && t->verify && !t->kind->conditional &&
	    (t->written > 0 || t->jsize_partial > 0))	/* or re-hashing */
		cache_partial_keep(&t->proxy->cache, &t->digest, t->tmp,
		    t->proxy->config->cache_max_bytes / TRANSFER_PARTIAL_SHARE);
	else
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

/* Keeps what If-Range may send back: a strong ETag, or Last-Modified. */
static void
transfer_keep_validator(struct transfer *t, struct fetch *f)
{
	const char	*v;

	t->validator[0] = '\0';
	if ((v = fetch_header(f, "ETag")) != NULL && v[0] == '"')
		util_strlcpy(t->validator, v, sizeof t->validator);
	else if ((v = fetch_header(f, "Last-Modified")) != NULL)
		util_strlcpy(t->validator, v, sizeof t->validator);
	if (strchr(t->validator, '\r') != NULL ||
	    strchr(t->validator, '\n') != NULL ||
	    strlen(t->validator) + 1 >= sizeof t->validator)
		t->validator[0] = '\0';
}

/*
 * Starts the body over from byte 0, the hash anew. Readers may have sent
 * the bytes written so far (STREAMING): the new body must repeat them
 * (transfer_same), else nothing is spliced onto them; otherwise the file
 * is emptied.
 */
static int
transfer_restart(struct transfer *t)
{
	struct crypto_sha256	*h;

	log_warn("%s: the upstream sent the whole body again, not the rest "
	    "from byte %lld; starting over", t->what, (long long)t->written);
	if (t->state == TRANSFER_STREAMING && t->written > t->same_to)
		t->same_to = t->written;
	if ((h = crypto_backend->sha256_new()) == NULL ||
	    (t->same_to == 0 && ftruncate(t->fd, 0) != 0)) {
		if (h != NULL)
			crypto_backend->sha256_free(h);
		transfer_fail(t, 0, "cannot start the download over");
		return -1;
	}
	crypto_backend->sha256_free(t->hash);
	t->hash = h;
	t->written = 0;
	return 0;
}

/*
 * A 206 to a Range request: it must hold bytes written..total-1 of the
 * total this download knows (or learns now, resuming a partial file).
 */
static int
transfer_headers_partial(struct transfer *t, struct fetch *f)
{
	const char	*v = fetch_header(f, "Content-Range");
	long long	 first, last, total;
	char		*cause = NULL;
	int		 n = 0;

	if (v == NULL || sscanf(v, "bytes %lld-%lld/%lld%n", &first, &last,
	    &total, &n) != 3 || v[n] != '\0' || first != (long long)t->written ||
	    last != total - 1 || first > last ||
	    (t->length >= 0 && total != (long long)t->length)) {
		transfer_fail(t, 0, "the upstream answered a Range request with "
		    "another range");
		return -1;
	}
	if (t->state == TRANSFER_STREAMING)
		return 0;
	/* The first answer of a download that took a partial file back. */
	t->length = total;
	if (t->kind->response != NULL &&
	    t->kind->response(t->kstate, f, t->length, &cause) != 0) {
		transfer_fail(t, 0, "%s", cause != NULL ? cause : "refused");
		free(cause);
		return -1;
	}
	if (t->length > t->reserved &&
	    transfer_reserve(t, t->length - t->reserved) != 0)
		return -1;
	transfer_set_state(t, TRANSFER_STREAMING);
	transfer_notify(t);
	return 0;
}

static int
transfer_headers_cb(struct fetch *f, long status, void *arg)
{
	struct transfer	*t = transfer_check(arg);
	char		*cause = NULL;

	t->http_status = (int)status;
	if (status == 304 && t->kind->conditional)
		return 0;
	if (status == 206 && t->range_from > 0) {
		t->http_status = 200;
		return transfer_headers_partial(t, f);
	}
	if (status == 416 && t->range_from > 0 && t->state ==
	    TRANSFER_CONNECTING && !t->restart) {
		/* A partial file as long as the blob, or longer: ask anew. */
		t->restart = 1;
		return -1;
	}
	if (status != 200) {
		t->keep_partial = 1;
		transfer_fail(t, (int)status, "the upstream answered %ld", status);
		return -1;
	}
	if (t->written > 0 && transfer_restart(t) != 0)
		return -1;
	t->length = fetch_content_length(f);
	if (t->kind->response != NULL &&
	    t->kind->response(t->kstate, f, t->length, &cause) != 0) {
		transfer_fail(t, 0, "%s", cause != NULL ? cause : "refused");
		free(cause);
		return -1;
	}
	transfer_keep_validator(t, f);
	if (t->length > t->reserved &&
	    transfer_reserve(t, t->length - t->reserved) != 0)
		return -1;
	transfer_set_state(t, TRANSFER_STREAMING);
	transfer_notify(t);
	return 0;
}

/* Gives back the in-flight reference, if the transfer still holds it. */
static void
transfer_drop_inflight(struct transfer *t)
{
	if (!t->inflight)
		return;
	t->inflight = 0;
	transfer_unref(t);
}

/*
 * Runs a disk job on a worker thread (two at most, submitted together);
 * it holds a reference meanwhile.
 */
static void
transfer_submit(struct transfer *t, struct workers *pool,
    void (*work)(struct worker_job *), void (*done)(struct worker_job *))
{
	struct worker_job	*j = &t->jobs[t->job_busy];

	if (t->job_busy == 0) {
		t->jerrno = 0;
		t->jdiffers = 0;
	}
	j->work = work;
	j->done = done;
	j->arg = t;
	t->job_busy++;
	transfer_ref(t);
	workers_submit(pool, j);
}

/* A hash job (a worker thread): the buffer's bytes into the running hash. */
static void
transfer_hash_work(struct worker_job *j)
{
	struct transfer	*t = j->arg;

	crypto_backend->sha256_update(t->hash, t->jbuf, t->jlen);
}

/*
 * Every TRANSFER_WRITEOUT_STEP bytes written, the disk is asked to start
 * writing them (without waiting for it): the sync at the end then finds
 * little left to write, instead of the whole file — the last byte of a
 * large blob waits for that sync — and dirty pages never pile up to the
 * size of a layer on a gateway with little memory.
 */
static void
transfer_start_writeout(struct transfer *t, off_t end)
{
	if (t->writeout_from > end)
		t->writeout_from = 0;	/* the body started over */
	if (end - t->writeout_from < TRANSFER_WRITEOUT_STEP)
		return;
	/* Best effort: the sync at the end reports what failed. */
	(void)sync_file_range(t->fd, t->writeout_from, end - t->writeout_from,
	    SYNC_FILE_RANGE_WRITE);
	t->writeout_from = end;
}

/*
 * A write job (a worker thread), beside the buffer's hash job: after a
 * restart, the part of the bytes below same_to must be the bytes already
 * in the file (and maybe sent); then they are written where the file
 * ends.
 */
static void
transfer_write_work(struct worker_job *j)
{
	struct transfer	*t = j->arg;
	size_t		 n, done = 0;
	ssize_t		 r;
	char		*old;

	if (t->written < t->same_to) {
		n = (size_t)(t->same_to - t->written) < t->jlen ?
		    (size_t)(t->same_to - t->written) : t->jlen;
		if ((old = malloc(n)) == NULL) {
			t->jerrno = ENOMEM;
			return;
		}
		t->jdiffers = pread(t->fd, old, n, t->written) != (ssize_t)n ||
		    memcmp(old, t->jbuf, n) != 0;
		free(old);
		if (t->jdiffers)
			return;
	}
	while (done < t->jlen) {
		r = pwrite(t->fd, t->jbuf + done, t->jlen - done,
		    t->written + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			t->jerrno = r == 0 ? EIO : errno;
			return;
		}
		done += (size_t)r;
	}
	transfer_start_writeout(t, t->written + (off_t)t->jlen);
}

static void	transfer_pump(struct transfer *);

/*
 * A buffer's hash or write job is done (the loop); once both are, its
 * bytes are the readers'.
 */
static void
transfer_write_done(struct worker_job *j)
{
	struct transfer	*t = transfer_check(j->arg);

	if (--t->job_busy > 0) {
		transfer_unref(t);	/* the job's; the other goes on */
		return;
	}
	if (t->state == TRANSFER_FAILED)
		;	/* nothing more is written or sent */
	else if (t->jdiffers) {
		stats_add(STATS_VERIFY_FAILURES, 1);
		log_error("%s: the body sent over differs from the %lld bytes "
		    "already had; discarded", t->what, (long long)t->same_to);
		t->keep_partial = 0;
		transfer_fail(t, 0, "the upstream sent the body over, and it "
		    "differs from what was sent");
	} else if (t->jerrno != 0) {
		log_error("%s: %s: %s", __func__, t->tmp, strerror(t->jerrno));
		stats_add(STATS_CACHE_WRITE_ERRORS, 1);
		transfer_fail(t, 0, "cannot write to the cache: %s",
		    strerror(t->jerrno));
	} else {
		t->written += (off_t)t->jlen;
		transfer_notify(t);
	}
	transfer_pump(t);
	transfer_unref(t);	/* the job's */
}

static void	transfer_body_end(struct transfer *);

/*
 * Moves the download on, once no disk job is in flight: what was
 * received goes to a write job; an upstream paused for room goes on;
 * when the upstream request has ended and everything is written, the
 * body ends.
 */
static void
transfer_pump(struct transfer *t)
{
	unsigned char	*b;
	size_t		 n;
	struct fetch	*f;

	if (t->job_busy)
		return;
	if (t->state == TRANSFER_FAILED)
		t->wlen = 0;
	if (t->wlen > 0) {
		b = t->jbuf, t->jbuf = t->wbuf, t->wbuf = b;
		n = t->jsize, t->jsize = t->wsize, t->wsize = n;
		t->jlen = t->wlen;
		t->wlen = 0;
		transfer_submit(t, t->proxy->workers, transfer_hash_work,
		    transfer_write_done);
		transfer_submit(t, t->proxy->workers, transfer_write_work,
		    transfer_write_done);
	}
	if ((f = t->paused) != NULL) {
		t->paused = NULL;
		if (t->state != TRANSFER_FAILED)
			fetch_unpause(f);	/* may hand bytes over at once */
		/*
		 * curl would hand a failed transfer the bytes it holds, have
		 * them refused and never end the request (curl 7.88 leaves it
		 * on no socket and no timer): it is cancelled instead.
		 */
		if (t->state == TRANSFER_FAILED && t->upstream != NULL) {
			upstream_cancel(t->upstream);
			t->upstream = NULL;
			transfer_drop_inflight(t);
			return;
		}
	}
	if (t->job_busy || !t->ended)
		return;
	t->ended = 0;
	if (t->state == TRANSFER_FAILED)
		transfer_drop_inflight(t);
	else
		transfer_body_end(t);
}

static void
transfer_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	transfer_pump(transfer_check(arg));
}

/* Bytes received: written, being written, or waiting to be. */
static off_t
transfer_received(const struct transfer *t)
{
	return t->written + (t->job_busy ? (off_t)t->jlen : 0) +
	    (off_t)t->wlen;
}

/* Room for len more bytes in the receive buffer: 0, or -1 out of memory. */
static int
transfer_wbuf_room(struct transfer *t, size_t len)
{
	size_t		 want = TRANSFER_WRITE_BUFFER;
	unsigned char	*b;

	if (t->wlen + len <= t->wsize)
		return 0;
	if (want < t->wlen + len)
		want = t->wlen + len;	/* a piece larger than the buffer */
	if ((b = realloc(t->wbuf, want)) == NULL)
		return -1;
	t->wbuf = b;
	t->wsize = want;
	return 0;
}

/*
 * A piece of the body. curl hands it over up to 512 KiB at a time, often
 * several in one wakeup: the pieces are gathered, and handed to a write
 * job once the wakeup's work is done (a zero timeout runs after it) or
 * the buffer is full. While a job writes one buffer the next fills; when
 * both are full the upstream waits (FETCH_PAUSE) until the job is done.
 */
static int
transfer_data_cb(struct fetch *f, const char *data, size_t len, void *arg)
{
	struct transfer		*t = transfer_check(arg);
	const struct timeval	 now = { 0, 0 };

	if (t->state == TRANSFER_FAILED)
		return -1;
	if (t->length >= 0 && transfer_received(t) + (off_t)len > t->length) {
		transfer_fail(t, 0, "upstream sent more than it announced");
		return -1;
	}
	if (t->wlen > 0 && t->wlen + len > TRANSFER_WRITE_BUFFER) {
		if (t->job_busy) {
			t->paused = f;
			stats_add(STATS_UPSTREAM_PAUSES, 1);
			return FETCH_PAUSE;
		}
		transfer_pump(t);	/* the full buffer to a job */
		if (t->state == TRANSFER_FAILED)
			return -1;
	}
	/* A body of unknown length reserves its room as it grows. */
	while (transfer_received(t) + (off_t)len > t->reserved)
		if (transfer_reserve(t, TRANSFER_RESERVE_STEP) != 0)
			return -1;
	if (transfer_wbuf_room(t, len) != 0 || (t->flush_ev == NULL &&
	    (t->flush_ev = evtimer_new(t->proxy->base, transfer_flush_cb,
	    t)) == NULL)) {
		transfer_fail(t, 0, "out of memory");
		return -1;
	}
	memcpy(t->wbuf + t->wlen, data, len);
	t->wlen += len;
	if (!t->job_busy)
		evtimer_add(t->flush_ev, &now);
	return 0;
}

/* Ends the transfer with state s (DONE or UNCHANGED). */
static void
transfer_end(struct transfer *t, enum transfer_state s)
{
	if (s == TRANSFER_DONE)
		t->length = t->written;
	transfer_set_state(t, s);
	transfer_unlist(t);
	transfer_notify(t);
}

/* The file is published (and durable): every reader gets its end. */
static void
transfer_cached(struct transfer *t)
{
	log_info("%s sha256:%s: cached, %lld bytes", t->what, t->digest.hex,
	    (long long)t->written);
	transfer_end(t, TRANSFER_DONE);
}

static void	transfer_done_cb(struct fetch *, const char *, void *);

/*
 * Asks the upstream for the download's body from byte t->written on (the
 * whole of it when nothing is written): its first request, or a resume.
 */
static int
transfer_ask(struct transfer *t, long *status, char **cause)
{
	struct fetch_callbacks	 cb = { transfer_headers_cb, transfer_data_cb,
	    transfer_done_cb };
	struct upstream_request	 ur = t->ureq;
	struct curl_slist	*h = NULL, *n, *x;
	char			*line = NULL;

	for (x = t->ureq.extra_headers; x != NULL; x = x->next) {
		if ((n = curl_slist_append(h, x->data)) == NULL)
			goto oom;
		h = n;
	}
	t->range_from = t->written;
	if (t->written > 0) {
		line = util_printf("Range: bytes=%lld-", (long long)t->written);
		if (line == NULL || (n = curl_slist_append(h, line)) == NULL)
			goto oom;
		h = n;
		free(line);
		line = NULL;
		if (t->validator[0] != '\0') {
			line = util_printf("If-Range: %s", t->validator);
			if (line == NULL || (n = curl_slist_append(h, line)) == NULL)
				goto oom;
			h = n;
			free(line);
			line = NULL;
		}
	}
	ur.extra_headers = h;
	t->upstream = upstream_start(t->proxy, (struct registry *)t->registry,
	    &ur, &cb, t, status, cause);
	curl_slist_free_all(h);
	return t->upstream != NULL ? 0 : -1;
oom:
	free(line);
	curl_slist_free_all(h);
	*status = 0;
	*cause = util_printf("out of memory");
	return -1;
}

/*
 * The upstream connection broke (error): goes on from the last byte
 * written when the download may (see the top of the file). 0 when a
 * resume runs.
 */
static int
transfer_resume(struct transfer *t, const char *error)
{
	long	 status;
	char	*cause = NULL;

	if (!t->verify || t->kind->conditional || upstream_busy(error))
		return -1;
	if (t->restart) {
		/* A 416 to a partial file: the whole body, once. */
		if (t->state != TRANSFER_CONNECTING || transfer_restart(t) != 0)
			return -1;
		t->restart = 0;
	} else {
		if (t->state != TRANSFER_STREAMING ||
		    (t->length >= 0 && t->written >= t->length))
			return -1;
		if (t->written <= t->range_from) {
			log_warn("%s: no progress since the last request; not "
			    "resumed", t->what);
			return -1;
		}
		if (t->resumes >= TRANSFER_MAX_RESUMES) {
			log_warn("%s: resumed %d times already; not again",
			    t->what, t->resumes);
			return -1;
		}
	}
	t->resumes++;
	stats_add(STATS_UPSTREAM_RESUMES, 1);
	log_warn("%s: %s at byte %lld of %lld; resuming from there (%d of %d)",
	    t->what, error, (long long)t->written, (long long)t->length,
	    t->resumes, TRANSFER_MAX_RESUMES);
	if (transfer_ask(t, &status, &cause) != 0) {
		log_warn("%s: cannot resume: %s", t->what,
		    cause != NULL ? cause : "?");
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * The upstream request ended (error NULL: its body is complete). The
 * body ends once every byte received is written (transfer_pump).
 */
static void
transfer_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct transfer	*t = transfer_check(arg);

	(void)f;
	t->upstream = NULL;
	t->paused = NULL;
	if (t->state == TRANSFER_FAILED) {
		transfer_drop_inflight(t);
		return;
	}
	t->ended = 1;
	t->end_failed = error != NULL;
	util_strlcpy(t->end_error, error != NULL ? error : "",
	    sizeof t->end_error);
	transfer_pump(t);
}

/*
 * A sync job (a worker thread): the file's bytes on disk, then the kind's
 * work that only reads it.
 */
static void
transfer_sync_work(struct worker_job *j)
{
	struct transfer	*t = j->arg;

	if (fdatasync(t->fd) != 0)
		t->jerrno = errno;
	else if (t->kind->place != NULL) {
		errno = 0;
		if (t->kind->place(t->kstate, t, &t->digest) != 0)
			t->jerrno = errno != 0 ? errno : EIO;
	}
}

/* A durable job (a worker thread): what the kind's publish did, on disk. */
static void
transfer_durable_work(struct worker_job *j)
{
	struct transfer	*t = j->arg;

	t->kind->durable(t->kstate, t);
}

/* The kind's publish is durable (the loop): readers get the last byte. */
static void
transfer_durable_done(struct worker_job *j)
{
	struct transfer	*t = transfer_check(j->arg);

	t->job_busy = 0;
	if (t->state == TRANSFER_PUBLISHING) {
		transfer_cached(t);
		transfer_drop_inflight(t);
	}
	transfer_unref(t);	/* the job's */
}

/* The verified file is on disk (the loop): the kind publishes it. */
static void
transfer_sync_done(struct worker_job *j)
{
	struct transfer	*t = transfer_check(j->arg);

	t->job_busy = 0;
	if (t->state == TRANSFER_FAILED)
		goto out;	/* shut down meanwhile */
	if (t->jerrno != 0) {
		log_warn("%s: %s: %s", t->what, t->tmp, strerror(t->jerrno));
		stats_add(STATS_CACHE_WRITE_ERRORS, 1);
		transfer_fail(t, 0, "cannot store the file in the cache");
		transfer_drop_inflight(t);
		goto out;
	}
	switch (t->kind->publish(t->kstate, t, &t->digest)) {
	case 0:
		if (t->kind->durable != NULL) {
			/* Counted by the index from now on. */
			transfer_release(t);
			transfer_submit(t, t->proxy->syncers,
			    transfer_durable_work, transfer_durable_done);
			goto out;	/* in flight until that job is done */
		}
		transfer_cached(t);
		break;
	case 1:
		goto out;	/* in flight until transfer_finish */
	default:
		transfer_fail(t, 0, "cannot store the file in the cache");
		break;
	}
	transfer_drop_inflight(t);
out:
	transfer_unref(t);	/* the job's */
}

/*
 * The body has ended and every byte of it is written: a resume, a
 * failure, a 304 (the file in place stands), or the digest checked and
 * the file synced to disk by a job, then put in place by the kind (and
 * only then do readers get the last byte).
 */
static void
transfer_body_end(struct transfer *t)
{
	unsigned char	 raw[CRYPTO_SHA256_LEN];
	struct digest	 actual;
	const char	*error = t->end_failed ? t->end_error : NULL;

	if (error != NULL) {
		if (transfer_resume(t, error) == 0)
			return;		/* the in-flight reference goes on */
		log_warn("%s: %s", t->what, error);
		t->keep_partial = !upstream_busy(error);
		transfer_fail(t, upstream_busy(error) ? 503 : 0,
		    "upstream transfer failed: %s", error);
		goto out;
	}
	if (t->http_status == 304) {
		/* A revalidation: the file in place stands, fresh again. */
		t->kind->publish(t->kstate, t, NULL);
		transfer_end(t, TRANSFER_UNCHANGED);
		goto out;
	}
	if ((t->length >= 0 && t->written != t->length) ||
	    t->written < t->same_to) {
		transfer_fail(t, 0, "upstream body ended early");
		goto out;
	}
	crypto_backend->sha256_final(t->hash, raw);
	digest_from_raw(raw, &actual);
	if (t->verify && !digest_equal(&actual, &t->digest)) {
		stats_add(STATS_VERIFY_FAILURES, 1);
		log_error("%s: upstream sent content with digest sha256:%s, not "
		    "sha256:%s; discarded", t->what, actual.hex, t->digest.hex);
		transfer_fail(t, 0, "the upstream sent content that does not "
		    "match its digest");
		goto out;
	}
	t->digest = actual;
	t->length = t->written;
	transfer_set_state(t, TRANSFER_PUBLISHING);
	t->storing = 1;		/* no longer downloading (the gauges) */
	stats_add(STATS_TRANSFERS_ACTIVE, -1);
	stats_add(STATS_TRANSFERS_STORING, 1);
	transfer_notify(t);
	transfer_submit(t, t->proxy->syncers, transfer_sync_work,
	    transfer_sync_done);
	return;
out:
	transfer_drop_inflight(t);
}

/* Keeps a copy of the upstream request, to ask it again (a resume). */
static int
transfer_keep_request(struct transfer *t, const struct upstream_request *ur)
{
	const char		*src[4] = { ur->what, ur->ref, ur->query, ur->url };
	struct curl_slist	*x, *n;
	int			 i;

	t->ureq = *ur;
	t->ureq.repo = ur->repo != NULL ? t->repo : NULL;
	t->ureq.extra_headers = NULL;
	for (i = 0; i < 4; i++)
		if (src[i] != NULL &&
		    (t->ustr[i] = util_printf("%s", src[i])) == NULL)
			return -1;
	t->ureq.what = t->ustr[0];
	t->ureq.ref = t->ustr[1];
	t->ureq.query = t->ustr[2];
	t->ureq.url = t->ustr[3];
	for (x = ur->extra_headers; x != NULL; x = x->next) {
		if ((n = curl_slist_append(t->ureq.extra_headers, x->data)) == NULL)
			return -1;
		t->ureq.extra_headers = n;
	}
	return 0;
}

/*
 * A re-hash job (a worker thread): a partial file taken back has its
 * bytes hashed from disk (the hash state of the run that wrote it is
 * gone) before the rest is asked for.
 */
static void
transfer_rehash_work(struct worker_job *j)
{
	struct transfer	*t = j->arg;
	char		*buf;
	off_t		 off = 0;
	ssize_t		 n = 0;

	if ((buf = malloc(TRANSFER_REHASH_CHUNK)) == NULL) {
		t->jerrno = ENOMEM;
		return;
	}
	while (off < t->jsize_partial) {
		n = pread(t->fd, buf, TRANSFER_REHASH_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		crypto_backend->sha256_update(t->hash, buf, (size_t)n);
		off += n;
	}
	free(buf);
	if (off != t->jsize_partial)
		t->jerrno = n < 0 ? errno : EIO;
}

/*
 * The partial file is hashed (the loop): the rest is asked for. A file
 * that could not be read is emptied and the download starts from byte 0.
 */
static void
transfer_rehash_done(struct worker_job *j)
{
	struct transfer	*t = transfer_check(j->arg);
	long		 status;
	char		*cause = NULL;

	t->job_busy = 0;
	if (t->state == TRANSFER_FAILED)
		goto out;	/* shut down meanwhile */
	if (t->jerrno == 0) {
		t->written = t->jsize_partial;
		log_info("%s: resuming a partial download of %lld bytes",
		    t->what, (long long)t->written);
		stats_add(STATS_UPSTREAM_RESUMES, 1);
	} else {
		log_warn("%s: %s: cannot read the partial download back (%s); "
		    "starting over", t->what, t->tmp, strerror(t->jerrno));
		crypto_backend->sha256_free(t->hash);
		if ((t->hash = crypto_backend->sha256_new()) == NULL ||
		    ftruncate(t->fd, 0) != 0) {
			transfer_fail(t, 0, "cannot read a partial download");
			transfer_drop_inflight(t);
			goto out;
		}
	}
	if (transfer_ask(t, &status, &cause) != 0) {
		transfer_fail(t, (int)status, "%s",
		    cause != NULL ? cause : "cannot start the download");
		free(cause);
		transfer_drop_inflight(t);
	}
out:
	transfer_unref(t);	/* the job's */
}

/*
 * The running download of key that a request to entry r for repository
 * repo may join: one of the same source, else one of another source that
 * has its 200 already (see the top of the file); NULL if none.
 */
static struct transfer *
transfer_find(struct proxy *p, const char *key, const struct registry *r,
    const char *repo)
{
	struct transfer	*t, *answered = NULL;

	TAILQ_FOREACH(t, &p->transfers, entry) {
		if (strcmp(t->key, key) != 0)
			continue;
		if (t->registry == r && strcmp(t->repo, repo) == 0)
			return t;
		if (answered == NULL && t->state != TRANSFER_CONNECTING)
			answered = t;
	}
	return answered;
}

/*
 * The running download for tr->key, or a new one: the request
 * tr->upstream to registry (or feed) r, of kind tr->kind. The kind's state
 * tr->state is taken on success (and freed at once when a running
 * download is joined: that one has its own); on failure (NULL, *status
 * the upstream's if it answered, *cause why) the caller keeps it, to
 * answer its client through the kind. The caller gets a reference and
 * gives it back with transfer_unref.
 */
struct transfer *
transfer_start(struct proxy *p, struct registry *r,
    const struct transfer_request *tr, long *status, char **cause)
{
	struct transfer		*t;
	struct digest		 label;
	off_t			 partial = 0;
	const char		*repo = tr->upstream->repo != NULL ?
	    tr->upstream->repo : "";

	*status = 0;
	if ((t = transfer_find(p, tr->key, r, repo)) != NULL) {
		transfer_ref(t);
		stats_add(STATS_TRANSFERS_JOINED, 1);
		tr->kind->free(tr->state);
		return t;
	}
	if (strlen(tr->key) >= sizeof t->key) {
		*cause = util_printf("name too long");
		return NULL;
	}
	if ((t = calloc(1, sizeof *t)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	t->magic = TRANSFER_MAGIC;
	t->refs = 1;		/* the caller's */
	t->proxy = p;
	t->kind = tr->kind;
	util_strlcpy(t->key, tr->key, sizeof t->key);
	t->registry = r;
	if (util_strlcpy(t->repo, repo, sizeof t->repo) != 0) {
		*cause = util_printf("name too long");
		free(t);
		return NULL;
	}
	if (tr->digest != NULL) {
		t->verify = 1;
		t->digest = *tr->digest;
	}
	t->length = -1;
	t->fd = -1;
	TAILQ_INIT(&t->watches);
	util_strlcpy(t->what, tr->what, sizeof t->what);
	/* The temporary file is named after the digest when there is one. */
	if (tr->digest != NULL)
		label = *tr->digest;
	else
		hash_buffer(tr->key, strlen(tr->key), &label);
	if (transfer_keep_request(t, tr->upstream) != 0) {
		*cause = util_printf("out of memory");
		goto fail;
	}
	if ((t->hash = crypto_backend->sha256_new()) == NULL) {
		*cause = util_printf("out of memory");
		goto fail;
	}
	if (t->verify && !t->kind->conditional &&
	    (t->fd = cache_partial_claim(&p->cache, &label, t->tmp,
	    sizeof t->tmp, &partial)) != -1) {
		/* Re-hashed by a job, which then asks for the rest. */
		t->jsize_partial = partial;
		transfer_submit(t, t->proxy->syncers, transfer_rehash_work,
		    transfer_rehash_done);
	} else if ((t->fd = cache_tmp_create(&p->cache, &label, t->tmp,
	    sizeof t->tmp)) == -1) {
		*cause = util_printf("cannot create a file in the cache");
		goto fail;
	} else if (transfer_ask(t, status, cause) != 0)
		goto fail;
	t->refs++;		/* the in-flight reference */
	t->inflight = 1;
	t->kstate = tr->state;
	TAILQ_INSERT_TAIL(&p->transfers, t, entry);
	stats_add(STATS_TRANSFERS_ACTIVE, 1);
	if (stats_get(STATS_TRANSFERS_ACTIVE) >
	    stats_get(STATS_TRANSFERS_ACTIVE_MAX))
		stats_set(STATS_TRANSFERS_ACTIVE_MAX,
		    stats_get(STATS_TRANSFERS_ACTIVE));
	t->listed = 1;
	stats_add(STATS_TRANSFERS_STARTED, 1);
	log_debug("%s: %s: %s download started", __func__, t->what,
	    t->kind->name);
	return t;
fail:
	log_warn("%s: %s: %s", __func__, t->what, *cause);
	transfer_unref(t);
	return NULL;
}

/*
 * Ends a transfer whose kind publishes asynchronously (its publish
 * returned 1): ok, or failed with why. Gives back the in-flight reference,
 * so t (and the kind's state) may be gone when this returns. Nothing
 * happens if the transfer was failed meanwhile (shutdown).
 */
void
transfer_finish(struct transfer *t, int ok, const char *why)
{
	if (t->state != TRANSFER_PUBLISHING)
		return;
	if (ok)
		transfer_cached(t);
	else
		transfer_fail(t, 0, "%s", why);
	transfer_drop_inflight(t);
}

/*
 * Moves the finished temporary file, already on disk (the transfer
 * synced it before publishing), to path; the rename is made durable (the
 * directory flushed too).
 */
int
transfer_publish_to(struct transfer *t, const char *path)
{
	if (rename(t->tmp, path) != 0) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	cache_fsync_dir(path);
	return 0;
}

const char *
transfer_tmp(const struct transfer *t)
{
	return t->tmp;
}

const struct transfer_kind *
transfer_kind(const struct transfer *t)
{
	return t->kind;
}

void *
transfer_kind_state(const struct transfer *t)
{
	return t->kstate;
}

const char *
transfer_what(const struct transfer *t)
{
	return t->what;
}

void
transfer_ref(struct transfer *t)
{
	t->refs++;
}

void
transfer_unref(struct transfer *t)
{
	int	i;

	if (--t->refs > 0)
		return;
	transfer_unlist(t);
	if (t->kstate != NULL)
		t->kind->free(t->kstate);
	if (t->fd != -1) {
		close(t->fd);
		cache_discard(t->tmp);	/* unless a kind published it */
	}
	if (t->hash != NULL)
		crypto_backend->sha256_free(t->hash);
	if (t->flush_ev != NULL)
		event_free(t->flush_ev);
	free(t->wbuf);
	free(t->jbuf);
	for (i = 0; i < 4; i++)
		free(t->ustr[i]);
	curl_slist_free_all(t->ureq.extra_headers);
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

/* Calls fn for every download in flight (status). */
void
transfer_each(struct proxy *p, void (*fn)(const struct transfer *, void *),
    void *arg)
{
	struct transfer	*t;

	TAILQ_FOREACH(t, &p->transfers, entry)
		fn(t, arg);
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

const char *
transfer_error(const struct transfer *t)
{
	return t->error;
}

/*
 * At shutdown: stop every download (also one its kind is still
 * publishing); a partial blob is set aside for the next run. A verified
 * blob whose file is being synced goes on: the workers finish that job
 * (workers_free) and it is put in place rather than downloaded again.
 * (Conditional kinds — feed files, whose publish may start more
 * downloads — are stopped.)
 */
void
transfer_abort_all(struct proxy *p)
{
	struct transfer	*t;

	for (;;) {
		TAILQ_FOREACH(t, &p->transfers, entry)
			if (t->state != TRANSFER_PUBLISHING ||
			    t->job_busy == 0 || t->kind->conditional)
				break;
		if (t == NULL)
			break;
		transfer_ref(t);
		if (t->upstream != NULL) {
			upstream_cancel(t->upstream);
			t->upstream = NULL;
		}
		t->paused = NULL;
		t->keep_partial = 1;	/* the next run resumes it */
		transfer_fail(t, 0, "shutting down");
		transfer_drop_inflight(t);
		transfer_unref(t);
	}
}
