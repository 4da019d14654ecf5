/*
 * The daemon's counters: what it did, for /metrics and for the tests,
 * which read counters rather than log sentences. Any layer counts; the
 * proxy formats them. One process, one event loop: plain integers.
 */
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
	[STATS_ROUTED_NS] = { "pullgate_requests_routed_total",
	    "API requests by the rule that chose their registry entry", 0,
	    "by=\"ns\"" },
	[STATS_ROUTED_NAME] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"name\"" },
	[STATS_ROUTED_DEFAULT] = { "pullgate_requests_routed_total", NULL, 0,
	    "by=\"default\"" },
	[STATS_ACCESS_REFUSED_ADDRESS] = { "pullgate_access_total",
	    "Client access decisions: refused by address, refused or accepted "
	    "credentials", 0, "result=\"refused_address\"" },
	[STATS_ACCESS_REFUSED_CREDENTIALS] = { "pullgate_access_total", NULL, 0,
	    "result=\"refused_credentials\"" },
	[STATS_ACCESS_ACCEPTED_CREDENTIALS] = { "pullgate_access_total", NULL, 0,
	    "result=\"accepted_credentials\"" },
	[STATS_ACCESS_BCRYPT_RUNS] = { "pullgate_access_bcrypt_runs_total",
	    "Client passwords checked with bcrypt (the rest hit the cache)", 0 },
};

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
