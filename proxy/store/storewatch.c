/*
 * What other processes change in the store, seen by the daemon: inotify
 * on the 256 blob directories (a blob published or removed by 'pullgate
 * import', 'cache rm', 'cache gc'), on pins/ (pins/.changed, replaced
 * on every pin change) and on repos/ (repos/.changed, replaced when a
 * command changes a tag). The daemon polls the descriptor in its loop,
 * and reads it once per loop turn that answers from memory (manifest.c,
 * manifest_store_current), and hands the events here,
 * which keep the store index, the budget and the memory cache current. A
 * lost event (the queue overflowed) costs one full rebuild.
 * The daemon's own publishes and evictions come through too: applying
 * them twice is harmless.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define STOREWATCH_MAGIC	0x53575443	/* "SWTC" */
#define STOREWATCH_DIRS		256
#define STOREWATCH_HEX		"0123456789abcdef"

struct storewatch {
	unsigned		 magic;
	const struct cache	*cache;
	int			 fd;
	int			 blobs[STOREWATCH_DIRS];	/* watch descriptors */
	int			 top;		/* blobs/sha256: new directories */
	int			 pins;
	int			 tags;		/* repos/ */
};

void
storewatch_free(struct storewatch *w)
{
	if (w == NULL)
		return;
	if (w->fd != -1)
		close(w->fd);
	w->magic = 0;
	free(w);
}

/*
 * Watches blob directory i (once it exists). Blobs published into it
 * before the watch began are added by one look at the directory.
 */
static int
storewatch_blob_dir(struct storewatch *w, struct budget *b, int i)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 264];
	char		 dstr[DIGEST_STRING_LEN + 1];
	DIR		*d;
	struct dirent	*de;
	struct digest	 dg;
	struct stat	 st;

	if (w->blobs[i] != -1)
		return 0;
	snprintf(dir, sizeof dir, "%s/blobs/sha256/%02x", w->cache->dir, i);
	if ((w->blobs[i] = inotify_add_watch(w->fd, dir, IN_MOVED_TO |
	    IN_CLOSE_WRITE | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (b == NULL || (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(dstr, sizeof dstr, "sha256:%.64s", de->d_name);
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (strlen(de->d_name) == DIGEST_HEX_LEN &&
		    digest_parse(dstr, &dg) == 0 && stat(path, &st) == 0 &&
		    S_ISREG(st.st_mode))
			budget_add_blob(b, &dg, st.st_size);
	}
	closedir(d);
	return 0;
}

/* Watches the store at c. */
struct storewatch *
storewatch_new(const struct cache *c, char **cause)
{
	struct storewatch	*w;
	char			 dir[PATH_MAX];
	int			 i;

	if ((w = calloc(1, sizeof *w)) == NULL) {
		*cause = util_printf("out of memory");
		return NULL;
	}
	w->magic = STOREWATCH_MAGIC;
	w->cache = c;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		*cause = util_printf("inotify: %s", strerror(errno));
		goto fail;
	}
	snprintf(dir, sizeof dir, "%s/blobs/sha256", c->dir);
	if ((w->top = inotify_add_watch(w->fd, dir, IN_CREATE | IN_MOVED_TO |
	    IN_ONLYDIR)) == -1) {
		*cause = util_printf("cannot watch %s: %s", dir, strerror(errno));
		goto fail;
	}
	for (i = 0; i < STOREWATCH_DIRS; i++)
		w->blobs[i] = -1;
	for (i = 0; i < STOREWATCH_DIRS; i++)
		if (storewatch_blob_dir(w, NULL, i) != 0) {
			*cause = util_printf("cannot watch the blob directories: "
			    "%s", strerror(errno));
			goto fail;
		}
	snprintf(dir, sizeof dir, "%s/pins", c->dir);
	if ((w->pins = inotify_add_watch(w->fd, dir, IN_MOVED_TO |
	    IN_CLOSE_WRITE)) == -1) {
		*cause = util_printf("cannot watch %s: %s", dir, strerror(errno));
		goto fail;
	}
	snprintf(dir, sizeof dir, "%s/repos", c->dir);
	if ((w->tags = inotify_add_watch(w->fd, dir, IN_MOVED_TO |
	    IN_CLOSE_WRITE)) == -1) {
		*cause = util_printf("cannot watch %s: %s", dir, strerror(errno));
		goto fail;
	}
	return w;
fail:
	storewatch_free(w);
	return NULL;
}

int
storewatch_fd(const struct storewatch *w)
{
	return w->fd;
}

static int
storewatch_hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void
storewatch_blob(struct storewatch *w, struct budget *b, int dirno,
    const struct inotify_event *ev)
{
	struct digest	d;
	struct stat	st;
	char		dstr[DIGEST_STRING_LEN + 1], path[PATH_MAX];

	if (ev->len == 0 || strlen(ev->name) != DIGEST_HEX_LEN)
		return;
	snprintf(dstr, sizeof dstr, "sha256:%s", ev->name);
	if (digest_parse(dstr, &d) != 0 || storewatch_hexval(d.hex[0]) * 16 +
	    storewatch_hexval(d.hex[1]) != dirno)
		return;		/* not where its name says it is */
	if (ev->mask & (IN_MOVED_FROM | IN_DELETE)) {
		budget_forget_blob(b, &d);
		if (w->cache->mem != NULL)
			memcache_forget(w->cache->mem, &d);
		return;
	}
	if (cache_blob_path(w->cache, &d, path, sizeof path) == 0 &&
	    stat(path, &st) == 0 && S_ISREG(st.st_mode))
		budget_add_blob(b, &d, st.st_size);
}

/* Applies every pending event; -1 only if a needed rebuild failed. */
int
storewatch_read(struct storewatch *w, struct budget *b)
{
	char				 buf[16384]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	ssize_t				 n;
	char				*p, *cause = NULL;
	int				 i, rebuild = 0;

	for (;;) {
		n = read(w->fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				rebuild = 1;
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				/* A blob directory went: watch it again if it returns. */
				for (i = 0; i < STOREWATCH_DIRS; i++)
					if (w->blobs[i] == ev->wd)
						w->blobs[i] = -1;
				continue;
			}
			if (ev->wd == w->top) {
				if (ev->len > 0 && strlen(ev->name) == 2 &&
				    strchr(STOREWATCH_HEX, ev->name[0]) != NULL &&
				    strchr(STOREWATCH_HEX, ev->name[1]) != NULL &&
				    storewatch_blob_dir(w, b,
				    storewatch_hexval(ev->name[0]) * 16 +
				    storewatch_hexval(ev->name[1])) != 0)
					rebuild = 1;
				continue;
			}
			if (ev->wd == w->pins) {
				if (ev->len > 0 &&
				    strcmp(ev->name, CACHE_PINS_CHANGED) == 0)
					budget_pins_changed(b);
				continue;
			}
			if (ev->wd == w->tags) {
				if (ev->len > 0 && w->cache->mem != NULL &&
				    strcmp(ev->name, CACHE_TAGS_CHANGED) == 0)
					memcache_tags_flush(w->cache->mem);
				continue;
			}
			for (i = 0; i < STOREWATCH_DIRS; i++)
				if (w->blobs[i] == ev->wd) {
					storewatch_blob(w, b, i, ev);
					break;
				}
		}
	}
	if (rebuild) {
		log_warn("store: change notices were lost; indexing the cache again");
		if (w->cache->mem != NULL)
			memcache_flush(w->cache->mem);
		if (budget_rebuild(b, &cause) != 0) {
			log_error("store: %s", cause);
			free(cause);
			return -1;
		}
	}
	return 0;
}
