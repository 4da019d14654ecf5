/*
 * GET /metrics: the counters of stats.c in the Prometheus text format
 * (version 0.0.4), for scrapers and for the tests.
 */
#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy.h"

void
metrics_handle(struct proxy *p, struct evhttp_request *req)
{
	struct evbuffer	*b;
	const char	*name, *help, *labels;
	int		 gauge, i;

	(void)p;
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
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4");
	reply_send(req, 200, b);
	evbuffer_free(b);
}
