/*
 * The referrers API of OCI distribution 1.1: GET /v2/<name>/referrers/
 * <digest> answers an image index of the manifests whose "subject" is
 * <digest> (signatures, SBOMs, attestations), optionally filtered by
 * ?artifactType=.
 *
 * The listing is asked of the upstream's referrers API; an upstream
 * without one answers 404 (distribution 2.8 does), and then the OCI 1.1
 * tag schema is read instead: the tag "sha256-<hex>" of the same
 * repository holds the index (its absence means nothing refers to the
 * digest: an empty index). An API that paginates (Link: rel="next") is
 * followed, REFERRERS_PAGES_MAX pages at most, and its pages are merged
 * into one index (refused as soon as their descriptors pass
 * manifest_max_bytes: memory stays bounded by it). Either way the whole listing, unfiltered, is
 * stored by digest in the cache and pointed to from the tag index root
 * "referrers" (TAGINDEX_REFERRERS); it is served from there while it is
 * fresh (tag_ttl), when the upstream cannot answer, and offline. Every
 * answer is made from the stored bytes by one function, so an answer from
 * the cache is the online one, byte for byte, filtered or not. The
 * referrer manifests themselves are pulled by digest like any manifest.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define REFERRERS_MAGIC		0x52454652	/* "REFR" */
#define REFERRERS_TYPE_MAX	255		/* an artifactType filter */
#define REFERRERS_QUERY_MAX	512		/* the next page's query */
#define REFERRERS_PAGES_MAX	16		/* pages of one listing */

static const char referrers_empty[] = "{\"schemaVersion\":2,\"mediaType\":"
    "\"" MEDIATYPE_OCI_INDEX "\",\"manifests\":[]}";

struct referrers_fetch {
	unsigned		 magic;
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct registry		*registry;
	struct digest		 subject;
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 tag[REFERENCE_TAG_MAX + 1];	/* sha256-<hex> */
	char			 type[REFERRERS_TYPE_MAX + 1];	/* "": all */
	int			 have;		/* a cached listing */
	struct tagindex_entry	 cached;
	int			 tag_schema;	/* asking the tag, not the API */
	json_t			*pages;		/* descriptors of pages so far */
	int			 npages;
	char			 next[REFERRERS_QUERY_MAX + 1];	/* "": first */
};

static void
referrers_free(struct referrers_fetch *rf)
{
	rf->magic = 0;
	json_decref(rf->pages);
	free(rf);
}

/*
 * The answer made from a stored listing: the bytes themselves, or with
 * a filter an index of the descriptors of that artifactType.
 */
static void
referrers_send(struct referrers_fetch *rf, const unsigned char *data,
    size_t len, const char *source)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(rf->req);
	struct evbuffer		*b;
	json_t			*root = NULL, *list, *v;
	json_error_t		 jerr;
	const char		*at;
	char			*text = NULL;
	size_t			 i;

	if (rf->type[0] != '\0') {
		if ((root = json_loadb((const char *)data, len, 0, &jerr)) == NULL ||
		    (list = json_array()) == NULL) {
			json_decref(root);
			reply_error(rf->req, 500, "UNKNOWN",
			    "cannot read the stored referrers listing");
			return;
		}
		json_array_foreach(json_object_get(root, "manifests"), i, v) {
			at = json_string_value(json_object_get(v, "artifactType"));
			if (at != NULL && strcmp(at, rf->type) == 0)
				json_array_append(list, v);
		}
		json_object_set_new(root, "manifests", list);
		text = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		if (text == NULL) {
			reply_error(rf->req, 500, "UNKNOWN", "out of memory");
			return;
		}
		data = (const unsigned char *)text;
		len = strlen(text);
		evhttp_add_header(h, "OCI-Filters-Applied", "artifactType");
	}
	if ((b = evbuffer_new()) == NULL || evbuffer_add(b, data, len) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		free(text);
		reply_error(rf->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	free(text);
	reply_headers(rf->req);
	evhttp_add_header(h, "Content-Type", MEDIATYPE_OCI_INDEX);
	evhttp_add_header(h, "X-Pullgate-Source", source);
	if (strcmp(source, "stale") == 0)
		evhttp_add_header(h, "Warning",
		    "110 pullgate \"Response is Stale\"");
	reply_send(rf->req, 200, b);
	evbuffer_free(b);
}

/* Answers from the cached listing; -1 if it cannot be read (not answered). */
static int
referrers_send_cached(struct referrers_fetch *rf, const char *source)
{
	struct proxy	*p = rf->proxy;
	unsigned char	*data;
	off_t		 size;
	ssize_t		 n;
	int		 fd;

	if ((fd = cache_blob_open(&p->cache, &rf->cached.digest, &size)) == -1)
		return -1;
	if (size > (off_t)p->config->manifest_max_bytes ||
	    (data = malloc(size > 0 ? (size_t)size : 1)) == NULL) {
		close(fd);
		return -1;
	}
	n = pread(fd, data, (size_t)size, 0);
	budget_use_blob(p->budget, &rf->cached.digest, fd);
	close(fd);
	if (n != (ssize_t)size) {
		free(data);
		return -1;
	}
	stats_add(STATS_REFERRERS_CACHE, 1);
	referrers_send(rf, data, (size_t)size, source);
	free(data);
	return 0;
}

/*
 * The upstream could not answer: the cached listing (stale), or the
 * upstream's failure; never an invented empty listing. Takes rf.
 */
static void
referrers_fail(struct referrers_fetch *rf, long status, const char *why)
{
	if (rf->have && (status == 0 || status == 429 || status >= 500) &&
	    referrers_send_cached(rf, "stale") == 0) {
		log_warn("%s/%s: referrers of sha256:%s from the cache: upstream "
		    "%s", rf->registry->name, rf->repo, rf->subject.hex,
		    why != NULL ? why : "failed");
		referrers_free(rf);
		return;
	}
	reply_upstream_failure(rf->req, rf->registry, status, why,
	    "MANIFEST_UNKNOWN");
	referrers_free(rf);
}

/*
 * A listing the upstream gave (or the empty one): checked to be an index,
 * stored, pointed to, answered. Takes rf.
 */
static void
referrers_store(struct referrers_fetch *rf, const unsigned char *data,
    size_t len)
{
	struct proxy		*p = rf->proxy;
	struct tagindex_entry	 e;
	json_t			*root;
	json_error_t		 jerr;

	root = json_loadb((const char *)data, len, 0, &jerr);
	if (root == NULL || !json_is_object(root) ||
	    !json_is_array(json_object_get(root, "manifests"))) {
		json_decref(root);
		log_warn("%s/%s: referrers of sha256:%s: the upstream sent no "
		    "image index", rf->registry->name, rf->repo, rf->subject.hex);
		reply_error(rf->req, 502, "MANIFEST_INVALID", "the upstream sent "
		    "a malformed referrers listing");
		referrers_free(rf);
		return;
	}
	json_decref(root);
	memset(&e, 0, sizeof e);
	hash_buffer(data, len, &e.digest);
	util_strlcpy(e.media_type, MEDIATYPE_OCI_INDEX, sizeof e.media_type);
	e.checked = time(NULL);
	/* Clients sharing one answer store it once. */
	if ((!cache_blob_exists(&p->cache, &e.digest) &&
	    cache_put_manifest(&p->cache, &e.digest, data, len,
	    MEDIATYPE_OCI_INDEX) != 0) || tagindex_put_in(&p->cache,
	    TAGINDEX_REFERRERS, rf->registry->name, rf->repo, rf->tag, &e) != 0)
		log_warn("%s/%s: referrers of sha256:%s: cannot be cached",
		    rf->registry->name, rf->repo, rf->subject.hex);
	stats_add(rf->tag_schema ? STATS_REFERRERS_TAG_SCHEMA :
	    STATS_REFERRERS_API, 1);
	referrers_send(rf, data, len, "upstream");
	referrers_free(rf);
}

static int	referrers_start(struct referrers_fetch *);

/*
 * The query of a Link header's next page (<...?QUERY>; rel="next") into
 * buf: 1, or 0 when there is no next page we can ask for.
 */
static int
referrers_next_query(const char *link, char *buf, size_t len)
{
	const char	*q, *end;
	size_t		 n;

	if (link == NULL || strstr(link, "rel=\"next\"") == NULL ||
	    (q = strchr(link, '?')) == NULL || (end = strchr(q, '>')) == NULL)
		return 0;
	n = (size_t)(end - q - 1);
	if (n == 0 || n >= len || strspn(q + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~%=&:+") != n)
		return 0;
	memcpy(buf, q + 1, n);
	buf[n] = '\0';
	return 1;
}

/*
 * A page of a paginated listing: its descriptors are kept, and the next
 * page asked for. 1: under way (or answered; rf is taken), 0: the last
 * page, merged into *merged (NULL for a listing of one page).
 */
static int
referrers_page(struct referrers_fetch *rf, struct fetch *f,
    const unsigned char *data, size_t len, char **merged)
{
	json_t		*root, *list;
	json_error_t	 jerr;
	int		 more;

	*merged = NULL;
	more = referrers_next_query(fetch_header(f, "Link"), rf->next,
	    sizeof rf->next);
	if (!more && rf->pages == NULL)
		return 0;
	root = json_loadb((const char *)data, len, 0, &jerr);
	list = json_object_get(root, "manifests");
	if ((rf->pages == NULL && (rf->pages = json_array()) == NULL) ||
	    !json_is_array(list) || json_array_extend(rf->pages, list) != 0 ||
	    ++rf->npages > REFERRERS_PAGES_MAX) {
		json_decref(root);
		reply_error(rf->req, 502, "MANIFEST_INVALID", "the upstream sent "
		    "a malformed or endless referrers listing");
		referrers_free(rf);
		return 1;
	}
	/* What is kept must fit what the merged listing may be. */
	if (json_dumpb(rf->pages, NULL, 0, JSON_COMPACT) >
	    rf->proxy->config->manifest_max_bytes) {
		json_decref(root);
		reply_error(rf->req, 502, "MANIFEST_INVALID", "the upstream's "
		    "referrers listing is larger than manifest_max_bytes");
		referrers_free(rf);
		return 1;
	}
	if (more) {
		json_decref(root);
		if (referrers_start(rf) != 0)
			referrers_free(rf);
		return 1;
	}
	json_object_set(root, "manifests", rf->pages);
	*merged = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (*merged == NULL) {
		reply_error(rf->req, 500, "UNKNOWN", "out of memory");
		referrers_free(rf);
		return 1;
	}
	/* Served from the cache later, it must fit what is read back. */
	if (strlen(*merged) > rf->proxy->config->manifest_max_bytes) {
		free(*merged);
		*merged = NULL;
		reply_error(rf->req, 502, "MANIFEST_INVALID", "the upstream's "
		    "referrers listing is larger than manifest_max_bytes");
		referrers_free(rf);
		return 1;
	}
	return 0;
}

static void
referrers_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct referrers_fetch	*rf = arg;
	struct evbuffer		*body = fetch_body(f);
	struct digest		 actual, announced;
	const char		*dc;
	char			*merged;
	long			 status = upstream_busy(error) ? 503 : fetch_status(f);
	size_t			 len;
	unsigned char		*data;

	if (rf->magic != REFERRERS_MAGIC)
		fatal("%s: bad magic", __func__);
	if (error == NULL && status == 404 && rf->npages == 0) {
		if (rf->tag_schema) {
			/* No tag: nothing refers to the digest. */
			referrers_store(rf, (const unsigned char *)referrers_empty,
			    strlen(referrers_empty));
			return;
		}
		/* No referrers API: the tag schema. */
		rf->tag_schema = 1;
		if (referrers_start(rf) != 0)
			referrers_free(rf);
		return;
	}
	if (error != NULL || status != 200) {
		referrers_fail(rf, status, error);
		return;
	}
	len = evbuffer_get_length(body);
	if ((data = evbuffer_pullup(body, -1)) == NULL || len == 0) {
		referrers_fail(rf, 502, "the upstream sent an empty listing");
		return;
	}
	if (!rf->tag_schema) {
		if (referrers_page(rf, f, data, len, &merged) != 0)
			return;
		if (merged != NULL) {
			referrers_store(rf, (unsigned char *)merged,
			    strlen(merged));
			free(merged);
			return;
		}
	}
	/* The tag's index is a manifest: it is what its digest says. */
	dc = fetch_header(f, "Docker-Content-Digest");
	if (rf->tag_schema && dc != NULL && digest_parse(dc, &announced) == 0) {
		hash_buffer(data, len, &actual);
		if (!digest_equal(&actual, &announced)) {
			log_error("%s/%s:%s: upstream announced %s but sent "
			    "sha256:%s; discarded", rf->registry->name, rf->repo,
			    rf->tag, dc, actual.hex);
			stats_add(STATS_VERIFY_FAILURES, 1);
			reply_error(rf->req, 502, "DIGEST_INVALID", "the upstream "
			    "sent a manifest that does not match its digest");
			referrers_free(rf);
			return;
		}
	}
	referrers_store(rf, data, len);
}

/*
 * Asks the upstream: the referrers API, or the tag schema's tag. -1:
 * answered already (the caller frees rf).
 */
static int
referrers_start(struct referrers_fetch *rf)
{
	struct fetch_callbacks	 cb = { NULL, NULL, referrers_done_cb };
	struct upstream_request	 ur;
	char			 dstr[DIGEST_STRING_LEN + 1], *cause = NULL;
	long			 status;

	memset(&ur, 0, sizeof ur);
	ur.repo = rf->repo;
	if (rf->tag_schema) {
		ur.what = "manifests";
		ur.ref = rf->tag;
		ur.accept_manifests = 1;
	} else {
		digest_format(&rf->subject, dstr, sizeof dstr);
		ur.what = "referrers";
		ur.ref = dstr;
		ur.query = rf->next[0] != '\0' ? rf->next : NULL;
	}
	ur.max_body = rf->proxy->config->manifest_max_bytes;
	/* With a cached listing to fall back on, never wait long. */
	if (rf->have)
		ur.timeout = rf->proxy->config->connect_timeout;
	if (upstream_start(rf->proxy, rf->registry, &ur, &cb, rf, &status,
	    &cause) == NULL) {
		log_info("%s/%s: referrers: %s", rf->registry->name, rf->repo,
		    cause);
		if (rf->have && status == 0 &&
		    referrers_send_cached(rf, "stale") == 0) {
			free(cause);
			referrers_free(rf);
			return 0;
		}
		reply_upstream_failure(rf->req, rf->registry, status, cause,
		    "MANIFEST_UNKNOWN");
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * For the local entry, which has none of its own: another entry's cached
 * listing of the same repository and digest, as a tag resolves (0 found).
 */
static int
referrers_other(struct referrers_fetch *rf)
{
	struct registry_table	*t = &rf->proxy->config->registries;
	size_t			 i;

	for (i = 0; i < t->count; i++)
		if (!t->entries[i].is_local && tagindex_get_in(&rf->proxy->cache,
		    TAGINDEX_REFERRERS, t->entries[i].name, rf->repo, rf->tag,
		    &rf->cached) == 0 && cache_blob_exists(&rf->proxy->cache,
		    &rf->cached.digest))
			return 0;
	return -1;
}

/* The artifactType filter of the query, if any; -1 after replying. */
static int
referrers_filter(struct api_request *ar, char *buf, size_t len)
{
	struct evkeyvalq	 params;
	const char		*query, *v;
	char			*sp;
	int			 rc = 0;

	buf[0] = '\0';
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(ar->req));
	if (query == NULL)
		return 0;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) == 0 &&
	    (v = evhttp_find_header(&params, "artifactType")) != NULL &&
	    (v[0] == '\0' || util_strlcpy(buf, v, len) != 0)) {
		reply_error(ar->req, 400, "UNSUPPORTED", "invalid artifactType");
		rc = -1;
	}
	evhttp_clear_headers(&params);
	/*
	 * A "+" left unencoded (…/spdx+json typed by hand) was decoded as a
	 * space; a media type has no spaces, so it was meant as itself.
	 */
	for (sp = buf; (sp = strchr(sp, ' ')) != NULL; sp++)
		*sp = '+';
	return rc;
}

void
referrers_handle(struct api_request *ar)
{
	struct proxy		*p = ar->proxy;
	struct registry		*r = ar->registry;
	struct referrers_fetch	*rf;
	int			 ttl;

	if ((rf = calloc(1, sizeof *rf)) == NULL) {
		reply_error(ar->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	rf->magic = REFERRERS_MAGIC;
	rf->proxy = p;
	rf->req = ar->req;
	rf->registry = r;
	util_strlcpy(rf->repo, ar->repo, sizeof rf->repo);
	if (digest_parse(ar->ref, &rf->subject) != 0) {
		reply_error(ar->req, 400, "DIGEST_INVALID", "invalid digest");
		referrers_free(rf);
		return;
	}
	if (referrers_filter(ar, rf->type, sizeof rf->type) != 0) {
		referrers_free(rf);
		return;
	}
	snprintf(rf->tag, sizeof rf->tag, "sha256-%s", rf->subject.hex);
	rf->have = (tagindex_get_in(&p->cache, TAGINDEX_REFERRERS, r->name,
	    rf->repo, rf->tag, &rf->cached) == 0 &&
	    cache_blob_exists(&p->cache, &rf->cached.digest));
	ttl = r->tag_ttl >= 0 ? r->tag_ttl : p->config->tag_ttl;
	if (rf->have && (r->is_local || p->config->offline ||
	    time(NULL) - rf->cached.checked < ttl) &&
	    referrers_send_cached(rf, "cache") == 0) {
		referrers_free(rf);
		return;
	}
	if (r->is_local) {
		/* The cache is all the local entry knows: nothing refers. */
		if (referrers_other(rf) == 0 &&
		    referrers_send_cached(rf, "cache") == 0) {
			referrers_free(rf);
			return;
		}
		referrers_send(rf, (const unsigned char *)referrers_empty,
		    strlen(referrers_empty), "cache");
		referrers_free(rf);
		return;
	}
	if (referrers_start(rf) != 0)
		referrers_free(rf);
}
