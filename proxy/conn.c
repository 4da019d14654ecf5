/*
 * Client connections: how many are open, from which address, and how long
 * one may take to send a request. evhttp accepts and reads; this file
 * counts through its hooks (the bufferevent callback at accept, the close
 * callback, the request callback and its completion) and steers through
 * the listener:
 *
 * - At most max_connections are open. A new connection beyond the limit
 *   makes room by closing the oldest idle one (nothing sent since its
 *   accept or its last answer, as nginx reuses idle connections), or is
 *   refused with a 503 if none can give way. While every connection is
 *   busy answering, the listener pauses until one closes or turns idle.
 *   No accept loop runs without making progress.
 * - At most max_connections_per_address from one client address (an IPv6
 *   client's whole /64: prefix_client_group), the same
 *   way within that address: one client cannot take every slot.
 * - A request must be complete (head and its small body) within
 *   head_timeout of the accept, or on a kept-alive connection within the
 *   idle timeout plus head_timeout of the last answer. A byte now and then
 *   resets evhttp's idle timeout, never this deadline.
 * - accept(2) failing (EMFILE, ENFILE...) pauses the listener for a short
 *   while instead of leaving a readable socket to spin the loop, and
 *   closes a few idle connections to give descriptors back.
 * - Reading stops at a high watermark: evhttp keeps reading while it
 *   writes an answer, and a client sending meanwhile would otherwise grow
 *   the input buffer without bound.
 *
 * libevent 2.1 has no per-request hook before a request is complete, so a
 * connection is known from the bufferevent made for it; its evhttp
 * connection is that bufferevent's callback argument, taken on the next
 * turn of the loop, once evhttp has set the connection up.
 */
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "proxy.h"

#define CONN_MAGIC		0x434f4e4e	/* "CONN" */
#define CONN_ADDR_BUCKETS	256
#define CONN_RESERVE_MIN	64		/* descriptors not for clients */
#define CONN_DEFAULT_MAX	4096
#define CONN_NOFILE_WANT	16384	/* room for CONN_DEFAULT_MAX */
#define CONN_RETRY_MS		200		/* after accept(2) failed */
#define CONN_LOG_INTERVAL	10		/* seconds between like warnings */
#define CONN_BURST		16		/* accepted over the limit at once */
#define CONN_SCAN		64		/* idle ones looked at for room */
#define CONN_EMFILE_FREE	16		/* idle ones closed on EMFILE */

enum conn_state {
	CONN_NEW,	/* accepted; evhttp is setting it up */
	CONN_IDLE,	/* waiting for a complete request */
	CONN_BUSY	/* a request is being answered */
};

static const char *conn_state_names[] = { "new", "idle", "busy" };

enum conn_warning {
	CONN_WARN_ACCEPT,
	CONN_WARN_FULL,
	CONN_WARN_ADDRESS,
	CONN_WARN_COUNT
};

struct conn_addr;

struct conn {
	unsigned		 magic;
	enum conn_state		 state;
	struct conns		*conns;
	struct bufferevent	*bev;		/* referenced while NEW */
	struct evhttp_connection *evcon;	/* from IDLE on */
	int			 fd;
	struct conn_addr	*addr;
	struct event		*ev;		/* the start, then the deadline */
	void			(*closecb)(struct evhttp_connection *, void *);
	void			*closearg;
	TAILQ_ENTRY(conn)	 entry;		/* conns->starting or ->idle */
	TAILQ_ENTRY(conn)	 addr_entry;	/* addr->idle */
};

TAILQ_HEAD(conn_list, conn);

struct conn_addr {
	char			 name[64];
	size_t			 n;		/* connections open */
	struct conn_list	 idle;		/* oldest first */
	LIST_ENTRY(conn_addr)	 entry;
};

struct conns {
	struct event_base	*base;
	struct evconnlistener	*listener;	/* NULL once stopping */
	struct event		*retry;
	struct conn		**byfd;
	size_t			 nbyfd;
	struct conn_list	 starting;
	struct conn_list	 idle;		/* oldest first */
	size_t			 nidle;
	LIST_HEAD(, conn_addr)	 addrs[CONN_ADDR_BUCKETS];
	size_t			 open, max, per_address;
	size_t			 watermark;
	int			 head_timeout, idle_timeout;
	int			 accepting;	/* the listener is enabled */
	int			 paused;	/* a pause, counted once */
	int			 backoff;	/* accept(2) failed: wait */
	struct conn		*closing;	/* being closed by us */
	time_t			 warned[CONN_WARN_COUNT];
};

/* The listener's error callback gets evhttp's argument: the one table. */
static struct conns	*conn_table;

static void	conn_event_cb(evutil_socket_t, short, void *);

/* 1 if a warning of this kind was logged less than an interval ago. */
static int
conn_quiet(struct conns *cs, enum conn_warning w)
{
	time_t	now = time(NULL);

	if (cs->warned[w] != 0 && now - cs->warned[w] < CONN_LOG_INTERVAL)
		return 1;
	cs->warned[w] = now;
	return 0;
}

static void
conn_set_state(struct conn *c, enum conn_state to)
{
	log_debug("%s: fd %d %s: %s -> %s", __func__, c->fd,
	    c->addr != NULL ? c->addr->name : "?", conn_state_names[c->state],
	    conn_state_names[to]);
	c->state = to;
}

static void
conn_listen(struct conns *cs, int on)
{
	if (cs->listener == NULL || cs->accepting == on)
		return;
	if (on)
		evconnlistener_enable(cs->listener);
	else
		evconnlistener_disable(cs->listener);
	cs->accepting = on;
}

/*
 * The listener accepts while there is a free slot or an idle connection
 * to give up for a new one (a few at a time beyond the limit: each makes
 * its room on the next turn), and accept(2) is not backing off.
 */
static void
conn_update(struct conns *cs)
{
	int	held, busy;

	stats_set(STATS_CLIENT_CONNECTIONS, (int64_t)cs->open);
	if (cs->listener == NULL)
		return;
	held = cs->open >= cs->max + CONN_BURST;	/* until they make room */
	busy = cs->open >= cs->max && cs->nidle == 0;
	if ((busy || cs->backoff) && !cs->paused) {
		cs->paused = 1;
		stats_add(STATS_CLIENT_ACCEPT_PAUSES, 1);
		if (busy && !conn_quiet(cs, CONN_WARN_FULL))
			log_warn("%s: %zu connections open, all busy: new "
			    "connections wait (client.max_connections)",
			    __func__, cs->open);
	} else if (!busy && !cs->backoff)
		cs->paused = 0;
	conn_listen(cs, !held && !busy && !cs->backoff);
}

static unsigned
conn_addr_hash(const char *s)
{
	unsigned	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CONN_ADDR_BUCKETS;
}

static struct conn_addr *
conn_addr_get(struct conns *cs, const char *name)
{
	struct conn_addr	*a;
	unsigned		 h = conn_addr_hash(name);

	LIST_FOREACH(a, &cs->addrs[h], entry)
		if (strncmp(a->name, name, sizeof a->name - 1) == 0)
			return a;
	if ((a = calloc(1, sizeof *a)) == NULL)
		return NULL;
	util_strlcpy(a->name, name, sizeof a->name);
	TAILQ_INIT(&a->idle);
	LIST_INSERT_HEAD(&cs->addrs[h], a, entry);
	return a;
}

static void
conn_idle_add(struct conn *c)
{
	TAILQ_INSERT_TAIL(&c->conns->idle, c, entry);
	TAILQ_INSERT_TAIL(&c->addr->idle, c, addr_entry);
	c->conns->nidle++;
}

static void
conn_idle_remove(struct conn *c)
{
	TAILQ_REMOVE(&c->conns->idle, c, entry);
	TAILQ_REMOVE(&c->addr->idle, c, addr_entry);
	c->conns->nidle--;
}

/* Drops the record of a connection that is gone (or never was set up). */
static void
conn_forget(struct conn *c)
{
	struct conns	*cs = c->conns;

	if (c->state == CONN_NEW)
		TAILQ_REMOVE(&cs->starting, c, entry);
	else if (c->state == CONN_IDLE)
		conn_idle_remove(c);
	if (c->addr != NULL && --c->addr->n == 0) {
		LIST_REMOVE(c->addr, entry);
		free(c->addr);
	}
	if (c->fd >= 0 && (size_t)c->fd < cs->nbyfd && cs->byfd[c->fd] == c)
		cs->byfd[c->fd] = NULL;
	if (cs->closing == c)
		cs->closing = NULL;
	cs->open--;
	event_free(c->ev);
	c->magic = 0;
	free(c);
}

static struct conn *
conn_find(struct conns *cs, struct evhttp_connection *evcon)
{
	struct conn	*c;
	int		 fd;

	if (cs == NULL || evcon == NULL)
		return NULL;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || (size_t)fd >= cs->nbyfd || (c = cs->byfd[fd]) == NULL ||
	    c->evcon != evcon)
		return NULL;
	return c;
}

/*
 * Closes a set-up connection, with a short answer first if there is one
 * (a raw write: the connection has no request evhttp would answer).
 */
static void
conn_close(struct conn *c, const char *answer)
{
	struct conns	*cs = c->conns;

	if (answer != NULL)
		(void)send(c->fd, answer, strlen(answer), MSG_DONTWAIT |
		    MSG_NOSIGNAL);
	cs->closing = c;
	evhttp_connection_free(c->evcon);	/* conn_close_cb forgets c */
	if (cs->closing == c)
		conn_forget(c);		/* evhttp did not call back */
}

static const char conn_busy_answer[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain\r\nContent-Length: 40\r\n"
    "Connection: close\r\nRetry-After: 1\r\n\r\n"
    "too many connections: retry in a moment\n";

static const char conn_timeout_answer[] =
    "HTTP/1.1 408 Request Timeout\r\n"
    "Content-Length: 0\r\nConnection: close\r\n\r\n";

/*
 * Whether an idle connection has bytes of a request waiting (read, or
 * still in the socket): such a one is sending, not idle, and stays.
 */
static int
conn_has_input(struct conn *c)
{
	int	n = 0;

	if (evbuffer_get_length(bufferevent_get_input(
	    evhttp_connection_get_bufferevent(c->evcon))) > 0)
		return 1;
	return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/*
 * The oldest idle connection with nothing sent (of address a, or of all),
 * other than keep, that may be closed to make room; NULL if none among
 * the oldest few.
 */
static struct conn *
conn_victim(struct conns *cs, struct conn_addr *a, struct conn *keep)
{
	struct conn	*c;
	int		 n = 0;

	if (a != NULL) {
		TAILQ_FOREACH(c, &a->idle, addr_entry)
			if (c != keep && !conn_has_input(c))
				return c;
			else if (++n == CONN_SCAN)
				break;
		return NULL;
	}
	TAILQ_FOREACH(c, &cs->idle, entry)
		if (c != keep && !conn_has_input(c))
			return c;
		else if (++n == CONN_SCAN)
			break;
	return NULL;
}

static void
conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn	*c = arg;
	struct conns	*cs = c->conns;
	void		(*cb)(struct evhttp_connection *, void *) = c->closecb;
	void		*cbarg = c->closearg;

	if (c->magic != CONN_MAGIC)
		fatal("%s: not a connection", __func__);
	conn_forget(c);
	conn_update(cs);
	if (cb != NULL)
		cb(evcon, cbarg);
}

static void
conn_deadline(struct conn *c, int seconds)
{
	struct timeval	tv = { seconds, 0 };

	event_add(c->ev, &tv);
}

/*
 * Makes room for c within its address's share and the limit, closing
 * the oldest idle connection where one must go. Returns -1 if c itself
 * was refused (and is gone).
 */
static int
conn_admit(struct conns *cs, struct conn *c)
{
	struct conn	*v;

	if (c->addr->n > cs->per_address) {
		if ((v = conn_victim(cs, c->addr, c)) == NULL) {
			stats_add(STATS_CLIENT_REFUSED_ADDRESS, 1);
			if (!conn_quiet(cs, CONN_WARN_ADDRESS))
				log_warn("%s: %s has %zu connections, all busy: "
				    "refused (client.max_connections_per_address)",
				    __func__, c->addr->name, c->addr->n - 1);
			conn_close(c, conn_busy_answer);
			return -1;
		}
		stats_add(STATS_CLIENT_EVICTED, 1);
		conn_close(v, NULL);
	}
	if (cs->open > cs->max) {
		if ((v = conn_victim(cs, NULL, c)) == NULL) {
			stats_add(STATS_CLIENT_REFUSED_LIMIT, 1);
			conn_close(c, conn_busy_answer);
			return -1;
		}
		stats_add(STATS_CLIENT_EVICTED, 1);
		conn_close(v, NULL);
	}
	return 0;
}

/* The turn after the accept: evhttp has set the connection up, or not. */
static void
conn_begin(struct conn *c)
{
	struct conns		*cs = c->conns;
	struct bufferevent	*bev = c->bev;
	bufferevent_event_cb	 eventcb;
	struct conn		**byfd;
	void			*cbarg = NULL;
	char			*host = NULL;
	char			 group[PREFIX_GROUP_MAX];
	ev_uint16_t		 port;
	size_t			 n;

	c->bev = NULL;
	bufferevent_getcb(bev, NULL, NULL, &eventcb, &cbarg);
	c->fd = bufferevent_getfd(bev);
	bufferevent_decref(bev);	/* evhttp's reference remains, if any */
	if (eventcb == NULL || cbarg == NULL || c->fd < 0) {
		/* evhttp failed to set it up and has closed it */
		c->fd = -1;
		conn_forget(c);
		conn_update(cs);
		return;
	}
	c->evcon = cbarg;
	reply_tune_connection(c->evcon);	/* once, not per request */
	if ((size_t)c->fd >= cs->nbyfd) {
		n = cs->nbyfd * 2 > (size_t)c->fd ? cs->nbyfd * 2 :
		    (size_t)c->fd + 1;
		if ((byfd = reallocarray(cs->byfd, n, sizeof *byfd)) == NULL)
			goto untracked;
		memset(byfd + cs->nbyfd, 0, (n - cs->nbyfd) * sizeof *byfd);
		cs->byfd = byfd;
		cs->nbyfd = n;
	}
	evhttp_connection_get_peer(c->evcon, &host, &port);
	prefix_client_group(host != NULL ? host : "?", group, sizeof group);
	if ((c->addr = conn_addr_get(cs, group)) == NULL)
		goto untracked;
	c->addr->n++;
	if (cs->byfd[c->fd] != NULL) {
		log_warn("%s: fd %d: a connection was never seen closing",
		    __func__, c->fd);
		cs->byfd[c->fd]->fd = -1;
		conn_forget(cs->byfd[c->fd]);
	}
	cs->byfd[c->fd] = c;
	TAILQ_REMOVE(&cs->starting, c, entry);
	conn_set_state(c, CONN_IDLE);
	conn_idle_add(c);
	evhttp_connection_set_closecb(c->evcon, conn_close_cb, c);
	conn_deadline(c, cs->head_timeout);
	if (conn_admit(cs, c) == 0)
		log_debug("%s: fd %d from %s: %zu open, %zu from there",
		    __func__, c->fd, c->addr->name, cs->open, c->addr->n);
	conn_update(cs);
	return;
untracked:
	log_warn("%s: out of memory: a connection goes uncounted", __func__);
	c->fd = -1;
	conn_forget(c);
	conn_update(cs);
}

/* One event per connection: its start, then its request deadline. */
static void
conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct conns	*cs = c->conns;

	(void)fd;
	(void)what;
	switch (c->state) {
	case CONN_NEW:
		conn_begin(c);
		break;
	case CONN_IDLE:
		stats_add(STATS_CLIENT_HEAD_TIMEOUTS, 1);
		log_info("%s: %s: no complete request in time: closed "
		    "(client.head_timeout)", __func__, c->addr->name);
		conn_close(c, conn_timeout_answer);
		conn_update(cs);
		break;
	case CONN_BUSY:
		break;
	}
}

/*
 * evhttp's bufferevent for each accepted connection: made here so that
 * reading has a high watermark, and so that the connection is counted.
 */
static struct bufferevent *
conn_bev_cb(struct event_base *base, void *arg)
{
	struct conns		*cs = arg;
	struct bufferevent	*bev;
	struct conn		*c;

	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	bufferevent_setwatermark(bev, EV_READ, 0, cs->watermark);
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->ev = event_new(base, -1, 0, conn_event_cb, c)) == NULL) {
		free(c);
		log_warn("%s: out of memory: a connection goes uncounted",
		    __func__);
		return bev;
	}
	c->magic = CONN_MAGIC;
	c->conns = cs;
	c->fd = -1;
	c->state = CONN_NEW;
	c->bev = bev;
	bufferevent_incref(bev);	/* valid in conn_begin, come what may */
	TAILQ_INSERT_TAIL(&cs->starting, c, entry);
	cs->open++;
	event_active(c->ev, EV_TIMEOUT, 0);
	if (cs->open >= cs->max + CONN_BURST)
		conn_listen(cs, 0);	/* the rest wait for room */
	return bev;
}

static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conns	*cs = arg;

	(void)fd;
	(void)what;
	cs->backoff = 0;
	conn_update(cs);
}

/*
 * accept(2) failed with something other than EAGAIN or EINTR: out of
 * descriptors or memory. The socket stays readable, so the listener
 * rests for a moment, and a few idle connections give descriptors back.
 */
static void
conn_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct conns	*cs = conn_table;
	struct timeval	 tv = { 0, CONN_RETRY_MS * 1000 };
	struct conn	*v;
	int		 err = EVUTIL_SOCKET_ERROR(), i;

	(void)arg;
	if (cs == NULL || cs->listener != lev) {
		evconnlistener_disable(lev);
		return;
	}
	if (!conn_quiet(cs, CONN_WARN_ACCEPT))
		log_warn("%s: accept: %s: new connections wait (%zu open)",
		    __func__, strerror(err), cs->open);
	cs->backoff = 1;
	event_add(cs->retry, &tv);
	for (i = 0; (err == EMFILE || err == ENFILE) && i < CONN_EMFILE_FREE &&
	    (v = conn_victim(cs, NULL, NULL)) != NULL; i++) {
		stats_add(STATS_CLIENT_EVICTED, 1);
		conn_close(v, NULL);
	}
	conn_update(cs);
}

/*
 * Raises the soft descriptor limit toward the hard one, as far as the
 * default connection limit can use (a shell's 1024 is a soft limit meant
 * for select(2), which pullgate does not use). rl is updated.
 */
static void
conn_raise_nofile(struct rlimit *rl)
{
	struct rlimit	want = *rl;

	if (rl->rlim_cur == RLIM_INFINITY || rl->rlim_cur >= CONN_NOFILE_WANT ||
	    rl->rlim_cur >= rl->rlim_max)
		return;
	want.rlim_cur = rl->rlim_max == RLIM_INFINITY ||
	    rl->rlim_max > CONN_NOFILE_WANT ? CONN_NOFILE_WANT : rl->rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
		log_warn("cannot raise the descriptor limit from %llu to %llu: %s",
		    (unsigned long long)rl->rlim_cur,
		    (unsigned long long)want.rlim_cur, strerror(errno));
		return;
	}
	*rl = want;
}

/*
 * The limits from the configuration and the descriptor limit: each
 * connection may hold its socket and a cached file being sent, and a
 * reserve stays for upstream transfers, the cache and the log.
 */
static int
conn_limits(struct conns *cs, const struct config *c, char **cause)
{
	struct rlimit	rl;
	size_t		nofile, reserve, room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		*cause = util_printf("cannot read the descriptor limit: %s",
		    strerror(errno));
		return -1;
	}
	conn_raise_nofile(&rl);
	nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1U << 24 ?
	    1U << 24 : (size_t)rl.rlim_cur;
	reserve = CONN_RESERVE_MIN + nofile / 8;
	room = nofile > reserve ? (nofile - reserve) / 2 : 0;
	if (room < 8) {
		*cause = util_printf("the descriptor limit (ulimit -n) is %zu: "
		    "too low to serve clients; raise it", nofile);
		return -1;
	}
	if (c->max_connections > room) {
		*cause = util_printf("client.max_connections = %zu is more than "
		    "the descriptor limit allows: %zu descriptors (ulimit -n), "
		    "less %zu kept for upstream transfers and files, leave "
		    "room for %zu connections of two descriptors each (socket "
		    "and file); raise the limit or lower the setting",
		    c->max_connections, nofile, reserve, room);
		return -1;
	}
	cs->max = c->max_connections != 0 ? c->max_connections :
	    room < CONN_DEFAULT_MAX ? room : CONN_DEFAULT_MAX;
	cs->per_address = c->max_connections_per_address;
	if (cs->per_address == 0)
		cs->per_address = cs->max / 4 > 0 ? cs->max / 4 : 1;
	if (cs->per_address > cs->max) {
		*cause = util_printf("client.max_connections_per_address = %zu "
		    "is more than client.max_connections (%zu)",
		    cs->per_address, cs->max);
		return -1;
	}
	log_info("client connections: at most %zu, %zu per address "
	    "(descriptor limit %zu)", cs->max, cs->per_address, nofile);
	return 0;
}

/*
 * Counts and limits the connections that http accepts on bound (its one
 * listening socket). Returns NULL with *cause if the limits cannot hold.
 */
struct conns *
conn_init(struct proxy *p, struct evhttp *http,
    struct evhttp_bound_socket *bound, char **cause)
{
	const struct config	*c = p->config;
	struct conns		*cs;
	size_t			 i;

	if ((cs = calloc(1, sizeof *cs)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	cs->base = p->base;
	TAILQ_INIT(&cs->starting);
	TAILQ_INIT(&cs->idle);
	for (i = 0; i < CONN_ADDR_BUCKETS; i++)
		LIST_INIT(&cs->addrs[i]);
	cs->head_timeout = c->head_timeout;
	cs->idle_timeout = c->client_timeout;
	/* Above the largest head: evhttp must still see one too large. */
	cs->watermark = c->max_header_bytes + 16384;
	if (conn_limits(cs, c, cause) != 0 ||
	    (cs->retry = evtimer_new(p->base, conn_retry_cb, cs)) == NULL) {
		if (*cause == NULL)
			*cause = util_printf("out of memory");
		conn_free(cs);
		return NULL;
	}
	cs->listener = evhttp_bound_socket_get_listener(bound);
	cs->accepting = 1;
	conn_table = cs;
	evconnlistener_set_error_cb(cs->listener, conn_accept_error_cb);
	evhttp_set_bevcb(http, conn_bev_cb, cs);
	conn_update(cs);
	return cs;
}

/* Before evhttp_free: the listener goes with it. */
void
conn_unlisten(struct conns *cs)
{
	if (cs == NULL)
		return;
	cs->listener = NULL;
	if (cs->retry != NULL)
		event_del(cs->retry);
}

/* After evhttp_free, which has closed every set-up connection. */
void
conn_free(struct conns *cs)
{
	struct conn	*c;
	size_t		 i;

	if (cs == NULL)
		return;
	cs->listener = NULL;
	while ((c = TAILQ_FIRST(&cs->starting)) != NULL) {
		bufferevent_decref(c->bev);
		conn_forget(c);
	}
	for (i = 0; i < cs->nbyfd; i++)
		if (cs->byfd[i] != NULL)
			conn_forget(cs->byfd[i]);
	if (cs->retry != NULL)
		event_free(cs->retry);
	free(cs->byfd);
	if (conn_table == cs)
		conn_table = NULL;
	free(cs);
}

/*
 * evhttp's idle timeout (client.timeout) on both directions while idle;
 * while busy on writing only. evhttp keeps reading while it answers, and
 * a read timeout would cut a client that reads a long answer steadily
 * but has nothing more to say: how long an answer may take is the
 * upstream's and the writing's business.
 */
static void
conn_timeouts(struct conn *c, int idle)
{
	struct timeval	tv = { c->conns->idle_timeout, 0 };

	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(c->evcon),
	    idle ? &tv : NULL, &tv);
}

/* The answer is sent: the connection waits for the next request. */
void
conn_request_done(struct conns *cs, struct evhttp_request *req)
{
	struct conn	*c;

	c = conn_find(cs, evhttp_request_get_connection(req));
	if (c == NULL || c->state != CONN_BUSY)
		return;
	conn_set_state(c, CONN_IDLE);
	conn_idle_add(c);
	conn_timeouts(c, 1);
	conn_deadline(c, c->conns->idle_timeout + c->conns->head_timeout);
	conn_update(c->conns);
}

/* A complete request arrived: the connection is busy until answered. */
void
conn_request(struct conns *cs, struct evhttp_request *req)
{
	struct conn	*c;

	if ((c = conn_find(cs, evhttp_request_get_connection(req))) == NULL)
		return;
	if (c->state == CONN_IDLE)
		conn_idle_remove(c);
	conn_set_state(c, CONN_BUSY);
	event_del(c->ev);
	conn_timeouts(c, 0);
	conn_update(cs);
}

/*
 * Another file's close callback for a connection: evhttp has one, which
 * is this file's, so it is called from there. cb NULL removes it.
 */
void
conn_set_closecb(struct conns *cs, struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct conn	*c;

	if ((c = conn_find(cs, evcon)) == NULL) {
		evhttp_connection_set_closecb(evcon, cb, arg);
		return;
	}
	c->closecb = cb;
	c->closearg = arg;
}
