/* The OpenSSL crypto backend (the default, Debian gateways). */
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"


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

struct crypto_cert {
	X509	*x509;
	int	 is_der;
};

/* The first queued OpenSSL error, for messages. */
static const char *
crypto_openssl_error(void)
{
	static char	buf[256];
	unsigned long	e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

static struct crypto_cert *
crypto_openssl_cert_load(const char *path, char **cause)
{
	struct crypto_cert	*c;
	const unsigned char	*p;
	unsigned char		*buf;
	size_t			 len;
	BIO			*bio;
	X509			*x;
	int			 der = 0;

	if ((buf = keyfile_read(path, CRYPTO_FILE_MAX, &len, cause)) == NULL)
		return NULL;
	if (strstr((char *)buf, "-----BEGIN") != NULL) {
		bio = BIO_new_mem_buf(buf, (int)len);
		x = (bio != NULL) ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		p = buf;
		x = d2i_X509(NULL, &p, (long)len);
		der = 1;
	}
	free(buf);
	if (x == NULL) {
		*cause = util_printf("%s: not a PEM or DER certificate (%s)", path,
		    crypto_openssl_error());
		return NULL;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		X509_free(x);
		*cause = util_printf("out of memory");
		return NULL;
	}
	c->x509 = x;
	c->is_der = der;
	return c;
}

static void
crypto_openssl_name(X509_NAME *name, char *out, size_t len)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	int	 n;

	out[0] = '\0';
	if (bio == NULL)
		return;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_SEP_CPLUS_SPC |
	    (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB));
	n = BIO_read(bio, out, (int)len - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
}

/* The name's attributes, one by one, raw bytes as mbedTLS gives them. */
static void
crypto_openssl_attrs(X509_NAME *name, struct crypto_cert_info *info)
{
	X509_NAME_ENTRY		*e;
	const ASN1_STRING	*v;
	char			 oid[64];
	int			 i;

	for (i = 0; i < X509_NAME_entry_count(name); i++) {
		e = X509_NAME_get_entry(name, i);
		v = X509_NAME_ENTRY_get_data(e);
		if (OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(e),
		    1) <= 0)
			continue;
		keyfile_name_attr(info, oid, ASN1_STRING_get0_data(v),
		    (size_t)ASN1_STRING_length(v));
	}
}

static time_t
crypto_openssl_time(const ASN1_TIME *t)
{
	struct tm	tm;

	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static int
crypto_openssl_cert_info(struct crypto_cert *c, struct crypto_cert_info *info)
{
	const ASN1_INTEGER	*serial = X509_get0_serialNumber(c->x509);
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;

	memset(info, 0, sizeof *info);
	crypto_openssl_name(X509_get_subject_name(c->x509), info->subject,
	    sizeof info->subject);
	crypto_openssl_name(X509_get_issuer_name(c->x509), info->issuer,
	    sizeof info->issuer);
	crypto_openssl_attrs(X509_get_subject_name(c->x509), info);
	keyfile_hex(ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial),
	    1, info->serial, sizeof info->serial);
	info->not_before = crypto_openssl_time(X509_get0_notBefore(c->x509));
	info->not_after = crypto_openssl_time(X509_get0_notAfter(c->x509));
	if (X509_digest(c->x509, EVP_sha256(), md, &mdlen) != 1)
		return -1;
	keyfile_hex(md, mdlen, 0, info->fingerprint, sizeof info->fingerprint);
	info->is_der = c->is_der;
	return 0;
}

static EVP_PKEY *
crypto_openssl_key_load(const char *path, char **cause)
{
	const unsigned char	*p;
	unsigned char		*buf;
	size_t			 len;
	EVP_PKEY		*k;
	BIO			*bio;

	if ((buf = keyfile_read(path, CRYPTO_FILE_MAX, &len, cause)) == NULL)
		return NULL;
	if (strstr((char *)buf, "-----BEGIN") != NULL) {
		bio = BIO_new_mem_buf(buf, (int)len);
		k = (bio != NULL) ? PEM_read_bio_PrivateKey(bio, NULL, NULL,
		    (void *)"") : NULL;
		BIO_free(bio);
	} else {
		p = buf;
		k = d2i_AutoPrivateKey(NULL, &p, (long)len);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (k == NULL)
		*cause = util_printf("%s: not an unencrypted PEM or DER private "
		    "key (%s)", path, crypto_openssl_error());
	return k;
}

static int
crypto_openssl_cert_key_matches(struct crypto_cert *c, const char *path,
    char **cause)
{
	EVP_PKEY	*k;
	int		 ok;

	if ((k = crypto_openssl_key_load(path, cause)) == NULL)
		return -1;
	ok = X509_check_private_key(c->x509, k);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (ok != 1) {
		*cause = util_printf("%s: the key does not belong to the "
		    "certificate", path);
		return -1;
	}
	return 0;
}

static void
crypto_openssl_cert_free(struct crypto_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->x509);
	free(c);
}

/* Adds "K=V,K=V" to name. */
static int
crypto_openssl_subject(X509_NAME *name, const char *subject, char **cause)
{
	char	*copy, *part, *next, *eq;
	int	 rc = -1;

	if ((copy = strdup(subject)) == NULL)
		return -1;
	for (part = copy; part != NULL; part = next) {
		if ((next = strchr(part, ',')) != NULL)
			*next++ = '\0';
		while (*part == ' ')
			part++;
		if ((eq = strchr(part, '=')) == NULL || eq == part || eq[1] == '\0') {
			*cause = util_printf("subject: '%s' is not KEY=VALUE", part);
			goto out;
		}
		*eq = '\0';
		if (X509_NAME_add_entry_by_txt(name, part, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0) != 1) {
			*cause = util_printf("subject: unknown attribute '%s'", part);
			ERR_clear_error();
			goto out;
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static char *
crypto_openssl_csr_generate(const char *keyfile, const char *subject, char **cause)
{
	EVP_PKEY	*k = NULL;
	X509_REQ	*req = NULL;
	BIO		*bio = NULL;
	char		*pem = NULL, *data;
	long		 n;

	if (access(keyfile, F_OK) == 0) {
		if ((k = crypto_openssl_key_load(keyfile, cause)) == NULL)
			return NULL;
	} else {
		if ((k = EVP_EC_gen("P-256")) == NULL ||
		    (bio = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) {
			*cause = util_printf("cannot generate a key: %s",
			    crypto_openssl_error());
			goto out;
		}
		n = BIO_get_mem_data(bio, &data);
		if (keyfile_create(keyfile, data, (size_t)n, cause) != 0)
			goto out;
		BIO_free(bio);
		bio = NULL;
	}
	if ((req = X509_REQ_new()) == NULL || X509_REQ_set_version(req, 0) != 1)
		goto out;
	if (crypto_openssl_subject(X509_REQ_get_subject_name(req), subject, cause) != 0)
		goto out;
	if (X509_REQ_set_pubkey(req, k) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(bio, req) != 1) {
		*cause = util_printf("cannot make the CSR: %s", crypto_openssl_error());
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if ((pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, data, (size_t)n);
		pem[n] = '\0';
	}
out:
	if (pem == NULL && *cause == NULL)
		*cause = util_printf("cannot make the CSR");
	BIO_free(bio);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return pem;
}

static const struct crypto_backend crypto_openssl = {
	.name = "openssl",
	.sha256_new = crypto_openssl_sha256_new,
	.sha256_update = crypto_openssl_sha256_update,
	.sha256_final = crypto_openssl_sha256_final,
	.sha256_free = crypto_openssl_sha256_free,
	.cert_load = crypto_openssl_cert_load,
	.cert_info = crypto_openssl_cert_info,
	.cert_key_matches = crypto_openssl_cert_key_matches,
	.cert_free = crypto_openssl_cert_free,
	.csr_generate = crypto_openssl_csr_generate,
};

const struct crypto_backend *crypto_backend = &crypto_openssl;
