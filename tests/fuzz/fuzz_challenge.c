/* Fuzz target: WWW-Authenticate Bearer challenges (challenge.c). */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct challenge	 c;
	char			*s = fuzz_cstr(data, size);

	if (challenge_parse(s, &c) == 0) {
		FUZZ_CHECK(strnlen(c.realm, sizeof c.realm) < sizeof c.realm);
		FUZZ_CHECK(strnlen(c.service, sizeof c.service) < sizeof c.service);
		FUZZ_CHECK(strnlen(c.scope, sizeof c.scope) < sizeof c.scope);
		FUZZ_CHECK(strncmp(c.realm, "http://", 7) == 0 ||
		    strncmp(c.realm, "https://", 8) == 0);
	}
	free(s);
	return 0;
}
