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
"Prints the digest and media type IMAGE ([ENTRY/]name[:tag][@digest])\n"
"resolves to, and where it came from: cache, upstream, or stale (the\n"
"upstream failed and the cached tag was used). Without --registry the\n"
"entry is the one a client's pull would reach (an entry's name or id, a\n"
"namespace an entry claims, else the parent or the default); --json says\n"
"which rule chose it. Asks the daemon on the listen address; with no\n"
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

struct cmd_resolve_flags {
	const char	*which;
	int		 json;
};

static int
cmd_resolve_option(int ch, const char *arg, void *p, char **cause)
{
	struct cmd_resolve_flags	*f = p;

	if (ch == 'r')
		f->which = arg;
	else if (ch == 'j')
		f->json = 1;
	else
		return -1;
	return 0;
}

int
cmd_resolve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "registry", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_resolve_flags	 f = { NULL, 0 };
	const struct command		 cmd = { "pullgate resolve",
	    cmd_resolve_usage, COMMAND_CONFIG | COMMAND_LISTEN, longopts, NULL,
	    cmd_resolve_option, &f, 1, 1 };
	struct cmd_resolve_answer	 a;
	struct reference		 ref;
	struct registry			*r;
	struct config			 c;
	const char			*which, *image, *rule;
	enum registry_rule		 how;
	size_t				 strip;
	char				*cause = NULL;
	json_t				*o;
	int				 rc, first;

	if ((first = command_begin(&cmd, argc, argv, &c, &rc)) == -1)
		return rc;
	rc = 1;
	which = f.which;
	image = argv[first];
	if (which != NULL) {
		rule = "flag";
		r = registry_lookup(&c.registries, which);
		if (r == NULL) {
			fprintf(stderr, "pullgate resolve: no registry '%s'\n", which);
			goto out;
		}
	} else {
		/* The entry a client's pull of IMAGE would reach, and why. */
		r = registry_route(&c.registries, image, &strip, &how);
		rule = registry_rule_name(how);
		image += strip;
	}
	if (reference_parse(image, &ref, &cause) != 0) {
		fprintf(stderr, "pullgate resolve: %s\n", cause);
		free(cause);
		rc = 2;
		goto out;
	}
	if (r->is_parent && registry_parent_key(NULL, ref.name, ref.name,
	    sizeof ref.name, &cause) != 0) {
		fprintf(stderr, "pullgate resolve: %s\n", cause);
		free(cause);
		goto out;
	}
	if (registry_upstream_name(r, ref.name, ref.name, sizeof ref.name) != 0) {
		fprintf(stderr, "pullgate resolve: name too long\n");
		goto out;
	}
	memset(&a, 0, sizeof a);
	if (cmd_resolve_daemon(&c, r->name, &ref, &a) != 0)
		cmd_resolve_cache(&c, r, &ref, &a);
	if (a.error[0] != '\0' || a.digest[0] == '\0') {
		fprintf(stderr, "pullgate resolve: %s: %s\n", argv[first],
		    a.error[0] != '\0' ? a.error : "no digest in the answer");
		goto out;
	}
	if (f.json) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "image",
		    argv[first], "registry", r->name, "rule", rule,
		    "digest", a.digest, "mediaType", a.type,
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
