/*
 * An image in the cache, as a graph: a manifest (or index) and everything
 * it references — child manifests, configs, layers — read from the cached
 * manifests themselves. What lists, verifies, pins and collects the cache
 * is built on this walk.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

#define IMAGE_MAX_DEPTH		4
#define IMAGE_MANIFEST_MAX	(8 * 1024 * 1024)

static int
image_walk_at(const struct cache *c, const struct digest *d, int depth,
    struct digest_set *seen, image_walk_cb cb, void *arg)
{
	char		 path[PATH_MAX];
	json_t		*root, *list, *v;
	json_error_t	 err;
	struct digest	 child;
	size_t		 i;
	int		 rc = 0, present;
	const char	*keys[] = { "manifests", "layers", NULL };
	int		 k;

	/* A child shared by several platforms is walked once. */
	if (digest_set_contains(seen, d))
		return 0;
	if (digest_set_add(seen, d) != 0)
		return -1;
	present = cache_blob_exists(c, d);
	if (cb(d, -1, 1, present, arg) != 0)
		return -1;
	if (!present || depth >= IMAGE_MAX_DEPTH ||
	    cache_blob_path(c, d, path, sizeof path) != 0)
		return 0;
	if ((root = json_load_file(path, 0, &err)) == NULL)
		return 0;		/* not JSON: a blob, not a manifest */
	v = json_object_get(root, "config");
	if (json_is_object(v) && digest_parse(json_string_value(json_object_get(v,
	    "digest")) != NULL ? json_string_value(json_object_get(v, "digest")) :
	    "", &child) == 0)
		rc = cb(&child, json_integer_value(json_object_get(v, "size")), 0,
		    cache_blob_exists(c, &child), arg);
	for (k = 0; rc == 0 && keys[k] != NULL; k++) {
		list = json_object_get(root, keys[k]);
		json_array_foreach(list, i, v) {
			const char *ds = json_string_value(json_object_get(v, "digest"));

			if (ds == NULL || digest_parse(ds, &child) != 0)
				continue;
			if (k == 0)
				rc = image_walk_at(c, &child, depth + 1, seen, cb, arg);
			else
				rc = cb(&child, json_integer_value(json_object_get(v,
				    "size")), 0, cache_blob_exists(c, &child), arg);
			if (rc != 0)
				break;
		}
	}
	json_decref(root);
	return rc;
}

/*
 * Calls cb for the manifest d and, depth first, for everything it
 * references: cb(digest, size or -1, is_manifest, present, arg). A
 * non-zero return from cb stops the walk and is returned.
 */
int
image_walk(const struct cache *c, const struct digest *d, image_walk_cb cb,
    void *arg)
{
	struct digest_set	seen;
	int			rc;

	memset(&seen, 0, sizeof seen);
	rc = image_walk_at(c, d, 0, &seen, cb, arg);
	digest_set_free(&seen);
	return rc;
}
