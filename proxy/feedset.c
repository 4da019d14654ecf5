/*
 * A suite's signed index set changes as one unit, even across a crash.
 *
 * A set has a head — a Debian suite's dists/<suite>/InRelease (or
 * Release), or an opkg feed's [<dir>/]Packages.gz — and members: the
 * indexes the head lists in its SHA256 section (each must hash to what
 * it says), and siblings no hash ties to it (opkg's Packages and
 * Packages.sig, a Release's Release.gpg). On disk (feedstore.c):
 *
 *   feeds/<name>/sets/<head>#/current            symlink to v.XXXXXX
 *   feeds/<name>/sets/<head>#/v.XXXXXX/{data,meta}/<path>#
 *
 * Every request for a set's file goes through the version "current"
 * names: the head, and a member only as the version its head lists. A
 * member not in the current version yet is fetched into it on demand,
 * verified against that head (keyed by its path there, so it can never
 * land in another version). When a revalidation brings a new head, a
 * switch begins: a new version is made (mkdtemp, unique per switch), the
 * head goes in, the members in use that did not change are hard-linked
 * from the current version, the ones that changed are fetched into it
 * (each download keyed by its path in the new version), and only when
 * every one has arrived and verified is the version flushed and
 * "current" switched to it by one rename; the old version is then
 * removed. If a member cannot be had (uplink gone, wrong bytes), the new
 * version is dropped and the old set stays, served as it was. A kill at
 * any moment leaves the old set or the new one; what it leaves behind is
 * removed at the next start (feedstore_clean). Clients asking for the
 * head meanwhile wait for the outcome (the head is a "whole" kind).
 *
 * Two kinds of transfer live here: the head (a feed file whose publish
 * is the switch) and the member of a switch (a feed file published into
 * the new version, read by no client).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "proxy.h"

#define FEEDSET_MAGIC		0x46534554	/* "FSET" */
#define FEEDSET_MAX_MEMBERS	256
#define FEEDSET_REL_MAX		1100

struct feedset_switch;

struct feedset_member {
	char			 rel[FEEDSET_REL_MAX];	/* from the feed root */
	struct transfer		*transfer;
	struct transfer_watch	 watch;
	struct feedset_switch	*sw;
};

/* A new version being completed; it lives in its head's state. */
struct feedset_switch {
	struct feedset_head	*head;
	struct transfer		*transfer;	/* the head's; in flight */
	char			 version[PATH_MAX];
	struct feedset_member	 members[FEEDSET_MAX_MEMBERS];
	int			 nmembers;
	struct event		*settle;
};

/* The head kind's state. */
struct feedset_head {
	unsigned		 magic;
	struct feedfile		 ff;		/* the head in the current version */
	struct proxy		*proxy;
	struct registry		*feed;
	char			 head[FEEDSET_REL_MAX];	/* from the feed root */
	char			 setdir[PATH_MAX];
	char			 current[PATH_MAX];	/* "" none */
	struct feedset_switch	*sw;		/* a switch in progress */
};

/* Where a file of a set lives: the current version, and what it must be. */
struct feedset_place {
	char		 version[PATH_MAX];
	int		 listed;	/* the head lists it: digest, size */
	struct digest	 digest;
	int64_t		 size;
};

static struct feedset_head *
feedset_head_state(void *ks)
{
	struct feedset_head	*hs = ks;

	if (hs->magic != FEEDSET_MAGIC)
		fatal("%s: bad magic", __func__);
	return hs;
}

/*
 * The head of a set: dists/<suite>/InRelease or Release (Debian), or an
 * opkg feed's Packages.gz.
 */
static int
feedset_is_head(const char *rel)
{
	const char	*d = strstr(rel, "dists/"), *slash, *base;

	base = (base = strrchr(rel, '/')) != NULL ? base + 1 : rel;
	if (d == NULL)
		return strcmp(base, "Packages.gz") == 0;
	if (d != rel && d[-1] != '/')
		return 0;
	if ((slash = strchr(d + 6, '/')) == NULL || strchr(slash + 1, '/') != NULL)
		return 0;
	return strcmp(slash + 1, "InRelease") == 0 ||
	    strcmp(slash + 1, "Release") == 0;
}

/* The siblings of a head named name: files of its set no hash ties. */
static const char *const *
feedset_siblings(const char *name)
{
	static const char *const opkg[] = { "Packages", "Packages.sig", NULL };
	static const char *const release[] = { "Release.gpg", NULL };
	static const char *const none[] = { NULL };

	if (strcmp(name, "Packages.gz") == 0)
		return opkg;
	if (strcmp(name, "Release") == 0)
		return release;
	return none;
}

/* A path beside the head's: <head's directory>/<name>. */
static int
feedset_beside(const char *head, const char *name, char *buf, size_t len)
{
	const char	*slash = strrchr(head, '/');
	int		 n;

	if (slash == NULL)
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%.*s/%s", (int)(slash - head), head, name);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

/* The current version of the set headed by head; -1 if none. */
static int
feedset_current(struct proxy *p, struct registry *f, const char *head,
    char *version, size_t len)
{
	char	setdir[PATH_MAX];

	if (feedstore_set_dir(&p->cache, f->name, head, setdir,
	    sizeof setdir) != 0)
		return -1;
	return feedstore_set_current(setdir, version, len);
}

/* 1 if rel belongs to a set that has a current version, with its place. */
static int
feedset_find(struct proxy *p, struct registry *f, const char *rel,
    struct feedset_place *pl)
{
	static const char	*heads[] = { "InRelease", "Release", NULL };
	const char		*d = strstr(rel, "dists/"), *suite, *base;
	const char *const	*sib;
	char			 head[FEEDSET_REL_MAX], root[PATH_MAX + 8];
	int			 i;

	memset(pl, 0, sizeof *pl);
	base = (base = strrchr(rel, '/')) != NULL ? base + 1 : rel;
	if (d != NULL && (d == rel || d[-1] == '/')) {
		if ((suite = strchr(d + 6, '/')) == NULL)
			return 0;
		for (i = 0; heads[i] != NULL; i++) {
			if ((size_t)snprintf(head, sizeof head, "%.*s/%s",
			    (int)(suite - rel), rel, heads[i]) >= sizeof head ||
			    feedset_current(p, f, head, pl->version,
			    sizeof pl->version) != 0)
				continue;
			snprintf(root, sizeof root, "%s/data", pl->version);
			if (packages_release_lookup(root, rel, &pl->digest,
			    &pl->size) == 0) {
				pl->listed = 1;
				return 1;
			}
			for (sib = feedset_siblings(heads[i]); *sib != NULL; sib++)
				if (strcmp(suite + 1, *sib) == 0)
					return 1;
		}
		return 0;
	}
	for (sib = feedset_siblings("Packages.gz"); *sib != NULL; sib++)
		if (strcmp(base, *sib) == 0)
			break;
	if (*sib == NULL || feedset_beside(rel, "Packages.gz", head,
	    sizeof head) != 0)
		return 0;
	return feedset_current(p, f, head, pl->version, sizeof pl->version) == 0;
}

/*
 * A member of a set: from the current version when it holds the version
 * its head lists (fresh as long as the head), else fetched into it.
 */
static void
feedset_member_request(struct proxy *p, struct evhttp_request *req,
    struct registry *f, const char *rel, const struct feedset_place *pl)
{
	struct feed_meta	 m;
	struct feedfile		*ff;
	char			 data[PATH_MAX], meta[PATH_MAX];
	off_t			 size;

	if (feedstore_path(pl->version, "data", rel, data, sizeof data) != 0 ||
	    feedstore_path(pl->version, "meta", rel, meta, sizeof meta) != 0) {
		reply_text(req, 400, "path too long");
		return;
	}
	if (feedfile_cached(data, meta, &m, &size) &&
	    (!pl->listed || strcmp(m.sha256, pl->digest.hex) == 0)) {
		feedfile_answer(p, req, data, meta, &m);
		return;
	}
	if ((ff = feedfile_new(p, data, meta, pl->version,
	    pl->listed ? &pl->digest : NULL, pl->size)) == NULL) {
		reply_text(req, 500, "out of memory");
		return;
	}
	feedfile_fetch(p, req, f, rel, &feedfile_kind, ff,
	    pl->listed ? &pl->digest : NULL, data, NULL);
}

static void
feedset_member_cb(void *arg)
{
	struct feedset_member	*mb = arg;

	event_active(mb->sw->settle, EV_WRITE, 0);
}

/* A member of a switch: a feed file published into the new version. */
static const struct transfer_kind feedset_member_kind = {
	.name = "feed index (new set)",
	.conditional = 0,
	.whole = 1,
	.response = feedfile_response,
	.publish = feedfile_publish,
	.place = feedfile_place,
	.headers = feedfile_headers,
	.send_file = feedfile_send_file,
	.fail = feedfile_fail,
	.free = feedfile_free,
};

/* Starts fetching rel, a member of the new set, into its version. */
static int
feedset_member_start(struct feedset_switch *sw, const char *rel,
    const struct digest *d, int64_t size)
{
	struct feedset_head	*hs = sw->head;
	struct feedset_member	*mb = &sw->members[sw->nmembers];
	struct transfer_request	 tr;
	struct upstream_request	 ur;
	struct feedfile		*ff;
	char			 data[PATH_MAX], meta[PATH_MAX], url[2048 + 1100];
	char			 what[FEEDSET_REL_MAX + 128], *cause = NULL;
	long			 status;

	if (sw->nmembers == FEEDSET_MAX_MEMBERS) {
		log_warn("feed %s %s: more than %d indexes in use", hs->feed->name,
		    hs->head, FEEDSET_MAX_MEMBERS);
		return -1;
	}
	if (feedstore_path(sw->version, "data", rel, data, sizeof data) != 0 ||
	    feedstore_path(sw->version, "meta", rel, meta, sizeof meta) != 0 ||
	    (ff = feedfile_new(hs->proxy, data, meta, sw->version, d,
	    size)) == NULL)
		return -1;
	util_strlcpy(mb->rel, rel, sizeof mb->rel);
	mb->sw = sw;
	snprintf(url, sizeof url, "%s/%s", hs->feed->url, rel);	/* valid rel */
	snprintf(what, sizeof what, "feed %s/%s (new set)", hs->feed->name, rel);
	memset(&ur, 0, sizeof ur);
	ur.url = url;
	memset(&tr, 0, sizeof tr);
	tr.kind = &feedset_member_kind;
	tr.state = ff;
	tr.key = data;		/* a path in this switch's own version */
	tr.what = what;
	tr.digest = d;
	tr.upstream = &ur;
	if ((mb->transfer = transfer_start(hs->proxy, hs->feed, &tr, &status,
	    &cause)) == NULL) {
		log_warn("feed %s %s: %s; the old index set stays",
		    hs->feed->name, hs->head, cause);
		free(cause);
		feedfile_free(ff);
		return -1;
	}
	mb->watch.cb = feedset_member_cb;
	mb->watch.arg = mb;
	transfer_watch(mb->transfer, &mb->watch);
	sw->nmembers++;
	return 0;
}

/* Frees a switch: its member downloads are let go. */
static void
feedset_switch_free(struct feedset_switch *sw)
{
	int	i;

	for (i = 0; i < sw->nmembers; i++) {
		transfer_unwatch(sw->members[i].transfer, &sw->members[i].watch);
		transfer_unref(sw->members[i].transfer);
	}
	if (sw->settle != NULL)
		event_free(sw->settle);
	sw->head->sw = NULL;
	free(sw);
}

/* Ends a switch: the new version is current (ok), or dropped. */
static void
feedset_switch_end(struct feedset_switch *sw, int ok, const char *why)
{
	struct transfer	*t = sw->transfer;

	if (!ok)
		feedstore_set_discard(sw->version);
	/* Versions came and went as wholes: the budget reads the set again. */
	budget_rescan(sw->head->proxy->budget, sw->head->setdir);
	feedset_switch_free(sw);
	transfer_finish(t, ok, why);	/* may free the head's state */
}

/* All members arrived, or one failed: switch the set, or drop the new one. */
static void
feedset_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feedset_switch	*sw = arg;
	struct feedset_head	*hs = sw->head;
	char			 data[PATH_MAX], meta[PATH_MAX];
	int			 i, failed = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < sw->nmembers; i++) {
		switch (transfer_state(sw->members[i].transfer)) {
		case TRANSFER_DONE:
			break;
		case TRANSFER_FAILED:
		case TRANSFER_UNCHANGED:
			failed = 1;
			break;
		default:
			return;		/* not yet */
		}
	}
	if (failed) {
		stats_add(STATS_FEED_SET_KEPT, 1);
		log_warn("feed %s %s: the new index set is incomplete; the old "
		    "one stays", hs->feed->name, hs->head);
		feedset_switch_end(sw, 0, "the new index set could not be "
		    "completed; the old one stays");
		return;
	}
	if (feedstore_path(sw->version, "data", hs->head, data, sizeof data) != 0 ||
	    feedstore_path(sw->version, "meta", hs->head, meta, sizeof meta) != 0 ||
	    feedstore_set_commit(hs->setdir, sw->version) != 0) {
		feedset_switch_end(sw, 0, "cannot install the new index set");
		return;
	}
	/* Readers waiting for the head get the new one. */
	util_strlcpy(hs->ff.dest, data, sizeof hs->ff.dest);
	util_strlcpy(hs->ff.meta, meta, sizeof hs->ff.meta);
	stats_add(STATS_FEED_SET_SWITCHES, 1);
	log_info("feed %s %s: new index set in place (%d index(es) with it)",
	    hs->feed->name, hs->head, sw->nmembers);
	feedset_switch_end(sw, 1, NULL);
}

/*
 * The members of the new set, into sw->version: for a Debian head, each
 * index it lists that the current version holds — linked when unchanged,
 * fetched when not; then the siblings the current version holds, fetched
 * as they are now. What the current version does not hold is fetched on
 * demand later.
 */
static int
feedset_switch_members(struct feedset_switch *sw, const char *newhead)
{
	struct feedset_head	*hs = sw->head;
	struct packages_release	 r;
	struct feed_meta	 m;
	struct digest		 dg;
	const char		*name = strrchr(hs->head, '/');
	const char *const	*sib;
	char			 file[1024], rel[FEEDSET_REL_MAX];
	char			 data[PATH_MAX], meta[PATH_MAX];
	int64_t			 size;
	off_t			 have;
	int			 rc = 0;

	name = name != NULL ? name + 1 : hs->head;
	if (hs->current[0] == '\0')
		return 0;		/* nothing in use yet */
	memset(&r, 0, sizeof r);
	if (strcmp(name, "Packages.gz") != 0 && (r.f = fopen(newhead, "r")) == NULL)
		return -1;
	while (rc == 0 && r.f != NULL &&
	    packages_release_next(&r, &dg, &size, file, sizeof file) == 1) {
		if (feedset_beside(hs->head, file, rel, sizeof rel) != 0 ||
		    !feedstore_valid_path(rel) ||
		    feedstore_path(hs->current, "data", rel, data, sizeof data) != 0 ||
		    feedstore_path(hs->current, "meta", rel, meta, sizeof meta) != 0 ||
		    !feedfile_cached(data, meta, &m, &have))
			continue;	/* not in use */
		if (strcmp(m.sha256, dg.hex) == 0 &&
		    feedstore_set_link(hs->current, sw->version, rel) == 0)
			continue;	/* unchanged */
		rc = feedset_member_start(sw, rel, &dg, size);
	}
	if (r.f != NULL)
		fclose(r.f);
	for (sib = feedset_siblings(name); rc == 0 && *sib != NULL; sib++) {
		if (feedset_beside(hs->head, *sib, rel, sizeof rel) != 0 ||
		    feedstore_path(hs->current, "data", rel, data, sizeof data) != 0 ||
		    feedstore_path(hs->current, "meta", rel, meta, sizeof meta) != 0 ||
		    !feedfile_cached(data, meta, &m, &have))
			continue;
		rc = feedset_member_start(sw, rel, NULL, -1);
	}
	return rc;
}

/*
 * The head kind's publish. A 304, or the same head again: the current
 * version is fresh again. A new head: a switch begins (1), ending in
 * transfer_finish.
 */
static int
feedset_head_publish(void *ks, struct transfer *t, const struct digest *actual)
{
	struct feedset_head	*hs = feedset_head_state(ks);
	struct feedset_switch	*sw;
	struct feedfile		 nf;
	struct feed_meta	 m;

	if (actual == NULL)
		return feedfile_publish(&hs->ff, t, NULL);
	if (hs->ff.dest[0] != '\0' && feedstore_meta_read(hs->ff.meta, &m) == 0 &&
	    strcmp(m.sha256, actual->hex) == 0)
		return feedfile_publish(&hs->ff, t, actual);	/* same bytes */
	if ((sw = calloc(1, sizeof *sw)) == NULL)
		return -1;
	sw->head = hs;
	sw->transfer = t;
	hs->sw = sw;
	if (feedstore_set_begin(hs->setdir, sw->version, sizeof sw->version) != 0) {
		feedset_switch_free(sw);
		return -1;
	}
	nf = hs->ff;		/* with the upstream's ETag and Last-Modified */
	nf.root[0] = '\0';
	hs->ff.index_state = 0;	/* a lookup parsed is nf's now */
	if (feedstore_path(sw->version, "data", hs->head, nf.dest,
	    sizeof nf.dest) != 0 ||
	    feedstore_path(sw->version, "meta", hs->head, nf.meta,
	    sizeof nf.meta) != 0 ||
	    feedfile_publish(&nf, t, actual) != 0 ||
	    (sw->settle = event_new(hs->proxy->base, -1, 0, feedset_settle_cb,
	    sw)) == NULL ||
	    feedset_switch_members(sw, nf.dest) != 0) {
		feedfile_drop_built(&nf);
		feedstore_set_discard(sw->version);
		budget_rescan(hs->proxy->budget, hs->setdir);
		feedset_switch_free(sw);
		return -1;
	}
	log_info("feed %s %s: a new head: fetching %d index(es) before the switch",
	    hs->feed->name, hs->head, sw->nmembers);
	event_active(sw->settle, EV_WRITE, 0);	/* also when there are none */
	return 1;
}

static int
feedset_head_place(void *ks, const struct transfer *t,
    const struct digest *actual)
{
	return feedfile_place(&feedset_head_state(ks)->ff, t, actual);
}

static int
feedset_head_response(void *ks, struct fetch *f, int64_t length, char **cause)
{
	return feedfile_response(&feedset_head_state(ks)->ff, f, length, cause);
}

static void
feedset_head_headers(void *ks, struct evhttp_request *req)
{
	feedfile_headers(&feedset_head_state(ks)->ff, req);
}

static void
feedset_head_send_file(void *ks, struct evhttp_request *req)
{
	feedfile_send_file(&feedset_head_state(ks)->ff, req);
}

/* A head that could not be had: the current one, stale, or an error. */
static void
feedset_head_fail(void *ks, struct evhttp_request *req, int status,
    const char *error)
{
	feedfile_fail(&feedset_head_state(ks)->ff, req, status, error);
}

/* At the transfer's end; a switch still running (shutdown) is dropped. */
static void
feedset_head_free(void *ks)
{
	struct feedset_head	*hs = feedset_head_state(ks);

	if (hs->sw != NULL) {
		feedstore_set_discard(hs->sw->version);
		budget_rescan(hs->proxy->budget, hs->setdir);
		feedset_switch_free(hs->sw);
	}
	feedfile_drop_built(&hs->ff);
	hs->magic = 0;
	hs->ff.magic = 0;
	free(hs);
}

static const struct transfer_kind feedset_head_kind = {
	.name = "feed set head",
	.conditional = 1,
	.whole = 1,
	.response = feedset_head_response,
	.publish = feedset_head_publish,
	.place = feedset_head_place,
	.headers = feedset_head_headers,
	.send_file = feedset_head_send_file,
	.fail = feedset_head_fail,
	.free = feedset_head_free,
};

/*
 * A head: from the current version while it is fresh (or the gateway is
 * offline), else revalidated, which may switch the set.
 */
static void
feedset_head_request(struct proxy *p, struct evhttp_request *req,
    struct registry *f, const char *rel)
{
	struct feedset_head	*hs;
	struct feed_meta	 m;
	char			 data[PATH_MAX], meta[PATH_MAX];
	off_t			 size;
	int			 cached = 0;

	if ((hs = calloc(1, sizeof *hs)) == NULL) {
		reply_text(req, 500, "out of memory");
		return;
	}
	hs->magic = FEEDSET_MAGIC;
	hs->proxy = p;
	hs->feed = f;
	data[0] = meta[0] = '\0';
	if (util_strlcpy(hs->head, rel, sizeof hs->head) != 0 ||
	    feedstore_set_dir(&p->cache, f->name, rel, hs->setdir,
	    sizeof hs->setdir) != 0) {
		free(hs);
		reply_text(req, 400, "path too long");
		return;
	}
	if (feedstore_set_current(hs->setdir, hs->current,
	    sizeof hs->current) == 0 &&
	    feedstore_path(hs->current, "data", rel, data, sizeof data) == 0 &&
	    feedstore_path(hs->current, "meta", rel, meta, sizeof meta) == 0)
		cached = feedfile_cached(data, meta, &m, &size);
	else
		hs->current[0] = '\0';
	if (cached && (p->config->offline ||
	    time(NULL) - m.checked < p->config->feed_ttl)) {
		free(hs);
		feedfile_answer(p, req, data, meta, &m);
		return;
	}
	feedfile_init(&hs->ff, p, cached ? data : "", cached ? meta : "", "",
	    NULL, -1);
	feedfile_fetch(p, req, f, rel, &feedset_head_kind, hs, NULL, hs->setdir,
	    cached ? &m : NULL);
}

/*
 * Answers rel if it belongs to a set (a head, or a member of a set that
 * has a current version): 1. 0: a loose file, not answered.
 */
int
feedset_handle(struct proxy *p, struct evhttp_request *req, struct registry *f,
    const char *rel)
{
	struct feedset_place	pl;

	if (feedset_is_head(rel)) {
		feedset_head_request(p, req, f, rel);
		return 1;
	}
	if (!feedset_find(p, f, rel, &pl))
		return 0;
	feedset_member_request(p, req, f, rel, &pl);
	return 1;
}
