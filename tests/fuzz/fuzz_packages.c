/*
 * Fuzz target: Packages files, plain, gzip or xz (pkgindex.c), then the
 * lookup index built from them. The input is the file as it comes; or,
 * when its first byte is 0x01 (0x02), the rest gzip- (xz-) compressed
 * here, so that the text inside a valid stream is explored too. Every
 * package the parser hands over with a Filename and an SHA256 must be
 * found in the index built from the same file.
 */
#include <lzma.h>
#include <zlib.h>

#include "fuzz.h"
#include "store.h"

#define FUZZ_MAX_TEXT	(4 * 1024 * 1024)	/* decompressed bytes */
#define FUZZ_KEEP	8			/* stanzas checked */

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

	FUZZ_CHECK(st->package != NULL && st->filename != NULL &&
	    st->version != NULL && st->depends != NULL);
	FUZZ_CHECK(st->size >= -1);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (!st->has_sha256 || *p == '\0' || strlen(p) >= sizeof s->path[0] ||
	    s->n == FUZZ_KEEP)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->path[i], p) == 0)
			return 0;	/* the first one is kept */
	memcpy(s->path[s->n], p, strlen(p) + 1);
	memcpy(s->sha256[s->n], st->sha256, PKGINDEX_SHA256_LEN);
	s->n++;
	return 0;
}

static size_t
fuzz_gzip(const uint8_t *in, size_t len, uint8_t **out)
{
	z_stream	z;
	size_t		cap;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	cap = deflateBound(&z, len) + 64;
	if ((*out = malloc(cap)) == NULL)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	z.next_out = *out;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	deflateEnd(&z);
	return cap - z.avail_out;
}

static size_t
fuzz_xz(const uint8_t *in, size_t len, uint8_t **out)
{
	size_t	cap = lzma_stream_buffer_bound(len), pos = 0;

	if ((*out = malloc(cap)) == NULL ||
	    lzma_easy_buffer_encode(0, LZMA_CHECK_CRC64, NULL, in, len, *out,
	    &pos, cap) != LZMA_OK)
		abort();
	return pos;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkgindex_stats	 stats;
	struct seen		 seen;
	struct digest		 d, want;
	uint8_t			*packed = NULL;
	char			*cause = NULL;
	size_t			 len = size, count = 0, vcount = 0, i;
	int64_t			 psize;
	int			 fd, out, rc;

	if (size > 0 && data[0] == 0x01)
		len = fuzz_gzip(data + 1, size - 1, &packed);
	else if (size > 0 && data[0] == 0x02)
		len = fuzz_xz(data + 1, size - 1, &packed);
	fd = fuzz_memfd(packed != NULL ? packed : data, len);
	free(packed);

	memset(&seen, 0, sizeof seen);
	memset(&stats, 0, sizeof stats);
	rc = pkgindex_parse(fd, FUZZ_MAX_TEXT, fuzz_stanza_cb, &seen, &stats,
	    &cause);
	FUZZ_CHECK(rc == 0 || (rc == -1 && cause != NULL));
	FUZZ_CHECK(stats.bytes <= FUZZ_MAX_TEXT);
	free(cause);
	cause = NULL;

	out = fuzz_memfd(NULL, 0);
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (pkgindex_build(fd, out, FUZZ_MAX_TEXT, &count, &cause) == 0) {
		FUZZ_CHECK(rc == 0);	/* the same file parses the same */
		FUZZ_CHECK(pkgindex_verify(out, &vcount, &cause) == 0);
		FUZZ_CHECK(vcount == count && count >= seen.n);
		for (i = 0; i < seen.n; i++) {
			FUZZ_CHECK(pkgindex_lookup(out, seen.path[i], &d,
			    &psize) == 1);
			digest_from_raw(seen.sha256[i], &want);
			FUZZ_CHECK(digest_equal(&d, &want));
		}
		FUZZ_CHECK(pkgindex_lookup(out, "pool/not/listed.deb", &d,
		    &psize) >= 0);
	} else
		FUZZ_CHECK(cause != NULL);
	free(cause);
	close(out);
	close(fd);
	return 0;
}
