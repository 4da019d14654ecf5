/*
 * Pinned feed files: what 'pullgate prefill --feed' loaded, so that the
 * budget never evicts it. One file per feed, feedpins/<feed>, a line per
 * file: its path inside the feed. Changing it also marks the pins as
 * changed, so the daemon re-reads them (storewatch.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define FEEDPINS_LINE_MAX	1100

/* Adds rel (a path inside feed) to the feed's pins. */
int
feedpins_add(const struct cache *c, const char *feed, const char *rel)
{
	char	path[PATH_MAX], line[FEEDPINS_LINE_MAX + 2];
	int	fd, n, rc = -1;

	if (!feedstore_valid_path(rel) || strchr(feed, '/') != NULL ||
	    feed[0] == '.' || feed[0] == '\0')
		return -1;
	snprintf(path, sizeof path, "%s/feedpins", c->dir);
	if (util_mkdirs(path, 0755) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/feedpins/%s", c->dir, feed);
	n = snprintf(line, sizeof line, "%s\n", rel);
	if (n < 0 || (size_t)n >= sizeof line)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
		return -1;
	if (write(fd, line, (size_t)n) == n && fdatasync(fd) == 0)
		rc = 0;
	close(fd);
	return rc == 0 ? cache_pins_changed(c) : -1;
}

/* Pins, in the index, every feed file that a feedpins list names. */
int
feedpins_apply(const struct cache *c, struct storeindex *ix)
{
	char		 dir[PATH_MAX], list[PATH_MAX + 264], line[FEEDPINS_LINE_MAX];
	char		 root[PATH_MAX], data[PATH_MAX], meta[PATH_MAX];
	unsigned char	 key[STOREINDEX_KEY_LEN];
	size_t		 len = strlen(c->dir);
	DIR		*d;
	struct dirent	*de;
	FILE		*f;

	snprintf(dir, sizeof dir, "%s/feedpins", c->dir);
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(list, sizeof list, "%s/%s", dir, de->d_name);
		if ((f = fopen(list, "r")) == NULL) {
			closedir(d);
			return -1;	/* fail closed: nothing may go */
		}
		while (fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (!feedstore_valid_path(line) ||
			    feedstore_root(c, de->d_name, root, sizeof root) != 0 ||
			    feedstore_path(root, "data", line, data,
			    sizeof data) != 0 ||
			    feedstore_path(root, "meta", line, meta,
			    sizeof meta) != 0)
				continue;
			if (storeindex_key_path(data + len + 1, key) == 0)
				storeindex_pin(ix, key);
			if (storeindex_key_path(meta + len + 1, key) == 0)
				storeindex_pin(ix, key);
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}
