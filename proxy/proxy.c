/*
 * The daemon: one event_base shared by the HTTP server, the curl multi
 * handle and the signal handlers.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "proxy.h"

static void
proxy_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proxy	*p = arg;

	(void)what;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(p->base, NULL);
}

/*
 * SIGHUP: a reload (systemd's ExecReload, procd's reload_service). The
 * service manager hears that the daemon reloads, then that it is ready.
 */
static void
proxy_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proxy	*p = arg;
	char		*cause = NULL, *note = NULL;

	(void)sig;
	(void)what;
	notify_service("RELOADING=1");
	if (reload_apply(p, &note, &cause) != 0)
		notify_service("READY=1\nSTATUS=reload refused; the configuration "
		    "in force is unchanged");
	else
		notify_service("READY=1\nSTATUS=serving");
	free(cause);
	free(note);
}

static void
proxy_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy	*p = arg;

	(void)fd;
	(void)what;
	storewatch_read(p->watch, p->budget);
}

/* The end of a loop turn that read the watch: the next turn reads it again. */
static void
proxy_watch_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy	*p = arg;

	(void)fd;
	(void)what;
	p->watch_fresh = 0;
}

/*
 * The store index (one walk of the cache) and the budget over it, and the
 * watch that keeps it current when other processes change the cache.
 */
static int
proxy_store_start(struct proxy *p, char **cause)
{
	struct timespec	t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Watch first: what changes during the walk is seen twice, not never. */
	if ((p->watch = storewatch_new(&p->cache, cause)) == NULL ||
	    (p->budget = budget_new(&p->cache, p->config->cache_max_bytes,
	    cause)) == NULL)
		return -1;
	if ((p->feedindex = feedindex_open(&p->cache)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	p->watch_ev = event_new(p->base, storewatch_fd(p->watch),
	    EV_READ | EV_PERSIST, proxy_watch_cb, p);
	p->watch_turn_ev = event_new(p->base, -1, 0, proxy_watch_turn_cb, p);
	if (p->watch_ev == NULL || p->watch_turn_ev == NULL ||
	    event_add(p->watch_ev, NULL) != 0) {
		*cause = util_printf("cannot watch the cache");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("cache indexed: %zu files, %lld bytes, %zu KiB of index, "
	    "%zu package lookups, %lld ms",
	    storeindex_count(budget_index(p->budget)),
	    (long long)storeindex_bytes(budget_index(p->budget)),
	    storeindex_memory(budget_index(p->budget)) / 1024,
	    feedindex_count(p->feedindex),
	    (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return 0;
}

/*
 * The event loop. epoll's changelist folds the read/write toggles evhttp
 * makes around each request into one epoll_ctl, or none, per turn.
 */
static struct event_base *
proxy_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/*
 * Runs the daemon on configuration c, which it owns from now on (a reload
 * replaces it); upstream and level are serve's --upstream and
 * --log-level, or NULL, kept over every configuration read again.
 */
int
proxy_run(struct config *c, const char *upstream, const char *level)
{
	struct proxy	 p;
	char		*cause = NULL;
	int		 rc = 1;

	memset(&p, 0, sizeof p);
	p.config = c;
	p.upstream_flag = upstream;
	p.level_flag = level;
	p.started = time(NULL);
	TAILQ_INIT(&p.transfers);
	TAILQ_INIT(&p.streams);
	TAILQ_INIT(&p.upstreams);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		return 1;
	}
	if ((p.base = proxy_base_new()) == NULL || reload_start(&p) != 0) {
		log_error("cannot create the event loop");
		goto out;
	}
	if (cache_open(&p.cache, c->cache_dir, 1, &cause) != 0) {
		log_error("cache: %s", cause);
		goto out;
	}
	feedstore_clean(&p.cache);
	if ((p.cache.mem = memcache_new((size_t)c->memory_cache_max_bytes)) ==
	    NULL) {
		log_error("cannot create the memory cache");
		goto out;
	}
	if (proxy_store_start(&p, &cause) != 0) {
		log_error("cache: %s", cause);
		goto out;
	}
	/*
	 * Two threads each: hashing and writing downloads; syncing them,
	 * re-hashing partial files and parsing package indexes (a large one
	 * takes most of a second: a sync goes on beside it).
	 */
	if ((p.workers = workers_new(p.base, 2)) == NULL ||
	    (p.syncers = workers_new(p.base, 2)) == NULL ||
	    (p.tokens = tokens_new(&p)) == NULL ||
	    (p.credhelpers = credhelpers_new(&p)) == NULL ||
	    (p.fetcher = fetcher_new(p.base, c)) == NULL ||
	    (p.queue = entryqueue_new(p.base, c->upstream_max_per_entry,
	    c->upstream_queue_timeout)) == NULL) {
		log_error("cannot create the upstream transfer engine");
		goto out;
	}
	if (server_start(&p, &cause) != 0 || control_start(&p, &cause) != 0) {
		log_error("%s", cause);
		goto out;
	}
	p.sigint = evsignal_new(p.base, SIGINT, proxy_signal_cb, &p);
	p.sigterm = evsignal_new(p.base, SIGTERM, proxy_signal_cb, &p);
	p.sighup = evsignal_new(p.base, SIGHUP, proxy_hup_cb, &p);
	if (p.sigint == NULL || p.sigterm == NULL || p.sighup == NULL ||
	    evsignal_add(p.sigint, NULL) != 0 || evsignal_add(p.sigterm, NULL) != 0 ||
	    evsignal_add(p.sighup, NULL) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	log_info("pullgate %s: cache %s, default registry '%s' (%s), crypto %s",
	    PULLGATE_VERSION, c->cache_dir, registry_default(&c->registries)->name,
	    registry_default(&c->registries)->url, crypto_backend->name);
	notify_service("READY=1\nSTATUS=serving");
	event_base_dispatch(p.base);
	notify_service("STOPPING=1");
	rc = 0;
out:
	/* Callers answer their clients while the connections still exist. */
	free(cause);
	upstream_shutdown(&p);
	transfer_abort_all(&p);
	server_stop(&p);
	control_stop(&p);
	stream_free_all(&p);
	workers_free(p.workers);	/* after the last job, its transfer */
	workers_free(p.syncers);
	tokens_free(p.tokens);
	credhelpers_free(p.credhelpers);
	fetcher_free(p.fetcher);
	entryqueue_free(p.queue);
	if (p.watch_ev != NULL)
		event_free(p.watch_ev);
	if (p.watch_turn_ev != NULL)
		event_free(p.watch_turn_ev);
	storewatch_free(p.watch);
	feedindex_free(p.feedindex);
	budget_free(p.budget);
	memcache_free(p.cache.mem);
	if (p.sigint != NULL)
		event_free(p.sigint);
	if (p.sigterm != NULL)
		event_free(p.sigterm);
	if (p.sighup != NULL)
		event_free(p.sighup);
	reload_stop(&p);
	config_free(p.config);
	free(p.config);
	if (p.base != NULL)
		event_base_free(p.base);
	curl_global_cleanup();
	return rc;
}
