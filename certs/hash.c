/*
 * Digests of what the store holds, computed through the crypto backend:
 * a buffer (a manifest), a whole file (an import, a verify).
 */
#include <errno.h>
#include <unistd.h>

#include "certs.h"

int
hash_buffer(const void *p, size_t len, struct digest *d)
{
	struct crypto_sha256	*h;
	unsigned char		 raw[CRYPTO_SHA256_LEN];

	if ((h = crypto_backend->sha256_new()) == NULL)
		return -1;
	crypto_backend->sha256_update(h, p, len);
	crypto_backend->sha256_final(h, raw);
	crypto_backend->sha256_free(h);
	digest_from_raw(raw, d);
	return 0;
}

/* Reads fd to its end; its digest, and its length into *size if not NULL. */
int
hash_fd(int fd, struct digest *d, int64_t *size)
{
	struct crypto_sha256	*h;
	unsigned char		 buf[65536], raw[CRYPTO_SHA256_LEN];
	ssize_t			 n;
	int64_t			 total = 0;

	if ((h = crypto_backend->sha256_new()) == NULL)
		return -1;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		crypto_backend->sha256_update(h, buf, (size_t)n);
		total += n;
	}
	crypto_backend->sha256_final(h, raw);
	crypto_backend->sha256_free(h);
	if (n < 0)
		return -1;
	digest_from_raw(raw, d);
	if (size != NULL)
		*size = total;
	return 0;
}
