/*
 * The device identity used for mutual TLS. libcurl reads the certificate
 * and key files itself for each new connection; this module decides
 * whether they may be offered at all (they parse, match, and are valid
 * now), re-reads them when they change on disk, and warns before expiry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"


void
identity_format_time(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
identity_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void
identity_load(struct identity *id)
{
	struct crypto_cert	*c;
	char			*cause = NULL;
	unsigned char		*key;
	size_t			 len;

	id->loaded = 0;
	id->problem[0] = '\0';
	if ((c = crypto_backend->cert_load(id->cert_path, &cause)) == NULL)
		goto fail;
	if (crypto_backend->cert_info(c, &id->info) != 0) {
		cause = util_printf("%s: cannot read the certificate", id->cert_path);
		crypto_backend->cert_free(c);
		goto fail;
	}
	if (crypto_backend->cert_key_matches(c, id->key_path, &cause) != 0) {
		crypto_backend->cert_free(c);
		goto fail;
	}
	crypto_backend->cert_free(c);
	if ((key = keyfile_read(id->key_path, CRYPTO_FILE_MAX, &len, &cause)) == NULL)
		goto fail;
	id->is_key_der = (strstr((char *)key, "-----BEGIN") == NULL);
	explicit_bzero(key, len);
	free(key);
	id->loaded = 1;
	log_info("identity %s: %s, serial %s, valid until %lld", id->cert_path,
	    id->info.subject, id->info.serial, (long long)id->info.not_after);
	return;
fail:
	snprintf(id->problem, sizeof id->problem, "%s", cause);
	log_error("identity: %s", id->problem);
	free(cause);
}

struct identity *
identity_new(const char *cert, const char *key, int warn_days)
{
	struct identity	*id;

	if ((id = calloc(1, sizeof *id)) == NULL)
		return NULL;
	util_strlcpy(id->cert_path, cert, sizeof id->cert_path);
	util_strlcpy(id->key_path, key, sizeof id->key_path);
	id->warn_days = warn_days;
	return id;
}

void
identity_free(struct identity *id)
{
	free(id);
}

/* Re-reads the files when they changed (looked at once a second at most). */
static void
identity_refresh(struct identity *id)
{
	struct stat	cst, kst;
	time_t		now = time(NULL);

	if (id->checked == now)
		return;
	id->checked = now;
	if (stat(id->cert_path, &cst) != 0)
		memset(&cst, 0, sizeof cst);
	if (stat(id->key_path, &kst) != 0)
		memset(&kst, 0, sizeof kst);
	if (id->cert_st.st_ino != 0 && identity_same_file(&cst, &id->cert_st) &&
	    identity_same_file(&kst, &id->key_st))
		return;
	if (id->cert_st.st_ino != 0) {
		log_info("identity %s: changed on disk, reloading", id->cert_path);
		stats_add(STATS_IDENTITY_RELOADS, 1);
	}
	id->cert_st = cst;
	id->key_st = kst;
	identity_load(id);
}

/*
 * Whether the identity may be offered now; if not, why (no secret in it).
 * Logs a warning, once a day, when the certificate is about to expire.
 */
int
identity_usable(struct identity *id, char *why, size_t len)
{
	time_t	now = time(NULL);
	char	when[32];

	identity_refresh(id);
	if (!id->loaded) {
		snprintf(why, len, "client certificate unusable: %s", id->problem);
		return 0;
	}
	if (now < id->info.not_before) {
		identity_format_time(id->info.not_before, when, sizeof when);
		snprintf(why, len, "client certificate %s is not valid before %s",
		    id->cert_path, when);
		return 0;
	}
	if (now >= id->info.not_after) {
		identity_format_time(id->info.not_after, when, sizeof when);
		snprintf(why, len, "client certificate %s expired on %s",
		    id->cert_path, when);
		return 0;
	}
	if (id->info.not_after - now < (time_t)id->warn_days * 86400 &&
	    now - id->warned >= 86400) {
		identity_format_time(id->info.not_after, when, sizeof when);
		stats_add(STATS_IDENTITY_EXPIRY_WARNINGS, 1);
		log_warn("client certificate %s expires on %s: renew it",
		    id->cert_path, when);
		id->warned = now;
	}
	return 1;
}
