/*
 * pullgate resolve: what an image reference resolves to, and from where.
 * It asks the running daemon (so the answer is exactly what a client
 * would get, online or offline); when no daemon answers, it reads the
 * cache directory itself.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static void
cmd_resolve_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate resolve [-c FILE] [--registry local|remote|NAME|ID]\n"
"                        [--listen HOST:PORT] [--json] IMAGE\n"
"\n"
"Prints the digest and media type IMAGE (name[:tag][@digest]) resolves to,\n"
"and where it came from: cache, upstream, or stale (the upstream failed and\n"
"the cached tag was used). Asks the daemon on the listen address; with no\n"
"daemon running, reads the cache directory. Works with the uplink down.\n");
}

struct cmd_resolve_answer {
	char	digest[DIGEST_STRING_LEN + 1];
	char	type[128];
	char	source[16];
	char	error[1600];
};

/* Asks the daemon; -1 when none answers, else 0 (a->error set on failure). */
static int
cmd_resolve_daemon(const struct config *c, const char *entry,
    const struct reference *ref, struct cmd_resolve_answer *a)
{
	struct daemon_client		 dc;
	struct daemon_client_reply	 r;
	char				 path[1024], dstr[DIGEST_STRING_LEN + 1];
	char				*cause = NULL;
	int				 rc = 0;

	if (ref->has_digest)
		digest_format(&ref->digest, dstr, sizeof dstr);
	snprintf(path, sizeof path, "/v2/%s/%s/manifests/%s", entry, ref->name,
	    ref->has_digest ? dstr : ref->tag);
	if (daemon_client_init(&dc, c->listen_host, c->listen_port) != 0)
		return -1;
	dc.timeout = (long)c->connect_timeout + 60;
	if (daemon_client_get(&dc, path, 0, &r, &cause) != 0) {
		if (r.no_daemon)
			rc = -1;
		else if (r.status == 0)
			snprintf(a->error, sizeof a->error, "the daemon at %s: %s",
			    dc.base, cause);
		else
			snprintf(a->error, sizeof a->error, "%s", r.message[0] !=
			    '\0' ? r.message : "the daemon refused");
	}
	util_strlcpy(a->digest, r.digest, sizeof a->digest);
	util_strlcpy(a->type, r.type, sizeof a->type);
	util_strlcpy(a->source, r.source, sizeof a->source);
	daemon_client_reply_free(&r);
	free(cause);
	return rc;
}

/* No daemon: the cache directory alone. */
static void
cmd_resolve_cache(const struct config *c, const struct registry *r,
    const struct reference *ref, struct cmd_resolve_answer *a)
{
	struct cache		 cache;
	struct tagindex_entry	 e;

	util_strlcpy(cache.dir, c->cache_dir, sizeof cache.dir);
	util_strlcpy(a->source, "cache", sizeof a->source);
	if (ref->has_digest) {
		if (cache_blob_exists(&cache, &ref->digest) &&
		    cache_manifest_type_get(&cache, &ref->digest, a->type,
		    sizeof a->type) == 0) {
			digest_format(&ref->digest, a->digest, sizeof a->digest);
			return;
		}
	} else if (registry_resolve_tag(&c->registries, &cache, r, ref->name,
	    ref->tag, &e) == 0) {
		digest_format(&e.digest, a->digest, sizeof a->digest);
		util_strlcpy(a->type, e.media_type, sizeof a->type);
		return;
	}
	snprintf(a->error, sizeof a->error, "not in the cache of %s (and no "
	    "daemon answers on %s:%d)", c->cache_dir, c->listen_host,
	    c->listen_port);
}

int
cmd_resolve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "registry", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_resolve_answer	 a;
	struct reference		 ref;
	struct registry			*r;
	struct config			 c;
	const char			*file = NULL, *which = NULL, *listen = NULL;
	char				*cause = NULL;
	json_t				*o;
	int				 ch, json = 0, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': file = optarg; break;
		case 'r': which = optarg; break;
		case 'l': listen = optarg; break;
		case 'j': json = 1; break;
		case 'h': cmd_resolve_usage(stdout); return 0;
		default: cmd_resolve_usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		cmd_resolve_usage(stderr);
		return 2;
	}
	if (reference_parse(argv[optind], &ref, &cause) != 0) {
		fprintf(stderr, "pullgate resolve: %s\n", cause);
		free(cause);
		return 2;
	}
	if (config_read_all(&c, file, &cause) != 0) {
		fprintf(stderr, "pullgate resolve: %s\n", cause);
		free(cause);
		return 1;
	}
	if (listen != NULL && config_parse_listen(listen, c.listen_host,
	    sizeof c.listen_host, &c.listen_port) != 0) {
		fprintf(stderr, "pullgate resolve: --listen must be HOST:PORT\n");
		goto out;
	}
	r = registry_default(&c.registries);
	if (which != NULL) {
		r = registry_lookup(&c.registries, which);
		if (r == NULL) {
			fprintf(stderr, "pullgate resolve: no registry '%s'\n", which);
			goto out;
		}
	}
	if (registry_upstream_name(r, ref.name, ref.name, sizeof ref.name) != 0) {
		fprintf(stderr, "pullgate resolve: name too long\n");
		goto out;
	}
	memset(&a, 0, sizeof a);
	if (cmd_resolve_daemon(&c, r->name, &ref, &a) != 0)
		cmd_resolve_cache(&c, r, &ref, &a);
	if (a.error[0] != '\0' || a.digest[0] == '\0') {
		fprintf(stderr, "pullgate resolve: %s: %s\n", argv[optind],
		    a.error[0] != '\0' ? a.error : "no digest in the answer");
		goto out;
	}
	if (json) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "image", argv[optind],
		    "registry", r->name, "digest", a.digest, "mediaType", a.type,
		    "source", a.source[0] != '\0' ? a.source : "upstream");
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(o);
	} else
		printf("%s %s %s\n", a.digest, a.type,
		    a.source[0] != '\0' ? a.source : "upstream");
	rc = 0;
out:
	config_free(&c);
	return rc;
}
