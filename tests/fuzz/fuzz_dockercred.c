/*
 * Fuzz target: Docker's credential formats (dockercred.c). The first byte
 * chooses a config.json (for an entry on a port, or Docker Hub) or a
 * credential helper's answer; a pair accepted is a non-empty user that
 * fits with no control character and a non-empty secret with no NUL.
 */
#include "fuzz.h"
#include "config.h"

static struct registry_table	table;
static int			table_ready;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry	*r;
	char		 user[128], *secret = NULL, *cause = NULL;
	size_t		 i;
	int		 rc;

	if (!table_ready) {
		if (registry_table_init(&table, "https://index.docker.io",
		    &cause) != 0 || registry_table_add(&table, 3, "acme",
		    "https://registry.acme.example:5000", &cause) == NULL)
			abort();
		table_ready = 1;
	}
	if (size < 1)
		return 0;
	memset(user, 0x55, sizeof user);
	if (data[0] % 3 == 2)
		rc = dockercred_parse_answer((const char *)data + 1, size - 1,
		    user, sizeof user, &secret, &cause);
	else {
		r = registry_find_id(&table, data[0] % 3 == 0 ?
		    REGISTRY_ID_REMOTE : 3);
		rc = dockercred_parse_config((const char *)data + 1, size - 1, r,
		    user, sizeof user, &secret, &cause);
	}
	if (rc == 0) {
		FUZZ_CHECK(secret != NULL && secret[0] != '\0');
		FUZZ_CHECK(memchr(user, '\0', sizeof user) != NULL);
		FUZZ_CHECK(user[0] != '\0');
		for (i = 0; user[i] != '\0'; i++)
			FUZZ_CHECK((unsigned char)user[i] >= 0x20 && user[i] != 0x7f);
		secret_free(secret);
	} else {
		FUZZ_CHECK(secret == NULL && cause != NULL);
		free(cause);
	}
	return 0;
}
