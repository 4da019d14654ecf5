/*
 * Feed files in the store. A feed's files live under
 * feeds/<name>/data/<path>#, with what the upstream said of them (ETag,
 * Last-Modified, when checked) and their SHA-256 under
 * feeds/<name>/meta/<path>#. The '#' (which no valid path may contain)
 * keeps a file from ever taking the name of a directory: caching "dists"
 * cannot break "dists/stable/InRelease".
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

/*
 * A path inside a feed: components of [A-Za-z0-9._+~:=@,-] (no '%': what
 * we check is what the upstream gets), none "." or
 * "..", at most 16 deep. Anything else never reaches the file system.
 */
int
feedstore_valid_path(const char *rel)
{
	const char	*p = rel, *c;
	int		 depth = 0;
	size_t		 len;

	if (*rel == '\0' || strlen(rel) > 1024)
		return 0;
	while (*p != '\0') {
		len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.') || ++depth > 16)
			return 0;
		for (c = p; c < p + len; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			    (*c >= '0' && *c <= '9') || strchr("._+~:=@,-", *c) != NULL))
				return 0;
		p += len;
		if (*p == '/' && *++p == '\0')
			return 0;	/* a trailing '/' */
	}
	return 1;
}

/* <cache>/feeds/<name>/<tree>/<rel># for tree "data" or "meta". */
int
feedstore_path(const struct cache *c, const char *feed, const char *tree,
    const char *rel, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/feeds/%s/%s/%s#", c->dir, feed, tree,
	    rel);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int
feedstore_meta_read(const char *path, struct feed_meta *m)
{
	json_t		*o;
	json_error_t	 err;
	const char	*s;

	memset(m, 0, sizeof *m);
	if ((o = json_load_file(path, 0, &err)) == NULL)
		return -1;
	if ((s = json_string_value(json_object_get(o, "etag"))) != NULL)
		util_strlcpy(m->etag, s, sizeof m->etag);
	if ((s = json_string_value(json_object_get(o, "last_modified"))) != NULL)
		util_strlcpy(m->last_modified, s, sizeof m->last_modified);
	if ((s = json_string_value(json_object_get(o, "sha256"))) != NULL)
		util_strlcpy(m->sha256, s, sizeof m->sha256);
	m->checked = (time_t)json_integer_value(json_object_get(o, "checked"));
	json_decref(o);
	return 0;
}

int
feedstore_meta_write(const struct cache *c, const char *path, const struct feed_meta *m)
{
	char	 dir[PATH_MAX], *slash, *text;
	json_t	*o;
	int	 rc;

	util_strlcpy(dir, path, sizeof dir);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (util_mkdirs(dir, 0755) != 0)
			return -1;
	}
	o = json_pack("{s:s, s:s, s:s, s:I}", "etag", m->etag, "last_modified",
	    m->last_modified, "sha256", m->sha256, "checked",
	    (json_int_t)m->checked);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return -1;
	rc = cache_write_file(c, path, text);
	free(text);
	return rc;
}

/*
 * Removes a feed file (its absolute data path) and what is known of it:
 * the budget evicts package files this way.
 */
int
feedstore_remove(const struct cache *c, const char *data)
{
	char		 meta[PATH_MAX];
	const char	*at;
	size_t		 len = strlen(c->dir);
	int		 rc = 0;

	if (strncmp(data, c->dir, len) != 0 || data[len] != '/' ||
	    strstr(data, "/../") != NULL)
		return -1;
	if (unlink(data) != 0 && errno != ENOENT)
		rc = -1;
	if ((at = strstr(data + len, "/data/")) != NULL &&
	    (size_t)snprintf(meta, sizeof meta, "%.*s/meta/%s", (int)(at - data),
	    data, at + 6) < sizeof meta)
		unlink(meta);
	return rc;
}
