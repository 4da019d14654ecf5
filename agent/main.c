/*
 * pullgate: one binary, subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static void
main_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate [--version] [--help] COMMAND [ARGS]\n"
"\n"
"An edge-gateway pull-through proxy: answers container image pulls on\n"
"containers.local:8080, fetches from the configured registries with the\n"
"device's credentials, and keeps everything in a verified local cache.\n"
"\n"
"Commands:\n"
"  serve     run the proxy daemon in the foreground\n"
"  registry  list, add or remove entries of the registry table\n"
"  cert      show the device certificate, or make a key and CSR\n"
"  status    the running daemon's state, over its control socket\n"
"  reload    make the running daemon read its configuration again\n"
"  resolve   print the digest an image resolves to, and from where\n"
"  cache     list, pin, remove, collect and verify the cached images\n"
"  prefill   fetch images into the cache and pin them\n"
"  import    load an OCI layout or docker save archive into the cache\n"
"  export    write cached images as an OCI layout tar\n"
"\n"
"Run 'pullgate COMMAND --help' for a command's options.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pullgate %s (crypto: %s)\n", PULLGATE_VERSION,
		    crypto_backend->name);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "registry") == 0)
		return cmd_registry_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_export_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "prefill") == 0)
		return cmd_prefill_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "cache") == 0)
		return cmd_cache_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "reload") == 0)
		return cmd_reload_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return cmd_status_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "resolve") == 0)
		return cmd_resolve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "cert") == 0)
		return cmd_cert_main(argc - 1, argv + 1);
	fprintf(stderr, "pullgate: unknown command '%s'; see 'pullgate --help'\n",
	    argv[1]);
	return 2;
}
