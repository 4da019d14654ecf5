/*
 * pullgate's configuration layer, above the store: the numbered registry
 * table (and the package feeds), the configuration file and flags, and
 * secret files. This is the daemon's input; commands read it too.
 */
#ifndef PULLGATE_CONFIG_H
#define PULLGATE_CONFIG_H

#include <regex.h>

#include "store.h"

/* registry.c: one entry of the numbered registry table. */
#define REGISTRY_ID_REMOTE	1
#define REGISTRY_ID_LOCAL	2
#define REGISTRY_NAME_MAX	64
#define REGISTRY_URL_MAX	1024

#define REGISTRY_PATH_MAX	1024
#define REGISTRY_TOKEN_HOSTS	8

/* Authentication schemes of an entry, combinable. */
#define AUTH_BASIC	0x01	/* username + password (or access key) */
#define AUTH_BEARER	0x02	/* a static access key as Bearer */
#define AUTH_TOKEN	0x04	/* the Docker token flow */
#define AUTH_MTLS	0x08	/* the device's client certificate */

struct identity;
struct htpasswd;

#define REGISTRY_CLIENTS_MAX	32

struct registry {
	int	 id;
	char	 name[REGISTRY_NAME_MAX];
	char	 url[REGISTRY_URL_MAX];	/* base URL, no trailing '/'; empty for local */
	char	 host[256];		/* host part of url, for ns= matching */
	int	 is_local;		/* never touches the network */
	int	 is_docker_hub;		/* library/ names, its hosts, its realm */
	int	 is_feed;		/* a package feed, not a registry */
	int	 from_file;		/* 0 main config, 1 registries_file */
	int	 is_parent;		/* another pullgate: paths, ns= kept */

	unsigned auth;			/* AUTH_* */
	char	 username[128];
	char	 password_file[REGISTRY_PATH_MAX];
	char	 bearer_file[REGISTRY_PATH_MAX];
	char	 cert[REGISTRY_PATH_MAX];	/* mtls; empty: the device's */
	char	 key[REGISTRY_PATH_MAX];
	char	 ca[REGISTRY_PATH_MAX];		/* CA bundle; empty: the system's */
	char	 token_hosts[REGISTRY_TOKEN_HOSTS][256];
	size_t	 ntoken_hosts;
	char	 mirror_of[REGISTRY_TOKEN_HOSTS][256];	/* more ns= hosts */
	size_t	 nmirror_of;

	int	 tag_ttl;		/* seconds; -1: the global tag_ttl */
	int	 has_immutable;		/* immutable_tags was given */
	regex_t	 immutable;		/* tags that never move once cached */
	char	 immutable_src[256];
	int	 has_namespaces;	/* namespaces was given */
	regex_t	 namespaces;		/* first path components it claims */
	char	 namespaces_src[256];

	/* Which clients may use the entry: none given is any allowed one. */
	struct prefix	 clients[REGISTRY_CLIENTS_MAX];
	size_t		 nclients;
	char		 client_credentials[REGISTRY_PATH_MAX];	/* or "" */

	/* Credentials from outside (dockercred.c, proxy/credhelper.c). */
	char	 credential_helper[REGISTRY_NAME_MAX];	/* docker-credential-NAME */
	char	 docker_config[REGISTRY_PATH_MAX];	/* a config.json */
	int	 credential_lifetime;	/* seconds a helper's answer is used */
	int	 credential_timeout;	/* seconds a helper may run */

	/* Runtime state: the circuit breaker, and what status reports. */
	time_t	 down_until;		/* skip the upstream until then */
	time_t	 last_success;		/* its last answer below 500 */
	time_t	 last_failure;		/* its last failure ... */
	char	 last_error[160];	/* ... and what it was */

	/* Loaded at start: secrets in memory, the client identity. */
	char		*password;
	char		*bearer;
	struct identity	*identity;
	struct htpasswd	*client_users;	/* from client_credentials */

	/* The credentials from outside: username and password above. */
	struct registry_cred {
		time_t		 since;		/* when had; 0: none yet */
		unsigned	 gen;		/* bumped with every new pair */
		int		 stale;		/* refused: ask the helper again */
		time_t		 failed_until;	/* a failed helper: not before */
		char		 error[300];	/* ... and why (no secret) */
		struct timespec	 mtime;		/* docker_config as last read */
		ino_t		 ino;
		off_t		 size;
	} cred;
};

struct registry_table {
	struct registry	*entries;
	size_t		 count;
	int		 default_id;
};

int	 registry_table_init(struct registry_table *, const char *, char **);
struct registry *registry_table_add(struct registry_table *, int,
	     const char *, const char *, char **);
int	 registry_set_url(struct registry *, const char *, char **);
void	 registry_table_free(struct registry_table *);
struct registry *registry_find_id(struct registry_table *, int);
struct registry *registry_find_name(struct registry_table *, const char *);
struct registry *registry_table_add_feed(struct registry_table *, const char *,
	     const char *, char **);
struct registry *registry_default(struct registry_table *);
struct registry *registry_lookup(struct registry_table *, const char *);
int	 registry_parse_url(const char *, char *, size_t, char **);
int	 registry_parse_auth(const char *, unsigned *, char **);
const char *registry_auth_name(unsigned);
int	 registry_check(struct registry *, char **);
int	 registry_load_secrets(struct registry *, char **);
int	 registry_trusts_host(const struct registry *, const char *);
int	 registry_tag_immutable(const struct registry *, const char *);
int	 registry_cred_outside(const struct registry *);

/* How a request's path chose its entry (after ns=, which comes first). */
enum registry_rule { REGISTRY_RULE_NAME, REGISTRY_RULE_NAMESPACE,
	REGISTRY_RULE_DEFAULT, REGISTRY_RULE_PARENT };
struct registry *registry_route(struct registry_table *, const char *,
	     size_t *, enum registry_rule *);
struct registry *registry_route_ns(struct registry_table *, const char *);
struct registry *registry_parent(const struct registry_table *);
int	 registry_parent_key(const char *, const char *, char *, size_t,
	     char **);
int	 registry_parent_path(const char *, char *, size_t, char *, size_t);
const char *registry_rule_name(enum registry_rule);
int	 registry_upstream_name(const struct registry *, const char *, char *,
	     size_t);
int	 registry_resolve_tag(const struct registry_table *, const struct cache *,
	     const struct registry *, const char *, const char *,
	     struct tagindex_entry *);

/* config.c: everything the daemon reads from its file and flags. */
struct config {
	char	 file[REGISTRY_PATH_MAX];	/* the file read; empty: none */
	unsigned flags_set;			/* CONFIG_FLAG_*: over the file */
	char	 listen_host[256];
	int	 listen_port;
	char	 cache_dir[1024];
	char	 control_socket[REGISTRY_PATH_MAX];	/* empty: in cache_dir */
	enum log_level log_level;

	/* Limits of the client side (evhttp). */
	size_t	 max_header_bytes;
	size_t	 max_body_bytes;
	int	 client_timeout;		/* seconds */
	int	 head_timeout;			/* seconds to a complete request */
	size_t	 max_connections;		/* 0: from the descriptor limit */
	size_t	 max_connections_per_address;	/* 0: a quarter */

	/* Upstream transfers (libcurl). */
	int	 connect_timeout;		/* seconds */
	int	 low_speed_time;		/* seconds below low_speed_limit */
	long	 low_speed_limit;		/* bytes per second */
	size_t	 manifest_max_bytes;
	int	 upstream_max_per_entry;	/* requests at once per entry */
	int	 upstream_queue_timeout;	/* seconds one waits for a slot */
	int	 tag_ttl;			/* seconds a cached tag is fresh */
	int	 breaker_seconds;		/* skip a failed upstream this long */
	int64_t	 cache_max_bytes;		/* 0: no budget */
	int64_t	 memory_cache_max_bytes;	/* manifests, tags; 0: none */
	int	 offline;			/* never touch the network */
	char	 server_names[8][256];		/* accepted Host names */
	size_t	 nserver_names;
	struct prefix clients[64];		/* who may connect; none: any */
	size_t	 nclients;			/* (a loopback listener only) */

	/* The device identity: certificate and key for mtls entries. */
	char	 device_cert[REGISTRY_PATH_MAX];
	char	 device_key[REGISTRY_PATH_MAX];
	int	 cert_warn_days;

	/* Entries edited by 'pullgate registry add|rm'. */
	char	 registries_file[REGISTRY_PATH_MAX];

	struct registry_table registries;
	struct registry_table feeds;		/* package feeds (no ids) */
	int	 feed_ttl;			/* seconds an index file is fresh */
};

#define CONFIG_DEFAULT_FILE	"/etc/pullgate/pullgate.conf"
#define CONFIG_FLAG_CACHE	0x1	/* --cache gave cache_dir */
#define CONFIG_FLAG_LISTEN	0x2	/* --listen gave listen */

int	 config_read_all(struct config *, const char *, const char *, char **);
int	 config_load_secrets(struct config *, char **);
int	 config_set_upstream(struct config *, const char *, char **);
void	 config_free(struct config *);
int	 config_parse_listen(const char *, char *, size_t, int *);
int	 config_control_socket(const struct config *, char *, size_t);

/* secret.c: secrets live in files only their owner can read. */
int	 secret_read(const char *, char **, char **);
int	 secret_read_lines(const char *, char **, char **);
int	 secret_read_text(const char *, size_t, char **, size_t *, char **);
int	 secret_check(const char *, char **);
void	 secret_free(char *);

/* dockercred.c: the Docker client's credential formats. */
#define DOCKERCRED_OUTPUT_MAX	65536	/* a helper's answer */
#define DOCKERCRED_SECRET_MAX	16384

const char *dockercred_server(const struct registry *);
int	 dockercred_valid_helper(const char *);
int	 dockercred_parse_config(const char *, size_t, const struct registry *,
	     char *, size_t, char **, char **);
int	 dockercred_parse_answer(const char *, size_t, char *, size_t, char **,
	     char **);
int	 dockercred_load(struct registry *, char **);

/* htpasswd.c: client credential files, user:bcrypt lines. */
#define HTPASSWD_HASH_MAX	64

struct htpasswd *htpasswd_load(const char *, char **);
void	 htpasswd_free(struct htpasswd *);
int	 htpasswd_hash(const struct htpasswd *, const char *, char *);
int	 htpasswd_check(const char *, const char *);

#endif
