/*
 * GET /metrics: the counters of stats.c in the Prometheus text format
 * (version 0.0.4), for scrapers and for the tests, and each entry's
 * upstream slots in use and requests in line.
 */
#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy.h"

/* One gauge family with a line per registry entry and per feed. */
static void
metrics_entries(struct proxy *p, struct evbuffer *b, const char *name,
    const char *help, int waiting)
{
	const struct registry_table	*tables[2];
	const struct registry		*r;
	size_t				 t, i;
	int				 active, queued;

	tables[0] = &p->config->registries;
	tables[1] = &p->config->feeds;
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help,
	    name);
	for (t = 0; t < 2; t++) {
		for (i = 0; i < tables[t]->count; i++) {
			r = &tables[t]->entries[i];
			if (r->is_local)
				continue;
			entryqueue_counts(p->queue, r, &active, &queued);
			evbuffer_add_printf(b, "%s{%s=\"%s\"} %d\n", name,
			    t == 0 ? "entry" : "feed", r->name,
			    waiting ? queued : active);
		}
	}
}

void
metrics_handle(struct proxy *p, struct evhttp_request *req)
{
	struct evbuffer	*b;
	const char	*name, *help, *labels;
	int		 gauge, i;

	if ((b = evbuffer_new()) == NULL) {
		reply_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	for (i = 0; i < STATS_COUNT; i++) {
		name = stats_name((enum stats_counter)i, &help, &gauge, &labels);
		if (help != NULL)
			evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
			    name, help, name, gauge ? "gauge" : "counter");
		evbuffer_add_printf(b, "%s%s%s%s %lld\n", name,
		    labels != NULL ? "{" : "", labels != NULL ? labels : "",
		    labels != NULL ? "}" : "",
		    (long long)stats_get((enum stats_counter)i));
	}
	metrics_entries(p, b, "pullgate_upstream_entry_in_flight",
	    "Upstream requests holding a slot, per entry", 0);
	metrics_entries(p, b, "pullgate_upstream_entry_waiting",
	    "Upstream requests waiting for a slot, per entry", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	reply_send(req, 200, b);
	evbuffer_free(b);
}
