/*
 * The byte budget (cache_max_bytes). Before a download of known size
 * starts, the store must have room for it: if not, the least recently
 * used blobs that no pinned image references are removed until it does.
 * Pinned content is never evicted; if it alone leaves no room, the
 * download is refused with the reason and nothing is removed.
 *
 * "Recently used" is the file's access time, set explicitly on every
 * cache hit (budget_touch), so it works on noatime mounts too. A blob
 * removed while a client reads it stays readable through its descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

struct budget_blob {
	struct digest	digest;
	off_t		size;
	struct timespec	used;
};

struct budget_scan {
	struct budget_blob	*v;
	size_t			 n, cap;
	int64_t			 total;
};

/* One blob of the store, for the LRU order. */
static int
budget_scan_blob(const struct digest *d, const char *path, const struct stat *st,
    void *arg)
{
	struct budget_scan	*s = arg;
	struct budget_blob	*n;

	(void)path;
	s->total += st->st_size;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		if ((n = reallocarray(s->v, s->cap, sizeof *n)) == NULL)
			return -1;
		s->v = n;
	}
	s->v[s->n].digest = *d;
	s->v[s->n].size = st->st_size;
	s->v[s->n].used = st->st_atim;
	s->n++;
	return 0;
}

/* Downloads in flight (tmp/) count against the budget too. */
static void
budget_scan_tmp(const struct cache *c, struct budget_scan *s)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 264];
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;

	snprintf(dir, sizeof dir, "%s/tmp", c->dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode))
			s->total += st.st_size;
	}
	closedir(d);
}

static int
budget_lru_cmp(const void *a, const void *b)
{
	const struct budget_blob	*x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return 0;
}

/*
 * Makes room for need more bytes under max (0: no budget). Returns -1
 * with *cause if pinned content leaves no room.
 */
int
budget_reserve(const struct cache *c, int64_t max, int64_t need, char **cause)
{
	struct budget_scan	 s;
	struct digest_set	 pinned;
	int64_t			 freeable = 0, freed = 0;
	size_t			 i;
	int			 rc = -1, evicted = 0;

	if (max <= 0)
		return 0;
	memset(&s, 0, sizeof s);
	memset(&pinned, 0, sizeof pinned);
	cache_walk_blobs(c, budget_scan_blob, &s);
	budget_scan_tmp(c, &s);
	/* The download being reserved for already has a (small) file in tmp/. */
	if (s.total + need <= max) {
		rc = 0;
		goto out;
	}
	if (refs_collect(c, TAGINDEX_PINS, &pinned) != 0) {
		/* Without the pinned set nothing may go: fail closed. */
		*cause = util_printf("the cache is full and its pins cannot be "
		    "read; nothing was evicted");
		goto out;
	}
	for (i = 0; i < s.n; i++)
		if (!digest_set_contains(&pinned, &s.v[i].digest))
			freeable += s.v[i].size;
	if (need > max || s.total - freeable + need > max) {
		*cause = util_printf("the cache is full: %lld bytes needed, "
		    "cache_max_bytes is %lld and pinned content or downloads in "
		    "flight hold %lld", (long long)need, (long long)max,
		    (long long)(s.total - freeable));
		goto out;
	}
	qsort(s.v, s.n, sizeof *s.v, budget_lru_cmp);
	for (i = 0; i < s.n && s.total - freed + need > max; i++) {
		if (digest_set_contains(&pinned, &s.v[i].digest))
			continue;
		if (cache_remove_blob(c, &s.v[i].digest) == 0) {
			freed += s.v[i].size;
			evicted++;
		}
	}
	log_info("budget: evicted %d least recently used blob(s), %lld bytes, "
	    "for a download of %lld", evicted, (long long)freed, (long long)need);
	rc = 0;
out:
	digest_set_free(&pinned);
	free(s.v);
	return rc;
}

/* Marks a blob as used now (its access time), for the LRU order. */
void
budget_touch(int fd)
{
	struct timespec	ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };

	futimens(fd, ts);
}
