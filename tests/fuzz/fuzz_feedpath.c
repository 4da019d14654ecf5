/*
 * Fuzz target: a feed request as the daemon takes it apart — an
 * absolute-form proxy request (its host and path matched against the
 * feeds' URLs, feed.c) or /feeds/<name>/<path> — and the path inside the
 * feed (feedstore.c): a path accepted stays under the feed's directory
 * and comes back out of the file's place unchanged.
 */
#include <limits.h>
#include <strings.h>

#include <event2/http.h>

#include "fuzz.h"
#include "proxy.h"

static struct config	config;
static struct proxy	proxy;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	path[512], text[1024], *cause = NULL;
	int	n;

	snprintf(path, sizeof path, "%s/pullgate.conf", fuzz_dir());
	n = snprintf(text, sizeof text,
	    "cache_dir = \"%s/cache\";\n"
	    "registries_file = \"%s/none.conf\";\n"
	    "feeds = (\n"
	    "  { name = \"debian\"; url = \"http://deb.debian.org/debian\"; },\n"
	    "  { name = \"security\"; url = \"http://deb.debian.org/debian-security/\"; },\n"
	    "  { name = \"openwrt\"; url = \"http://downloads.openwrt.org:8080/releases/23.05.0/packages\"; }\n"
	    ");\n", fuzz_dir(), fuzz_dir());
	fuzz_write_file(path, text, (size_t)n);
	if (config_read_all(&config, path, NULL, &cause) != 0 ||
	    cache_open(&proxy.cache, config.cache_dir, 0, &cause) != 0) {
		fprintf(stderr, "fuzz_feedpath: %s\n", cause);
		abort();
	}
	proxy.config = &config;
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

static void
fuzz_rel(struct registry *f, const char *rel)
{
	char		 root[PATH_MAX], data[PATH_MAX], meta[PATH_MAX];
	char		 feed[256], back[PATH_MAX], dstr[80];
	const char	*p, *hash;
	struct digest	 d;

	if (!feedstore_valid_path(rel))
		return;
	FUZZ_CHECK(rel[0] != '/' && strlen(rel) <= 1024);
	for (p = rel; p != NULL; p = strchr(p, '/')) {
		p += (*p == '/');
		FUZZ_CHECK(strncmp(p, "../", 3) != 0 && strcmp(p, "..") != 0 &&
		    strncmp(p, "./", 2) != 0 && strcmp(p, ".") != 0);
	}
	(void)feedindex_is_packages(rel);
	if (feedstore_root(&proxy.cache, f->name, root, sizeof root) != 0 ||
	    feedstore_path(root, "data", rel, data, sizeof data) != 0 ||
	    feedstore_path(root, "meta", rel, meta, sizeof meta) != 0)
		return;
	FUZZ_CHECK(strncmp(data, root, strlen(root)) == 0);
	FUZZ_CHECK(feedstore_split(&proxy.cache, data, feed, sizeof feed, back,
	    sizeof back) == 0);
	FUZZ_CHECK(strcmp(feed, f->name) == 0 && strcmp(back, rel) == 0);
	/* by-hash names its own digest, as feed.c reads it. */
	if ((hash = strstr(rel, "by-hash/SHA256/")) != NULL) {
		snprintf(dstr, sizeof dstr, "sha256:%.64s", hash + 15);
		if (strlen(hash + 15) == DIGEST_HEX_LEN)
			(void)digest_parse(dstr, &d);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evhttp_uri	*uri;
	struct registry		*f = NULL;
	const char		*path, *scheme, *rel = NULL;
	char			*s = fuzz_cstr(data, size), *decoded = NULL, *slash;
	char			 hostport[300];
	size_t			 len;
	int			 port;

	if ((uri = evhttp_uri_parse_with_flags(s, EVHTTP_URI_NONCONFORMANT)) == NULL ||
	    (path = evhttp_uri_get_path(uri)) == NULL)
		goto out;
	if (evhttp_uri_get_host(uri) != NULL) {
		/* server.c's proxy request */
		port = evhttp_uri_get_port(uri);
		scheme = evhttp_uri_get_scheme(uri);
		if (port > 0 && port != 80)
			snprintf(hostport, sizeof hostport, "%s:%d",
			    evhttp_uri_get_host(uri), port);
		else
			snprintf(hostport, sizeof hostport, "%s",
			    evhttp_uri_get_host(uri));
		if (scheme != NULL && strcasecmp(scheme, "http") == 0 &&
		    (decoded = evhttp_uridecode(path, 0, &len)) != NULL &&
		    strlen(decoded) == len &&
		    (f = feed_for_url(&proxy, hostport, decoded, &rel)) != NULL)
			fuzz_rel(f, rel);
	} else if (strncmp(path, "/feeds/", 7) == 0) {
		/* server.c's /feeds/<name>/<path> */
		if ((decoded = evhttp_uridecode(path + 7, 0, &len)) != NULL &&
		    strlen(decoded) == len &&
		    (slash = strchr(decoded, '/')) != NULL) {
			*slash = '\0';
			if ((f = registry_find_name(&config.feeds, decoded)) != NULL)
				fuzz_rel(f, slash + 1);
		}
	}
out:
	if (uri != NULL)
		evhttp_uri_free(uri);
	free(decoded);
	free(s);
	return 0;
}
