/*
 * The crypto interface: what the agent computes itself (SHA-256 of blobs
 * now; certificate and key handling join it later). One backend is chosen
 * at build time (make CRYPTO=openssl|mbedtls) and exposes its table as
 * crypto_backend. Upstream TLS stays libcurl's.
 */
#ifndef PULLGATE_CRYPTO_H
#define PULLGATE_CRYPTO_H

#include <stddef.h>

#define CRYPTO_SHA256_LEN	32

struct crypto_sha256;

struct crypto_backend {
	const char		*name;
	struct crypto_sha256	*(*sha256_new)(void);
	void			 (*sha256_update)(struct crypto_sha256 *,
				     const void *, size_t);
	void			 (*sha256_final)(struct crypto_sha256 *,
				     unsigned char[CRYPTO_SHA256_LEN]);
	void			 (*sha256_free)(struct crypto_sha256 *);
};

extern const struct crypto_backend *crypto_backend;

#endif
