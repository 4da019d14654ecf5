/*
 * A pool of threads for the blocking disk work of downloads — hashing
 * and writing what arrived, fdatasync before a file is published, reading
 * a partial file back — so the event loop only moves buffers and answers
 * clients meanwhile (a 268 MB blob's fdatasync alone takes about half a
 * second). The daemon keeps two pools, so that slow jobs (a sync, a
 * re-hash) never queue the hashing and writing of other downloads.
 *
 * A job is the caller's (no allocation here): its work runs on one of
 * the threads and must touch nothing the loop uses; its done callback
 * then runs on the loop. The caller keeps whatever the job points to
 * alive until done has run, and submits a job again only after that.
 * Jobs run in the order submitted, several at once (one per thread), so
 * a caller whose jobs must follow each other has one in flight at a time.
 *
 * The threads hand finished jobs back through a pipe the loop watches.
 * At shutdown workers_free lets the jobs queued and running finish, then
 * runs their done callbacks on the calling thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy.h"

#define WORKERS_THREADS_MAX	4

struct workers {
	struct event_base	*base;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* a job queued, or stopping */
	TAILQ_HEAD(, worker_job) queued;	/* under lock */
	TAILQ_HEAD(, worker_job) finished;	/* under lock */
	int			 stopping;	/* under lock */
	int			 pipe[2];	/* threads -> loop: "finished" */
	struct event		*done_ev;
	pthread_t		 threads[WORKERS_THREADS_MAX];
	int			 nthreads;
};

static void *
workers_main(void *arg)
{
	struct workers		*w = arg;
	struct worker_job	*j;
	char			 c = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (TAILQ_EMPTY(&w->queued) && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if ((j = TAILQ_FIRST(&w->queued)) == NULL)
			break;		/* stopping, and nothing left */
		TAILQ_REMOVE(&w->queued, j, entry);
		pthread_mutex_unlock(&w->lock);
		j->work(j);
		pthread_mutex_lock(&w->lock);
		TAILQ_INSERT_TAIL(&w->finished, j, entry);
		/* A full pipe already says so; the loop takes every job. */
		while (write(w->pipe[1], &c, 1) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Runs the done callbacks of every finished job, on the calling thread. */
static void
workers_run_finished(struct workers *w)
{
	struct worker_job	*j;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		if ((j = TAILQ_FIRST(&w->finished)) != NULL)
			TAILQ_REMOVE(&w->finished, j, entry);
		pthread_mutex_unlock(&w->lock);
		if (j == NULL)
			return;
		stats_add(STATS_WORKER_JOBS, 1);
		j->done(j);
	}
}

static void
workers_done_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[256];

	(void)what;
	while (read(fd, buf, sizeof buf) > 0)
		;
	workers_run_finished(arg);
}

/* A pool of n threads (at most WORKERS_THREADS_MAX). */
struct workers *
workers_new(struct event_base *base, int n)
{
	struct workers	*w;
	int		 i;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	w->base = base;
	w->pipe[0] = w->pipe[1] = -1;
	TAILQ_INIT(&w->queued);
	TAILQ_INIT(&w->finished);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) != 0 ||
	    (w->done_ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST,
	    workers_done_cb, w)) == NULL || event_add(w->done_ev, NULL) != 0)
		goto fail;
	for (i = 0; i < n && i < WORKERS_THREADS_MAX; i++) {
		if ((errno = pthread_create(&w->threads[i], NULL, workers_main,
		    w)) != 0) {
			log_warn("%s: cannot start a thread: %s", __func__,
			    strerror(errno));
			break;
		}
		w->nthreads++;
	}
	if (w->nthreads > 0)
		return w;
fail:
	workers_free(w);
	return NULL;
}

/* Queues job j; its done callback runs on the loop once its work ran. */
void
workers_submit(struct workers *w, struct worker_job *j)
{
	pthread_mutex_lock(&w->lock);
	TAILQ_INSERT_TAIL(&w->queued, j, entry);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Finishes every job (their done callbacks too), then stops the threads. */
void
workers_free(struct workers *w)
{
	struct worker_job	*j;
	int			 i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	workers_run_finished(w);
	/* Jobs those callbacks queued: none should, but none is lost. */
	while ((j = TAILQ_FIRST(&w->queued)) != NULL) {
		TAILQ_REMOVE(&w->queued, j, entry);
		j->work(j);
		stats_add(STATS_WORKER_JOBS, 1);
		j->done(j);
	}
	if (w->done_ev != NULL)
		event_free(w->done_ev);
	for (i = 0; i < 2; i++)
		if (w->pipe[i] != -1)
			close(w->pipe[i]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}
