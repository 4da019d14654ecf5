/*
 * Who may use the proxy, and which entry. Three checks, in this order:
 *
 * - the listener's allow-list (`clients`), before anything else a request
 *   does; a listener on a non-loopback address must have one;
 * - an entry's own `clients`, once the request has chosen its entry;
 * - an entry's `client_credentials`: HTTP Basic, checked against bcrypt
 *   hashes (htpasswd.c).
 *
 * bcrypt costs tens of milliseconds, so it never runs on the event loop:
 * one worker thread checks, and a result is remembered for a while, keyed
 * by a salted SHA-256 of what the client presented (entry, user and
 * password). A client pays one bcrypt, and its request waits for it
 * without holding anyone else; identical credentials arriving meanwhile
 * wait for the same check. The waiting request is then dispatched again
 * from the start (resume), and this time finds the result.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "proxy.h"

#define ACCESS_MAGIC		0x61636373
#define ACCESS_SLOTS		256	/* remembered results */
#define ACCESS_OK_TTL		600	/* seconds a verified password counts */
#define ACCESS_BAD_TTL		30	/* seconds a refused one is remembered */
#define ACCESS_JOBS_MAX		32	/* bcrypt checks queued or running */
#define ACCESS_KEY_LEN		DIGEST_HEX_LEN
#define ACCESS_REALM		"Basic realm=\"pullgate\", charset=\"UTF-8\""

struct access_slot {
	unsigned char	 key[ACCESS_KEY_LEN];
	int		 ok;
	time_t		 until;		/* 0: empty */
};

struct access_job;

/* A request waiting for a check. */
struct access_waiter {
	struct evhttp_request		*req;	/* NULL once gone */
	struct evhttp_connection	*evcon;
	TAILQ_ENTRY(access_waiter)	 entry;
};

/*
 * One bcrypt check. The worker reads hash and password and writes ok;
 * the loop owns waiters. Which list it is on (queue, finished) is under
 * the lock; lentry (every job not yet collected) is the loop's.
 */
struct access_job {
	unsigned char			 key[ACCESS_KEY_LEN];
	char				 hash[HTPASSWD_HASH_MAX];
	char				 password[BASICAUTH_MAX];
	int				 known;	/* the user exists */
	int				 ok;
	TAILQ_HEAD(, access_waiter)	 waiters;
	TAILQ_ENTRY(access_job)		 entry;
	TAILQ_ENTRY(access_job)		 lentry;
};
TAILQ_HEAD(access_jobs, access_job);

struct access {
	unsigned		 magic;
	struct proxy		*proxy;
	void			(*resume)(struct evhttp_request *, void *);
	void			*resume_arg;
	unsigned char		 salt[32];
	struct access_slot	 slots[ACCESS_SLOTS];
	struct access_jobs	 jobs;		/* loop: not yet collected */
	size_t			 njobs;
	int			 pipe[2];	/* worker -> loop: done */
	struct event		*done_ev;
	int			 started;	/* the thread runs */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct access_jobs	 queue;		/* locked: for the worker */
	struct access_jobs	 finished;	/* locked: for the loop */
	int			 stopping;	/* locked */
};

static void	access_job_free(struct access *, struct access_job *);

/* The worker: one bcrypt at a time, until told to stop. */
static void *
access_worker(void *arg)
{
	struct access		*a = arg;
	struct access_job	*j;
	int			 ok;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->stopping && TAILQ_EMPTY(&a->queue))
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stopping)
			break;
		j = TAILQ_FIRST(&a->queue);
		TAILQ_REMOVE(&a->queue, j, entry);
		pthread_mutex_unlock(&a->lock);
		ok = htpasswd_check(j->hash, j->password);
		pthread_mutex_lock(&a->lock);
		j->ok = ok;
		TAILQ_INSERT_TAIL(&a->finished, j, entry);
		/* A full pipe already says there is something to collect. */
		if (write(a->pipe[1], "", 1) == -1 && errno != EAGAIN)
			log_warn("%s: %s", __func__, strerror(errno));
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* The peer's address as text, for the logs. */
static const char *
access_peer(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	char				*addr = NULL;
	ev_uint16_t			 port;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	return addr != NULL ? addr : "?";
}

static const struct sockaddr *
access_addr(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);

	return evcon != NULL ? evhttp_connection_get_addr(evcon) : NULL;
}

/* Whether every address listen_host stands for is a loopback address. */
static int
access_listen_loopback(const char *host, char **cause)
{
	struct addrinfo	 hints, *res, *ai;
	int		 rc, loopback = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host, "0", &hints, &res)) != 0) {
		*cause = util_printf("listen address %s: %s", host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (!prefix_loopback(ai->ai_addr))
			loopback = 0;
	freeaddrinfo(res);
	return loopback;
}

static void	access_done_cb(evutil_socket_t, short, void *);

/*
 * Whether configuration c may be in force: a listener on an address that
 * is not loopback needs 'clients'. -1 with *cause.
 */
int
access_check(const struct config *c, char **cause)
{
	int	lo;

	if ((lo = access_listen_loopback(c->listen_host, cause)) == -1)
		return -1;
	if (!lo && c->nclients == 0) {
		*cause = util_printf("listening on %s, which is not a loopback "
		    "address, needs 'clients': the addresses or prefixes that may "
		    "pull with this device's credentials (see \"Trust model\" in "
		    "the README)", c->listen_host);
		return -1;
	}
	return 0;
}

/*
 * The checking thread, started the first time an entry asks for client
 * credentials (at start or at a reload). -1 with *cause.
 */
static int
access_worker_start(struct access *a, char **cause)
{
	struct proxy	*p = a->proxy;

	if (a->started)
		return 0;
	if (getrandom(a->salt, sizeof a->salt, 0) != (ssize_t)sizeof a->salt ||
	    pipe2(a->pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (a->done_ev = event_new(p->base, a->pipe[0], EV_READ | EV_PERSIST,
	    access_done_cb, a)) == NULL || event_add(a->done_ev, NULL) != 0) {
		*cause = util_printf("client credentials: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	if ((errno = pthread_create(&a->thread, NULL, access_worker, a)) != 0) {
		*cause = util_printf("client credentials: cannot start the "
		    "checking thread: %s", strerror(errno));
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->cond);
		return -1;
	}
	a->started = 1;
	return 0;
}

/* Whether an entry of c asks its clients for credentials. */
static int
access_needs_worker(const struct config *c)
{
	size_t	i;

	for (i = 0; i < c->registries.count; i++)
		if (c->registries.entries[i].client_users != NULL)
			return 1;
	for (i = 0; i < c->feeds.count; i++)
		if (c->feeds.entries[i].client_users != NULL)
			return 1;
	return 0;
}

/*
 * Makes ready for credential checks. resume(req, arg) dispatches a
 * request again once its check is done. -1 with *cause.
 */
int
access_start(struct proxy *p, void (*resume)(struct evhttp_request *, void *),
    void *arg, char **cause)
{
	struct access	*a;

	if (access_check(p->config, cause) != 0)
		return -1;
	if ((a = calloc(1, sizeof *a)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	a->magic = ACCESS_MAGIC;
	a->proxy = p;
	a->resume = resume;
	a->resume_arg = arg;
	a->pipe[0] = a->pipe[1] = -1;
	TAILQ_INIT(&a->jobs);
	TAILQ_INIT(&a->queue);
	TAILQ_INIT(&a->finished);
	p->access = a;
	if (!access_needs_worker(p->config))
		return 0;
	return access_worker_start(a, cause);
}

/*
 * A new configuration is in force: remembered answers go (a credentials
 * file may have changed), and the thread starts if an entry now asks.
 */
int
access_reload(struct proxy *p, char **cause)
{
	struct access	*a = p->access;

	memset(a->slots, 0, sizeof a->slots);
	if (!access_needs_worker(p->config))
		return 0;
	return access_worker_start(a, cause);
}

/*
 * Stops the worker and frees what waits. Called once the HTTP server is
 * freed: the requests still waiting are gone with their connections.
 */
void
access_stop(struct proxy *p)
{
	struct access		*a = p->access;
	struct access_job	*j;

	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->lock);
		a->stopping = 1;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->cond);
	}
	while ((j = TAILQ_FIRST(&a->jobs)) != NULL)
		access_job_free(a, j);
	if (a->done_ev != NULL)
		event_free(a->done_ev);
	if (a->pipe[0] != -1)
		close(a->pipe[0]);
	if (a->pipe[1] != -1)
		close(a->pipe[1]);
	explicit_bzero(a->salt, sizeof a->salt);
	explicit_bzero(a->slots, sizeof a->slots);
	a->magic = 0;
	free(a);
	p->access = NULL;
}

/* The request is answered: refused, with the reason, never the list. */
static void
access_refuse(struct evhttp_request *req, const struct registry *r,
    const char *message)
{
	stats_add(STATS_ACCESS_REFUSED_ADDRESS, 1);
	log_info("refused: client %s may not use %s%s%s", access_peer(req),
	    r != NULL ? "entry '" : "the proxy", r != NULL ? r->name : "",
	    r != NULL ? "'" : "");
	if (r != NULL && r->is_feed)
		reply_text(req, 403, message);
	else
		reply_error(req, 403, "DENIED", message);
}

/* 401 with the Basic challenge that makes clients send credentials. */
static void
access_challenge(struct evhttp_request *req, const struct registry *r,
    const char *message)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", ACCESS_REALM);
	if (r != NULL && r->is_feed)
		reply_text(req, 401, message);
	else
		reply_error(req, 401, "UNAUTHORIZED", message);
}

/*
 * The listener's allow-list, checked before the request does anything
 * else. 0: go on; -1: refused, answered.
 */
int
access_client(struct proxy *p, struct evhttp_request *req)
{
	const struct config	*c = p->config;

	if (c->nclients == 0 ||
	    prefix_match_list(c->clients, c->nclients, access_addr(req)))
		return 0;
	access_refuse(req, NULL, "this client address may not use this proxy");
	return -1;
}

/* Whether the peer passes entry r's own clients list. */
static int
access_entry_address(const struct registry *r, const struct sockaddr *sa)
{
	return r->nclients == 0 || prefix_match_list(r->clients, r->nclients, sa);
}

/*
 * The key a result is remembered by: SHA-256 of the salt, the entry, the
 * user and the password, so the password itself is never kept.
 */
static int
access_key(struct access *a, const struct registry *r, const char *user,
    const char *password, unsigned char *key)
{
	unsigned char	 buf[sizeof a->salt + REGISTRY_NAME_MAX + 2 * BASICAUTH_MAX];
	struct digest	 d;
	size_t		 n = 0, len;
	int		 rc;

	memcpy(buf, a->salt, sizeof a->salt);
	n += sizeof a->salt;
	len = strlen(r->name) + 1;
	memcpy(buf + n, r->name, len);
	n += len;
	len = strlen(user) + 1;
	memcpy(buf + n, user, len);
	n += len;
	len = strlen(password);
	memcpy(buf + n, password, len);
	n += len;
	rc = hash_buffer(buf, n, &d);
	explicit_bzero(buf, sizeof buf);
	memcpy(key, d.hex, ACCESS_KEY_LEN);
	explicit_bzero(&d, sizeof d);
	return rc;
}

/* Compares every slot whole, so the time taken does not depend on key. */
static struct access_slot *
access_lookup(struct access *a, const unsigned char *key, time_t now)
{
	struct access_slot	*found = NULL, *s;
	unsigned char		 diff;
	size_t			 i, k;

	for (i = 0; i < ACCESS_SLOTS; i++) {
		s = &a->slots[i];
		diff = 0;
		for (k = 0; k < ACCESS_KEY_LEN; k++)
			diff |= (unsigned char)(s->key[k] ^ key[k]);
		if (diff == 0 && s->until > now)
			found = s;
	}
	return found;
}

/* Remembers a result, in place of the one that expires first. */
static void
access_remember(struct access *a, const unsigned char *key, int ok,
    time_t now)
{
	struct access_slot	*s = &a->slots[0];
	size_t			 i;

	for (i = 1; i < ACCESS_SLOTS; i++)
		if (a->slots[i].until < s->until)
			s = &a->slots[i];
	memcpy(s->key, key, ACCESS_KEY_LEN);
	s->ok = ok;
	s->until = now + (ok ? ACCESS_OK_TTL : ACCESS_BAD_TTL);
}

/*
 * The client's connection is going away while its request waits. If
 * libevent detached the request (the client left), it is ours to free;
 * if not (the server is being freed), libevent frees it after this.
 */
static void
access_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct access_waiter	*w = arg;

	(void)evcon;
	if (w->req != NULL && evhttp_request_get_connection(w->req) == NULL)
		evhttp_request_free(w->req);
	w->req = NULL;
	w->evcon = NULL;
}

static void
access_job_free(struct access *a, struct access_job *j)
{
	struct access_waiter	*w;

	while ((w = TAILQ_FIRST(&j->waiters)) != NULL) {
		TAILQ_REMOVE(&j->waiters, w, entry);
		if (w->evcon != NULL)
			evhttp_connection_set_closecb(w->evcon, NULL, NULL);
		if (w->req != NULL && evhttp_request_get_connection(w->req) == NULL)
			evhttp_request_free(w->req);
		free(w);
	}
	TAILQ_REMOVE(&a->jobs, j, lentry);
	a->njobs--;
	explicit_bzero(j, sizeof *j);
	free(j);
}

/* Checks are done: remember them and dispatch their requests again. */
static void
access_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct access		*a = arg;
	struct access_jobs	 done;
	struct access_job	*j;
	struct access_waiter	*w;
	struct evhttp_request	*req;
	char			 buf[64];
	time_t			 now = time(NULL);

	(void)what;
	if (a->magic != ACCESS_MAGIC)
		fatal("%s: bad magic", __func__);
	while (read(fd, buf, sizeof buf) > 0)
		;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&a->lock);
	TAILQ_CONCAT(&done, &a->finished, entry);
	pthread_mutex_unlock(&a->lock);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		stats_add(STATS_ACCESS_BCRYPT_RUNS, 1);
		access_remember(a, j->key, j->ok && j->known, now);
		while ((w = TAILQ_FIRST(&j->waiters)) != NULL) {
			TAILQ_REMOVE(&j->waiters, w, entry);
			req = w->req;
			if (w->evcon != NULL)
				evhttp_connection_set_closecb(w->evcon, NULL, NULL);
			free(w);
			if (req == NULL)
				continue;
			if (evhttp_request_get_connection(req) == NULL)
				evhttp_request_free(req);
			else
				a->resume(req, a->resume_arg);
		}
		access_job_free(a, j);
	}
}

/* Queues a check of user and password for r, or joins one in flight. */
static int
access_wait(struct access *a, struct evhttp_request *req,
    const struct registry *r, const unsigned char *key, const char *user,
    const char *password)
{
	struct access_job	*j;
	struct access_waiter	*w;
	int			 fresh = 0;

	TAILQ_FOREACH(j, &a->jobs, lentry)
		if (memcmp(j->key, key, ACCESS_KEY_LEN) == 0)
			break;
	if (j == NULL) {
		if (a->njobs >= ACCESS_JOBS_MAX)
			return -1;
		if ((j = calloc(1, sizeof *j)) == NULL)
			return -1;
		memcpy(j->key, key, ACCESS_KEY_LEN);
		j->known = htpasswd_hash(r->client_users, user, j->hash) == 0;
		util_strlcpy(j->password, password, sizeof j->password);
		TAILQ_INIT(&j->waiters);
		TAILQ_INSERT_TAIL(&a->jobs, j, lentry);
		a->njobs++;
		fresh = 1;
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		if (fresh)
			access_job_free(a, j);
		return -1;
	}
	w->req = req;
	w->evcon = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(w->evcon, access_close_cb, w);
	TAILQ_INSERT_TAIL(&j->waiters, w, entry);
	if (fresh) {
		pthread_mutex_lock(&a->lock);
		TAILQ_INSERT_TAIL(&a->queue, j, entry);
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
	}
	return 0;
}

/* The client credentials entry r requires. */
static int
access_credentials(struct access *a, struct evhttp_request *req,
    const struct registry *r)
{
	struct access_slot	*s;
	const char		*h;
	char			 user[BASICAUTH_MAX], password[BASICAUTH_MAX];
	unsigned char		 key[ACCESS_KEY_LEN];
	int			 rc;

	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || basicauth_parse(h, user, password) != 0) {
		if (h != NULL)
			stats_add(STATS_ACCESS_REFUSED_CREDENTIALS, 1);
		access_challenge(req, r, "this entry requires client credentials "
		    "(HTTP Basic)");
		return ACCESS_ANSWERED;
	}
	rc = access_key(a, r, user, password, key);
	if (rc == 0 && (s = access_lookup(a, key, time(NULL))) != NULL)
		rc = s->ok ? ACCESS_ALLOWED : ACCESS_ANSWERED;
	else if (rc == 0 && access_wait(a, req, r, key, user, password) == 0)
		rc = ACCESS_PENDING;
	else {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		reply_error(req, 503, "UNAVAILABLE", "too many credential checks "
		    "at once; retry");
		rc = ACCESS_ANSWERED;
		goto out;
	}
	if (rc == ACCESS_ALLOWED)
		stats_add(STATS_ACCESS_ACCEPTED_CREDENTIALS, 1);
	else if (rc == ACCESS_ANSWERED) {
		stats_add(STATS_ACCESS_REFUSED_CREDENTIALS, 1);
		log_info("refused: client %s: wrong credentials for entry '%s'",
		    access_peer(req), r->name);
		access_challenge(req, r, "wrong client credentials for this entry");
	}
out:
	explicit_bzero(password, sizeof password);
	explicit_bzero(key, sizeof key);
	return rc;
}

/*
 * Whether this request's client may use entry r, once routing chose it.
 * ACCESS_ALLOWED: go on. ACCESS_ANSWERED: refused (403, or 401 with a
 * Basic challenge). ACCESS_PENDING: its credentials are being checked;
 * the request is dispatched again when they are, and the caller leaves
 * it alone.
 *
 * The local entry answers from every entry's tags, so it is no more open
 * than the most closed of them: a client may use it only if it may use
 * every registry entry by address, and not at all while an entry asks
 * for client credentials.
 */
int
access_entry(struct proxy *p, struct evhttp_request *req,
    const struct registry *r)
{
	struct registry_table	*t = &p->config->registries;
	const struct sockaddr	*sa = access_addr(req);
	size_t			 i;

	if (!access_entry_address(r, sa)) {
		access_refuse(req, r, "this client may not use this entry");
		return ACCESS_ANSWERED;
	}
	if (r->is_local) {
		for (i = 0; i < t->count; i++) {
			if (!access_entry_address(&t->entries[i], sa)) {
				access_refuse(req, r, "this client may not use "
				    "every entry, so not the local one");
				return ACCESS_ANSWERED;
			}
			if (t->entries[i].client_users != NULL) {
				access_refuse(req, r, "the local entry is closed "
				    "while an entry requires client credentials");
				return ACCESS_ANSWERED;
			}
		}
	}
	if (r->client_users == NULL)
		return ACCESS_ALLOWED;
	return access_credentials(p->access, req, r);
}

/*
 * GET /v2/ names no entry. Clients that authenticate (docker, podman,
 * skopeo) learn there whether to send credentials, so it answers 401
 * with the Basic challenge when the request has none and an entry this
 * client may reach requires them. 0: go on; -1: answered.
 */
int
access_ping(struct proxy *p, struct evhttp_request *req)
{
	struct registry_table	*t = &p->config->registries;
	const struct sockaddr	*sa = access_addr(req);
	size_t			 i;

	if (evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization") != NULL)
		return 0;
	for (i = 0; i < t->count; i++) {
		if (t->entries[i].client_users != NULL &&
		    access_entry_address(&t->entries[i], sa)) {
			access_challenge(req, NULL, "an entry requires client "
			    "credentials (HTTP Basic)");
			return -1;
		}
	}
	return 0;
}
