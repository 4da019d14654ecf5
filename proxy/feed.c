/*
 * Package feeds (apt, opkg) through the same cache. Two ways in: an
 * absolute-URI request (HTTP-proxy mode) for a host a feed names, or
 * /feeds/<name>/<path>. Files live under feeds/<name>/data/<path>#, with
 * what the upstream said of them (ETag, Last-Modified, when checked) and
 * their SHA-256 under feeds/<name>/meta/<path>#. The '#' (which no
 * request path may contain) keeps a file from ever taking the name of a
 * directory: caching "dists" cannot break "dists/stable/InRelease".
 *
 * Package files (.deb, .udeb, .ipk, .opk, by-hash/) never change: once
 * cached they are served as they are, and they are checked before they
 * are published against the size and SHA-256 that a cached index lists
 * (by-hash names its own digest). Everything else is volatile: served
 * for feed_ttl, then revalidated with If-None-Match/If-Modified-Since.
 * An index file that the suite's cached InRelease/Release lists is only
 * ever served as the version that Release names (its SHA-256): a client
 * never gets a Release of one set and an index of another. When the
 * upstream cannot answer, a cached file is served (Warning: 110)
 * and a file never cached gets 503 with Retry-After — not 404, which
 * sends apt down another path.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

/* Package files never change once published. */
static int
feed_immutable(const char *rel)
{
	static const char	*ext[] = { ".deb", ".udeb", ".ipk", ".opk", NULL };
	size_t			 len = strlen(rel), i;

	if (strstr(rel, "/by-hash/") != NULL || strncmp(rel, "by-hash/", 8) == 0)
		return 1;
	for (i = 0; ext[i] != NULL; i++)
		if (len > strlen(ext[i]) &&
		    strcmp(rel + len - strlen(ext[i]), ext[i]) == 0)
			return 1;
	return 0;
}





static int
feed_if_none_match(const char *h, const char *etag)
{
	return h != NULL && etag[0] != '\0' &&
	    (strstr(h, etag) != NULL || strcmp(h, "*") == 0);
}

/*
 * Answers with a cached feed file (fd consumed): ETag (its quoted
 * SHA-256), Last-Modified, 304 for a matching If-None-Match or
 * If-Modified-Since, Range, HEAD, and always a Content-Length.
 */
static void
feed_send_file(struct evhttp_request *req, int fd, off_t size,
    const char *metapath, int stale)
{
	struct evkeyvalq	*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct feed_meta	 m;
	char			 etag[DIGEST_HEX_LEN + 3];
	const char		*ims;
	time_t			 since, modified;

	feedstore_meta_read(metapath, &m);
	budget_touch(fd);
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
	if (feed_if_none_match(evhttp_find_header(in, "If-None-Match"), etag) ||
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

/* The upstream did not deliver: the cached copy, or 503 with Retry-After. */
static void
feed_unavailable(struct evhttp_request *req, const char *data, const char *meta,
    const char *why)
{
	struct stat	st;
	int		fd;

	if ((fd = open(data, O_RDONLY | O_CLOEXEC)) != -1) {
		if (fstat(fd, &st) == 0) {
			feed_send_file(req, fd, st.st_size, meta, 1);
			return;
		}
		close(fd);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
	    "60");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain");
	{
		struct evbuffer *b = evbuffer_new();

		if (b != NULL)
			evbuffer_add_printf(b, "not in the cache, and the feed is "
			    "unavailable: %s\n", why);
		reply_send(req, 503, b);
		if (b != NULL)
			evbuffer_free(b);
	}
}

/* The feed kind of transfer. */
int
feed_kind_publish(struct transfer *t, const struct digest *actual)
{
	struct feed_meta	 m;
	char			 meta[PATH_MAX], dir[PATH_MAX], *slash;
	const char		*dest = transfer_dest(t);

	util_strlcpy(meta, transfer_meta(t), sizeof meta);
	feedstore_meta_read(meta, &m);
	m.checked = time(NULL);
	if (actual != NULL) {
		util_strlcpy(dir, dest, sizeof dir);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			if (util_mkdirs(dir, 0755) != 0)
				return -1;
		}
		if (transfer_publish_to(t, dest) != 0)
			return -1;
		util_strlcpy(m.etag, transfer_etag(t), sizeof m.etag);
		util_strlcpy(m.last_modified, transfer_last_modified(t),
		    sizeof m.last_modified);
		util_strlcpy(m.sha256, actual->hex, sizeof m.sha256);
	}
	return feedstore_meta_write(&transfer_proxy(t)->cache, meta, &m);
}

int
feed_kind_open(struct transfer *t, off_t *size)
{
	struct stat	st;
	int		fd;

	if ((fd = open(transfer_dest(t), O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*size = st.st_size;
	return fd;
}

void
feed_kind_headers(struct transfer *t, struct evhttp_request *req)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	if (transfer_last_modified(t)[0] != '\0')
		evhttp_add_header(h, "Last-Modified", transfer_last_modified(t));
}

void
feed_kind_send_file(struct transfer *t, struct evhttp_request *req, int fd,
    off_t size)
{
	feed_send_file(req, fd, size, transfer_meta(t), 0);
}

int
feed_kind_fallback(struct transfer *t, struct evhttp_request *req, int status)
{
	struct feed_meta	m;
	const char		*meta = transfer_meta(t);

	if (status != 0 && status < 500)
		return 0;
	if (transfer_verified(t) && (feedstore_meta_read(meta, &m) != 0 ||
	    strcmp(m.sha256, transfer_digest(t)->hex) != 0)) {
		/* The cached copy is not what was asked for: no mix. */
		feed_unavailable(req, "", meta, transfer_error(t));
		return 1;
	}
	feed_unavailable(req, transfer_dest(t), meta, transfer_error(t));
	return 1;
}

const struct transfer_kind feed_kind = {
	.name = "feed",
	.conditional = 1,
	.publish = feed_kind_publish,
	.open = feed_kind_open,
	.headers = feed_kind_headers,
	.send_file = feed_kind_send_file,
	.fallback = feed_kind_fallback,
};

/*
 * HTTP-proxy mode: the feed whose URL has this host and a path that
 * starts the request's; *rel is the rest. NULL: refuse, dial nothing.
 */
struct registry *
feed_for_url(struct proxy *p, const char *hostport, const char *path,
    const char **rel)
{
	struct registry_table	*t = &p->config->feeds;
	const char		*fpath;
	size_t			 i, len;

	for (i = 0; i < t->count; i++) {
		struct registry *f = &t->entries[i];

		if (strcasecmp(f->host, hostport) != 0)
			continue;
		fpath = strchr(strstr(f->url, "://") + 3, '/');
		len = fpath != NULL ? strlen(fpath) : 0;
		if (len > 0 && (strncmp(path, fpath, len) != 0 ||
		    (path[len] != '/' && path[len] != '\0')))
			continue;
		*rel = path + len;
		while (**rel == '/')
			(*rel)++;
		return f;
	}
	return NULL;
}

void
feed_handle(struct proxy *p, struct evhttp_request *req, struct registry *f,
    const char *rel)
{
	struct upstream_request	 ur;
	struct feed_meta	 m;
	struct transfer		*t;
	struct curl_slist	*cond = NULL;
	struct digest		 expect, *expected = NULL;
	struct stat		 st;
	char			 data[PATH_MAX], meta[PATH_MAX], url[2048];
	char			 key[TRANSFER_KEY_MAX], what[TRANSFER_KEY_MAX + 16];
	char			 root[PATH_MAX], *cause = NULL, dstr[80];
	const char		*hash;
	enum evhttp_cmd_type	 method = evhttp_request_get_command(req);
	int64_t			 size = -1;
	long			 status;
	int			 immutable, fd, cached, listed;

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		reply_error(req, 405, "UNSUPPORTED", "feeds are read-only");
		return;
	}
	if (!feedstore_valid_path(rel)) {
		reply_error(req, 400, "NAME_INVALID", "invalid path in the feed");
		return;
	}
	immutable = feed_immutable(rel);
	if (feedstore_path(&p->cache, f->name, "data", rel, data, sizeof data) != 0 ||
	    feedstore_path(&p->cache, f->name, "meta", rel, meta, sizeof meta) != 0) {
		reply_error(req, 400, "NAME_INVALID", "path too long");
		return;
	}
	cached = (stat(data, &st) == 0 && S_ISREG(st.st_mode) &&
	    feedstore_meta_read(meta, &m) == 0);
	snprintf(root, sizeof root, "%s/feeds/%s/data", p->cache.dir, f->name);
	listed = !immutable && packages_release_lookup(root, rel, &expect,
	    &size) == 0;
	if (listed) {
		/* The version its Release names, and no other. */
		expected = &expect;
		if (cached && strcmp(m.sha256, expect.hex) == 0)
			immutable = 1;		/* fresh as long as the Release */
		else
			cached = 0;		/* never served, never revalidated */
	}
	if (cached && (immutable || p->config->offline ||
	    time(NULL) - m.checked < p->config->feed_ttl)) {
		if ((fd = open(data, O_RDONLY | O_CLOEXEC)) != -1) {
			feed_send_file(req, fd, st.st_size, meta, 0);
			return;
		}
	}

	/* What a package file must be: by-hash names it, an index lists it. */
	if ((hash = strstr(rel, "by-hash/SHA256/")) != NULL) {
		snprintf(dstr, sizeof dstr, "sha256:%.64s", hash + 15);
		if (strlen(hash + 15) == DIGEST_HEX_LEN && digest_parse(dstr, &expect) == 0)
			expected = &expect;
	} else if (immutable && !listed) {
		if (packages_lookup(root, rel, &expect, &size) == 0)
			expected = &expect;
	}

	snprintf(url, sizeof url, "%s/%s", f->url, rel);
	memset(&ur, 0, sizeof ur);
	ur.url = url;
	if (cached && !immutable) {
		char *hdr;

		if (m.etag[0] != '\0' && (hdr = util_printf("If-None-Match: %s",
		    m.etag)) != NULL) {
			cond = curl_slist_append(cond, hdr);
			free(hdr);
		}
		if (m.last_modified[0] != '\0' && (hdr = util_printf(
		    "If-Modified-Since: %s", m.last_modified)) != NULL) {
			cond = curl_slist_append(cond, hdr);
			free(hdr);
		}
		ur.extra_headers = cond;
	}
	ur.no_redirect = 1;	/* a feed answers itself, or not at all */
	snprintf(key, sizeof key, "feed:%s/%s", f->name, rel);
	snprintf(what, sizeof what, "feed %s/%s", f->name, rel);
	t = transfer_start(p, f, key, feedset_is_head(rel) ? &feedset_head_kind :
	    &feed_kind, &ur, expected, size, data, what, &status, &cause);
	curl_slist_free_all(cond);
	if (t != NULL)
		transfer_set_meta(t, meta);
	if (t == NULL) {
		feed_unavailable(req, data, meta, cause != NULL ? cause : "error");
		free(cause);
		return;
	}
	if (stream_start(p, req, t, transfer_digest(t)) != 0)
		reply_error(req, 500, "UNKNOWN", "out of memory");
	transfer_unref(t);
}
