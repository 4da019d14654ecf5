#!/bin/bash
# make bench: measurements, not pass/fail. Ratios are measured in one run,
# side by side, because the machine is shared and noisy. Every row is one
# line "name: value" at the end of the output.
#
#   cache-hit throughput: pullgate vs nginx serving the same file
#   cold pull: skopeo through pullgate vs straight from the registry
#   prefill of the same image into an empty cache vs that direct pull
#   upstream GETs for N simultaneous pulls of one blob
#   resident memory of the daemon with N slow clients on one large blob
#   RSS and private memory under 2,000 idle connections plus N streaming
#     clients
#   manifest request rate (ab, 64 connections, a fixed number of requests):
#     GET by tag, GET and HEAD by digest of a cached manifest, req/s and
#     p99, next to nginx serving the same manifest as a static file
#   feed: a Debian-main-sized apt repository (60,000 stanzas) behind nginx;
#     its Release, Packages.xz (also by-hash) and Packages.gz fetched cold
#     through /feeds/ (with /healthz latency meanwhile, while the indexes
#     are parsed), then 50 distinct uncached .deb files at once, with
#     /healthz latency (p50/p99/max) measured meanwhile, next to idle
#     /healthz and the same 50 straight from nginx
#   table: the rows of issue 14's table (tests/bench/table.sh)
#   scale: a cache of 100,000 blobs with cache_max_bytes set above its size
#     (nothing evicted) next to an empty cache: start-up time until
#     /healthz answers, RSS after start, time to first byte of a cold
#     download of a few MB, /healthz p99 while 5 cold downloads start
#
# Only the daemon's external interfaces are used (HTTP, CLI, config file,
# the cache directory layout), so the same script measures any version.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$TOP/tests/lib.sh"

N=${BENCH_CLIENTS:-8}
REPS=${BENCH_REPS:-10}
MREQS=${BENCH_MANIFEST_REQUESTS:-20000}
CONNS=64
STANZAS=${BENCH_FEED_STANZAS:-60000}
DEBS=50
BLOBS=${BENCH_SCALE_BLOBS:-100000}
STARTS=3
BENCH=$TOP/tests/bench
ROWS=$WORK/rows

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
ratio() {	# ratio A B: A/B with two decimals, "?" when either is not a number
	r=$(echo "$1 / $2" | bc -l 2>/dev/null)
	if [ -n "$r" ]; then printf '%.2f' "$r"; else echo "?"; fi
}
row() { echo "$1: $2" >> "$ROWS"; }	# row NAME VALUE
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start_registry bench
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 4 --size 16000000 > /dev/null
push_image "$WORK/img" v1 "$UP/bench/app:v1"
BIG=$(ls -S "$WORK/img/blobs/sha256" | head -1)
BIGF=$WORK/img/blobs/sha256/$BIG
start_pullgate bench --upstream "http://$UP" --log-level warn
PG=127.0.0.1:$PG_PORT

# Cold pull: direct, then through pullgate (cache empty), then warm.
t0=$(now); pull_image "$UP/bench/app:v1" "$WORK/direct"; t1=$(now)
pull_image "$PG/bench/app:v1" "$WORK/cold"; t2=$(now)
pull_image "$PG/bench/app:v1" "$WORK/warm"; t3=$(now)
direct=$(secs "$t0" "$t1"); cold=$(secs "$t1" "$t2"); warm=$(secs "$t2" "$t3")
row "skopeo pull straight from the registry" "$(printf '%.2f s' "$direct")"
row "skopeo pull through pullgate, cold" "$(printf '%.2f s (x%.2f)' "$cold" "$(echo "$cold / $direct" | bc -l)")"
row "skopeo pull through pullgate, warm" "$(printf '%.2f s (x%.2f)' "$warm" "$(echo "$warm / $direct" | bc -l)")"
# Prefill of the same image into an empty cache (a daemon of its own),
# next to the skopeo pull straight from the registry above.
printf 'registries = ( { id = 3; name = "up"; url = "http://%s"; } );\ndefault_registry = "up";\n' \
    "$UP" > "$WORK/prefill.conf"
t0=$(now)
"$PULLGATE" prefill -c "$WORK/prefill.conf" --listen "127.0.0.1:$(free_port)" \
    --cache "$WORK/cache-prefill" bench/app:v1 > "$WORK/prefill.out" 2>&1
pre=$(secs "$t0" "$(now)")
row "prefill of the image, empty cache (--jobs 4)" \
    "$(printf '%.2f s (x%.2f of the skopeo pull straight from the registry)' "$pre" "$(echo "$pre / $direct" | bc -l)")"

# Cache-hit throughput against nginx serving the same file.
mkdir -p "$WORK/nginx/www"
cp "$BIGF" "$WORK/nginx/www/blob"
start_static_nginx
size=$(stat -c %s "$BIGF")
rate() {	# rate URL: MB/s over REPS sequential downloads (curl's own timing)
	t=0
	for _ in $(seq "$REPS"); do
		set -- "$1" $(curl -s -o /dev/null -w '%{time_total} %{size_download}' "$1")
		[ "$3" = "$size" ] || { echo "bench: $1 sent $3 bytes, not $size" >&2; exit 1; }
		t=$(echo "$t + $2" | bc -l)
	done
	echo "$size * $REPS / $t / 1000000" | bc -l
}
pg_rate=$(rate "http://$PG/v2/bench/app/blobs/sha256:$BIG")
ngx_rate=$(rate "http://127.0.0.1:$NGX/blob")
row "cache hit, 16 MB blob, pullgate" "$(printf '%.0f MB/s' "$pg_rate")"
row "same file, nginx sendfile" "$(printf '%.0f MB/s (pullgate/nginx x%.2f)' "$ngx_rate" "$(echo "$pg_rate / $ngx_rate" | bc -l)")"

# Upstream GETs for N simultaneous pulls of one uncached blob.
$PY "$TOOLS/mkimage.py" "$WORK/img2" --tag v1 --layers 1 --size 32000000 --seed fan > /dev/null
push_image "$WORK/img2" v1 "$UP/bench/fan:v1"
FAN=$(ls -S "$WORK/img2/blobs/sha256" | head -1)
pids=""
for i in $(seq "$N"); do
	curl -s -o /dev/null "http://$PG/v2/bench/fan/blobs/sha256:$FAN" & pids="$pids $!"
done
for p in $pids; do wait "$p"; done
row "upstream GETs for $N simultaneous pulls" "$(upstream_gets "$REG_LOG" "sha256:$FAN")"

# Resident memory with N slow clients reading one large blob.
rss0=$(rss "$PG_PID")
pids=""
for i in $(seq "$N"); do
	curl -s -o /dev/null --limit-rate 2m "http://$PG/v2/bench/app/blobs/sha256:$BIG" & pids="$pids $!"
done
sleep 3
rss1=$(rss "$PG_PID")
for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
row "daemon RSS, idle -> $N slow clients" "$rss0 kB -> $rss1 kB"

# Memory under 2,000 idle connections (100 from each of 20 addresses, all
# within the limits) plus N clients streaming the large blob: RSS and
# private memory (Private_Dirty of smaps_rollup).
priv() { awk '/^Private_Dirty/ {print $2}' "/proc/$1/smaps_rollup"; }
rss0=$(rss "$PG_PID"); priv0=$(priv "$PG_PID")
$PY "$TOOLS/hostile.py" idle "$PG_PORT" 2000 60 $(seq -f '127.0.0.%g' 10 29) \
    > "$WORK/idle.out" &
idlepid=$!
PIDS="$PIDS $idlepid"
i=0
while [ ! -s "$WORK/idle.out" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
pids=""
for i in $(seq "$N"); do
	curl -s -o /dev/null --limit-rate 2m "http://$PG/v2/bench/app/blobs/sha256:$BIG" & pids="$pids $!"
done
sleep 3
rss1=$(rss "$PG_PID"); priv1=$(priv "$PG_PID")
open=$(metric pullgate_client_connections)
for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
stop_pid "$idlepid"
row "daemon RSS / private memory, idle -> 2,000 idle connections + $N streaming clients" \
    "$rss0 kB / $priv0 kB -> $rss1 kB / $priv1 kB ($open connections open)"

# Manifest request rate: ab, CONNS keep-alive connections, MREQS requests
# each run, against the cached manifest and nginx serving its bytes.
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
MDIG=$(curl -s -I -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/v1" |
    sed -n 's/^Docker-Content-Digest: *\([^[:space:]]*\).*/\1/Ip')
curl -s -H "$ACCEPT" -o "$WORK/nginx/www/manifest" "http://$PG/v2/bench/app/manifests/$MDIG"
ab_run() {	# ab_run NAME AB-ARGS... URL: sets AB_RPS, AB_P99 (ms), AB_BAD
	out=$WORK/ab-$1.txt; shift
	ab -q -k -s 60 -n "$MREQS" -c "$CONNS" "$@" > "$out" 2>&1
	AB_RPS=$(awk '/^Requests per second:/ {printf "%.0f", $4}' "$out")
	AB_P99=$(awk '$1 == "99%" {print $2}' "$out")
	AB_BAD=$(awk -v n="$MREQS" '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3}
	    /^Non-2xx responses:/ {x=$3} END {print n - c + f + x}' "$out")
	AB_RPS=${AB_RPS:-0}; AB_P99=${AB_P99:-?}
}
manifest_rows() {	# manifest_rows NAME NGINX-RPS: two rows from the last ab_run
	note=""
	[ "$AB_BAD" = 0 ] || note=" ($AB_BAD of $MREQS failed or not 2xx)"
	if [ -n "$2" ]; then
		row "$1, req/s" "$AB_RPS (pullgate/nginx x$(ratio "$AB_RPS" "$2"))$note"
	else
		row "$1, req/s" "$AB_RPS$note"
	fi
	row "$1, p99" "$AB_P99 ms"
}
ab_run ngx-get "http://127.0.0.1:$NGX/manifest"
ngx_get=$AB_RPS; manifest_rows "manifest GET, static file, nginx, $CONNS conns" ""
ab_run ngx-head -i "http://127.0.0.1:$NGX/manifest"
ngx_head=$AB_RPS; manifest_rows "manifest HEAD, static file, nginx, $CONNS conns" ""
ab_run tag -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/v1"
manifest_rows "manifest GET by tag, pullgate, $CONNS conns" "$ngx_get"
ab_run digest -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/$MDIG"
manifest_rows "manifest GET by digest, pullgate, $CONNS conns" "$ngx_get"
ab_run digest-head -i -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/$MDIG"
manifest_rows "manifest HEAD by digest, pullgate, $CONNS conns" "$ngx_head"
stop_pid "$PG_PID"

# probe_start NAME URL: /healthz latency in a loop until probe_stop NAME.
probe_start() {
	rm -f "$WORK/probe-$1.stop"
	$PY "$BENCH/probe.py" latency "$2" --stop "$WORK/probe-$1.stop" \
	    --max-seconds 600 > "$WORK/probe-$1.out" &
	PROBE_PID=$!
	PIDS="$PIDS $PROBE_PID"
	sleep 0.3
}
probe_stop() {	# sets PROBE (samples p50 p99 max errors)
	touch "$WORK/probe-$1.stop"
	wait "$PROBE_PID"
	forget_pid "$PROBE_PID"
	read -r PROBE < "$WORK/probe-$1.out"
}
probe_field() { echo "$PROBE" | cut -d' ' -f"$1"; }

# Feed: a Debian-main-sized repository, its indexes cached, then DEBS
# distinct uncached package files at once.
REPO=$WORK/nginx/www/deb
$PY "$BENCH/mkfeed.py" "$REPO" --stanzas "$STANZAS" --debs "$DEBS" > "$WORK/debs.list"
sync
cat > "$WORK/feeds.conf" <<CONF
feeds = ( { name = "bench"; url = "http://127.0.0.1:$NGX/deb"; } );
CONF
start_pullgate feeds -c "$WORK/feeds.conf" --log-level warn
PGF=127.0.0.1:$PG_PORT
BIN=dists/stable/main/binary-amd64
XZ=$(sha256sum < "$REPO/$BIN/Packages.xz" | cut -d' ' -f1)
INDEXES="Release:dists/stable/Release Packages.xz:$BIN/Packages.xz
by-hash:$BIN/by-hash/SHA256/$XZ Packages.gz:$BIN/Packages.gz"	# label:path
code() { curl -s -o /dev/null --max-time 300 -w '%{http_code}' "$1"; }
codes="InRelease $(code "http://$PGF/feeds/bench/dists/stable/InRelease")"	# unsigned: 404
probe_start feed-index "http://$PGF/healthz"
t0=$(now)
for f in $INDEXES; do codes="$codes, ${f%%:*} $(code "http://$PGF/feeds/bench/${f#*:}")"; done
t1=$(now)
probe_stop feed-index
index_probe=$PROBE
for f in $INDEXES; do code "http://127.0.0.1:$NGX/deb/${f#*:}" > /dev/null; done
t2=$(now)
idx_pg=$(secs "$t0" "$t1"); idx_ngx=$(secs "$t1" "$t2")
row "feed: index fetches through pullgate (HTTP status)" "$codes"
row "feed: Release, Packages.xz, by-hash, Packages.gz cold through pullgate" \
    "$(printf '%.2f s (x%.2f of nginx direct, %.2f s)' "$idx_pg" "$(echo "$idx_pg / $idx_ngx" | bc -l)" "$idx_ngx")"

probe_start feed-idle "http://$PGF/healthz"
sleep 1
probe_stop feed-idle
row "feed: /healthz idle, p50 / p99 / max" "$(probe_field 2) / $(probe_field 3) / $(probe_field 4) ms"
idle_p99=$(probe_field 3)
PROBE=$index_probe
row "feed: /healthz during the cold index fetches (parsed meanwhile), p50 / p99 / max" \
    "$(probe_field 2) / $(probe_field 3) / $(probe_field 4) ms ($(probe_field 1) samples, $(probe_field 5) failed)"

fire_debs() {	# fire_debs BASE OUT: every listed .deb at once; seconds until all done
	: > "$2"
	t0=$(now)
	pids=""
	while read -r f; do
		curl -s -o /dev/null --max-time 300 -w '%{http_code}\n' "$1/$f" >> "$2" &
		pids="$pids $!"
	done < "$WORK/debs.list"
	for p in $pids; do wait "$p"; done
	secs "$t0" "$(now)"
}
probe_start feed "http://$PGF/healthz"
deb_pg=$(fire_debs "http://$PGF/feeds/bench" "$WORK/debs-pg.out")
probe_stop feed
deb_ngx=$(fire_debs "http://127.0.0.1:$NGX/deb" "$WORK/debs-ngx.out")
deb_ok=$(grep -c '^200$' "$WORK/debs-pg.out")
deb_cached=$(find "$PG_CACHE/feeds/bench/data/pool" -name '*.deb#' 2>/dev/null | wc -l)
row "feed: $DEBS uncached .deb at once through pullgate, all done" \
    "$(printf '%.2f s (x%.2f of nginx direct, %.3f s)' "$deb_pg" "$(echo "$deb_pg / $deb_ngx" | bc -l)" "$deb_ngx")"
row "feed: the $DEBS .deb, answered 200 / stored in the cache" "$deb_ok / $deb_cached of $DEBS"
row "feed: /healthz during the $DEBS, p50 / p99 / max" \
    "$(probe_field 2) / $(probe_field 3) / $(probe_field 4) ms (p99 x$(ratio "$(probe_field 3)" "$idle_p99") of idle; $(probe_field 1) samples, $(probe_field 5) failed)"
stop_pid "$PG_PID"

# Scale: a cache of BLOBS blobs (budget set, nothing evicted) next to an
# empty one, the same configuration; six uncached layers of 4 MB upstream.
$PY "$TOOLS/mkimage.py" "$WORK/img3" --tag v1 --layers 6 --size 4000000 --seed scale > /dev/null
push_image "$WORK/img3" v1 "$UP/bench/scale:v1"
LAYERS=$(ls -S "$WORK/img3/blobs/sha256" | head -6)
FIRST=$(echo "$LAYERS" | head -1)
for l in $LAYERS; do	# warms the registry's side for both runs
	curl -s -o /dev/null "http://$UP/v2/bench/scale/blobs/sha256:$l"
done
ttfb_up=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://$UP/v2/bench/scale/blobs/sha256:$FIRST")
total=$($PY "$BENCH/mkblobs.py" "$WORK/cache-full" --count "$BLOBS")
sync	# their write-back would otherwise land on the measurements
cat > "$WORK/scale.conf" <<CONF
cache_max_bytes = $((total * 2 + 100000000));
CONF
scale_run() {	# scale_run NAME: sets S_UP S_RSS S_TTFB S_PROBE S_ALL
	ups=""
	for try in $(seq "$STARTS"); do	# start-up: the median of STARTS
		port=$(free_port)
		$PY "$BENCH/probe.py" up "http://127.0.0.1:$port/healthz" \
		    --max-seconds 300 > "$WORK/up-$1" &
		w=$!
		PIDS="$PIDS $w"
		sleep 0.3
		t0=$(now)
		PG_PORT_FIXED=$port PG_CACHE_FIXED=$WORK/cache-$1 start_pullgate "$1" \
		    -c "$WORK/scale.conf" --upstream "http://$UP" --log-level warn
		wait "$w"; forget_pid "$w"
		up=$(cat "$WORK/up-$1")
		case $up in
		[0-9]*) ups="$ups $(secs "$t0" "$up")" ;;
		*) ups="$ups 999" ;;	# not up within the probe's 300 s
		esac
		[ "$try" = "$STARTS" ] || stop_pid "$PG_PID"	# (lib.sh uses i)
	done
	S_UP=$(printf '%s\n' $ups | sort -n | sed -n "$(((STARTS + 1) / 2))p")
	sleep 0.5
	S_RSS=$(rss "$PG_PID")
	S_IDX=$(metric pullgate_store_index_memory_bytes)
	S_TTFB=$(curl -s -o /dev/null --max-time 300 -w '%{time_starttransfer}' \
	    "http://127.0.0.1:$port/v2/bench/scale/blobs/sha256:$FIRST")
	probe_start "scale-$1" "http://127.0.0.1:$port/healthz"
	t0=$(now)
	pids=""
	for l in $(echo "$LAYERS" | tail -n +2); do
		curl -s -o /dev/null --max-time 300 "http://127.0.0.1:$port/v2/bench/scale/blobs/sha256:$l" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	S_ALL=$(secs "$t0" "$(now)")
	probe_stop "scale-$1"
	S_PROBE=$PROBE
	stop_pid "$PG_PID"
}
scale_run full
f_up=$S_UP f_idx=$S_IDX f_rss=$S_RSS f_ttfb=$S_TTFB f_probe=$S_PROBE f_all=$S_ALL
f_left=$(find "$WORK/cache-full/blobs/sha256" -type f | wc -l)
scale_run empty
e_up=$S_UP e_idx=$S_IDX e_rss=$S_RSS e_ttfb=$S_TTFB e_probe=$S_PROBE e_all=$S_ALL
pf() { echo "$1" | cut -d' ' -f"$2"; }
row "scale: blobs in the full cache" "$BLOBS, $total bytes, cache_max_bytes $((total * 2 + 100000000)); $f_left after the run"
row "scale: start-up to /healthz (median of $STARTS), $BLOBS blobs / empty" \
    "$(printf '%.3f s / %.3f s' "$f_up" "$e_up") (x$(ratio "$f_up" "$e_up"))"
row "scale: RSS after start, $BLOBS blobs / empty" "$f_rss kB / $e_rss kB"
row "scale: store index memory, $BLOBS blobs / empty" "$((f_idx / 1024)) KiB / $((e_idx / 1024)) KiB"
row "scale: cold 4 MB blob, time to first byte, $BLOBS blobs / empty" \
    "$(printf '%.4f s / %.4f s' "$f_ttfb" "$e_ttfb") (x$(ratio "$f_ttfb" "$e_ttfb"); registry direct $(printf '%.4f' "$ttfb_up") s)"
row "scale: /healthz p99 while 5 cold downloads start, $BLOBS blobs / empty" \
    "$(pf "$f_probe" 3) ms / $(pf "$e_probe" 3) ms (x$(ratio "$(pf "$f_probe" 3)" "$(pf "$e_probe" 3)"))"
row "scale: /healthz max while 5 cold downloads start, $BLOBS blobs / empty" \
    "$(pf "$f_probe" 4) ms / $(pf "$e_probe" 4) ms ($(pf "$f_probe" 1) / $(pf "$e_probe" 1) samples)"
row "scale: the 5 cold downloads all done, $BLOBS blobs / empty" \
    "$(printf '%.3f s / %.3f s' "$f_all" "$e_all")"

# The table of issue 14: a 268 MB blob and a 105 MB image, each row with
# its reference (nginx, or the registry straight) measured beside it.
bash "$BENCH/table.sh" 2> "$WORK/table.err" | grep '^table: ' >> "$ROWS"

row "daemon log lines at warn or error level (all runs)" \
    "$(cat "$WORK"/pullgate-*.log | grep -c -i -E '\[(warn|error)\]')"
echo
cat "$ROWS"
