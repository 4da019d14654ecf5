/*
 * A Debian suite's signed set — dists/<suite>/InRelease (or Release) and
 * the indexes it lists — changes as one unit. When a revalidation brings
 * a new InRelease, it is not put in place at once: it waits in
 * feeds/<name>/pending/, the indexes it lists that the cache holds (the
 * ones clients use) are fetched in their new versions, verified against
 * it, into pending/ too, and only when every one has arrived are they all
 * renamed into place, the InRelease last, in one event-loop callback. If
 * one cannot be had (uplink gone, wrong bytes), the pending set is
 * dropped and the old set stays, served as it was. Clients asking for the
 * InRelease meanwhile wait for the outcome (the head is a "whole" kind).
 *
 * An opkg feed's set is its Packages.gz with Packages and Packages.sig:
 * no hashes tie them, so the members in use are fetched as they are now
 * and switched in with the new Packages.gz.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy.h"

#define FEEDSET_MAX_MEMBERS	256
#define FEEDSET_DIR_MAX		2048	/* so dir + a listed file fit PATH_MAX */

struct feedset_member {
	char			 rel[1024];	/* from the suite directory */
	struct digest		 digest;
	struct transfer		*transfer;
	struct transfer_watch	 watch;
	struct feedset		*set;
	int			 settled;
};

struct feedset {
	struct proxy		*proxy;
	struct registry		*feed;
	struct transfer		*head;
	char			 pending[FEEDSET_DIR_MAX];	/* pending/... */
	char			 head_name[16];
	char			 reldir[1024];	/* the set's directory, from the root */
	struct feedset_member	 members[FEEDSET_MAX_MEMBERS];
	int			 nmembers;
	struct event		*settle;
};

/*
 * The head of a set: dists/<suite>/InRelease or Release (Debian), or an
 * opkg feed's Packages.gz (its set: Packages.gz, Packages, Packages.sig).
 */
int
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

static int
feedset_mkparent(const char *path)
{
	char	dir[PATH_MAX], *slash;

	util_strlcpy(dir, path, sizeof dir);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	*slash = '\0';
	return util_mkdirs(dir, 0755);
}

static void
feedset_remove_pending(struct feedset *fs)
{
	if (fs->pending[0] != '\0' && util_rmtree(fs->pending) != 0)
		log_warn("%s: cannot remove %s", __func__, fs->pending);
}

static void
feedset_free(struct feedset *fs)
{
	int	i;

	for (i = 0; i < fs->nmembers; i++) {
		if (fs->members[i].transfer == NULL)
			continue;
		transfer_unwatch(fs->members[i].transfer, &fs->members[i].watch);
		transfer_unref(fs->members[i].transfer);
	}
	if (fs->settle != NULL)
		event_free(fs->settle);
	free(fs);
}

/* The set's file name from the feed root: <reldir>/<name>. */
static void
feedset_rel(struct feedset *fs, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", fs->reldir, fs->reldir[0] != '\0' ? "/" : "",
	    name);
}

/* Moves pending/<name> into the feed's data, with its meta. */
static int
feedset_install(struct feedset *fs, const char *name, const struct digest *d,
    const char *etag, const char *lm)
{
	struct feed_meta	m;
	struct stat		st;
	char			rel[2100], from[PATH_MAX + 1100];
	char			to[PATH_MAX], meta[PATH_MAX];

	feedset_rel(fs, name, rel, sizeof rel);
	snprintf(from, sizeof from, "%s/%s", fs->pending, name);
	if (feedstore_path(&fs->proxy->cache, fs->feed->name, "data", rel, to, sizeof to) != 0 ||
	    feedstore_path(&fs->proxy->cache, fs->feed->name, "meta", rel, meta, sizeof meta) != 0 ||
	    feedset_mkparent(to) != 0 || stat(from, &st) != 0 ||
	    rename(from, to) != 0) {
		log_warn("%s: %s: %s", __func__, rel, strerror(errno));
		return -1;
	}
	budget_add_file(fs->proxy->budget, to, st.st_size);
	memset(&m, 0, sizeof m);
	util_strlcpy(m.etag, etag, sizeof m.etag);
	util_strlcpy(m.last_modified, lm, sizeof m.last_modified);
	util_strlcpy(m.sha256, d->hex, sizeof m.sha256);
	m.checked = time(NULL);
	return feedstore_meta_write(&fs->proxy->cache, meta, &m);
}

/* All members arrived, or one failed: switch the set, or drop it. */
static void
feedset_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feedset	*fs = arg;
	struct transfer	*t;
	int		 i, failed = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < fs->nmembers; i++) {
		t = fs->members[i].transfer;
		if (transfer_state(t) == TRANSFER_FAILED)
			failed = 1;
		else if (transfer_state(t) != TRANSFER_DONE)
			return;		/* not yet */
	}
	if (failed) {
		stats_add(STATS_FEED_SET_KEPT, 1);
		log_warn("feed %s %s: the new index set is incomplete; the old one "
		    "stays", fs->feed->name, fs->reldir);
		feedset_remove_pending(fs);
		transfer_finish(fs->head, 0, "the new index set could not be "
		    "completed; the old one stays");
		feedset_free(fs);
		return;
	}
	for (i = 0; i < fs->nmembers; i++)
		if (feedset_install(fs, fs->members[i].rel, &fs->members[i].digest,
		    transfer_etag(fs->members[i].transfer),
		    transfer_last_modified(fs->members[i].transfer)) != 0)
			failed = 1;
	if (failed || feedset_install(fs, fs->head_name, transfer_digest(fs->head),
	    transfer_etag(fs->head), transfer_last_modified(fs->head)) != 0) {
		feedset_remove_pending(fs);
		transfer_finish(fs->head, 0, "cannot install the new index set");
		feedset_free(fs);
		return;
	}
	stats_add(STATS_FEED_SET_SWITCHES, 1);
	log_info("feed %s %s: new index set in place (%d index(es) with it)",
	    fs->feed->name, fs->reldir, fs->nmembers);
	feedset_remove_pending(fs);
	transfer_finish(fs->head, 1, NULL);
	feedset_free(fs);
}

static void
feedset_member_cb(void *arg)
{
	struct feedset_member	*m = arg;

	event_active(m->set->settle, EV_WRITE, 0);
}

/* A member of a pending set: verified, then kept in pending/. */
static int
feedset_member_publish(struct transfer *t, const struct digest *actual)
{
	(void)actual;
	return feedset_mkparent(transfer_dest(t)) == 0 &&
	    transfer_publish_to(t, transfer_dest(t)) == 0 ? 0 : -1;
}

static const struct transfer_kind feedset_member_kind = {
	.name = "feed index (pending set)",
	.conditional = 0,
	.whole = 1,
	.publish = feedset_member_publish,
	.open = feed_kind_open,
	.headers = feed_kind_headers,
	.send_file = feed_kind_send_file,
};

/* Starts fetching one member of a pending set into pending/. */
static int
feedset_member(struct feedset *fs, struct registry *f, const char *file,
    const struct digest *d, int64_t size)
{
	struct feedset_member	*mb = &fs->members[fs->nmembers];
	struct upstream_request	 ur;
	char			 path[PATH_MAX], url[8192];
	char			 key[TRANSFER_KEY_MAX + 4096], what[TRANSFER_KEY_MAX + 64];
	char			*cause = NULL;
	long			 status;

	if (fs->nmembers == FEEDSET_MAX_MEMBERS || strstr(file, "..") != NULL)
		return 0;
	util_strlcpy(mb->rel, file, sizeof mb->rel);
	if (d != NULL)
		mb->digest = *d;
	mb->set = fs;
	snprintf(path, sizeof path, "%s/%s", fs->pending, file);
	snprintf(url, sizeof url, "%s/%s%s%s", f->url, fs->reldir,
	    fs->reldir[0] != '\0' ? "/" : "", file);	/* validated names */
	snprintf(key, sizeof key, "feedset:%s:%s", fs->pending, file);
	snprintf(what, sizeof what, "feed %s %s (new set)", f->name, file);
	memset(&ur, 0, sizeof ur);
	ur.url = url;
	mb->transfer = transfer_start(fs->proxy, f, key, &feedset_member_kind,
	    &ur, d, size, path, what, &status, &cause);
	if (mb->transfer == NULL) {
		log_warn("feed %s %s: %s; the old index set stays", fs->feed->name,
		    fs->reldir, cause);
		free(cause);
		return -1;
	}
	mb->watch.cb = feedset_member_cb;
	mb->watch.arg = mb;
	transfer_watch(mb->transfer, &mb->watch);
	fs->nmembers++;
	return 0;
}

/*
 * A new InRelease/Release arrived: keep it pending, and fetch the new
 * versions of the indexes in use. 0 if nothing else is needed (it is put
 * in place now), 1 while the set completes, -1 on failure.
 */
static int
feedset_head_publish(struct transfer *t, const struct digest *actual)
{
	struct registry		*f = transfer_registry(t);
	struct proxy		*p = transfer_proxy(t);
	struct feedset		*fs;
	struct feed_meta	 m;
	struct digest		 dg;
	const char		*dest = transfer_dest(t), *slash;
	char			 prefix[PATH_MAX];
	size_t			 plen;
	char			 file[1024], path[PATH_MAX], meta[PATH_MAX];
	char			 rel[2100];
	struct packages_release	 r;
	int64_t			 size;

	if (actual == NULL)
		return feed_kind_publish(t, NULL);	/* 304: refreshed */
	if ((fs = calloc(1, sizeof *fs)) == NULL)
		return -1;
	fs->proxy = p;
	fs->feed = f;
	fs->head = t;
	/* dest is <cache>/feeds/<name>/data/<reldir>/<head>#. */
	snprintf(prefix, sizeof prefix, "%s/feeds/%s/data/", p->cache.dir, f->name);
	plen = strlen(prefix);
	slash = strrchr(dest, '/');
	if (strncmp(dest, prefix, plen) != 0 || slash == NULL ||
	    strlen(slash + 1) < 2 || strlen(slash + 1) > sizeof fs->head_name) {
		free(fs);
		return -1;
	}
	snprintf(fs->head_name, sizeof fs->head_name, "%.*s",
	    (int)strlen(slash + 1) - 1, slash + 1);		/* without '#' */
	if (slash > dest + plen)
		snprintf(fs->reldir, sizeof fs->reldir, "%.*s",
		    (int)(slash - dest - plen), dest + plen);
	snprintf(fs->pending, sizeof fs->pending, "%s/feeds/%s/pending/%ld.%ld",
	    p->cache.dir, f->name, (long)getpid(), (long)time(NULL));
	snprintf(path, sizeof path, "%s/%s", fs->pending, fs->head_name);
	if (feedset_mkparent(path) != 0 || transfer_publish_to(t, path) != 0 ||
	    (fs->settle = event_new(p->base, -1, 0, feedset_settle_cb, fs)) == NULL) {
		feedset_remove_pending(fs);
		feedset_free(fs);
		return -1;
	}
	if (strcmp(fs->head_name, "Packages.gz") == 0) {
		static const char *siblings[] = { "Packages", "Packages.sig", NULL };
		int i;

		for (i = 0; siblings[i] != NULL; i++) {
			feedset_rel(fs, siblings[i], rel, sizeof rel);
			if (feedstore_path(&p->cache, f->name, "data", rel, path, sizeof path) != 0 ||
			    access(path, F_OK) != 0)
				continue;	/* not in use */
			if (feedset_member(fs, f, siblings[i], NULL, -1) != 0) {
				feedset_remove_pending(fs);
				feedset_free(fs);
				return -1;
			}
		}
		goto started;
	}
	memset(&r, 0, sizeof r);
	if ((r.f = fopen(path, "r")) == NULL) {
		feedset_remove_pending(fs);
		feedset_free(fs);
		return -1;
	}
	while (fs->nmembers < FEEDSET_MAX_MEMBERS &&
	    packages_release_next(&r, &dg, &size, file, sizeof file) == 1) {
		feedset_rel(fs, file, rel, sizeof rel);
		/* Only the indexes in use; the rest are fetched on demand. */
		if (!feedstore_valid_path(file) ||
		    feedstore_path(&p->cache, f->name, "data", rel, path, sizeof path) != 0 ||
		    feedstore_path(&p->cache, f->name, "meta", rel, meta, sizeof meta) != 0 ||
		    access(path, F_OK) != 0 || feedstore_meta_read(meta, &m) != 0 ||
		    strcmp(m.sha256, dg.hex) == 0)
			continue;
		if (feedset_member(fs, f, file, &dg, size) != 0) {
			fclose(r.f);
			feedset_remove_pending(fs);
			feedset_free(fs);
			return -1;
		}
	}
	fclose(r.f);
started:
	transfer_ref(t);	/* until transfer_finish */
	log_info("feed %s %s: a new %s: fetching %d index(es) before the switch",
	    fs->feed->name, fs->reldir, fs->head_name, fs->nmembers);
	event_active(fs->settle, EV_WRITE, 0);	/* also when there are none */
	return 1;
}

const struct transfer_kind feedset_head_kind = {
	.name = "feed suite head",
	.conditional = 1,
	.whole = 1,
	.publish = feedset_head_publish,
	.open = feed_kind_open,
	.headers = feed_kind_headers,
	.send_file = feed_kind_send_file,
	.fallback = feed_kind_fallback,
};
