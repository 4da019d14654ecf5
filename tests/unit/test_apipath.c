/*
 * Unit tests: the /v2/ API path parser (apipath_parse): every kind of
 * path it accepts, and every refusal with the status and OCI code the
 * daemon answers with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib.h"

#define HEX64	"0123456789abcdef0123456789abcdef" \
		"0123456789abcdef0123456789abcdef"
#define DIGEST	"sha256:" HEX64

/* Fills buf with n copies of c and a NUL; buf must hold n + 1 bytes. */
static char *
repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
expect_ok(const char *path, enum apipath_kind kind, const char *repo,
    const char *ref)
{
	struct apipath	ap;

	if (apipath_parse(path, &ap) != 0)
		fail_msg("'%.80s' refused: %d %s", path, ap.status,
		    ap.code != NULL ? ap.code : "(null)");
	if (ap.kind != kind)
		fail_msg("'%.80s': kind %d, expected %d", path, ap.kind, kind);
	if (strcmp(ap.repo, repo) != 0)
		fail_msg("'%.80s': repo '%s', expected '%s'", path, ap.repo, repo);
	if (strcmp(ap.ref, ref) != 0)
		fail_msg("'%.80s': ref '%s', expected '%s'", path, ap.ref, ref);
	if (ap.status != 0 || ap.code != NULL || ap.message != NULL)
		fail_msg("'%.80s': accepted but has an error set", path);
}

static void
expect_fail(const char *path, int status, const char *code,
    const char *message)
{
	struct apipath	ap;

	memset(&ap, 0xa5, sizeof ap);
	if (apipath_parse(path, &ap) != -1)
		fail_msg("'%.80s' accepted", path);
	if (ap.status != status)
		fail_msg("'%.80s': status %d, expected %d", path, ap.status,
		    status);
	if (ap.code == NULL || strcmp(ap.code, code) != 0)
		fail_msg("'%.80s': code %s, expected %s", path,
		    ap.code != NULL ? ap.code : "(null)", code);
	if (ap.message == NULL || strcmp(ap.message, message) != 0)
		fail_msg("'%.80s': message '%s', expected '%s'", path,
		    ap.message != NULL ? ap.message : "(null)", message);
}

static void
test_apipath_manifests(void **state)
{
	(void)state;
	expect_ok("library/alpine/manifests/3.19", APIPATH_MANIFEST,
	    "library/alpine", "3.19");
	expect_ok("alpine/manifests/latest", APIPATH_MANIFEST, "alpine",
	    "latest");
	expect_ok("library/alpine/manifests/" DIGEST, APIPATH_MANIFEST,
	    "library/alpine", DIGEST);
	/* The reference is not checked here: whoever uses it does. */
	expect_ok("x/manifests/Not:A+Tag", APIPATH_MANIFEST, "x",
	    "Not:A+Tag");
}

static void
test_apipath_blobs_and_referrers(void **state)
{
	(void)state;
	expect_ok("library/alpine/blobs/" DIGEST, APIPATH_BLOB,
	    "library/alpine", DIGEST);
	expect_ok("a/referrers/" DIGEST, APIPATH_REFERRERS, "a", DIGEST);
	/* "uploadsX" is not the upload path: a blob named so. */
	expect_ok("a/blobs/uploadsx", APIPATH_BLOB, "a", "uploadsx");
}

static void
test_apipath_tags(void **state)
{
	(void)state;
	expect_ok("library/alpine/tags/list", APIPATH_TAGS, "library/alpine",
	    "");
	expect_ok("a/tags/list", APIPATH_TAGS, "a", "");
	/* Only the whole "/tags/list" suffix lists tags. */
	expect_fail("a/tags/lists", 404, "NAME_UNKNOWN", "unknown API path");
	/* No name before it. */
	expect_fail("/tags/list", 404, "NAME_UNKNOWN", "unknown API path");
}

static void
test_apipath_uploads(void **state)
{
	(void)state;
	expect_ok("a/blobs/uploads/", APIPATH_UPLOAD, "a", "");
	expect_ok("a/blobs/uploads", APIPATH_UPLOAD, "a", "");
	expect_ok("org/app/blobs/uploads/6f2c-44aa?digest=x", APIPATH_UPLOAD,
	    "org/app", "");
	/* The name before the upload path is still checked. */
	expect_fail("A/blobs/uploads/", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a//blobs/uploads", 400, "NAME_INVALID",
	    "invalid repository name");
}

static void
test_apipath_nested_names(void **state)
{
	(void)state;
	expect_ok("a/b/c/manifests/v1", APIPATH_MANIFEST, "a/b/c", "v1");
	expect_ok("a/b/c/blobs/" DIGEST, APIPATH_BLOB, "a/b/c", DIGEST);
	expect_ok("a/b/c/tags/list", APIPATH_TAGS, "a/b/c", "");
	expect_ok("a/b/c/blobs/uploads/", APIPATH_UPLOAD, "a/b/c", "");
	expect_ok("my-org/sub.team/img__x/manifests/v1", APIPATH_MANIFEST,
	    "my-org/sub.team/img__x", "v1");
	/* A component called "manifests" is a name, the last one the kind. */
	expect_ok("manifests/manifests/v1", APIPATH_MANIFEST, "manifests",
	    "v1");
}

static void
test_apipath_malformed(void **state)
{
	char	path[APIPATH_MAX + 2];
	size_t	prefix;

	(void)state;
	expect_fail("", 400, "NAME_INVALID", "malformed path");

	/* Exactly APIPATH_MAX: past the length check (an upload path). */
	prefix = strlen("a/blobs/uploads/");
	memcpy(path, "a/blobs/uploads/", prefix);
	repeat(path + prefix, 'x', APIPATH_MAX - prefix);
	assert_int_equal(strlen(path), APIPATH_MAX);
	expect_ok(path, APIPATH_UPLOAD, "a", "");

	/* One more byte: refused before anything else is looked at. */
	repeat(path + prefix, 'x', APIPATH_MAX + 1 - prefix);
	assert_int_equal(strlen(path), APIPATH_MAX + 1);
	expect_fail(path, 400, "NAME_INVALID", "malformed path");
}

static void
test_apipath_unknown_kind(void **state)
{
	(void)state;
	expect_fail("a/widgets/v1", 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("a/b/c/Manifests/v1", 404, "NAME_UNKNOWN",
	    "unknown API path");
	expect_fail("a/blob/" DIGEST, 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("alpine", 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("manifests/v1", 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("/manifests", 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("/", 404, "NAME_UNKNOWN", "unknown API path");
	expect_fail("tags/list", 404, "NAME_UNKNOWN", "unknown API path");
}

static void
test_apipath_invalid_name(void **state)
{
	(void)state;
	expect_fail("Library/alpine/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("library/Alpine/blobs/" DIGEST, 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("../etc/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a/../b/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a/../tags/list", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("/a/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a//manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a/b//manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a//b/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a b/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("a%2fb/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
	expect_fail("-a/manifests/v1", 400, "NAME_INVALID",
	    "invalid repository name");
}

static void
test_apipath_empty_ref(void **state)
{
	(void)state;
	expect_fail("x/manifests/", 400, "TAG_INVALID", "invalid reference");
	expect_fail("x/blobs/", 400, "TAG_INVALID", "invalid reference");
	expect_fail("a/b/referrers/", 400, "TAG_INVALID", "invalid reference");
	/* The name is judged first. */
	expect_fail("X/manifests/", 400, "NAME_INVALID",
	    "invalid repository name");
}

static void
test_apipath_name_max(void **state)
{
	char		name[REFERENCE_NAME_MAX + 2];
	char		path[REFERENCE_NAME_MAX + 1 + 128];
	struct apipath	ap;

	(void)state;
	/* One component of exactly REFERENCE_NAME_MAX. */
	repeat(name, 'a', REFERENCE_NAME_MAX);
	snprintf(path, sizeof path, "%s/manifests/v1", name);
	expect_ok(path, APIPATH_MANIFEST, name, "v1");
	snprintf(path, sizeof path, "%s/tags/list", name);
	expect_ok(path, APIPATH_TAGS, name, "");

	/* Nested, still exactly REFERENCE_NAME_MAX. */
	repeat(name, 'b', REFERENCE_NAME_MAX);
	name[1] = '/';
	name[100] = '/';
	snprintf(path, sizeof path, "%s/blobs/" DIGEST, name);
	assert_true(strlen(path) <= APIPATH_MAX);
	assert_int_equal(apipath_parse(path, &ap), 0);
	assert_int_equal(ap.kind, APIPATH_BLOB);
	assert_string_equal(ap.repo, name);
	assert_int_equal(strlen(ap.repo), REFERENCE_NAME_MAX);

	/* One over: refused, not truncated into a valid shorter name. */
	repeat(name, 'a', REFERENCE_NAME_MAX + 1);
	snprintf(path, sizeof path, "%s/manifests/v1", name);
	expect_fail(path, 400, "NAME_INVALID", "invalid repository name");
	snprintf(path, sizeof path, "%s/blobs/uploads/", name);
	expect_fail(path, 400, "NAME_INVALID", "invalid repository name");
	snprintf(path, sizeof path, "%s/tags/list", name);
	expect_fail(path, 400, "NAME_INVALID", "invalid repository name");
}

static void
test_apipath_ref_max(void **state)
{
	struct apipath	ap;
	char		ref[sizeof ap.ref + 1];
	char		path[sizeof ap.ref + 64];

	(void)state;
	/* sizeof ap.ref - 1 bytes fit, with the NUL. */
	assert_int_equal(sizeof ap.ref,
	    REFERENCE_TAG_MAX + DIGEST_STRING_LEN + 1);
	repeat(ref, 'r', sizeof ap.ref - 1);
	snprintf(path, sizeof path, "a/manifests/%s", ref);
	expect_ok(path, APIPATH_MANIFEST, "a", ref);

	/* One more: refused, not truncated. */
	repeat(ref, 'r', sizeof ap.ref);
	snprintf(path, sizeof path, "a/manifests/%s", ref);
	expect_fail(path, 400, "TAG_INVALID", "invalid reference");
	snprintf(path, sizeof path, "a/blobs/%s", ref);
	expect_fail(path, 400, "TAG_INVALID", "invalid reference");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apipath_manifests),
		cmocka_unit_test(test_apipath_blobs_and_referrers),
		cmocka_unit_test(test_apipath_tags),
		cmocka_unit_test(test_apipath_uploads),
		cmocka_unit_test(test_apipath_nested_names),
		cmocka_unit_test(test_apipath_malformed),
		cmocka_unit_test(test_apipath_unknown_kind),
		cmocka_unit_test(test_apipath_invalid_name),
		cmocka_unit_test(test_apipath_empty_ref),
		cmocka_unit_test(test_apipath_name_max),
		cmocka_unit_test(test_apipath_ref_max),
	};

	return cmocka_run_group_tests_name("apipath", tests, NULL, NULL);
}
