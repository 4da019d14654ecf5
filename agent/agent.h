/*
 * pullgate's top layer: the command line. main.c dispatches to serve and
 * the cmd_*.c subcommands; they share the option prologue, the image
 * reference parser and the small HTTP client that talks to the daemon.
 */
#ifndef PULLGATE_AGENT_H
#define PULLGATE_AGENT_H

#include <stdio.h>

#include "config.h"

/* command.c: the option and configuration prologue of every command. */
#define COMMAND_CONFIG	0x01	/* -c/--config FILE; the configuration is read */
#define COMMAND_CACHE	0x02	/* --cache DIR over cache_dir */
#define COMMAND_LISTEN	0x04	/* --listen HOST:PORT over listen */

struct option;

struct command {
	const char		 *name;		/* "pullgate resolve", for messages */
	void			(*usage)(FILE *);
	unsigned		  flags;	/* COMMAND_* */
	const struct option	 *options;	/* its own, or NULL; a zero row ends them */
	const char		 *shortopts;	/* its own short options, or NULL */
	/* One of its own options; -1 (with *cause, or usage) exits with 2. */
	int			(*option)(int, const char *, void *, char **);
	void			 *arg;
	int			  min_args;	/* operands */
	int			  max_args;	/* -1: no maximum */
};

int	 command_begin(const struct command *, int, char **, struct config *,
	     int *);

/* imageref.c: IMAGE as the commands take it. */
int	 imageref_parse(struct config *, const char *, struct registry **,
	     struct reference *, char **);

/* serve.c, cmd_*.c: the subcommands. */
int	 serve_main(int, char **);
int	 cmd_cert_main(int, char **);
int	 cmd_registry_main(int, char **);
int	 cmd_resolve_main(int, char **);
int	 cmd_cache_main(int, char **);
int	 cmd_prefill_main(int, char **);
int	 cmd_import_main(int, char **);
int	 cmd_export_main(int, char **);
int	 cmd_status_main(int, char **);
int	 cmd_reload_main(int, char **);

/* daemon_client.c: blocking requests of the commands to the daemon. */
struct daemon_client {
	char	  base[300];		/* http://HOST:PORT */
	char	  unix_path[108];	/* the control socket instead; or empty */
	long	  timeout;		/* seconds a request may take; 0: none */
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
int	 daemon_client_init_control(struct daemon_client *, const struct config *);
int	 daemon_client_up(const struct daemon_client *);
int	 daemon_client_get(const struct daemon_client *, const char *, size_t,
	     struct daemon_client_reply *, char **);
void	 daemon_client_reply_free(struct daemon_client_reply *);
int	 daemon_client_reload(const struct config *, char **, char **);

/*
 * A batch of GETs whose bodies are counted, not kept (the blobs prefill
 * makes the daemon fetch), at most jobs at once. Callbacks by the path's
 * index: started, bytes arrived, ended (error NULL: a 200, all of it);
 * tick at least five times a second, to redraw progress.
 */
struct daemon_client_batch {
	const char	**paths;
	size_t		  n;
	int		  jobs;
	void		(*started)(size_t, void *);
	void		(*bytes)(size_t, size_t, void *);
	void		(*ended)(size_t, const char *, void *);
	void		(*tick)(void *);
	void		 *arg;
};

int	 daemon_client_get_batch(const struct daemon_client *,
	     const struct daemon_client_batch *, char **);

/* progress.c: what prefill, import and export show while they work. */
struct progress;

struct progress *progress_new(const char *, int64_t);
void	 progress_set_count(struct progress *, size_t);
int	 progress_start(struct progress *, const char *, int64_t);
void	 progress_add(struct progress *, int, int64_t);
void	 progress_end(struct progress *, int, int);
void	 progress_show(struct progress *);
void	 progress_free(struct progress *);

/* cmd_prefill.c, cmd_prefill_feed.c */
#define PREFILL_BODY_MAX	(64 * 1024 * 1024)	/* a manifest, an index */

int	 cmd_prefill_feed(const struct daemon_client *, const struct cache *,
	     const char *, const char *, const char *, char **, int);

#endif
