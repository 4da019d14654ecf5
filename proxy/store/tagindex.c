/*
 * Tag indexes: <root>/<entry>/<repo>/_tags/<tag> holds the digest and
 * media type a tag resolved to. Three roots use the same format: "repos"
 * (what tags resolved to), "pins" (what the operator pinned) and
 * "referrers" (the listing of a digest's referrers, as sha256-<hex>).
 * Entry names, repository names and tags are validated before they get
 * here, so the path stays inside the cache ("_tags" cannot be a
 * repository component: those start with [a-z0-9]). Each file is replaced
 * atomically and survives a restart.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static int
tagindex_dir(const struct cache *c, const char *root, const char *entry,
    const char *repo, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/%s/%s/%s/_tags", c->dir, root, entry, repo);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static int
tagindex_path(const struct cache *c, const char *root, const char *entry,
    const char *repo, const char *tag, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/%s/%s/%s/_tags/%s", c->dir, root, entry, repo,
	    tag);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int
tagindex_get_in(const struct cache *c, const char *root, const char *entry,
    const char *repo, const char *tag, struct tagindex_entry *e)
{
	char		 path[PATH_MAX];
	json_t		*obj;
	json_error_t	 err;
	const char	*digest, *type;
	json_int_t	 checked;
	int		 mem = (c->mem != NULL && strcmp(root, TAGINDEX_TAGS) == 0);

	if (mem && memcache_tag_get(c->mem, entry, repo, tag, e) == 0)
		return 0;
	if (tagindex_path(c, root, entry, repo, tag, path, sizeof path) != 0)
		return -1;
	if ((obj = json_load_file(path, 0, &err)) == NULL)
		return -1;
	if (json_unpack(obj, "{s:s, s:s, s:I}", "digest", &digest,
	    "mediaType", &type, "checked", &checked) != 0 ||
	    digest_parse(digest, &e->digest) != 0 ||
	    util_strlcpy(e->media_type, type, sizeof e->media_type) != 0) {
		log_warn("%s: %s: malformed, ignored", __func__, path);
		json_decref(obj);
		return -1;
	}
	e->checked = (time_t)checked;
	json_decref(obj);
	if (mem)
		memcache_tag_put(c->mem, entry, repo, tag, e);
	return 0;
}

int
tagindex_put_in(const struct cache *c, const char *root, const char *entry,
    const char *repo, const char *tag, const struct tagindex_entry *e)
{
	char	 path[PATH_MAX], dir[PATH_MAX], digest[DIGEST_STRING_LEN + 1];
	char	*text;
	json_t	*obj;
	int	 rc;

	if (tagindex_dir(c, root, entry, repo, dir, sizeof dir) != 0 ||
	    tagindex_path(c, root, entry, repo, tag, path, sizeof path) != 0)
		return -1;
	if (util_mkdirs(dir, 0755) != 0) {
		log_warn("%s: %s: %s", __func__, dir, strerror(errno));
		return -1;
	}
	digest_format(&e->digest, digest, sizeof digest);
	obj = json_pack("{s:s, s:s, s:I}", "digest", digest, "mediaType",
	    e->media_type, "checked", (json_int_t)e->checked);
	if (obj == NULL)
		return -1;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return -1;
	rc = cache_write_file(c, path, text);
	free(text);
	if (rc == 0 && strcmp(root, TAGINDEX_PINS) == 0)
		rc = cache_pins_changed(c);
	else if (rc == 0 && c->mem != NULL)
		memcache_tag_put(c->mem, entry, repo, tag, e);
	else if (rc == 0)
		rc = cache_tags_changed(c);	/* a command: tell the daemon */
	return rc;
}

/* Removes one tag; 0 also when it was not there. */
int
tagindex_remove_in(const struct cache *c, const char *root, const char *entry,
    const char *repo, const char *tag)
{
	char	path[PATH_MAX];

	if (tagindex_path(c, root, entry, repo, tag, path, sizeof path) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT) {
		log_warn("%s: %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	if (strcmp(root, TAGINDEX_PINS) == 0)
		return cache_pins_changed(c);
	if (c->mem != NULL) {
		memcache_tag_forget(c->mem, entry, repo, tag);
		return 0;
	}
	return cache_tags_changed(c);
}

/* The tags of a repository, unsorted; an unknown repository has none. */
static int
tagindex_list_in(const struct cache *c, const char *root, const char *entry,
    const char *repo, char ***tags, size_t *count)
{
	char		 dir[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	char		**v = NULL, **nv;
	size_t		 n = 0;

	*tags = NULL;
	*count = 0;
	if (tagindex_dir(c, root, entry, repo, dir, sizeof dir) != 0)
		return -1;
	if ((d = opendir(dir)) == NULL)
		return (errno == ENOENT) ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (!reference_valid_tag(de->d_name))
			continue;
		nv = reallocarray(v, n + 1, sizeof *v);
		if (nv == NULL)
			goto fail;
		v = nv;
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto fail;
		n++;
	}
	closedir(d);
	*tags = v;
	*count = n;
	return 0;
fail:
	closedir(d);
	tagindex_list_free(v, n);
	return -1;
}

void
tagindex_list_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Visits <root>/<entry>/<repo...>/_tags/<tag>; repo grows in its buffer. */
static int
tagindex_walk_dir(const struct cache *c, const char *root, const char *entry,
    char *repo, size_t repolen, tagindex_walk_cb cb, void *arg)
{
	char			 dir[PATH_MAX];
	DIR			*d;
	struct dirent		*de;
	struct tagindex_entry	 e;
	size_t			 len = strlen(repo);
	int			 rc = 0;

	snprintf(dir, sizeof dir, "%s/%s/%s%s%s", c->dir, root, entry,
	    len > 0 ? "/" : "", repo);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strcmp(de->d_name, "_tags") == 0 && len > 0) {
			char	**tags;
			size_t	  n, i;

			if (tagindex_list_in(c, root, entry, repo, &tags, &n) != 0)
				continue;
			for (i = 0; rc == 0 && i < n; i++)
				if (tagindex_get_in(c, root, entry, repo, tags[i],
				    &e) == 0)
					rc = cb(entry, repo, tags[i], &e, arg);
			tagindex_list_free(tags, n);
			continue;
		}
		if (!reference_valid_name(de->d_name) ||
		    len + 1 + strlen(de->d_name) >= repolen)
			continue;
		snprintf(repo + len, repolen - len, "%s%s", len > 0 ? "/" : "",
		    de->d_name);
		rc = tagindex_walk_dir(c, root, entry, repo, repolen, cb, arg);
		repo[len] = '\0';
	}
	closedir(d);
	return rc;
}

/* Calls cb(entry, repository, tag, value) for every tag under root. */
int
tagindex_walk_in(const struct cache *c, const char *root, tagindex_walk_cb cb,
    void *arg)
{
	char		 dir[PATH_MAX], repo[REFERENCE_NAME_MAX + 1];
	DIR		*d;
	struct dirent	*de;
	int		 rc = 0;

	snprintf(dir, sizeof dir, "%s/%s", c->dir, root);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		repo[0] = '\0';
		rc = tagindex_walk_dir(c, root, de->d_name, repo, sizeof repo, cb,
		    arg);
	}
	closedir(d);
	return rc;
}

/*
 * A tag as the cache alone answers it: the first of entries[0..n), in that
 * order, whose index has repo:tag and whose manifest is in the cache (an
 * index entry whose manifest is gone is no answer). -1 if none has it.
 */
int
tagindex_resolve(const struct cache *c, const char *const *entries, size_t n,
    const char *repo, const char *tag, struct tagindex_entry *e)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (tagindex_get(c, entries[i], repo, tag, e) == 0 &&
		    cache_blob_exists(c, &e->digest))
			return 0;
	return -1;
}

/* The tag index proper ("repos"). */
int
tagindex_get(const struct cache *c, const char *entry, const char *repo,
    const char *tag, struct tagindex_entry *e)
{
	return tagindex_get_in(c, TAGINDEX_TAGS, entry, repo, tag, e);
}

int
tagindex_put(const struct cache *c, const char *entry, const char *repo,
    const char *tag, const struct tagindex_entry *e)
{
	return tagindex_put_in(c, TAGINDEX_TAGS, entry, repo, tag, e);
}

int
tagindex_list(const struct cache *c, const char *entry, const char *repo,
    char ***tags, size_t *count)
{
	return tagindex_list_in(c, TAGINDEX_TAGS, entry, repo, tags, count);
}

int
tagindex_walk(const struct cache *c, tagindex_walk_cb cb, void *arg)
{
	return tagindex_walk_in(c, TAGINDEX_TAGS, cb, arg);
}
