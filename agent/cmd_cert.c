/*
 * pullgate cert show|csr: the device identity, as the daemon sees it,
 * and a key and CSR for enrolment.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

static void
cmd_cert_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate cert show [-c FILE] [--cert FILE] [--key FILE] [--json]\n"
"       pullgate cert csr --key FILE --subject \"CN=...,O=...\" [--out FILE]\n"
"\n"
"show  prints the device certificate's subject (then each of its fields,\n"
"      CN, O, OU..., one a line), issuer, serial, validity and SHA-256\n"
"      fingerprint, and whether the key matches it. The files\n"
"      are the config's device { cert; key; } unless given. Exits 1 when\n"
"      the certificate cannot be used (unreadable, key mismatch, expired).\n"
"csr   generates an EC P-256 key in --key (mode 0600) unless the file\n"
"      exists, and prints a certificate signing request for the subject.\n");
}

/* The options of show and csr. */
struct cmd_cert_flags {
	const char	*cert, *key, *subject, *out;
	int		 json;
};

static int
cmd_cert_option(int ch, const char *arg, void *p, char **cause)
{
	struct cmd_cert_flags	*f = p;

	switch (ch) {
	case 'C': f->cert = arg; break;
	case 'K': f->key = arg; break;
	case 's': f->subject = arg; break;
	case 'o': f->out = arg; break;
	case 'j': f->json = 1; break;
	default: return -1;
	}
	return 0;
}

/* "CN:" for the attribute lines under subject. */
static const char *
cmd_cert_label(const char *type, char *buf, size_t len)
{
	snprintf(buf, len, "%s:", type);
	return buf;
}

/* The subject's attributes, in order: [{"type": "CN", "value": ...}]. */
static json_t *
cmd_cert_fields(const struct crypto_cert_info *info)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; a != NULL && i < info->nsubject_attrs; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "type",
		    info->subject_attrs[i].type, "value",
		    info->subject_attrs[i].value));
	return a;
}

static int
cmd_cert_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_cert_flags	 f;
	const struct command	 cmd = { "pullgate cert", cmd_cert_usage,
	    COMMAND_CONFIG, longopts, NULL, cmd_cert_option, &f, 0, 0 };
	struct config		 c;
	struct identity		*id;
	const char		*cert, *key;
	char			 why[600], nb[32], na[32], label[80];
	int			 json, usable, rc;
	size_t			 i;
	json_t			*o;

	memset(&f, 0, sizeof f);
	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	rc = 1;
	cert = f.cert;
	key = f.key;
	json = f.json;
	if (cert == NULL)
		cert = c.device_cert;
	if (key == NULL)
		key = c.device_key;
	if (cert[0] == '\0') {
		fprintf(stderr, "pullgate cert show: no certificate: give --cert, "
		    "or set device { cert = ...; } in the configuration\n");
		config_free(&c);
		return 1;
	}
	log_set_level(LOG_LEVEL_ERROR);
	id = identity_new(cert, key[0] != '\0' ? key : cert, c.cert_warn_days);
	usable = identity_usable(id, why, sizeof why);
	if (!id->loaded && id->info.subject[0] == '\0') {
		fprintf(stderr, "pullgate cert show: %s\n", id->problem);
		goto out;
	}
	identity_format_time(id->info.not_before, nb, sizeof nb);
	identity_format_time(id->info.not_after, na, sizeof na);
	if (json) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s?}",
		    "certificate", cert, "subject", id->info.subject,
		    "issuer", id->info.issuer, "serial", id->info.serial,
		    "not_before", nb, "not_after", na,
		    "fingerprint_sha256", id->info.fingerprint,
		    "format", id->info.is_der ? "der" : "pem",
		    "usable", usable, "problem", usable ? NULL : why);
		if (o != NULL) {
			json_object_set_new(o, "subject_fields",
			    cmd_cert_fields(&id->info));
			json_dumpf(o, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
			json_decref(o);
		}
	} else {
		printf("certificate: %s (%s)\n", cert, id->info.is_der ? "DER" : "PEM");
		printf("subject:     %s\n", id->info.subject);
		for (i = 0; i < id->info.nsubject_attrs; i++)
			printf("  %-10s %s\n", cmd_cert_label(
			    id->info.subject_attrs[i].type, label, sizeof label),
			    id->info.subject_attrs[i].value);
		printf("issuer:      %s\n", id->info.issuer);
		printf("serial:      %s\n", id->info.serial);
		printf("not before:  %s\n", nb);
		printf("not after:   %s\n", na);
		printf("sha256:      %s\n", id->info.fingerprint);
		printf("status:      %s\n", usable ? "usable" : why);
	}
	rc = usable ? 0 : 1;
out:
	identity_free(id);
	config_free(&c);
	return rc;
}

static int
cmd_cert_csr(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'K' },
		{ "subject", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_cert_flags	 flags;
	const struct command	 cmd = { "pullgate cert csr", cmd_cert_usage, 0,
	    longopts, NULL, cmd_cert_option, &flags, 0, 0 };
	const char		*key, *subject, *out;
	char			*cause = NULL, *pem;
	FILE			*f;
	int			 rc;

	memset(&flags, 0, sizeof flags);
	if (command_begin(&cmd, argc, argv, NULL, &rc) == -1)
		return rc;
	key = flags.key;
	subject = flags.subject;
	out = flags.out;
	if (key == NULL || subject == NULL) {
		fprintf(stderr, "pullgate cert csr: --key and --subject are required\n");
		return 2;
	}
	if ((pem = crypto_backend->csr_generate(key, subject, &cause)) == NULL) {
		fprintf(stderr, "pullgate cert csr: %s\n", cause);
		free(cause);
		return 1;
	}
	if (out != NULL) {
		if ((f = fopen(out, "w")) == NULL || fputs(pem, f) == EOF ||
		    fclose(f) != 0) {
			fprintf(stderr, "pullgate cert csr: cannot write %s\n", out);
			free(pem);
			return 1;
		}
	} else
		fputs(pem, stdout);
	free(pem);
	return 0;
}

int
cmd_cert_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cmd_cert_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "show") == 0)
		return cmd_cert_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "csr") == 0)
		return cmd_cert_csr(argc - 1, argv + 1);
	fprintf(stderr, "pullgate cert: unknown command '%s'\n", argv[1]);
	return 2;
}
