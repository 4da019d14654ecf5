/*
 * The crypto interface: what the agent computes itself (SHA-256 of blobs
 * now; certificate and key handling join it later). One backend is chosen
 * at build time (make CRYPTO=openssl|mbedtls) and exposes its table as
 * crypto_backend. Upstream TLS stays libcurl's.
 */
#ifndef PULLGATE_CRYPTO_H
#define PULLGATE_CRYPTO_H

#include <stddef.h>
#include <time.h>

#define CRYPTO_SHA256_LEN	32

struct crypto_sha256;
struct crypto_cert;

/* What 'pullgate cert show' prints of a certificate. */
struct crypto_cert_info {
	char	subject[512];
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

#define CRYPTO_FILE_MAX	(256 * 1024)

#endif
