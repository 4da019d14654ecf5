/*
 * prefill: shared by cmd_prefill.c (images) and cmd_prefill_feed.c
 * (package feeds). Both fetch through the daemon's HTTP API.
 */
#ifndef PULLGATE_PREFILL_H
#define PULLGATE_PREFILL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PREFILL_MAX_PLATFORMS	16
#define PREFILL_MANIFEST_MAX	(64 * 1024 * 1024)

struct config;

struct prefill {
	struct config	*config;
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
