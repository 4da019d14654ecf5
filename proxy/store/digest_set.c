/*
 * Sets of digests: what an image graph has visited, what gc keeps, what
 * the byte budget may not evict. Added to in any order; sorted once, on
 * the first lookup after a change.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

static int
digest_set_cmp(const void *a, const void *b)
{
	return memcmp(((const struct digest *)a)->hex,
	    ((const struct digest *)b)->hex, DIGEST_HEX_LEN);
}

/* Adds d (a duplicate is harmless); -1 when out of memory. */
int
digest_set_add(struct digest_set *s, const struct digest *d)
{
	struct digest	*n;
	size_t		 cap;

	if (s->n == s->cap) {
		cap = s->cap == 0 ? 64 : s->cap * 2;
		if ((n = reallocarray(s->v, cap, sizeof *n)) == NULL)
			return -1;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = *d;
	s->sorted = 0;
	return 0;
}

int
digest_set_contains(struct digest_set *s, const struct digest *d)
{
	if (s->n == 0)
		return 0;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof *s->v, digest_set_cmp);
		s->sorted = 1;
	}
	return bsearch(d, s->v, s->n, sizeof *s->v, digest_set_cmp) != NULL;
}

/* Empties s; it can be used again. */
void
digest_set_free(struct digest_set *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}
