/*
 * Unit tests: an entry's upstream slots — at most max at once per entry,
 * the rest in line in order, a freed slot granted from the loop, and a
 * request that waits past the timeout told so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

#include "proxy.h"

struct calls {
	int	granted[8];
	int	timedout[8];
	int	order[8];
	int	n;
};

struct who {
	struct calls	*calls;
	int		 id;
};

static void
slot_cb(int granted, void *arg)
{
	struct who	*w = arg;

	if (granted)
		w->calls->granted[w->id]++;
	else
		w->calls->timedout[w->id]++;
	w->calls->order[w->calls->n++] = w->id;
}

static void
test_cap_and_order(void **state)
{
	struct event_base		*base = event_base_new();
	struct entryqueue		*q = entryqueue_new(base, 2, 60);
	struct entryqueue_ticket	*t[5];
	struct calls			 calls;
	struct who			 w[5];
	int				 entry_a, entry_b, granted, i, active, waiting;

	(void)state;
	memset(&calls, 0, sizeof calls);
	for (i = 0; i < 5; i++) {
		w[i].calls = &calls;
		w[i].id = i;
	}
	for (i = 0; i < 4; i++) {
		t[i] = entryqueue_enter(q, &entry_a, slot_cb, &w[i], &granted);
		assert_non_null(t[i]);
		assert_int_equal(granted, i < 2);
	}
	/* Another entry has slots of its own. */
	t[4] = entryqueue_enter(q, &entry_b, slot_cb, &w[4], &granted);
	assert_int_equal(granted, 1);
	entryqueue_counts(q, &entry_a, &active, &waiting);
	assert_int_equal(active, 2);
	assert_int_equal(waiting, 2);

	entryqueue_leave(q, t[0]);
	assert_int_equal(calls.n, 0);	/* never inside leave */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(calls.n, 1);
	assert_int_equal(calls.order[0], 2);	/* first in line */
	entryqueue_leave(q, t[1]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(calls.order[1], 3);
	entryqueue_counts(q, &entry_a, &active, &waiting);
	assert_int_equal(active, 2);
	assert_int_equal(waiting, 0);
	entryqueue_leave(q, t[2]);
	entryqueue_leave(q, t[3]);
	entryqueue_leave(q, t[4]);
	entryqueue_counts(q, &entry_a, &active, &waiting);
	assert_int_equal(active, 0);
	entryqueue_free(q);
	event_base_free(base);
}

static void
test_timeout(void **state)
{
	struct event_base		*base = event_base_new();
	struct entryqueue		*q = entryqueue_new(base, 1, 1);
	struct entryqueue_ticket	*held, *line;
	struct calls			 calls;
	struct who			 w = { &calls, 1 };
	int				 entry, granted, active, waiting;

	(void)state;
	memset(&calls, 0, sizeof calls);
	held = entryqueue_enter(q, &entry, slot_cb, &w, &granted);
	assert_int_equal(granted, 1);
	line = entryqueue_enter(q, &entry, slot_cb, &w, &granted);
	assert_non_null(line);
	assert_int_equal(granted, 0);
	event_base_dispatch(base);	/* ends when the deadline has fired */
	assert_int_equal(calls.timedout[1], 1);
	assert_int_equal(calls.granted[1], 0);
	entryqueue_counts(q, &entry, &active, &waiting);
	assert_int_equal(active, 1);
	assert_int_equal(waiting, 0);
	entryqueue_leave(q, held);
	entryqueue_free(q);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_and_order),
		cmocka_unit_test(test_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
