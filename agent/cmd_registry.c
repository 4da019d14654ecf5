/*
 * pullgate registry list|add|rm: the numbered registry table. Entries
 * added here live in their own file (registries_file, by default
 * /etc/pullgate/registries.conf), so the operator's commented main file is
 * never rewritten. An edit is written to a temporary file, the whole
 * configuration is loaded with it (secrets included), and only if that
 * succeeds does it replace the file; then a running daemon is asked to
 * read it again.
 *
 * add takes the forms IoT platforms use (ioFog's): --url with or without
 * a scheme (https assumed), --name optional (made from the host), the
 * password on standard input (kept in a 0600 file in the secrets
 * directory beside the registries file, owned like that directory).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static void
cmd_registry_usage(FILE *f)
{
	fprintf(f,
"usage: pullgate registry list [-c FILE]\n"
"       pullgate registry add [-c FILE] --url [SCHEME://]HOST[/PATH] [--name NAME]\n"
"                [--id N] [--auth SCHEME[,SCHEME]] [--username USER]\n"
"                [--password-file FILE | --password-stdin] [--bearer-file FILE]\n"
"                [--cert FILE] [--key FILE] [--ca FILE] [--token-host HOST]...\n"
"       pullgate registry rm [-c FILE] NAME|ID\n"
"\n"
"list  prints the registry table as JSON (--json is accepted): for each\n"
"      entry whether it is the local cache, public, and uses a certificate;\n"
"      secrets never appear, only the files that hold them.\n"
"add   adds an entry (id: the next free one from 3 unless given; name:\n"
"      made from the URL's host unless given; a URL without a scheme is\n"
"      https). Schemes: none, basic, bearer, token, mtls; mtls combines\n"
"      with the others; a username or password makes basic the default.\n"
"      --password-stdin stores the password read from standard input (a\n"
"      JSON key file for username _json_key may have several lines) in\n"
"      secrets/NAME.password beside the registries file, mode 0600.\n"
"rm    removes an entry that 'add' created.\n"
"\n"
"Edits go to the registries file named in the configuration and are\n"
"refused, with the reason, if the configuration would not load with them.\n"
"A running daemon is asked to read it again at once (as 'pullgate\n"
"reload' does), and the outcome is printed.\n");
}

/* The edit is written: the running daemon takes it now, or says why not. */
static int
cmd_registry_apply(const struct config *c)
{
	char	*note = NULL, *cause = NULL;
	int	 rc = 0;

	switch (daemon_client_reload(c, &note, &cause)) {
	case 1:
		printf("applied to the running daemon\n");
		if (note != NULL)
			printf("note: %s\n", note);
		break;
	case 0:
		printf("no daemon is running: the change applies when it starts\n");
		break;
	default:
		fprintf(stderr, "pullgate registry: the running daemon refused "
		    "the new configuration (it keeps the one in force): %s\n",
		    cause);
		rc = 1;
	}
	free(note);
	free(cause);
	return rc;
}

static json_t *
cmd_registry_json(const struct registry_table *t, const struct registry *r)
{
	json_t	*o, *auth, *hosts;
	size_t	 i;
	unsigned bit;

	/* A child's default is its parent. */
	o = json_pack("{s:i, s:s, s:b, s:b, s:b, s:b}", "id", r->id,
	    "name", r->name, "default", registry_parent(t) != NULL ?
	    r->is_parent : r->id == t->default_id,
	    "local", r->is_local, "public", r->id == REGISTRY_ID_REMOTE,
	    "certificate", (r->auth & AUTH_MTLS) != 0);
	if (o == NULL || r->is_local)
		return o;
	json_object_set_new(o, "url", json_string(r->url));
	auth = json_array();
	for (bit = 1; bit <= AUTH_MTLS; bit <<= 1)
		if (r->auth & bit)
			json_array_append_new(auth, json_string(registry_auth_name(bit)));
	json_object_set_new(o, "auth", auth);
#define CMD_REGISTRY_FIELD(key, v) \
	if ((v)[0] != '\0') json_object_set_new(o, key, json_string(v))
	CMD_REGISTRY_FIELD("username", r->username);
	CMD_REGISTRY_FIELD("password_file", r->password_file);
	CMD_REGISTRY_FIELD("bearer_file", r->bearer_file);
	CMD_REGISTRY_FIELD("cert", r->cert);
	CMD_REGISTRY_FIELD("key", r->key);
	CMD_REGISTRY_FIELD("ca", r->ca);
	CMD_REGISTRY_FIELD("credential_helper", r->credential_helper);
	CMD_REGISTRY_FIELD("docker_config", r->docker_config);
#undef CMD_REGISTRY_FIELD
	if (r->ntoken_hosts > 0) {
		hosts = json_array();
		for (i = 0; i < r->ntoken_hosts; i++)
			json_array_append_new(hosts, json_string(r->token_hosts[i]));
		json_object_set_new(o, "token_hosts", hosts);
	}
	if (r->is_parent)
		json_object_set_new(o, "parent", json_true());
	json_object_set_new(o, "source", json_string(r->from_file ?
	    "registries_file" : "config"));
	return o;
}

/* --json: what list prints anyway. */
static int
cmd_registry_list_option(int ch, const char *arg, void *p, char **cause)
{
	(void)arg;
	(void)p;
	(void)cause;
	return ch == 'j' ? 0 : -1;
}

static int
cmd_registry_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	 cmd = { "pullgate registry", cmd_registry_usage,
	    COMMAND_CONFIG, longopts, NULL, cmd_registry_list_option, NULL, 0, 0 };
	struct config		 c;
	json_t			*list;
	size_t			 i;
	int			 rc;

	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	list = json_array();
	for (i = 0; i < c.registries.count; i++)
		json_array_append_new(list,
		    cmd_registry_json(&c.registries, &c.registries.entries[i]));
	json_dumpf(list, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(list);
	config_free(&c);
	return 0;
}

/*
 * Loads the whole configuration as the daemon would (file, or the default
 * file), with path as its registries file, and the secrets.
 */
static int
cmd_registry_validate(const char *file, const char *path, char **cause)
{
	struct config	c;
	int		rc;

	rc = config_read_all(&c, file, path, cause);
	if (rc == 0)
		rc = config_load_secrets(&c, cause);
	config_free(&c);
	return rc;
}

/* Writes cf next to path, validates, and renames it into place. */
static int
cmd_registry_commit(config_t *cf, const char *file, const char *path)
{
	char	 tmp[REGISTRY_PATH_MAX + 32], *cause = NULL;
	FILE	*f;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "pullgate registry: cannot write %s: %s\n", tmp,
		    strerror(errno));
		return 1;
	}
	fprintf(f, "# Registry entries managed by 'pullgate registry add|rm'.\n"
	    "# Edit with those commands; comments here are not kept.\n");
	config_write(cf, f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		fprintf(stderr, "pullgate registry: cannot write %s\n", tmp);
		unlink(tmp);
		return 1;
	}
	if (cmd_registry_validate(file, tmp, &cause) != 0) {
		fprintf(stderr, "pullgate registry: refused, the configuration "
		    "would not load: %s\n", cause);
		free(cause);
		unlink(tmp);
		return 1;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "pullgate registry: cannot replace %s: %s\n", path,
		    strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}

/* Reads the registries file (or starts an empty one) and its list. */
static int
cmd_registry_open(config_t *cf, const char *path, config_setting_t **list)
{
	config_setting_t	*root;

	config_init(cf);
	if (access(path, F_OK) == 0 && config_read_file(cf, path) != CONFIG_TRUE) {
		fprintf(stderr, "pullgate registry: %s:%d: %s\n", path,
		    config_error_line(cf), config_error_text(cf) != NULL ?
		    config_error_text(cf) : strerror(errno));
		config_destroy(cf);
		return -1;
	}
	root = config_root_setting(cf);
	if ((*list = config_setting_get_member(root, "registries")) == NULL)
		*list = config_setting_add(root, "registries", CONFIG_TYPE_LIST);
	if (*list == NULL || !config_setting_is_list(*list)) {
		fprintf(stderr, "pullgate registry: %s: 'registries' is not a list\n",
		    path);
		config_destroy(cf);
		return -1;
	}
	return 0;
}

static void
cmd_registry_set(config_setting_t *g, const char *key, const char *value)
{
	if (value != NULL)
		config_setting_set_string(config_setting_add(g, key,
		    CONFIG_TYPE_STRING), value);
}

/* --url as given, https:// in front when it names no scheme. */
static char *
cmd_registry_url(const char *url)
{
	return strstr(url, "://") != NULL ? util_printf("%s", url) :
	    util_printf("https://%s", url);
}

/*
 * A name for an entry added without --name: its URL's host (and port),
 * lowercase, other characters as '-'; "-ID" added when it is taken.
 */
static void
cmd_registry_name(struct registry_table *t, const char *url, long id,
    char *dst, size_t len)
{
	const char	*h = strstr(url, "://") + 3;
	size_t		 n = 0;

	for (; *h != '\0' && *h != '/' && n + 1 < len - 8; h++) {
		if (isalnum((unsigned char)*h) || *h == '.' || *h == '-')
			dst[n++] = (char)tolower((unsigned char)*h);
		else if (*h != '@')
			dst[n++] = '-';
	}
	dst[n] = '\0';
	if (n == 0 || registry_find_name(t, dst) != NULL ||
	    !isalpha((unsigned char)dst[0]))
		snprintf(dst + n, len - n, "%s%ld", n == 0 ? "r" : "-", id);
}

/*
 * --password-stdin: the password read from standard input (several lines
 * for a JSON key) into secrets/NAME.password beside the registries file,
 * mode 0600, owned like the secrets directory (the daemon's user, when
 * root runs this). Its path in dst.
 */
static int
cmd_registry_store_password(const char *registries_file, const char *name,
    char *dst, size_t len)
{
	char		 dir[REGISTRY_PATH_MAX], buf[8192 + 1];
	const char	*slash = strrchr(registries_file, '/');
	struct stat	 st;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, rc = -1;

	snprintf(dir, sizeof dir, "%.*s/secrets", slash != NULL ?
	    (int)(slash - registries_file) : 1, slash != NULL ?
	    registries_file : ".");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "pullgate registry add: cannot create %s: %s\n",
		    dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || snprintf(dst, len, "%s/%s.password", dir,
	    name) >= (int)len)
		return -1;
	while (n < sizeof buf - 1 && (r = read(STDIN_FILENO, buf + n,
	    sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0 || n == sizeof buf - 1) {
		fprintf(stderr, "pullgate registry add: --password-stdin: %s\n",
		    n == 0 ? "nothing on standard input" : "more than 8 KiB");
		explicit_bzero(buf, sizeof buf);
		return -1;
	}
	buf[n++] = '\n';
	if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1 || fchmod(fd, 0600) != 0 ||
	    (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) ||
	    write(fd, buf, n) != (ssize_t)n || fsync(fd) != 0)
		fprintf(stderr, "pullgate registry add: cannot write %s: %s\n",
		    dst, strerror(errno));
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	explicit_bzero(buf, sizeof buf);
	return rc;
}

/* The options of add. */
struct cmd_registry_flags {
	const char	*name, *url, *auth, *user, *pw, *bearer, *cert, *key, *ca;
	int		 pw_stdin;
	const char	*hosts[REGISTRY_TOKEN_HOSTS];
	size_t		 nhosts;
	long		 id;
};

static int
cmd_registry_option(int ch, const char *arg, void *p, char **cause)
{
	struct cmd_registry_flags	*f = p;

	switch (ch) {
	case 'i':
		if (util_parse_long(arg, 3, 9999, &f->id) != 0) {
			*cause = util_printf("--id must be 3..9999");
			return -1;
		}
		break;
	case 'n': f->name = arg; break;
	case 'u': f->url = arg; break;
	case 'a': f->auth = arg; break;
	case 'U': f->user = arg; break;
	case 'P': f->pw = arg; break;
	case 'S': f->pw_stdin = 1; break;
	case 'B': f->bearer = arg; break;
	case 'C': f->cert = arg; break;
	case 'K': f->key = arg; break;
	case 'A': f->ca = arg; break;
	case 'T':
		if (f->nhosts == REGISTRY_TOKEN_HOSTS) {
			*cause = util_printf("at most %d --token-host",
			    REGISTRY_TOKEN_HOSTS);
			return -1;
		}
		f->hosts[f->nhosts++] = arg;
		break;
	default:
		return -1;
	}
	return 0;
}

static int
cmd_registry_add(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "url", required_argument, NULL, 'u' },
		{ "auth", required_argument, NULL, 'a' },
		{ "username", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "password-stdin", no_argument, NULL, 'S' },
		{ "bearer-file", required_argument, NULL, 'B' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "token-host", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_registry_flags f;
	const struct command	 cmd = { "pullgate registry add",
	    cmd_registry_usage, COMMAND_CONFIG, longopts, NULL,
	    cmd_registry_option, &f, 0, 0 };
	const char		*file, *name, *url, *auth;
	char			*urlbuf, namebuf[REGISTRY_NAME_MAX];
	char			 pwpath[REGISTRY_PATH_MAX];
	struct config		 c;
	config_setting_t	*list, *g, *a, *h;
	config_t		 cf;
	char			*copy, *s, *next;
	long			 id;
	size_t			 i;
	int			 rc;

	memset(&f, 0, sizeof f);
	if (command_begin(&cmd, argc, argv, &c, &rc) == -1)
		return rc;
	if (f.url == NULL || (f.pw != NULL && f.pw_stdin)) {
		fprintf(stderr, "pullgate registry add: --url is required, and "
		    "--password-file and --password-stdin exclude each other\n");
		config_free(&c);
		return 2;
	}
	file = c.file[0] != '\0' ? c.file : NULL;
	id = f.id;
	if (id == 0)
		for (id = 3; registry_find_id(&c.registries, (int)id) != NULL; id++)
			;
	if ((url = urlbuf = cmd_registry_url(f.url)) == NULL) {
		config_free(&c);
		return 1;
	}
	name = f.name;
	if (name == NULL) {
		cmd_registry_name(&c.registries, url, id, namebuf, sizeof namebuf);
		name = namebuf;
	}
	if (f.pw_stdin) {
		if (cmd_registry_store_password(c.registries_file, name, pwpath,
		    sizeof pwpath) != 0) {
			free(urlbuf);
			config_free(&c);
			return 1;
		}
		f.pw = pwpath;
	}
	auth = f.auth;
	if (auth == NULL && (f.user != NULL || f.pw != NULL))
		auth = "basic";
	if (cmd_registry_open(&cf, c.registries_file, &list) != 0) {
		if (f.pw_stdin)
			unlink(pwpath);
		config_free(&c);
		free(urlbuf);
		return 1;
	}
	g = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
	config_setting_set_int(config_setting_add(g, "id", CONFIG_TYPE_INT), (int)id);
	cmd_registry_set(g, "name", name);
	cmd_registry_set(g, "url", url);
	if (auth != NULL) {
		a = config_setting_add(g, "auth", CONFIG_TYPE_ARRAY);
		copy = strdup(auth);
		for (s = copy; s != NULL; s = next) {
			if ((next = strchr(s, ',')) != NULL)
				*next++ = '\0';
			config_setting_set_string_elem(a, -1, s);
		}
		free(copy);
	}
	cmd_registry_set(g, "username", f.user);
	cmd_registry_set(g, "password_file", f.pw);
	cmd_registry_set(g, "bearer_file", f.bearer);
	cmd_registry_set(g, "cert", f.cert);
	cmd_registry_set(g, "key", f.key);
	cmd_registry_set(g, "ca", f.ca);
	if (f.nhosts > 0) {
		h = config_setting_add(g, "token_hosts", CONFIG_TYPE_ARRAY);
		for (i = 0; i < f.nhosts; i++)
			config_setting_set_string_elem(h, -1, f.hosts[i]);
	}
	rc = cmd_registry_commit(&cf, file, c.registries_file);
	if (rc == 0) {
		printf("added registry %ld '%s' to %s\n", id, name,
		    c.registries_file);
		rc = cmd_registry_apply(&c);
	} else if (f.pw_stdin)
		unlink(pwpath);		/* refused: keep no secret for it */
	config_destroy(&cf);
	config_free(&c);
	free(urlbuf);
	return rc;
}

static int
cmd_registry_rm(int argc, char **argv)
{
	const struct command	 cmd = { "pullgate registry rm", cmd_registry_usage,
	    COMMAND_CONFIG, NULL, NULL, NULL, NULL, 1, 1 };
	struct config		 c;
	struct registry		*r;
	config_setting_t	*list, *e;
	config_t		 cf;
	const char		*file, *which, *n;
	int			 rc, v, first;
	unsigned		 i;

	if ((first = command_begin(&cmd, argc, argv, &c, &rc)) == -1)
		return rc;
	rc = 1;
	file = c.file[0] != '\0' ? c.file : NULL;
	which = argv[first];
	r = registry_lookup(&c.registries, which);
	if (r == NULL) {
		fprintf(stderr, "pullgate registry rm: no entry '%s'\n", which);
		goto out;
	}
	if (!r->from_file) {
		fprintf(stderr, "pullgate registry rm: entry '%s' is %s; edit the "
		    "configuration file instead\n", r->name,
		    r->id <= REGISTRY_ID_LOCAL ? "built in" : "defined in the "
		    "main configuration file");
		goto out;
	}
	if (cmd_registry_open(&cf, c.registries_file, &list) != 0)
		goto out;
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
		if (config_setting_lookup_int(e, "id", &v) == CONFIG_TRUE &&
		    v == r->id)
			break;
		if (config_setting_lookup_string(e, "name", &n) == CONFIG_TRUE &&
		    strcmp(n, r->name) == 0)
			break;
	}
	if (e == NULL)
		fprintf(stderr, "pullgate registry rm: '%s' not found in %s\n",
		    which, c.registries_file);
	else {
		config_setting_remove_elem(list, i);
		rc = cmd_registry_commit(&cf, file, c.registries_file);
		if (rc == 0) {
			printf("removed registry %d '%s'\n", r->id, r->name);
			rc = cmd_registry_apply(&c);
		}
	}
	config_destroy(&cf);
out:
	config_free(&c);
	return rc;
}

int
cmd_registry_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cmd_registry_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "list") == 0)
		return cmd_registry_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "add") == 0)
		return cmd_registry_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") == 0)
		return cmd_registry_rm(argc - 1, argv + 1);
	fprintf(stderr, "pullgate registry: unknown command '%s'\n", argv[1]);
	return 2;
}
