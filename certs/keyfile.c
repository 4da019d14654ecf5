/*
 * Helpers shared by the crypto backends: private key files are created
 * with mode 0600 and never replaced; certificate files are read whole.
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
