/*
 * The tags/list document, {"name": ..., "tags": [...]}: read from an
 * upstream's answer, and written one page at a time (n and last as the
 * distribution API defines them) from a list of tags.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lib.h"

/*
 * The valid tags of an upstream's tags/list answer, in its order, into
 * *tags (taglist_free it); entries that are not valid tags are left out.
 * -1 if the answer is not an object with a "tags" array.
 */
int
taglist_parse(const char *buf, size_t len, char ***tags, size_t *count)
{
	json_error_t	 err;
	json_t		*root, *list, *v;
	size_t		 i, n = 0;
	const char	*s;
	char		**out = NULL;
	int		 rc = -1;

	*tags = NULL;
	*count = 0;
	if ((root = json_loadb(buf, len, 0, &err)) == NULL)
		return -1;
	list = json_object_get(root, "tags");
	if (!json_is_array(list) ||
	    (out = calloc(json_array_size(list) + 1, sizeof *out)) == NULL)
		goto out;
	json_array_foreach(list, i, v) {
		if ((s = json_string_value(v)) == NULL || !reference_valid_tag(s))
			continue;
		if ((out[n] = strdup(s)) == NULL) {
			taglist_free(out, n);
			out = NULL;
			goto out;
		}
		n++;
	}
	*tags = out;
	*count = n;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

void
taglist_free(char **tags, size_t count)
{
	size_t	i;

	for (i = 0; tags != NULL && i < count; i++)
		free(tags[i]);
	free(tags);
}

static int
taglist_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Sorts tags and writes the page of repository name that n (-1: no
 * limit) and last ("": from the start) select, as compact JSON (the
 * caller's to free), or NULL. When more tags follow the page, its last
 * tag goes to next (for the Link of the next page), else next is "".
 */
char *
taglist_page(const char *name, char **tags, size_t count, long n,
    const char *last, char *next, size_t nextlen)
{
	json_t	*root, *list;
	char	*text;
	size_t	 i;
	long	 added = 0;

	next[0] = '\0';
	if (count > 0)
		qsort(tags, count, sizeof *tags, taglist_cmp);
	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		if (last[0] != '\0' && strcmp(tags[i], last) <= 0)
			continue;
		if (n >= 0 && added == n) {
			if (added > 0)
				util_strlcpy(next, json_string_value(
				    json_array_get(list, (size_t)added - 1)), nextlen);
			break;
		}
		json_array_append_new(list, json_string(tags[i]));
		added++;
	}
	if ((root = json_pack("{s:s, s:o}", "name", name, "tags", list)) == NULL)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}
