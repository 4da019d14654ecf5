/*
 * A new configuration while running (SIGHUP, 'pullgate reload', 'pullgate
 * registry add|rm'): the file, the registries file, the secret files and
 * the feeds are read again. A configuration that does not load is refused
 * whole and the one in force stays, with the reason for whoever asked.
 *
 * What the listener and the cache were set up with (listen, cache_dir,
 * control_socket, the client.* limits, the upstream slots per entry)
 * stays as it is until a restart; a file that changes them is still taken
 * for the rest, and the answer says what waits for a restart.
 *
 * Requests, downloads, token fetches and credential helpers in flight
 * finish with the entries they started with: the configuration they
 * point into is retired, not freed, and retired ones are freed once
 * nothing is in flight (checked at every reload and on a timer). The
 * breaker and status of an entry carry over to the entry of the same
 * name.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proxy.h"

#define RELOAD_COLLECT_SECONDS	10

struct reload_retired {
	struct config			*config;
	TAILQ_ENTRY(reload_retired)	 entry;
};

/* The entry of t named like r, or NULL. */
static struct registry *
reload_same(struct registry_table *t, const struct registry *r)
{
	size_t	i;

	for (i = 0; i < t->count; i++)
		if (strcmp(t->entries[i].name, r->name) == 0)
			return &t->entries[i];
	return NULL;
}

/* Breaker and status state goes to the new entries of the same names. */
static void
reload_carry(struct registry_table *to, struct registry_table *from)
{
	struct registry	*n, *o;
	size_t		 i;

	for (i = 0; i < to->count; i++) {
		n = &to->entries[i];
		if ((o = reload_same(from, n)) == NULL)
			continue;
		n->down_until = o->down_until;
		n->last_success = o->last_success;
		n->last_failure = o->last_failure;
		memcpy(n->last_error, o->last_error, sizeof n->last_error);
	}
}

/*
 * What stays until a restart: taken from the running configuration; the
 * names of those the file changed are added to changed.
 */
static void
reload_keep(struct config *n, const struct config *o, char *changed,
    size_t len)
{
#define RELOAD_KEEP(field, name, flag) do {				\
	if (memcmp(&n->field, &o->field, sizeof n->field) != 0 &&	\
	    !(o->flags_set & (flag)) &&					\
	    (strcmp(name, "listen") != 0 || strstr(changed, name) == NULL)) { \
		if (changed[0] != '\0')					\
			strncat(changed, ", ", len - strlen(changed) - 1); \
		strncat(changed, name, len - strlen(changed) - 1);	\
	}								\
	memcpy(&n->field, &o->field, sizeof n->field);			\
} while (0)
	n->flags_set = o->flags_set;
	RELOAD_KEEP(listen_host, "listen", CONFIG_FLAG_LISTEN);
	RELOAD_KEEP(listen_port, "listen", CONFIG_FLAG_LISTEN);
	RELOAD_KEEP(cache_dir, "cache_dir", CONFIG_FLAG_CACHE);
	RELOAD_KEEP(control_socket, "control_socket", 0);
	RELOAD_KEEP(max_header_bytes, "client.max_header_bytes", 0);
	RELOAD_KEEP(max_body_bytes, "client.max_body_bytes", 0);
	RELOAD_KEEP(client_timeout, "client.timeout", 0);
	RELOAD_KEEP(head_timeout, "client.head_timeout", 0);
	RELOAD_KEEP(max_connections, "client.max_connections", 0);
	RELOAD_KEEP(max_connections_per_address,
	    "client.max_connections_per_address", 0);
	RELOAD_KEEP(upstream_max_per_entry,
	    "upstream_transfer.max_per_entry", 0);
	RELOAD_KEEP(upstream_queue_timeout,
	    "upstream_transfer.queue_timeout", 0);
#undef RELOAD_KEEP
}

/* Frees the retired configurations if nothing in flight can point in. */
static void
reload_collect(struct proxy *p)
{
	struct reload_retired	*r;

	if (TAILQ_EMPTY(&p->retired) || !TAILQ_EMPTY(&p->transfers) ||
	    !TAILQ_EMPTY(&p->upstreams) || !TAILQ_EMPTY(&p->streams) ||
	    !tokens_idle(p->tokens) || !credhelpers_idle(p->credhelpers))
		return;
	/* Tokens and slots name entries by address: none may outlive them. */
	tokens_flush(p->tokens);
	entryqueue_prune(p->queue);
	while ((r = TAILQ_FIRST(&p->retired)) != NULL) {
		TAILQ_REMOVE(&p->retired, r, entry);
		config_free(r->config);
		free(r->config);
		free(r);
		stats_add(STATS_CONFIGS_RETIRED, -1);
	}
	if (p->collect_ev != NULL)
		event_del(p->collect_ev);
}

static void
reload_collect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy	*p = arg;
	struct timeval	 tv = { RELOAD_COLLECT_SECONDS, 0 };

	(void)fd;
	(void)what;
	reload_collect(p);
	if (!TAILQ_EMPTY(&p->retired))
		evtimer_add(p->collect_ev, &tv);
}

/*
 * Reads the configuration again and puts it in force. Returns 0 (with
 * *note, if not NULL, saying what waits for a restart, or NULL), or -1
 * with *cause: the configuration in force is unchanged.
 */
int
reload_apply(struct proxy *p, char **note, char **cause)
{
	struct config		*n, *o = p->config;
	struct reload_retired	*r;
	struct timeval		 tv = { RELOAD_COLLECT_SECONDS, 0 };
	char			 changed[512] = "";

	if (note != NULL)
		*note = NULL;
	if ((n = calloc(1, sizeof *n)) == NULL ||
	    (r = calloc(1, sizeof *r)) == NULL) {
		free(n);
		*cause = util_printf("out of memory");
		return -1;
	}
	if (config_read_all(n, o->file[0] != '\0' ? o->file : NULL, NULL,
	    cause) != 0 || (p->upstream_flag != NULL &&
	    config_set_upstream(n, p->upstream_flag, cause) != 0))
		goto fail;
	if (p->level_flag != NULL)
		n->log_level = o->log_level;
	reload_keep(n, o, changed, sizeof changed);
	if (config_load_secrets(n, cause) != 0 || access_check(n, cause) != 0)
		goto fail;

	reload_carry(&n->registries, &o->registries);
	reload_carry(&n->feeds, &o->feeds);
	r->config = o;
	TAILQ_INSERT_TAIL(&p->retired, r, entry);
	stats_add(STATS_CONFIGS_RETIRED, 1);
	p->config = n;
	fetcher_set_config(p->fetcher, n);
	budget_set_max(p->budget, n->cache_max_bytes);
	memcache_set_max(p->cache.mem, (size_t)n->memory_cache_max_bytes);
	log_set_level(n->log_level);
	tokens_flush(p->tokens);
	if (access_reload(p, cause) != 0) {
		/* In force, but credentials cannot be checked: say so. */
		log_error("reload: %s", *cause);
		free(*cause);
		*cause = NULL;
	}
	stats_add(STATS_RELOADS, 1);
	log_info("reload: configuration%s%s in force: %zu registries, %zu feeds",
	    n->file[0] != '\0' ? " from " : "", n->file, n->registries.count,
	    n->feeds.count);
	if (changed[0] != '\0') {
		log_warn("reload: %s changed; kept as they were until a restart",
		    changed);
		if (note != NULL)
			*note = util_printf("%s changed: kept as they were until "
			    "a restart", changed);
	}
	reload_collect(p);
	if (!TAILQ_EMPTY(&p->retired) && p->collect_ev != NULL)
		evtimer_add(p->collect_ev, &tv);
	return 0;
fail:
	config_free(n);
	free(n);
	free(r);
	stats_add(STATS_RELOADS_REFUSED, 1);
	log_error("reload refused, the configuration in force is unchanged: %s",
	    *cause);
	return -1;
}

int
reload_start(struct proxy *p)
{
	TAILQ_INIT(&p->retired);
	p->collect_ev = evtimer_new(p->base, reload_collect_cb, p);
	return p->collect_ev != NULL ? 0 : -1;
}

/* At shutdown: every configuration but the one in force. */
void
reload_stop(struct proxy *p)
{
	struct reload_retired	*r;

	while ((r = TAILQ_FIRST(&p->retired)) != NULL) {
		TAILQ_REMOVE(&p->retired, r, entry);
		config_free(r->config);
		free(r->config);
		free(r);
	}
	if (p->collect_ev != NULL)
		event_free(p->collect_ev);
	p->collect_ev = NULL;
}
