/*
 * Fuzz target: image references "name[:tag][@digest]", names and tags
 * (reference.c). A name accepted is safe as a relative path.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reference	 r;
	char			*s = fuzz_cstr(data, size), *cause = NULL;

	if (reference_parse(s, &r, &cause) == 0) {
		FUZZ_CHECK(cause == NULL);
		FUZZ_CHECK(reference_valid_name(r.name));
		FUZZ_CHECK(r.name[0] != '/' && strstr(r.name, "..") == NULL);
		FUZZ_CHECK(r.tag[0] == '\0' ? r.has_digest : reference_valid_tag(r.tag));
	} else
		FUZZ_CHECK(cause != NULL);
	free(cause);
	if (reference_valid_name(s))
		FUZZ_CHECK(strlen(s) <= REFERENCE_NAME_MAX && s[0] != '/' &&
		    strstr(s, "..") == NULL && strstr(s, "//") == NULL);
	if (reference_valid_tag(s))
		FUZZ_CHECK(strlen(s) <= REFERENCE_TAG_MAX && strchr(s, '/') == NULL);
	free(s);
	return 0;
}
