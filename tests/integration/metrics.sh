#!/bin/bash
# /metrics: valid Prometheus text (promtool check metrics), and counters
# that move as a pull happens: responses by route and status, the latency
# histogram, answers from upstream then from the cache then stale, bytes
# fetched and served, per-entry upstream requests, errors and breaker
# openings, and the in-flight gauges back at zero.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 3 --size 200000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
printf 'tag_ttl = 0;\nbreaker_seconds = 30;\n' > "$WORK/pg.conf"
start_pullgate main -c "$WORK/pg.conf" --upstream "http://$UP"

scrape() { curl -s --max-time 5 "http://127.0.0.1:$PG_PORT/metrics"; }
scrape > "$WORK/m0"
check "promtool accepts /metrics before any pull" sh -c \
    "promtool check metrics < '$WORK/m0' > '$WORK/promtool0.out' 2>&1" ||
    cat "$WORK/promtool0.out"

m() { metric "$1"; }
up0=$(m 'pullgate_answers_total{source="upstream"}')
check "a pull through the proxy works" pull_image "127.0.0.1:$PG_PORT/acme/app:v1" "$WORK/out1"
scrape > "$WORK/m1"
check "promtool accepts /metrics after a pull" sh -c \
    "promtool check metrics < '$WORK/m1' > '$WORK/promtool1.out' 2>&1" ||
    cat "$WORK/promtool1.out"
check "manifest responses are counted as 2xx" \
    test "$(m 'pullgate_responses_total{route="manifest",code="2xx"}')" -ge 1
check "blob responses are counted, in the latency histogram too" sh -c \
    "test $(m 'pullgate_responses_total{route="blob",code="2xx"}') -ge 4 &&
     test $(m 'pullgate_response_seconds_count{route="blob"}') -ge 4"
check "answers from upstream counted" \
    test "$(m 'pullgate_answers_total{source="upstream"}')" -gt "$up0"
check "upstream bytes counted, per entry too" sh -c \
    "test $(m pullgate_upstream_bytes_total) -ge 600000 &&
     test $(m 'pullgate_upstream_entry_bytes_total{entry="remote"}') -ge 600000"
check "upstream requests counted for the entry" \
    test "$(m 'pullgate_upstream_entry_requests_total{entry="remote"}')" -ge 5
check "no downloads or streams left in flight" sh -c \
    "test $(m pullgate_transfers_in_flight) = 0 && test $(m pullgate_streams_in_flight) = 0"

c0=$(m 'pullgate_answers_total{source="cache"}')
b0=$(m pullgate_served_cache_bytes_total)
check "a second pull works" pull_image "127.0.0.1:$PG_PORT/acme/app:v1" "$WORK/out2"
check "... answered from the cache" \
    test "$(m 'pullgate_answers_total{source="cache"}')" -ge $((c0 + 4))
check "... its bytes counted as served from the cache" \
    test "$(m pullgate_served_cache_bytes_total)" -ge $((b0 + 600000))

stop_pid "$REG_PID"
s0=$(m 'pullgate_answers_total{source="stale"}')
check "with the upstream stopped the tag is served" \
    pull_image "127.0.0.1:$PG_PORT/acme/app:v1" "$WORK/out3"
check "... as a stale answer" \
    test "$(m 'pullgate_answers_total{source="stale"}')" -gt "$s0"
check "... the entry's upstream error counted" \
    test "$(m 'pullgate_upstream_entry_errors_total{entry="remote"}')" -ge 1
check "... and its breaker opening" \
    test "$(m 'pullgate_breaker_openings_total{entry="remote"}')" = 1
curl -s -o /dev/null "http://127.0.0.1:$PG_PORT/nothing-here"
check "a 404 elsewhere is counted under route other" \
    test "$(m 'pullgate_responses_total{route="other",code="4xx"}')" -ge 1
finish
