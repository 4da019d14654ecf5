/* The OpenSSL crypto backend (the default, Debian gateways). */
#include <openssl/evp.h>
#include <stdlib.h>

#include "crypto.h"

struct crypto_sha256 {
	EVP_MD_CTX	*md;
};

static struct crypto_sha256 *
crypto_openssl_sha256_new(void)
{
	struct crypto_sha256	*h;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	if ((h->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->md);
		free(h);
		return NULL;
	}
	return h;
}

static void
crypto_openssl_sha256_update(struct crypto_sha256 *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->md, p, n);
}

static void
crypto_openssl_sha256_final(struct crypto_sha256 *h,
    unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int	len = CRYPTO_SHA256_LEN;

	EVP_DigestFinal_ex(h->md, out, &len);
}

static void
crypto_openssl_sha256_free(struct crypto_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

static const struct crypto_backend crypto_openssl = {
	.name = "openssl",
	.sha256_new = crypto_openssl_sha256_new,
	.sha256_update = crypto_openssl_sha256_update,
	.sha256_final = crypto_openssl_sha256_final,
	.sha256_free = crypto_openssl_sha256_free,
};

const struct crypto_backend *crypto_backend = &crypto_openssl;
