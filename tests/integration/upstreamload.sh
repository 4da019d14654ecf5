#!/bin/bash
# Bounded upstream work (issue 10, item 5) and hostile upstreams:
# identical requests in flight go upstream once; an entry's concurrent
# upstream requests stay at its cap under 500 distinct misses, with
# memory bounded; a request that waits too long for a slot is answered
# (503 + Retry-After, or the stale tag); upstreams that stall after the
# headers, send headers without end, loop redirects or answer another
# manifest than the one asked for each get a clear error, cache nothing,
# and the daemon pulls normally afterwards.
. "$(dirname "$0")/../lib.sh"
only_variants openssl-address	# load and crash paths: once, under ASan

S2=application/vnd.docker.distribution.manifest.v2+json
ALL="application/vnd.docker.distribution.manifest.list.v2+json, $S2, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
CAP=8

# The fake upstreams' content: manifests acme/app:v1 and acme/other:v1,
# and 500 small blobs.
mkdir -p "$WORK/fakeblobs"
$PY - "$WORK/fakeblobs" > "$WORK/ids" <<'PY'
import hashlib, json, os, random, sys
d = sys.argv[1]
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(d, h), "wb").write(data)
    return "sha256:" + h
for repo in ("app", "other", "third"):
    cfg = put(json.dumps({"repo": repo}).encode())
    m = put(json.dumps({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 10, "digest": cfg}, "layers": []}).encode())
    os.makedirs(os.path.join(d, "tags", "acme", repo), exist_ok=True)
    open(os.path.join(d, "tags", "acme", repo, "v1"), "w").write(m)
    print("MANIFEST_" + repo.upper() + "=" + m)
rng = random.Random(5)
with open(os.path.join(d, "..", "blobs.list"), "w") as f:
    for i in range(500):
        f.write(put(rng.randbytes(2048)) + "\n")
PY
. "$WORK/ids"

start_registry up
UP=127.0.0.1:$REG_PORT
for i in 1 2 3 4 5; do
	$PY "$TOOLS/mkimage.py" "$WORK/img$i" --tag v1 --layers 2 --size 30000 \
	    --seed "seed$i" > /dev/null
	push_image "$WORK/img$i" v1 "$UP/acme/img$i:v1"
done
start_fake good --answer-delay 0.5
SLOW=$FAKE_PORT; SLOW_LOG=$FAKE_LOG
start_fake good --answer-delay 0.1
MANY=$FAKE_PORT; MANY_LOG=$FAKE_LOG
start_fake good
HOSTILE=$FAKE_PORT; HOSTILE_LOG=$FAKE_LOG

cat > "$WORK/pg.conf" <<CONF
default_registry = "good";
breaker_seconds = 0;
upstream_transfer: { connect_timeout = 2; low_speed_time = 2;
  max_per_entry = $CAP; queue_timeout = 60; };
registries = (
  { id = 3; name = "good"; url = "http://$UP"; },
  { id = 4; name = "slow"; url = "http://127.0.0.1:$SLOW"; },
  { id = 5; name = "many"; url = "http://127.0.0.1:$MANY"; },
  { id = 6; name = "hostile"; url = "http://127.0.0.1:$HOSTILE"; }
);
CONF
start_pullgate load -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

# --- Identical requests in flight: one upstream GET. ----------------------
sent0=$(metric pullgate_upstream_requests_total)
for i in $(seq 10); do echo "http://$PG/v2/slow/acme/app/manifests/v1"; done > "$WORK/tag.list"
$PY "$TOOLS/loadclient.py" -f "$WORK/tag.list" --header "Accept: $S2" > "$WORK/tag-s2.out" &
a=$!
$PY "$TOOLS/loadclient.py" -f "$WORK/tag.list" --header "Accept: $ALL" > "$WORK/tag-all.out"
wait $a
check "20 simultaneous GETs of one uncached tag (two Accept kinds) all answered: $(cat "$WORK/tag-s2.out") / $(cat "$WORK/tag-all.out")" \
    sh -c "grep -qx '200=10 bad_digest=0' '$WORK/tag-s2.out' && grep -qx '200=10 bad_digest=0' '$WORK/tag-all.out'"
n=$(grep -c "^GET /v2/acme/app/manifests/v1" "$SLOW_LOG")
check "... with one upstream GET ($n in the upstream's log)" test "$n" = 1
sent=$(($(metric pullgate_upstream_requests_total) - sent0))
shared=$(metric pullgate_upstream_shared_total)
check "... counted: 1 upstream request, 19 shared ($sent, $shared)" \
    sh -c "[ $sent = 1 ] && [ $shared = 19 ]"

# --- 500 distinct uncached blobs at once: the cap holds. -------------------
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$PG_PID/status"; }
rss0=$(rss_kb)
sed "s|^|http://$PG/v2/many/acme/app/blobs/|" "$WORK/blobs.list" > "$WORK/many.list"
peak=0
( while kill -0 "$PG_PID" 2>/dev/null; do rss_kb; sleep 0.2; done ) > "$WORK/rss.samples" &
sampler=$!
PIDS="$PIDS $sampler"
$PY "$TOOLS/loadclient.py" -f "$WORK/many.list" > "$WORK/many.out"
kill "$sampler" 2>/dev/null
peak=$(sort -n "$WORK/rss.samples" | tail -1)
grow=$(( (peak - rss0) / 1024 ))
check "500 distinct uncached blobs at once: all served and verified ($(cat "$WORK/many.out"))" \
    grep -qx '200=500 bad_digest=0' "$WORK/many.out"
max=$(curl -s "http://127.0.0.1:$MANY/_fake/stats" | $PY -c 'import json,sys; print(json.load(sys.stdin)["max"])')
check "... the upstream never saw more than $CAP at once (max $max)" \
    sh -c "[ '$max' -le $CAP ] && [ '$max' -ge 2 ]"
check "... requests waited in line (counted: $(metric pullgate_upstream_queued_total))" \
    test "$(metric pullgate_upstream_queued_total)" -gt 0
check "... and the line is empty again" \
    sh -c "[ $(metric pullgate_upstream_waiting) = 0 ] && [ $(metric pullgate_upstream_in_flight) = 0 ]"
bound=64
case $PULLGATE in *address*) bound=128 ;; esac	# ASan's quarantine and shadow
check "... daemon RSS grew by ${grow} MiB (bound: $bound MiB) from $((rss0 / 1024)) MiB" \
    test "$grow" -lt $bound
echo "# figures: 500 misses, cap $CAP: upstream max concurrency $max, RSS $((rss0 / 1024)) -> $((peak / 1024)) MiB"

# --- Hostile upstreams. -----------------------------------------------------
good_pull() {	# good_pull N: a normal pull of image N through the good entry
	pull_image "$PG/good/acme/img$1:v1" "$WORK/pull$1" &&
	    blobs_verified "$WORK/pull$1" && same_blobs "$WORK/pull$1" "$WORK/img$1"
}
nothing_cached() {	# nothing_cached WORD: no tag or tmp file names it
	[ -z "$(find "$PG_CACHE" -path "*$1*" -print -quit)" ] &&
	    [ -z "$(ls -A "$PG_CACHE/tmp")" ]
}
# hostile NAME PATH: GET through pullgate; sets CODE, SECS, BODY.
hostile() {
	t0=$(date +%s)
	CODE=$(curl -s -o "$WORK/$1.body" -w '%{http_code}' --max-time 60 \
	    -H "Accept: $ALL" "http://$PG/v2/hostile/$2")
	SECS=$(($(date +%s) - t0))
}

hostile stall stall/app/manifests/v1
check "stalls after headers: 502 in ${SECS} s, naming the entry" \
    sh -c "[ '$CODE' = 502 ] && [ $SECS -le 10 ] && grep -q \"registry 'hostile'\" '$WORK/stall.body'"
check "... nothing cached" nothing_cached stall
NOBLOB=sha256:$(echo never-served | sha256sum | cut -d' ' -f1)
code=$(curl -s -o "$WORK/stallblob" -w '%{http_code}' --max-time 60 \
    "http://$PG/v2/hostile/stall/app/blobs/$NOBLOB")
check "a blob that stalls after headers is cut short ($code, $(fsize "$WORK/stallblob") of 1000 bytes)" \
    test "$(fsize "$WORK/stallblob")" -lt 1000
check "... nothing cached" nothing_cached "${NOBLOB#sha256:}"
check "... and no blob" test ! -e "$PG_CACHE/blobs/sha256/${NOBLOB:7:2}/${NOBLOB#sha256:}"
check "after it, a normal pull" good_pull 1

rss0=$(rss_kb)
hostile endless endless/app/manifests/v1
check "headers without end: 502 in ${SECS} s" \
    sh -c "[ '$CODE' = 502 ] && [ $SECS -le 10 ] && grep -q \"registry 'hostile'\" '$WORK/endless.body'"
check "... memory bounded ($(( ($(rss_kb) - rss0) / 1024 )) MiB more)" \
    test $(( ($(rss_kb) - rss0) / 1024 )) -lt 16
check "... nothing cached" nothing_cached endless
check "after it, a normal pull" good_pull 2

hostile loop loop/app/manifests/v1
n=$(grep -c "^GET /v2/loop/app/manifests/v1" "$HOSTILE_LOG")
check "redirect loop: 502 in ${SECS} s after $n requests" \
    sh -c "[ '$CODE' = 502 ] && [ $n -le 6 ] && grep -q \"registry 'hostile'\" '$WORK/loop.body'"
check "... nothing cached" nothing_cached loop
check "after it, a normal pull" good_pull 3

hostile wrong "wrongdigest/acme/third/manifests/$MANIFEST_THIRD"
check "a manifest other than the one asked for: 502 DIGEST_INVALID" \
    sh -c "[ '$CODE' = 502 ] && grep -q DIGEST_INVALID '$WORK/wrong.body'"
check "... nothing cached (neither digest)" \
    sh -c "! grep -rqs wrong '$PG_CACHE/blobs' && [ ! -e '$PG_CACHE/blobs/sha256/${MANIFEST_THIRD:7:2}/${MANIFEST_THIRD#sha256:}' ]"
check "after it, a normal pull" good_pull 4
check "the daemon is still running" kill -0 "$PG_PID"

# --- No slot in time: 503 with Retry-After, or the stale tag. ---------------
stop_pid "$PG_PID"
start_fake good --answer-delay 4
BUSY=$FAKE_PORT
cat > "$WORK/pg-busy.conf" <<CONF
default_registry = "busy";
breaker_seconds = 0;
upstream_transfer: { max_per_entry = 1; queue_timeout = 1; };
registries = ( { id = 3; name = "busy"; url = "http://127.0.0.1:$BUSY"; tag_ttl = 0; } );
CONF
start_pullgate busy -c "$WORK/pg-busy.conf"
PG=127.0.0.1:$PG_PORT
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ALL" "http://$PG/v2/acme/other/manifests/v1")
check "a slow upstream answers acme/other ($code)" test "$code" = 200
curl -s -o /dev/null -H "Accept: $ALL" "http://$PG/v2/acme/app/manifests/v1" &
hold=$!
sleep 0.5
curl -s -D "$WORK/stale.h" -o /dev/null -H "Accept: $ALL" "http://$PG/v2/acme/other/manifests/v1"
check "while the one slot is taken, a cached tag that waited too long is served stale" \
    sh -c "grep -q '^HTTP/1.1 200' '$WORK/stale.h' && grep -qi '^Warning: 110' '$WORK/stale.h'"
check "... the entry's one slot is in use (per-entry gauge)" \
    test "$(metric 'pullgate_upstream_entry_in_flight{entry="busy"}')" = 1
curl -s -D "$WORK/busy.h" -o "$WORK/busy.body" -H "Accept: $ALL" "http://$PG/v2/acme/third/manifests/v1"
check "... and an uncached one gets 503 with Retry-After" \
    sh -c "grep -q '^HTTP/1.1 503' '$WORK/busy.h' && grep -qi '^Retry-After: ' '$WORK/busy.h' && grep -q UNAVAILABLE '$WORK/busy.body'"
wait $hold
check "queue timeouts counted ($(metric pullgate_upstream_queue_timeouts_total))" \
    test "$(metric pullgate_upstream_queue_timeouts_total)" = 2
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ALL" "http://$PG/v2/acme/third/manifests/v1")
check "once the slot is free, the same request is served ($code)" test "$code" = 200

finish
