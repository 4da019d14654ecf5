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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include "agent.h"

struct feed_pkg {
	char	name[128];
	char	filename[512];
	char	depends[1024];
};

struct feed_index {
	struct feed_pkg	*v;
	size_t		 n;
	char		 dir[256];	/* where Filename is relative to */
};

/* Parses a Packages file (plain or gzip) into idx. */
static void
feed_index_parse(const char *path, struct feed_index *idx)
{
	gzFile		 gz;
	char		 line[4096];
	struct feed_pkg	 cur, *n;
	size_t		 len;

	if ((gz = gzopen(path, "rb")) == NULL)
		return;
	memset(&cur, 0, sizeof cur);
	for (;;) {
		int end = gzgets(gz, line, sizeof line) == NULL;

		if (end)
			line[0] = '\0';
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len == 0) {
			if (cur.name[0] != '\0' && cur.filename[0] != '\0' &&
			    (n = reallocarray(idx->v, idx->n + 1, sizeof *n)) != NULL) {
				idx->v = n;
				idx->v[idx->n++] = cur;
			}
			memset(&cur, 0, sizeof cur);
			if (end)
				break;
			continue;
		}
		if (strncmp(line, "Package: ", 9) == 0)
			util_strlcpy(cur.name, line + 9, sizeof cur.name);
		else if (strncmp(line, "Filename: ", 10) == 0)
			util_strlcpy(cur.filename, line + 10, sizeof cur.filename);
		else if (strncmp(line, "Depends: ", 9) == 0 ||
		    strncmp(line, "Pre-Depends: ", 13) == 0) {
			size_t l = strlen(cur.depends);

			snprintf(cur.depends + l, sizeof cur.depends - l, "%s%s",
			    l > 0 ? ", " : "", strchr(line, ' ') + 1);
		}
	}
	gzclose(gz);
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
		 * The plain and .gz forms are read for the dependencies.
		 */
		snprintf(rel, sizeof rel, "dists/%s/%s", dist, file);
		snprintf(save, sizeof save, "%s/index.%zu", tmpdir, *nout);
		parse = strcmp(file + strlen(file) - 3, ".gz") == 0 ||
		    strcmp(file + strlen(file) - 8, "Packages") == 0;
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
	char	 deps[1024], *d, *next, name[128];
	size_t	 i, len;

	util_strlcpy(deps, pkg->depends, sizeof deps);
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
	for (i = 0; i < nidx; i++)
		free(idx[i].v);
	free(idx);
	if (util_rmtree(tmpdir) != 0)
		log_warn("cannot remove %s", tmpdir);
	return failed ? 1 : 0;
}
