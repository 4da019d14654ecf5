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

static void
cmd_cache_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate cache ls [-c FILE] [--cache DIR] [--json]\n"
"       pullgate cache pin|unpin|rm [-c FILE] [--cache DIR] IMAGE...\n"
"       pullgate cache gc [-c FILE] [--cache DIR] [--grace SECONDS]\n"
"       pullgate cache verify [-c FILE] [--cache DIR]\n"
"\n"
"IMAGE is [ENTRY/]REPOSITORY[:TAG], ENTRY a registry name or id (default:\n"
"the default entry), as a client would name it through pullgate.\n"
"\n"
"ls      every cached tag per registry entry: digest, media type, size of\n"
"        its cached blobs, whether all are cached, pinned, when it was last\n"
"        confirmed upstream and last used (--json).\n"
"pin     keeps the image the tag names now: never evicted by the budget,\n"
"        never collected. unpin undoes it.\n"
"rm      forgets the tag (and its pin); gc then frees what nothing uses.\n"
"gc      removes every blob no tag or pin references, older than --grace\n"
"        seconds (default 600, so a pull in progress keeps its blobs).\n"
"verify  re-hashes every blob; one that does not match its digest is moved\n"
"        to quarantine/ (never served again) and reported. Exits 1 if any.\n"
"\n"
"All are safe while the daemon runs: every change to the store is one\n"
"rename or unlink, and the daemon re-reads tags and pins from disk.\n");
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
	struct tagindex_entry	 pin;
	struct stat		 st;
	int			 pinned;
	char			 dstr[DIGEST_STRING_LEN + 1], when[32], used[32];
	char			 path[PATH_MAX];
	struct tm		 tm;
	time_t			 t = e->checked;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -1;
	s->cache = l->cache;
	image_walk(l->cache, &e->digest, cmd_cache_sum_cb, s);
	digest_format(&e->digest, dstr, sizeof dstr);
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	pinned = tagindex_get_in(l->cache, TAGINDEX_PINS, entry, repo, tag,
	    &pin) == 0 && digest_equal(&pin.digest, &e->digest);
	/* Last used: the manifest's access time, set on every cache hit. */
	used[0] = '\0';
	if (cache_blob_path(l->cache, &e->digest, path, sizeof path) == 0 &&
	    stat(path, &st) == 0) {
		t = st.st_atime;
		gmtime_r(&t, &tm);
		strftime(used, sizeof used, "%Y-%m-%dT%H:%M:%SZ", &tm);
		t = e->checked;
	}
	if (l->json)
		json_array_append_new(l->list, json_pack("{s:s, s:s, s:s, s:s, s:s,"
		    " s:I, s:i, s:i, s:b, s:b, s:s, s:s}", "registry", entry, "repository",
		    repo, "tag", tag, "digest", dstr, "mediaType", e->media_type,
		    "size", (json_int_t)s->bytes, "manifests", s->manifests,
		    "blobs", s->blobs, "complete", s->missing == 0,
		    "pinned", pinned, "checked", when, "last_used", used));
	else
		printf("%-10s %s:%s  %.19s  %10lld bytes  %s%s  %s\n", entry, repo,
		    tag, dstr, (long long)s->bytes, s->missing == 0 ? "complete" :
		    "partial ", pinned ? "  pinned" : "", when);
	free(s);
	return 0;
}

/* Re-hashes one blob file; 1 if it does not match its name. */
static int
cmd_cache_verify_one(const char *path, const struct digest *d)
{
	struct digest	actual;
	int		fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : 1;	/* gone: gc or eviction */
	rc = hash_fd(fd, &actual, NULL);
	close(fd);
	return rc != 0 || !digest_equal(&actual, d);
}

struct cmd_cache_tally {
	struct digest_set	*keep;		/* gc: what stays */
	long			 grace;
	const struct cache	*cache;
	int			 count, bad;
	long long		 bytes;
};

static int
cmd_cache_verify_cb(const struct digest *d, const char *path,
    const struct stat *st, void *arg)
{
	struct cmd_cache_tally	*t = arg;

	(void)st;
	t->count++;
	if (cmd_cache_verify_one(path, d)) {
		t->bad++;
		printf("corrupt: sha256:%s: moved to quarantine/\n", d->hex);
		cache_quarantine(t->cache, d);
	}
	return 0;
}

static int
cmd_cache_verify(const struct cache *c)
{
	struct cmd_cache_tally	t = { .cache = c };

	if (cache_walk_blobs(c, cmd_cache_verify_cb, &t) != 0) {
		fprintf(stderr, "pullgate cache verify: cannot read %s/blobs\n",
		    c->dir);
		return 1;
	}
	printf("%d blobs verified, %d corrupt\n", t.count, t.bad);
	return t.bad > 0 ? 1 : 0;
}

/* pin, unpin, rm: one IMAGE. */
static int
cmd_cache_tag_op(struct config *c, const struct cache *cache, const char *op,
    const char *arg)
{
	struct registry		*r;
	struct tagindex_entry	 e;
	struct reference	 ref;
	char			*cause = NULL;

	if (imageref_parse(c, arg, &r, &ref, &cause) != 0 ||
	    (ref.tag[0] == '\0' && (cause = util_printf("name a tag")) != NULL)) {
		fprintf(stderr, "pullgate cache %s: %s: %s\n", op, arg, cause);
		free(cause);
		return -1;
	}
	if (strcmp(op, "unpin") == 0)
		return tagindex_remove_in(cache, TAGINDEX_PINS, r->name, ref.name,
		    ref.tag);
	if (tagindex_get(cache, r->name, ref.name, ref.tag, &e) != 0) {
		fprintf(stderr, "pullgate cache %s: %s: not in the cache of entry "
		    "'%s'\n", op, arg, r->name);
		return -1;
	}
	if (strcmp(op, "rm") == 0)
		return tagindex_remove_in(cache, TAGINDEX_PINS, r->name, ref.name,
		    ref.tag) != 0 || tagindex_remove_in(cache, TAGINDEX_TAGS,
		    r->name, ref.name, ref.tag) != 0 ? -1 : 0;
	e.checked = time(NULL);		/* when it was pinned */
	return tagindex_put_in(cache, TAGINDEX_PINS, r->name, ref.name, ref.tag, &e);
}

static int
cmd_cache_gc_cb(const struct digest *d, const char *path, const struct stat *st,
    void *arg)
{
	struct cmd_cache_tally	*t = arg;

	(void)path;
	if (digest_set_contains(t->keep, d) || time(NULL) - st->st_mtime < t->grace)
		return 0;
	if (cache_remove_blob(t->cache, d) == 0) {
		t->count++;
		t->bytes += st->st_size;
	}
	return 0;
}

/*
 * Removes every blob no tag, pin or referrers listing references, older
 * than grace seconds.
 */
static int
cmd_cache_gc(const struct cache *c, long grace)
{
	struct digest_set	keep;
	struct cmd_cache_tally	t = { .keep = &keep, .grace = grace, .cache = c };
	int			rc = 1;

	memset(&keep, 0, sizeof keep);
	if (refs_collect(c, TAGINDEX_TAGS, &keep) != 0 ||
	    refs_collect(c, TAGINDEX_PINS, &keep) != 0 ||
	    refs_collect(c, TAGINDEX_REFERRERS, &keep) != 0)
		fprintf(stderr, "pullgate cache gc: cannot read the indexes\n");
	else if (cache_walk_blobs(c, cmd_cache_gc_cb, &t) != 0)
		fprintf(stderr, "pullgate cache gc: cannot read %s/blobs\n", c->dir);
	else {
		printf("removed %d unreferenced blob(s), %lld bytes\n", t.count,
		    t.bytes);
		rc = 0;
	}
	digest_set_free(&keep);
	return rc;
}

struct cmd_cache_flags {
	int	json;
	long	grace;
};

static int
cmd_cache_option(int ch, const char *arg, void *p, char **cause)
{
	struct cmd_cache_flags	*f = p;

	if (ch == 'j')
		f->json = 1;
	else if (ch == 'g') {
		if (util_parse_long(arg, 0, 86400 * 365, &f->grace) != 0) {
			*cause = util_printf("--grace SECONDS, at most a year");
			return -1;
		}
	} else
		return -1;
	return 0;
}

int
cmd_cache_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	static const char	*commands[] = { "ls", "verify", "gc", "pin", "unpin",
	    "rm", NULL };
	struct cmd_cache_flags	 f = { 0, 600 };
	struct command		 cmd = { "pullgate cache", cmd_cache_usage,
	    COMMAND_CONFIG | COMMAND_CACHE, longopts, NULL, cmd_cache_option, &f,
	    0, -1 };
	struct cmd_cache_ls	 l;
	struct config		 c;
	struct cache		 cache;
	const char		*what;
	int			 rc, i, first;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cmd_cache_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	what = argv[1];
	for (i = 0; commands[i] != NULL && strcmp(what, commands[i]) != 0; i++)
		;
	if (commands[i] == NULL) {
		fprintf(stderr, "pullgate cache: unknown command '%s'\n", what);
		return 2;
	}
	if (strcmp(what, "pin") != 0 && strcmp(what, "unpin") != 0 &&
	    strcmp(what, "rm") != 0)
		cmd.max_args = 0;
	if ((first = command_begin(&cmd, argc - 1, argv + 1, &c, &rc)) == -1)
		return rc;
	argc--;
	argv++;
	rc = 1;
	if (util_strlcpy(cache.dir, c.cache_dir, sizeof cache.dir) != 0 ||
	    access(cache.dir, F_OK) != 0) {
		fprintf(stderr, "pullgate cache: no cache at %s\n", c.cache_dir);
		goto out;
	}
	if (strcmp(what, "verify") == 0) {
		rc = cmd_cache_verify(&cache);
		goto out;
	}
	if (strcmp(what, "gc") == 0) {
		rc = cmd_cache_gc(&cache, f.grace);
		goto out;
	}
	if (strcmp(what, "ls") != 0) {
		if (first == argc) {
			fprintf(stderr, "pullgate cache %s: name at least one IMAGE\n",
			    what);
			rc = 2;
			goto out;
		}
		rc = 0;
		for (i = first; i < argc; i++)
			if (cmd_cache_tag_op(&c, &cache, what, argv[i]) != 0)
				rc = 1;
		goto out;
	}
	l.cache = &cache;
	l.json = f.json;
	l.list = json_array();
	tagindex_walk(&cache, cmd_cache_ls_cb, &l);
	if (f.json) {
		json_dumpf(l.list, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	json_decref(l.list);
	rc = 0;
out:
	config_free(&c);
	return rc;
}
