/*
 * GET /metrics: the counters of stats.c in the Prometheus text format
 * (version 0.0.4), for scrapers and for the tests: the plain counters and
 * gauges, responses by route and status class, a latency histogram per
 * route, and per registry entry or feed its upstream requests, errors,
 * bytes and breaker openings, and its upstream slots in use and requests
 * in line.
 */
#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy.h"

static void
metrics_counters(struct evbuffer *b)
{
	const char	*name, *help, *labels;
	int		 gauge, i;

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
}

static void
metrics_requests(struct evbuffer *b)
{
	const char	*route;
	int64_t		 cum;
	int		 r, cls, i;

	evbuffer_add_printf(b, "# HELP pullgate_responses_total Responses sent "
	    "whole, by route and status class\n"
	    "# TYPE pullgate_responses_total counter\n");
	for (r = 0; r < STATS_ROUTE_COUNT; r++)
		for (cls = 1; cls <= 5; cls++)
			evbuffer_add_printf(b, "pullgate_responses_total{route=\"%s\","
			    "code=\"%dxx\"} %lld\n", stats_route_name(r), cls,
			    (long long)stats_request_count(r, cls));
	evbuffer_add_printf(b, "# HELP pullgate_response_seconds Time from a "
	    "request's head to its last byte sent, by route\n"
	    "# TYPE pullgate_response_seconds histogram\n");
	for (r = 0; r < STATS_ROUTE_COUNT; r++) {
		route = stats_route_name(r);
		cum = 0;
		for (i = 0; i < STATS_LATENCY_BUCKETS; i++) {
			cum += stats_latency_bucket(r, i);
			if (stats_latency_bound(i) < 0)
				evbuffer_add_printf(b, "pullgate_response_seconds_bucket"
				    "{route=\"%s\",le=\"+Inf\"} %lld\n", route,
				    (long long)cum);
			else
				evbuffer_add_printf(b, "pullgate_response_seconds_bucket"
				    "{route=\"%s\",le=\"%g\"} %lld\n", route,
				    stats_latency_bound(i), (long long)cum);
		}
		evbuffer_add_printf(b, "pullgate_response_seconds_sum{route=\"%s\"} "
		    "%.6f\n", route, (double)stats_latency_sum_usec(r) / 1e6);
		evbuffer_add_printf(b, "pullgate_response_seconds_count{route=\"%s\"} "
		    "%lld\n", route, (long long)cum);
	}
}

static void
metrics_entries(struct evbuffer *b)
{
	static const struct {
		enum stats_entry_counter	 c;
		const char			*name, *help;
	} families[] = {
		{ STATS_ENTRY_REQUESTS, "pullgate_upstream_entry_requests_total",
		  "Upstream requests finished, by registry entry or feed" },
		{ STATS_ENTRY_ERRORS, "pullgate_upstream_entry_errors_total",
		  "Upstream requests that failed (no answer, 5xx), by entry" },
		{ STATS_ENTRY_BYTES, "pullgate_upstream_entry_bytes_total",
		  "Body bytes received from upstreams, by entry" },
		{ STATS_ENTRY_BREAKER_OPENINGS, "pullgate_breaker_openings_total",
		  "Times an entry's circuit breaker opened" },
	};
	size_t	f, i;

	for (f = 0; f < sizeof families / sizeof families[0]; f++) {
		evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n",
		    families[f].name, families[f].help, families[f].name);
		for (i = 0; i < stats_entry_count(); i++)
			evbuffer_add_printf(b, "%s{entry=\"%s\"} %lld\n",
			    families[f].name, stats_entry_name(i),
			    (long long)stats_entry_get(i, families[f].c));
	}
}


/* A gauge of the upstream slots, a line per registry entry and feed. */
static void
metrics_slots(struct proxy *p, struct evbuffer *b, const char *name,
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
			    "entry", r->name,
			    waiting ? queued : active);
		}
	}
}

void
metrics_handle(struct proxy *p, struct evhttp_request *req)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		reply_error(req, 500, "UNKNOWN", "out of memory");
		return;
	}
	metrics_counters(b);
	metrics_requests(b);
	metrics_entries(b);
	metrics_slots(p, b, "pullgate_upstream_entry_in_flight",
	    "Upstream requests holding a slot, per entry", 0);
	metrics_slots(p, b, "pullgate_upstream_entry_waiting",
	    "Upstream requests waiting for a slot, per entry", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	reply_send(req, 200, b);
	evbuffer_free(b);
}
