/*
 * What the libFuzzer targets share: the input as a C string or as a
 * descriptor, and one private temporary directory per process (removed at
 * exit) for the parsers that read files. Static: each target is one file.
 */
#ifndef PULLGATE_FUZZ_H
#define PULLGATE_FUZZ_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib.h"

/* Breaks a property the parser promises: libFuzzer keeps the input. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: broken: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* The input with a NUL after it, to free. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A descriptor reading the bytes from offset 0, to close. */
static inline int
fuzz_memfd(const void *data, size_t size)
{
	int	fd;

	if ((fd = memfd_create("fuzz", MFD_CLOEXEC)) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

static inline void
fuzz_write_file(const char *path, const void *data, size_t size)
{
	int	fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

static char	fuzz_tmp[64];

static void
fuzz_tmp_remove(void)
{
	if (fuzz_tmp[0] != '\0')
		util_rmtree(fuzz_tmp);
}

/* The process's private directory, made on first use. */
static inline const char *
fuzz_dir(void)
{
	if (fuzz_tmp[0] == '\0') {
		snprintf(fuzz_tmp, sizeof fuzz_tmp, "/tmp/pullgate-fuzz.XXXXXX");
		if (mkdtemp(fuzz_tmp) == NULL)
			abort();
		atexit(fuzz_tmp_remove);
	}
	return fuzz_tmp;
}

#endif
