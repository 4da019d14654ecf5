/*
 * pullgate prefill: fetches images into the cache on purpose, through the
 * daemon (so they land exactly as a pull would put them), and pins them.
 * With no daemon running, it starts one of its own on the configured
 * cache for the duration. A failure of one image is reported and the
 * others go on; the exit status says whether all succeeded.
 */
#include <curl/curl.h>
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

static void
prefill_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate prefill [-c FILE] [--registry NAME|ID] [--listen HOST:PORT]\n"
"                        [--cache DIR] [--platform OS/ARCH[/VARIANT]]...\n"
"                        (IMAGE... | -f LISTFILE)\n"
"       pullgate prefill --feed NAME [--dist SUITE] [--arch ARCH] PACKAGE...\n"
"\n"
"Fetches every IMAGE ([ENTRY/]REPOSITORY[:TAG]) into the cache — all\n"
"platforms, or those named with --platform — pins it, and prints its\n"
"digest. LISTFILE has one IMAGE a line (# comments). Uses the daemon on\n"
"the listen address, or starts one on the cache directory when none runs.\n"
"Shows progress on a terminal. Exits 1 if any image failed.\n"
"\n"
"With --feed: the feed's indexes (opkg: Packages.gz at its root; apt:\n"
"dists/SUITE/InRelease and the Packages and Translation-en files it lists\n"
"for ARCH and 'all') and the named packages with their dependencies, so\n"
"that apt-get or opkg install them offline. Feed files are never evicted.\n");
}

static size_t
prefill_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct prefill_body	*b = arg;
	size_t			 len = size * n;
	char			*nb;
	time_t			 now;

	if (b->max == 0) {
		b->p->done += (int64_t)len;
		now = time(NULL);
		if (b->p->tty && now != b->p->shown) {
			b->p->shown = now;
			fprintf(stderr, "\r%s: %lld / %lld bytes", b->p->image,
			    (long long)b->p->done, (long long)b->p->total);
		}
		return len;
	}
	if (b->len + len > b->max)
		return 0;
	if ((nb = realloc(b->buf, b->len + len + 1)) == NULL)
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

/* GETs path from the daemon; keeps the body (keep) or counts it. */
int
prefill_get(struct prefill *p, const char *path, int keep,
    struct prefill_body *b, char *digest, size_t dlen, char **cause)
{
	struct curl_slist	*h = NULL;
	CURL			*curl;
	CURLcode		 rc;
	char			 url[1024];
	long			 code = 0;
	struct curl_header	*dh;

	memset(b, 0, sizeof *b);
	b->max = keep ? PREFILL_MANIFEST_MAX : 0;
	b->p = p;
	snprintf(url, sizeof url, "%s%s", p->base, path);
	if ((curl = curl_easy_init()) == NULL)
		return -1;
	h = curl_slist_append(h, mediatype_accept_header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, prefill_write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (digest != NULL && curl_easy_header(curl, "Docker-Content-Digest", 0,
	    CURLH_HEADER, -1, &dh) == CURLHE_OK)
		util_strlcpy(digest, dh->value, dlen);
	curl_easy_cleanup(curl);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		*cause = util_printf("%s: %s", path, curl_easy_strerror(rc));
		return -1;
	}
	if (code != 200) {
		json_t *root = b->buf != NULL ? json_loads(b->buf, 0, NULL) : NULL;
		const char *m = json_string_value(json_object_get(json_array_get(
		    json_object_get(root, "errors"), 0), "message"));

		*cause = util_printf("%s: %ld %s", path, code, m != NULL ? m : "");
		json_decref(root);
		return -1;
	}
	return 0;
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

/* Fetches one image manifest's config and layers. */
static int
prefill_manifest(struct prefill *p, const char *prefix, json_t *m, char **cause)
{
	struct prefill_body	 b;
	json_t			*layers, *v;
	char			 path[1024];
	size_t			 i;
	const char		*d;

	layers = json_object_get(m, "layers");
	json_array_foreach(layers, i, v)
		p->total += json_integer_value(json_object_get(v, "size"));
	p->total += json_integer_value(json_object_get(json_object_get(m,
	    "config"), "size"));
	for (i = 0; i <= json_array_size(layers); i++) {
		v = (i == 0) ? json_object_get(m, "config") :
		    json_array_get(layers, i - 1);
		if ((d = json_string_value(json_object_get(v, "digest"))) == NULL)
			continue;
		snprintf(path, sizeof path, "%s/blobs/%s", prefix, d);
		if (prefill_get(p, path, 0, &b, NULL, 0, cause) != 0)
			return -1;
	}
	return 0;
}

/* One image: manifest (every wanted platform), blobs, pin. */
static int
prefill_image(struct prefill *p, const struct cache *cache, const char *arg,
    char *digest, size_t dlen, char **cause)
{
	struct registry		*r;
	struct reference	 ref;
	struct prefill_body	 b, cb;
	struct tagindex_entry	 e;
	json_t			*root = NULL, *list, *v, *child;
	char			 prefix[600], path[1024];
	const char		*cd, *ref_s;
	size_t			 i;
	int			 rc = -1, platforms = 0;

	if (imageref_parse(p->config, arg, &r, &ref, cause) != 0)
		return -1;
	snprintf(prefix, sizeof prefix, "/v2/%s/%s", r->name, ref.name);
	ref_s = ref.tag;
	if (ref.has_digest) {
		snprintf(path, sizeof path, "%s/manifests/sha256:%s", prefix,
		    ref.digest.hex);
	} else
		snprintf(path, sizeof path, "%s/manifests/%s", prefix, ref_s);
	if (prefill_get(p, path, 1, &b, digest, dlen, cause) != 0)
		goto out;
	if ((root = json_loads(b.buf, 0, NULL)) == NULL) {
		*cause = util_printf("%s: not a JSON manifest", path);
		goto out;
	}
	p->done = p->total = 0;
	list = json_object_get(root, "manifests");
	if (json_is_array(list)) {
		json_array_foreach(list, i, v) {
			if (!prefill_platform_wanted(p, json_object_get(v, "platform")))
				continue;
			cd = json_string_value(json_object_get(v, "digest"));
			if (cd == NULL)
				continue;
			snprintf(path, sizeof path, "%s/manifests/%s", prefix, cd);
			if (prefill_get(p, path, 1, &cb, NULL, 0, cause) != 0)
				goto out;
			child = json_loads(cb.buf, 0, NULL);
			free(cb.buf);
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
	if (p->tty && p->total > 0)
		fputc('\n', stderr);
	json_decref(root);
	free(b.buf);
	return rc;
}

static int
prefill_daemon_up(const char *base)
{
	char	url[400];
	CURL	*curl = curl_easy_init();
	long	code = 0;

	if (curl == NULL)
		return 0;
	snprintf(url, sizeof url, "%s/healthz", base);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 2L);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	return code == 200;
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
	snprintf(p->base, sizeof p->base, "http://%s", listen);
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
		if (prefill_daemon_up(p->base))
			return pid;
		usleep(100000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return -1;
}

int
cmd_prefill_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "registry", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "cache", required_argument, NULL, 'd' },
		{ "platform", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, 'f' },
		{ "feed", required_argument, NULL, 'F' },
		{ "dist", required_argument, NULL, 'D' },
		{ "arch", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct prefill	 p;
	struct config	 c;
	struct cache	 cache;
	const char	*file = NULL, *listen = NULL, *dir = NULL, *list = NULL;
	const char	*registry = NULL, *feed = NULL, *dist = NULL, *arch = NULL;
	char		*cause = NULL, line[1024], digest[DIGEST_STRING_LEN + 1];
	char		 img[1200];
	FILE		*lf = NULL;
	pid_t		 own = -1;
	int		 ch, i, failed = 0, count = 0;

	memset(&p, 0, sizeof p);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'r': registry = optarg; break;
		case 'l': listen = optarg; break;
		case 'd': dir = optarg; break;
		case 'f': list = optarg; break;
		case 'F': feed = optarg; break;
		case 'D': dist = optarg; break;
		case 'A': arch = optarg; break;
		case 'p':
			if (p.nplatforms == PREFILL_MAX_PLATFORMS) {
				fprintf(stderr, "pullgate prefill: too many --platform\n");
				return 2;
			}
			p.platforms[p.nplatforms++] = optarg;
			break;
		case 'h': prefill_usage(stdout); return 0;
		default: prefill_usage(stderr); return 2;
		}
	}
	if ((optind == argc) == (list == NULL)) {
		fprintf(stderr, "pullgate prefill: name IMAGEs or -f LISTFILE\n");
		return 2;
	}
	if (config_read_all(&c, file, &cause) != 0) {
		fprintf(stderr, "pullgate prefill: %s\n", cause);
		free(cause);
		return 1;
	}
	p.config = &c;
	p.tty = isatty(STDERR_FILENO);
	if (listen != NULL && config_parse_listen(listen, c.listen_host,
	    sizeof c.listen_host, &c.listen_port) != 0) {
		fprintf(stderr, "pullgate prefill: --listen must be HOST:PORT\n");
		config_free(&c);
		return 2;
	}
	util_strlcpy(cache.dir, dir != NULL ? dir : c.cache_dir, sizeof cache.dir);
	p.cache = &cache;
	snprintf(p.base, sizeof p.base, "http://%s%s%s:%d",
	    strchr(c.listen_host, ':') ? "[" : "", c.listen_host,
	    strchr(c.listen_host, ':') ? "]" : "", c.listen_port);
	if (!prefill_daemon_up(p.base)) {
		if ((own = prefill_spawn(&p, file, cache.dir)) == -1) {
			fprintf(stderr, "pullgate prefill: no daemon on %s and cannot "
			    "start one on %s\n", p.base, cache.dir);
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
			failed = prefill_feed(&p, feed, dist, arch, argv + optind,
			    argc - optind);
		goto out;
	}
	if (list != NULL && (lf = fopen(list, "r")) == NULL) {
		fprintf(stderr, "pullgate prefill: %s: %s\n", list, strerror(errno));
		failed = 1;
		goto out;
	}
	for (i = optind;; i++) {
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
		p.image = img;
		digest[0] = '\0';
		if (prefill_image(&p, &cache, img, digest, sizeof digest, &cause) != 0) {
			printf("%s FAILED: %s\n", img, cause != NULL ? cause : "error");
			free(cause);
			cause = NULL;
			failed++;
		} else
			printf("%s %s pinned, %lld bytes fetched or verified\n", img,
			    digest, (long long)p.total);
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
