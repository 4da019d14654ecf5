/*
 * Fuzz target: `pullgate import` of an archive — an OCI image layout tar
 * or a `docker save` tar (agent/cmd_import.c over tar.c): entry names,
 * index.json, manifest.json, configs and their diff_ids. The command runs
 * as a user would run it, on a cache in the private directory; whatever
 * it refuses must leave that cache unchanged.
 */
#include <dirent.h>

#include "fuzz.h"
#include "agent.h"

static char	conf[512], cache[512], archive[512];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	text[1024];
	int	n;

	snprintf(conf, sizeof conf, "%s/pullgate.conf", fuzz_dir());
	snprintf(cache, sizeof cache, "%s/cache", fuzz_dir());
	snprintf(archive, sizeof archive, "%s/in.tar", fuzz_dir());
	n = snprintf(text, sizeof text, "cache_dir = \"%s\";\n"
	    "registries_file = \"%s/none.conf\";\n", cache, fuzz_dir());
	fuzz_write_file(conf, text, (size_t)n);
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

/* Files under dir, not counting tmp/ (import stages there). */
static int
fuzz_count(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		 sub[1024];
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "tmp") == 0)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
		n += de->d_type == DT_DIR ? fuzz_count(sub) : 1;
	}
	closedir(d);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*argv[] = { "import", "-c", conf, archive, NULL };
	int	 before, rc;

	fuzz_write_file(archive, data, size);
	before = fuzz_count(cache);
	rc = cmd_import_main(4, argv);
	if (rc != 0)
		FUZZ_CHECK(fuzz_count(cache) == before);
	else
		util_rmtree(cache);	/* every input starts from an empty cache */
	return 0;
}
