/*
 * pullgate prefill: fetches images into the cache on purpose, through the
 * daemon (so they land exactly as a pull would put them), and pins them.
 * With no daemon running, it starts one of its own on the configured
 * cache for the duration. A failure of one image is reported and the
 * others go on; the exit status says whether all succeeded.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PREFILL_MAX_PLATFORMS	16
#define PREFILL_JOBS		4	/* blobs fetched at once, by default */
#define PREFILL_JOBS_MAX	64
#define PREFILL_BLOBS_MAX	100000	/* of one image, all platforms */

/* The blobs of one image, each once: what the batch fetches. */
struct prefill_blobs {
	char		**paths;
	int64_t		 *sizes;
	int		 *items;	/* progress items */
	size_t		  n, cap;
};

struct prefill {
	struct config		*config;
	struct daemon_client	 dc;
	const char		*platforms[PREFILL_MAX_PLATFORMS];
	int			 nplatforms;
	int			 no_referrers;	/* --no-referrers */
	int			 referrers;	/* of the image in hand */
	int			 jobs;
	int64_t			 total;
	struct prefill_blobs	 blobs;
	struct progress		*progress;
};

static void
prefill_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate prefill [-c FILE] [--registry NAME|ID] [--listen HOST:PORT]\n"
"                        [--cache DIR] [--platform OS/ARCH[/VARIANT]]...\n"
"                        [--jobs N] [--no-referrers] (IMAGE... | -f LISTFILE)\n"
"       pullgate prefill --feed NAME [--dist SUITE] [--arch ARCH] PACKAGE...\n"
"\n"
"Fetches every IMAGE ([ENTRY/]REPOSITORY[:TAG]) into the cache — all\n"
"platforms, or those named with --platform — pins it, and prints its\n"
"digest. Its referrers (signatures, SBOMs: the OCI referrers API, or the\n"
"sha256-<hex> tag) come too and stay with it, unless --no-referrers.\n"
"LISTFILE has one IMAGE a line (# comments). Uses the daemon on\n"
"the listen address, or starts one on the cache directory when none runs.\n"
"Fetches an image's blobs N at once (--jobs, default 4); progress goes\n"
"to standard error, redrawn on a terminal, plain lines on a pipe.\n"
"Exits 1 if any image failed.\n"
"\n"
"With --feed: the feed's indexes (opkg: Packages.gz at its root; apt:\n"
"dists/SUITE/InRelease and the Packages and Translation-en files it lists\n"
"for ARCH and 'all') and the named packages with their dependencies, so\n"
"that apt-get or opkg install them offline. Feed files are never evicted.\n");
}

static void
prefill_blobs_free(struct prefill_blobs *b)
{
	size_t	i;

	for (i = 0; i < b->n; i++)
		free(b->paths[i]);
	free(b->paths);
	free(b->sizes);
	free(b->items);
	memset(b, 0, sizeof *b);
}

/* Adds the blob at path (size bytes) unless it is there already. */
static int
prefill_blobs_add(struct prefill_blobs *b, const char *path, int64_t size)
{
	size_t	 i, cap;
	void	*np;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->paths[i], path) == 0)
			return 0;
	if (b->n == PREFILL_BLOBS_MAX)
		return -1;
	if (b->n == b->cap) {
		cap = b->cap == 0 ? 16 : b->cap * 2;
		if ((np = reallocarray(b->paths, cap, sizeof *b->paths)) == NULL)
			return -1;
		b->paths = np;
		if ((np = reallocarray(b->sizes, cap, sizeof *b->sizes)) == NULL)
			return -1;
		b->sizes = np;
		if ((np = reallocarray(b->items, cap, sizeof *b->items)) == NULL)
			return -1;
		b->items = np;
		b->cap = cap;
	}
	if ((b->paths[b->n] = util_printf("%s", path)) == NULL)
		return -1;
	b->sizes[b->n] = size;
	b->items[b->n] = -1;
	b->n++;
	return 0;
}

static void
prefill_started_cb(size_t i, void *arg)
{
	struct prefill	*p = arg;
	const char	*d = strrchr(p->blobs.paths[i], '/');
	char		 name[32];

	/* "sha256:" and 12 hex digits name a blob, as docker shows it. */
	snprintf(name, sizeof name, "%.19s", d != NULL ? d + 1 : "blob");
	p->blobs.items[i] = progress_start(p->progress, name, p->blobs.sizes[i]);
}

static void
prefill_bytes_cb(size_t i, size_t len, void *arg)
{
	struct prefill	*p = arg;

	progress_add(p->progress, p->blobs.items[i], (int64_t)len);
}

static void
prefill_ended_cb(size_t i, const char *error, void *arg)
{
	struct prefill	*p = arg;

	progress_end(p->progress, p->blobs.items[i], error == NULL);
}

static void
prefill_tick_cb(void *arg)
{
	struct prefill	*p = arg;

	progress_show(p->progress);
}

static int
prefill_platform_wanted(struct prefill *p, json_t *platform)
{
	const char	*os, *arch, *variant;
	char		 want[128];
	int		 i;

	if (p->nplatforms == 0)
		return 1;
	os = json_string_value(json_object_get(platform, "os"));
	arch = json_string_value(json_object_get(platform, "architecture"));
	variant = json_string_value(json_object_get(platform, "variant"));
	for (i = 0; i < p->nplatforms; i++) {
		snprintf(want, sizeof want, "%s/%s", os ? os : "", arch ? arch : "");
		if (strcmp(p->platforms[i], want) == 0)
			return 1;
		snprintf(want, sizeof want, "%s/%s/%s", os ? os : "", arch ? arch : "",
		    variant ? variant : "");
		if (strcmp(p->platforms[i], want) == 0)
			return 1;
	}
	return 0;
}

/* Lists one image manifest's config and layers, to be fetched. */
static int
prefill_manifest(struct prefill *p, const char *prefix, json_t *m, char **cause)
{
	json_t		*layers, *v;
	char		 path[1024];
	size_t		 i;
	const char	*d;

	layers = json_object_get(m, "layers");
	for (i = 0; i <= json_array_size(layers); i++) {
		v = (i == 0) ? json_object_get(m, "config") :
		    json_array_get(layers, i - 1);
		if ((d = json_string_value(json_object_get(v, "digest"))) == NULL)
			continue;
		snprintf(path, sizeof path, "%s/blobs/%s", prefix, d);
		if (prefill_blobs_add(&p->blobs, path,
		    json_integer_value(json_object_get(v, "size"))) != 0) {
			*cause = util_printf("too many blobs");
			return -1;
		}
	}
	return 0;
}

/*
 * The referrers of digest (signatures, SBOMs): the daemon's listing, then
 * each listed manifest with its config and layers. The daemon keeps the
 * listing; refs.c keeps them with the pinned image.
 */
static int
prefill_referrers(struct prefill *p, const char *prefix, const char *digest,
    char **cause)
{
	struct daemon_client_reply	 b, mb;
	json_t				*root = NULL, *v, *m;
	char				 path[1024];
	const char			*d;
	size_t				 i;
	int				 rc = -1;

	snprintf(path, sizeof path, "%s/referrers/%s", prefix, digest);
	if (daemon_client_get(&p->dc, path, PREFILL_BODY_MAX, &b, cause) != 0)
		goto out;
	if ((root = json_loads(b.body, 0, NULL)) == NULL) {
		*cause = util_printf("%s: not a JSON index", path);
		goto out;
	}
	json_array_foreach(json_object_get(root, "manifests"), i, v) {
		if ((d = json_string_value(json_object_get(v, "digest"))) == NULL)
			continue;
		snprintf(path, sizeof path, "%s/manifests/%s", prefix, d);
		if (daemon_client_get(&p->dc, path, PREFILL_BODY_MAX, &mb,
		    cause) != 0) {
			daemon_client_reply_free(&mb);
			goto out;
		}
		m = json_loads(mb.body, 0, NULL);
		daemon_client_reply_free(&mb);
		if (m == NULL) {
			*cause = util_printf("%s: not a JSON manifest", path);
			goto out;
		}
		if (prefill_manifest(p, prefix, m, cause) != 0) {
			json_decref(m);
			goto out;
		}
		json_decref(m);
		p->referrers++;
	}
	rc = 0;
out:
	if (rc != 0 && *cause != NULL) {
		char *c = util_printf("referrers: %s (--no-referrers skips them)",
		    *cause);

		free(*cause);
		*cause = c;
	}
	json_decref(root);
	daemon_client_reply_free(&b);
	return rc;
}

/*
 * Fetches the listed blobs through the daemon, p->jobs at once, with the
 * progress of image title.
 */
static int
prefill_fetch(struct prefill *p, const char *title, char **cause)
{
	struct daemon_client_batch	 b;
	size_t				 i;
	int				 rc;

	p->total = 0;
	for (i = 0; i < p->blobs.n; i++)
		p->total += p->blobs.sizes[i];
	memset(&b, 0, sizeof b);
	b.paths = (const char **)p->blobs.paths;
	b.n = p->blobs.n;
	b.jobs = p->jobs;
	b.started = prefill_started_cb;
	b.bytes = prefill_bytes_cb;
	b.ended = prefill_ended_cb;
	b.tick = prefill_tick_cb;
	b.arg = p;
	p->progress = progress_new(title, p->total);
	progress_set_count(p->progress, p->blobs.n);
	rc = daemon_client_get_batch(&p->dc, &b, cause);
	progress_free(p->progress);
	p->progress = NULL;
	return rc;
}

/* One image: manifest (every wanted platform), blobs, referrers, pin. */
static int
prefill_image(struct prefill *p, const struct cache *cache, const char *arg,
    char *digest, size_t dlen, char **cause)
{
	struct registry			*r;
	struct reference		 ref;
	struct daemon_client_reply	 b, cb;
	struct tagindex_entry		 e;
	json_t				*root = NULL, *list, *v, *child;
	char				 prefix[600], path[1024];
	const char			*cd, *ref_s;
	size_t				 i;
	int				 rc = -1, platforms = 0;

	memset(&b, 0, sizeof b);
	if (imageref_parse(p->config, arg, &r, &ref, cause) != 0)
		return -1;
	snprintf(prefix, sizeof prefix, "/v2/%s/%s", r->name, ref.name);
	ref_s = ref.tag;
	if (ref.has_digest) {
		snprintf(path, sizeof path, "%s/manifests/sha256:%s", prefix,
		    ref.digest.hex);
	} else
		snprintf(path, sizeof path, "%s/manifests/%s", prefix, ref_s);
	if (daemon_client_get(&p->dc, path, PREFILL_BODY_MAX, &b, cause) != 0)
		goto out;
	util_strlcpy(digest, b.digest, dlen);
	if ((root = json_loads(b.body, 0, NULL)) == NULL) {
		*cause = util_printf("%s: not a JSON manifest", path);
		goto out;
	}
	p->total = 0;
	prefill_blobs_free(&p->blobs);
	list = json_object_get(root, "manifests");
	if (json_is_array(list)) {
		json_array_foreach(list, i, v) {
			if (!prefill_platform_wanted(p, json_object_get(v, "platform")))
				continue;
			cd = json_string_value(json_object_get(v, "digest"));
			if (cd == NULL)
				continue;
			snprintf(path, sizeof path, "%s/manifests/%s", prefix, cd);
			if (daemon_client_get(&p->dc, path, PREFILL_BODY_MAX, &cb,
			    cause) != 0) {
				daemon_client_reply_free(&cb);
				goto out;
			}
			child = json_loads(cb.body, 0, NULL);
			daemon_client_reply_free(&cb);
			if (child == NULL || prefill_manifest(p, prefix, child,
			    cause) != 0) {
				json_decref(child);
				if (*cause == NULL)
					*cause = util_printf("%s: not a JSON manifest", path);
				goto out;
			}
			json_decref(child);
			platforms++;
		}
		if (platforms == 0) {
			*cause = util_printf("no platform of the index matches "
			    "--platform");
			goto out;
		}
	} else if (prefill_manifest(p, prefix, root, cause) != 0)
		goto out;
	p->referrers = 0;
	if (!p->no_referrers && b.digest[0] != '\0' &&
	    prefill_referrers(p, prefix, b.digest, cause) != 0)
		goto out;
	if (prefill_fetch(p, arg, cause) != 0)
		goto out;
	if (!ref.has_digest) {
		if (tagindex_get(cache, r->name, ref.name, ref.tag, &e) != 0) {
			*cause = util_printf("the daemon's cache is not %s (--cache)",
			    cache->dir);
			goto out;
		}
		e.checked = time(NULL);
		if (tagindex_put_in(cache, TAGINDEX_PINS, r->name, ref.name,
		    ref.tag, &e) != 0) {
			*cause = util_printf("cannot write the pin");
			goto out;
		}
	}
	rc = 0;
out:
	prefill_blobs_free(&p->blobs);
	json_decref(root);
	daemon_client_reply_free(&b);
	return rc;
}

/* Starts "pullgate serve" on a free loopback port; returns its pid. */
static pid_t
prefill_spawn(struct prefill *p, const char *file, const char *cache)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	char			 listen[64];
	pid_t			 pid;
	int			 s, i;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    getsockname(s, (struct sockaddr *)&sin, &len) != 0) {
		close(s);
		return -1;
	}
	close(s);
	snprintf(listen, sizeof listen, "127.0.0.1:%d", ntohs(sin.sin_port));
	daemon_client_init(&p->dc, "127.0.0.1", ntohs(sin.sin_port));
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		char *argv[12];
		int n = 0;

		argv[n++] = "pullgate";
		argv[n++] = "serve";
		if (file != NULL) {
			argv[n++] = "-c";
			argv[n++] = (char *)file;
		}
		argv[n++] = "--listen";
		argv[n++] = listen;
		argv[n++] = "--cache";
		argv[n++] = (char *)cache;
		argv[n++] = "--log-level";
		argv[n++] = "warn";
		argv[n] = NULL;
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		if (daemon_client_up(&p->dc))
			return pid;
		usleep(100000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

/* The options of prefill besides the common ones. */
struct prefill_flags {
	struct prefill	*p;
	const char	*registry, *list, *feed, *dist, *arch;
};

static int
prefill_option(int ch, const char *arg, void *v, char **cause)
{
	struct prefill_flags	*f = v;
	long			 jobs;

	switch (ch) {
	case 'r': f->registry = arg; break;
	case 'f': f->list = arg; break;
	case 'F': f->feed = arg; break;
	case 'D': f->dist = arg; break;
	case 'A': f->arch = arg; break;
	case 'R': f->p->no_referrers = 1; break;
	case 'j':
		if (util_parse_long(arg, 1, PREFILL_JOBS_MAX, &jobs) != 0) {
			*cause = util_printf("--jobs: a number from 1 to %d",
			    PREFILL_JOBS_MAX);
			return -1;
		}
		f->p->jobs = (int)jobs;
		break;
	case 'p':
		if (f->p->nplatforms == PREFILL_MAX_PLATFORMS) {
			*cause = util_printf("at most %d --platform",
			    PREFILL_MAX_PLATFORMS);
			return -1;
		}
		f->p->platforms[f->p->nplatforms++] = arg;
		break;
	default:
		return -1;
	}
	return 0;
}

int
cmd_prefill_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "registry", required_argument, NULL, 'r' },
		{ "platform", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, 'f' },
		{ "feed", required_argument, NULL, 'F' },
		{ "dist", required_argument, NULL, 'D' },
		{ "arch", required_argument, NULL, 'A' },
		{ "no-referrers", no_argument, NULL, 'R' },
		{ "jobs", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct prefill		 p;
	struct prefill_flags	 f = { &p, NULL, NULL, NULL, NULL, NULL };
	const struct command	 cmd = { "pullgate prefill", prefill_usage,
	    COMMAND_CONFIG | COMMAND_CACHE | COMMAND_LISTEN, longopts, "f:",
	    prefill_option, &f, 0, -1 };
	struct config		 c;
	struct cache		 cache;
	const char		*registry, *feed, *dist, *arch, *list;
	char			*cause = NULL, line[1024];
	char			 img[1200], digest[DIGEST_STRING_LEN + 1];
	FILE			*lf = NULL;
	pid_t			 own = -1;
	int			 rc, i, first, failed = 0, count = 0;

	memset(&p, 0, sizeof p);
	p.jobs = PREFILL_JOBS;
	if ((first = command_begin(&cmd, argc, argv, &c, &rc)) == -1)
		return rc;
	registry = f.registry;
	feed = f.feed;
	dist = f.dist;
	arch = f.arch;
	list = f.list;
	if ((first == argc) == (list == NULL)) {
		fprintf(stderr, "pullgate prefill: name IMAGEs or -f LISTFILE\n");
		config_free(&c);
		return 2;
	}
	p.config = &c;
	util_strlcpy(cache.dir, c.cache_dir, sizeof cache.dir);
	daemon_client_init(&p.dc, c.listen_host, c.listen_port);
	if (!daemon_client_up(&p.dc)) {
		if ((own = prefill_spawn(&p, c.file[0] != '\0' ? c.file : NULL,
		    cache.dir)) == -1) {
			fprintf(stderr, "pullgate prefill: no daemon on %s and cannot "
			    "start one on %s\n", p.dc.base, cache.dir);
			config_free(&c);
			return 1;
		}
		log_info("no daemon running: started one on %s for the prefill",
		    cache.dir);
	}
	if (feed != NULL) {
		if (registry_find_name(&c.feeds, feed) == NULL) {
			fprintf(stderr, "pullgate prefill: no feed '%s'\n", feed);
			failed = 1;
		} else
			failed = cmd_prefill_feed(&p.dc, &cache, feed, dist, arch,
			    argv + first, argc - first);
		goto out;
	}
	if (list != NULL && (lf = fopen(list, "r")) == NULL) {
		fprintf(stderr, "pullgate prefill: %s: %s\n", list, strerror(errno));
		failed = 1;
		goto out;
	}
	for (i = first;; i++) {
		const char *arg;

		if (lf != NULL) {
			if (fgets(line, sizeof line, lf) == NULL)
				break;
			line[strcspn(line, "\r\n#")] = '\0';
			arg = line + strspn(line, " \t");
			if (*arg == '\0')
				continue;
		} else if (i >= argc)
			break;
		else
			arg = argv[i];
		if (registry != NULL)
			snprintf(img, sizeof img, "%s/%s", registry, arg);
		else
			snprintf(img, sizeof img, "%s", arg);
		count++;
		digest[0] = '\0';
		if (prefill_image(&p, &cache, img, digest, sizeof digest, &cause) != 0) {
			printf("%s FAILED: %s\n", img, cause != NULL ? cause : "error");
			free(cause);
			cause = NULL;
			failed++;
		} else
			printf("%s %s pinned, %lld bytes fetched or verified, "
			    "%d referrer(s)\n", img, digest, (long long)p.total,
			    p.referrers);
		fflush(stdout);
	}
	if (lf != NULL)
		fclose(lf);
	printf("prefill: %d image(s), %d failed\n", count, failed);
out:
	if (own != -1) {
		kill(own, SIGTERM);
		waitpid(own, NULL, 0);
	}
	config_free(&c);
	return failed ? 1 : 0;
}
