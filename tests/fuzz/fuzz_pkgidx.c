/*
 * Fuzz target: the lookup index pkgindex_build writes, read back after
 * damage (pkgindex.c): a bit flipped on an SD card or a torn write must
 * give an error or the right answer, never a wrong one or a bad read.
 * The input is a Packages text, then after two NUL bytes the damage:
 * triples of a 16-bit offset into the index and a byte to XOR there, or
 * a 0xff byte that cuts the index at the next 16-bit offset.
 */
#include "fuzz.h"
#include "store.h"

#define FUZZ_KEEP	8

struct seen {
	char		 path[FUZZ_KEEP][256];
	unsigned char	 sha256[FUZZ_KEEP][PKGINDEX_SHA256_LEN];
	size_t		 n;
};

static int
fuzz_stanza_cb(const struct pkgindex_stanza *st, void *arg, char **cause)
{
	struct seen	*s = arg;
	const char	*p = st->filename;
	size_t		 i;

	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (!st->has_sha256 || *p == '\0' || strlen(p) >= sizeof s->path[0] ||
	    s->n == FUZZ_KEEP)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->path[i], p) == 0)
			return 0;
	memcpy(s->path[s->n], p, strlen(p) + 1);
	memcpy(s->sha256[s->n], st->sha256, PKGINDEX_SHA256_LEN);
	s->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen	 seen;
	struct digest	 d, want;
	const uint8_t	*damage = memmem(data, size, "\0\0", 2), *p, *end;
	size_t		 text = damage != NULL ? (size_t)(damage - data) : size;
	size_t		 count = 0, i;
	off_t		 len;
	int64_t		 psize;
	char		*cause = NULL;
	unsigned	 off;
	uint8_t		 b;
	int		 in, idx, rc, damaged = 0;

	in = fuzz_memfd(data, text);

	memset(&seen, 0, sizeof seen);
	if (pkgindex_parse(in, 1 << 20, fuzz_stanza_cb, &seen, NULL, &cause) != 0 ||
	    lseek(in, 0, SEEK_SET) != 0) {
		free(cause);
		close(in);
		return 0;
	}
	idx = fuzz_memfd(NULL, 0);
	if (pkgindex_build(in, idx, 1 << 20, &count, &cause) != 0)
		abort();	/* it parsed: it builds */
	close(in);
	len = lseek(idx, 0, SEEK_END);
	for (p = damage != NULL ? damage + 2 : NULL, end = data + size;
	    p != NULL && p + 3 <= end; p += 3) {
		off = (unsigned)(p[0] | p[1] << 8);
		if (p[2] == 0xff) {
			if ((off_t)off < len && ftruncate(idx, off) == 0) {
				len = off;
				damaged = 1;
			}
			continue;
		}
		if ((off_t)off >= len || p[2] == 0)
			continue;
		if (pread(idx, &b, 1, off) != 1)
			abort();
		b ^= p[2];
		if (pwrite(idx, &b, 1, off) != 1)
			abort();
		damaged = 1;
	}
	rc = pkgindex_verify(idx, &i, &cause);
	FUZZ_CHECK(rc == 0 || cause != NULL);
	FUZZ_CHECK(damaged || (rc == 0 && i == count));
	free(cause);
	for (i = 0; i < seen.n; i++) {
		rc = pkgindex_lookup(idx, seen.path[i], &d, &psize);
		FUZZ_CHECK(rc >= -1 && rc <= 1);
		if (!damaged)
			FUZZ_CHECK(rc == 1);
		if (rc == 1) {
			/* Found is found right, damaged or not. */
			digest_from_raw(seen.sha256[i], &want);
			FUZZ_CHECK(digest_equal(&d, &want));
		}
	}
	close(idx);
	return 0;
}
