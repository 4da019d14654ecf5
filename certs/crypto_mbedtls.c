/* The mbedTLS crypto backend (OpenWrt-class gateways): make CRYPTO=mbedtls. */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"


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

struct crypto_cert {
	mbedtls_x509_crt	crt;
	int			is_der;
};

static const char *
crypto_mbedtls_error(int ret)
{
	static char	buf[160];

	mbedtls_strerror(ret, buf, sizeof buf);
	return buf;
}

static struct crypto_cert *
crypto_mbedtls_cert_load(const char *path, char **cause)
{
	struct crypto_cert	*c;
	unsigned char		*buf;
	size_t			 len;
	int			 ret;

	if ((buf = keyfile_read(path, CRYPTO_FILE_MAX, &len, cause)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof *c)) == NULL) {
		free(buf);
		*cause = util_printf("out of memory");
		return NULL;
	}
	mbedtls_x509_crt_init(&c->crt);
	if (strstr((char *)buf, "-----BEGIN") != NULL)
		ret = mbedtls_x509_crt_parse(&c->crt, buf, len + 1);	/* with the NUL */
	else {
		c->is_der = 1;
		ret = mbedtls_x509_crt_parse_der(&c->crt, buf, len);
	}
	free(buf);
	if (ret != 0) {
		*cause = util_printf("%s: not a PEM or DER certificate (%s)", path,
		    crypto_mbedtls_error(ret));
		mbedtls_x509_crt_free(&c->crt);
		free(c);
		return NULL;
	}
	return c;
}

static time_t
crypto_mbedtls_time(const mbedtls_x509_time *t)
{
	struct tm	tm;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

static int
crypto_mbedtls_cert_info(struct crypto_cert *c, struct crypto_cert_info *info)
{
	const mbedtls_x509_name	*n;
	unsigned char		 md[CRYPTO_SHA256_LEN];
	char			 oid[64];

	memset(info, 0, sizeof *info);
	if (mbedtls_x509_dn_gets(info->subject, sizeof info->subject,
	    &c->crt.subject) < 0 ||
	    mbedtls_x509_dn_gets(info->issuer, sizeof info->issuer,
	    &c->crt.issuer) < 0)
		return -1;
	keyfile_hex(c->crt.serial.p, c->crt.serial.len, 1, info->serial,
	    sizeof info->serial);
	for (n = &c->crt.subject; n != NULL; n = n->next)
		if (n->oid.p != NULL &&
		    mbedtls_oid_get_numeric_string(oid, sizeof oid, &n->oid) > 0)
			keyfile_name_attr(info, oid, n->val.p, n->val.len);
	info->not_before = crypto_mbedtls_time(&c->crt.valid_from);
	info->not_after = crypto_mbedtls_time(&c->crt.valid_to);
	if (mbedtls_sha256_ret(c->crt.raw.p, c->crt.raw.len, md, 0) != 0)
		return -1;
	keyfile_hex(md, sizeof md, 0, info->fingerprint, sizeof info->fingerprint);
	info->is_der = c->is_der;
	return 0;
}

static int
crypto_mbedtls_key_load(mbedtls_pk_context *pk, const char *path, char **cause)
{
	int	ret;

	mbedtls_pk_init(pk);
	if ((ret = mbedtls_pk_parse_keyfile(pk, path, NULL)) != 0) {
		*cause = util_printf("%s: not an unencrypted PEM or DER private "
		    "key (%s)", path, crypto_mbedtls_error(ret));
		mbedtls_pk_free(pk);
		return -1;
	}
	return 0;
}

static int
crypto_mbedtls_cert_key_matches(struct crypto_cert *c, const char *path,
    char **cause)
{
	mbedtls_pk_context	pk;
	int			ret;

	if (crypto_mbedtls_key_load(&pk, path, cause) != 0)
		return -1;
	ret = mbedtls_pk_check_pair(&c->crt.pk, &pk);
	mbedtls_pk_free(&pk);
	if (ret != 0) {
		*cause = util_printf("%s: the key does not belong to the "
		    "certificate", path);
		return -1;
	}
	return 0;
}

static void
crypto_mbedtls_cert_free(struct crypto_cert *c)
{
	if (c == NULL)
		return;
	mbedtls_x509_crt_free(&c->crt);
	free(c);
}

static char *
crypto_mbedtls_csr_generate(const char *keyfile, const char *subject, char **cause)
{
	mbedtls_entropy_context		entropy;
	mbedtls_ctr_drbg_context	drbg;
	mbedtls_x509write_csr		req;
	mbedtls_pk_context		pk;
	unsigned char			buf[4096];
	char				*pem = NULL;
	int				ret;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_x509write_csr_init(&req);
	mbedtls_pk_init(&pk);
	if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	    (const unsigned char *)"pullgate-csr", 12)) != 0) {
		*cause = util_printf("no entropy: %s", crypto_mbedtls_error(ret));
		goto out;
	}
	if (access(keyfile, F_OK) == 0) {
		if (crypto_mbedtls_key_load(&pk, keyfile, cause) != 0)
			goto out;
	} else {
		if ((ret = mbedtls_pk_setup(&pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
		    (ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		    mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &drbg)) != 0 ||
		    (ret = mbedtls_pk_write_key_pem(&pk, buf, sizeof buf)) != 0) {
			*cause = util_printf("cannot generate a key: %s",
			    crypto_mbedtls_error(ret));
			goto out;
		}
		ret = keyfile_create(keyfile, buf, strlen((char *)buf), cause);
		mbedtls_platform_zeroize(buf, sizeof buf);
		if (ret != 0)
			goto out;
	}
	mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&req, &pk);
	if ((ret = mbedtls_x509write_csr_set_subject_name(&req, subject)) != 0) {
		*cause = util_printf("subject '%s': %s", subject,
		    crypto_mbedtls_error(ret));
		goto out;
	}
	if ((ret = mbedtls_x509write_csr_pem(&req, buf, sizeof buf,
	    mbedtls_ctr_drbg_random, &drbg)) != 0) {
		*cause = util_printf("cannot make the CSR: %s",
		    crypto_mbedtls_error(ret));
		goto out;
	}
	pem = strdup((char *)buf);
out:
	mbedtls_pk_free(&pk);
	mbedtls_x509write_csr_free(&req);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return pem;
}

static const struct crypto_backend crypto_mbedtls = {
	.name = "mbedtls",
	.sha256_new = crypto_mbedtls_sha256_new,
	.sha256_update = crypto_mbedtls_sha256_update,
	.sha256_final = crypto_mbedtls_sha256_final,
	.sha256_free = crypto_mbedtls_sha256_free,
	.cert_load = crypto_mbedtls_cert_load,
	.cert_info = crypto_mbedtls_cert_info,
	.cert_key_matches = crypto_mbedtls_cert_key_matches,
	.cert_free = crypto_mbedtls_cert_free,
	.csr_generate = crypto_mbedtls_csr_generate,
};

const struct crypto_backend *crypto_backend = &crypto_mbedtls;
