/*
 * Fuzz target: tar archives as import reads them (tar.c): headers,
 * checksums, sizes, GNU long names and pax paths. The regular files read
 * are written into a new archive (as export does) and read back: names
 * and contents come out as they went in.
 */
#include "fuzz.h"
#include "store.h"

#define FUZZ_FILES	4

struct entry {
	char	name[TAR_NAME_MAX];
	int	fd;
	int64_t	size;
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tar_reader	 t;
	struct entry		 e[FUZZ_FILES];
	char			*cause = NULL;
	size_t			 n = 0, i, entries = 0;
	int			 rc, out, ok = 1;

	memset(&t, 0, sizeof t);
	t.fd = fuzz_memfd(data, size);
	while ((rc = tar_next(&t, &cause)) == 1 && entries++ < 1000) {
		FUZZ_CHECK(strnlen(t.name, sizeof t.name) < sizeof t.name);
		FUZZ_CHECK(t.size >= 0 && (t.type == '0' || t.type == '5'));
		if (t.type == '5' || n == FUZZ_FILES || strlen(t.name) >= 100 ||
		    (entries % 3) == 0)
			continue;	/* tar_next skips the data */
		util_strlcpy(e[n].name, t.name, sizeof e[n].name);
		e[n].fd = fuzz_memfd(NULL, 0);
		e[n].size = t.size;
		if (tar_copy(&t, e[n].fd, &cause) != 0) {
			close(e[n].fd);
			rc = -1;
			break;
		}
		FUZZ_CHECK(lseek(e[n].fd, 0, SEEK_CUR) == t.size);
		n++;
	}
	FUZZ_CHECK(rc != -1 || cause != NULL);
	free(cause);
	cause = NULL;
	close(t.fd);

	/* Export's writer, then the reader again. */
	out = fuzz_memfd(NULL, 0);
	for (i = 0; i < n && ok; i++) {
		if (lseek(e[i].fd, 0, SEEK_SET) != 0)
			abort();
		ok = tar_write_file(out, e[i].name, e[i].fd, e[i].size, &cause) == 0;
	}
	FUZZ_CHECK(ok && tar_write_end(out, &cause) == 0);
	memset(&t, 0, sizeof t);
	t.fd = out;
	if (lseek(out, 0, SEEK_SET) != 0)
		abort();
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(tar_next(&t, &cause) == 1);
		FUZZ_CHECK(strcmp(t.name, e[i].name) == 0 && t.type == '0' &&
		    t.size == e[i].size);
		FUZZ_CHECK(tar_skip(&t, &cause) == 0);
	}
	FUZZ_CHECK(tar_next(&t, &cause) == 0);
	close(out);
	for (i = 0; i < n; i++)
		close(e[i].fd);
	return 0;
}
