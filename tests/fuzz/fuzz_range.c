/*
 * Fuzz target: the Range header against a file size (range.c). The first
 * 8 bytes are the size, the rest the header.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	 u = 0;
	off_t		 fsize, first = -1, last = -1;
	char		*h;

	if (size < 8)
		return 0;
	memcpy(&u, data, 8);
	fsize = (off_t)(u & (((uint64_t)1 << 62) - 1)) % 100000000000LL;
	h = fuzz_cstr(data + 8, size - 8);
	if (range_parse(h, fsize, &first, &last) == RANGE_OK)
		FUZZ_CHECK(first >= 0 && first <= last && last < fsize);
	free(h);
	return 0;
}
