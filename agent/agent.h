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

/* cmd_prefill.c, cmd_prefill_feed.c */
#define PREFILL_MAX_PLATFORMS	16
#define PREFILL_MANIFEST_MAX	(64 * 1024 * 1024)

struct config;

struct prefill {
	struct config	*config;
	const struct cache *cache;		/* where pins are written */
	char		 base[300];		/* http://host:port */
	const char	*platforms[PREFILL_MAX_PLATFORMS];
	int		 nplatforms;
	int		 tty;
	const char	*image;			/* for progress lines */
	int64_t		 done, total;
	time_t		 shown;
};

struct prefill_body {
	char	*buf;
	size_t	 len;
	size_t	 max;		/* 0: count and discard */
	struct prefill *p;
};

int	prefill_get(struct prefill *, const char *, int, struct prefill_body *,
	    char *, size_t, char **);
int	prefill_feed(struct prefill *, const char *, const char *, const char *,
	    char **, int);

#endif
