/*
 * Fuzz target: the token service's answer (tokenreply.c). A token
 * accepted fits in a header line.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*token = NULL;
	long	 ttl = 0;
	size_t	 i;

	if (tokenreply_parse((const char *)data, size, &token, &ttl) == 0) {
		FUZZ_CHECK(token != NULL && token[0] != '\0');
		FUZZ_CHECK(strlen(token) <= TOKENREPLY_MAX_LEN);
		for (i = 0; token[i] != '\0'; i++)
			FUZZ_CHECK(token[i] > 0x20 && token[i] < 0x7f);
		FUZZ_CHECK(ttl > 0 && ttl < 86400 * 30);
	} else
		FUZZ_CHECK(token == NULL);
	free(token);
	return 0;
}
