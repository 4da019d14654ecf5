/*
 * Manifests by tag and by digest. Manifests are small: they are fetched
 * whole, checked (valid JSON, digest equal to the one asked for or to the
 * one the upstream announced), stored by digest, and only then answered.
 *
 * A digest, once cached, never goes upstream again. A tag is served from
 * the index while it is fresh (the entry's tag_ttl) or immutable (its
 * immutable_tags); after that a HEAD asks whether it moved, and only a
 * moved tag is fetched with a GET. When the upstream cannot answer (no
 * connection, timeout, 5xx, or the circuit breaker is open) the cached
 * digest is served at once with "Warning: 110". The local entry never
 * asks anyone: it resolves a tag from its own index, then from the other
 * entries' indexes (registry_resolve_tag).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy.h"

#define MANIFEST_MAGIC	0x4d414e49	/* "MANI" */

struct manifest_fetch {
	unsigned		 magic;
	struct proxy		*proxy;
	struct evhttp_request	*req;
	struct registry		*registry;
	int			 head;
	int			 by_digest;
	struct digest		 digest;	/* asked for, when by_digest */
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 tag[REFERENCE_TAG_MAX + 1];
	int			 have_stale;	/* a cached tag to fall back on */
	struct tagindex_entry	 stale;
	int			 revalidating;	/* the HEAD phase */
	struct evkeyvalq	*accept;	/* the client's, for the GET */
};

/* Sends a cached manifest; returns -1 if it is not (fully) in the cache. */
static int
manifest_send_cached(struct proxy *p, struct evhttp_request *req,
    const struct digest *d, const char *type, int head, const char *source)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 mtype[TAGINDEX_MEDIA_TYPE_MAX];
	off_t			 size;
	int			 fd;

	if (type == NULL) {
		if (cache_manifest_type_get(&p->cache, d, mtype, sizeof mtype) != 0)
			return -1;
		type = mtype;
	}
	if ((fd = cache_blob_open(&p->cache, d, &size)) == -1)
		return -1;
	budget_use_blob(p->budget, d, fd);
	reply_digest_headers(req, d, type);
	evhttp_add_header(h, "X-Pullgate-Source", source);
	if (strcmp(source, "stale") == 0)
		evhttp_add_header(h, "Warning",
		    "110 pullgate \"Response is Stale\"");
	reply_file(req, fd, size, REPLY_FILE_OCI | (head ? REPLY_FILE_HEAD : 0));
	return 0;
}

/* Sends a manifest just fetched, from the verified bytes in memory. */
static void
manifest_send_body(struct evhttp_request *req, struct evbuffer *body,
    const struct digest *d, const char *type)
{
	reply_digest_headers(req, d, type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "X-Pullgate-Source", "upstream");
	reply_send(req, 200, body);	/* a HEAD gets only its length */
}

/* The media type of a fetched manifest: the upstream's, or its own field. */
static int
manifest_type_of(struct fetch *f, json_t *root, char *buf, size_t len)
{
	const char	*ct = fetch_header(f, "Content-Type");
	const char	*mt;
	size_t		 n;

	if (ct != NULL) {
		n = strcspn(ct, "; ");
		if (n < len) {
			memcpy(buf, ct, n);
			buf[n] = '\0';
			if (mediatype_is_manifest(buf))
				return 0;
		}
	}
	mt = json_string_value(json_object_get(root, "mediaType"));
	if (mt != NULL && mediatype_is_manifest(mt))
		return util_strlcpy(buf, mt, len);
	if ((mt = mediatype_guess(json_object_get(root, "manifests") != NULL,
	    json_object_get(root, "layers") != NULL)) != NULL)
		return util_strlcpy(buf, mt, len);
	return -1;
}

static void
manifest_fetch_free(struct manifest_fetch *m)
{
	m->magic = 0;
	free(m);
}

/*
 * The upstream could not deliver: serve the cached tag if there is one,
 * else an error naming the entry and the reason.
 */
static void
manifest_fail(struct manifest_fetch *m, long status, const char *why)
{
	if (m->have_stale && (status == 0 || status == 429 || status >= 500) &&
	    manifest_send_cached(m->proxy, m->req,
	    &m->stale.digest, m->stale.media_type, m->head, "stale") == 0) {
		log_warn("%s/%s:%s: upstream failed (%s), served from cache",
		    m->registry->name, m->repo, m->tag,
		    why != NULL ? why : "no answer");
		return;
	}
	log_info("%s/%s: upstream status %ld: %s", m->registry->name, m->repo,
	    status, why != NULL ? why : "-");
	reply_upstream_failure(m->req, m->registry, status, why, "MANIFEST_UNKNOWN");
}

/* The manifest itself is wrong: an error of ours, never the stale copy. */
static void
manifest_reject(struct manifest_fetch *m, const char *code, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof msg, "registry '%s': %s", m->registry->name, why);
	reply_error(m->req, 502, code, msg);
}

static int	manifest_start(struct manifest_fetch *);

static void
manifest_done_cb(struct fetch *f, const char *error, void *arg)
{
	struct manifest_fetch	*m = arg;
	struct tagindex_entry	 e;
	struct evbuffer		*body = fetch_body(f);
	struct digest		 actual, announced;
	json_t			*root = NULL;
	json_error_t		 jerr;
	const char		*dc;
	char			 type[TAGINDEX_MEDIA_TYPE_MAX], why[256];
	long			 status = fetch_status(f);
	size_t			 len;
	unsigned char		*data;

	if (m->revalidating && error == NULL && status == 200) {
		dc = fetch_header(f, "Docker-Content-Digest");
		if (dc != NULL && digest_parse(dc, &announced) == 0 &&
		    digest_equal(&announced, &m->stale.digest)) {
			/* Unchanged: no GET, and fresh for another tag_ttl. */
			m->stale.checked = time(NULL);
			tagindex_put(&m->proxy->cache, m->registry->name, m->repo,
			    m->tag, &m->stale);
			if (manifest_send_cached(m->proxy, m->req, &m->stale.digest,
			    m->stale.media_type, m->head, "cache") != 0)
				reply_error(m->req, 500, "UNKNOWN", "cannot read the cache");
			goto out;
		}
		log_info("%s/%s:%s: tag moved upstream", m->registry->name, m->repo,
		    m->tag);
		m->revalidating = 0;
		if (manifest_start(m) != 0)
			manifest_fetch_free(m);
		json_decref(root);
		return;
	}
	if (status == 404) {
		m->have_stale = 0;	/* the upstream's answer is the truth */
		manifest_fail(m, status, NULL);
		goto out;
	}
	if (error != NULL || status != 200) {
		if (error != NULL && status == 0)
			snprintf(why, sizeof why, "upstream unreachable: %s", error);
		else
			snprintf(why, sizeof why, "%s", error != NULL ? error : "");
		manifest_fail(m, status, why[0] != '\0' ? why : NULL);
		goto out;
	}
	len = evbuffer_get_length(body);
	data = evbuffer_pullup(body, -1);
	if (len == 0 || data == NULL ||
	    (root = json_loadb((const char *)data, len, 0, &jerr)) == NULL ||
	    !json_is_object(root) || manifest_type_of(f, root, type, sizeof type) != 0) {
		manifest_reject(m, "MANIFEST_INVALID",
		    "the upstream sent a malformed manifest");
		goto out;
	}
	hash_buffer(data, len, &actual);
	if (m->by_digest && !digest_equal(&actual, &m->digest)) {
		log_error("%s/%s@sha256:%s: upstream sent a manifest with digest "
		    "sha256:%s; discarded", m->registry->name, m->repo,
		    m->digest.hex, actual.hex);
		stats_add(STATS_VERIFY_FAILURES, 1);
		manifest_reject(m, "DIGEST_INVALID",
		    "the upstream sent a manifest that does not match its digest");
		goto out;
	}
	dc = fetch_header(f, "Docker-Content-Digest");
	if (dc != NULL && digest_parse(dc, &announced) == 0 &&
	    !digest_equal(&announced, &actual)) {
		log_error("%s/%s:%s: upstream announced %s but sent sha256:%s; "
		    "discarded", m->registry->name, m->repo, m->tag, dc, actual.hex);
		stats_add(STATS_VERIFY_FAILURES, 1);
		manifest_reject(m, "DIGEST_INVALID",
		    "the upstream sent a manifest that does not match its digest");
		goto out;
	}
	if (cache_put_manifest(&m->proxy->cache, &actual, data, len, type) != 0) {
		reply_error(m->req, 500, "UNKNOWN", "cannot store the manifest");
		goto out;
	}
	if (!m->by_digest) {
		memset(&e, 0, sizeof e);
		e.digest = actual;
		util_strlcpy(e.media_type, type, sizeof e.media_type);
		e.checked = time(NULL);
		tagindex_put(&m->proxy->cache, m->registry->name, m->repo, m->tag, &e);
	}
	/* From memory: the stored copy may already be gone again (cache gc). */
	manifest_send_body(m->req, body, &actual, type);
out:
	json_decref(root);
	manifest_fetch_free(m);
}

/* Asks the upstream: a HEAD when revalidating, else a GET. */
static int
manifest_start(struct manifest_fetch *m)
{
	struct fetch_callbacks	 cb = { NULL, NULL, manifest_done_cb };
	struct upstream_request	 ur;
	char			 dstr[DIGEST_STRING_LEN + 1], *cause = NULL;
	long			 status;

	memset(&ur, 0, sizeof ur);
	ur.repo = m->repo;
	ur.what = "manifests";
	if (m->by_digest) {
		digest_format(&m->digest, dstr, sizeof dstr);
		ur.ref = dstr;
	} else
		ur.ref = m->tag;
	ur.head = m->revalidating;
	ur.accept_manifests = 1;
	ur.client_headers = m->accept;
	ur.max_body = m->proxy->config->manifest_max_bytes;
	/* With a cached answer to fall back on, never wait long. */
	if (m->have_stale)
		ur.timeout = m->proxy->config->connect_timeout;
	if (upstream_start(m->proxy, m->registry, &ur, &cb, m, &status,
	    &cause) == NULL) {
		manifest_fail(m, status, cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Whether the client accepts a cached manifest of this media type: a
 * client that lists manifest types (an old one that knows only Docker
 * schema2, say) gets no other; wildcards and no Accept take anything.
 */
static int
manifest_acceptable(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(req);
	struct evkeyval		*kv;
	int			 specific = 0;

	TAILQ_FOREACH(kv, h, next) {
		if (strcasecmp(kv->key, "Accept") != 0)
			continue;
		if (strstr(kv->value, type) != NULL || strstr(kv->value, "*/*") != NULL)
			return 1;
		if (strstr(kv->value, "application/vnd.") != NULL)
			specific = 1;
	}
	return !specific;
}

void
manifest_handle(struct api_request *ar)
{
	struct proxy		*p = ar->proxy;
	struct registry		*r = ar->registry;
	struct manifest_fetch	*m;
	struct tagindex_entry	 e;
	struct digest		 d;
	int			 by_digest, have = 0, ttl;

	by_digest = (strchr(ar->ref, ':') != NULL);
	if (by_digest) {
		if (digest_parse(ar->ref, &d) != 0) {
			reply_error(ar->req, 400, "DIGEST_INVALID", "invalid digest");
			return;
		}
		if (manifest_send_cached(p, ar->req, &d, NULL, ar->head, "cache") == 0)
			return;
	} else {
		if (!reference_valid_tag(ar->ref)) {
			reply_error(ar->req, 400, "TAG_INVALID", "invalid tag");
			return;
		}
		have = (registry_resolve_tag(&p->config->registries, &p->cache,
		    r, ar->repo, ar->ref, &e) == 0);
		ttl = r->tag_ttl >= 0 ? r->tag_ttl : p->config->tag_ttl;
		if (have && !manifest_acceptable(ar->req, e.media_type) &&
		    !r->is_local && !p->config->offline)
			have = 0;	/* ask the upstream for a type it takes */
		if (have && (r->is_local || p->config->offline ||
		    time(NULL) - e.checked < ttl ||
		    registry_tag_immutable(r, ar->ref)) &&
		    manifest_send_cached(p, ar->req, &e.digest, e.media_type,
		    ar->head, "cache") == 0)
			return;
	}
	if (r->is_local) {
		reply_error(ar->req, 404, "MANIFEST_UNKNOWN",
		    "manifest not in the local cache");
		return;
	}

	if ((m = calloc(1, sizeof *m)) == NULL) {
		reply_error(ar->req, 500, "UNKNOWN", "out of memory");
		return;
	}
	m->magic = MANIFEST_MAGIC;
	m->proxy = p;
	m->req = ar->req;
	m->registry = r;
	m->head = ar->head;
	m->by_digest = by_digest;
	m->accept = evhttp_request_get_input_headers(ar->req);
	if (by_digest)
		m->digest = d;
	else
		util_strlcpy(m->tag, ar->ref, sizeof m->tag);
	util_strlcpy(m->repo, ar->repo, sizeof m->repo);
	if (have) {
		m->have_stale = 1;
		m->stale = e;
		m->revalidating = 1;	/* HEADs do not count as pulls */
	}
	if (manifest_start(m) != 0)
		manifest_fetch_free(m);
}
