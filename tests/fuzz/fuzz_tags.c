/*
 * Fuzz target: an upstream's tags/list answer and the pages written from
 * it (taglist.c). The first byte is n (255: no limit), then a "last"
 * of up to 31 bytes whose length is the second byte; the rest is the
 * answer.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	**tags, **again, *page, last[REFERENCE_TAG_MAX + 1];
	char	  next[REFERENCE_TAG_MAX + 1];
	size_t	  count, n_again, i, llen;
	long	  n;

	if (size < 2)
		return 0;
	n = data[0] == 255 ? -1 : data[0];
	llen = data[1] % 32;
	if (size < 2 + llen)
		return 0;
	memcpy(last, data + 2, llen);
	last[llen] = '\0';
	if (last[0] != '\0' && !reference_valid_tag(last))
		last[0] = '\0';		/* tags.c refuses it with 400 */
	data += 2 + llen;
	size -= 2 + llen;

	if (taglist_parse((const char *)data, size, &tags, &count) != 0)
		return 0;
	for (i = 0; i < count; i++)
		FUZZ_CHECK(reference_valid_tag(tags[i]));
	page = taglist_page("acme/app", tags, count, n, last, next, sizeof next);
	FUZZ_CHECK(page != NULL);
	/* The page reads back as a tag list of at most n tags after last. */
	FUZZ_CHECK(taglist_parse(page, strlen(page), &again, &n_again) == 0);
	FUZZ_CHECK(n < 0 || n_again <= (size_t)n);
	for (i = 0; i < n_again; i++)
		FUZZ_CHECK(last[0] == '\0' || strcmp(again[i], last) > 0);
	if (next[0] != '\0')
		FUZZ_CHECK(n_again > 0 && strcmp(next, again[n_again - 1]) == 0);
	taglist_free(again, n_again);
	free(page);
	taglist_free(tags, count);
	return 0;
}
