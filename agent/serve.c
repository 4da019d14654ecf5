/*
 * pullgate serve: read the configuration (built-in defaults, then the
 * file, then the flags) and run the daemon in the foreground.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "proxy.h"

#define SERVE_DEFAULT_CONFIG	CONFIG_DEFAULT_FILE

static void
serve_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate serve [-c FILE] [--listen HOST:PORT] [--upstream URL]\n"
"                      [--cache DIR] [--log-level LEVEL]\n"
"\n"
"Run the pull-through proxy in the foreground: answer image pulls on the\n"
"listen address, fetch what the cache lacks from the upstream registry,\n"
"and keep every blob and manifest in the verified cache.\n"
"\n"
"  -c, --config FILE     configuration file (default " SERVE_DEFAULT_CONFIG
" if it\n"
"                        exists, else the built-in defaults)\n"
"      --listen HOST:PORT  address to listen on (default 127.0.0.1:8080)\n"
"      --upstream URL    URL of the default registry entry\n"
"                        (default https://registry-1.docker.io)\n"
"      --cache DIR       cache directory (default /var/lib/pullgate)\n"
"      --log-level LEVEL error, warn, info (default) or debug\n"
"  -h, --help            show this help\n"
"\n"
"Flags override the file. SIGINT or SIGTERM stop the daemon.\n");
}

int
serve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "cache", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config	 c;
	const char	*file = NULL, *listen = NULL, *upstream = NULL;
	const char	*cache = NULL, *level = NULL;
	char		*cause = NULL;
	int		 ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'l': listen = optarg; break;
		case 'u': upstream = optarg; break;
		case 'd': cache = optarg; break;
		case 'v': level = optarg; break;
		case 'h': serve_usage(stdout); return 0;
		default: serve_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pullgate serve: unexpected argument '%s'\n",
		    argv[optind]);
		return 2;
	}
	config_defaults(&c);
	if (file == NULL && access(SERVE_DEFAULT_CONFIG, F_OK) == 0)
		file = SERVE_DEFAULT_CONFIG;
	if (file != NULL && config_load(&c, file, &cause) != 0)
		goto fail;
	if (listen != NULL && config_parse_listen(listen, c.listen_host,
	    sizeof c.listen_host, &c.listen_port) != 0) {
		cause = util_printf("--listen must be HOST:PORT, not '%s'", listen);
		goto fail;
	}
	if (upstream != NULL && config_set_upstream(&c, upstream, &cause) != 0)
		goto fail;
	if (cache != NULL && util_strlcpy(c.cache_dir, cache, sizeof c.cache_dir) != 0) {
		cause = util_printf("--cache: path too long");
		goto fail;
	}
	if (level != NULL && log_parse_level(level, &c.log_level) != 0) {
		cause = util_printf("--log-level must be error, warn, info or debug");
		goto fail;
	}
	if (config_load_registries_file(&c, c.registries_file, &cause) != 0 ||
	    config_load_secrets(&c, &cause) != 0)
		goto fail;
	log_set_level(c.log_level);
	if (file != NULL)
		log_info("configuration from %s", file);
	rc = proxy_run(&c);
	config_free(&c);
	return rc;
fail:
	fprintf(stderr, "pullgate serve: %s\n", cause);
	free(cause);
	config_free(&c);
	return 1;
}
