/*
 * One feed file: its kind of transfer and the one way a cached feed file
 * is answered. Both the loose files of feed.c and the members of a suite's
 * index set (feedset.c) go through here.
 *
 * A feed file's state (struct feedfile) says where the file goes (dest,
 * with its meta beside it), what it must be (a digest and size an index
 * names, when one does) and, once the upstream answered, its ETag and
 * Last-Modified. Clients are apt and opkg: errors are plain HTTP — a 404
 * for a file the feed does not have, 502 when the feed refused us, and
 * when the feed cannot answer the cached copy (Warning: 110) or 503 with
 * Retry-After, never 404, which sends apt down another path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>

#include "proxy.h"

#define FEEDFILE_MAGIC	0x46454446	/* "FEDF" */

static struct feedfile *
feedfile_state(void *ks)
{
	struct feedfile	*ff = ks;

	if (ff->magic != FEEDFILE_MAGIC)
		fatal("%s: bad magic", __func__);
	return ff;
}

/*
 * A feed file's state: it goes to dest with its meta; root, if not
 * empty, must still exist when it is published (a set version that was
 * replaced meanwhile takes nothing new); expected, if not NULL, is what
 * an index says it is, with its size (or -1).
 */
void
feedfile_init(struct feedfile *ff, struct proxy *p, const char *dest,
    const char *meta, const char *root, const struct digest *expected,
    int64_t size)
{
	memset(ff, 0, sizeof *ff);
	ff->magic = FEEDFILE_MAGIC;
	ff->proxy = p;
	util_strlcpy(ff->dest, dest, sizeof ff->dest);
	util_strlcpy(ff->meta, meta, sizeof ff->meta);
	util_strlcpy(ff->root, root, sizeof ff->root);
	if (expected != NULL) {
		ff->verify = 1;
		ff->digest = *expected;
	}
	ff->size = expected != NULL ? size : -1;
}

struct feedfile *
feedfile_new(struct proxy *p, const char *dest, const char *meta,
    const char *root, const struct digest *expected, int64_t size)
{
	struct feedfile	*ff;

	if ((ff = malloc(sizeof *ff)) == NULL)
		return NULL;
	feedfile_init(ff, p, dest, meta, root, expected, size);
	return ff;
}

/* 1 with its meta and size if the file at data is cached (meta too). */
int
feedfile_cached(const char *data, const char *meta, struct feed_meta *m,
    off_t *size)
{
	struct stat	st;

	if (stat(data, &st) != 0 || !S_ISREG(st.st_mode) ||
	    feedstore_meta_read(meta, m) != 0)
		return 0;
	*size = st.st_size;
	return 1;
}

static int
feedfile_if_none_match(const char *h, const char *etag)
{
	return h != NULL && etag[0] != '\0' &&
	    (strstr(h, etag) != NULL || strcmp(h, "*") == 0);
}

/*
 * Answers with a cached feed file (fd consumed): ETag (its quoted
 * SHA-256), Last-Modified, 304 for a matching If-None-Match or
 * If-Modified-Since, Range, HEAD, and always a Content-Length; stale adds
 * a Warning.
 */
static void
feedfile_send(struct proxy *p, struct evhttp_request *req, int fd,
    off_t size, const char *datapath, const char *metapath,
    const struct feed_meta *known, int stale)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct feed_meta	 m;
	char			 etag[DIGEST_HEX_LEN + 3];
	const char		*ims;
	time_t			 since, modified;

	if (known != NULL)
		m = *known;		/* the caller read it: not twice */
	else
		feedstore_meta_read(metapath, &m);
	budget_use_file(p->budget, datapath, fd);
	etag[0] = '\0';
	if (m.sha256[0] != '\0')
		snprintf(etag, sizeof etag, "\"%s\"", m.sha256);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	if (etag[0] != '\0')
		evhttp_add_header(h, "ETag", etag);
	if (m.last_modified[0] != '\0')
		evhttp_add_header(h, "Last-Modified", m.last_modified);
	if (stale)
		evhttp_add_header(h, "Warning", "110 pullgate \"Response is Stale\"");
	ims = evhttp_find_header(in, "If-Modified-Since");
	if (feedfile_if_none_match(evhttp_find_header(in, "If-None-Match"), etag) ||
	    (evhttp_find_header(in, "If-None-Match") == NULL && ims != NULL &&
	    m.last_modified[0] != '\0' &&
	    (since = curl_getdate(ims, NULL)) != -1 &&
	    (modified = curl_getdate(m.last_modified, NULL)) != -1 &&
	    modified <= since)) {
		close(fd);
		evhttp_send_reply(req, 304, NULL, NULL);
		return;
	}
	reply_file(req, fd, size, REPLY_FILE_RANGE |
	    (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ?
	    REPLY_FILE_HEAD : 0));
}

/* Answers with the cached file at data (fresh), or 500. */
void
feedfile_answer(struct proxy *p, struct evhttp_request *req, const char *data,
    const char *meta, const struct feed_meta *known)
{
	struct stat	st;
	int		fd;

	if ((fd = open(data, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) != 0) {
		log_warn("%s: %s: %s", __func__, data, strerror(errno));
		if (fd != -1)
			close(fd);
		reply_text(req, 500, "cannot read the cache");
		return;
	}
	feedfile_send(p, req, fd, st.st_size, data, meta, known, 0);
}

/*
 * The feed did not deliver: the cached copy at data (if not empty and
 * there), or 503 with Retry-After.
 */
static void
feedfile_unavailable(struct proxy *p, struct evhttp_request *req,
    const char *data,
    const char *meta, const char *why)
{
	struct stat	 st;
	char		 msg[512];
	int		 fd;

	if (data[0] != '\0' && (fd = open(data, O_RDONLY | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0) {
			feedfile_send(p, req, fd, st.st_size, data, meta, NULL, 1);
			return;
		}
		close(fd);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
	    "60");
	snprintf(msg, sizeof msg, "not in the cache, and the feed is "
	    "unavailable: %s", why);
	reply_text(req, 503, msg);
}

/*
 * Fetches rel of feed f as a transfer of kind, with state ks (taken: the
 * transfer's, or freed) and answers req from the download: expected, if
 * not NULL, is what the file must hash to; key names the one download;
 * cond, if not NULL, is what is known of the cached copy, asked about
 * with If-None-Match/If-Modified-Since.
 */
void
feedfile_fetch(struct proxy *p, struct evhttp_request *req, struct registry *f,
    const char *rel, const struct transfer_kind *kind, void *ks,
    const struct digest *expected, const char *key,
    const struct feed_meta *cond)
{
	struct transfer_request	 tr;
	struct upstream_request	 ur;
	struct curl_slist	*hdrs = NULL;
	char			 url[2048 + 1100], what[1200], *h;

	snprintf(url, sizeof url, "%s/%s", f->url, rel);	/* validated rel */
	snprintf(what, sizeof what, "feed %s/%s", f->name, rel);
	if (cond != NULL && cond->etag[0] != '\0' &&
	    (h = util_printf("If-None-Match: %s", cond->etag)) != NULL) {
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	if (cond != NULL && cond->last_modified[0] != '\0' &&
	    (h = util_printf("If-Modified-Since: %s", cond->last_modified)) != NULL) {
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	memset(&ur, 0, sizeof ur);
	ur.url = url;
	ur.extra_headers = hdrs;
	memset(&tr, 0, sizeof tr);
	tr.kind = kind;
	tr.state = ks;
	tr.key = key;
	tr.what = what;
	tr.digest = expected;
	tr.upstream = &ur;
	stream_transfer(p, req, f, &tr);
	curl_slist_free_all(hdrs);
}

/* The kind's callbacks, also used by feedset.c's kinds. */

/* Keeps the upstream's ETag and Last-Modified; checks an index's size. */
int
feedfile_response(void *ks, struct fetch *f, int64_t length, char **cause)
{
	struct feedfile	*ff = feedfile_state(ks);
	const char	*v;

	if (ff->size >= 0 && length >= 0 && length != ff->size) {
		stats_add(STATS_VERIFY_FAILURES, 1);
		log_error("%s: the upstream announced %lld bytes, the index %lld; "
		    "discarded", ff->dest, (long long)length,
		    (long long)ff->size);
		*cause = util_printf("the upstream's file does not match its index");
		return -1;
	}
	if ((v = fetch_header(f, "ETag")) != NULL)
		util_strlcpy(ff->etag, v, sizeof ff->etag);
	if ((v = fetch_header(f, "Last-Modified")) != NULL)
		util_strlcpy(ff->last_modified, v, sizeof ff->last_modified);
	return 0;
}

/*
 * A package index just published: parsed once, now, into the lookup its
 * package files are checked against. An index that does not parse is
 * kept as a file (apt reads it) but lists nothing.
 */
static void
feedfile_index(struct feedfile *ff, const struct digest *actual)
{
	char		 feed[REGISTRY_NAME_MAX], rel[1100], idx[PATH_MAX];
	char		*cause = NULL;
	struct stat	 st;
	int		 rc;

	if (feedstore_split(&ff->proxy->cache, ff->dest, feed, sizeof feed, rel,
	    sizeof rel) != 0 || !feedindex_is_packages(rel))
		return;
	if (ff->index_state < 0)
		cause = strdup(ff->index_cause);
	rc = ff->index_state < 0 ? -1 : feedindex_add(ff->proxy->feedindex,
	    feed, rel, ff->dest, actual, ff->index_state > 0 ?
	    ff->index_built : NULL, idx, sizeof idx, &cause);
	ff->index_state = 0;	/* taken */
	ff->index_built[0] = '\0';
	if (rc != 0) {
		log_warn("feed %s: %s: not a usable package index: %s", feed,
		    rel, cause != NULL ? cause : "error");
		free(cause);
		return;
	}
	if (stat(idx, &st) == 0)	/* the lookup is the cache's too */
		budget_add_file(ff->proxy->budget, idx, st.st_size);
}

/*
 * A worker thread, once the download is synced: a package index is
 * parsed into its lookup now (feedindex_build), so that publishing on the
 * loop only renames that into place. Reads nothing that changes while
 * the download is stored: dest, the cache's directory, the file. An index
 * whose place is not known yet (a set's first head) is parsed when
 * published.
 */
int
feedfile_place(void *ks, const struct transfer *t, const struct digest *actual)
{
	struct feedfile	*ff = feedfile_state(ks);
	char		 feed[REGISTRY_NAME_MAX], rel[1100], *cause = NULL;
	const char	*data = transfer_tmp(t), *base = strrchr(data, '/');

	if (ff->passthrough || ff->dest[0] == '\0' ||
	    feedstore_split(&ff->proxy->cache, ff->dest, feed, sizeof feed, rel,
	    sizeof rel) != 0 || !feedindex_is_packages(rel))
		return 0;
	/* Not a download's name: a crash leaves it to be removed at start. */
	snprintf(ff->index_built, sizeof ff->index_built, "%s/tmp/pkgidx.%s",
	    ff->proxy->cache.dir, base != NULL ? base + 1 : data);
	switch (feedindex_build(&ff->proxy->cache, feed, rel, data, actual,
	    ff->index_built, &cause)) {
	case 1:
		ff->index_state = 1;
		break;
	case 0:
		ff->index_built[0] = '\0';	/* the cache has it */
		break;
	default:
		ff->index_state = -1;
		ff->index_built[0] = '\0';
		util_strlcpy(ff->index_cause, cause != NULL ? cause : "error",
		    sizeof ff->index_cause);
		free(cause);
		break;
	}
	return 0;	/* the file itself is fine to publish */
}

/* A lookup parsed for a download that was not published. */
void
feedfile_drop_built(struct feedfile *ff)
{
	if (ff->index_state > 0)
		unlink(ff->index_built);
	ff->index_state = 0;
	ff->index_built[0] = '\0';
}

/*
 * Puts the file in place, then its meta (a file without meta is not
 * cached: a crash in between costs a download, never a wrong answer);
 * actual NULL: a 304, the meta's check time is renewed.
 */
int
feedfile_publish(void *ks, struct transfer *t, const struct digest *actual)
{
	struct feedfile		*ff = feedfile_state(ks);
	struct feed_meta	 m;
	struct stat		 st;

	if (ff->passthrough && actual != NULL) {
		/* Sent to its client from the download; never kept. */
		cache_discard(transfer_tmp(t));
		return 0;
	}
	if (ff->dest[0] == '\0' || ff->meta[0] == '\0')
		return -1;
	if (ff->root[0] != '\0' && stat(ff->root, &st) != 0) {
		log_info("%s: %s is gone (a newer set replaced it)", __func__,
		    ff->root);
		return -1;
	}
	feedstore_meta_read(ff->meta, &m);
	m.checked = time(NULL);
	if (actual != NULL) {
		if (ff->size >= 0 && transfer_written(t) != ff->size) {
			log_error("%s: %lld bytes, the index says %lld; discarded",
			    ff->dest, (long long)transfer_written(t),
			    (long long)ff->size);
			return -1;
		}
		if (feedstore_mkparent(ff->dest) != 0 ||
		    transfer_publish_to(t, ff->dest) != 0)
			return -1;
		budget_add_file(ff->proxy->budget, ff->dest, transfer_written(t));
		feedfile_index(ff, actual);
		util_strlcpy(m.etag, ff->etag, sizeof m.etag);
		util_strlcpy(m.last_modified, ff->last_modified,
		    sizeof m.last_modified);
		util_strlcpy(m.sha256, actual->hex, sizeof m.sha256);
	}
	return feedstore_meta_write(&ff->proxy->cache, ff->meta, &m);
}

void
feedfile_headers(void *ks, struct evhttp_request *req)
{
	struct feedfile		*ff = feedfile_state(ks);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	if (ff->last_modified[0] != '\0')
		evhttp_add_header(h, "Last-Modified", ff->last_modified);
}

void
feedfile_send_file(void *ks, struct evhttp_request *req)
{
	struct feedfile	*ff = feedfile_state(ks);

	if (ff->passthrough) {
		/* A Range or HEAD of a file that is never kept. */
		reply_text(req, 503, "no cached index lists this file: it is "
		    "passed through whole, not in parts");
		return;
	}

	feedfile_answer(ff->proxy, req, ff->dest, ff->meta, NULL);
}

/*
 * A download that failed: 404 if the feed has no such file, 502 if it
 * refused us or answered nonsense, 507 if the cache is full; when it
 * could not answer, the cached copy — unless an index wants another
 * version of it — or 503.
 */
void
feedfile_fail(void *ks, struct evhttp_request *req, int status,
    const char *error)
{
	struct feedfile		*ff = feedfile_state(ks);
	struct feed_meta	 m;
	char			 msg[512];

	switch (status) {
	case 404:
	case 410:
		reply_text(req, 404, "not found in the feed");
		return;
	case 401:
	case 403:
		reply_text(req, 502, "the feed refused pullgate's request");
		return;
	case 507:
		reply_text(req, 507, error);
		return;
	case 0:
	case 429:
		break;
	default:
		if (status < 500) {
			snprintf(msg, sizeof msg, "the feed answered %d", status);
			reply_text(req, 502, msg);
			return;
		}
		break;
	}
	if (ff->verify && (feedstore_meta_read(ff->meta, &m) != 0 ||
	    strcmp(m.sha256, ff->digest.hex) != 0)) {
		feedfile_unavailable(ff->proxy, req, "", ff->meta, error);	/* no mix */
		return;
	}
	feedfile_unavailable(ff->proxy, req, ff->dest, ff->meta, error);
}

void
feedfile_free(void *ks)
{
	struct feedfile	*ff = feedfile_state(ks);

	feedfile_drop_built(ff);
	ff->magic = 0;
	free(ff);
}

const struct transfer_kind feedfile_kind = {
	.name = "feed file",
	.conditional = 1,
	.whole = 0,
	.response = feedfile_response,
	.publish = feedfile_publish,
	.place = feedfile_place,
	.headers = feedfile_headers,
	.send_file = feedfile_send_file,
	.fail = feedfile_fail,
	.free = feedfile_free,
};
