/*
 * Helpers shared by the crypto backends: private key files are created
 * with mode 0600 and never replaced; certificate files are read whole;
 * a subject's attributes get their names from one table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs.h"


/* Creates path (which must not exist) with mode 0600 and writes data. */
int
keyfile_create(const char *path, const void *data, size_t len, char **cause)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		*cause = util_printf("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*cause = util_printf("%s: cannot write: %s", path,
			    strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		*cause = util_printf("%s: cannot write: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Reads a whole (small) file, NUL-terminated; *len excludes the NUL. */
unsigned char *
keyfile_read(const char *path, size_t max, size_t *len, char **cause)
{
	unsigned char	*buf;
	struct stat	 st;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = util_printf("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (size_t)st.st_size > max) {
		*cause = util_printf("%s: not a regular file of at most %zu bytes",
		    path, max);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		*cause = util_printf("out of memory");
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/* Lowercase hex of bytes, leading zero bytes dropped (a serial number). */
void
keyfile_hex(const unsigned char *p, size_t len, int strip, char *out, size_t outlen)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i, o = 0;

	while (strip && len > 1 && *p == 0) {
		p++;
		len--;
	}
	for (i = 0; i < len && o + 2 < outlen; i++) {
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 0xf];
	}
	out[o] = '\0';
}

/*
 * Appends a subject attribute: its OID in dotted form and its value's
 * bytes. The short names come from this one table, not from a backend's,
 * so OpenSSL and mbedTLS builds print the same fields.
 */
void
keyfile_name_attr(struct crypto_cert_info *info, const char *oid,
    const unsigned char *val, size_t len)
{
	static const struct {
		const char	*oid, *name;
	} names[] = {
		{ "2.5.4.3", "CN" }, { "2.5.4.4", "SN" }, { "2.5.4.5", "serialNumber" },
		{ "2.5.4.6", "C" }, { "2.5.4.7", "L" }, { "2.5.4.8", "ST" },
		{ "2.5.4.9", "street" }, { "2.5.4.10", "O" }, { "2.5.4.11", "OU" },
		{ "2.5.4.12", "title" }, { "2.5.4.42", "GN" },
		{ "2.5.4.46", "dnQualifier" }, { "2.5.4.65", "pseudonym" },
		{ "1.2.840.113549.1.9.1", "emailAddress" },
		{ "0.9.2342.19200300.100.1.1", "UID" },
		{ "0.9.2342.19200300.100.1.25", "DC" },
	};
	struct crypto_name_attr	*a;
	size_t			 i;

	if (info->nsubject_attrs >= CRYPTO_NAME_ATTRS)
		return;
	a = &info->subject_attrs[info->nsubject_attrs++];
	util_strlcpy(a->type, oid, sizeof a->type);
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(oid, names[i].oid) == 0)
			util_strlcpy(a->type, names[i].name, sizeof a->type);
	for (i = 0; i < len && i + 1 < sizeof a->value; i++)
		a->value[i] = (val[i] < 0x20 || val[i] == 0x7f) ? '?' : (char)val[i];
	a->value[i] = '\0';
}
