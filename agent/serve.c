/*
 * pullgate serve: read the configuration (built-in defaults, the file and
 * the registries file, then the flags), the secrets, and run the daemon in
 * the foreground.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "proxy.h"

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
"  -c, --config FILE     configuration file (default " CONFIG_DEFAULT_FILE
" if it\n"
"                        exists, else the built-in defaults)\n"
"      --listen HOST:PORT  address to listen on (default 127.0.0.1:8080)\n"
"      --upstream URL    URL of the default registry entry\n"
"                        (default https://registry-1.docker.io)\n"
"      --cache DIR       cache directory (default /var/lib/pullgate)\n"
"      --log-level LEVEL error, warn, info (default) or debug\n"
"  -h, --help            show this help\n"
"\n"
"Flags override the file, also at a reload. SIGINT or SIGTERM stop the\n"
"daemon; SIGHUP reads the configuration again (see 'pullgate reload').\n");
}

struct serve_flags {
	const char	*upstream, *level;
};

static int
serve_option(int ch, const char *arg, void *p, char **cause)
{
	struct serve_flags	*f = p;

	if (ch == 'u')
		f->upstream = arg;
	else if (ch == 'v')
		f->level = arg;
	else
		return -1;
	return 0;
}

int
serve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "upstream", required_argument, NULL, 'u' },
		{ "log-level", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct serve_flags	 f = { NULL, NULL };
	const struct command	 cmd = { "pullgate serve", serve_usage,
	    COMMAND_CONFIG | COMMAND_CACHE | COMMAND_LISTEN, longopts, NULL,
	    serve_option, &f, 0, 0 };
	struct config		 c, *owned;
	char			*cause = NULL;
	int			 rc;

	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	if (f.upstream != NULL && config_set_upstream(&c, f.upstream,
	    &cause) != 0)
		goto fail;
	if (f.level != NULL && log_parse_level(f.level, &c.log_level) != 0) {
		cause = util_printf("--log-level must be error, warn, info or debug");
		goto fail;
	}
	if (config_load_secrets(&c, &cause) != 0)
		goto fail;
	log_set_level(c.log_level);
	if (c.file[0] != '\0')
		log_info("configuration from %s", c.file);
	if ((owned = malloc(sizeof *owned)) == NULL) {
		cause = util_printf("out of memory");
		goto fail;
	}
	*owned = c;		/* the daemon's now: a reload replaces it */
	return proxy_run(owned, f.upstream, f.level);
fail:
	fprintf(stderr, "pullgate serve: %s\n", cause);
	free(cause);
	config_free(&c);
	return 1;
}
