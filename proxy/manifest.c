/*
 * Manifests by tag and by digest. Manifests are small: they are fetched
 * whole, checked (valid JSON, digest equal to the one asked for or to the
 * one the upstream announced), stored by digest, and only then answered.
 *
 * A digest, once cached, never goes upstream again. A tag is served from
 * the index while it is fresh (the entry's tag_ttl) or immutable (its
 * immutable_tags); after that a HEAD asks whether it moved, and only a
 * moved tag is fetched with a GET. When the upstream cannot answer (no
 * connection, timeout, 5xx, no slot in time, or the circuit breaker is
 * open) the cached digest is served at once with "Warning: 110". The
 * local entry never asks anyone: it resolves a tag from its own index,
 * then from the other entries' indexes (registry_resolve_tag).
 *
 * A tag means what the upstream answers when asked with every manifest
 * type (upstream.c never passes the client's Accept on): a multi-platform
 * tag is its index, for every client. A client that cannot take the
 * index gets what distribution gives it, the linux/amd64 child (fetched
 * by digest if it is not cached), when it takes that child's type, and
 * 404 MANIFEST_UNKNOWN otherwise; the tag's index is never replaced by
 * the narrower answer.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
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
	int			 child;		/* by_digest: an index's child */
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 tag[REFERENCE_TAG_MAX + 1];
	int			 have_stale;	/* a cached tag to fall back on */
	struct tagindex_entry	 stale;
	int			 revalidating;	/* the HEAD phase */
};

static void	manifest_send_body(struct evhttp_request *, const unsigned char *,
		    size_t, const struct digest *, const char *, const char *);

/*
 * Sends a cached manifest; returns -1 if it is not (fully) in the cache.
 * From memory when it is there or fits there (no file opened); from the
 * file when it is larger than the memory cache keeps.
 */
static int
manifest_send_cached(struct proxy *p, struct evhttp_request *req,
    const struct digest *d, const char *type, int head, const char *source)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 mtype[TAGINDEX_MEDIA_TYPE_MAX];
	const unsigned char	*data;
	const char		*mt;
	size_t			 len;
	off_t			 size;
	int			 fd;

	if (memcache_manifest_get(p->cache.mem, d, &data, &len, &mt) == 0 ||
	    cache_manifest_load(&p->cache, d, p->config->manifest_max_bytes,
	    &data, &len, &mt) == 0) {
		budget_use_blob(p->budget, d, -1);
		manifest_send_body(req, data, len, d, type != NULL ? type : mt,
		    source);
		return 0;
	}
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

/*
 * Sends a manifest from verified bytes in memory (a copy: several clients
 * may share one upstream answer, and the memory cache may drop its own);
 * a HEAD, only their length.
 */
static void
manifest_send_body(struct evhttp_request *req, const unsigned char *data,
    size_t len, const struct digest *d, const char *type, const char *source)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b = NULL;
	int			 head;

	head = (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD);
	if (!head && ((b = evbuffer_new()) == NULL ||
	    evbuffer_add(b, data, len) != 0)) {
		if (b != NULL)
			evbuffer_free(b);
		reply_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	reply_digest_headers(req, d, type);
	evhttp_add_header(h, "X-Pullgate-Source", source);
	if (strcmp(source, "stale") == 0)
		evhttp_add_header(h, "Warning",
		    "110 pullgate \"Response is Stale\"");
	if (head) {
		reply_send_head(req, 200, len);
		return;
	}
	if (strcmp(source, "upstream") != 0)
		stats_add(STATS_SERVED_CACHE_BYTES, (int64_t)len);
	reply_send(req, 200, b);
	evbuffer_free(b);
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

/*
 * Whether the client accepts a manifest of this media type: a client
 * that lists manifest types (an old one that knows only Docker schema2,
 * say) gets no other; wildcards and no Accept take anything.
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

static int
manifest_is_index(const char *type)
{
	return strcmp(type, MEDIATYPE_OCI_INDEX) == 0 ||
	    strcmp(type, MEDIATYPE_DOCKER_LIST) == 0;
}

/*
 * The manifest of an index that distribution answers a client that
 * cannot take the index: the first one for linux/amd64.
 */
static int
manifest_platform_child(json_t *index, struct digest *child)
{
	json_t		*v, *plat;
	const char	*os, *arch, *ds;
	size_t		 i;

	json_array_foreach(json_object_get(index, "manifests"), i, v) {
		plat = json_object_get(v, "platform");
		os = json_string_value(json_object_get(plat, "os"));
		arch = json_string_value(json_object_get(plat, "architecture"));
		ds = json_string_value(json_object_get(v, "digest"));
		if (os != NULL && arch != NULL && ds != NULL &&
		    strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0 &&
		    digest_parse(ds, child) == 0)
			return 0;
	}
	return -1;
}

static void
manifest_fetch_free(struct manifest_fetch *m)
{
	m->magic = 0;
	free(m);
}

static void
manifest_unknown(struct manifest_fetch *m, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof msg, "registry '%s': %s", m->registry->name, why);
	reply_error(m->req, 404, "MANIFEST_UNKNOWN", msg);
	manifest_fetch_free(m);
}

static int	manifest_start(struct manifest_fetch *);

/*
 * Answers m's client with what tag manifest d (of type, its bytes in
 * data or else in the cache) means to it: d itself if it takes the type,
 * else an index's linux/amd64 child (from the cache, or asked of the
 * upstream by digest), else 404. Takes m.
 */
static void
manifest_answer(struct manifest_fetch *m, const struct digest *d,
    const char *type, const unsigned char *data, size_t len,
    const char *source)
{
	struct proxy	*p = m->proxy;
	char		 path[PATH_MAX], ctype[TAGINDEX_MEDIA_TYPE_MAX];
	json_t		*root = NULL;
	json_error_t	 jerr;
	struct digest	 child;
	int		 found;

	if (manifest_acceptable(m->req, type)) {
		if (data != NULL)
			manifest_send_body(m->req, data, len, d, type,
			    "upstream");
		else if (manifest_send_cached(p, m->req, d, type, m->head,
		    source) != 0)
			reply_error(m->req, 500, "UNKNOWN", "cannot read the cache");
		manifest_fetch_free(m);
		return;
	}
	if (!manifest_is_index(type)) {
		manifest_unknown(m, "the manifest's media type is none the "
		    "client accepts");
		return;
	}
	if (data != NULL)
		root = json_loadb((const char *)data, len, 0, &jerr);
	else if (cache_blob_path(&p->cache, d, path, sizeof path) == 0)
		root = json_load_file(path, 0, &jerr);
	found = (root != NULL && manifest_platform_child(root, &child) == 0);
	json_decref(root);
	if (!found) {
		manifest_unknown(m, "the client does not accept the index, and "
		    "it lists no linux/amd64 manifest");
		return;
	}
	if (cache_manifest_type_get(&p->cache, &child, ctype, sizeof ctype) == 0 &&
	    cache_blob_exists(&p->cache, &child)) {
		if (!manifest_acceptable(m->req, ctype))
			manifest_unknown(m, "the index's linux/amd64 manifest is of "
			    "a media type the client does not accept");
		else {
			if (manifest_send_cached(p, m->req, &child, ctype, m->head,
			    source) != 0)
				reply_error(m->req, 500, "UNKNOWN",
				    "cannot read the cache");
			manifest_fetch_free(m);
		}
		return;
	}
	if (m->registry->is_local || p->config->offline) {
		manifest_unknown(m, "the index's linux/amd64 manifest is not in "
		    "the cache");
		return;
	}
	/* The child, by digest: the tag's index stays what it is. */
	m->by_digest = 1;
	m->child = 1;
	m->digest = child;
	m->have_stale = 0;
	m->revalidating = 0;
	if (manifest_start(m) != 0)
		manifest_fetch_free(m);
}

/*
 * The upstream could not deliver: serve the cached tag if there is one,
 * else an error naming the entry and the reason. Takes m.
 */
static void
manifest_fail(struct manifest_fetch *m, long status, const char *why)
{
	if (m->have_stale && (status == 0 || status == 429 || status >= 500) &&
	    cache_blob_exists(&m->proxy->cache, &m->stale.digest)) {
		log_warn("%s/%s:%s: upstream failed (%s), served from cache",
		    m->registry->name, m->repo, m->tag,
		    why != NULL ? why : "no answer");
		m->have_stale = 0;
		manifest_answer(m, &m->stale.digest, m->stale.media_type, NULL,
		    0, "stale");
		return;
	}
	log_info("%s/%s: upstream status %ld: %s", m->registry->name, m->repo,
	    status, why != NULL ? why : "-");
	reply_upstream_failure(m->req, m->registry, status, why, "MANIFEST_UNKNOWN");
	manifest_fetch_free(m);
}

/* The manifest itself is wrong: an error of ours, never the stale copy. */
static void
manifest_reject(struct manifest_fetch *m, const char *code, const char *why)
{
	char	msg[512];

	snprintf(msg, sizeof msg, "registry '%s': %s", m->registry->name, why);
	reply_error(m->req, 502, code, msg);
	manifest_fetch_free(m);
}

/* The answer to the revalidating HEAD; takes m. */
static void
manifest_revalidated(struct manifest_fetch *m, struct fetch *f)
{
	const char	*dc = fetch_header(f, "Docker-Content-Digest");
	struct digest	 announced;

	if (dc != NULL && digest_parse(dc, &announced) == 0 &&
	    digest_equal(&announced, &m->stale.digest)) {
		/* Unchanged: no GET, and fresh for another tag_ttl. */
		m->stale.checked = time(NULL);
		tagindex_put(&m->proxy->cache, m->registry->name, m->repo,
		    m->tag, &m->stale);
		m->have_stale = 0;
		manifest_answer(m, &m->stale.digest, m->stale.media_type, NULL,
		    0, "cache");
		return;
	}
	log_info("%s/%s:%s: tag moved upstream", m->registry->name, m->repo,
	    m->tag);
	m->revalidating = 0;
	if (manifest_start(m) != 0)
		manifest_fetch_free(m);
}

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
	char			 type[TAGINDEX_MEDIA_TYPE_MAX];
	char			 have_type[TAGINDEX_MEDIA_TYPE_MAX], why[256];
	long			 status = upstream_busy(error) ? 503 : fetch_status(f);
	size_t			 len;
	unsigned char		*data;

	if (m->magic != MANIFEST_MAGIC)
		fatal("%s: bad magic", __func__);
	if (m->revalidating && error == NULL && status == 200) {
		manifest_revalidated(m, f);
		return;
	}
	if (status == 404) {
		m->have_stale = 0;	/* the upstream's answer is the truth */
		manifest_fail(m, status, NULL);
		return;
	}
	if (error != NULL || status != 200) {
		if (error != NULL && status == 0)
			snprintf(why, sizeof why, "upstream unreachable: %s", error);
		else
			snprintf(why, sizeof why, "%s", error != NULL ? error : "");
		manifest_fail(m, status, why[0] != '\0' ? why : NULL);
		return;
	}
	len = evbuffer_get_length(body);
	data = evbuffer_pullup(body, -1);
	if (len == 0 || data == NULL ||
	    (root = json_loadb((const char *)data, len, 0, &jerr)) == NULL ||
	    !json_is_object(root) || manifest_type_of(f, root, type, sizeof type) != 0) {
		json_decref(root);
		manifest_reject(m, "MANIFEST_INVALID",
		    "the upstream sent a malformed manifest");
		return;
	}
	json_decref(root);
	hash_buffer(data, len, &actual);
	if (m->by_digest && !digest_equal(&actual, &m->digest)) {
		log_error("%s/%s@sha256:%s: upstream sent a manifest with digest "
		    "sha256:%s; discarded", m->registry->name, m->repo,
		    m->digest.hex, actual.hex);
		stats_add(STATS_VERIFY_FAILURES, 1);
		manifest_reject(m, "DIGEST_INVALID",
		    "the upstream sent a manifest that does not match its digest");
		return;
	}
	dc = fetch_header(f, "Docker-Content-Digest");
	if (dc != NULL && digest_parse(dc, &announced) == 0 &&
	    !digest_equal(&announced, &actual)) {
		log_error("%s/%s:%s: upstream announced %s but sent sha256:%s; "
		    "discarded", m->registry->name, m->repo, m->tag, dc, actual.hex);
		stats_add(STATS_VERIFY_FAILURES, 1);
		manifest_reject(m, "DIGEST_INVALID",
		    "the upstream sent a manifest that does not match its digest");
		return;
	}
	/* Clients sharing one answer store it once. */
	if ((cache_manifest_type_get(&m->proxy->cache, &actual, have_type,
	    sizeof have_type) != 0 || !cache_blob_exists(&m->proxy->cache,
	    &actual)) && cache_put_manifest(&m->proxy->cache, &actual, data, len,
	    type) != 0) {
		reply_error(m->req, 500, "UNKNOWN", "cannot store the manifest");
		manifest_fetch_free(m);
		return;
	}
	if (m->by_digest) {
		/* A digest is what it is: sent whatever the client's Accept. */
		if (m->child && !manifest_acceptable(m->req, type))
			manifest_unknown(m, "the index's linux/amd64 manifest is of "
			    "a media type the client does not accept");
		else {
			/* From memory: the stored copy may be gone again (gc). */
			manifest_send_body(m->req, data, len, &actual, type,
			    "upstream");
			manifest_fetch_free(m);
		}
		return;
	}
	memset(&e, 0, sizeof e);
	e.digest = actual;
	util_strlcpy(e.media_type, type, sizeof e.media_type);
	e.checked = time(NULL);
	tagindex_put(&m->proxy->cache, m->registry->name, m->repo, m->tag, &e);
	manifest_answer(m, &actual, type, data, len, "upstream");
}

/*
 * Asks the upstream: a HEAD when revalidating, else a GET; with every
 * manifest type in Accept, whatever the client's. -1: answered already
 * (the caller frees m).
 */
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
	ur.max_body = m->proxy->config->manifest_max_bytes;
	/* With a cached answer to fall back on, never wait long. */
	if (m->have_stale)
		ur.timeout = m->proxy->config->connect_timeout;
	if (upstream_start(m->proxy, m->registry, &ur, &cb, m, &status,
	    &cause) == NULL) {
		log_info("%s/%s: %s", m->registry->name, m->repo, cause);
		if (m->have_stale && status == 0 &&
		    cache_blob_exists(&m->proxy->cache, &m->stale.digest)) {
			free(cause);
			m->have_stale = 0;
			manifest_answer(m, &m->stale.digest, m->stale.media_type,
			    NULL, 0, "stale");
			return 0;
		}
		reply_upstream_failure(m->req, m->registry, status, cause,
		    "MANIFEST_UNKNOWN");
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * Applies what other processes changed in the store before memory
 * answers: a change a command (import, cache rm, gc) finished before the
 * client sent its request is never answered stale. The watch's queue is
 * read once per loop turn, not per request: a request answered in a turn
 * was sent before that turn's epoll_wait returned (a connection's next
 * request is taken only after its answer is written, in a later turn),
 * and a command's change queues its inotify event within the syscall
 * that makes it, so the turn's first read has it. watch_turn_ev, made
 * active here, runs after the callbacks already due in this turn (libevent
 * runs a priority's queue to its end) and makes the next turn read again.
 * The watch's own event (proxy.c) applies changes between turns.
 */
static void
manifest_store_current(struct proxy *p)
{
	if (p->watch_fresh)
		return;
	storewatch_read(p->watch, p->budget);
	p->watch_fresh = 1;
	event_active(p->watch_turn_ev, EV_TIMEOUT, 1);
}

void
manifest_handle(struct api_request *ar)
{
	struct proxy		*p = ar->proxy;
	struct registry		*r = ar->registry;
	struct manifest_fetch	*m;
	struct tagindex_entry	 e;
	struct digest		 d;
	int			 by_digest, have = 0, fresh = 0, ttl;

	manifest_store_current(p);
	by_digest = (strchr(ar->ref, ':') != NULL);
	if (by_digest) {
		if (digest_parse(ar->ref, &d) != 0) {
			reply_error(ar->req, 400, "DIGEST_INVALID", "invalid digest");
			return;
		}
		if (manifest_send_cached(p, ar->req, &d, NULL, ar->head, "cache") == 0)
			return;
	} else if (!reference_valid_tag(ar->ref)) {
		reply_error(ar->req, 400, "TAG_INVALID", "invalid tag");
		return;
	} else {
		have = (registry_resolve_tag(&p->config->registries, &p->cache,
		    r, ar->repo, ar->ref, &e) == 0);
		ttl = r->tag_ttl >= 0 ? r->tag_ttl : p->config->tag_ttl;
		fresh = (have && cache_blob_exists(&p->cache, &e.digest) &&
		    (r->is_local || p->config->offline ||
		    time(NULL) - e.checked < ttl ||
		    registry_tag_immutable(r, ar->ref)));
		/* The common case, as manifest_answer would, with no fetch made. */
		if (fresh && manifest_acceptable(ar->req, e.media_type) &&
		    manifest_send_cached(p, ar->req, &e.digest, e.media_type,
		    ar->head, "cache") == 0)
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
	if (by_digest)
		m->digest = d;
	else
		util_strlcpy(m->tag, ar->ref, sizeof m->tag);
	util_strlcpy(m->repo, ar->repo, sizeof m->repo);

	if (fresh) {
		manifest_answer(m, &e.digest, e.media_type, NULL, 0, "cache");
		return;
	}
	if (r->is_local) {
		manifest_unknown(m, "manifest not in the local cache");
		return;
	}
	if (have) {
		m->have_stale = 1;
		m->stale = e;
		m->revalidating = 1;	/* HEADs do not count as pulls */
	}
	if (manifest_start(m) != 0)
		manifest_fetch_free(m);
}
