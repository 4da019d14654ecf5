/*
 * tags/list: asked of the upstream while it answers (with the client's
 * n and last), otherwise — and always for the local entry — the tags in
 * the cache, paginated the same way. Clients asking the same page at
 * once share one upstream request (upstream.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define TAGS_MAX_BODY	(4 * 1024 * 1024)

struct tags_fetch {
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct registry		*registry;
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 prefix[512];	/* the client's /v2/<name> */
	long			 n;
	char			 last[REFERENCE_TAG_MAX + 1];
};

/*
 * Answers with tags (sorted here), applying n and last as the API says,
 * with a Link to the next page.
 */
static void
tags_reply(struct tags_fetch *tf, char **tags, size_t count, int stale)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(tf->req);
	struct evbuffer		*b;
	char			*text, link[1024], next[REFERENCE_TAG_MAX + 1];

	text = taglist_page(tf->repo, tags, count, tf->n, tf->last, next,
	    sizeof next);
	if (next[0] != '\0') {
		snprintf(link, sizeof link, "<%s/tags/list?n=%ld&last=%s>; "
		    "rel=\"next\"", tf->prefix, tf->n, next);
		evhttp_add_header(h, "Link", link);
	}
	b = evbuffer_new();
	if (b != NULL && text != NULL)
		evbuffer_add_printf(b, "%s\n", text);
	free(text);
	if (stale)
		evhttp_add_header(h, "Warning", "110 pullgate \"Response is Stale\"");
	reply_json(tf->req, 200, b);
	if (b != NULL)
		evbuffer_free(b);
}

/* Answers from the tag index. */
static void
tags_send_cached(struct tags_fetch *tf, int stale)
{
	char	**tags;
	size_t	  count;

	if (tagindex_list(&tf->proxy->cache, tf->registry->name, tf->repo,
	    &tags, &count) != 0) {
		reply_error(tf->req, 500, "UNKNOWN", "cannot read the tag index");
		return;
	}
	if (count == 0)
		reply_error(tf->req, 404, "NAME_UNKNOWN",
		    "repository not in the cache");
	else
		tags_reply(tf, tags, count, stale);
	tagindex_list_free(tags, count);
}

/* Rewrites the upstream's next-page Link so it points back through us. */
static void
tags_pass_link(struct tags_fetch *tf, const char *link)
{
	const char	*q, *end;
	char		 buf[1024];

	if (link == NULL || (q = strchr(link, '?')) == NULL ||
	    (end = strchr(q, '>')) == NULL || end - q > 512)
		return;
	snprintf(buf, sizeof buf, "<%s/tags/list%.*s>; rel=\"next\"", tf->prefix,
	    (int)(end - q), q);
	evhttp_add_header(evhttp_request_get_output_headers(tf->req), "Link", buf);
}

static void
tags_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct tags_fetch	*tf = arg;
	struct evbuffer		*body = fetch_body(f), *copy;
	long			 status = upstream_busy(error) ? 503 : fetch_status(f);
	char			**tags;
	size_t			 count;

	if (status == 0 || status == 429 || status >= 500) {
		log_info("%s/%s: tags from the cache: upstream %s", tf->registry->name,
		    tf->repo, error != NULL ? error : "failed");
		tags_send_cached(tf, 1);
		goto out;
	}
	if (status != 200 || error != NULL) {
		reply_upstream_failure(tf->req, tf->registry, status, error,
		    "NAME_UNKNOWN");
		goto out;
	}
	if (taglist_parse((const char *)evbuffer_pullup(body, -1),
	    evbuffer_get_length(body), &tags, &count) != 0) {
		reply_error(tf->req, 502, "UNAVAILABLE",
		    "the upstream sent a malformed tag list");
		goto out;
	}
	/*
	 * An upstream that ignored n/last (older distribution releases do)
	 * sent the whole list: paginate it here so clients see the same API.
	 */
	if (fetch_header(f, "Link") == NULL &&
	    (tf->n >= 0 || tf->last[0] != '\0')) {
		tags_reply(tf, tags, count, 0);
		taglist_free(tags, count);
		goto out;
	}
	taglist_free(tags, count);
	tags_pass_link(tf, fetch_header(f, "Link"));
	/* A copy: clients asking the same share one upstream answer. */
	if ((copy = evbuffer_new()) == NULL ||
	    evbuffer_add(copy, evbuffer_pullup(body, -1),
	    evbuffer_get_length(body)) != 0)
		reply_error(tf->req, 500, "UNKNOWN", "out of memory");
	else
		reply_json(tf->req, 200, copy);
	if (copy != NULL)
		evbuffer_free(copy);
out:
	free(tf);
}

void
tags_handle(struct api_request *ar)
{
	struct fetch_callbacks	 cb = { NULL, NULL, tags_done_cb };
	struct upstream_request	 ur;
	struct tags_fetch	*tf;
	struct evkeyvalq	 params;
	const char		*v, *query;
	char			*cause = NULL, q[256];
	long			 status;
	size_t			 plen;

	if ((tf = calloc(1, sizeof *tf)) == NULL) {
		reply_error(ar->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	tf->proxy = ar->proxy;
	tf->req = ar->req;
	tf->registry = ar->registry;
	tf->n = -1;
	util_strlcpy(tf->repo, ar->repo, sizeof tf->repo);
	plen = strlen(ar->rawpath) - strlen("/tags/list");
	snprintf(tf->prefix, sizeof tf->prefix, "%.*s", (int)plen, ar->rawpath);

	TAILQ_INIT(&params);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(ar->req));
	if (query != NULL)
		evhttp_parse_query_str(query, &params);
	if ((v = evhttp_find_header(&params, "n")) != NULL &&
	    util_parse_long(v, 0, 100000, &tf->n) != 0) {
		evhttp_clear_headers(&params);
		reply_error(ar->req, 400, "PAGINATION_NUMBER_INVALID", "invalid n");
		free(tf);
		return;
	}
	if ((v = evhttp_find_header(&params, "last")) != NULL &&
	    (!reference_valid_tag(v) ||
	    util_strlcpy(tf->last, v, sizeof tf->last) != 0)) {
		evhttp_clear_headers(&params);
		reply_error(ar->req, 400, "TAG_INVALID", "invalid last");
		free(tf);
		return;
	}
	evhttp_clear_headers(&params);
	if (ar->registry->is_local) {
		tags_send_cached(tf, 0);
		free(tf);
		return;
	}
	q[0] = '\0';
	if (tf->n >= 0)
		snprintf(q, sizeof q, "n=%ld", tf->n);
	if (tf->last[0] != '\0')
		snprintf(q + strlen(q), sizeof q - strlen(q), "%slast=%s",
		    q[0] != '\0' ? "&" : "", tf->last);
	memset(&ur, 0, sizeof ur);
	ur.repo = ar->repo;
	ur.what = "tags/list";
	ur.query = q[0] != '\0' ? q : NULL;
	ur.max_body = TAGS_MAX_BODY;
	if (upstream_start(ar->proxy, ar->registry, &ur, &cb, tf, &status,
	    &cause) == NULL) {
		log_info("%s/%s: tags from the cache: %s", ar->registry->name,
		    ar->repo, cause);
		tags_send_cached(tf, 1);
		free(cause);
		free(tf);
	}
}
