#!/bin/bash
# The table of issue 14, every row measured in this one run with its
# reference beside it (nginx serving the same files, or the registry
# straight): a 268 MB blob and a 105 MB five-layer image. Prints rows
# "name: value"; run.sh appends them to its own, or run it alone:
#   bash tests/bench/table.sh
# The machine is shared: compare the ratios, which are taken side by side.
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# The last row puts a rate on the registry's side of loopback (tc), which
# needs a network namespace of the table's own: as root, the table runs
# in one (everything it starts talks over that namespace's loopback).
# Root without the right to make one (a container) runs without it.
if [ -z "${TABLE_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
    command -v tc > /dev/null && unshare -n true 2> /dev/null; then
	TABLE_NETNS=1 exec unshare -n bash "$0" "$@"
fi
[ -z "${TABLE_NETNS:-}" ] || ip link set lo up
. "$TOP/tests/lib.sh"

BIGSIZE=${BENCH_BIG_BYTES:-268000000}
LAYERSIZE=${BENCH_LAYER_BYTES:-21000000}	# five of them: the image
MREQS=${BENCH_MANIFEST_REQUESTS:-20000}
REPS=${BENCH_HIT_REPS:-3}
CONNS=64
HZ=$(getconf CLK_TCK)

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
ratio() {
	r=$(echo "$1 / $2" | bc -l 2>/dev/null)
	if [ -n "$r" ]; then printf '%.2f' "$r"; else echo "?"; fi
}
row() { echo "table: $1: $2"; }
cpu() {		# cpu PID...: user+system seconds of the processes so far
	t=0
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t / $HZ" | bc -l
}

# A virtual machine may back its memory only when first touched: here
# the first write of a file into never-used memory runs at a tenth of the
# speed of one into memory freed before. Every side of the table writes
# files (skopeo's copies, pullgate's cache), the reference often first;
# so that no row measures the hypervisor, the rate of both is printed,
# then PRETOUCH_MB of page cache is written and freed before the rest.
mbs_dd() {	# mbs_dd FILE MB: MB/s of writing MB into a new FILE
	t0=$(now)
	dd if=/dev/zero of="$1" bs=1M count="$2" status=none
	printf '%.0f' "$(echo "$2 / ($(now) - $t0)" | bc -l)"
}
fresh=$(mbs_dd "$WORK/touch" 256); rm -f "$WORK/touch"
reused=$(mbs_dd "$WORK/touch" 256); rm -f "$WORK/touch"
row "machine: writing 256 MB into fresh / reused memory, MB/s" "$fresh / $reused"
dd if=/dev/zero of="$WORK/touch" bs=1M count="${PRETOUCH_MB:-2048}" status=none
rm -f "$WORK/touch"

start_registry table
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 5 --size "$LAYERSIZE" --seed t5 > /dev/null
push_image "$WORK/img" v1 "$UP/bench/app:v1"
$PY "$TOOLS/mkimage.py" "$WORK/big" --tag v1 --layers 1 --size "$BIGSIZE" --seed big > /dev/null
push_image "$WORK/big" v1 "$UP/bench/big:v1"
BIG=$(ls -S "$WORK/big/blobs/sha256" | head -1)
size=$(stat -c %s "$WORK/big/blobs/sha256/$BIG")
PG=
# The timed rows are measured ROUNDS times, each round with a daemon on
# an empty cache of its own and the two sides in alternating order; a row
# gives the median of the rounds' ratios, their range and the median
# times. The last round's daemon (its cache now holding everything)
# serves the rows after them.
ROUNDS=${BENCH_ROUNDS:-3}
median() {	# median < numbers
	sort -g | awk '{ v[NR] = $1 } END {
	    print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
timed_row() {	# timed_row NAME KEY: the rounds' WORK/KEY.* files
	row "$1" "x$(printf '%.2f' "$(median < "$WORK/$2.ratio")") (median of $ROUNDS rounds, $(sort -g "$WORK/$2.ratio" |
	    awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "x%.2f-%.2f", lo, hi }'); $(printf '%.2f s / %.2f s' "$(median < "$WORK/$2.ours")" "$(median < "$WORK/$2.ref")"))"
}
record() {	# record KEY OURS REF: one round's times
	echo "$2" >> "$WORK/$1.ours"; echo "$3" >> "$WORK/$1.ref"
	ratio "$2" "$3" >> "$WORK/$1.ratio"; echo >> "$WORK/$1.ratio"
}
# The client has every verified byte before the daemon has synced the
# files to disk and put them in place: "all cached" starts after that.
settle() {
	n=0
	while [ "$(metric pullgate_transfers_in_flight)" != 0 ] ||
	    [ "$(metric pullgate_transfers_storing)" != 0 ]; do
		[ $n -lt 300 ] || break
		sleep 0.1; n=$((n + 1))
	done
}
parallel_get() {	# parallel_get URL N: seconds until all N are done
	t0=$(now); pids=""
	for _ in $(seq "$2"); do
		curl -s -o /dev/null "$1" & pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	secs "$t0" "$(now)"
}
timed_pull() {	# timed_pull REF: seconds of a skopeo pull
	t0=$(now); pull_image "$1" "$WORK/pulled"; secs "$t0" "$(now)"
}
# pulls_round ROUND COLD WARM: a cold pull of the five-layer image
# through the daemon and a pull straight from the registry, in the
# round's order; then, once stored, the warm pull against that direct
# one. Recorded as COLD and WARM.
pulls_round() {
	if [ $(($1 % 2)) = 1 ]; then
		direct=$(timed_pull "$UP/bench/app:v1")
		cold=$(timed_pull "$PG/bench/app:v1")
	else
		cold=$(timed_pull "$PG/bench/app:v1")
		direct=$(timed_pull "$UP/bench/app:v1")
	fi
	record "$2" "$cold" "$direct"
	settle
	record "$3" "$(timed_pull "$PG/bench/app:v1")" "$direct"
}
upbytes=0
for round in $(seq "$ROUNDS"); do
	[ -z "$PG" ] || { stop_pid "$PG_PID"; rm -rf "$PG_CACHE"; }
	start_pullgate "round$round" --upstream "http://$UP" --log-level warn
	PG=127.0.0.1:$PG_PORT
	pulls_round "$round" cold warm
	# 8 clients on the uncached big blob, and 8 straight from the registry.
	u0=$(metric pullgate_upstream_bytes_total)
	if [ $((round % 2)) = 1 ]; then
		d8=$(parallel_get "http://$UP/v2/bench/big/blobs/sha256:$BIG" 8)
		p8=$(parallel_get "http://$PG/v2/bench/big/blobs/sha256:$BIG" 8)
	else
		p8=$(parallel_get "http://$PG/v2/bench/big/blobs/sha256:$BIG" 8)
		d8=$(parallel_get "http://$UP/v2/bench/big/blobs/sha256:$BIG" 8)
	fi
	record eight "$p8" "$d8"
	u=$(( $(metric pullgate_upstream_bytes_total) - u0 ))
	[ "$u" -le "$upbytes" ] || upbytes=$u
	settle
done
timed_row "cold pull of the $(du -sm "$WORK/img/blobs" | cut -f1) MB image with skopeo, x direct" cold
timed_row "warm pull (all cached), x direct" warm
timed_row "8 clients on one uncached $((size / 1000000)) MB blob, time x direct" eight
row "8 clients on one uncached $((size / 1000000)) MB blob, upstream bytes x size (most of $ROUNDS rounds)" \
    "x$(ratio "$upbytes" "$size")"

# Cache hits of the big blob, 1 and 8 clients, against nginx sendfile.
mkdir -p "$WORK/nginx/www"
ln "$WORK/big/blobs/sha256/$BIG" "$WORK/nginx/www/blob" 2>/dev/null ||
    cp "$WORK/big/blobs/sha256/$BIG" "$WORK/nginx/www/blob"
start_static_nginx
NGXW="$NGX_PID $(ps -o pid= --ppid "$NGX_PID" | tr '\n' ' ')"
cat "$WORK/nginx/www/blob" > /dev/null		# both read from the page cache
hits() {	# hits URL N PID...: sets HIT_MBS (MB/s, all clients) and HIT_CPU (s/GB)
	url=$1; n=$2; shift 2
	c0=$(cpu "$@"); t=0
	for _ in $(seq "$REPS"); do
		t=$(echo "$t + $(parallel_get "$url" "$n")" | bc -l)
	done
	c1=$(cpu "$@")
	HIT_MBS=$(echo "$size * $n * $REPS / $t / 1000000" | bc -l)
	HIT_CPU=$(echo "($c1 - $c0) / ($size * $n * $REPS / 1000000000)" | bc -l)
}
for n in 1 8; do
	hits "http://$PG/v2/bench/big/blobs/sha256:$BIG" $n "$PG_PID"
	pg_mbs=$HIT_MBS; pg_cpu=$HIT_CPU
	hits "http://127.0.0.1:$NGX/blob" $n $NGXW
	row "cache hit, $n client(s), MB/s" "$(printf '%.0f, nginx sendfile %.0f' "$pg_mbs" "$HIT_MBS") (x$(ratio "$pg_mbs" "$HIT_MBS"))"
	row "CPU seconds per GB served on hits, $n client(s)" "$(printf '%.2f, nginx %.2f' "$pg_cpu" "$HIT_CPU")"
done

# Manifests: ab, CONNS keep-alive connections, against nginx's static file.
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
MDIG=$(curl -s -I -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/v1" |
    sed -n 's/^Docker-Content-Digest: *\([^[:space:]]*\).*/\1/Ip')
curl -s -H "$ACCEPT" -o "$WORK/nginx/www/manifest" "http://$PG/v2/bench/app/manifests/$MDIG"
ab_run() {	# ab_run NAME PIDS AB-ARGS... URL: AB_RPS, AB_P99 (ms), AB_CPU (µs/req)
	out=$WORK/ab-$1.txt; pids=$2; shift 2
	# shellcheck disable=SC2086
	c0=$(cpu $pids)
	ab -q -k -s 60 -n "$MREQS" -c "$CONNS" "$@" > "$out" 2>&1
	# shellcheck disable=SC2086
	c1=$(cpu $pids)
	AB_RPS=$(awk '/^Requests per second:/ {printf "%.0f", $4}' "$out")
	AB_P99=$(awk '$1 == "99%" {print $2}' "$out")
	AB_RPS=${AB_RPS:-0}; AB_P99=${AB_P99:-?}
	AB_CPU=$(printf '%.0f' "$(echo "($c1 - $c0) * 1000000 / $MREQS" | bc -l)")
}
ab_run ngx-get "$NGXW" "http://127.0.0.1:$NGX/manifest"
n_get=$AB_RPS; n_get_cpu=$AB_CPU; n_get_p99=$AB_P99
ab_run ngx-head "$NGXW" -i "http://127.0.0.1:$NGX/manifest"
n_head=$AB_RPS
ab_run tag "$PG_PID" -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/v1"
row "manifest GET by tag, req/s, p99, CPU per request" \
    "$AB_RPS, $AB_P99 ms, $AB_CPU µs; nginx static file $n_get, $n_get_p99 ms, $n_get_cpu µs (x$(ratio "$AB_RPS" "$n_get"))"
ab_run digest "$PG_PID" -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/$MDIG"
d_get=$AB_RPS
ab_run digest-head "$PG_PID" -i -H "$ACCEPT" "http://$PG/v2/bench/app/manifests/$MDIG"
row "manifest GET / HEAD by digest, req/s" \
    "$d_get / $AB_RPS; nginx $n_get / $n_head (x$(ratio "$d_get" "$n_get") / x$(ratio "$AB_RPS" "$n_head"))"

# Prefill of the image into an empty cache (a daemon on it), against
# skopeo copying the same image from the registry.
stop_pid "$PG_PID"
for round in $(seq "$ROUNDS"); do
	rm -rf "$PG_CACHE"
	start_pullgate "prefill$round" --upstream "http://$UP" --log-level warn
	[ $((round % 2)) = 1 ] || copy=$(timed_pull "$UP/bench/app:v1")
	t0=$(now)
	"$PULLGATE" prefill --listen "127.0.0.1:$PG_PORT" --cache "$PG_CACHE" \
	    bench/app:v1 > "$WORK/prefill.out" 2>&1 || echo "bench: prefill failed" >&2
	pre=$(secs "$t0" "$(now)")
	[ $((round % 2)) = 0 ] || copy=$(timed_pull "$UP/bench/app:v1")
	record prefill "$pre" "$copy"
	stop_pid "$PG_PID"
done
timed_row "prefill of the image, x skopeo copy" prefill

# The cold pull again with the registry's answers, to both sides, at
# UPLINK (htb on loopback, matching the registry's port): the download is
# bound by the network, as on a gateway, and the row shows the time
# pullgate adds to it; then the warm pull against that direct one, what
# the cache saves a gateway. 1 Gbit/s is a fast uplink for a gateway.
UPLINK=${BENCH_UPLINK:-1gbit}
uplink_row="cold pull of the image, the upstream at $UPLINK (tc), x direct"
uplink_warm_row="warm pull (all cached), x direct with the upstream at $UPLINK (tc)"
if [ -n "${TABLE_NETNS:-}" ] &&
    tc qdisc add dev lo root handle 1: htb default 10 &&
    tc class add dev lo parent 1: classid 1:10 htb rate 100gbit &&
    tc class add dev lo parent 1: classid 1:20 htb rate "$UPLINK" &&
    tc filter add dev lo parent 1: protocol ip prio 1 u32 \
    match ip sport "$REG_PORT" 0xffff flowid 1:20; then
	for round in $(seq "$ROUNDS"); do
		rm -rf "$PG_CACHE"
		start_pullgate "uplink$round" --upstream "http://$UP" --log-level warn
		PG=127.0.0.1:$PG_PORT
		pulls_round "$round" uplink uplinkwarm
		stop_pid "$PG_PID"
	done
	tc qdisc del dev lo root
	timed_row "$uplink_row" uplink
	timed_row "$uplink_warm_row" uplinkwarm
else
	row "$uplink_row" "not measured (needs root and tc's htb)"
	row "$uplink_warm_row" "not measured (needs root and tc's htb)"
fi
finish
