/*
 * The daemon: one event_base shared by the HTTP server, the curl multi
 * handle and the signal handlers.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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

int
proxy_run(struct config *c)
{
	struct proxy	 p;
	char		*cause = NULL;
	int		 rc = 1;

	memset(&p, 0, sizeof p);
	p.config = c;
	TAILQ_INIT(&p.transfers);
	TAILQ_INIT(&p.streams);
	TAILQ_INIT(&p.upstreams);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		return 1;
	}
	if ((p.base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		goto out;
	}
	if (cache_open(&p.cache, c->cache_dir, 1, &cause) != 0) {
		log_error("cache: %s", cause);
		goto out;
	}
	feedstore_clean(&p.cache);
	if ((p.tokens = tokens_new(&p)) == NULL ||
	    (p.fetcher = fetcher_new(p.base, c)) == NULL) {
		log_error("cannot create the upstream transfer engine");
		goto out;
	}
	if (server_start(&p, &cause) != 0) {
		log_error("%s", cause);
		goto out;
	}
	p.sigint = evsignal_new(p.base, SIGINT, proxy_signal_cb, &p);
	p.sigterm = evsignal_new(p.base, SIGTERM, proxy_signal_cb, &p);
	if (p.sigint == NULL || p.sigterm == NULL ||
	    evsignal_add(p.sigint, NULL) != 0 || evsignal_add(p.sigterm, NULL) != 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	log_info("pullgate %s: cache %s, default registry '%s' (%s), crypto %s",
	    PULLGATE_VERSION, c->cache_dir, registry_default(&c->registries)->name,
	    registry_default(&c->registries)->url, crypto_backend->name);
	event_base_dispatch(p.base);
	rc = 0;
out:
	/* Callers answer their clients while the connections still exist. */
	free(cause);
	upstream_shutdown(&p);
	transfer_abort_all(&p);
	server_stop(&p);
	stream_free_all(&p);
	tokens_free(p.tokens);
	fetcher_free(p.fetcher);
	if (p.sigint != NULL)
		event_free(p.sigint);
	if (p.sigterm != NULL)
		event_free(p.sigterm);
	if (p.base != NULL)
		event_base_free(p.base);
	curl_global_cleanup();
	return rc;
}
