/*
 * Secrets (passwords, access keys) are read from files that only their
 * owner may read: a file readable by group or others is refused, so a
 * leaked key is never the daemon's doing. The value is the file's content
 * without its trailing newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define SECRET_MAX	8192

/*
 * Opens a secret file: a regular file (no symlink) only its owner can
 * read. The descriptor, or -1 with *cause.
 */
static int
secret_open(const char *path, struct stat *st, char **cause)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		*cause = util_printf("secret file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		*cause = util_printf("secret file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		*cause = util_printf("secret file %s: readable by group or others "
		    "(mode %04o); chmod 600 it", path, (unsigned)(st->st_mode & 07777));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Checks that a secret someone else reads (a private key libcurl loads)
 * is kept as secret files are: 0 or -1 with *cause.
 */
int
secret_check(const char *path, char **cause)
{
	struct stat	st;
	int		fd;

	if ((fd = secret_open(path, &st, cause)) == -1)
		return -1;
	close(fd);
	return 0;
}

/*
 * Reads a whole secret file of at most max bytes (lines and all) into
 * *out, NUL-terminated; its length in *len. Free it with secret_free.
 */
int
secret_read_text(const char *path, size_t max, char **out, size_t *len,
    char **cause)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	int		 fd;

	*out = NULL;
	if ((fd = secret_open(path, &st, cause)) == -1)
		return -1;
	if ((uintmax_t)st.st_size > max) {
		*cause = util_printf("secret file %s: larger than %zu bytes", path,
		    max);
		close(fd);
		return -1;
	}
	if ((buf = calloc(1, (size_t)st.st_size + 1)) == NULL) {
		close(fd);
		*cause = util_printf("out of memory");
		return -1;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		*cause = util_printf("secret file %s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/*
 * A secret of several lines, such as a JSON key file (GCR's "_json_key"
 * password): the whole file, trailing newlines taken off; not empty, no
 * NUL.
 */
int
secret_read_lines(const char *path, char **out, char **cause)
{
	char	*buf;
	size_t	 n;

	*out = NULL;
	if (secret_read_text(path, SECRET_MAX, &buf, &n, cause) != 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		*cause = util_printf("secret file %s: empty, or not text", path);
		secret_free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

/* A secret of one line (a password, an access key). */
int
secret_read(const char *path, char **out, char **cause)
{
	if (secret_read_lines(path, out, cause) != 0)
		return -1;
	if (strpbrk(*out, "\r\n") != NULL) {
		*cause = util_printf("secret file %s: more than one line", path);
		secret_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Wipes and frees a secret. */
void
secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
