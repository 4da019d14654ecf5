/*
 * Each client request's route and start, and at its end its status, where
 * its answer came from (the X-Pullgate-Source header: cache, upstream or
 * stale) and how long it took, counted in stats.c.
 *
 * libevent calls the completion callback (server.c's, which calls
 * reqstat_end) only for a response that was
 * sent whole, and frees a request whose client went away without telling
 * anyone, so nothing is allocated per request: starts live in a fixed
 * table keyed by the request's address, a few probes deep. A slot whose
 * request never completed is simply taken by a later one.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "proxy.h"

#define REQSTAT_SLOTS	4096		/* a power of two */
#define REQSTAT_PROBES	8

static struct {
	const struct evhttp_request	*req;
	int64_t				 start;	/* microseconds, monotonic */
	enum stats_route		 route;
} reqstat_slots[REQSTAT_SLOTS];

static size_t
reqstat_hash(const struct evhttp_request *req)
{
	uint64_t	h = (uint64_t)(uintptr_t)req >> 4;

	return (size_t)((h * 0x9E3779B97F4A7C15ULL) >> 52) & (REQSTAT_SLOTS - 1);
}

/* The slot of req, or -1. */
static int
reqstat_find(const struct evhttp_request *req)
{
	size_t	h = reqstat_hash(req), i, s;

	for (i = 0; i < REQSTAT_PROBES; i++) {
		s = (h + i) & (REQSTAT_SLOTS - 1);
		if (reqstat_slots[s].req == req)
			return (int)s;
	}
	return -1;
}

/* The response was sent whole. */
void
reqstat_end(struct evhttp_request *req)
{
	const char	*source;
	int		 s = reqstat_find(req);

	source = evhttp_find_header(evhttp_request_get_output_headers(req),
	    "X-Pullgate-Source");
	if (source != NULL && strcmp(source, "cache") == 0)
		stats_add(STATS_ANSWER_CACHE, 1);
	else if (source != NULL && strcmp(source, "upstream") == 0)
		stats_add(STATS_ANSWER_UPSTREAM, 1);
	else if (source != NULL && strcmp(source, "stale") == 0)
		stats_add(STATS_ANSWER_STALE, 1);
	if (s == -1) {
		stats_request(STATS_ROUTE_OTHER,
		    evhttp_request_get_response_code(req), -1);
		return;
	}
	stats_request(reqstat_slots[s].route,
	    evhttp_request_get_response_code(req),
	    util_now_us() - reqstat_slots[s].start);
	reqstat_slots[s].req = NULL;
}

/* A request starts: its route so far (api.c refines /v2/ ones). */
void
reqstat_begin(struct evhttp_request *req, enum stats_route route)
{
	size_t	h = reqstat_hash(req), i, s, victim = h;

	for (i = 0; i < REQSTAT_PROBES; i++) {
		s = (h + i) & (REQSTAT_SLOTS - 1);
		if (reqstat_slots[s].req == NULL || reqstat_slots[s].req == req) {
			victim = s;
			break;
		}
		if (reqstat_slots[s].start < reqstat_slots[victim].start)
			victim = s;
	}
	reqstat_slots[victim].req = req;
	reqstat_slots[victim].start = util_now_us();
	reqstat_slots[victim].route = route;
}

/* What a /v2/ request turned out to be. */
void
reqstat_route(struct evhttp_request *req, enum stats_route route)
{
	int	s = reqstat_find(req);

	if (s != -1)
		reqstat_slots[s].route = route;
}
