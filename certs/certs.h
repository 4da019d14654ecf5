/*
 * pullgate's certs layer, above the basics: the crypto interface (SHA-256,
 * certificates, keys) with one backend chosen at build time (make
 * CRYPTO=openssl|mbedtls, each exposing its table as crypto_backend),
 * digests of buffers and files computed through it, and the device
 * identity. Upstream TLS stays libcurl's.
 */
#ifndef PULLGATE_CERTS_H
#define PULLGATE_CERTS_H

#include <sys/stat.h>

#include <stddef.h>
#include <time.h>

#include "lib.h"

#define CRYPTO_SHA256_LEN	32

struct crypto_sha256;
struct crypto_cert;

/* One attribute of a name, as both backends give it (keyfile_name_attr). */
#define CRYPTO_NAME_ATTRS	16
struct crypto_name_attr {
	char	type[64];		/* "CN", "O", ...; else the dotted OID */
	char	value[256];		/* control characters as '?' */
};

/* What 'pullgate cert show' prints of a certificate. */
struct crypto_cert_info {
	char	subject[512];
	struct crypto_name_attr subject_attrs[CRYPTO_NAME_ATTRS];
	size_t	nsubject_attrs;		/* in the certificate's order */
	char	issuer[512];
	char	serial[128];		/* hex */
	time_t	not_before;
	time_t	not_after;
	char	fingerprint[96];	/* SHA-256 of the DER, hex */
	int	is_der;			/* the file was DER, not PEM */
};

struct crypto_backend {
	const char		*name;
	struct crypto_sha256	*(*sha256_new)(void);
	void			 (*sha256_update)(struct crypto_sha256 *,
				     const void *, size_t);
	void			 (*sha256_final)(struct crypto_sha256 *,
				     unsigned char[CRYPTO_SHA256_LEN]);
	void			 (*sha256_free)(struct crypto_sha256 *);

	/* A certificate file, PEM or DER. Errors come back in *cause. */
	struct crypto_cert	*(*cert_load)(const char *, char **);
	int			 (*cert_info)(struct crypto_cert *,
				     struct crypto_cert_info *);
	/* 0 if the key file (PEM or DER) holds the certificate's private key. */
	int			 (*cert_key_matches)(struct crypto_cert *,
				     const char *, char **);
	void			 (*cert_free)(struct crypto_cert *);
	/*
	 * Writes a new EC P-256 key to keyfile (mode 0600) unless it exists,
	 * then returns a PEM CSR for subject ("CN=...,O=...") signed by it.
	 */
	char			*(*csr_generate)(const char *, const char *, char **);
};

extern const struct crypto_backend *crypto_backend;

/* keyfile.c: shared by the backends. */
int		 keyfile_create(const char *, const void *, size_t, char **);
unsigned char	*keyfile_read(const char *, size_t, size_t *, char **);
void		 keyfile_hex(const unsigned char *, size_t, int, char *, size_t);
void		 keyfile_name_attr(struct crypto_cert_info *, const char *,
		     const unsigned char *, size_t);

#define CRYPTO_FILE_MAX	(256 * 1024)

/* hash.c: digests computed through the backend. */
int		 hash_buffer(const void *, size_t, struct digest *);
int		 hash_fd(int, struct digest *, int64_t *);

/*
 * identity.c: a client identity: a certificate and its key on disk,
 * checked (parsed, matching, valid now) and re-read when either file
 * changes, so a renewed certificate is picked up without a restart.
 */
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
