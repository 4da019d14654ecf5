/*
 * The daemon's counters: what it did, for /metrics and for the tests,
 * which read counters rather than log sentences. Any layer counts; the
 * proxy formats them. One process, one event loop: plain integers.
 */
#include <string.h>

#include "lib.h"

/*
 * Counters of one family share its name and help and differ by labels;
 * a family's members are adjacent in the enum.
 */
static const struct {
	const char	*name;
	const char	*help;
	int		 gauge;
	const char	*labels;	/* or NULL */
} stats_names[STATS_COUNT] = {
	[STATS_CACHE_EVICTIONS] = { "pullgate_cache_evictions_total",
	    "Files removed from the cache to keep it within its budget", 0 },
	[STATS_CACHE_EVICTED_BYTES] = { "pullgate_cache_evicted_bytes_total",
	    "Bytes removed from the cache to keep it within its budget", 0 },
	[STATS_BUDGET_REFUSALS] = { "pullgate_budget_refusals_total",
	    "Downloads refused or stopped because the budget had no room", 0 },
	[STATS_CACHE_BYTES] = { "pullgate_cache_bytes",
	    "Bytes the cache holds (blobs and feed files)", 1 },
	[STATS_CACHE_RESERVED_BYTES] = { "pullgate_cache_reserved_bytes",
	    "Bytes reserved by downloads in flight", 1 },
	[STATS_CACHE_FILES] = { "pullgate_cache_files",
	    "Files the cache holds (blobs and feed files)", 1 },
	[STATS_CACHE_PINNED_BYTES] = { "pullgate_cache_pinned_bytes",
	    "Bytes of pinned content", 1 },
	[STATS_INDEX_REBUILDS] = { "pullgate_store_index_rebuilds_total",
	    "Times the in-memory store index was rebuilt from the disk", 0 },
	[STATS_PIN_RELOADS] = { "pullgate_store_pin_reloads_total",
	    "Times the pinned set was re-read after a change", 0 },
	[STATS_VERIFY_FAILURES] = { "pullgate_verification_failures_total",
	    "Downloads discarded because their content did not verify", 0 },
	[STATS_FEED_UNVERIFIED] = { "pullgate_feed_unverified_total",
	    "Package files passed through uncached: no cached index lists them", 0 },
	[STATS_FEED_INDEXES_PARSED] = { "pullgate_feed_indexes_parsed_total",
	    "Package indexes parsed into lookup files when published", 0 },
	[STATS_TRANSFERS_STARTED] = { "pullgate_transfers_started_total",
	    "Upstream downloads started", 0 },
	[STATS_TRANSFERS_JOINED] = { "pullgate_transfers_joined_total",
	    "Requests that joined a download already in flight", 0 },
	[STATS_UPSTREAM_REQUESTS] = { "pullgate_upstream_requests_total",
	    "HTTP requests sent to registry entries and feeds", 0 },
	[STATS_UPSTREAM_SHARED] = { "pullgate_upstream_shared_total",
	    "Requests answered by an identical upstream request in flight", 0 },
	[STATS_UPSTREAM_QUEUED] = { "pullgate_upstream_queued_total",
	    "Upstream requests that waited for a free slot of their entry", 0 },
	[STATS_UPSTREAM_QUEUE_TIMEOUTS] = {
	    "pullgate_upstream_queue_timeouts_total",
	    "Upstream requests that got no slot within the queue timeout", 0 },
	[STATS_UPSTREAM_IN_FLIGHT] = { "pullgate_upstream_in_flight",
	    "Upstream requests holding a slot of their entry", 1 },
	[STATS_UPSTREAM_WAITING] = { "pullgate_upstream_waiting",
	    "Upstream requests waiting for a slot of their entry", 1 },
	[STATS_TOKENS_FETCHED] = { "pullgate_tokens_fetched_total",
	    "Bearer tokens fetched from token services", 0 },
	[STATS_REDIRECTS] = { "pullgate_upstream_redirects_total",
	    "Upstream redirects followed", 0 },
	[STATS_REDIRECTS_CROSS_ORIGIN] = {
	    "pullgate_upstream_redirects_cross_origin_total",
	    "Redirects to another origin, followed without credentials or "
	    "client certificate", 0 },
	[STATS_CACHE_WRITE_ERRORS] = { "pullgate_cache_write_errors_total",
	    "Downloads that failed writing to the cache (a full disk...)", 0 },
	[STATS_FEED_SET_SWITCHES] = { "pullgate_feed_set_switches_total",
	    "New signed index sets of a suite put in place whole", 0 },
	[STATS_FEED_SET_KEPT] = { "pullgate_feed_set_kept_total",
	    "New index sets that could not be completed: the old set stayed", 0 },
	[STATS_IDENTITY_RELOADS] = { "pullgate_identity_reloads_total",
	    "Client certificates re-read after they changed on disk", 0 },
	[STATS_IDENTITY_EXPIRY_WARNINGS] = {
	    "pullgate_identity_expiry_warnings_total",
	    "Warnings that a client certificate expires soon", 0 },
	[STATS_INDEX_MEMORY] = { "pullgate_store_index_memory_bytes",
	    "Memory the in-memory store index holds (entries and table)", 1 },
	[STATS_MEMCACHE_HITS] = { "pullgate_memory_cache_hits_total",
	    "Manifests and tags found in the memory cache", 0 },
	[STATS_MEMCACHE_MISSES] = { "pullgate_memory_cache_misses_total",
	    "Manifests and tags looked up in memory and read from the disk", 0 },
	[STATS_MEMCACHE_EVICTIONS] = { "pullgate_memory_cache_evictions_total",
	    "Items dropped from the memory cache to stay within its budget", 0 },
	[STATS_MEMCACHE_FLUSHES] = { "pullgate_memory_cache_flushes_total",
	    "Times every tag was forgotten: another process changed tags", 0 },
	[STATS_MEMCACHE_BYTES] = { "pullgate_memory_cache_bytes",
	    "Bytes the memory cache holds (items and their keys)", 1 },
	[STATS_MEMCACHE_ITEMS] = { "pullgate_memory_cache_items",
	    "Manifests and tags the memory cache holds", 1 },
	[STATS_ROUTED_NS] = { "pullgate_requests_routed_total",
	    "API requests by the rule that chose their registry entry", 0,
	    "by=\"ns\"" },
	[STATS_ROUTED_NAME] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"name\"" },
	[STATS_ROUTED_NAMESPACE] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"namespace\"" },
	[STATS_ROUTED_DEFAULT] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"default\"" },
	[STATS_ROUTED_PARENT] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"parent\"" },
	[STATS_ANSWER_CACHE] = { "pullgate_answers_total",
	    "Images, manifests and packages answered, by where they came from",
	    0, "source=\"cache\"" },
	[STATS_ANSWER_UPSTREAM] = { "pullgate_answers_total", NULL, 0,
	    "source=\"upstream\"" },
	[STATS_ANSWER_STALE] = { "pullgate_answers_total", NULL, 0,
	    "source=\"stale\"" },
	[STATS_SERVED_CACHE_BYTES] = { "pullgate_served_cache_bytes_total",
	    "Bytes of cached files queued to clients", 0 },
	[STATS_UPSTREAM_BYTES] = { "pullgate_upstream_bytes_total",
	    "Body bytes received from upstreams", 0 },
	[STATS_TRANSFERS_ACTIVE] = { "pullgate_transfers_in_flight",
	    "Upstream downloads in flight", 1 },
	[STATS_TRANSFERS_ACTIVE_MAX] = { "pullgate_transfers_in_flight_max",
	    "Most upstream downloads in flight at once since the start", 1 },
	[STATS_TRANSFERS_STORING] = { "pullgate_transfers_storing",
	    "Downloads verified and sent, being synced to disk and put in "
	    "place", 1 },
	[STATS_UPSTREAM_RESUMES] = { "pullgate_upstream_resumes_total",
	    "Downloads continued with a Range request after the upstream "
	    "connection broke, or from a partial file an earlier run left", 0 },
	[STATS_UPSTREAM_PAUSES] = { "pullgate_upstream_pauses_total",
	    "Times a download's upstream waited while the disk caught up", 0 },
	[STATS_WORKER_JOBS] = { "pullgate_disk_jobs_total",
	    "Disk work of downloads done off the event loop: hashing and "
	    "writing, syncing before publishing, reading a partial file back",
	    0 },
	[STATS_STREAMS_ACTIVE] = { "pullgate_streams_in_flight",
	    "Clients following a download in flight", 1 },
	[STATS_CLIENT_CONNECTIONS] = { "pullgate_client_connections",
	    "Client connections open", 1 },
	[STATS_CLIENT_REFUSED_LIMIT] = {
	    "pullgate_client_connections_refused_total",
	    "New client connections refused with a 503: every slot busy "
	    "(limit) or the client address's share busy (address)", 0,
	    "reason=\"limit\"" },
	[STATS_CLIENT_REFUSED_ADDRESS] = {
	    "pullgate_client_connections_refused_total", NULL, 0,
	    "reason=\"address\"" },
	[STATS_CLIENT_EVICTED] = { "pullgate_client_connections_evicted_total",
	    "Idle client connections closed to make room for a new one", 0 },
	[STATS_CLIENT_HEAD_TIMEOUTS] = { "pullgate_client_head_timeouts_total",
	    "Client connections closed without a complete request within "
	    "client.head_timeout", 0 },
	[STATS_RELOADS] = { "pullgate_reloads_total",
	    "New configurations put in force while running", 0 },
	[STATS_CONFIGS_RETIRED] = { "pullgate_configs_retired",
	    "Replaced configurations kept until what is in flight finishes", 1 },
	[STATS_RELOADS_REFUSED] = { "pullgate_reloads_refused_total",
	    "Reloads refused: the configuration did not load, the one in "
	    "force stayed", 0 },
	[STATS_CLIENT_ACCEPT_PAUSES] = { "pullgate_client_accept_pauses_total",
	    "Times new connections were left waiting: every slot busy, or "
	    "accept(2) failed (out of descriptors)", 0 },
	[STATS_ACCESS_REFUSED_ADDRESS] = { "pullgate_access_total",
	    "Client access decisions: refused by address, refused or accepted "
	    "credentials", 0, "result=\"refused_address\"" },
	[STATS_ACCESS_REFUSED_CREDENTIALS] = { "pullgate_access_total", NULL, 0,
	    "result=\"refused_credentials\"" },
	[STATS_ACCESS_ACCEPTED_CREDENTIALS] = { "pullgate_access_total", NULL, 0,
	    "result=\"accepted_credentials\"" },
	[STATS_ACCESS_BCRYPT_RUNS] = { "pullgate_access_bcrypt_runs_total",
	    "Client passwords checked with bcrypt (the rest hit the cache)", 0 },
	[STATS_REFERRERS_API] = { "pullgate_referrers_total",
	    "Referrers listings answered, by where they came from: the "
	    "upstream's API, its tag schema, the cache", 0, "source=\"api\"" },
	[STATS_REFERRERS_TAG_SCHEMA] = { "pullgate_referrers_total", NULL, 0,
	    "source=\"tag_schema\"" },
	[STATS_REFERRERS_CACHE] = { "pullgate_referrers_total", NULL, 0,
	    "source=\"cache\"" },
	[STATS_CREDHELPER_RUNS] = { "pullgate_credential_helper_runs_total",
	    "Credential helpers started (docker-credential-NAME get)", 0 },
	[STATS_CREDHELPER_FAILED_START] = {
	    "pullgate_credential_helper_failures_total",
	    "Credential helper runs that gave no credentials: could not start, "
	    "exited non-zero, killed at the timeout, or answered garbage", 0,
	    "reason=\"start\"" },
	[STATS_CREDHELPER_FAILED_EXIT] = {
	    "pullgate_credential_helper_failures_total", NULL, 0,
	    "reason=\"exit\"" },
	[STATS_CREDHELPER_FAILED_TIMEOUT] = {
	    "pullgate_credential_helper_failures_total", NULL, 0,
	    "reason=\"timeout\"" },
	[STATS_CREDHELPER_FAILED_ANSWER] = {
	    "pullgate_credential_helper_failures_total", NULL, 0,
	    "reason=\"answer\"" },
	[STATS_CRED_REFUSED] = { "pullgate_credential_refusals_total",
	    "Credentials from a helper or config.json an upstream refused (401), "
	    "asked for again", 0 },
	[STATS_DOCKER_CONFIG_READS] = { "pullgate_docker_config_reads_total",
	    "Credentials read from a Docker config.json (at load, or changed)",
	    0 },
	[STATS_DOCKER_CONFIG_FAILURES] = {
	    "pullgate_docker_config_failures_total",
	    "Changed Docker config.json files that gave no usable credentials",
	    0 },
};

static const char *stats_routes[STATS_ROUTE_COUNT] = {
	[STATS_ROUTE_MANIFEST] = "manifest", [STATS_ROUTE_BLOB] = "blob",
	[STATS_ROUTE_TAGS] = "tags", [STATS_ROUTE_API] = "api",
	[STATS_ROUTE_FEED] = "feed", [STATS_ROUTE_HEALTH] = "healthz",
	[STATS_ROUTE_METRICS] = "metrics", [STATS_ROUTE_OTHER] = "other",
};

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double stats_bounds[STATS_LATENCY_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5, 10
};

/* Requests: [route][status class 1..5], histogram counts per bucket. */
static int64_t	stats_requests[STATS_ROUTE_COUNT][6];
static int64_t	stats_buckets[STATS_ROUTE_COUNT][STATS_LATENCY_BUCKETS];
static int64_t	stats_usec_sum[STATS_ROUTE_COUNT];

/*
 * Per-entry counters by name. Entries are few and their names short; a
 * name beyond the table is counted under the last slot's "other".
 */
#define STATS_ENTRIES_MAX	64
#define STATS_ENTRY_NAME_MAX	64
static struct {
	char	name[STATS_ENTRY_NAME_MAX];
	int64_t	v[STATS_ENTRY_COUNT];
} stats_entries[STATS_ENTRIES_MAX];
static size_t	stats_nentries;

static int64_t	stats_values[STATS_COUNT];

void
stats_add(enum stats_counter c, int64_t n)
{
	stats_values[c] += n;
}

void
stats_set(enum stats_counter c, int64_t v)
{
	stats_values[c] = v;
}

int64_t
stats_get(enum stats_counter c)
{
	return stats_values[c];
}

/*
 * The counter's family name; its help (NULL: same family as the one
 * before), whether it is a gauge, and its labels (NULL: none).
 */
const char *
stats_name(enum stats_counter c, const char **help, int *gauge,
    const char **labels)
{
	*help = stats_names[c].help;
	*gauge = stats_names[c].gauge;
	*labels = stats_names[c].labels;
	return stats_names[c].name;
}

/*
 * A response: its route, its status, and how long it took in microseconds
 * (-1: not known; counted, but not in the histogram).
 */
void
stats_request(enum stats_route r, int status, int64_t usec)
{
	int	cls = status / 100, i;

	if (cls < 1 || cls > 5)
		cls = 5;
	stats_requests[r][cls]++;
	if (usec < 0)
		return;
	for (i = 0; i < STATS_LATENCY_BUCKETS - 1; i++)
		if ((double)usec <= stats_bounds[i] * 1e6)
			break;
	stats_buckets[r][i]++;
	stats_usec_sum[r] += usec;
}

const char *
stats_route_name(enum stats_route r)
{
	return stats_routes[r];
}

/* Responses of route r with status class cls (1..5). */
int64_t
stats_request_count(enum stats_route r, int cls)
{
	return (cls >= 1 && cls <= 5) ? stats_requests[r][cls] : 0;
}

/* Bucket i's upper bound in seconds; the last is +Inf (returns -1). */
double
stats_latency_bound(int i)
{
	return i < STATS_LATENCY_BUCKETS - 1 ? stats_bounds[i] : -1;
}

/* Bucket i's own count (not cumulative). */
int64_t
stats_latency_bucket(enum stats_route r, int i)
{
	return stats_buckets[r][i];
}

int64_t
stats_latency_sum_usec(enum stats_route r)
{
	return stats_usec_sum[r];
}

void
stats_entry_add(const char *name, enum stats_entry_counter c, int64_t n)
{
	size_t	i;

	for (i = 0; i < stats_nentries; i++)
		if (strcmp(stats_entries[i].name, name) == 0)
			break;
	if (i == stats_nentries) {
		if (stats_nentries == STATS_ENTRIES_MAX - 1) {
			i = STATS_ENTRIES_MAX - 1;
			util_strlcpy(stats_entries[i].name, "other",
			    sizeof stats_entries[i].name);
		} else if (util_strlcpy(stats_entries[i].name, name,
		    sizeof stats_entries[i].name) == 0)
			stats_nentries++;
		else
			return;
	}
	stats_entries[i].v[c] += n;
}

size_t
stats_entry_count(void)
{
	return stats_nentries + (stats_entries[STATS_ENTRIES_MAX - 1].name[0] != '\0');
}

const char *
stats_entry_name(size_t i)
{
	return stats_entries[i < stats_nentries ? i : STATS_ENTRIES_MAX - 1].name;
}

int64_t
stats_entry_get(size_t i, enum stats_entry_counter c)
{
	return stats_entries[i < stats_nentries ? i : STATS_ENTRIES_MAX - 1].v[c];
}
