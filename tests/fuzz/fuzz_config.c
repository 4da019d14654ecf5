/*
 * Fuzz target: the configuration file and the registries file that
 * 'pullgate registry add' keeps (config.c, registry.c): every key's
 * value, entries, feeds, URLs, auth lists, immutable_tags patterns. The
 * input is the main file, then after a NUL byte the registries file.
 * Inputs with @include are passed over: an operator's include of a
 * device file is not the parser's to refuse.
 */
#include "fuzz.h"
#include "config.h"

static char	file[512], registries[512];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof file, "%s/pullgate.conf", fuzz_dir());
	snprintf(registries, sizeof registries, "%s/registries.conf", fuzz_dir());
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	const uint8_t	*nul = memchr(data, '\0', size);
	size_t		 main_len = nul != NULL ? (size_t)(nul - data) : size;
	char		*cause = NULL, host[256];
	int		 port;

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	fuzz_write_file(file, data, main_len);
	if (nul != NULL)
		fuzz_write_file(registries, nul + 1, size - main_len - 1);
	else
		unlink(registries);
	memset(&c, 0, sizeof c);
	if (config_read_all(&c, file, registries, &cause) == 0) {
		FUZZ_CHECK(cause == NULL);
		FUZZ_CHECK(c.registries.count >= 2 && registry_default(&c.registries) != NULL);
		FUZZ_CHECK(c.listen_port > 0 && c.listen_port < 65536);
		(void)config_parse_listen(c.listen_host, host, sizeof host, &port);
	} else
		FUZZ_CHECK(cause != NULL);
	config_free(&c);
	free(cause);
	return 0;
}
