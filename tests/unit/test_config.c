/*
 * Unit tests: the configuration file's key table — every type refuses a
 * bad value with a cause naming the line and the key, bounds are
 * enforced, good values land in their fields, and the shipped
 * etc/pullgate.conf (its commented examples too) loads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char	dir[] = "/tmp/pullgate-unit-config.XXXXXX";
static char	file[256], registries[256];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(file, sizeof file, "%s/pullgate.conf", dir);
	snprintf(registries, sizeof registries, "%s/registries.conf", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return util_rmtree(dir);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * Loads text as the config file over the defaults, with the test's own
 * registries file (absent unless a test writes it); its cause, or NULL.
 */
static char *
load(struct config *c, const char *text)
{
	char	*cause = NULL;

	write_file(file, text);
	if (config_read_all(c, file, registries, &cause) == 0) {
		assert_null(cause);
		return NULL;
	}
	assert_non_null(cause);
	return cause;
}

/* The text is refused, with a cause that contains want. */
static void
refused(const char *text, const char *want)
{
	struct config	 c;
	char		*cause;

	cause = load(&c, text);
	if (cause == NULL || strstr(cause, want) == NULL) {
		print_error("config: %s\nwanted: ...%s...\ngot: %s\n", text, want,
		    cause != NULL ? cause : "(accepted)");
		fail();
	}
	/* The cause names the file. */
	assert_true(strstr(cause, file) != NULL ||
	    strstr(cause, registries) != NULL);
	free(cause);
	config_free(&c);
}

static void
test_bad_value_of_each_type(void **state)
{
	char	text[2048], path[1200];

	(void)state;
	/* Integers. */
	refused("tag_ttl = \"soon\";\n", "line 1: 'tag_ttl' must be an integer");
	refused("\nclient: { timeout = 1.5; };\n",
	    "line 2: 'timeout' must be an integer");
	/* Booleans. */
	refused("offline = 1;\n", "line 1: 'offline' must be true or false");
	/* Strings and paths. */
	refused("cache_dir = \"var/lib/pullgate\";\n",
	    "line 1: 'cache_dir' must be an absolute path");
	refused("registries_file = 7;\n",
	    "line 1: 'registries_file' must be an absolute path");
	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	snprintf(text, sizeof text, "device: { cert = \"%s\"; };\n", path);
	refused(text, "line 1: 'cert' is too long (at most 1023 bytes)");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " username = 5; } );\n", "line 1: 'username' must be a string");
	/* Host lists. */
	refused("server_names = \"localhost\";\n",
	    "'server_names' must be a list of at most 8 host[:port] strings");
	refused("server_names = [ \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\","
	    " \"h\", \"i\" ];\n", "'server_names' must be a list of at most 8");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " token_hosts = [ 1 ]; } );\n", "'token_hosts' must be a list");
	/* Groups. */
	refused("client = 5;\n", "line 1: 'client' must be a group");
	/* Keys read by their own code. */
	refused("listen = \"8080\";\n", "line 1: 'listen' must be HOST:PORT");
	refused("listen = 8080;\n", "line 1: 'listen' must be a string");
	refused("log_level = \"loud\";\n", "'log_level' must be error, warn, "
	    "info or debug");
	refused("default_registry = \"nowhere\";\n",
	    "'default_registry' names no registry: nowhere");
	refused("upstream = \"ftp://x\";\n", "http:// or https://");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " auth = \"magic\"; } );\n", "unknown auth scheme 'magic'");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " auth = 4; } );\n", "'auth' must be a string or a list of strings");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " immutable_tags = \"(\"; } );\n", "not a valid extended regular");
	refused("registries = 3;\n", "'registries' must be a list");
	refused("registries = ( { id = \"3\"; name = \"a\"; url = \"https://a\"; } );\n",
	    "'id' must be an integer between 1 and 9999");
	refused("registries = ( { id = 3; name = \"a\"; } );\n",
	    "a registry entry needs id, name and url");
}

static void
test_bounds(void **state)
{
	struct config	 c;

	(void)state;
	refused("tag_ttl = -1;\n",
	    "'tag_ttl' must be between 0 and 31536000 (seconds)");
	refused("breaker_seconds = 3601;\n",
	    "'breaker_seconds' must be between 0 and 3600");
	refused("cache_max_bytes = -1;\n",
	    "'cache_max_bytes' must be between 0 and 9223372036854775807");
	refused("client: { max_header_bytes = 1023; };\n",
	    "'max_header_bytes' must be between 1024 and 1048576 (bytes)");
	refused("client: { max_body_bytes = 1048577; };\n",
	    "'max_body_bytes' must be between 0 and 1048576");
	refused("upstream_transfer: { connect_timeout = 0; };\n",
	    "'connect_timeout' must be between 1 and 600 (seconds)");
	refused("upstream_transfer: { low_speed_limit = 2000000000; };\n",
	    "'low_speed_limit' must be between 1 and 1073741824");
	refused("upstream_transfer: { manifest_max_bytes = 67108865; };\n",
	    "'manifest_max_bytes' must be between 4096 and 67108864");
	refused("device: { expiry_warning_days = 3651; };\n",
	    "'expiry_warning_days' must be between 0 and 3650 (days)");
	refused("feed_ttl = 31536001;\n", "'feed_ttl' must be between 0 and");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " tag_ttl = -1; } );\n", "'tag_ttl' must be between 0 and 31536000");
	refused("registries = ( { id = 10000; name = \"a\"; url = \"https://a\"; } );\n",
	    "'id' must be an integer between 1 and 9999");

	/* The bounds themselves are accepted, into fields of every width. */
	assert_null(load(&c, "tag_ttl = 31536000; breaker_seconds = 0;\n"
	    "cache_max_bytes = 10000000000L;\n"
	    "client: { max_header_bytes = 1024; max_body_bytes = 0; };\n"
	    "upstream_transfer: { low_speed_limit = 1073741824;"
	    " manifest_max_bytes = 67108864; };\n"));
	assert_int_equal(c.tag_ttl, 31536000);
	assert_int_equal(c.breaker_seconds, 0);
	assert_true(c.cache_max_bytes == 10000000000LL);
	assert_int_equal(c.max_header_bytes, 1024);
	assert_int_equal(c.max_body_bytes, 0);
	assert_int_equal(c.low_speed_limit, 1073741824L);
	assert_int_equal(c.manifest_max_bytes, 67108864);
	/* What the file does not name keeps its default. */
	assert_int_equal(c.client_timeout, 120);
	assert_int_equal(c.connect_timeout, 10);
	config_free(&c);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	refused("lisen = \"127.0.0.1:1\";\n", "line 1: unknown key 'lisen'");
	refused("client: {\n  tmeout = 1;\n};\n",
	    "line 2: unknown key 'tmeout' in 'client'");
	refused("registries = ( { id = 3; name = \"a\"; url = \"https://a.example\";"
	    " tagttl = 1; } );\n", "unknown key 'tagttl' in a registry entry");
	/* A feed takes the authentication keys, not a registry's own. */
	refused("feeds = ( { name = \"d\"; url = \"http://d.example\";"
	    " token_hosts = [ \"x\" ]; } );\n",
	    "unknown key 'token_hosts' in a feed");
	refused("feeds = ( { id = 3; name = \"d\"; url = \"http://d.example\"; } );\n",
	    "unknown key 'id' in a feed");
	/* The registries file holds entries and nothing else. */
	write_file(registries, "feeds = ();\n");
	refused("", "line 1: unknown key 'feeds'");
	write_file(registries, "registries = ( { id = 3; name = \"x\"; "
	    "url = \"https://x.example\"; tag_ttl = \"1\"; } );\n");
	refused("", "'tag_ttl' must be an integer");
	assert_int_equal(unlink(registries), 0);
}

static void
test_values_land(void **state)
{
	struct config	 c;
	struct registry	*r;

	(void)state;
	assert_null(load(&c,
	    "listen = \"[::1]:9090\";\n"
	    "cache_dir = \"/srv/cache\";\n"
	    "log_level = \"debug\";\n"
	    "offline = true;\n"
	    "server_names = [ \"gw.example\", \"gw:8080\" ];\n"
	    "registries = ( { id = 7; name = \"acme\"; url = \"https://r.example\";"
	    "  auth = [ \"mtls\", \"token\" ]; username = \"KEY\";"
	    "  ca = \"/etc/ca.pem\"; token_hosts = [ \"auth.example\" ];"
	    "  mirror_of = [ \"m.example\" ]; tag_ttl = 60;"
	    "  immutable_tags = \"^v[0-9]+$\"; } );\n"
	    "feeds = ( { name = \"deb\"; url = \"http://deb.example/debian\";"
	    "  auth = \"basic\"; username = \"u\"; password_file = \"/p\"; } );\n"
	    "default_registry = \"acme\";\n"
	    "upstream = \"https://mirror.example\";\n"
	    "device: { cert = \"/d.crt\"; key = \"/d.key\"; };\n"));
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 9090);
	assert_string_equal(c.cache_dir, "/srv/cache");
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.offline, 1);
	assert_int_equal(c.nserver_names, 2);
	assert_string_equal(c.server_names[1], "gw:8080");
	assert_string_equal(c.device_cert, "/d.crt");
	assert_string_equal(c.device_key, "/d.key");
	assert_non_null(r = registry_find_name(&c.registries, "acme"));
	assert_int_equal(r->id, 7);
	assert_int_equal(r->auth, AUTH_MTLS | AUTH_TOKEN);
	assert_string_equal(r->username, "KEY");
	assert_string_equal(r->ca, "/etc/ca.pem");
	assert_int_equal(r->ntoken_hosts, 1);
	assert_string_equal(r->token_hosts[0], "auth.example");
	assert_int_equal(r->nmirror_of, 1);
	assert_int_equal(r->tag_ttl, 60);
	assert_true(registry_tag_immutable(r, "v12"));
	assert_false(registry_tag_immutable(r, "latest"));
	/* upstream comes after default_registry: it sets the new default. */
	assert_int_equal(c.registries.default_id, 7);
	assert_string_equal(r->url, "https://mirror.example");
	assert_non_null(r = registry_find_name(&c.feeds, "deb"));
	assert_int_equal(r->auth, AUTH_BASIC);
	assert_string_equal(r->password_file, "/p");
	/* An entry without tag_ttl follows the global one. */
	assert_int_equal(registry_find_name(&c.registries, "remote")->tag_ttl, -1);
	config_free(&c);
}

/*
 * etc/pullgate.conf, with its commented registries, feeds and device
 * examples uncommented, loads: every key it documents is accepted.
 */
static void
test_shipped_file(void **state)
{
	struct config	 c;
	FILE		*in, *out;
	char		 line[1024], *cause = NULL;
	int		 in_example = 0;

	(void)state;
	if ((in = fopen("etc/pullgate.conf", "r")) == NULL)
		skip();		/* not run from the top of the tree */
	assert_non_null(out = fopen(file, "w"));
	while (fgets(line, sizeof line, in) != NULL) {
		if (strncmp(line, "# registries = (", 16) == 0 ||
		    strncmp(line, "# feeds = (", 11) == 0 ||
		    strncmp(line, "# device: {", 11) == 0)
			in_example = 1;
		if (in_example) {
			fputs(line + 2, out);
			if (strncmp(line, "# );", 4) == 0 ||
			    strncmp(line, "# };", 4) == 0)
				in_example = 0;
		} else
			fputs(line, out);
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
	if (config_read_all(&c, file, registries, &cause) != 0)
		print_error("%s\n", cause);
	assert_null(cause);
	assert_non_null(registry_find_name(&c.registries, "acme"));
	assert_non_null(registry_find_name(&c.registries, "iot"));
	assert_non_null(registry_find_name(&c.feeds, "vendor"));
	assert_string_equal(c.device_cert, "/etc/pullgate/device.crt");
	assert_int_equal(c.cert_warn_days, 30);
	assert_int_equal(c.listen_port, 8080);
	assert_int_equal(c.manifest_max_bytes, 4194304);
	config_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_value_of_each_type),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_values_land),
		cmocka_unit_test(test_shipped_file),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
