/*
 * Unit tests: the tar reader (tar_next, tar_copy, tar_skip) over archives
 * built here in memory, well-formed and hostile, and a round trip through
 * tar_write_file and tar_write_end. A hostile archive must end in an error
 * with a cause: never a crash, never an allocation of what a header claims.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

#define BLOCK	512

/* An archive being built in memory. */
struct arch {
	unsigned char	*p;
	size_t		 len, cap;
};

static void
arch_append(struct arch *a, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (a->len + len > a->cap) {
		a->cap = (a->len + len) * 2;
		a->p = realloc(a->p, a->cap);
		assert_non_null(a->p);
	}
	memcpy(a->p + a->len, data, len);
	a->len += len;
}

static void
arch_zeros(struct arch *a, size_t len)
{
	static const unsigned char	z[BLOCK];

	while (len > 0) {
		size_t n = len > sizeof z ? sizeof z : len;

		arch_append(a, z, n);
		len -= n;
	}
}

/* Data, padded with zeros to a whole block. */
static void
arch_data(struct arch *a, const void *data, size_t len)
{
	arch_append(a, data, len);
	arch_zeros(a, (BLOCK - len % BLOCK) % BLOCK);
}

static void
arch_end(struct arch *a)
{
	arch_zeros(a, 2 * BLOCK);
}

/* An octal field of len bytes: zero-filled digits and a NUL. */
static void
hdr_octal(unsigned char *h, size_t off, size_t len, unsigned long long v)
{
	char	tmp[32];

	snprintf(tmp, sizeof tmp, "%0*llo", (int)len - 1, v);
	assert_int_equal(strlen(tmp), len - 1);
	memcpy(h + off, tmp, len);
}

/*
 * Writes the checksum of a header: the byte sum with the checksum field
 * taken as eight spaces, as six digits, a NUL and a space. Called again
 * after a field is corrupted on purpose, so that only that field is wrong.
 */
static void
hdr_checksum(unsigned char *h)
{
	unsigned long	sum = 0;
	size_t		i;
	char		tmp[8];

	memset(h + 148, ' ', 8);
	for (i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf(tmp, sizeof tmp, "%06lo", sum);
	memcpy(h + 148, tmp, 7);
	h[155] = ' ';
}

/* A ustar header; the name is cut at 100 bytes, as the field is. */
static void
hdr_init(unsigned char *h, const char *name, char type, unsigned long long size)
{
	size_t	len = strlen(name);

	memset(h, 0, BLOCK);
	memcpy(h, name, len > 100 ? 100 : len);
	hdr_octal(h, 100, 8, type == '5' ? 0755 : 0644);
	hdr_octal(h, 108, 8, 1000);
	hdr_octal(h, 116, 8, 1000);
	hdr_octal(h, 124, 12, size);
	hdr_octal(h, 136, 12, 1700000000);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	hdr_checksum(h);
}

static void
arch_header(struct arch *a, const char *name, char type, unsigned long long size)
{
	unsigned char	h[BLOCK];

	hdr_init(h, name, type, size);
	arch_append(a, h, sizeof h);
}

static void
arch_file(struct arch *a, const char *name, const void *data, size_t len)
{
	arch_header(a, name, '0', len);
	arch_data(a, data, len);
}

/* One pax record: "<len> <key>=<value>\n", len counting itself. */
static void
pax_record(struct arch *rec, const char *key, const char *value)
{
	char	buf[4096];
	size_t	body = 1 + strlen(key) + 1 + strlen(value) + 1, len, digits;
	int	n;

	/* The length's digits are part of the length. */
	for (digits = 1;; digits++) {
		len = body + digits;
		if (snprintf(NULL, 0, "%zu", len) == (int)digits)
			break;
	}
	n = snprintf(buf, sizeof buf, "%zu %s=%s\n", len, key, value);
	assert_int_equal((size_t)n, len);
	arch_append(rec, buf, len);
}

/* A pax extended header ('x') carrying rec. */
static void
arch_pax(struct arch *a, const struct arch *rec)
{
	arch_header(a, "PaxHeaders/x", 'x', rec->len);
	arch_data(a, rec->p, rec->len);
}

/* A GNU long name entry ('L'): the name and its NUL. */
static void
arch_longname(struct arch *a, const char *name)
{
	arch_header(a, "././@LongLink", 'L', strlen(name) + 1);
	arch_data(a, name, strlen(name) + 1);
}

/* The archive in an unlinked temporary file, at offset 0. */
static int
arch_fd(const struct arch *a)
{
	char	tmpl[] = "/tmp/pullgate-unit-tar.XXXXXX";
	int	fd;

	fd = mkstemp(tmpl);
	assert_true(fd != -1);
	unlink(tmpl);
	if (a->len > 0)
		assert_int_equal(write(fd, a->p, a->len), (ssize_t)a->len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int
tmp_fd(void)
{
	struct arch	empty = { NULL, 0, 0 };

	return arch_fd(&empty);
}

/* What fd holds, from its start, NUL-terminated; *len is its length. */
static char *
fd_contents(int fd, size_t *len)
{
	off_t	end = lseek(fd, 0, SEEK_END);
	char	*buf;

	assert_true(end >= 0);
	buf = malloc((size_t)end + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	buf[end] = '\0';
	*len = (size_t)end;
	return buf;
}

static void
reader_open(struct tar_reader *t, const struct arch *a)
{
	memset(t, 0, sizeof *t);
	t->fd = arch_fd(a);
}

static void
reader_close(struct tar_reader *t, struct arch *a)
{
	close(t->fd);
	free(a->p);
	memset(a, 0, sizeof *a);
}

/* tar_next (or whatever call) failed with a cause that says why. */
static void
expect_cause(char *cause, const char *words)
{
	assert_non_null(cause);
	if (strstr(cause, words) == NULL)
		fail_msg("cause '%s' does not say '%s'", cause, words);
	free(cause);
}

static void
fill_pattern(char *buf, size_t len, unsigned seed)
{
	size_t	i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed) & 0xff);
}

/* Copies the current entry to a new file and checks it holds want. */
static void
expect_copy(struct tar_reader *t, const char *want, size_t wantlen)
{
	char	*cause = NULL, *got;
	size_t	 len;
	int	 fd = tmp_fd();

	assert_int_equal(tar_copy(t, fd, &cause), 0);
	assert_null(cause);
	assert_int_equal(t->left, 0);
	got = fd_contents(fd, &len);
	assert_int_equal(len, wantlen);
	assert_memory_equal(got, want, wantlen);
	free(got);
	close(fd);
}

static void
test_tar_normal(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 big[1000], *cause = NULL;
	const char		*hello = "hello, world\n";

	(void)state;
	fill_pattern(big, sizeof big, 7);
	arch_header(&a, "docs/", '5', 0);
	arch_file(&a, "docs/hello.txt", hello, strlen(hello));
	arch_file(&a, "docs/big.bin", big, sizeof big);
	arch_end(&a);
	assert_int_equal(a.len, (1 + 2 + 3 + 2) * BLOCK);
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "docs/");
	assert_int_equal(t.type, '5');
	assert_int_equal(t.size, 0);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "docs/hello.txt");
	assert_int_equal(t.type, '0');
	assert_int_equal(t.size, (int64_t)strlen(hello));
	assert_int_equal(t.left, (int64_t)strlen(hello));
	expect_copy(&t, hello, strlen(hello));

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "docs/big.bin");
	assert_int_equal(t.type, '0');
	assert_int_equal(t.size, (int64_t)sizeof big);
	expect_copy(&t, big, sizeof big);

	assert_int_equal(tar_next(&t, &cause), 0);
	assert_null(cause);
	reader_close(&t, &a);
}

/* An entry not copied is skipped by the next tar_next, or by tar_skip. */
static void
test_tar_skip(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 one[600], two[513], *cause = NULL;

	(void)state;
	fill_pattern(one, sizeof one, 1);
	fill_pattern(two, sizeof two, 2);
	arch_file(&a, "one", one, sizeof one);
	arch_file(&a, "two", two, sizeof two);
	arch_file(&a, "three", "3", 1);
	arch_end(&a);
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "one");
	assert_int_equal(tar_next(&t, &cause), 1);	/* skips one's data */
	assert_string_equal(t.name, "two");
	assert_int_equal(t.size, 513);
	assert_int_equal(tar_skip(&t, &cause), 0);
	assert_int_equal(t.left, 0);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "three");
	expect_copy(&t, "3", 1);
	assert_int_equal(tar_next(&t, &cause), 0);
	assert_null(cause);
	/* Read up to the first end block, not past it. */
	assert_int_equal(lseek(t.fd, 0, SEEK_CUR), (off_t)a.len - BLOCK);
	reader_close(&t, &a);
}

/* A type of NUL is a regular file; a ustar prefix is joined to the name. */
static void
test_tar_old_type_and_prefix(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	unsigned char		 h[BLOCK];
	char			 prefix[156], *cause = NULL;

	(void)state;
	hdr_init(h, "old.txt", '\0', 3);
	arch_append(&a, h, sizeof h);
	arch_data(&a, "abc", 3);

	memset(prefix, 'p', 155);
	prefix[155] = '\0';
	prefix[77] = '/';
	hdr_init(h, "leaf.txt", '0', 2);
	memcpy(h + 345, prefix, 155);		/* fills the field, no NUL */
	hdr_checksum(h);
	arch_append(&a, h, sizeof h);
	arch_data(&a, "xy", 2);
	arch_end(&a);
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "old.txt");
	assert_int_equal(t.type, '0');
	expect_copy(&t, "abc", 3);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(strlen(t.name), 155 + 1 + strlen("leaf.txt"));
	assert_memory_equal(t.name, prefix, 155);
	assert_string_equal(t.name + 155, "/leaf.txt");
	expect_copy(&t, "xy", 2);
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

static void
test_tar_pax_path(void **state)
{
	struct arch		 a = { NULL, 0, 0 }, rec = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 name[301], *cause = NULL;

	(void)state;
	memset(name, 'n', 300);
	name[300] = '\0';
	memcpy(name, "blobs/sha256/", 13);
	pax_record(&rec, "mtime", "1700000000.5");
	pax_record(&rec, "path", name);
	pax_record(&rec, "uname", "builder");
	arch_pax(&a, &rec);
	arch_file(&a, "short-ustar-name", "data", 4);
	/* The pax name applies to one entry only. */
	arch_file(&a, "next", "n", 1);
	arch_end(&a);
	free(rec.p);
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, name);
	assert_int_equal(t.type, '0');
	assert_int_equal(t.size, 4);
	expect_copy(&t, "data", 4);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "next");
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

/* Records that lie about their length are ignored, never overrun. */
static void
test_tar_pax_malformed(void **state)
{
	static const char	*bad[] = {
		"99999 path=overrun\n",
		"9223372036854775807 path=huge\n",
		"0 path=zero\n",
		"-20 path=negative\n",
		"3 path=short\n",
		"path=nolength\n",
		"12path=nospace\n",
		"",
	};
	struct tar_reader	 t;
	char			*cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct arch	a = { NULL, 0, 0 };

		arch_header(&a, "PaxHeaders/x", 'x', strlen(bad[i]));
		arch_data(&a, bad[i], strlen(bad[i]));
		arch_file(&a, "fallback", "f", 1);
		arch_end(&a);
		reader_open(&t, &a);
		if (tar_next(&t, &cause) != 1)
			fail_msg("record '%s': %s", bad[i], cause);
		if (strcmp(t.name, "fallback") != 0)
			fail_msg("record '%s': name '%s'", bad[i], t.name);
		assert_int_equal(tar_next(&t, &cause), 0);
		reader_close(&t, &a);
	}
}

static void
test_tar_gnu_longname(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 name[401], *cause = NULL;

	(void)state;
	memset(name, 'g', 400);
	name[400] = '\0';
	name[200] = '/';
	arch_longname(&a, name);
	arch_file(&a, "././@LongLink-cut", "long", 4);
	arch_header(&a, "dir-after/", '5', 0);
	arch_end(&a);
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, name);
	assert_int_equal(t.type, '0');
	expect_copy(&t, "long", 4);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "dir-after/");
	assert_int_equal(t.type, '5');
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

/* A long name past TAR_NAME_MAX is cut, still terminated, never overrun. */
static void
test_tar_gnu_longname_bounded(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 name[3000], *cause = NULL;

	(void)state;
	memset(name, 'q', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	arch_longname(&a, name);
	arch_file(&a, "x", "x", 1);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(strlen(t.name), TAR_NAME_MAX - 1);
	assert_memory_equal(t.name, name, TAR_NAME_MAX - 1);
	expect_copy(&t, "x", 1);
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

/* The record limit, 65536 bytes, is allowed; one more is not. */
static void
test_tar_record_limit(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*data, *cause = NULL;

	(void)state;
	data = calloc(1, 65537);
	assert_non_null(data);
	memcpy(data, "at/the/limit", 12);

	arch_header(&a, "././@LongLink", 'L', 65536);
	arch_data(&a, data, 65536);
	arch_file(&a, "x", "x", 1);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "at/the/limit");
	reader_close(&t, &a);

	arch_header(&a, "././@LongLink", 'L', 65537);
	arch_data(&a, data, 65537);
	arch_file(&a, "x", "x", 1);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "too large");
	reader_close(&t, &a);

	cause = NULL;
	arch_header(&a, "PaxHeaders/x", 'x', 65537);
	arch_data(&a, data, 65537);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "too large");
	reader_close(&t, &a);
	free(data);
}

/*
 * A pax or GNU header claiming the largest size the field holds: refused
 * from the header alone, with no data behind it (so nothing was read or
 * allocated for it: an allocation of 64 GiB would fail or trip ASan).
 */
static void
test_tar_record_huge(void **state)
{
	static const char	 types[] = { 'x', 'L' };
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof types; i++) {
		unsigned char	h[BLOCK];

		cause = NULL;
		hdr_init(h, "huge", types[i], 0);
		memcpy(h + 124, "777777777777", 12);
		hdr_checksum(h);
		arch_append(&a, h, sizeof h);
		reader_open(&t, &a);
		assert_int_equal(tar_next(&t, &cause), -1);
		expect_cause(cause, "too large");
		reader_close(&t, &a);
	}
}

static void
test_tar_bad_checksum(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	unsigned char		 h[BLOCK];
	char			*cause = NULL;

	(void)state;
	/* A byte of the name changed after the checksum was written. */
	hdr_init(h, "file", '0', 1);
	h[0] = 'F';
	arch_append(&a, h, sizeof h);
	arch_data(&a, "x", 1);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "checksum");
	reader_close(&t, &a);

	/* The size changed after it: 1 becomes 1000. */
	cause = NULL;
	hdr_init(h, "file", '0', 1);
	memcpy(h + 124, "00000001750", 11);
	arch_append(&a, h, sizeof h);
	arch_data(&a, "x", 1);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "checksum");
	reader_close(&t, &a);

	/* A checksum field that is not a number. */
	cause = NULL;
	hdr_init(h, "file", '0', 1);
	memcpy(h + 148, "12x456\0 ", 8);
	arch_append(&a, h, sizeof h);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "checksum");
	reader_close(&t, &a);

	/* A block of garbage where a header should be. */
	cause = NULL;
	memset(h, 'A', sizeof h);
	arch_append(&a, h, sizeof h);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "checksum");
	reader_close(&t, &a);
}

static void
test_tar_truncated_header(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	unsigned char		 h[BLOCK];
	char			*cause = NULL;

	(void)state;
	hdr_init(h, "file", '0', 0);
	arch_append(&a, h, 300);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);

	/* A whole first entry, then half a header. */
	cause = NULL;
	arch_file(&a, "first", "1", 1);
	arch_append(&a, h, 511);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);

	/* An empty file is not an archive. */
	cause = NULL;
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);

	/* A long name entry with its data cut. */
	cause = NULL;
	arch_header(&a, "././@LongLink", 'L', 700);
	arch_zeros(&a, 600);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);
}

static void
test_tar_truncated_data(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			 data[1000], *cause = NULL;
	int			 fd;

	(void)state;
	fill_pattern(data, sizeof data, 3);
	arch_header(&a, "cut.bin", '0', sizeof data);
	arch_append(&a, data, 600);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(t.size, 1000);
	fd = tmp_fd();
	assert_int_equal(tar_copy(&t, fd, &cause), -1);
	expect_cause(cause, "truncated");
	close(fd);
	reader_close(&t, &a);

	/* Skipping it by tar_next fails the same way. */
	cause = NULL;
	arch_header(&a, "cut.bin", '0', sizeof data);
	arch_append(&a, data, 600);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);

	/* All the data, but not its padding. */
	cause = NULL;
	arch_header(&a, "cut.bin", '0', sizeof data);
	arch_append(&a, data, sizeof data);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(tar_skip(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);
}

static void
test_tar_size_invalid(void **state)
{
	static const char	*sizes[] = {
		"0000000001x",	/* a letter */
		"00000000018",	/* 8 is not octal */
		"-0000000001",
		"+0000000001",
		"0x000000001",
	};
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	unsigned char		 h[BLOCK];
	char			*cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		cause = NULL;
		hdr_init(h, "file", '0', 0);
		memcpy(h + 124, sizes[i], 11);
		hdr_checksum(h);	/* only the size is wrong */
		arch_append(&a, h, sizeof h);
		arch_zeros(&a, 4 * BLOCK);
		reader_open(&t, &a);
		if (tar_next(&t, &cause) != -1)
			fail_msg("size '%s' accepted as %lld", sizes[i],
			    (long long)t.size);
		expect_cause(cause, "size");
		reader_close(&t, &a);
	}
}

/*
 * Sizes past what octal digits hold: the GNU base-256 form (the high bit
 * of the first byte) is refused, and the largest octal size is taken as
 * declared but nothing behind it is allocated: copying it ends at the end
 * of the data actually there.
 */
static void
test_tar_size_max(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	unsigned char		 h[BLOCK];
	char			*cause = NULL;

	(void)state;
	hdr_init(h, "base256", '0', 0);
	memset(h + 124, 0xff, 12);
	h[124] = 0x80;
	hdr_checksum(h);
	arch_append(&a, h, sizeof h);
	arch_end(&a);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "size");
	reader_close(&t, &a);

	cause = NULL;
	hdr_init(h, "largest", '0', 0);
	memcpy(h + 124, "777777777777", 12);	/* no terminator: 12 digits */
	hdr_checksum(h);
	arch_append(&a, h, sizeof h);
	arch_zeros(&a, 4 * BLOCK);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(t.size, 077777777777LL * 8 + 7);
	assert_int_equal(tar_skip(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);
}

/* Names are the caller's to judge: returned exactly as in the archive. */
static void
test_tar_names_verbatim(void **state)
{
	static const char	*names[] = {
		"../../etc/passwd",
		"a/../../b",
		"/etc/cron.d/evil",
		"./blobs/sha256/x",
		"blobs//x",
		"..",
	};
	struct arch		 a = { NULL, 0, 0 }, rec = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*cause = NULL;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		arch_file(&a, names[i], "e", 1);
	arch_longname(&a, "../gnu/escape");
	arch_file(&a, "innocent", "g", 1);
	pax_record(&rec, "path", "../../pax/escape");
	arch_pax(&a, &rec);
	arch_file(&a, "innocent", "p", 1);
	arch_header(&a, "../dir/", '5', 0);
	arch_end(&a);
	free(rec.p);
	reader_open(&t, &a);

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		assert_int_equal(tar_next(&t, &cause), 1);
		assert_string_equal(t.name, names[i]);
		expect_copy(&t, "e", 1);
	}
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "../gnu/escape");
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "../../pax/escape");
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "../dir/");
	assert_int_equal(t.type, '5');
	assert_int_equal(tar_next(&t, &cause), 0);
	assert_null(cause);
	reader_close(&t, &a);
}

static void
test_tar_no_end_marker(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*cause = NULL;

	(void)state;
	/* The last entry, then nothing. */
	arch_file(&a, "only", "data", 4);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	expect_copy(&t, "data", 4);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "no end marker");
	reader_close(&t, &a);

	/* A part of a zero block. */
	cause = NULL;
	arch_file(&a, "only", "data", 4);
	arch_zeros(&a, 100);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(tar_next(&t, &cause), -1);
	expect_cause(cause, "truncated");
	reader_close(&t, &a);

	/* One zero block is read as the end, as other readers do. */
	cause = NULL;
	arch_file(&a, "only", "data", 4);
	arch_zeros(&a, BLOCK);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(tar_next(&t, &cause), 0);
	assert_null(cause);
	reader_close(&t, &a);
}

static void
test_tar_zero_size(void **state)
{
	struct arch		 a = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*cause = NULL;

	(void)state;
	arch_file(&a, "empty", "", 0);
	arch_file(&a, "after", "ok", 2);
	arch_file(&a, "empty-skipped", "", 0);
	arch_file(&a, "last", "z", 1);
	arch_end(&a);
	assert_int_equal(a.len, 8 * BLOCK);	/* no data block for 0 bytes */
	reader_open(&t, &a);

	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "empty");
	assert_int_equal(t.size, 0);
	assert_int_equal(t.left, 0);
	expect_copy(&t, "", 0);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "after");
	expect_copy(&t, "ok", 2);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "empty-skipped");
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "last");
	expect_copy(&t, "z", 1);
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

static void
test_tar_unsupported_types(void **state)
{
	static const char	 types[] = { '1', '2', '3', '4', '6', '7', 'K' };
	struct tar_reader	 t;
	char			*cause;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof types; i++) {
		struct arch	a = { NULL, 0, 0 };

		cause = NULL;
		arch_header(&a, "link", types[i], 0);
		arch_end(&a);
		reader_open(&t, &a);
		assert_int_equal(tar_next(&t, &cause), -1);
		expect_cause(cause, "link: links and special files");
		reader_close(&t, &a);
	}
}

/* A pax global header ('g') applies to nothing here and is skipped. */
static void
test_tar_pax_global(void **state)
{
	struct arch		 a = { NULL, 0, 0 }, rec = { NULL, 0, 0 };
	struct tar_reader	 t;
	char			*cause = NULL;

	(void)state;
	pax_record(&rec, "path", "global/should/not/apply");
	pax_record(&rec, "comment", "x");
	arch_header(&a, "pax_global_header", 'g', rec.len);
	arch_data(&a, rec.p, rec.len);
	arch_file(&a, "real", "r", 1);
	arch_end(&a);
	free(rec.p);
	reader_open(&t, &a);
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_string_equal(t.name, "real");
	expect_copy(&t, "r", 1);
	assert_int_equal(tar_next(&t, &cause), 0);
	reader_close(&t, &a);
}

static int
data_fd(const char *data, size_t len)
{
	struct arch	a = { (unsigned char *)(uintptr_t)data, len, len };

	return arch_fd(&a);
}

static void
test_tar_round_trip(void **state)
{
	static const size_t	 sizes[] = { 0, 1, 511, 512, 513, 70000 };
	struct tar_reader	 t;
	char			 name[100], *data[6], *cause = NULL, *got;
	size_t			 i, len;
	int			 out, in;

	(void)state;
	out = tmp_fd();
	for (i = 0; i < 6; i++) {
		data[i] = malloc(sizes[i] + 1);
		assert_non_null(data[i]);
		fill_pattern(data[i], sizes[i], (unsigned)i);
		snprintf(name, sizeof name, "blobs/sha256/file-%zu", sizes[i]);
		in = data_fd(data[i], sizes[i]);
		assert_int_equal(tar_write_file(out, name, in,
		    (int64_t)sizes[i], &cause), 0);
		assert_null(cause);
		close(in);
	}
	/* The longest name the header holds with its NUL. */
	memset(name, 'm', 99);
	name[99] = '\0';
	in = data_fd("tail", 4);
	assert_int_equal(tar_write_file(out, name, in, 4, &cause), 0);
	close(in);
	assert_int_equal(tar_write_end(out, &cause), 0);
	assert_null(cause);

	/* Every entry whole blocks, then the two end blocks. */
	got = fd_contents(out, &len);
	free(got);
	assert_int_equal(len % BLOCK, 0);
	assert_int_equal(len, (7 + 0 + 1 + 1 + 1 + 2 + 137 + 1 + 2) * BLOCK);

	memset(&t, 0, sizeof t);
	t.fd = out;
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "blobs/sha256/file-%zu", sizes[i]);
		assert_int_equal(tar_next(&t, &cause), 1);
		assert_string_equal(t.name, name);
		assert_int_equal(t.type, '0');
		assert_int_equal(t.size, (int64_t)sizes[i]);
		expect_copy(&t, data[i], sizes[i]);
		free(data[i]);
	}
	assert_int_equal(tar_next(&t, &cause), 1);
	assert_int_equal(strlen(t.name), 99);
	expect_copy(&t, "tail", 4);
	assert_int_equal(tar_next(&t, &cause), 0);
	assert_null(cause);
	/* Both end blocks were written; nothing follows them. */
	assert_int_equal(lseek(out, 0, SEEK_CUR), (off_t)len - BLOCK);
	close(out);

	/* What the writer refuses. */
	out = tmp_fd();
	memset(name, 'm', 99);
	name[99] = '\0';
	got = malloc(101);
	assert_non_null(got);
	memset(got, 'n', 100);
	got[100] = '\0';
	in = data_fd("x", 1);
	assert_int_equal(tar_write_file(out, got, in, 1, &cause), -1);
	expect_cause(cause, "too long");
	free(got);
	/* A source shorter than the size it was said to have. */
	cause = NULL;
	assert_int_equal(tar_write_file(out, "short", in, 100, &cause), -1);
	expect_cause(cause, "read failed");
	close(in);
	close(out);
}

/*
 * Sizes of 8 GiB and more take all 12 bytes of the size field. The header
 * is written before the data, so a source that ends at once leaves the
 * header to look at without writing gigabytes.
 */
static void
test_tar_write_large_size(void **state)
{
	static const int64_t	 sizes[] = {
		077777777777LL,			/* 8 GiB - 1: 11 digits */
		077777777777LL + 1,		/* 8 GiB: 12 digits */
		5LL * 1024 * 1024 * 1024 * 3,	/* 15 GiB */
		0777777777777LL,		/* 64 GiB - 1, the largest */
	};
	struct tar_reader	 t;
	char			*cause;
	size_t			 i;
	int			 out, in;

	(void)state;
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		cause = NULL;
		out = tmp_fd();
		in = data_fd("", 0);
		assert_int_equal(tar_write_file(out, "big", in, sizes[i],
		    &cause), -1);
		expect_cause(cause, "read failed");
		close(in);
		assert_int_equal(lseek(out, 0, SEEK_CUR), BLOCK);

		cause = NULL;
		memset(&t, 0, sizeof t);
		t.fd = out;
		assert_int_equal(lseek(out, 0, SEEK_SET), 0);
		if (tar_next(&t, &cause) != 1)
			fail_msg("size %lld: %s", (long long)sizes[i], cause);
		assert_string_equal(t.name, "big");
		if (t.size != sizes[i])
			fail_msg("size %lld written as %lld", (long long)sizes[i],
			    (long long)t.size);
		close(out);
	}

	/* Past what the field holds: refused, not written wrong. */
	cause = NULL;
	out = tmp_fd();
	in = data_fd("", 0);
	assert_int_equal(tar_write_file(out, "big", in, 0777777777777LL + 1,
	    &cause), -1);
	assert_non_null(cause);
	free(cause);
	assert_int_equal(lseek(out, 0, SEEK_END), 0);
	close(in);
	close(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_normal),
		cmocka_unit_test(test_tar_skip),
		cmocka_unit_test(test_tar_old_type_and_prefix),
		cmocka_unit_test(test_tar_pax_path),
		cmocka_unit_test(test_tar_pax_malformed),
		cmocka_unit_test(test_tar_gnu_longname),
		cmocka_unit_test(test_tar_gnu_longname_bounded),
		cmocka_unit_test(test_tar_record_limit),
		cmocka_unit_test(test_tar_record_huge),
		cmocka_unit_test(test_tar_bad_checksum),
		cmocka_unit_test(test_tar_truncated_header),
		cmocka_unit_test(test_tar_truncated_data),
		cmocka_unit_test(test_tar_size_invalid),
		cmocka_unit_test(test_tar_size_max),
		cmocka_unit_test(test_tar_names_verbatim),
		cmocka_unit_test(test_tar_no_end_marker),
		cmocka_unit_test(test_tar_zero_size),
		cmocka_unit_test(test_tar_unsupported_types),
		cmocka_unit_test(test_tar_pax_global),
		cmocka_unit_test(test_tar_round_trip),
		cmocka_unit_test(test_tar_write_large_size),
	};

	return cmocka_run_group_tests_name("tar", tests, NULL, NULL);
}
