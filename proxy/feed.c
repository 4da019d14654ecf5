/*
 * Package feeds (apt, opkg) through the same cache. Two ways in: an
 * absolute-URI request (HTTP-proxy mode) for a host a feed names, or
 * /feeds/<name>/<path>.
 *
 * A suite's signed set — its InRelease/Release and the indexes it lists,
 * or an opkg feed's Packages.gz with Packages and Packages.sig — belongs
 * to feedset.c, which serves it from the set's current version and
 * switches it as one unit. Every other file is loose, under
 * feeds/<name>/data/<path># with its meta under feeds/<name>/meta/<path>#
 * (feedstore.c). Package files (.deb, .udeb, .ipk, .opk, by-hash/) never
 * change: once cached they are served as they are, and they are checked
 * before they are published against the size and SHA-256 that a cached
 * index lists (by-hash names its own digest). Other loose files are
 * volatile: served for feed_ttl, then revalidated with
 * If-None-Match/If-Modified-Since. Answering and fetching one file is
 * feedfile.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>

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

/*
 * A HEAD of a file not in the cache asks the feed with a HEAD and caches
 * nothing: a client that only wants to know never starts a download.
 */
static void
feed_head_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct evhttp_request	*req = arg;
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	long			 status = fetch_status(f);
	int64_t			 len = fetch_content_length(f);
	const char		*lm = fetch_header(f, "Last-Modified");
	char			 buf[64];

	if (error != NULL) {
		evhttp_add_header(h, "Retry-After", "60");
		reply_text(req, 503, "not in the cache, and the feed is "
		    "unavailable");
		return;
	}
	switch (status) {
	case 200:
		evhttp_add_header(h, "Content-Type", "application/octet-stream");
		evhttp_add_header(h, "Accept-Ranges", "bytes");
		if (lm != NULL)
			evhttp_add_header(h, "Last-Modified", lm);
		if (len >= 0) {
			snprintf(buf, sizeof buf, "%lld", (long long)len);
			evhttp_add_header(h, "Content-Length", buf);
		}
		evhttp_send_reply(req, 200, NULL, NULL);
		return;
	case 404:
	case 410:
		reply_text(req, 404, "not found in the feed");
		return;
	default:
		snprintf(buf, sizeof buf, "the feed answered %ld", status);
		reply_text(req, 502, buf);
		return;
	}
}

static void
feed_head_upstream(struct proxy *p, struct evhttp_request *req,
    struct registry *f, const char *rel)
{
	struct fetch_callbacks	 cb = { NULL, NULL, feed_head_done_cb };
	struct upstream_request	 ur;
	char			 url[2048 + 1100], *cause = NULL;
	long			 status;

	snprintf(url, sizeof url, "%s/%s", f->url, rel);	/* validated rel */
	memset(&ur, 0, sizeof ur);
	ur.url = url;
	ur.head = 1;
	if (upstream_start(p, f, &ur, &cb, req, &status, &cause) == NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "60");
		reply_text(req, 503, "not in the cache, and the feed is "
		    "unavailable");
		free(cause);
	}
}

/*
 * Answers a GET or HEAD of rel in feed f: a set's file through feedset.c,
 * a loose file from the cache while it is fresh (or immutable, or the
 * gateway offline), else from the feed.
 */
void
feed_handle(struct proxy *p, struct evhttp_request *req, struct registry *f,
    const char *rel)
{
	struct feed_meta	 m;
	struct feedfile		*ff;
	struct digest		 expect, *expected = NULL;
	char			 root[PATH_MAX], data[PATH_MAX], meta[PATH_MAX];
	char			 dstr[80], key[PATH_MAX + 16];
	const char		*hash;
	enum evhttp_cmd_type	 method = evhttp_request_get_command(req);
	int64_t			 size = -1;
	off_t			 have;
	int			 immutable, cached, passthrough = 0;

	if (access_entry(p, req, f) != ACCESS_ALLOWED)
		return;
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		reply_text(req, 405, "feeds are read-only");
		return;
	}
	if (!feedstore_valid_path(rel)) {
		reply_text(req, 400, "invalid path in the feed");
		return;
	}
	if (feedset_handle(p, req, f, rel))
		return;
	immutable = feed_immutable(rel);
	if (feedstore_root(&p->cache, f->name, root, sizeof root) != 0 ||
	    feedstore_path(root, "data", rel, data, sizeof data) != 0 ||
	    feedstore_path(root, "meta", rel, meta, sizeof meta) != 0) {
		reply_text(req, 400, "path too long");
		return;
	}
	cached = feedfile_cached(data, meta, &m, &have);
	if (cached && (immutable || p->config->offline ||
	    time(NULL) - m.checked < p->config->feed_ttl)) {
		feedfile_answer(p, req, data, meta, &m);
		return;
	}
	if (!cached && method == EVHTTP_REQ_HEAD && !p->config->offline) {
		feed_head_upstream(p, req, f, rel);
		return;
	}

	/* What a package file must be: by-hash names it, an index lists it. */
	if ((hash = strstr(rel, "by-hash/SHA256/")) != NULL) {
		snprintf(dstr, sizeof dstr, "sha256:%.64s", hash + 15);
		if (strlen(hash + 15) == DIGEST_HEX_LEN && digest_parse(dstr, &expect) == 0)
			expected = &expect;
	} else if (immutable) {
		switch (feedindex_lookup(p->feedindex, f->name, rel, &expect,
		    &size)) {
		case 1:
			expected = &expect;
			break;
		case 0:
			passthrough = 1;
			break;
		default:
			reply_text(req, 502, "the feed's package index in the "
			    "cache cannot be read: the package cannot be verified");
			return;
		}
	}
	if ((ff = feedfile_new(p, data, meta, "", expected, size)) == NULL) {
		reply_text(req, 500, "out of memory");
		return;
	}
	if (passthrough) {
		/* Nothing says what it must be: the client gets it, the cache not. */
		log_info("feed %s: %s: no cached package index lists it; passed "
		    "through, not cached", f->name, rel);
		stats_add(STATS_FEED_UNVERIFIED, 1);
		ff->passthrough = 1;
	}
	/* A pass-through is its own download: a verified one never joins it. */
	if (passthrough && (size_t)snprintf(key, sizeof key, "%s (unverified)",
	    data) >= sizeof key) {
		feedfile_free(ff);
		reply_text(req, 400, "path too long");
		return;
	}
	feedfile_fetch(p, req, f, rel, &feedfile_kind, ff, expected,
	    passthrough ? key : data, cached && !immutable ? &m : NULL);
}
