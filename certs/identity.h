/*
 * A client identity: a certificate and its key on disk, checked (parsed,
 * matching, valid now) and re-read when either file changes, so a renewed
 * certificate is picked up without a restart.
 */
#ifndef PULLGATE_IDENTITY_H
#define PULLGATE_IDENTITY_H

#include <sys/stat.h>
#include <time.h>

#include "crypto.h"

struct identity {
	char			cert_path[1024];
	char			key_path[1024];
	int			warn_days;
	int			loaded;		/* parsed, and the key matches */
	int			is_key_der;
	struct crypto_cert_info	info;
	char			problem[512];	/* why it is not usable */
	time_t			checked;
	time_t			warned;
	struct stat		cert_st, key_st;
};

struct identity	*identity_new(const char *, const char *, int);
void		 identity_free(struct identity *);
int		 identity_usable(struct identity *, char *, size_t);
void		 identity_format_time(time_t, char *, size_t);

#endif
