/*
 * pullgate reload: asks the running daemon, over its control socket, to
 * read its configuration, registries file, secret files and feeds again,
 * and reports the outcome: in force, or refused with the reason (the
 * configuration in force then stays).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"

static void
cmd_reload_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate reload [-c FILE] [--cache DIR]\n"
"\n"
"Asks the running daemon to read its configuration again (the file, the\n"
"registries file, secret files, feeds) and says whether it is in force.\n"
"A configuration that does not load is refused whole and the one in\n"
"force stays; listen, cache_dir, control_socket and the client.* and\n"
"upstream slot limits wait for a restart. Requests and downloads in\n"
"flight finish with what they started with. Same as SIGHUP, but with\n"
"the outcome. Exits 1 if refused or no daemon answers.\n");
}

int
cmd_reload_main(int argc, char **argv)
{
	const struct command	 cmd = { "pullgate reload", cmd_reload_usage,
	    COMMAND_CONFIG | COMMAND_CACHE, NULL, NULL, NULL, NULL, 0, 0 };
	struct config		 c;
	char			*note = NULL, *cause = NULL;
	int			 rc;

	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	switch (daemon_client_reload(&c, &note, &cause)) {
	case 1:
		printf("reloaded: the new configuration is in force\n");
		if (note != NULL)
			printf("note: %s\n", note);
		rc = 0;
		break;
	case 0:
		fprintf(stderr, "pullgate reload: no daemon answers on its "
		    "control socket\n");
		rc = 1;
		break;
	default:
		fprintf(stderr, "pullgate reload: refused, the configuration in "
		    "force is unchanged: %s\n", cause);
		rc = 1;
	}
	free(note);
	free(cause);
	config_free(&c);
	return rc;
}
