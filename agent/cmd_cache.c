/*
 * pullgate cache ls|verify: the cache directory, read directly. Both are
 * safe while the daemon runs: every change to the store is one rename, so
 * a listing sees each blob either whole or not at all, and verify moves a
 * corrupt blob aside with one rename too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "proxy.h"
#include "crypto.h"

static void
cmd_cache_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate cache ls [-c FILE] [--cache DIR] [--json]\n"
"       pullgate cache verify [-c FILE] [--cache DIR]\n"
"\n"
"ls      every cached tag per registry entry: digest, media type, size of\n"
"        its cached blobs, whether all of them are cached, when the tag was\n"
"        last confirmed upstream.\n"
"verify  re-hashes every blob; one that does not match its digest is moved\n"
"        to quarantine/ (never served again) and reported. Exits 1 if any.\n"
"Both are safe while the daemon runs.\n");
}

struct cmd_cache_sum {
	const struct cache	*cache;
	int64_t			 bytes;
	int			 blobs;
	int			 missing;
	int			 manifests;
	struct digest		 seen[1024];
	int			 nseen;
};

static int
cmd_cache_sum_cb(const struct digest *d, int64_t size, int is_manifest,
    int present, void *arg)
{
	struct cmd_cache_sum	*s = arg;
	char			 path[PATH_MAX];
	struct stat		 st;
	int			 i;

	(void)size;
	for (i = 0; i < s->nseen; i++)
		if (digest_equal(&s->seen[i], d))
			return 0;	/* shared by two platforms */
	if (s->nseen < (int)(sizeof s->seen / sizeof s->seen[0]))
		s->seen[s->nseen++] = *d;
	if (!present) {
		s->missing++;
		return 0;
	}
	if (is_manifest)
		s->manifests++;
	else
		s->blobs++;
	if (cache_blob_path(s->cache, d, path, sizeof path) == 0 &&
	    stat(path, &st) == 0)
		s->bytes += st.st_size;
	return 0;
}

struct cmd_cache_ls {
	const struct cache	*cache;
	json_t			*list;
	int			 json;
};

static int
cmd_cache_ls_cb(const char *entry, const char *repo, const char *tag,
    const struct tagindex_entry *e, void *arg)
{
	struct cmd_cache_ls	*l = arg;
	struct cmd_cache_sum	*s;
	char			 dstr[DIGEST_STRING_LEN + 1], when[32];
	struct tm		 tm;
	time_t			 t = e->checked;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->cache = l->cache;
	image_walk(l->cache, &e->digest, cmd_cache_sum_cb, s);
	digest_format(&e->digest, dstr, sizeof dstr);
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (l->json)
		json_array_append_new(l->list, json_pack("{s:s, s:s, s:s, s:s, s:s,"
		    " s:I, s:i, s:i, s:b, s:s}", "registry", entry, "repository",
		    repo, "tag", tag, "digest", dstr, "mediaType", e->media_type,
		    "size", (json_int_t)s->bytes, "manifests", s->manifests,
		    "blobs", s->blobs, "complete", s->missing == 0, "checked", when));
	else
		printf("%-10s %s:%s  %.19s  %10lld bytes  %s  %s\n", entry, repo,
		    tag, dstr, (long long)s->bytes, s->missing == 0 ? "complete" :
		    "partial ", when);
	free(s);
	return 0;
}

/* Re-hashes one blob file; 1 if it does not match its name. */
static int
cmd_cache_verify_one(const char *path, const struct digest *d)
{
	struct crypto_sha256	*h;
	unsigned char		 buf[65536], raw[CRYPTO_SHA256_LEN];
	struct digest		 actual;
	ssize_t			 n;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : 1;
	if ((h = crypto_backend->sha256_new()) == NULL) {
		close(fd);
		return 0;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0)
		crypto_backend->sha256_update(h, buf, (size_t)n);
	close(fd);
	crypto_backend->sha256_final(h, raw);
	crypto_backend->sha256_free(h);
	if (n < 0)
		return 1;
	digest_from_raw(raw, &actual);
	return !digest_equal(&actual, d);
}

static int
cmd_cache_verify(const struct cache *c)
{
	char		 dir[PATH_MAX], sub[PATH_MAX + 8], path[PATH_MAX + 80];
	char		 dstr[DIGEST_STRING_LEN + 1];
	DIR		*top, *d;
	struct dirent	*t, *de;
	struct digest	 dg;
	int		 checked = 0, bad = 0;

	snprintf(dir, sizeof dir, "%s/blobs/sha256", c->dir);
	if ((top = opendir(dir)) == NULL) {
		fprintf(stderr, "pullgate cache verify: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((t = readdir(top)) != NULL) {
		if (t->d_name[0] == '.' || strlen(t->d_name) != 2)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, t->d_name);
		if ((d = opendir(sub)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			snprintf(dstr, sizeof dstr, "sha256:%.64s", de->d_name);
			if (strlen(de->d_name) != DIGEST_HEX_LEN ||
			    digest_parse(dstr, &dg) != 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", sub, de->d_name);
			checked++;
			if (cmd_cache_verify_one(path, &dg)) {
				bad++;
				printf("corrupt: %s: moved to quarantine/\n", dstr);
				cache_quarantine(c, &dg);
			}
		}
		closedir(d);
	}
	closedir(top);
	printf("%d blobs verified, %d corrupt\n", checked, bad);
	return bad > 0 ? 1 : 0;
}

int
cmd_cache_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "cache", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_cache_ls	 l;
	struct config		 c;
	struct cache		 cache;
	const char		*file = NULL, *dir = NULL, *what;
	char			*cause = NULL;
	int			 ch, json = 0, rc = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cmd_cache_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	what = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'd': dir = optarg; break;
		case 'j': json = 1; break;
		case 'h': cmd_cache_usage(stdout); return 0;
		default: cmd_cache_usage(stderr); return 2;
		}
	}
	if (strcmp(what, "ls") != 0 && strcmp(what, "verify") != 0) {
		fprintf(stderr, "pullgate cache: unknown command '%s'\n", what);
		return 2;
	}
	if (config_read_all(&c, file, &cause) != 0) {
		fprintf(stderr, "pullgate cache: %s\n", cause);
		free(cause);
		return 1;
	}
	if (util_strlcpy(cache.dir, dir != NULL ? dir : c.cache_dir,
	    sizeof cache.dir) != 0 || access(cache.dir, F_OK) != 0) {
		fprintf(stderr, "pullgate cache: no cache at %s\n", cache.dir);
		goto out;
	}
	if (strcmp(what, "verify") == 0) {
		rc = cmd_cache_verify(&cache);
		goto out;
	}
	l.cache = &cache;
	l.json = json;
	l.list = json_array();
	tagindex_walk(&cache, cmd_cache_ls_cb, &l);
	if (json) {
		json_dumpf(l.list, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	json_decref(l.list);
	rc = 0;
out:
	config_free(&c);
	return rc;
}
