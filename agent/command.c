/*
 * The prologue every command shares: its options next to the common ones
 * (-c/--config FILE, -h/--help, and --cache DIR and --listen HOST:PORT
 * where they apply), the count of its operands, and the configuration
 * read the one way the commands read it, with those flags over it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define COMMAND_OPT_CACHE	0x100	/* beyond any short option */
#define COMMAND_OPT_LISTEN	0x101
#define COMMAND_OPTIONS_MAX	32

/* The command's long options and the common ones its flags ask for. */
static void
command_options(const struct command *cmd, struct option *o, char *shortopts,
    size_t len)
{
	size_t	n = 0, i;

	for (i = 0; cmd->options != NULL && cmd->options[i].name != NULL; i++) {
		if (n == COMMAND_OPTIONS_MAX - 5)
			fatal("%s: %s has too many options", __func__, cmd->name);
		o[n++] = cmd->options[i];
	}
	if (cmd->flags & COMMAND_CONFIG)
		o[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	if (cmd->flags & COMMAND_CACHE)
		o[n++] = (struct option){ "cache", required_argument, NULL,
		    COMMAND_OPT_CACHE };
	if (cmd->flags & COMMAND_LISTEN)
		o[n++] = (struct option){ "listen", required_argument, NULL,
		    COMMAND_OPT_LISTEN };
	o[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	o[n] = (struct option){ NULL, 0, NULL, 0 };
	if ((size_t)snprintf(shortopts, len, "%sh%s", (cmd->flags &
	    COMMAND_CONFIG) ? "c:" : "", cmd->shortopts != NULL ?
	    cmd->shortopts : "") >= len)
		fatal("%s: %s has too many short options", __func__, cmd->name);
}

/*
 * Parses argv (argv[0] the command's own name) and reads the
 * configuration into c when cmd->flags has COMMAND_CONFIG: the defaults,
 * then -c FILE or the default file if it exists, then the registries
 * file, then --cache and --listen; secrets are not read. Returns the
 * index of the first operand, or -1 with *status the exit status and
 * nothing to free: 0 after --help, 2 for a usage error, 1 when the
 * configuration cannot be read (each reported on stdout or stderr).
 */
int
command_begin(const struct command *cmd, int argc, char **argv,
    struct config *c, int *status)
{
	struct option	 longopts[COMMAND_OPTIONS_MAX];
	char		 shortopts[64], *cause = NULL;
	const char	*file = NULL, *cache = NULL, *listen = NULL;
	int		 ch, nargs;

	command_options(cmd, longopts, shortopts, sizeof shortopts);
	*status = 2;
	optind = 1;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == 'h') {
			cmd->usage(stdout);
			*status = 0;
			return -1;
		} else if (ch == 'c' && (cmd->flags & COMMAND_CONFIG))
			file = optarg;
		else if (ch == COMMAND_OPT_CACHE)
			cache = optarg;
		else if (ch == COMMAND_OPT_LISTEN)
			listen = optarg;
		else if (ch == '?' || ch == ':' || cmd->option == NULL) {
			cmd->usage(stderr);
			return -1;
		} else if (cmd->option(ch, optarg, cmd->arg, &cause) != 0) {
			if (cause != NULL)
				fprintf(stderr, "%s: %s\n", cmd->name, cause);
			else
				cmd->usage(stderr);
			free(cause);
			return -1;
		}
	}
	nargs = argc - optind;
	if (nargs < cmd->min_args) {
		cmd->usage(stderr);
		return -1;
	}
	if (cmd->max_args >= 0 && nargs > cmd->max_args) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", cmd->name,
		    argv[optind + cmd->max_args]);
		return -1;
	}
	if (!(cmd->flags & COMMAND_CONFIG))
		return optind;

	if (config_read_all(c, file, NULL, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", cmd->name, cause);
		free(cause);
		config_free(c);
		*status = 1;
		return -1;
	}
	if (cache != NULL && (cache[0] == '\0' ||
	    util_strlcpy(c->cache_dir, cache, sizeof c->cache_dir) != 0))
		cause = util_printf("--cache: not a usable directory name");
	else if (listen != NULL && config_parse_listen(listen, c->listen_host,
	    sizeof c->listen_host, &c->listen_port) != 0)
		cause = util_printf("--listen must be HOST:PORT, not '%s'", listen);
	if (cause != NULL) {
		fprintf(stderr, "%s: %s\n", cmd->name, cause);
		free(cause);
		config_free(c);
		return -1;
	}
	c->flags_set = (cache != NULL ? CONFIG_FLAG_CACHE : 0) |
	    (listen != NULL ? CONFIG_FLAG_LISTEN : 0);
	return optind;
}
