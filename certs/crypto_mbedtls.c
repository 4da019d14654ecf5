/* The mbedTLS crypto backend (OpenWrt-class gateways): make CRYPTO=mbedtls. */
#include <mbedtls/sha256.h>
#include <stdlib.h>

#include "crypto.h"

struct crypto_sha256 {
	mbedtls_sha256_context	ctx;
};

static struct crypto_sha256 *
crypto_mbedtls_sha256_new(void)
{
	struct crypto_sha256	*h;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	mbedtls_sha256_init(&h->ctx);
	if (mbedtls_sha256_starts_ret(&h->ctx, 0) != 0) {
		mbedtls_sha256_free(&h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

static void
crypto_mbedtls_sha256_update(struct crypto_sha256 *h, const void *p, size_t n)
{
	mbedtls_sha256_update_ret(&h->ctx, p, n);
}

static void
crypto_mbedtls_sha256_final(struct crypto_sha256 *h,
    unsigned char out[CRYPTO_SHA256_LEN])
{
	mbedtls_sha256_finish_ret(&h->ctx, out);
}

static void
crypto_mbedtls_sha256_free(struct crypto_sha256 *h)
{
	if (h == NULL)
		return;
	mbedtls_sha256_free(&h->ctx);
	free(h);
}

static const struct crypto_backend crypto_mbedtls = {
	.name = "mbedtls",
	.sha256_new = crypto_mbedtls_sha256_new,
	.sha256_update = crypto_mbedtls_sha256_update,
	.sha256_final = crypto_mbedtls_sha256_final,
	.sha256_free = crypto_mbedtls_sha256_free,
};

const struct crypto_backend *crypto_backend = &crypto_mbedtls;
