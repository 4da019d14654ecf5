/*
 * Tar archives (ustar, with pax and GNU long names) for import and export.
 * The reader trusts nothing: headers are checksummed, sizes bounded, a
 * short read is a truncated archive, and names are returned for the
 * caller to validate, never used as paths here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define TAR_BLOCK	512
#define TAR_MAX_SIZE	(64LL * 1024 * 1024 * 1024)


static int
tar_read_full(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
tar_octal(const char *p, size_t len, int64_t *out)
{
	int64_t	v = 0;
	size_t	i = 0;

	while (i < len && p[i] == ' ')
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v > TAR_MAX_SIZE)
			return -1;
		v = v * 8 + (p[i] - '0');
	}
	if (i < len && p[i] != '\0' && p[i] != ' ')
		return -1;
	*out = v;
	return 0;
}

/* Reads an entry's data into a bounded, NUL-terminated buffer. */
static char *
tar_read_small(struct tar_reader *t, size_t max, char **cause)
{
	char	*buf;
	size_t	 padded;

	if (t->size < 0 || (uint64_t)t->size > max) {
		*cause = util_printf("archive: a header record is too large");
		return NULL;
	}
	padded = ((size_t)t->size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	if ((buf = calloc(1, padded + 1)) == NULL ||
	    tar_read_full(t->fd, buf, padded) != 0) {
		free(buf);
		*cause = util_printf("archive: truncated");
		return NULL;
	}
	buf[t->size] = '\0';
	t->left = 0;
	return buf;
}

/* Takes "path=" out of a pax extended header. */
static void
tar_pax_path(const char *rec, size_t len, char *out, size_t outlen)
{
	const char	*p = rec, *end = rec + len;
	char		*next;
	long		 n;

	while (p < end) {
		n = strtol(p, &next, 10);
		if (n <= 0 || next == p || *next != ' ' || n > end - p)
			return;
		if (strncmp(next + 1, "path=", 5) == 0) {
			size_t vlen = (size_t)(p + n - (next + 6) - 1);

			if (vlen < outlen) {
				memcpy(out, next + 6, vlen);
				out[vlen] = '\0';
			}
		}
		p += n;
	}
}

/*
 * The next regular file or directory: 1, with t->name, t->type ('0' or
 * '5') and t->size; 0 at the end; -1 with *cause.
 */
int
tar_next(struct tar_reader *t, char **cause)
{
	unsigned char	 h[TAR_BLOCK];
	char		 longname[TAR_NAME_MAX], *data;
	int64_t		 sum, chk;
	size_t		 i;

	longname[0] = '\0';
	if (t->left > 0 && tar_skip(t, cause) != 0)
		return -1;
	for (;;) {
		if (tar_read_full(t->fd, h, sizeof h) != 0) {
			*cause = util_printf("archive: truncated (no end marker)");
			return -1;
		}
		for (i = 0; i < sizeof h && h[i] == 0; i++)
			;
		if (i == sizeof h)
			return 0;	/* the end */
		for (sum = 0, i = 0; i < sizeof h; i++)
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		if (tar_octal((char *)h + 148, 8, &chk) != 0 || chk != sum) {
			*cause = util_printf("archive: a header's checksum is wrong "
			    "(corrupt archive)");
			return -1;
		}
		if (tar_octal((char *)h + 124, 12, &t->size) != 0) {
			*cause = util_printf("archive: a header's size is invalid");
			return -1;
		}
		t->left = t->size;
		t->type = h[156] == '\0' ? '0' : (char)h[156];
		if (t->type == 'x' || t->type == 'L') {
			if ((data = tar_read_small(t, 65536, cause)) == NULL)
				return -1;
			if (t->type == 'L')
				util_strlcpy(longname, data, sizeof longname);
			else
				tar_pax_path(data, (size_t)t->size, longname,
				    sizeof longname);
			free(data);
			continue;
		}
		if (t->type == 'g') {
			if (tar_skip(t, cause) != 0)
				return -1;
			continue;
		}
		if (longname[0] != '\0')
			util_strlcpy(t->name, longname, sizeof t->name);
		else if (memcmp(h + 257, "ustar", 5) == 0 && h[345] != '\0')
			snprintf(t->name, sizeof t->name, "%.155s/%.100s",
			    (char *)h + 345, (char *)h);
		else
			snprintf(t->name, sizeof t->name, "%.100s", (char *)h);
		if (t->type != '0' && t->type != '5') {
			*cause = util_printf("archive: %s: links and special files "
			    "are not supported", t->name);
			return -1;
		}
		return 1;
	}
}

/* Copies the current entry's data to fd; the padding is consumed. */
int
tar_copy(struct tar_reader *t, int fd, char **cause)
{
	char	buf[65536];
	size_t	n, pad;

	while (t->left > 0) {
		n = t->left > (int64_t)sizeof buf ? sizeof buf : (size_t)t->left;
		if (tar_read_full(t->fd, buf, n) != 0) {
			*cause = util_printf("archive: %s: truncated", t->name);
			return -1;
		}
		if (fd != -1 && write(fd, buf, n) != (ssize_t)n) {
			*cause = util_printf("cannot write: %s", strerror(errno));
			return -1;
		}
		t->left -= (int64_t)n;
		if (t->progress != NULL)
			t->progress((int64_t)n, t->progress_arg);
	}
	pad = (size_t)((TAR_BLOCK - t->size % TAR_BLOCK) % TAR_BLOCK);
	if (pad > 0 && tar_read_full(t->fd, buf, pad) != 0) {
		*cause = util_printf("archive: %s: truncated", t->name);
		return -1;
	}
	return 0;
}

/* Passes over the rest of the current entry's data. */
int
tar_skip(struct tar_reader *t, char **cause)
{
	return tar_copy(t, -1, cause);
}

/* Writes one regular file entry: header, data from fd (size bytes), padding. */
int
tar_write_file(int out, const char *name, int fd, int64_t size, char **cause)
{
	unsigned char	h[TAR_BLOCK];
	char		buf[65536], num[13];
	int64_t		left = size, sum = 0;
	size_t		i, n, pad;
	ssize_t		r;

	if (strlen(name) >= 100) {
		*cause = util_printf("%s: name too long for the archive", name);
		return -1;
	}
	if (size < 0 || size > 0777777777777LL) {
		*cause = util_printf("%s: too large for the archive", name);
		return -1;
	}
	memset(h, 0, sizeof h);
	memcpy(h, name, strlen(name));
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	/* From 8 GiB on, all 12 bytes are digits (GNU tar and bsdtar read it). */
	snprintf(num, sizeof num, "%012llo", (unsigned long long)size);
	memcpy(h + 124, size > 077777777777LL ? num : num + 1, 12);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", (unsigned)(sum & 0777777));
	h[155] = ' ';
	if (write(out, h, sizeof h) != (ssize_t)sizeof h)
		goto fail;
	while (left > 0) {
		n = left > (int64_t)sizeof buf ? sizeof buf : (size_t)left;
		if ((r = read(fd, buf, n)) <= 0) {
			*cause = util_printf("%s: read failed", name);
			return -1;
		}
		if (write(out, buf, (size_t)r) != r)
			goto fail;
		left -= r;
	}
	pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
	memset(buf, 0, TAR_BLOCK);
	if (pad > 0 && write(out, buf, pad) != (ssize_t)pad)
		goto fail;
	return 0;
fail:
	*cause = util_printf("cannot write the archive: %s", strerror(errno));
	return -1;
}

int
tar_write_end(int out, char **cause)
{
	char	z[2 * TAR_BLOCK];

	memset(z, 0, sizeof z);
	if (write(out, z, sizeof z) != (ssize_t)sizeof z) {
		*cause = util_printf("cannot write the archive: %s", strerror(errno));
		return -1;
	}
	return 0;
}
