/*
 * Fuzz target: a /v2/ request target as the daemon takes it apart — the
 * URI as evhttp parses it, the path percent-decoded (apipath.c), the
 * query's ns= routed over the registry table (and the name a child
 * caches it under for its parent), the entry's name for the
 * repository, the reference checked (references.c, digest.c), and
 * tags/list's n and last. A path accepted names a safe repository.
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fuzz.h"
#include "config.h"

static struct registry_table	table;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct registry	*r;
	char		*cause = NULL;

	if (registry_table_init(&table, "https://registry-1.docker.io", &cause) != 0 ||
	    (r = registry_table_add(&table, 3, "acme",
	    "https://registry.acme.example:5000", &cause)) == NULL)
		abort();
	util_strlcpy(r->mirror_of[0], "ghcr.io", sizeof r->mirror_of[0]);
	r->nmirror_of = 1;
	return 0;
}

/*
 * What a child with a parent would cache a request under: a safe name,
 * which gives back the path and the ns= it was made of.
 */
static void
fuzz_parent(const char *ns, const char *repo)
{
	char	key[REFERENCE_NAME_MAX + 1], path[REFERENCE_NAME_MAX + 1];
	char	host[256], *cause = NULL;

	if (registry_parent_key(ns, repo, key, sizeof key, &cause) != 0) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		return;
	}
	FUZZ_CHECK(reference_valid_name(key));
	FUZZ_CHECK(registry_parent_path(key, path, sizeof path, host,
	    sizeof host) == 0);
	FUZZ_CHECK(strcmp(path, repo) == 0 && host[0] != '\0');
	FUZZ_CHECK(strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-:") ==
	    strlen(host));
}

static void
fuzz_query(const char *query, struct apipath *ap)
{
	struct evkeyvalq	 params;
	struct registry		*r = NULL;
	const char		*ns, *v;
	long			 n;

	TAILQ_INIT(&params);
	if (query != NULL && evhttp_parse_query_str(query, &params) == 0 &&
	    (ns = evhttp_find_header(&params, "ns")) != NULL) {
		if ((r = registry_route_ns(&table, ns)) != NULL)
			FUZZ_CHECK(!r->is_local);
		fuzz_parent(ns, ap->repo);
	}
	if (ap->kind == APIPATH_TAGS) {
		if ((v = evhttp_find_header(&params, "n")) != NULL &&
		    util_parse_long(v, 0, 100000, &n) == 0)
			FUZZ_CHECK(n >= 0 && n <= 100000);
		if ((v = evhttp_find_header(&params, "last")) != NULL)
			(void)reference_valid_tag(v);
	}
	evhttp_clear_headers(&params);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evhttp_uri	*uri;
	struct apipath		 ap;
	struct registry		*r = NULL;
	struct digest		 d;
	const char		*path;
	char			*s = fuzz_cstr(data, size), *decoded = NULL, *slash;
	size_t			 len;

	if ((uri = evhttp_uri_parse_with_flags(s, EVHTTP_URI_NONCONFORMANT)) == NULL ||
	    (path = evhttp_uri_get_path(uri)) == NULL || strncmp(path, "/v2/", 4) != 0)
		goto out;
	if ((decoded = evhttp_uridecode(path + 4, 0, &len)) == NULL ||
	    strlen(decoded) != len || len == 0)
		goto out;
	if (apipath_parse(decoded, &ap) != 0) {
		FUZZ_CHECK(ap.status >= 400 && ap.code != NULL && ap.message != NULL);
		goto out;
	}
	FUZZ_CHECK(reference_valid_name(ap.repo));
	fuzz_query(evhttp_uri_get_query(uri), &ap);
	/* A first component naming an entry routes to it. */
	if ((slash = strchr(ap.repo, '/')) != NULL) {
		*slash = '\0';
		r = registry_lookup(&table, ap.repo);
		*slash = '/';
		if (r != NULL)
			memmove(ap.repo, slash + 1, strlen(slash + 1) + 1);
	}
	if (r == NULL)
		r = registry_default(&table);
	if (registry_upstream_name(r, ap.repo, ap.repo, sizeof ap.repo) != 0 ||
	    !reference_valid_name(ap.repo))
		goto out;
	FUZZ_CHECK(ap.repo[0] != '/' && strstr(ap.repo, "..") == NULL);
	if (ap.kind == APIPATH_MANIFEST && digest_parse(ap.ref, &d) != 0)
		(void)reference_valid_tag(ap.ref);
	else if (ap.kind == APIPATH_BLOB || ap.kind == APIPATH_REFERRERS)
		(void)digest_parse(ap.ref, &d);
out:
	if (uri != NULL)
		evhttp_uri_free(uri);
	free(decoded);
	free(s);
	return 0;
}
