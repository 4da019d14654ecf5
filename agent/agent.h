/*
 * pullgate's top layer: the command line. main.c dispatches to serve and
 * the cmd_*.c subcommands; they share the option prologue, the image
 * reference parser and the small HTTP client that talks to the daemon.
 */
#ifndef PULLGATE_AGENT_H
#define PULLGATE_AGENT_H

#include "config.h"

/* serve.c, cmd_*.c: the subcommands. */
struct reference;
/* imageref.c */
int	 imageref_parse(struct config *, const char *, struct registry **,
	     struct reference *, char **);
int	 serve_main(int, char **);
int	 cmd_cert_main(int, char **);
int	 cmd_registry_main(int, char **);
int	 cmd_resolve_main(int, char **);
int	 cmd_cache_main(int, char **);
int	 cmd_prefill_main(int, char **);
int	 cmd_import_main(int, char **);
int	 cmd_export_main(int, char **);

/* daemon_client.c: blocking requests of the commands to the daemon. */
struct daemon_client {
	char	  base[300];		/* http://HOST:PORT */
	long	  timeout;		/* seconds a request may take; 0: none */
	void	(*progress)(size_t, void *);	/* bytes counted, not kept */
	void	 *arg;
};

struct daemon_client_reply {
	long	 status;		/* 0: no answer */
	int	 no_daemon;		/* nothing listens at the address */
	char	 digest[DIGEST_STRING_LEN + 1];	/* Docker-Content-Digest */
	char	 type[128];		/* Content-Type */
	char	 source[16];		/* X-Pullgate-Source */
	char	 message[512];		/* the daemon's OCI error message */
	char	*body;			/* NUL-terminated; NULL: not kept */
	size_t	 len;
};

int	 daemon_client_init(struct daemon_client *, const char *, int);
int	 daemon_client_up(const struct daemon_client *);
int	 daemon_client_get(const struct daemon_client *, const char *, size_t,
	     struct daemon_client_reply *, char **);
void	 daemon_client_reply_free(struct daemon_client_reply *);

/* cmd_prefill.c, cmd_prefill_feed.c */
#define PREFILL_BODY_MAX	(64 * 1024 * 1024)	/* a manifest, an index */

int	 cmd_prefill_feed(const struct daemon_client *, const char *,
	     const char *, const char *, char **, int);

#endif
