/* Fuzz target: digests, "sha256:<64 lowercase hex>" (digest.c). */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest	 d, again;
	char		*s = fuzz_cstr(data, size), text[DIGEST_STRING_LEN + 1];

	if (digest_parse(s, &d) == 0) {
		/* What was accepted prints back as itself. */
		digest_format(&d, text, sizeof text);
		FUZZ_CHECK(strcmp(text, s) == 0);
		FUZZ_CHECK(digest_parse(text, &again) == 0 && digest_equal(&d, &again));
	}
	if (size >= 32) {
		digest_from_raw(data, &d);
		digest_format(&d, text, sizeof text);
		FUZZ_CHECK(digest_parse(text, &again) == 0 && digest_equal(&d, &again));
	}
	free(s);
	return 0;
}
