/*
 * Unit tests: the Docker client's credential formats (dockercred.c) — a
 * config.json's auths matched to an entry's host the ways docker and
 * 'oc create secret docker-registry' write them, and a credential
 * helper's answer; refusals never quote the secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

/* base64("gw:s3cret:with:colons") */
#define AUTH_GW	"Z3c6czNjcmV0OndpdGg6Y29sb25z"

static struct registry_table	t;
static struct registry		*hub, *acme;

static void
setup_table(void)
{
	char	*cause = NULL;

	assert_int_equal(registry_table_init(&t, "https://registry-1.docker.io",
	    &cause), 0);
	assert_non_null(registry_table_add(&t, 3, "acme",
	    "https://registry.acme.example:5000", &cause));
	hub = registry_find_id(&t, REGISTRY_ID_REMOTE);
	acme = registry_find_name(&t, "acme");
}

/* The pair for r from json, or fails; returns the secret (free it). */
static char *
pair_ok(const char *json, const struct registry *r, const char *user)
{
	char	 u[128], *secret = NULL, *cause = NULL;

	if (dockercred_parse_config(json, strlen(json), r, u, sizeof u, &secret,
	    &cause) != 0)
		fail_msg("refused: %s (%s)", cause, json);
	assert_string_equal(u, user);
	return secret;
}

static void
pair_fails(const char *json, const struct registry *r, const char *why)
{
	char	 u[128], *secret = NULL, *cause = NULL;

	assert_int_equal(dockercred_parse_config(json, strlen(json), r, u,
	    sizeof u, &secret, &cause), -1);
	assert_null(secret);
	if (strstr(cause, why) == NULL)
		fail_msg("cause '%s' does not say '%s'", cause, why);
	assert_null(strstr(cause, "s3cret"));
	free(cause);
}

static void
test_config(void **state)
{
	char	*s;

	(void)state;
	setup_table();
	assert_string_equal(dockercred_server(hub), "https://index.docker.io/v1/");
	assert_string_equal(dockercred_server(acme), "registry.acme.example:5000");

	/* docker login: host key, base64 auth; the password keeps its ':'. */
	s = pair_ok("{\"auths\":{\"registry.acme.example:5000\":{\"auth\":\""
	    AUTH_GW "\"}}}", acme, "gw");
	assert_string_equal(s, "s3cret:with:colons");
	secret_free(s);
	/* .dockerconfigjson with a scheme and a path; username/password. */
	s = pair_ok("{\"auths\":{\"other.example\":{\"auth\":\"eDp5\"},"
	    "\"https://registry.acme.example:5000/v2/\":{\"username\":\"u\","
	    "\"password\":\"p\"}}}", acme, "u");
	assert_string_equal(s, "p");
	secret_free(s);
	/* Docker Hub by its index URL, or by one of its names. */
	s = pair_ok("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\""
	    AUTH_GW "\"}}}", hub, "gw");
	secret_free(s);
	s = pair_ok("{\"auths\":{\"docker.io\":{\"auth\":\"" AUTH_GW "\"}}}",
	    hub, "gw");
	secret_free(s);

	/* Another host's credentials are never taken (nor a port's). */
	pair_fails("{\"auths\":{\"registry.acme.example\":{\"auth\":\""
	    AUTH_GW "\"}}}", acme, "no \"auths\" entry");
	pair_fails("{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\""
	    AUTH_GW "\"}}}", acme, "no \"auths\" entry");
	/* Malformed files and entries. */
	pair_fails("{\"auths\":", acme, "not JSON");
	pair_fails("{\"credsStore\":\"desktop\"}", acme, "no \"auths\"");
	pair_fails("{\"auths\":{\"registry.acme.example:5000\":{\"auth\":"
	    "\"not base64!\"}}}", acme, "not the base64");
	pair_fails("{\"auths\":{\"registry.acme.example:5000\":{\"auth\":"
	    "\"czNjcmV0\"}}}", acme, "not the base64");	/* no ':' */
	pair_fails("{\"auths\":{\"registry.acme.example:5000\":"
	    "{\"identitytoken\":\"s3cret\"}}}", acme, "identity token");
	pair_fails("{\"auths\":{\"registry.acme.example:5000\":{\"username\":"
	    "\"\",\"password\":\"s3cret\"}}}", acme, "no usable username");
	pair_fails("{\"auths\":{\"registry.acme.example:5000\":{\"username\":"
	    "\"gw\",\"password\":\"\"}}}", acme, "no usable secret");
	registry_table_free(&t);
}

static void
test_answer(void **state)
{
	char	 u[128], *s = NULL, *cause = NULL;
	const char *ok = "{\"ServerURL\":\"x\",\"Username\":\"AWS\","
	    "\"Secret\":\"s3cret\"}\n";
	static const char *bad[] = {
		"s3cret", "{}", "[\"s3cret\"]", "{\"Username\":\"AWS\"}",
		"{\"Username\":\"<token>\",\"Secret\":\"s3cret\"}",
		"{\"Username\":\"AWS\",\"Secret\":\"s3\\u0000cret\"}",
		"{\"Username\":\"A\\nWS\",\"Secret\":\"s3cret\"}", NULL
	};
	size_t	 i;

	(void)state;
	assert_int_equal(dockercred_parse_answer(ok, strlen(ok), u, sizeof u, &s,
	    &cause), 0);
	assert_string_equal(u, "AWS");
	assert_string_equal(s, "s3cret");
	secret_free(s);
	for (i = 0; bad[i] != NULL; i++) {
		s = NULL;
		assert_int_equal(dockercred_parse_answer(bad[i], strlen(bad[i]), u,
		    sizeof u, &s, &cause), -1);
		assert_null(s);
		assert_null(strstr(cause, "s3"));
		free(cause);
	}
	assert_true(dockercred_valid_helper("ecr-login"));
	assert_true(dockercred_valid_helper("gcr"));
	assert_false(dockercred_valid_helper("../../bin/sh"));
	assert_false(dockercred_valid_helper(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
