/*
 * pullgate's basics, the bottom layer: logging, bounded strings and small
 * file helpers, and the parsers of what arrives from the network (digests,
 * image references, Range, WWW-Authenticate challenges, token answers, tag
 * lists). Nothing here
 * knows of the cache, the configuration or the event loop.
 */
#ifndef PULLGATE_LIB_H
#define PULLGATE_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define PULLGATE_VERSION "0.1.0"

/* log.c */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void	log_set_level(enum log_level);
int	log_parse_level(const char *, enum log_level *);
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* util.c: small helpers with bounded buffers. */
int	 util_strlcpy(char *, const char *, size_t);
int	 util_parse_long(const char *, long, long, long *);
char	*util_printf(const char *, ...) __attribute__((format(printf, 1, 2)));
int	 util_mkdirs(const char *, mode_t);
int	 util_rmtree(const char *);
int64_t	 util_now_us(void);

/* stats.c: the daemon's counters and gauges. */
enum stats_counter {
	STATS_CACHE_EVICTIONS,
	STATS_CACHE_EVICTED_BYTES,
	STATS_BUDGET_REFUSALS,
	STATS_CACHE_BYTES,
	STATS_CACHE_RESERVED_BYTES,
	STATS_CACHE_FILES,
	STATS_CACHE_PINNED_BYTES,
	STATS_INDEX_REBUILDS,
	STATS_PIN_RELOADS,
	STATS_VERIFY_FAILURES,
	STATS_FEED_UNVERIFIED,
	STATS_FEED_INDEXES_PARSED,
	STATS_TRANSFERS_STARTED,
	STATS_TRANSFERS_JOINED,
	STATS_UPSTREAM_REQUESTS,
	STATS_UPSTREAM_SHARED,
	STATS_UPSTREAM_QUEUED,
	STATS_UPSTREAM_QUEUE_TIMEOUTS,
	STATS_UPSTREAM_IN_FLIGHT,
	STATS_UPSTREAM_WAITING,
	STATS_TOKENS_FETCHED,
	STATS_REDIRECTS,
	STATS_REDIRECTS_CROSS_ORIGIN,
	STATS_CACHE_WRITE_ERRORS,
	STATS_FEED_SET_SWITCHES,
	STATS_FEED_SET_KEPT,
	STATS_IDENTITY_RELOADS,
	STATS_IDENTITY_EXPIRY_WARNINGS,
	STATS_INDEX_MEMORY,
	STATS_MEMCACHE_HITS,
	STATS_MEMCACHE_MISSES,
	STATS_MEMCACHE_EVICTIONS,
	STATS_MEMCACHE_FLUSHES,
	STATS_MEMCACHE_BYTES,
	STATS_MEMCACHE_ITEMS,
	STATS_ROUTED_NS,		/* a family: keep these five together */
	STATS_ROUTED_NAME,
	STATS_ROUTED_NAMESPACE,
	STATS_ROUTED_DEFAULT,
	STATS_ROUTED_PARENT,
	STATS_ANSWER_CACHE,		/* a family: keep these three together */
	STATS_ANSWER_UPSTREAM,
	STATS_ANSWER_STALE,
	STATS_SERVED_CACHE_BYTES,
	STATS_UPSTREAM_BYTES,
	STATS_TRANSFERS_ACTIVE,
	STATS_TRANSFERS_ACTIVE_MAX,
	STATS_TRANSFERS_STORING,
	STATS_UPSTREAM_RESUMES,
	STATS_UPSTREAM_PAUSES,
	STATS_WORKER_JOBS,
	STATS_STREAMS_ACTIVE,
	STATS_CLIENT_CONNECTIONS,
	STATS_CLIENT_REFUSED_LIMIT,	/* a family: keep these two together */
	STATS_CLIENT_REFUSED_ADDRESS,
	STATS_CLIENT_EVICTED,
	STATS_CLIENT_HEAD_TIMEOUTS,
	STATS_CLIENT_ACCEPT_PAUSES,
	STATS_RELOADS,
	STATS_CONFIGS_RETIRED,
	STATS_RELOADS_REFUSED,
	STATS_ACCESS_REFUSED_ADDRESS,	/* a family: keep these three together */
	STATS_ACCESS_REFUSED_CREDENTIALS,
	STATS_ACCESS_ACCEPTED_CREDENTIALS,
	STATS_ACCESS_BCRYPT_RUNS,
	STATS_REFERRERS_API,		/* a family: keep these three together */
	STATS_REFERRERS_TAG_SCHEMA,
	STATS_REFERRERS_CACHE,
	STATS_CREDHELPER_RUNS,
	STATS_CREDHELPER_FAILED_START,	/* a family: keep these four together */
	STATS_CREDHELPER_FAILED_EXIT,
	STATS_CREDHELPER_FAILED_TIMEOUT,
	STATS_CREDHELPER_FAILED_ANSWER,
	STATS_CRED_REFUSED,
	STATS_DOCKER_CONFIG_READS,
	STATS_DOCKER_CONFIG_FAILURES,
	STATS_COUNT
};

/* Requests by route and status class, with a latency histogram per route. */
enum stats_route {
	STATS_ROUTE_MANIFEST, STATS_ROUTE_BLOB, STATS_ROUTE_TAGS,
	STATS_ROUTE_API, STATS_ROUTE_FEED, STATS_ROUTE_HEALTH,
	STATS_ROUTE_METRICS, STATS_ROUTE_OTHER, STATS_ROUTE_COUNT
};
#define STATS_LATENCY_BUCKETS	12	/* the last is +Inf */

/* Counters per registry entry or feed, by its name. */
enum stats_entry_counter {
	STATS_ENTRY_REQUESTS, STATS_ENTRY_ERRORS, STATS_ENTRY_BYTES,
	STATS_ENTRY_BREAKER_OPENINGS, STATS_ENTRY_COUNT
};

void	 stats_add(enum stats_counter, int64_t);
void	 stats_set(enum stats_counter, int64_t);
int64_t	 stats_get(enum stats_counter);
void	 stats_request(enum stats_route, int, int64_t);
const char *stats_route_name(enum stats_route);
int64_t	 stats_request_count(enum stats_route, int);
double	 stats_latency_bound(int);
int64_t	 stats_latency_bucket(enum stats_route, int);
int64_t	 stats_latency_sum_usec(enum stats_route);
void	 stats_entry_add(const char *, enum stats_entry_counter, int64_t);
size_t	 stats_entry_count(void);
const char *stats_entry_name(size_t);
int64_t	 stats_entry_get(size_t, enum stats_entry_counter);
const char *stats_name(enum stats_counter, const char **, int *,
	     const char **);

/* digest.c: "sha256:<64 lowercase hex>", the only algorithm we store. */
#define DIGEST_HEX_LEN		64
#define DIGEST_STRING_LEN	(7 + DIGEST_HEX_LEN)	/* "sha256:" + hex */

struct digest {
	char	hex[DIGEST_HEX_LEN + 1];
};

int	 digest_parse(const char *, struct digest *);
void	 digest_from_raw(const unsigned char *, struct digest *);
void	 digest_format(const struct digest *, char *, size_t);
int	 digest_equal(const struct digest *, const struct digest *);

/* reference.c: repository names, tags and image references. */
#define REFERENCE_NAME_MAX	255
#define REFERENCE_TAG_MAX	128

struct reference {
	char		name[REFERENCE_NAME_MAX + 1];
	char		tag[REFERENCE_TAG_MAX + 1];	/* empty if none */
	int		has_digest;
	struct digest	digest;
};

int	 reference_valid_name(const char *);
int	 reference_valid_tag(const char *);
int	 reference_parse(const char *, struct reference *, char **);

/* range.c: a single byte range from a Range header. */
enum range_result {
	RANGE_NONE,		/* no (usable) Range: send the whole body */
	RANGE_OK,		/* [first, last] inclusive */
	RANGE_UNSATISFIABLE	/* 416 */
};
enum range_result range_parse(const char *, off_t, off_t *, off_t *);

/* apipath.c: the path of a /v2/ request. */
#define APIPATH_MAX	(REFERENCE_NAME_MAX + REFERENCE_TAG_MAX + \
			 DIGEST_STRING_LEN + 32)

enum apipath_kind {
	APIPATH_MANIFEST, APIPATH_BLOB, APIPATH_TAGS, APIPATH_UPLOAD,
	APIPATH_REFERRERS
};

struct apipath {
	enum apipath_kind	 kind;
	char			 repo[REFERENCE_NAME_MAX + 1];
	char			 ref[REFERENCE_TAG_MAX + DIGEST_STRING_LEN + 1];
	int			 status;	/* when it fails: what to answer */
	const char		*code;
	const char		*message;
};

int	 apipath_parse(const char *, struct apipath *);

/* challenge.c: a Bearer WWW-Authenticate challenge. */
#define CHALLENGE_VALUE_MAX	1024

struct challenge {
	char	realm[CHALLENGE_VALUE_MAX];
	char	service[256];
	char	scope[CHALLENGE_VALUE_MAX];
};

int	 challenge_parse(const char *, struct challenge *);

/* notify.c: the service manager's readiness protocol (sd_notify). */
int	 notify_service(const char *);
/* prefix.c: IPv4 and IPv6 address prefixes, and peers inside them. */
struct sockaddr;

struct prefix {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned	 bits;
	unsigned char	 addr[16];
};

int	 prefix_parse(const char *, struct prefix *);
int	 prefix_match(const struct prefix *, const struct sockaddr *);
int	 prefix_match_list(const struct prefix *, size_t,
	     const struct sockaddr *);
int	 prefix_loopback(const struct sockaddr *);
#define PREFIX_GROUP_MAX	64	/* an IPv6 address, "/64" and NUL */
void	 prefix_client_group(const char *, char *, size_t);

/* basicauth.c: a client's Authorization: Basic header. */
#define BASICAUTH_MAX	256	/* user and password, each with its NUL */

int	 basicauth_parse(const char *, char *, char *);
int	 basicauth_decode(const char *, size_t, unsigned char *, size_t,
	     size_t *);

/* tokenreply.c: the token service's answer. */
#define TOKENREPLY_MAX_LEN	16384
#define TOKENREPLY_DEFAULT_TTL	60

int	 tokenreply_parse(const char *, size_t, char **, long *);

/* taglist.c: the tags/list document. */
int	 taglist_parse(const char *, size_t, char ***, size_t *);
void	 taglist_free(char **, size_t);
char	*taglist_page(const char *, char **, size_t, long, const char *,
	     char *, size_t);

#endif
