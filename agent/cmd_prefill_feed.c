/*
 * pullgate prefill --feed: a feed's indexes and the named packages with
 * their dependencies, fetched through the daemon so that a gateway staged
 * online can 'apt-get install' or 'opkg install' them offline. Package
 * files of feeds are never evicted by the byte budget, so they stay.
 *
 * An opkg feed has its Packages(.gz) at its root; an apt feed has
 * dists/<dist>/InRelease, whose listed Packages and Translation-en files
 * for the architecture (and "all") are fetched.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

struct feed_pkg {
	char	 name[128];
	char	 filename[512];
	char	*depends;		/* Pre-Depends, then Depends */
};

struct feed_index {
	struct feed_pkg	*v;
	size_t		 n, cap;
	char		 dir[256];	/* where Filename is relative to */
	char		 stem[1024];	/* the index without its compression */
};

/* One stanza into the index: packages with a name and file that fit. */
static int
feed_index_add(const struct pkgindex_stanza *st, void *arg, char **cause)
{
	struct feed_index	*idx = arg;
	struct feed_pkg		 pkg, *n;
	size_t			 cap;

	memset(&pkg, 0, sizeof pkg);
	if (st->package[0] == '\0' || st->filename[0] == '\0' ||
	    util_strlcpy(pkg.name, st->package, sizeof pkg.name) != 0 ||
	    util_strlcpy(pkg.filename, st->filename, sizeof pkg.filename) != 0)
		return 0;
	if (idx->n == idx->cap) {
		cap = idx->cap == 0 ? 256 : idx->cap * 2;
		if ((n = reallocarray(idx->v, cap, sizeof *n)) == NULL) {
			*cause = util_printf("out of memory");
			return -1;
		}
		idx->v = n;
		idx->cap = cap;
	}
	if ((pkg.depends = util_printf("%s%s%s", st->pre_depends,
	    st->pre_depends[0] != '\0' && st->depends[0] != '\0' ? ", " : "",
	    st->depends)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	idx->v[idx->n++] = pkg;
	return 0;
}

/* Parses a Packages file (plain, gzip or xz) into idx; a broken one warns. */
static void
feed_index_parse(const char *path, struct feed_index *idx)
{
	char	*cause = NULL;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (pkgindex_parse(fd, PKGINDEX_MAX_DEFAULT, feed_index_add, idx, NULL,
	    &cause) != 0) {
		log_warn("%s: %s", path, cause);
		free(cause);
	}
	close(fd);
}

static struct feed_pkg *
feed_index_find(struct feed_index *idx, size_t nidx, const char *name,
    size_t *which)
{
	size_t	i, j;

	for (i = 0; i < nidx; i++)
		for (j = 0; j < idx[i].n; j++)
			if (strcmp(idx[i].v[j].name, name) == 0) {
				*which = i;
				return &idx[i].v[j];
			}
	return NULL;
}

/* Fetches a file of the feed into the cache (and save); -1 with *cause. */
static int
feed_fetch(const struct daemon_client *p, const char *feed, const char *rel,
    char *save, char **cause)
{
	struct daemon_client_reply	 b;
	char				 path[1200];
	FILE				*f;
	int				 ok;

	if (snprintf(path, sizeof path, "/feeds/%s/%s", feed, rel) >=
	    (int)sizeof path) {
		*cause = util_printf("%s: path too long", rel);
		return -1;
	}
	if (daemon_client_get(p, path, save != NULL ? PREFILL_BODY_MAX : 0, &b,
	    cause) != 0) {
		daemon_client_reply_free(&b);
		return -1;
	}
	if (save != NULL) {
		if ((f = fopen(save, "w")) == NULL)
			ok = 0;
		else {
			ok = fwrite(b.body, 1, b.len, f) == b.len;
			ok = fclose(f) == 0 && ok;
		}
		if (!ok) {
			*cause = util_printf("cannot write %s", save);
			daemon_client_reply_free(&b);
			return -1;
		}
	}
	daemon_client_reply_free(&b);
	return 0;
}

static const char *
feed_default_arch(void)
{
	static struct utsname	u;

	if (uname(&u) != 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	if (strncmp(u.machine, "armv7", 5) == 0)
		return "armhf";
	if (u.machine[0] == 'i' && strcmp(u.machine + 2, "86") == 0)
		return "i386";
	return u.machine;
}

/*
 * The indexes: opkg's Packages.gz at the root, or the files of an apt
 * suite's InRelease for arch and "all". Each lands in tmpdir too.
 */
static int
feed_fetch_indexes(const struct daemon_client *p, const char *feed,
    const char *dist,
    const char *arch, const char *tmpdir, struct feed_index **out,
    size_t *nout, char **cause)
{
	struct feed_index	*idx = NULL, *n;
	char			 rel[2100], save[1200], file[1024];
	char			 want1[160], want2[160];
	struct packages_release	 r;
	struct digest		 d;
	int64_t			 size;
	size_t			 i, stemlen;
	int			 parse;

	*nout = 0;
	if (dist == NULL) {
		snprintf(save, sizeof save, "%s/index.0", tmpdir);
		if (feed_fetch(p, feed, "Packages.gz", save, cause) != 0)
			return -1;
		if ((idx = calloc(1, sizeof *idx)) == NULL)
			return -1;
		feed_index_parse(save, idx);
		*out = idx;
		*nout = 1;
		return 0;
	}
	snprintf(rel, sizeof rel, "dists/%s/InRelease", dist);
	snprintf(save, sizeof save, "%s/InRelease", tmpdir);
	if (feed_fetch(p, feed, rel, save, cause) != 0)
		return -1;
	snprintf(want1, sizeof want1, "/binary-%s/", arch);
	snprintf(want2, sizeof want2, "/binary-all/");
	memset(&r, 0, sizeof r);
	if ((r.f = fopen(save, "r")) == NULL)
		return -1;
	while (packages_release_next(&r, &d, &size, file, sizeof file) == 1) {
		if (strstr(file, "/i18n/Translation-en") != NULL) {
			snprintf(rel, sizeof rel, "dists/%s/%s", dist, file);
			feed_fetch(p, feed, rel, NULL, cause);	/* best effort */
			free(*cause);
			*cause = NULL;
			continue;
		}
		if ((strstr(file, want1) == NULL && strstr(file, want2) == NULL) ||
		    strstr(file, "/Packages") == NULL)
			continue;
		/*
		 * Every listed form is fetched (apt asks for the one it
		 * prefers, often .xz); a form the mirror does not serve (many
		 * list an uncompressed Packages they do not have) is skipped.
		 * The first plain, .gz or .xz form served is read for the
		 * dependencies.
		 */
		snprintf(rel, sizeof rel, "dists/%s/%s", dist, file);
		snprintf(save, sizeof save, "%s/index.%zu", tmpdir, *nout);
		stemlen = strlen(file);
		if (stemlen > 3 && (strcmp(file + stemlen - 3, ".gz") == 0 ||
		    strcmp(file + stemlen - 3, ".xz") == 0))
			stemlen -= 3;
		parse = stemlen > 8 && strncmp(file + stemlen - 8, "Packages",
		    8) == 0;
		for (i = 0; parse && i < *nout; i++)
			if (strncmp(idx[i].stem, file, stemlen) == 0 &&
			    idx[i].stem[stemlen] == '\0')
				parse = 0;		/* read in another form */
		if (feed_fetch(p, feed, rel, parse ? save : NULL, cause) != 0) {
			free(*cause);
			*cause = NULL;
			continue;
		}
		if (!parse)
			continue;
		if ((n = reallocarray(idx, *nout + 1, sizeof *n)) == NULL)
			break;
		idx = n;
		memset(&idx[*nout], 0, sizeof *idx);
		snprintf(idx[*nout].stem, sizeof idx[*nout].stem, "%.*s",
		    (int)stemlen, file);
		feed_index_parse(save, &idx[*nout]);
		(*nout)++;
		*out = idx;
	}
	fclose(r.f);
	*out = idx;
	if (*nout == 0) {
		*cause = util_printf("dists/%s/InRelease lists no Packages index "
		    "for %s that the feed serves", dist, arch);
		return -1;
	}
	return 0;
}

/* Adds the first alternative of every dependency of pkg to the queue. */
static void
feed_queue_depends(const struct feed_pkg *pkg, char queue[][128], size_t *nq,
    size_t max)
{
	char	*deps, *d, *next, name[128];
	size_t	 i, len;

	if ((deps = strdup(pkg->depends)) == NULL)
		return;
	for (d = deps; d != NULL && *d != '\0'; d = next) {
		if ((next = strchr(d, ',')) != NULL)
			*next++ = '\0';
		d += strspn(d, " ");
		len = strcspn(d, " (|:");
		if (len == 0 || len >= sizeof name)
			continue;
		memcpy(name, d, len);
		name[len] = '\0';
		for (i = 0; i < *nq; i++)
			if (strcmp(queue[i], name) == 0)
				break;
		if (i == *nq && *nq < max)
			util_strlcpy(queue[(*nq)++], name, 128);
	}
	free(deps);
}

/*
 * The feed's indexes and the named packages with their dependencies,
 * through the daemon p, pinned in cache; one line a file on stdout. Returns 1 if any
 * failed, else 0 (an exit status).
 */
int
cmd_prefill_feed(const struct daemon_client *p, const struct cache *cache,
    const char *feed, const char *dist, const char *arch, char **names,
    int nnames)
{
	struct feed_index	*idx = NULL;
	struct feed_pkg		*pkg;
	char			 tmpdir[] = "/tmp/pullgate-prefill.XXXXXX";
	char			 queue[512][128], rel[1200], *cause = NULL;
	size_t			 nidx = 0, nq = 0, i, which;
	int			 failed = 0;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	if (arch == NULL)
		arch = feed_default_arch();
	if (feed_fetch_indexes(p, feed, dist, arch, tmpdir, &idx, &nidx,
	    &cause) != 0) {
		printf("feed %s: indexes FAILED: %s\n", feed, cause ? cause : "error");
		free(cause);
		failed = 1;
		goto out;
	}
	printf("feed %s: %zu index(es) cached\n", feed, nidx);
	for (i = 0; i < (size_t)nnames && nq < 512; i++)
		util_strlcpy(queue[nq++], names[i], 128);
	for (i = 0; i < nq; i++) {
		if ((pkg = feed_index_find(idx, nidx, queue[i], &which)) == NULL) {
			printf("%s: FAILED: not in the feed's indexes\n", queue[i]);
			failed++;
			continue;
		}
		feed_queue_depends(pkg, queue, &nq, 512);
		snprintf(rel, sizeof rel, "%s%s%s", idx[which].dir,
		    idx[which].dir[0] != '\0' ? "/" : "", pkg->filename);
		if (feed_fetch(p, feed, rel, NULL, &cause) != 0) {
			printf("%s: FAILED: %s\n", queue[i], cause);
			free(cause);
			cause = NULL;
			failed++;
		} else if (feedpins_add(cache, feed, rel) != 0) {
			/* What prefill loaded must stay: the budget never evicts it. */
			printf("%s: FAILED: cannot pin %s\n", queue[i], rel);
			failed++;
		} else
			printf("%s %s cached%s\n", queue[i], pkg->filename,
			    i >= (size_t)nnames ? " (dependency)" : "");
	}
	printf("prefill --feed %s: %zu package(s), %d failed\n", feed, nq, failed);
out:
	for (i = 0; i < nidx; i++) {
		for (which = 0; which < idx[i].n; which++)
			free(idx[i].v[which].depends);
		free(idx[i].v);
	}
	free(idx);
	if (util_rmtree(tmpdir) != 0)
		log_warn("cannot remove %s", tmpdir);
	return failed ? 1 : 0;
}
