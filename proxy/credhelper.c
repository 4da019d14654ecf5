/*
 * Credentials from outside the configuration, kept fresh for upstream.c:
 *
 *   credential_helper  runs "docker-credential-NAME get" (found on the
 *                      daemon's PATH) with the server URL on its standard
 *                      input, as docker does; its JSON answer is the
 *                      entry's username and password for at most
 *                      credential_lifetime seconds: in the last fifth a
 *                      request starts a run in the background and goes
 *                      on with the pair in use; after it, requests wait
 *   docker_config      a config.json, read again when it changes
 *
 * A helper runs as a child process whose output the event loop reads: the
 * loop never waits for it. It is killed (its whole process group) after
 * credential_timeout seconds or DOCKERCRED_OUTPUT_MAX bytes; requests of
 * the entry that need it meanwhile wait on that one run. A failed run is
 * not repeated for CREDHELPER_RETRY_SECONDS: requests fail at once with
 * its reason. A pair an upstream refused (a 401) is asked for again, once
 * per request (upstream.c). Neither the answer nor the secret is ever
 * logged; the helper's own error message is, unless its first line has a
 * "{" (an answer, maybe after a byte-order mark).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "proxy.h"

#define CREDHELPER_MAGIC	0x43524448	/* "CRDH" */
#define CREDHELPER_RETRY_SECONDS 5
#define CREDHELPER_REAP_MS	20

extern char **environ;

struct credhelper_waiter {
	TAILQ_ENTRY(credhelper_waiter) entry;
	credhelper_cb		 cb;
	void			*arg;
};

/* One run of a helper for one entry. */
struct credhelper_run {
	unsigned		 magic;
	TAILQ_ENTRY(credhelper_run) entry;
	struct credhelpers	*ch;
	struct registry		*registry;
	pid_t			 pid;		/* -1 once reaped */
	int			 status;	/* waitpid's */
	int			 fd;		/* its standard output; -1 closed */
	struct event		*read_ev, *deadline_ev, *reap_ev;
	char			*out;		/* DOCKERCRED_OUTPUT_MAX bytes */
	size_t			 len;
	TAILQ_HEAD(, credhelper_waiter) waiters;
};

struct credhelpers {
	struct proxy			*proxy;
	TAILQ_HEAD(, credhelper_run)	 runs;
};

struct credhelpers *
credhelpers_new(struct proxy *p)
{
	struct credhelpers	*ch;

	if ((ch = calloc(1, sizeof *ch)) == NULL)
		return NULL;
	ch->proxy = p;
	TAILQ_INIT(&ch->runs);
	return ch;
}

/* No helper is running (retired entries may be freed). */
int
credhelpers_idle(const struct credhelpers *ch)
{
	return TAILQ_EMPTY(&ch->runs);
}

/* Kills the process group, and reaps the helper (it cannot refuse). */
static void
credhelper_kill(struct credhelper_run *run)
{
	if (run->pid <= 0)
		return;
	kill(-run->pid, SIGKILL);
	while (waitpid(run->pid, &run->status, 0) == -1 && errno == EINTR)
		;
	run->pid = -1;
}

/* Frees a run already taken off the list of runs. */
static void
credhelper_run_free(struct credhelper_run *run)
{
	struct credhelper_waiter	*w;

	credhelper_kill(run);
	while ((w = TAILQ_FIRST(&run->waiters)) != NULL) {
		TAILQ_REMOVE(&run->waiters, w, entry);
		free(w);
	}
	if (run->read_ev != NULL)
		event_free(run->read_ev);
	if (run->deadline_ev != NULL)
		event_free(run->deadline_ev);
	if (run->reap_ev != NULL)
		event_free(run->reap_ev);
	if (run->fd != -1)
		close(run->fd);
	if (run->out != NULL) {
		explicit_bzero(run->out, DOCKERCRED_OUTPUT_MAX);
		free(run->out);
	}
	run->magic = 0;
	free(run);
}

/* At shutdown: running helpers are killed; nobody waits any more. */
void
credhelpers_free(struct credhelpers *ch)
{
	struct credhelper_run	*run;

	if (ch == NULL)
		return;
	while ((run = TAILQ_FIRST(&ch->runs)) != NULL) {
		TAILQ_REMOVE(&ch->runs, run, entry);
		credhelper_run_free(run);
	}
	free(ch);
}

/* A failure of entry r's helper: logged, counted, held for a while. */
static void
credhelper_failed(struct registry *r, enum stats_counter reason,
    const char *fmt, const char *detail)
{
	char	why[160];

	snprintf(why, sizeof why, fmt, detail);
	snprintf(r->cred.error, sizeof r->cred.error, "credential helper "
	    "docker-credential-%s: %s", r->credential_helper, why);
	r->cred.failed_until = time(NULL) + CREDHELPER_RETRY_SECONDS;
	stats_add(reason, 1);
	log_error("registry '%s': %s", r->name, r->cred.error);
}

/*
 * The first line of a failed helper's output (its error message, by the
 * protocol), printable and short, into buf; nothing if it has a '{' (it
 * may be an answer, whatever comes before it: a byte-order mark, a CR).
 */
static void
credhelper_message(const struct credhelper_run *run, char *buf, size_t len)
{
	size_t	i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < run->len && run->out[i] != '\n'; i++)
		if (run->out[i] == '{')
			return;
	for (i = 0; i < run->len && (run->out[i] == ' ' || run->out[i] == '\t');
	    i++)
		;
	for (; i < run->len && run->out[i] != '\n' && n + 1 < len; i++) {
		buf[n++] = (run->out[i] >= 0x20 && run->out[i] < 0x7f) ?
		    run->out[i] : '?';
	}
	buf[n] = '\0';
}

/*
 * The run is over (reaped): its answer becomes the entry's pair, or its
 * failure is recorded; then every waiter learns which, and it is freed.
 */
static void
credhelper_finish(struct credhelper_run *run, enum stats_counter reason,
    const char *failure)
{
	struct registry			*r = run->registry;
	struct credhelper_waiter	*w;
	char				 user[sizeof r->username], msg[128];
	char				 detail[200], *secret = NULL, *why = NULL;

	/* Off the list first: a request made from a callback runs anew. */
	TAILQ_REMOVE(&run->ch->runs, run, entry);
	if (failure != NULL)
		credhelper_failed(r, reason, "%s", failure);
	else if (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0) {
		credhelper_message(run, msg, sizeof msg);
		if (WIFEXITED(run->status))
			snprintf(detail, sizeof detail, "exited with status %d%s%s",
			    WEXITSTATUS(run->status), msg[0] != '\0' ? ": " : "",
			    msg);
		else
			snprintf(detail, sizeof detail, "killed by signal %d",
			    WTERMSIG(run->status));
		credhelper_failed(r, STATS_CREDHELPER_FAILED_EXIT, "%s", detail);
	} else if (dockercred_parse_answer(run->out, run->len, user, sizeof user,
	    &secret, &why) != 0) {
		credhelper_failed(r, STATS_CREDHELPER_FAILED_ANSWER, "%s", why);
		free(why);
	} else {
		memcpy(r->username, user, sizeof r->username);
		secret_free(r->password);
		r->password = secret;
		r->cred.since = time(NULL);
		r->cred.gen++;
		r->cred.stale = 0;
		r->cred.failed_until = 0;
		r->cred.error[0] = '\0';
		log_info("registry '%s': credentials from docker-credential-%s "
		    "(user %s), used for %d s", r->name, r->credential_helper,
		    r->username, r->credential_lifetime);
	}
	explicit_bzero(user, sizeof user);
	while ((w = TAILQ_FIRST(&run->waiters)) != NULL) {
		TAILQ_REMOVE(&run->waiters, w, entry);
		w->cb(r->cred.failed_until != 0 ? r->cred.error : NULL, w->arg);
		free(w);
	}
	credhelper_run_free(run);
}

/* Whether the helper has exited; reaps it if so. */
static int
credhelper_reaped(struct credhelper_run *run)
{
	pid_t	pid;

	while ((pid = waitpid(run->pid, &run->status, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (pid == run->pid || pid == -1) {
		if (pid == -1)		/* cannot happen: it is our child */
			run->status = 0x7f00;	/* as "exited 127" */
		run->pid = -1;
		return 1;
	}
	return 0;
}

static void
credhelper_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct credhelper_run	*run = arg;
	struct timeval		 tv = { 0, CREDHELPER_REAP_MS * 1000 };

	(void)fd;
	(void)what;
	if (credhelper_reaped(run))
		credhelper_finish(run, 0, NULL);
	else
		evtimer_add(run->reap_ev, &tv);
}

static void
credhelper_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct credhelper_run	*run = arg;
	char			 why[64];

	(void)fd;
	(void)what;
	credhelper_kill(run);
	snprintf(why, sizeof why, "no answer within %d s: killed",
	    run->registry->credential_timeout);
	credhelper_finish(run, STATS_CREDHELPER_FAILED_TIMEOUT, why);
}

/* Output arrived, or the end of it; more than the maximum kills it. */
static void
credhelper_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct credhelper_run	*run = arg;
	char			 extra;
	ssize_t			 n;

	(void)what;
	if (run->len < DOCKERCRED_OUTPUT_MAX)
		n = read(fd, run->out + run->len, DOCKERCRED_OUTPUT_MAX - run->len);
	else
		n = read(fd, &extra, 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && run->len < DOCKERCRED_OUTPUT_MAX) {
		run->len += (size_t)n;
		return;
	}
	if (n > 0) {
		credhelper_kill(run);
		credhelper_finish(run, STATS_CREDHELPER_FAILED_ANSWER,
		    "its answer is larger than the maximum: killed");
		return;
	}
	/* The end (or an error reading): wait for its exit. */
	event_del(run->read_ev);
	close(run->fd);
	run->fd = -1;
	credhelper_reap_cb(-1, 0, run);
}

/*
 * Starts entry r's helper with the server URL on its standard input.
 * NULL with the failure recorded (r->cred.error) if it cannot start.
 */
static struct credhelper_run *
credhelper_spawn(struct credhelpers *ch, struct registry *r)
{
	struct credhelper_run		*run;
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 def, none;
	struct timeval			 tv = { r->credential_timeout, 0 };
	char				 prog[REGISTRY_NAME_MAX + 32];
	char				*argv[3];
	const char			*url = dockercred_server(r);
	int				 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int				 err;

	snprintf(prog, sizeof prog, "docker-credential-%s", r->credential_helper);
	argv[0] = prog;
	argv[1] = (char *)"get";
	argv[2] = NULL;
	if ((run = calloc(1, sizeof *run)) == NULL ||
	    (run->out = malloc(DOCKERCRED_OUTPUT_MAX)) == NULL ||
	    pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		err = errno;
		goto fail;
	}
	run->magic = CREDHELPER_MAGIC;
	run->ch = ch;
	run->registry = r;
	run->fd = out[0];
	TAILQ_INIT(&run->waiters);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);	/* the daemon ignores it; a child must not */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);	/* killed as a group */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = posix_spawnp(&run->pid, prog, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (err != 0) {
		run->pid = -1;
		goto fail;
	}
	stats_add(STATS_CREDHELPER_RUNS, 1);
	log_debug("%s: registry '%s': %s get (%s), pid %ld", __func__, r->name,
	    prog, url, (long)run->pid);
	/* A few hundred bytes into an empty pipe: never blocks. */
	if (write(in[1], url, strlen(url)) == -1)
		log_debug("%s: %s: %s", __func__, prog, strerror(errno));
	close(in[1]);
	in[1] = -1;
	if (fcntl(run->fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (run->read_ev = event_new(ch->proxy->base, run->fd,
	    EV_READ | EV_PERSIST, credhelper_read_cb, run)) == NULL ||
	    (run->deadline_ev = evtimer_new(ch->proxy->base,
	    credhelper_deadline_cb, run)) == NULL ||
	    (run->reap_ev = evtimer_new(ch->proxy->base, credhelper_reap_cb,
	    run)) == NULL || event_add(run->read_ev, NULL) != 0 ||
	    evtimer_add(run->deadline_ev, &tv) != 0) {
		credhelper_run_free(run);
		credhelper_failed(r, STATS_CREDHELPER_FAILED_START, "%s",
		    "cannot watch it (out of memory)");
		return NULL;
	}
	TAILQ_INSERT_TAIL(&ch->runs, run, entry);
	return run;
fail:
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (out[0] != -1)
		close(out[0]);
	if (out[1] != -1)
		close(out[1]);
	if (run != NULL)
		free(run->out);
	free(run);
	credhelper_failed(r, STATS_CREDHELPER_FAILED_START,
	    err == ENOENT ? "%s" : "cannot run it: %s", err == ENOENT ?
	    "not found on the daemon's PATH" : strerror(err));
	return NULL;
}

/*
 * Makes entry r's username and password usable for a request: 0 they
 * are (or the entry takes none from outside); 1 a helper runs, and cb
 * will be called (error NULL: ready) unless credhelper_forget'd by *wp;
 * -1
 * with *cause (no secret) if there are none.
 */
int
credhelper_ready(struct credhelpers *ch, struct registry *r, credhelper_cb cb,
    void *arg, struct credhelper_waiter **wp, char **cause)
{
	struct credhelper_run		*run;
	struct credhelper_waiter	*w;
	char				*why = NULL;
	time_t				 now = time(NULL);

	*wp = NULL;
	if (!registry_cred_outside(r))
		return 0;
	if (r->docker_config[0] != '\0') {
		if (dockercred_load(r, &why) < 0) {
			stats_add(STATS_DOCKER_CONFIG_FAILURES, 1);
			log_error("registry '%s': %s", r->name, why);
			free(why);
		}
		if (r->password != NULL)
			return 0;
		*cause = util_printf("no usable credentials in its docker_config");
		return -1;
	}
	TAILQ_FOREACH(run, &ch->runs, entry)
		if (run->registry == r)
			break;
	if (r->password != NULL && !r->cred.stale &&
	    now - r->cred.since < r->credential_lifetime) {
		/* The last fifth of its life: a new pair is asked for meanwhile. */
		if (run == NULL && r->cred.failed_until <= now &&
		    now - r->cred.since >= r->credential_lifetime -
		    r->credential_lifetime / 5)
			(void)credhelper_spawn(ch, r);
		return 0;
	}
	if (run == NULL) {
		if (r->cred.failed_until > now) {
			*cause = util_printf("%s", r->cred.error);
			return -1;
		}
		if ((run = credhelper_spawn(ch, r)) == NULL) {
			*cause = util_printf("%s", r->cred.error);
			return -1;
		}
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&run->waiters, w, entry);
	*wp = w;
	return 1;
}

/*
 * An upstream refused entry r's pair of generation gen (a 401): whether
 * asking again may help. A newer pair may be there already; a helper's
 * pair is asked for again at the next credhelper_ready; a config.json is
 * read again if it changed.
 */
int
credhelper_refused(struct credhelpers *ch, struct registry *r, unsigned gen)
{
	char	*why = NULL;

	(void)ch;
	if (!registry_cred_outside(r))
		return 0;
	if (r->cred.gen != gen)
		return 1;
	stats_add(STATS_CRED_REFUSED, 1);
	log_info("registry '%s': the upstream refused its credentials; "
	    "asking %s again", r->name, r->credential_helper[0] != '\0' ?
	    "the credential helper" : "the docker_config");
	if (r->credential_helper[0] != '\0') {
		r->cred.stale = 1;
		return 1;
	}
	if (dockercred_load(r, &why) < 0) {
		stats_add(STATS_DOCKER_CONFIG_FAILURES, 1);
		log_error("registry '%s': %s", r->name, why);
		free(why);
	}
	return r->cred.gen != gen;
}

/* The waiter's request went away: its callback will not run. */
void
credhelper_forget(struct credhelpers *ch, struct credhelper_waiter *w)
{
	struct credhelper_run		*run;
	struct credhelper_waiter	*x;

	TAILQ_FOREACH(run, &ch->runs, entry) {
		TAILQ_FOREACH(x, &run->waiters, entry) {
			if (x == w) {
				TAILQ_REMOVE(&run->waiters, w, entry);
				free(w);
				return;
			}
		}
	}
}
