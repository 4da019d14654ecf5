/*
 * Unit tests: the Packages parser (plain, gzip, xz), the lookup index built
 * from it, and the Release/InRelease reader, on good and hostile input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

#include <lzma.h>
#include <zlib.h>


#define MIB	(1024 * 1024)

/* A growing text buffer. */
struct text {
	char	*p;
	size_t	 len, cap;
};

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		assert_non_null(t->p = realloc(t->p, t->cap));
		if (t->len == 0)
			t->p[0] = '\0';
	}
	t->len += (size_t)n;
}

static void
text_bytes(struct text *t, const void *p, size_t len)
{
	if (t->cap - t->len < len + 1) {
		t->cap = (t->cap + len + 1) * 2;
		assert_non_null(t->p = realloc(t->p, t->cap));
	}
	memcpy(t->p + t->len, p, len);
	t->len += len;
	t->p[t->len] = '\0';
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* A descriptor holding data, at offset 0 (an unlinked temporary file). */
static int
mkfd(const void *data, size_t len)
{
	char	path[] = "/tmp/pullgate-pkgindex.XXXXXX";
	int	fd;

	assert_true((fd = mkstemp(path)) != -1);
	unlink(path);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void
gzip_of(const void *in, size_t len, int level, unsigned char **out,
    size_t *outlen)
{
	z_stream	z;

	memset(&z, 0, sizeof z);
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	*outlen = deflateBound(&z, len) + 64;
	assert_non_null(*out = malloc(*outlen));
	z.next_in = (unsigned char *)in;
	z.avail_in = len;
	z.next_out = *out;
	z.avail_out = *outlen;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
}

static void
xz_of(const void *in, size_t len, uint32_t preset, unsigned char **out,
    size_t *outlen)
{
	size_t	cap = lzma_stream_buffer_bound(len), pos = 0;

	assert_non_null(*out = malloc(cap));
	assert_int_equal(lzma_easy_buffer_encode(preset, LZMA_CHECK_CRC64, NULL,
	    in, len, *out, &pos, cap), LZMA_OK);
	*outlen = pos;
}

/* The lowercase hex SHA-256 of a string: a stand-in package digest. */
static void
hex_of(const char *s, char *hex)
{
	struct digest	d;

	assert_int_equal(hash_buffer(s, strlen(s), &d), 0);
	memcpy(hex, d.hex, DIGEST_HEX_LEN + 1);
}

/* A well-formed Debian stanza for package name, number i. */
static void
stanza(struct text *t, const char *name, int i)
{
	char	hex[DIGEST_HEX_LEN + 1];

	hex_of(name, hex);
	text_add(t, "Package: %s\nVersion: 1.%d-1\nArchitecture: amd64\n"
	    "Maintainer: Someone <someone@example.org>\n"
	    "Installed-Size: %d\nDepends: libc6 (>= 2.36)\n"
	    "Filename: pool/main/%c/%s/%s_1.%d-1_amd64.deb\nSize: %d\n"
	    "MD5sum: 0123456789abcdef0123456789abcdef\nSHA256: %s\n"
	    "Description: the package %s\n long text\n .\n more\n\n",
	    name, i, i, name[0], name, name, i, 1000 + i, hex, name);
}

/* Builds the index of data; its descriptor, or -1 with *cause. */
static int
build(const void *data, size_t len, uint64_t max, size_t *count, char **cause)
{
	int	in = mkfd(data, len), out = mkfd("", 0), rc;

	rc = pkgindex_build(in, out, max, count, cause);
	close(in);
	if (rc != 0) {
		close(out);
		return -1;
	}
	return out;
}

static char *
file_bytes(int fd, size_t *len)
{
	struct stat	 st;
	char		*p;

	assert_int_equal(fstat(fd, &st), 0);
	assert_non_null(p = malloc((size_t)st.st_size + 1));
	assert_int_equal(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	*len = (size_t)st.st_size;
	return p;
}

/* Collects the stanzas a parse hands over. */
struct seen {
	int	n;
	char	package[16][64];
	char	version[16][64];
	char	arch[16][64];
	char	filename[16][256];
	char	depends[16][256];
	char	pre_depends[16][256];
	char	provides[16][256];
	int64_t	size[16];
	int	has_sha256[16];
	unsigned char sha256[16][32];
	int	stop_after;		/* 1 stops, -1 fails, after that many */
};

static int
seen_cb(const struct pkgindex_stanza *st, void *arg, char **cause)
{
	struct seen	*s = arg;
	int		 i = s->n;

	assert_true(i < 16);
	util_strlcpy(s->package[i], st->package, sizeof s->package[i]);
	util_strlcpy(s->version[i], st->version, sizeof s->version[i]);
	util_strlcpy(s->arch[i], st->architecture, sizeof s->arch[i]);
	util_strlcpy(s->filename[i], st->filename, sizeof s->filename[i]);
	util_strlcpy(s->depends[i], st->depends, sizeof s->depends[i]);
	util_strlcpy(s->pre_depends[i], st->pre_depends, sizeof s->pre_depends[i]);
	util_strlcpy(s->provides[i], st->provides, sizeof s->provides[i]);
	s->size[i] = st->size;
	s->has_sha256[i] = st->has_sha256;
	memcpy(s->sha256[i], st->sha256, 32);
	s->n++;
	if (s->stop_after != 0 && s->n == abs(s->stop_after)) {
		if (s->stop_after < 0)
			*cause = strdup("enough");
		return s->stop_after < 0 ? -1 : 1;
	}
	return 0;
}

static int
parse_text(const char *text, size_t len, uint64_t max, struct seen *s,
    struct pkgindex_stats *stats, char **cause)
{
	int	fd = mkfd(text, len), rc;

	rc = pkgindex_parse(fd, max, seen_cb, s, stats, cause);
	close(fd);
	return rc;
}

static void
test_stanza_fields(void **state)
{
	static const char text[] =
	    "\n\n"
	    "Package: alpha\n"
	    "Version: 1:2.0-1\n"
	    "Architecture: amd64\n"
	    "Filename: pool/main/a/alpha/alpha_2.0-1_amd64.deb\n"
	    "Size: 4242\n"
	    "SHA256: E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n"
	    "Depends: libc6 (>= 2.36),\n"
	    "  libfoo1 (>= 1.0) | libfoo2,\t\n"
	    "\tlibbar\n"
	    "Pre-Depends: dpkg (>= 1.19)\n"
	    "Provides: alpha-virtual\n"
	    "Description: first\n"
	    " long text: with a colon\n"
	    " .\n"
	    "\n"
	    "package: tool-y\r\n"			/* opkg, CRLF, any case */
	    "VERSION: 1.0\r\n"
	    "Architecture: all\r\n"
	    "Filename:   tool-y_1.0_all.ipk   \r\n"
	    "SHA256sum: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
	    "\r\n"
	    " \t \n"					/* blank: only spaces */
	    "Package: last\n"				/* no final newline */
	    "Depends:\n"
	    " first-word";
	struct seen		 s;
	struct pkgindex_stats	 stats;
	struct digest		 d;
	char			*cause = NULL;

	(void)state;
	memset(&s, 0, sizeof s);
	assert_int_equal(parse_text(text, sizeof text - 1, MIB, &s, &stats,
	    &cause), 0);
	assert_null(cause);
	assert_int_equal(s.n, 3);
	assert_int_equal(stats.stanzas, 3);
	assert_int_equal(stats.skipped, 0);
	assert_int_equal(stats.bytes, sizeof text - 1);

	assert_string_equal(s.package[0], "alpha");
	assert_string_equal(s.version[0], "1:2.0-1");
	assert_string_equal(s.arch[0], "amd64");
	assert_string_equal(s.filename[0], "pool/main/a/alpha/alpha_2.0-1_amd64.deb");
	assert_int_equal(s.size[0], 4242);
	assert_true(s.has_sha256[0]);
	digest_from_raw(s.sha256[0], &d);
	assert_string_equal(d.hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(s.depends[0],
	    "libc6 (>= 2.36), libfoo1 (>= 1.0) | libfoo2, libbar");
	assert_string_equal(s.pre_depends[0], "dpkg (>= 1.19)");
	assert_string_equal(s.provides[0], "alpha-virtual");

	assert_string_equal(s.package[1], "tool-y");
	assert_string_equal(s.version[1], "1.0");
	assert_string_equal(s.filename[1], "tool-y_1.0_all.ipk");
	assert_int_equal(s.size[1], -1);		/* absent */
	assert_true(s.has_sha256[1]);
	assert_string_equal(s.depends[1], "");

	assert_string_equal(s.package[2], "last");
	assert_string_equal(s.depends[2], "first-word");
	assert_false(s.has_sha256[2]);
	assert_string_equal(s.filename[2], "");
}

static void
test_callback_stops(void **state)
{
	struct text	 t = { 0 };
	struct seen	 s;
	char		*cause = NULL;

	(void)state;
	stanza(&t, "a", 1);
	stanza(&t, "b", 2);
	stanza(&t, "c", 3);
	memset(&s, 0, sizeof s);
	s.stop_after = 2;
	assert_int_equal(parse_text(t.p, t.len, MIB, &s, NULL, &cause), 1);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof s);
	s.stop_after = -1;
	assert_int_equal(parse_text(t.p, t.len, MIB, &s, NULL, &cause), -1);
	assert_int_equal(s.n, 1);
	assert_string_equal(cause, "enough");
	free(cause);
	free(t.p);
}

static const char *names[] = { "alpha", "beta", "gamma", "delta", "epsilon",
    "zeta", "eta", "theta", "iota", "kappa" };
#define NNAMES	(sizeof names / sizeof names[0])

static void
sample(struct text *t)
{
	size_t	i;

	for (i = 0; i < NNAMES; i++)
		stanza(t, names[i], (int)i);
}

static void
check_all(int idx)
{
	struct digest	d;
	int64_t		size;
	char		path[256], hex[DIGEST_HEX_LEN + 1];
	size_t		i;

	for (i = 0; i < NNAMES; i++) {
		snprintf(path, sizeof path, "pool/main/%c/%s/%s_1.%zu-1_amd64.deb",
		    names[i][0], names[i], names[i], i);
		hex_of(names[i], hex);
		assert_int_equal(pkgindex_lookup(idx, path, &d, &size), 1);
		assert_string_equal(d.hex, hex);
		assert_int_equal(size, 1000 + (int64_t)i);
	}
}

static void
test_formats_same_index(void **state)
{
	struct text	 t = { 0 }, two = { 0 };
	unsigned char	*gz, *gz2, *xz;
	size_t		 gzlen, gz2len, xzlen, count, len[4], i;
	char		*cause = NULL, *bytes[4];
	int		 idx[4];

	(void)state;
	sample(&t);
	gzip_of(t.p, t.len, 6, &gz, &gzlen);
	xz_of(t.p, t.len, 6, &xz, &xzlen);
	/* gzip with two members: the first half, then the rest. */
	gzip_of(t.p, t.len / 2, 1, &gz2, &gz2len);
	text_bytes(&two, gz2, gz2len);
	free(gz2);
	gzip_of(t.p + t.len / 2, t.len - t.len / 2, 9, &gz2, &gz2len);
	text_bytes(&two, gz2, gz2len);

	assert_true((idx[0] = build(t.p, t.len, MIB, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES);
	assert_true((idx[1] = build(gz, gzlen, MIB, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES);
	assert_true((idx[2] = build(xz, xzlen, MIB, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES);
	assert_true((idx[3] = build(two.p, two.len, MIB, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES);
	for (i = 0; i < 4; i++) {
		bytes[i] = file_bytes(idx[i], &len[i]);
		assert_int_equal(len[i], len[0]);
		assert_memory_equal(bytes[i], bytes[0], len[0]);
		assert_int_equal(pkgindex_verify(idx[i], &count, &cause), 0);
		assert_int_equal(count, NNAMES);
		check_all(idx[i]);
		close(idx[i]);
	}
	for (i = 0; i < 4; i++)
		free(bytes[i]);
	free(gz);
	free(gz2);
	free(xz);
	free(two.p);
	free(t.p);
}

static void
test_lookup(void **state)
{
	struct text	 t = { 0 };
	struct digest	 d;
	int64_t		 size;
	size_t		 count;
	char		*cause = NULL, hex[DIGEST_HEX_LEN + 1];
	int		 idx;

	(void)state;
	sample(&t);
	hex_of("nosize", hex);
	text_add(&t, "Package: nosize\nFilename: ./tool-n_1_all.ipk\n"
	    "SHA256sum: %s\n\n", hex);
	text_add(&t, "Package: nofile\nSHA256: %s\nSize: 1\n\n", hex);
	text_add(&t, "Package: nohash\nFilename: pool/nohash.deb\nSize: 1\n\n");
	assert_true((idx = build(t.p, t.len, MIB, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES + 1);
	check_all(idx);
	/* "./" is ignored on both sides; no Size is -1. */
	assert_int_equal(pkgindex_lookup(idx, "tool-n_1_all.ipk", &d, &size), 1);
	assert_string_equal(d.hex, hex);
	assert_int_equal(size, -1);
	assert_int_equal(pkgindex_lookup(idx, "././tool-n_1_all.ipk", &d, &size), 1);
	/* Not listed. */
	assert_int_equal(pkgindex_lookup(idx, "pool/nohash.deb", &d, &size), 0);
	assert_int_equal(pkgindex_lookup(idx, "pool/main/a/alpha/alpha_1.0-1_amd64.deb.sig",
	    &d, &size), 0);
	assert_int_equal(pkgindex_lookup(idx, "main/a/alpha/alpha_1.0-1_amd64.deb",
	    &d, &size), 0);
	assert_int_equal(pkgindex_lookup(idx, "", &d, &size), 0);
	assert_int_equal(pkgindex_lookup(idx, "./", &d, &size), 0);
	close(idx);

	/* An empty Packages: an empty, valid index. */
	assert_true((idx = build("", 0, MIB, &count, &cause)) != -1);
	assert_int_equal(count, 0);
	assert_int_equal(pkgindex_verify(idx, &count, &cause), 0);
	assert_int_equal(pkgindex_lookup(idx, "pool/a.deb", &d, &size), 0);
	close(idx);
	free(t.p);
}

static void
test_duplicates_first_wins(void **state)
{
	struct text	 t = { 0 };
	struct digest	 d;
	int64_t		 size;
	size_t		 count;
	char		*cause = NULL, h1[DIGEST_HEX_LEN + 1], h2[DIGEST_HEX_LEN + 1];
	int		 idx;

	(void)state;
	hex_of("first", h1);
	hex_of("second", h2);
	text_add(&t, "Package: a\nFilename: pool/a.deb\nSize: 1\nSHA256: %s\n\n", h1);
	text_add(&t, "Package: b\nFilename: pool/b.deb\nSize: 2\nSHA256: %s\n\n", h1);
	text_add(&t, "Package: a\nFilename: pool/a.deb\nSize: 3\nSHA256: %s\n\n", h2);
	text_add(&t, "Package: a\nFilename: ./pool/a.deb\nSize: 4\nSHA256: %s\n\n", h2);
	assert_true((idx = build(t.p, t.len, MIB, &count, &cause)) != -1);
	assert_int_equal(count, 2);
	assert_int_equal(pkgindex_lookup(idx, "pool/a.deb", &d, &size), 1);
	assert_string_equal(d.hex, h1);
	assert_int_equal(size, 1);
	close(idx);
	free(t.p);
}

/*
 * Hostile stanzas: each is skipped on its own, and the good ones around it
 * are still read.
 */
static void
test_hostile_stanzas(void **state)
{
	static const char *bad[] = {
		"Package: nul\nFilename: pool/nul.deb\nSHA256: %s\nX: a\0b\n",
		"Package: shorthex\nFilename: pool/x.deb\nSHA256: %.63s\n",
		"Package: longhex\nFilename: pool/x.deb\nSHA256: %s0\n",
		"Package: nothex\nFilename: pool/x.deb\nSHA256: g%.63s\n",
		"Package: spacehex\nFilename: pool/x.deb\nSHA256: %.32s %.31s\n",
		"Package: emptyhex\nFilename: pool/x.deb\nSHA256:\nX: %s\n",
		"Package: negsize\nFilename: pool/x.deb\nSize: -1\nSHA256: %s\n",
		"Package: hugesize\nFilename: pool/x.deb\nSize: 9223372036854775808\nSHA256: %s\n",
		"Package: hugersize\nFilename: pool/x.deb\nSize: 99999999999999999999999\nSHA256: %s\n",
		"Package: textsize\nFilename: pool/x.deb\nSize: 12a\nSHA256: %s\n",
		"Package: plussize\nFilename: pool/x.deb\nSize: +12\nSHA256: %s\n",
		"Package: emptysize\nFilename: pool/x.deb\nSize:\nSHA256: %s\n",
		" continuation first\nPackage: x\nFilename: pool/x.deb\nSHA256: %s\n",
		"Package: nocolon\nFilename pool/x.deb\nSHA256: %s\n",
		"Package: emptyname\n: value\nFilename: pool/x.deb\nSHA256: %s\n",
		"Package: badname\nFile\x01name: pool/y.deb\nFilename: pool/x.deb\nSHA256: %s\n",
		"Package: twice\nFilename: pool/x.deb\nFilename: pool/y.deb\nSHA256: %s\n",
		"Package: twohashes\nFilename: pool/x.deb\nSHA256: %s\nSHA256sum: %s\n",
		"Package: \xff\xfe\nFilename: pool/x.deb\nSHA256: %s\n\xff\xfe\xfd\n",
	};
	char		 hex[DIGEST_HEX_LEN + 1], piece[1024];
	struct text	 t;
	struct seen	 s;
	struct pkgindex_stats stats;
	struct digest	 d;
	int64_t		 size;
	size_t		 i, count, n;
	char		*cause = NULL;
	int		 idx;

	(void)state;
	hex_of("x", hex);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&t, 0, sizeof t);
		stanza(&t, "before", 1);
		/* bad[0] is printed up to its NUL, then the rest added. */
		n = (size_t)snprintf(piece, sizeof piece, bad[i], hex, hex);
		text_bytes(&t, piece, n);
		if (i == 0)
			text_bytes(&t, "\0b\n", 3);
		text_add(&t, "\n");
		stanza(&t, "after", 2);
		memset(&s, 0, sizeof s);
		assert_int_equal(parse_text(t.p, t.len, MIB, &s, &stats, &cause), 0);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.package[0], "before");
		assert_string_equal(s.package[1], "after");
		assert_int_equal(stats.skipped, 1);
		assert_true((idx = build(t.p, t.len, MIB, &count, &cause)) != -1);
		assert_int_equal(count, 2);
		assert_int_equal(pkgindex_lookup(idx, "pool/x.deb", &d, &size), 0);
		assert_int_equal(pkgindex_lookup(idx, "pool/y.deb", &d, &size), 0);
		close(idx);
		free(t.p);
	}
}

static void
test_hostile_long_lines(void **state)
{
	struct text	 t = { 0 };
	struct seen	 s;
	struct pkgindex_stats stats;
	char		*cause = NULL, *big;
	size_t		 i;

	(void)state;
	assert_non_null(big = malloc(PKGINDEX_LINE_MAX + 2));
	memset(big, 'x', PKGINDEX_LINE_MAX + 1);
	big[PKGINDEX_LINE_MAX + 1] = '\0';

	/* A line one byte too long skips its stanza; one that fits does not. */
	stanza(&t, "before", 1);
	text_add(&t, "Package: long\nDescription: %s\n\n", big + 13);
	text_add(&t, "Package: fits\nDescription: %s\n\n", big + 14);
	text_add(&t, "Package: tail\n%s", big);	/* and at the end, unended */
	memset(&s, 0, sizeof s);
	assert_int_equal(parse_text(t.p, t.len, 4 * MIB, &s, &stats, &cause), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.package[0], "before");
	assert_string_equal(s.package[1], "fits");
	assert_int_equal(stats.skipped, 2);
	free(t.p);

	/* Kept fields past PKGINDEX_STANZA_MAX: the stanza is skipped. */
	memset(&t, 0, sizeof t);
	text_add(&t, "Package: many\nDepends: a\n");
	for (i = 0; i < 4; i++)
		text_add(&t, " %s\n", big + PKGINDEX_LINE_MAX / 2);
	text_add(&t, "Provides: %s\n", big + PKGINDEX_LINE_MAX / 2);
	text_add(&t, "\n");
	stanza(&t, "after", 1);
	memset(&s, 0, sizeof s);
	assert_int_equal(parse_text(t.p, t.len, 4 * MIB, &s, &stats, &cause), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.package[0], "after");
	assert_int_equal(stats.skipped, 1);
	free(t.p);
	free(big);
}

static void
test_hostile_streams(void **state)
{
	struct text	 t = { 0 }, g = { 0 };
	unsigned char	*gz, *xz, garbage[65536];
	size_t		 gzlen, xzlen, count, i;
	uint32_t	 x = 12345;
	char		*cause = NULL;

	(void)state;
	sample(&t);
	gzip_of(t.p, t.len, 6, &gz, &gzlen);
	xz_of(t.p, t.len, 6, &xz, &xzlen);

	/* Truncated, at several places. */
	for (i = 1; i < 5; i++) {
		assert_int_equal(build(gz, gzlen * i / 5, MIB, &count, &cause), -1);
		assert_non_null(strstr(cause, "gzip"));
		free(cause);
		assert_int_equal(build(xz, xzlen * i / 5, MIB, &count, &cause), -1);
		assert_non_null(strstr(cause, "xz"));
		free(cause);
	}
	assert_int_equal(build(gz, gzlen - 1, MIB, &count, &cause), -1);
	free(cause);
	assert_int_equal(build(xz, xzlen - 1, MIB, &count, &cause), -1);
	free(cause);
	assert_int_equal(build(gz, 2, MIB, &count, &cause), -1);	/* magic only */
	free(cause);
	assert_int_equal(build(xz, 6, MIB, &count, &cause), -1);
	free(cause);

	/* Corrupt: a byte of the compressed data flipped. */
	gz[gzlen / 2] ^= 0x55;
	assert_int_equal(build(gz, gzlen, MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "gzip"));
	free(cause);
	gz[gzlen / 2] ^= 0x55;
	xz[xzlen / 2] ^= 0x55;
	assert_int_equal(build(xz, xzlen, MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "xz"));
	free(cause);
	xz[xzlen / 2] ^= 0x55;

	/* Garbage after a complete stream. */
	text_bytes(&g, gz, gzlen);
	text_bytes(&g, "garbage!", 8);
	assert_int_equal(build(g.p, g.len, MIB, &count, &cause), -1);
	free(cause);
	g.len = 0;
	text_bytes(&g, xz, xzlen);
	text_bytes(&g, "garbage!", 8);
	assert_int_equal(build(g.p, g.len, MIB, &count, &cause), -1);
	free(cause);

	/*
	 * An xz stream whose block asks for a 4 GiB dictionary: refused by
	 * the decoder's memory limit before anything is allocated. The block
	 * header (after the 12-byte stream header) has its LZMA2 filter
	 * flags (0x21, 1 byte of properties: the dictionary size) patched,
	 * and its CRC32 redone.
	 */
	{
		size_t	hlen = ((size_t)xz[12] + 1) * 4, k;

		for (k = 12; k + 2 < 12 + hlen - 4; k++)
			if (xz[k] == 0x21 && xz[k + 1] == 0x01)
				break;
		assert_true(k + 2 < 12 + hlen - 4);
		xz[k + 2] = 40;
		put_le32(xz + 12 + hlen - 4,
		    (uint32_t)crc32(0, xz + 12, (uInt)(hlen - 4)));
		assert_int_equal(build(xz, xzlen, MIB, &count, &cause), -1);
		assert_non_null(strstr(cause, "memory"));
		free(cause);
	}

	/* Compressions we do not read are named, not parsed as text. */
	assert_int_equal(build("\x28\xb5\x2f\xfd\0\0\0\0", 8, MIB, &count,
	    &cause), -1);
	assert_non_null(strstr(cause, "zstd"));
	free(cause);
	assert_int_equal(build("BZh91AY&SY", 10, MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "bzip2"));
	free(cause);

	/* Binary garbage: plain text of no package; behind a magic, an error. */
	for (i = 0; i < sizeof garbage; i++) {
		x = x * 1103515245 + 12345;
		garbage[i] = (unsigned char)(x >> 16);
	}
	garbage[0] = 'P';
	assert_int_equal(pkgindex_verify(-1, &count, &cause), -1);
	free(cause);
	{
		int idx = build(garbage, sizeof garbage, MIB, &count, &cause);

		assert_true(idx != -1);
		assert_int_equal(count, 0);
		close(idx);
	}
	garbage[0] = 0x1f;
	garbage[1] = 0x8b;
	assert_int_equal(build(garbage, sizeof garbage, MIB, &count, &cause), -1);
	free(cause);
	memcpy(garbage, "\xfd" "7zXZ\0", 6);
	assert_int_equal(build(garbage, sizeof garbage, MIB, &count, &cause), -1);
	free(cause);

	free(g.p);
	free(gz);
	free(xz);
	free(t.p);
}

/* 32 MiB of text, gzip and xz: over an 8 MiB cap they fail. */
static void
test_bomb(void **state)
{
	struct text	 t = { 0 };
	unsigned char	*gz, *xz;
	char		*zero, *cause = NULL;
	size_t		 gzlen, xzlen, count, len = 32 * MIB;
	int		 idx;

	(void)state;
	assert_non_null(zero = calloc(1, len));
	memset(zero, '\n', len);
	gzip_of(zero, len, 9, &gz, &gzlen);
	xz_of(zero, len, 0, &xz, &xzlen);
	assert_true(gzlen < len / 500);
	assert_true(xzlen < len / 500);

	assert_int_equal(build(gz, gzlen, 8 * MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "more than 8388608 bytes"));
	free(cause);
	assert_int_equal(build(xz, xzlen, 8 * MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "more than 8388608 bytes"));
	free(cause);
	assert_int_equal(build(zero, 8 * MIB + 1, 8 * MIB, &count, &cause), -1);
	assert_non_null(strstr(cause, "more than"));
	free(cause);

	/* At the cap exactly, and over it by a byte. */
	sample(&t);
	assert_true((idx = build(t.p, t.len, t.len, &count, &cause)) != -1);
	assert_int_equal(count, NNAMES);
	close(idx);
	assert_int_equal(build(t.p, t.len, t.len - 1, &count, &cause), -1);
	free(cause);
	free(gz);
	free(xz);
	xz_of(t.p, t.len, 1, &xz, &xzlen);
	assert_int_equal(build(xz, xzlen, t.len - 1, &count, &cause), -1);
	free(cause);
	free(xz);
	free(zero);
	free(t.p);
}

/* Flips one byte of an index file, runs f, flips it back. */
static void
flip(int fd, off_t at)
{
	unsigned char	c;

	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
}

static void
test_index_damaged(void **state)
{
	struct text	 t = { 0 };
	struct digest	 d;
	int64_t		 size;
	size_t		 count, len, i, r, errors;
	char		*cause = NULL, *good, path[256], hex[DIGEST_HEX_LEN + 1];
	unsigned char	 rec[2][64];
	int		 idx, rc;
	off_t		 records;

	(void)state;
	sample(&t);
	assert_true((idx = build(t.p, t.len, MIB, &count, &cause)) != -1);
	good = file_bytes(idx, &len);
	records = (off_t)(len - NNAMES * 64);
	snprintf(path, sizeof path, "pool/main/a/alpha/alpha_1.0-1_amd64.deb");

	/* Truncated, or with a byte more. */
	assert_int_equal(ftruncate(idx, (off_t)len - 1), 0);
	assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
	assert_int_equal(pkgindex_lookup(idx, "pool/none.deb", &d, &size), -1);
	assert_int_equal(pkgindex_verify(idx, &count, &cause), -1);
	free(cause);
	assert_int_equal(pwrite(idx, "\0\0", 2, (off_t)len - 1), 2);
	assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
	assert_int_equal(ftruncate(idx, (off_t)len), 0);
	assert_int_equal(pwrite(idx, good + len - 1, 1, (off_t)len - 1), 1);
	check_all(idx);
	assert_int_equal(ftruncate(idx, 10), 0);
	assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
	assert_int_equal(ftruncate(idx, 0), 0);
	assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
	assert_int_equal(pwrite(idx, good, len, 0), (ssize_t)len);
	check_all(idx);

	/* Any byte of the header or fan-out flipped: every lookup fails. */
	for (i = 0; i < (size_t)records; i += 7) {
		flip(idx, (off_t)i);
		assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
		assert_int_equal(pkgindex_lookup(idx, "pool/none.deb", &d, &size), -1);
		flip(idx, (off_t)i);
	}

	/*
	 * Any byte of a record flipped: a lookup gives the right answer or
	 * -1, never a wrong one; verify always notices.
	 */
	for (i = (size_t)records; i < len; i++) {
		flip(idx, (off_t)i);
		errors = 0;
		for (r = 0; r < NNAMES; r++) {
			snprintf(path, sizeof path, "pool/main/%c/%s/%s_1.%zu-1_amd64.deb",
			    names[r][0], names[r], names[r], r);
			hex_of(names[r], hex);
			rc = pkgindex_lookup(idx, path, &d, &size);
			if (rc == -1) {
				errors++;
				continue;
			}
			assert_int_equal(rc, 1);
			assert_string_equal(d.hex, hex);
			assert_int_equal(size, 1000 + (int64_t)r);
		}
		assert_true(errors > 0);
		assert_int_equal(pkgindex_verify(idx, &count, &cause), -1);
		free(cause);
		flip(idx, (off_t)i);
	}

	/* Two records swapped (each intact): out of order. */
	assert_int_equal(pread(idx, rec[0], 64, records), 64);
	assert_int_equal(pread(idx, rec[1], 64, records + 64), 64);
	assert_int_equal(pwrite(idx, rec[1], 64, records), 64);
	assert_int_equal(pwrite(idx, rec[0], 64, records + 64), 64);
	assert_int_equal(pkgindex_verify(idx, &count, &cause), -1);
	free(cause);
	for (r = 0, errors = 0; r < NNAMES; r++) {
		snprintf(path, sizeof path, "pool/main/%c/%s/%s_1.%zu-1_amd64.deb",
		    names[r][0], names[r], names[r], r);
		hex_of(names[r], hex);
		if ((rc = pkgindex_lookup(idx, path, &d, &size)) == -1) {
			errors++;
			continue;
		}
		assert_int_equal(rc, 1);
		assert_string_equal(d.hex, hex);
	}
	assert_true(errors > 0);

	/* Not an index at all. */
	close(idx);
	idx = mkfd(t.p, t.len);
	assert_int_equal(pkgindex_lookup(idx, path, &d, &size), -1);
	close(idx);
	free(good);
	free(t.p);
}

/* A Release's entries as "hex size path" lines. */
static int
release_read(const char *text, size_t len, struct text *out, char **cause)
{
	struct pkgindex_release		*r;
	struct pkgindex_release_entry	 e;
	struct digest			 d;
	int				 fd = mkfd(text, len), rc;

	assert_non_null(r = malloc(sizeof *r));
	pkgindex_release_init(r, fd);
	while ((rc = pkgindex_release_next(r, &e, cause)) == 1) {
		digest_from_raw(e.sha256, &d);
		text_add(out, "%.8s %lld %s\n", d.hex, (long long)e.size, e.path);
	}
	if (rc == 0)
		assert_int_equal(pkgindex_release_next(r, &e, cause), 0);
	close(fd);
	free(r);
	return rc;
}

#define H1	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define H2	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MD5	"0123456789abcdef0123456789abcdef"

static void
test_release_plain(void **state)
{
	static const char text[] =
	    "Origin: Debian\n"
	    "Suite: stable\n"
	    "MD5Sum:\n"
	    " " MD5 "   100 main/binary-amd64/Packages\n"
	    "SHA256:\n"
	    " " H1 "        0 main/binary-amd64/Packages\n"
	    "\t" H2 "\t123\tmain/binary-amd64/Packages.gz\r\n"
	    " " MD5 " 100 main/short-hash\n"
	    " " H1 " -5 main/negative-size\n"
	    " " H1 " 99999999999999999999 main/huge-size\n"
	    " " H1 " 12x main/text-size\n"
	    " " H1 " 1\n"
	    " " H1 " 1 main/extra token\n"
	    " " H1 "g 1 main/not-hex\n"
	    " " "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	    " 7 main/upper\n"
	    "SHA512:\n"
	    " " H1 " 1 main/in-sha512\n"
	    "sha256:\n"
	    " " H2 " 2 main/lowercase-field\n";
	struct text	 out = { 0 };
	char		*cause = NULL;

	(void)state;
	assert_int_equal(release_read(text, sizeof text - 1, &out, &cause), 0);
	assert_string_equal(out.p,
	    "e3b0c442 0 main/binary-amd64/Packages\n"
	    "ba7816bf 123 main/binary-amd64/Packages.gz\n"
	    "e3b0c442 7 main/upper\n"
	    "ba7816bf 2 main/lowercase-field\n");
	free(out.p);
}

static void
test_release_signed(void **state)
{
	static const char text[] =
	    "-----BEGIN PGP SIGNED MESSAGE-----\n"
	    "Hash: SHA512\n"
	    "\n"
	    "Origin: Debian\n"
	    "- -----BEGIN PGP SIGNATURE-----\n"	/* escaped: text */
	    "- SHA256:\n"				/* escaped: still a field */
	    " " H1 " 10 main/binary-amd64/Packages\n"
	    "- " H2 " 20 main/binary-amd64/Packages.xz\n"	/* passed over */
	    " " H2 " 20 main/binary-amd64/Packages.xz\n"
	    "-not escaped: passed over\n"
	    " " H2 " 30 main/i18n/Translation-en\n"
	    "-----BEGIN PGP SIGNATURE-----\n"
	    "\n"
	    " " H1 " 40 main/in-the-signature\n"
	    "iQIzBAEBCgAdFiEE\n"
	    "=AfjX\n"
	    "-----END PGP SIGNATURE-----\n"
	    "\n";
	struct text	 out = { 0 }, crlf = { 0 };
	char		*cause = NULL;
	size_t		 i;

	(void)state;
	assert_int_equal(release_read(text, sizeof text - 1, &out, &cause), 0);
	assert_string_equal(out.p,
	    "e3b0c442 10 main/binary-amd64/Packages\n"
	    "ba7816bf 20 main/binary-amd64/Packages.xz\n"
	    "ba7816bf 30 main/i18n/Translation-en\n");

	/* The same with CRLF line ends. */
	for (i = 0; i < sizeof text - 1; i++)
		text_add(&crlf, text[i] == '\n' ? "\r\n" : "%c", text[i]);
	out.len = 0;
	assert_int_equal(release_read(crlf.p, crlf.len, &out, &cause), 0);
	assert_string_equal(out.p,
	    "e3b0c442 10 main/binary-amd64/Packages\n"
	    "ba7816bf 20 main/binary-amd64/Packages.xz\n"
	    "ba7816bf 30 main/i18n/Translation-en\n");
	free(crlf.p);
	free(out.p);
}

static void
test_release_hostile(void **state)
{
	static const char after[] =
	    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
	    "SHA256:\n " H1 " 1 main/a\n"
	    "-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----\n"
	    "SHA256:\n " H2 " 2 main/injected\n";
	static const char armor[] =
	    "SHA256:\n " H1 " 1 main/a\n"
	    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
	    "SHA256:\n " H2 " 2 main/b\n";
	static const char truncated[] =
	    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
	    "SHA256:\n " H1 " 1 main/a\n";
	static const char nul_line[] = " " H1 " 1 main/nul\0x\n";
	static const char unsigned_end[] =
	    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
	    "SHA256:\n " H1 " 1 main/a\n-----BEGIN PGP SIGNATURE-----\nxx\n";
	struct text	 out = { 0 }, t = { 0 };
	char		*cause = NULL, *big;
	size_t		 n = PKGINDEX_RELEASE_LINE_MAX + 100;

	(void)state;
	assert_int_equal(release_read(after, sizeof after - 1, &out, &cause), -1);
	assert_non_null(strstr(cause, "after the signature"));
	assert_string_equal(out.p, "e3b0c442 1 main/a\n");
	free(cause);

	out.len = 0;
	assert_int_equal(release_read(armor, sizeof armor - 1, &out, &cause), -1);
	assert_non_null(strstr(cause, "unsigned"));
	free(cause);

	out.len = 0;
	assert_int_equal(release_read(truncated, sizeof truncated - 1, &out,
	    &cause), -1);
	assert_non_null(strstr(cause, "truncated"));
	free(cause);
	out.len = 0;
	assert_int_equal(release_read(unsigned_end, sizeof unsigned_end - 1, &out,
	    &cause), -1);
	free(cause);

	/*
	 * An over-long line is passed over whole: an entry hidden where a
	 * reader with a short buffer would split it is never read. NULs too.
	 */
	assert_non_null(big = malloc(n + 1));
	memset(big, 'x', n);
	big[0] = ' ';
	big[n] = '\0';
	text_add(&t, "SHA256:\n%s " H1 " 1 main/hidden\n", big);
	memcpy(big + 4096 - 1, " " H1 " 1 main/hidden-at-4k", 21 + 64);
	text_add(&t, "%s\n", big);
	text_add(&t, " " H2 " 5 main/after\n");
	text_bytes(&t, nul_line, sizeof nul_line - 1);
	text_add(&t, " " H2 " 6 main/last");		/* no final newline */
	out.len = 0;
	assert_int_equal(release_read(t.p, t.len, &out, &cause), 0);
	assert_string_equal(out.p, "ba7816bf 5 main/after\n"
	    "ba7816bf 6 main/last\n");

	/* Binary garbage: no entry, no error. */
	t.len = 0;
	for (n = 0; n < 100000; n++) {
		char c = (char)((n * 7919) >> 3);

		text_bytes(&t, &c, 1);
	}
	out.len = 0;
	out.p[0] = '\0';
	assert_int_equal(release_read(t.p, t.len, &out, &cause), 0);
	assert_string_equal(out.p, "");
	free(big);
	free(out.p);
	free(t.p);
}

/* A cheap stand-in digest for package i. */
static void
hex_fast(uint64_t i, char *hex)
{
	uint64_t	z[4];
	int		k;

	for (k = 0; k < 4; k++) {
		z[k] = (i * 4 + (uint64_t)k + 1) * 0x9e3779b97f4a7c15ULL;
		z[k] = (z[k] ^ (z[k] >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z[k] ^= z[k] >> 31;
	}
	snprintf(hex, DIGEST_HEX_LEN + 1, "%016llx%016llx%016llx%016llx",
	    (unsigned long long)z[0], (unsigned long long)z[1],
	    (unsigned long long)z[2], (unsigned long long)z[3]);
}

/* 60,000 stanzas: built, verified, and every 20th package looked up. */
static void
test_many_stanzas(void **state)
{
	struct text	 t = { 0 };
	struct digest	 d;
	int64_t		 size;
	unsigned char	*gz;
	size_t		 gzlen, count, i;
	char		*cause = NULL, path[128], hex[DIGEST_HEX_LEN + 1];
	char		 name[32];
	int		 idx;

	(void)state;
	for (i = 0; i < 60000; i++) {
		snprintf(name, sizeof name, "pkg%zu", i);
		hex_fast(i, hex);
		text_add(&t, "Package: %s\nVersion: 1.0\nArchitecture: arm64\n"
		    "Depends: libc6 (>= 2.36), pkg%zu\n"
		    "Filename: pool/main/p/%s/%s_1.0_arm64.deb\nSize: %zu\n"
		    "SHA256: %s\nDescription: number %zu\n\n", name, i / 2, name,
		    name, i, hex, i);
	}
	gzip_of(t.p, t.len, 1, &gz, &gzlen);
	assert_true((idx = build(gz, gzlen, PKGINDEX_MAX_DEFAULT, &count,
	    &cause)) != -1);
	assert_int_equal(count, 60000);
	assert_int_equal(pkgindex_verify(idx, &count, &cause), 0);
	for (i = 0; i < 60000; i += 20) {
		snprintf(name, sizeof name, "pkg%zu", i);
		snprintf(path, sizeof path, "pool/main/p/%s/%s_1.0_arm64.deb", name,
		    name);
		hex_fast(i, hex);
		assert_int_equal(pkgindex_lookup(idx, path, &d, &size), 1);
		assert_string_equal(d.hex, hex);
		assert_int_equal(size, (int64_t)i);
		snprintf(path, sizeof path, "pool/main/p/%s/%s_1.1_arm64.deb", name,
		    name);
		assert_int_equal(pkgindex_lookup(idx, path, &d, &size), 0);
	}
	close(idx);
	free(gz);
	free(t.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stanza_fields),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_formats_same_index),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_duplicates_first_wins),
		cmocka_unit_test(test_hostile_stanzas),
		cmocka_unit_test(test_hostile_long_lines),
		cmocka_unit_test(test_hostile_streams),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_index_damaged),
		cmocka_unit_test(test_release_plain),
		cmocka_unit_test(test_release_signed),
		cmocka_unit_test(test_release_hostile),
		cmocka_unit_test(test_many_stanzas),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("pkgindex", tests, NULL, NULL);
}
