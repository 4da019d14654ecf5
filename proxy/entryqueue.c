/*
 * The per-entry limit on upstream work: at most max requests of one
 * registry entry (or feed) hold a slot at a time; the others wait in
 * line, first come first served, for at most timeout seconds. A request
 * that gets no slot in time is told so and leaves the line, so its
 * caller can answer its client (from the cache, or 503 with Retry-After)
 * instead of waiting without end.
 *
 * A slot is granted from the loop, never inside entryqueue_leave: the
 * caller that gives a slot back is never re-entered by the next one's
 * start.
 */
#include <sys/queue.h>
#include <stdlib.h>

#include <event2/event.h>

#include "proxy.h"

#define ENTRYQUEUE_MAGIC	0x45515545	/* "EQUE" */

enum entryqueue_state {
	ENTRYQUEUE_WAITING,	/* in line, its timer set to the deadline */
	ENTRYQUEUE_GRANTED,	/* holds a slot; the grant is being delivered */
	ENTRYQUEUE_RUNNING	/* holds a slot, told so */
};

struct entryqueue_line;

struct entryqueue_ticket {
	unsigned		 magic;
	struct entryqueue_line	*line;
	enum entryqueue_state	 state;
	struct event		*ev;	/* the deadline, then the grant */
	entryqueue_cb		 cb;
	void			*arg;
	TAILQ_ENTRY(entryqueue_ticket) entry;	/* line->waiting */
};

/* One entry's slots and its line. */
struct entryqueue_line {
	const void		*entry;
	int			 active;
	TAILQ_HEAD(, entryqueue_ticket) waiting;
	TAILQ_ENTRY(entryqueue_line) next;
};

struct entryqueue {
	struct event_base	*base;
	int			 max;
	int			 timeout;
	TAILQ_HEAD(, entryqueue_line) lines;
};

struct entryqueue *
entryqueue_new(struct event_base *base, int max, int timeout)
{
	struct entryqueue	*q;

	if ((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	q->base = base;
	q->max = max > 0 ? max : 1;
	q->timeout = timeout > 0 ? timeout : 1;
	TAILQ_INIT(&q->lines);
	return q;
}

/* At shutdown, once no request is left (upstream_shutdown ran). */
void
entryqueue_free(struct entryqueue *q)
{
	struct entryqueue_line	*l;

	if (q == NULL)
		return;
	while ((l = TAILQ_FIRST(&q->lines)) != NULL) {
		if (!TAILQ_EMPTY(&l->waiting))
			log_warn("%s: requests still waiting", __func__);
		TAILQ_REMOVE(&q->lines, l, next);
		free(l);
	}
	free(q);
}

/*
 * Forgets the lines nobody is in (a reload retired the entries they were
 * for; a line is made again when its entry asks).
 */
void
entryqueue_prune(struct entryqueue *q)
{
	struct entryqueue_line	*l, *next;

	for (l = TAILQ_FIRST(&q->lines); l != NULL; l = next) {
		next = TAILQ_NEXT(l, next);
		if (l->active == 0 && TAILQ_EMPTY(&l->waiting)) {
			TAILQ_REMOVE(&q->lines, l, next);
			free(l);
		}
	}
}

static struct entryqueue_line *
entryqueue_line(struct entryqueue *q, const void *entry)
{
	struct entryqueue_line	*l;

	TAILQ_FOREACH(l, &q->lines, next)
		if (l->entry == entry)
			return l;
	if ((l = calloc(1, sizeof *l)) == NULL)
		return NULL;
	l->entry = entry;
	TAILQ_INIT(&l->waiting);
	TAILQ_INSERT_TAIL(&q->lines, l, next);
	return l;
}

static void
entryqueue_ticket_free(struct entryqueue_ticket *t)
{
	t->magic = 0;
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

/* The ticket's event: its deadline passed, or its grant is delivered. */
static void
entryqueue_ticket_cb(evutil_socket_t fd, short what, void *arg)
{
	struct entryqueue_ticket	*t = arg;
	struct entryqueue_line		*l = t->line;

	(void)fd;
	(void)what;
	if (t->magic != ENTRYQUEUE_MAGIC)
		fatal("%s: bad magic", __func__);
	if (t->state == ENTRYQUEUE_GRANTED) {
		t->state = ENTRYQUEUE_RUNNING;
		t->cb(1, t->arg);
		return;
	}
	TAILQ_REMOVE(&l->waiting, t, entry);
	stats_add(STATS_UPSTREAM_WAITING, -1);
	stats_add(STATS_UPSTREAM_QUEUE_TIMEOUTS, 1);
	t->cb(0, t->arg);
	entryqueue_ticket_free(t);
}

/* Hands the freed slots of line l to the first in line. */
static void
entryqueue_grant(struct entryqueue *q, struct entryqueue_line *l)
{
	struct entryqueue_ticket	*t;

	while (l->active < q->max && (t = TAILQ_FIRST(&l->waiting)) != NULL) {
		TAILQ_REMOVE(&l->waiting, t, entry);
		stats_add(STATS_UPSTREAM_WAITING, -1);
		l->active++;
		stats_add(STATS_UPSTREAM_IN_FLIGHT, 1);
		t->state = ENTRYQUEUE_GRANTED;
		event_del(t->ev);
		event_active(t->ev, EV_TIMEOUT, 0);
	}
}

/*
 * A slot of entry's for the caller. Returns a ticket that holds a slot at
 * once (*granted 1; cb is never called) or waits in line (*granted 0):
 * then cb(1, arg) once it holds a slot, or cb(0, arg) when the deadline
 * passed first (the ticket is then gone). A ticket that holds a slot is
 * given back with entryqueue_leave; a waiting one may leave the line the
 * same way. NULL: out of memory.
 */
struct entryqueue_ticket *
entryqueue_enter(struct entryqueue *q, const void *entry, entryqueue_cb cb,
    void *arg, int *granted)
{
	struct entryqueue_ticket	*t;
	struct entryqueue_line		*l;
	struct timeval			 tv;

	if ((l = entryqueue_line(q, entry)) == NULL ||
	    (t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	t->magic = ENTRYQUEUE_MAGIC;
	t->line = l;
	t->cb = cb;
	t->arg = arg;
	if ((t->ev = evtimer_new(q->base, entryqueue_ticket_cb, t)) == NULL) {
		entryqueue_ticket_free(t);
		return NULL;
	}
	if (l->active < q->max && TAILQ_EMPTY(&l->waiting)) {
		l->active++;
		stats_add(STATS_UPSTREAM_IN_FLIGHT, 1);
		t->state = ENTRYQUEUE_RUNNING;
		*granted = 1;
		return t;
	}
	tv.tv_sec = q->timeout;
	tv.tv_usec = 0;
	if (evtimer_add(t->ev, &tv) != 0) {
		entryqueue_ticket_free(t);
		return NULL;
	}
	t->state = ENTRYQUEUE_WAITING;
	TAILQ_INSERT_TAIL(&l->waiting, t, entry);
	stats_add(STATS_UPSTREAM_WAITING, 1);
	stats_add(STATS_UPSTREAM_QUEUED, 1);
	*granted = 0;
	return t;
}

/* Gives a slot back (or leaves the line); the ticket is gone. */
void
entryqueue_leave(struct entryqueue *q, struct entryqueue_ticket *t)
{
	struct entryqueue_line	*l = t->line;

	if (t->magic != ENTRYQUEUE_MAGIC)
		fatal("%s: bad magic", __func__);
	if (t->state == ENTRYQUEUE_WAITING) {
		TAILQ_REMOVE(&l->waiting, t, entry);
		stats_add(STATS_UPSTREAM_WAITING, -1);
	} else {
		l->active--;
		stats_add(STATS_UPSTREAM_IN_FLIGHT, -1);
	}
	entryqueue_ticket_free(t);
	entryqueue_grant(q, l);
}

/* An entry's requests holding a slot and waiting for one, for /metrics. */
void
entryqueue_counts(const struct entryqueue *q, const void *entry, int *active,
    int *waiting)
{
	const struct entryqueue_line	*l;
	const struct entryqueue_ticket	*t;

	*active = *waiting = 0;
	if (q == NULL)
		return;
	TAILQ_FOREACH(l, &q->lines, next) {
		if (l->entry != entry)
			continue;
		*active = l->active;
		TAILQ_FOREACH(t, &l->waiting, entry)
			(*waiting)++;
	}
}
