/*
 * pullgate status: the running daemon's state, asked over its control
 * socket (never the TCP listener): a summary for people, or the daemon's
 * JSON with --json.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define CMD_STATUS_MAX_BODY	(4 * 1024 * 1024)

static void
cmd_status_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate status [-c FILE] [--cache DIR] [--json]\n"
"\n"
"Prints the running daemon's state: version, uptime, listen address,\n"
"each registry entry and feed with its circuit breaker, last success and\n"
"last error and certificate expiry, the cache against its budget, and the\n"
"downloads in flight. Asks over the control socket (control_socket, by\n"
"default control.sock in the cache directory), which only the daemon's\n"
"user can open. Exits 1 when no daemon answers.\n");
}

static const char *
cmd_status_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static void
cmd_status_bytes(json_int_t n, char *buf, size_t len)
{
	static const char	*units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double			 v = (double)n;
	int			 u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static void
cmd_status_entries(json_t *list, const char *what)
{
	json_t		*e, *cert;
	size_t		 i;

	json_array_foreach(list, i, e) {
		printf("  %s %-4lld %-12s %s\n", what,
		    (long long)json_integer_value(json_object_get(e, "id")),
		    cmd_status_str(e, "name"),
		    json_is_true(json_object_get(e, "local")) ? "(the cache)" :
		    cmd_status_str(e, "url"));
		if (json_is_true(json_object_get(e, "local")))
			continue;
		printf("       breaker %s, last success %s", cmd_status_str(e,
		    "breaker"), cmd_status_str(e, "last_success"));
		if (json_is_string(json_object_get(e, "last_error")))
			printf(", last error %s: %s", cmd_status_str(e,
			    "last_failure"), cmd_status_str(e, "last_error"));
		printf("\n");
		if ((cert = json_object_get(e, "certificate")) != NULL)
			printf("       certificate %s, expires %s (%lld days)%s%s\n",
			    cmd_status_str(cert, "subject"),
			    cmd_status_str(cert, "not_after"), (long long)
			    json_integer_value(json_object_get(cert, "days_left")),
			    json_is_true(json_object_get(cert, "usable")) ? "" :
			    ": NOT USABLE: ", json_is_true(json_object_get(cert,
			    "usable")) ? "" : cmd_status_str(cert, "problem"));
	}
}

static void
cmd_status_print(json_t *s)
{
	json_t		*cache = json_object_get(s, "cache"), *t;
	json_int_t	 max = json_integer_value(json_object_get(cache, "max_bytes"));
	char		 a[32], b[32], c[32];
	size_t		 i;

	printf("pullgate %s (%s), pid %lld, up %lld s, listening on %s%s\n",
	    cmd_status_str(s, "version"), cmd_status_str(s, "crypto"),
	    (long long)json_integer_value(json_object_get(s, "pid")),
	    (long long)json_integer_value(json_object_get(s, "uptime_seconds")),
	    cmd_status_str(s, "listen"),
	    json_is_true(json_object_get(s, "offline")) ? " (offline)" : "");
	cmd_status_bytes(json_integer_value(json_object_get(cache, "bytes")),
	    a, sizeof a);
	cmd_status_bytes(max, b, sizeof b);
	cmd_status_bytes(json_integer_value(json_object_get(cache,
	    "pinned_bytes")), c, sizeof c);
	printf("cache %s: %s of %s, %s pinned, %lld files\n",
	    cmd_status_str(cache, "dir"), a, max > 0 ? b : "no budget", c,
	    (long long)json_integer_value(json_object_get(cache, "files")));
	printf("default registry: %s\n", cmd_status_str(s, "default_registry"));
	cmd_status_entries(json_object_get(s, "registries"), "registry");
	cmd_status_entries(json_object_get(s, "feeds"), "feed    ");
	printf("downloads in flight: %zu\n",
	    json_array_size(json_object_get(s, "transfers")));
	json_array_foreach(json_object_get(s, "transfers"), i, t) {
		cmd_status_bytes(json_integer_value(json_object_get(t,
		    "received")), a, sizeof a);
		if (json_integer_value(json_object_get(t, "length")) >= 0)
			cmd_status_bytes(json_integer_value(json_object_get(t,
			    "length")), b, sizeof b);
		else
			snprintf(b, sizeof b, "?");
		printf("  %s: %s of %s\n", cmd_status_str(t, "what"), a, b);
	}
}

static int
cmd_status_option(int ch, const char *arg, void *p, char **cause)
{
	(void)arg;
	(void)cause;
	if (ch != 'j')
		return -1;
	*(int *)p = 1;
	return 0;
}

int
cmd_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int				 json = 0;
	const struct command		 cmd = { "pullgate status",
	    cmd_status_usage, COMMAND_CONFIG | COMMAND_CACHE, longopts, NULL,
	    cmd_status_option, &json, 0, 0 };
	struct daemon_client		 dc;
	struct daemon_client_reply	 r;
	struct config			 c;
	json_error_t			 err;
	json_t				*s;
	char				*cause = NULL;
	int				 rc;

	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	rc = 1;
	if (daemon_client_init_control(&dc, &c) != 0) {
		fprintf(stderr, "pullgate status: control socket path too long\n");
		goto out;
	}
	dc.timeout = 10;
	if (daemon_client_get(&dc, "/status", CMD_STATUS_MAX_BODY, &r,
	    &cause) != 0) {
		fprintf(stderr, "pullgate status: %s\n", cause);
		free(cause);
		daemon_client_reply_free(&r);
		goto out;
	}
	if ((s = json_loadb(r.body, r.len, 0, &err)) == NULL) {
		fprintf(stderr, "pullgate status: the daemon's answer is not "
		    "JSON: %s\n", err.text);
		daemon_client_reply_free(&r);
		goto out;
	}
	daemon_client_reply_free(&r);
	if (json)
		json_dumpf(s, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	else
		cmd_status_print(s);
	if (json)
		fputc('\n', stdout);
	json_decref(s);
	rc = 0;
out:
	config_free(&c);
	return rc;
}
