/*
 * Package indexes: the Packages parser (plain, gzip, xz), the on-disk
 * lookup index built from it, and the Release/InRelease SHA256 reader.
 *
 * The index file ("PGPKGIDX", version 1), all integers little-endian:
 *
 *	header, 64 bytes: magic[8] version:u32 record_size:u32 count:u64
 *	    records_sha256[32] reserved:u32 crc32:u32 (of the 60 bytes
 *	    before it, then of the fan-out)
 *	fan-out, 1024 u32: where the records of each bucket (the first 10
 *	    bits of a key) start
 *	count records, 64 bytes each, sorted by key, keys unique:
 *	    key[16] sha256[32] size:i64 crc32:u32 (of the 56 before it)
 *	    reserved:u32
 *
 * key is the first 16 bytes of the SHA-256 of the package's path. A lookup
 * reads the header and fan-out (one pread), then the key's bucket: one
 * pread when it holds 128 records or fewer (a bucket holds count/1024 on
 * average: 62 for Debian main's 63,440 packages), a binary search down to
 * that otherwise. It checks the header's checksum, the file's length, and
 * the checksum, bucket and order of every record it reads, so a damaged
 * index (an SD card's bit rot, a torn write) gives an error, not an answer;
 * pkgindex_verify checks everything.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lzma.h>
#include <zlib.h>

#include "store.h"

#define PKGINDEX_MAGIC		"PGPKGIDX"
#define PKGINDEX_VERSION	1
#define PKGINDEX_HEADER_LEN	64
#define PKGINDEX_FANOUT		1024		/* buckets: 10 bits of a key */
#define PKGINDEX_HEAD_LEN	(PKGINDEX_HEADER_LEN + 4 * PKGINDEX_FANOUT)
#define PKGINDEX_RECORD_LEN	64
#define PKGINDEX_KEY_LEN	16
#define PKGINDEX_RAW_LEN	(64 * 1024)	/* compressed input buffer */
#define PKGINDEX_WRITE_RECORDS	1024		/* records per write */
#define PKGINDEX_BLOCK_RECORDS	128		/* a lookup's last read: 8 KiB */

typedef ssize_t (*pkgindex_read_fn)(void *, char *, size_t, char **);

/* Input: a descriptor, plain or decompressed, capped at max bytes of text. */
enum pkgindex_format { PKGINDEX_PLAIN, PKGINDEX_GZIP, PKGINDEX_XZ };

struct pkgindex_src {
	int			 fd;
	enum pkgindex_format	 format;
	unsigned char		 head[8];	/* the bytes read to tell */
	size_t			 head_len, head_off;
	unsigned char		*raw;		/* compressed input */
	int			 raw_eof;
	int			 member_end;	/* a gzip member ended */
	int			 done;
	z_stream		 z;
	int			 z_init;
	lzma_stream		 x;
	int			 x_init;
	uint64_t		 total, max;
};

/* The kept fields of a stanza. */
enum pkgindex_field {
	F_PACKAGE, F_VERSION, F_ARCHITECTURE, F_FILENAME, F_SIZE, F_SHA256,
	F_DEPENDS, F_PRE_DEPENDS, F_PROVIDES, F_NFIELDS
};

static const struct {
	const char		*name;
	enum pkgindex_field	 field;
} pkgindex_fields[] = {
	{ "Package", F_PACKAGE },
	{ "Version", F_VERSION },
	{ "Architecture", F_ARCHITECTURE },
	{ "Filename", F_FILENAME },
	{ "Size", F_SIZE },
	{ "SHA256", F_SHA256 },
	{ "SHA256sum", F_SHA256 },		/* opkg */
	{ "Depends", F_DEPENDS },
	{ "Pre-Depends", F_PRE_DEPENDS },
	{ "Provides", F_PROVIDES },
};

#define PKGINDEX_CUR_NONE	(-2)	/* no field yet in this stanza */
#define PKGINDEX_CUR_OTHER	(-1)	/* a field we do not keep */

struct pkgindex_parser {
	struct pkgindex_src	 src;
	struct pkgindex_lines	 lines;
	struct pkgindex_stats	 stats;
	pkgindex_stanza_cb	 cb;
	void			*arg;
	int			 active;	/* inside a stanza */
	int			 bad;		/* it will be skipped */
	int			 cur;		/* what continuations extend */
	uint64_t		 first_line;
	size_t			 used;		/* of arena */
	size_t			 off[F_NFIELDS];
	int			 have[F_NFIELDS];
	char			 buf[PKGINDEX_LINE_MAX + 1];
	char			 arena[PKGINDEX_STANZA_MAX];
	unsigned char		 raw[PKGINDEX_RAW_LEN];
};

/* Release reader states. */
enum {
	REL_START,		/* nothing but blank lines yet */
	REL_PLAIN,		/* an unsigned Release */
	REL_ARMOR,		/* the armor headers of a signed message */
	REL_SIGNED,		/* its text */
	REL_SIGNATURE,		/* the signature block */
	REL_AFTER,		/* after it: only blank lines */
	REL_DONE,
	REL_FAILED
};

static void
pkgindex_put32(unsigned char *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void
pkgindex_put64(unsigned char *p, uint64_t v)
{
	pkgindex_put32(p, (uint32_t)v);
	pkgindex_put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
pkgindex_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
pkgindex_get64(const unsigned char *p)
{
	return (uint64_t)pkgindex_get32(p) | (uint64_t)pkgindex_get32(p + 4) << 32;
}

static int
pkgindex_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 64 hex digits (either case) into 32 bytes; -1 on anything else. */
static int
pkgindex_hex_sha256(const char *s, size_t len, unsigned char *out)
{
	size_t	i;
	int	hi, lo;

	if (len != 2 * PKGINDEX_SHA256_LEN)
		return -1;
	for (i = 0; i < PKGINDEX_SHA256_LEN; i++) {
		if ((hi = pkgindex_hexval((unsigned char)s[2 * i])) < 0 ||
		    (lo = pkgindex_hexval((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* A decimal in [0, INT64_MAX], digits only; -1 on anything else. */
static int
pkgindex_size(const char *s, size_t len, int64_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = (int64_t)v;
	return 0;
}

static int
pkgindex_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Reads up to len bytes, retrying EINTR: >0, 0 at the end, -1 with *cause. */
static ssize_t
pkgindex_fd_read(int fd, void *buf, size_t len, char **cause)
{
	ssize_t	n;

	do
		n = read(fd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		*cause = util_printf("read: %s", strerror(errno));
	return n;
}

/* Fills src->raw with compressed input, the sniffed bytes first. */
static int
pkgindex_src_fill(struct pkgindex_src *s, const unsigned char **next,
    size_t *avail, char **cause)
{
	size_t	n;
	ssize_t	r;

	if (s->head_off < s->head_len) {
		n = s->head_len - s->head_off;
		memcpy(s->raw, s->head + s->head_off, n);
		s->head_off = s->head_len;
	} else {
		if ((r = pkgindex_fd_read(s->fd, s->raw, PKGINDEX_RAW_LEN,
		    cause)) == -1)
			return -1;
		if (r == 0)
			s->raw_eof = 1;
		n = (size_t)r;
	}
	*next = s->raw;
	*avail = n;
	return 0;
}

/* Tells the compression by its magic bytes; sets up the decoder. */
static int
pkgindex_src_open(struct pkgindex_src *s, int fd, unsigned char *raw,
    uint64_t max, char **cause)
{
	static const unsigned char	 gz[] = { 0x1f, 0x8b };
	static const unsigned char	 xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
	static const struct {
		const char		*name;
		const unsigned char	*magic;
		size_t			 len;
	} unsupported[] = {
		{ "bzip2", (const unsigned char *)"BZh", 3 },
		{ "zstd", (const unsigned char *)"\x28\xb5\x2f\xfd", 4 },
		{ "lz4", (const unsigned char *)"\x04\x22\x4d\x18", 4 },
		{ "lzma", (const unsigned char *)"\x5d\x00\x00", 3 },
	};
	ssize_t				 n;
	size_t				 i;

	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->raw = raw;
	s->max = max;
	while (s->head_len < sizeof xz) {
		if ((n = pkgindex_fd_read(fd, s->head + s->head_len,
		    sizeof xz - s->head_len, cause)) == -1)
			return -1;
		if (n == 0)
			break;
		s->head_len += (size_t)n;
	}
	if (s->head_len >= sizeof gz && memcmp(s->head, gz, sizeof gz) == 0) {
		s->format = PKGINDEX_GZIP;
		if (inflateInit2(&s->z, 15 + 16) != Z_OK) {	/* gzip only */
			*cause = util_printf("cannot start a gzip decoder");
			return -1;
		}
		s->z_init = 1;
		return 0;
	}
	if (s->head_len >= sizeof xz && memcmp(s->head, xz, sizeof xz) == 0) {
		s->format = PKGINDEX_XZ;
		s->x = (lzma_stream)LZMA_STREAM_INIT;
		if (lzma_stream_decoder(&s->x, PKGINDEX_XZ_MEMLIMIT,
		    LZMA_CONCATENATED) != LZMA_OK) {
			*cause = util_printf("cannot start an xz decoder");
			return -1;
		}
		s->x_init = 1;
		return 0;
	}
	for (i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
		if (s->head_len >= unsupported[i].len && memcmp(s->head,
		    unsupported[i].magic, unsupported[i].len) == 0) {
			*cause = util_printf("%s compression is not supported",
			    unsupported[i].name);
			return -1;
		}
	s->format = PKGINDEX_PLAIN;
	return 0;
}

static void
pkgindex_src_close(struct pkgindex_src *s)
{
	if (s->z_init)
		inflateEnd(&s->z);
	if (s->x_init)
		lzma_end(&s->x);
	s->z_init = s->x_init = 0;
}

/* Some gzip output: >0, 0 at the end of the last member, -1 with *cause. */
static ssize_t
pkgindex_gz_read(struct pkgindex_src *s, char *buf, size_t len, char **cause)
{
	const unsigned char	*next;
	size_t			 avail, produced = 0;
	int			 rc;

	if (len > UINT_MAX)
		len = UINT_MAX;
	while (produced == 0) {
		if (s->z.avail_in == 0 && !s->raw_eof) {
			if (pkgindex_src_fill(s, &next, &avail, cause) != 0)
				return -1;
			s->z.next_in = (unsigned char *)next;
			s->z.avail_in = (uInt)avail;
			continue;
		}
		if (s->member_end) {
			if (s->z.avail_in == 0)
				return 0;		/* and raw_eof */
			if (inflateReset(&s->z) != Z_OK) {
				*cause = util_printf("gzip: cannot reset");
				return -1;
			}
			s->member_end = 0;	/* another member follows */
		}
		s->z.next_out = (unsigned char *)buf;
		s->z.avail_out = (uInt)len;
		rc = inflate(&s->z, Z_NO_FLUSH);
		produced = len - s->z.avail_out;
		if (rc == Z_STREAM_END)
			s->member_end = 1;
		else if (rc == Z_BUF_ERROR || (rc == Z_OK && produced == 0)) {
			if (s->z.avail_in == 0 && s->raw_eof) {
				*cause = util_printf("gzip: truncated stream");
				return -1;
			}
			if (rc == Z_BUF_ERROR && s->z.avail_in > 0) {
				*cause = util_printf("gzip: no progress");
				return -1;
			}
		} else if (rc != Z_OK) {
			*cause = util_printf("gzip: %s", s->z.msg != NULL ?
			    s->z.msg : "corrupt stream");
			return -1;
		}
	}
	return (ssize_t)produced;
}

/* Some xz output: >0, 0 at the end of the last stream, -1 with *cause. */
static ssize_t
pkgindex_xz_read(struct pkgindex_src *s, char *buf, size_t len, char **cause)
{
	const unsigned char	*next;
	size_t			 avail, produced = 0;
	lzma_ret		 rc;

	while (produced == 0) {
		if (s->done)
			return 0;
		if (s->x.avail_in == 0 && !s->raw_eof) {
			if (pkgindex_src_fill(s, &next, &avail, cause) != 0)
				return -1;
			s->x.next_in = next;
			s->x.avail_in = avail;
			continue;
		}
		s->x.next_out = (uint8_t *)buf;
		s->x.avail_out = len;
		rc = lzma_code(&s->x, s->x.avail_in == 0 && s->raw_eof ?
		    LZMA_FINISH : LZMA_RUN);
		produced = len - s->x.avail_out;
		switch (rc) {
		case LZMA_OK:
			break;
		case LZMA_STREAM_END:
			s->done = 1;
			break;
		case LZMA_BUF_ERROR:
			*cause = util_printf("xz: truncated stream");
			return -1;
		case LZMA_MEM_ERROR:
		case LZMA_MEMLIMIT_ERROR:
			*cause = util_printf("xz: needs more memory than allowed");
			return -1;
		case LZMA_FORMAT_ERROR:
		case LZMA_OPTIONS_ERROR:
			*cause = util_printf("xz: unsupported format or options");
			return -1;
		default:
			*cause = util_printf("xz: corrupt stream");
			return -1;
		}
	}
	return (ssize_t)produced;
}

/* Text, decompressed if need be: >0, 0 at the end, -1 with *cause. */
static ssize_t
pkgindex_src_read(void *arg, char *buf, size_t len, char **cause)
{
	struct pkgindex_src	*s = arg;
	ssize_t			 n;

	switch (s->format) {
	case PKGINDEX_GZIP:
		n = pkgindex_gz_read(s, buf, len, cause);
		break;
	case PKGINDEX_XZ:
		n = pkgindex_xz_read(s, buf, len, cause);
		break;
	default:
		if (s->head_off < s->head_len) {
			n = (ssize_t)(s->head_len - s->head_off);
			if ((size_t)n > len)
				n = (ssize_t)len;
			memcpy(buf, s->head + s->head_off, (size_t)n);
			s->head_off += (size_t)n;
		} else
			n = pkgindex_fd_read(s->fd, buf, len, cause);
		break;
	}
	if (n > 0 && (s->total += (uint64_t)n) > s->max) {
		*cause = util_printf("more than %llu bytes of index text "
		    "(a decompression bomb?)", (unsigned long long)s->max);
		return -1;
	}
	return n;
}

/*
 * The next line from buf (of cap bytes, refilled with rd), without its
 * '\n': 1 with *line and *len (valid until the next call), 0 at the end,
 * -1 with *cause. A line that does not fit in cap - 1 bytes is read past
 * and comes back empty with *overlong set; a last line needs no '\n'.
 */
static int
pkgindex_line_next(struct pkgindex_lines *lb, char *buf, size_t cap,
    pkgindex_read_fn rd, void *arg, char **line, size_t *len, int *overlong,
    char **cause)
{
	char	*nl;
	ssize_t	 n;
	int	 skipping = 0;

	for (;;) {
		if (lb->start < lb->end && (nl = memchr(buf + lb->start, '\n',
		    lb->end - lb->start)) != NULL) {
			*line = buf + lb->start;
			*len = skipping ? 0 : (size_t)(nl - *line);
			lb->start = (size_t)(nl - buf) + 1;
			break;
		}
		if (lb->eof) {
			if (lb->start == lb->end && !skipping)
				return 0;
			*line = buf + lb->start;
			*len = skipping ? 0 : lb->end - lb->start;
			lb->start = lb->end;
			break;
		}
		if (lb->start > 0) {
			memmove(buf, buf + lb->start, lb->end - lb->start);
			lb->end -= lb->start;
			lb->start = 0;
		}
		if (lb->end == cap) {		/* no '\n' in a full buffer */
			skipping = 1;
			lb->end = 0;
		}
		if ((n = rd(arg, buf + lb->end, cap - lb->end, cause)) == -1)
			return -1;
		if (n == 0)
			lb->eof = 1;
		lb->end += (size_t)n;
	}
	*overlong = skipping;
	lb->line++;
	return 1;
}

static enum pkgindex_field
pkgindex_field_find(const char *name, size_t len, int *kept)
{
	size_t	i;

	for (i = 0; i < sizeof pkgindex_fields / sizeof pkgindex_fields[0]; i++)
		if (strlen(pkgindex_fields[i].name) == len &&
		    strncasecmp(pkgindex_fields[i].name, name, len) == 0) {
			*kept = 1;
			return pkgindex_fields[i].field;
		}
	*kept = 0;
	return F_NFIELDS;
}

/*
 * The arena holds the kept fields' values, each ended by a NUL; arena[used]
 * is the NUL of the last one (arena[0]: the "" of every absent field).
 * Appends to the last value; -1 if full.
 */
static int
pkgindex_arena_add(struct pkgindex_parser *ps, const char *p, size_t len)
{
	if (len >= sizeof ps->arena - ps->used)
		return -1;
	memcpy(ps->arena + ps->used, p, len);
	ps->used += len;
	ps->arena[ps->used] = '\0';
	return 0;
}

static void
pkgindex_stanza_reset(struct pkgindex_parser *ps)
{
	ps->active = ps->bad = 0;
	ps->cur = PKGINDEX_CUR_NONE;
	ps->used = 0;
	ps->arena[0] = '\0';
	memset(ps->off, 0, sizeof ps->off);
	memset(ps->have, 0, sizeof ps->have);
}

/* A blank line or the end: hands the stanza over, unless it is bad. */
static int
pkgindex_stanza_end(struct pkgindex_parser *ps, char **cause)
{
	struct pkgindex_stanza	 st;
	const char		*v;
	int			 rc;

	if (!ps->active)
		return 0;
	memset(&st, 0, sizeof st);
	st.size = -1;
	st.line = ps->first_line;
	if (!ps->bad && ps->have[F_SIZE]) {
		v = ps->arena + ps->off[F_SIZE];
		if (pkgindex_size(v, strlen(v), &st.size) != 0)
			ps->bad = 1;
	}
	if (!ps->bad && ps->have[F_SHA256]) {
		v = ps->arena + ps->off[F_SHA256];
		if (pkgindex_hex_sha256(v, strlen(v), st.sha256) != 0)
			ps->bad = 1;
		st.has_sha256 = 1;
	}
	if (ps->bad) {
		ps->stats.skipped++;
		pkgindex_stanza_reset(ps);
		return 0;
	}
	st.package = ps->arena + ps->off[F_PACKAGE];
	st.version = ps->arena + ps->off[F_VERSION];
	st.architecture = ps->arena + ps->off[F_ARCHITECTURE];
	st.filename = ps->arena + ps->off[F_FILENAME];
	st.depends = ps->arena + ps->off[F_DEPENDS];
	st.pre_depends = ps->arena + ps->off[F_PRE_DEPENDS];
	st.provides = ps->arena + ps->off[F_PROVIDES];
	ps->stats.stanzas++;
	rc = ps->cb(&st, ps->arg, cause);
	pkgindex_stanza_reset(ps);
	if (rc == -1 && *cause == NULL)
		*cause = util_printf("stopped at the stanza of line %llu",
		    (unsigned long long)st.line);
	return rc;
}

/* One line of a Packages file; what pkgindex_stanza_end returns. */
static int
pkgindex_line(struct pkgindex_parser *ps, char *p, size_t len, int overlong,
    char **cause)
{
	const char		*colon;
	enum pkgindex_field	 f;
	size_t			 i;
	int			 kept;

	if (!overlong) {
		while (len > 0 && pkgindex_space((unsigned char)p[len - 1]))
			len--;
		if (len == 0)
			return pkgindex_stanza_end(ps, cause);
	}
	if (!ps->active) {
		ps->active = 1;
		ps->first_line = ps->lines.line;
	}
	if (overlong || ps->bad || memchr(p, '\0', len) != NULL) {
		ps->bad = 1;
		return 0;
	}
	if (p[0] == ' ' || p[0] == '\t') {		/* a continuation */
		if (ps->cur == PKGINDEX_CUR_NONE) {
			ps->bad = 1;
			return 0;
		}
		if (ps->cur == PKGINDEX_CUR_OTHER)
			return 0;
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		if ((ps->used > ps->off[ps->cur] &&	/* not the first word */
		    pkgindex_arena_add(ps, " ", 1) != 0) ||
		    pkgindex_arena_add(ps, p, len) != 0)
			ps->bad = 1;
		return 0;
	}
	/* "Name: value": a name of printable ASCII but ':', not empty. */
	if ((colon = memchr(p, ':', len)) == NULL || colon == p) {
		ps->bad = 1;
		return 0;
	}
	for (i = 0; p + i < colon; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] > '~') {
			ps->bad = 1;
			return 0;
		}
	f = pkgindex_field_find(p, (size_t)(colon - p), &kept);
	if (!kept) {
		ps->cur = PKGINDEX_CUR_OTHER;
		return 0;
	}
	if (ps->have[f]) {			/* twice: ambiguous */
		ps->bad = 1;
		return 0;
	}
	if (ps->used + 1 >= sizeof ps->arena) {
		ps->bad = 1;
		return 0;
	}
	ps->have[f] = 1;
	ps->cur = (int)f;
	ps->off[f] = ++ps->used;		/* past the last value's NUL */
	ps->arena[ps->used] = '\0';
	len -= (size_t)(colon + 1 - p);
	p = (char *)colon + 1;
	while (len > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	if (pkgindex_arena_add(ps, p, len) != 0)
		ps->bad = 1;
	return 0;
}

int
pkgindex_parse(int fd, uint64_t max, pkgindex_stanza_cb cb, void *arg,
    struct pkgindex_stats *stats, char **cause)
{
	struct pkgindex_parser	*ps;
	char			*line;
	size_t			 len;
	int			 overlong, rc;

	*cause = NULL;
	if ((ps = malloc(sizeof *ps)) == NULL) {
		*cause = util_printf("out of memory");
		return -1;
	}
	memset(&ps->lines, 0, sizeof ps->lines);
	memset(&ps->stats, 0, sizeof ps->stats);
	ps->cb = cb;
	ps->arg = arg;
	pkgindex_stanza_reset(ps);
	if (pkgindex_src_open(&ps->src, fd, ps->raw, max, cause) != 0) {
		rc = -1;
		goto out;
	}
	while ((rc = pkgindex_line_next(&ps->lines, ps->buf, sizeof ps->buf,
	    pkgindex_src_read, &ps->src, &line, &len, &overlong, cause)) == 1) {
		if ((rc = pkgindex_line(ps, line, len, overlong, cause)) != 0)
			goto out;
	}
	if (rc == 0)
		rc = pkgindex_stanza_end(ps, cause);	/* no final blank line */
out:
	ps->stats.bytes = ps->src.total;
	if (stats != NULL)
		*stats = ps->stats;
	pkgindex_src_close(&ps->src);
	free(ps);
	return rc;
}

/* A path as the index keys it: without leading "./". */
static const char *
pkgindex_path(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	return path;
}

/* The index's key of a (normalised) path: its SHA-256's first 16 bytes. */
static int
pkgindex_key(const char *path, unsigned char *key)
{
	struct crypto_sha256	*h;
	unsigned char		 raw[CRYPTO_SHA256_LEN];

	if ((h = crypto_backend->sha256_new()) == NULL)
		return -1;
	crypto_backend->sha256_update(h, path, strlen(path));
	crypto_backend->sha256_final(h, raw);
	crypto_backend->sha256_free(h);
	memcpy(key, raw, PKGINDEX_KEY_LEN);
	return 0;
}

struct pkgindex_rec {
	unsigned char	key[PKGINDEX_KEY_LEN];
	unsigned char	sha256[PKGINDEX_SHA256_LEN];
	int64_t		size;
	uint32_t	ordinal;	/* in the file: the first one wins */
};

struct pkgindex_builder {
	struct pkgindex_rec	*v;
	size_t			 n, cap;
	uint64_t		 unlisted;	/* no Filename or SHA256 */
};

static int
pkgindex_build_cb(const struct pkgindex_stanza *st, void *arg, char **cause)
{
	struct pkgindex_builder	*b = arg;
	struct pkgindex_rec	*r;
	const char		*path = pkgindex_path(st->filename);
	size_t			 cap;

	if (*path == '\0' || !st->has_sha256) {
		b->unlisted++;
		return 0;
	}
	if (b->n == b->cap) {
		if (b->n == PKGINDEX_RECORDS_MAX) {
			*cause = util_printf("more than %d packages",
			    PKGINDEX_RECORDS_MAX);
			return -1;
		}
		cap = b->cap == 0 ? 1024 : b->cap * 2;
		if (cap > PKGINDEX_RECORDS_MAX)
			cap = PKGINDEX_RECORDS_MAX;
		if ((r = reallocarray(b->v, cap, sizeof *r)) == NULL) {
			*cause = util_printf("out of memory");
			return -1;
		}
		b->v = r;
		b->cap = cap;
	}
	r = &b->v[b->n];
	if (pkgindex_key(path, r->key) != 0) {
		*cause = util_printf("cannot hash");
		return -1;
	}
	memcpy(r->sha256, st->sha256, sizeof r->sha256);
	r->size = st->size;
	r->ordinal = (uint32_t)b->n++;
	return 0;
}

/* The fan-out bucket of a key. */
static unsigned
pkgindex_bucket(const unsigned char *key)
{
	return (unsigned)key[0] << 2 | key[1] >> 6;
}

static int
pkgindex_rec_cmp(const void *a, const void *b)
{
	const struct pkgindex_rec	*x = a, *y = b;
	int				 c;

	if ((c = memcmp(x->key, y->key, PKGINDEX_KEY_LEN)) != 0)
		return c;
	return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

static void
pkgindex_rec_encode(const struct pkgindex_rec *r, unsigned char *p)
{
	memcpy(p, r->key, PKGINDEX_KEY_LEN);
	memcpy(p + 16, r->sha256, PKGINDEX_SHA256_LEN);
	pkgindex_put64(p + 48, (uint64_t)r->size);
	pkgindex_put32(p + 56, (uint32_t)crc32(0, p, 56));
	pkgindex_put32(p + 60, 0);
}

static int
pkgindex_pwrite(int fd, const void *buf, size_t len, off_t off, char **cause)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			*cause = util_printf("write: %s", n == 0 ? "no progress" :
			    strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int
pkgindex_build(int in_fd, int out_fd, uint64_t max, size_t *count,
    char **cause)
{
	struct pkgindex_builder	 b;
	struct pkgindex_stats	 stats;
	struct crypto_sha256	*h = NULL;
	unsigned char		*wbuf = NULL, head[PKGINDEX_HEAD_LEN];
	unsigned char		 sum[CRYPTO_SHA256_LEN];
	uint32_t		 crc;
	size_t			 i, n, dups = 0, fill = 0, b_at;
	unsigned		 bucket;
	off_t			 off = PKGINDEX_HEAD_LEN;
	int			 rc = -1;

	*cause = NULL;
	memset(&b, 0, sizeof b);
	if (pkgindex_parse(in_fd, max, pkgindex_build_cb, &b, &stats, cause) != 0)
		goto out;
	if (b.n > 1)
		qsort(b.v, b.n, sizeof *b.v, pkgindex_rec_cmp);
	for (i = n = 0; i < b.n; i++) {		/* keep the first of a key */
		if (n > 0 && memcmp(b.v[n - 1].key, b.v[i].key,
		    PKGINDEX_KEY_LEN) == 0) {
			dups++;
			continue;
		}
		b.v[n++] = b.v[i];
	}
	if ((wbuf = malloc(PKGINDEX_WRITE_RECORDS * PKGINDEX_RECORD_LEN)) == NULL ||
	    (h = crypto_backend->sha256_new()) == NULL) {
		*cause = util_printf("out of memory");
		goto out;
	}
	memset(head, 0, sizeof head);
	for (i = 0, b_at = 0; i < n; i++) {
		/* Buckets up to this key's start here (empty ones too). */
		for (bucket = pkgindex_bucket(b.v[i].key); b_at <= bucket; b_at++)
			pkgindex_put32(head + PKGINDEX_HEADER_LEN + 4 * b_at,
			    (uint32_t)i);
		pkgindex_rec_encode(&b.v[i], wbuf + fill * PKGINDEX_RECORD_LEN);
		if (++fill < PKGINDEX_WRITE_RECORDS && i + 1 < n)
			continue;
		crypto_backend->sha256_update(h, wbuf, fill * PKGINDEX_RECORD_LEN);
		if (pkgindex_pwrite(out_fd, wbuf, fill * PKGINDEX_RECORD_LEN, off,
		    cause) != 0)
			goto out;
		off += (off_t)(fill * PKGINDEX_RECORD_LEN);
		fill = 0;
	}
	for (; b_at < PKGINDEX_FANOUT; b_at++)		/* empty, at the end */
		pkgindex_put32(head + PKGINDEX_HEADER_LEN + 4 * b_at, (uint32_t)n);
	crypto_backend->sha256_final(h, sum);
	memcpy(head, PKGINDEX_MAGIC, 8);
	pkgindex_put32(head + 8, PKGINDEX_VERSION);
	pkgindex_put32(head + 12, PKGINDEX_RECORD_LEN);
	pkgindex_put64(head + 16, n);
	memcpy(head + 24, sum, sizeof sum);
	crc = (uint32_t)crc32(0, head, 60);
	crc = (uint32_t)crc32(crc, head + PKGINDEX_HEADER_LEN, 4 * PKGINDEX_FANOUT);
	pkgindex_put32(head + 60, crc);
	if (pkgindex_pwrite(out_fd, head, sizeof head, 0, cause) != 0)
		goto out;
	if (ftruncate(out_fd, off) != 0) {
		*cause = util_printf("truncate: %s", strerror(errno));
		goto out;
	}
	if (stats.skipped > 0 || dups > 0)
		log_warn("%s: %llu malformed stanza(s) skipped, %zu later "
		    "duplicate path(s) ignored", __func__,
		    (unsigned long long)stats.skipped, dups);
	log_debug("%s: %zu package(s), %llu stanza(s) without a file or "
	    "SHA256, %llu bytes of text", __func__, n,
	    (unsigned long long)b.unlisted, (unsigned long long)stats.bytes);
	*count = n;
	rc = 0;
out:
	if (h != NULL)
		crypto_backend->sha256_free(h);
	free(wbuf);
	free(b.v);
	return rc;
}

static int
pkgindex_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t	n;

	do
		n = pread(fd, buf, len, off);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

/*
 * Reads and checks the header and fan-out (head, PKGINDEX_HEAD_LEN bytes)
 * and the file's length; the record count.
 */
static int
pkgindex_header(int fd, unsigned char *head, uint64_t *count, char **cause)
{
	struct stat	st;
	uint32_t	crc, prev = 0, at;
	unsigned	i;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*cause = util_printf("not a regular file");
		return -1;
	}
	if (pkgindex_pread(fd, head, PKGINDEX_HEAD_LEN, 0) != 0 ||
	    memcmp(head, PKGINDEX_MAGIC, 8) != 0) {
		*cause = util_printf("not a package index");
		return -1;
	}
	crc = (uint32_t)crc32(0, head, 60);
	crc = (uint32_t)crc32(crc, head + PKGINDEX_HEADER_LEN, 4 * PKGINDEX_FANOUT);
	if (pkgindex_get32(head + 60) != crc) {
		*cause = util_printf("the package index's header is damaged");
		return -1;
	}
	if (pkgindex_get32(head + 8) != PKGINDEX_VERSION ||
	    pkgindex_get32(head + 12) != PKGINDEX_RECORD_LEN) {
		*cause = util_printf("package index version %u, not %u",
		    pkgindex_get32(head + 8), PKGINDEX_VERSION);
		return -1;
	}
	*count = pkgindex_get64(head + 16);
	if (*count > PKGINDEX_RECORDS_MAX || (uint64_t)st.st_size !=
	    PKGINDEX_HEAD_LEN + *count * PKGINDEX_RECORD_LEN) {
		*cause = util_printf("package index of %llu bytes for %llu "
		    "records: truncated or damaged", (unsigned long long)st.st_size,
		    (unsigned long long)*count);
		return -1;
	}
	for (i = 0; i < PKGINDEX_FANOUT; i++) {
		at = pkgindex_get32(head + PKGINDEX_HEADER_LEN + 4 * i);
		if (at < prev || at > *count) {
			*cause = util_printf("the package index's fan-out is "
			    "damaged");
			return -1;
		}
		prev = at;
	}
	return 0;
}

/* Where bucket b's records start and end. */
static void
pkgindex_bucket_range(const unsigned char *head, unsigned b, uint64_t count,
    uint64_t *lo, uint64_t *hi)
{
	*lo = pkgindex_get32(head + PKGINDEX_HEADER_LEN + 4 * b);
	*hi = b + 1 < PKGINDEX_FANOUT ?
	    pkgindex_get32(head + PKGINDEX_HEADER_LEN + 4 * (b + 1)) : count;
}

/* Checks one record's checksum and fields. */
static int
pkgindex_record_ok(const unsigned char *r)
{
	return pkgindex_get32(r + 56) == (uint32_t)crc32(0, r, 56) &&
	    pkgindex_get32(r + 60) == 0 && (int64_t)pkgindex_get64(r + 48) >= -1;
}

static int
pkgindex_found(const unsigned char *r, struct digest *d, int64_t *size)
{
	digest_from_raw(r + 16, d);
	*size = (int64_t)pkgindex_get64(r + 48);
	return 1;
}

/*
 * Checks n records of bucket b read from record first on: their checksums
 * and buckets, and keys rising strictly, above below and under above
 * (either may be NULL).
 */
static int
pkgindex_records_ok(const unsigned char *r, uint64_t n, uint64_t first,
    unsigned b, const unsigned char *below, const unsigned char *above)
{
	uint64_t	i;

	for (i = 0; i < n; i++, r += PKGINDEX_RECORD_LEN) {
		if (!pkgindex_record_ok(r) || pkgindex_bucket(r) != b ||
		    (below != NULL && memcmp(r, below, PKGINDEX_KEY_LEN) <= 0) ||
		    (above != NULL && memcmp(r, above, PKGINDEX_KEY_LEN) >= 0)) {
			log_warn("pkgindex_lookup: record %llu is damaged or out "
			    "of order", (unsigned long long)(first + i));
			return -1;
		}
		below = r;
	}
	return 0;
}

int
pkgindex_lookup(int fd, const char *path, struct digest *d, int64_t *size)
{
	unsigned char	 head[PKGINDEX_HEAD_LEN], key[PKGINDEX_KEY_LEN];
	unsigned char	 block[PKGINDEX_BLOCK_RECORDS * PKGINDEX_RECORD_LEN];
	unsigned char	 below[PKGINDEX_KEY_LEN], above[PKGINDEX_KEY_LEN];
	unsigned char	*r;
	uint64_t	 count, lo, hi, first, n, i;
	int		 have_below = 0, have_above = 0, c;
	char		*cause = NULL;

	if (pkgindex_header(fd, head, &count, &cause) != 0) {
		log_warn("%s: %s", __func__, cause);
		free(cause);
		return -1;
	}
	if (*(path = pkgindex_path(path)) == '\0')
		return 0;
	if (pkgindex_key(path, key) != 0) {
		log_warn("%s: cannot hash", __func__);
		return -1;
	}
	/*
	 * In the key's bucket, halve [lo, hi) one record at a time, then read
	 * the rest at once; every key read must fall between those before it.
	 */
	pkgindex_bucket_range(head, pkgindex_bucket(key), count, &lo, &hi);
	while (lo < hi) {
		if (hi - lo <= PKGINDEX_BLOCK_RECORDS) {
			first = lo;
			n = hi - lo;
		} else {
			first = lo + (hi - lo) / 2;
			n = 1;
		}
		if (pkgindex_pread(fd, block, n * PKGINDEX_RECORD_LEN,
		    (off_t)(PKGINDEX_HEAD_LEN + first * PKGINDEX_RECORD_LEN)) != 0) {
			log_warn("%s: cannot read record %llu", __func__,
			    (unsigned long long)first);
			return -1;
		}
		if (pkgindex_records_ok(block, n, first, pkgindex_bucket(key),
		    have_below ? below : NULL,
		    have_above ? above : NULL) != 0)
			return -1;
		for (i = 0, r = block; i < n; i++, r += PKGINDEX_RECORD_LEN)
			if ((c = memcmp(r, key, PKGINDEX_KEY_LEN)) >= 0)
				break;
		if (n > 1)
			return i < n && c == 0 ? pkgindex_found(r, d, size) : 0;
		if (c == 0)
			return pkgindex_found(r, d, size);
		if (c < 0) {
			lo = first + 1;
			memcpy(below, block, PKGINDEX_KEY_LEN);
			have_below = 1;
		} else {
			hi = first;
			memcpy(above, block, PKGINDEX_KEY_LEN);
			have_above = 1;
		}
	}
	return 0;
}

int
pkgindex_verify(int fd, size_t *count, char **cause)
{
	struct crypto_sha256	*h;
	unsigned char		 head[PKGINDEX_HEAD_LEN], sum[CRYPTO_SHA256_LEN];
	unsigned char		*buf, *r, prev[PKGINDEX_KEY_LEN];
	uint64_t		 n, i, chunk, j, lo, hi;
	int			 rc = -1;

	*cause = NULL;
	if (pkgindex_header(fd, head, &n, cause) != 0)
		return -1;
	if ((buf = malloc(PKGINDEX_WRITE_RECORDS * PKGINDEX_RECORD_LEN)) == NULL ||
	    (h = crypto_backend->sha256_new()) == NULL) {
		free(buf);
		*cause = util_printf("out of memory");
		return -1;
	}
	for (i = 0; i < n; i += chunk) {
		chunk = n - i < PKGINDEX_WRITE_RECORDS ? n - i : PKGINDEX_WRITE_RECORDS;
		if (pkgindex_pread(fd, buf, chunk * PKGINDEX_RECORD_LEN,
		    (off_t)(PKGINDEX_HEAD_LEN + i * PKGINDEX_RECORD_LEN)) != 0) {
			*cause = util_printf("cannot read record %llu",
			    (unsigned long long)i);
			goto out;
		}
		crypto_backend->sha256_update(h, buf, chunk * PKGINDEX_RECORD_LEN);
		for (j = 0; j < chunk; j++) {
			r = buf + j * PKGINDEX_RECORD_LEN;
			pkgindex_bucket_range(head, pkgindex_bucket(r), n, &lo, &hi);
			if (!pkgindex_record_ok(r) || (i + j > 0 &&
			    memcmp(prev, r, PKGINDEX_KEY_LEN) >= 0) ||
			    i + j < lo || i + j >= hi) {
				*cause = util_printf("record %llu is damaged or out "
				    "of order", (unsigned long long)(i + j));
				goto out;
			}
			memcpy(prev, r, PKGINDEX_KEY_LEN);
		}
	}
	crypto_backend->sha256_final(h, sum);
	if (memcmp(sum, head + 24, sizeof sum) != 0) {
		*cause = util_printf("the records do not match the header's SHA-256");
		goto out;
	}
	*count = (size_t)n;
	rc = 0;
out:
	crypto_backend->sha256_free(h);
	free(buf);
	return rc;
}

/* A Release is read as it is, capped at PKGINDEX_RELEASE_MAX bytes. */
static ssize_t
pkgindex_release_read(void *arg, char *buf, size_t len, char **cause)
{
	struct pkgindex_release	*r = arg;
	ssize_t			 n;

	if ((n = pkgindex_fd_read(r->fd, buf, len, cause)) > 0 &&
	    (r->bytes += (uint64_t)n) > PKGINDEX_RELEASE_MAX) {
		*cause = util_printf("a Release of more than %d bytes",
		    PKGINDEX_RELEASE_MAX);
		return -1;
	}
	return n;
}

void
pkgindex_release_init(struct pkgindex_release *r, int fd)
{
	memset(&r->lines, 0, sizeof r->lines);
	r->fd = fd;
	r->state = REL_START;
	r->in_sha256 = 0;
	r->bytes = 0;
}

static int
pkgindex_release_is(const char *p, size_t len, const char *what)
{
	return len == strlen(what) && memcmp(p, what, len) == 0;
}

/* One line of the Release text: 1 with an entry of the SHA256 section. */
static int
pkgindex_release_text(struct pkgindex_release *r, const char *p, size_t len,
    struct pkgindex_release_entry *e)
{
	const char	*tok[4];
	size_t		 toklen[4], n = 0;
	const char	*colon;

	if (len == 0) {				/* the paragraph ends */
		r->in_sha256 = 0;
		return 0;
	}
	if (p[0] != ' ' && p[0] != '\t') {	/* a field: "SHA256:" opens */
		if ((colon = memchr(p, ':', len)) == NULL)
			return 0;		/* malformed: passed over */
		r->in_sha256 = colon - p == 6 && strncasecmp(p, "SHA256", 6) == 0 &&
		    colon + 1 == p + len;
		return 0;
	}
	if (!r->in_sha256)
		return 0;
	while (len > 0 && n < 4) {		/* " <hex> <size> <path>" */
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		if (len == 0)
			break;
		tok[n] = p;
		while (len > 0 && *p != ' ' && *p != '\t') {
			p++;
			len--;
		}
		toklen[n] = (size_t)(p - tok[n]);
		n++;
	}
	if (n != 3 || pkgindex_hex_sha256(tok[0], toklen[0], e->sha256) != 0 ||
	    pkgindex_size(tok[1], toklen[1], &e->size) != 0 ||
	    toklen[2] >= sizeof e->path)
		return 0;
	memcpy(e->path, tok[2], toklen[2]);
	e->path[toklen[2]] = '\0';
	return 1;
}

static int
pkgindex_release_fail(struct pkgindex_release *r, char **cause,
    const char *why)
{
	r->state = REL_FAILED;
	*cause = util_printf("line %llu: %s", (unsigned long long)r->lines.line,
	    why);
	return -1;
}

int
pkgindex_release_next(struct pkgindex_release *r,
    struct pkgindex_release_entry *e, char **cause)
{
	char	*line;
	size_t	 len;
	int	 overlong, rc;

	*cause = NULL;
	if (r->state == REL_DONE)
		return 0;
	if (r->state == REL_FAILED) {
		*cause = util_printf("an earlier error");
		return -1;
	}
	while ((rc = pkgindex_line_next(&r->lines, r->buf, sizeof r->buf,
	    pkgindex_release_read, r, &line, &len, &overlong, cause)) == 1) {
		while (len > 0 && pkgindex_space((unsigned char)line[len - 1]))
			len--;
		if (overlong || memchr(line, '\0', len) != NULL) {
			if (r->state == REL_START)
				r->state = REL_PLAIN;
			continue;		/* passed over */
		}
		switch (r->state) {
		case REL_START:
			if (len == 0)
				continue;
			if (pkgindex_release_is(line, len,
			    "-----BEGIN PGP SIGNED MESSAGE-----")) {
				r->state = REL_ARMOR;
				continue;
			}
			r->state = REL_PLAIN;
			/* FALLTHROUGH */
		case REL_PLAIN:
			if (len >= 14 && memcmp(line, "-----BEGIN PGP", 14) == 0)
				return pkgindex_release_fail(r, cause,
				    "PGP armor inside an unsigned Release");
			break;
		case REL_ARMOR:
			if (len == 0)
				r->state = REL_SIGNED;
			continue;
		case REL_SIGNED:
			if (pkgindex_release_is(line, len,
			    "-----BEGIN PGP SIGNATURE-----")) {
				r->state = REL_SIGNATURE;
				continue;
			}
			if (len > 0 && line[0] == '-') {
				if (len < 2 || line[1] != ' ')
					continue;	/* not escaped: invalid */
				line += 2;		/* dash-escaped */
				len -= 2;
			}
			break;
		case REL_SIGNATURE:
			if (pkgindex_release_is(line, len,
			    "-----END PGP SIGNATURE-----"))
				r->state = REL_AFTER;
			continue;
		case REL_AFTER:
			if (len == 0)
				continue;
			return pkgindex_release_fail(r, cause,
			    "text after the signature");
		}
		if (pkgindex_release_text(r, line, len, e) == 1)
			return 1;
	}
	if (rc == -1) {
		r->state = REL_FAILED;
		return -1;
	}
	if (r->state == REL_ARMOR || r->state == REL_SIGNED ||
	    r->state == REL_SIGNATURE)
		return pkgindex_release_fail(r, cause,
		    "the signed message is truncated");
	r->state = REL_DONE;
	return 0;
}
