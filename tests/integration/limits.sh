#!/bin/bash
# Hostile clients against the client side's limits (issue 10, items 1 and
# 2): a client sending while a 268 MB answer goes out and one that never
# reads (memory stays bounded), 2,000 idle connections against ulimit -n
# 1024 and accept(2) out of descriptors (no spin, no log flood, a new
# client served), a request head trickled a byte at a time (cut at the
# head deadline), every slot busy (the listener pauses), one address
# taking more than its share (another address served). After each, the daemon answers a normal request correctly.
. "$(dirname "$0")/../lib.sh"
only_variants openssl-address	# load and crash paths: once, under ASan

H="$PY $TOOLS/hostile.py"
BIGSIZE=$((268 * 1000 * 1000))
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }	# clock ticks
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }	# KiB
# wait_file FILE: until a background client has printed its result.
wait_file() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$1" ]
}
# small_ok NAME [CURL ARGS...]: the small cached blob, whole and right.
small_ok() {
	name=$1; shift
	rm -f "$WORK/small.out"
	curl -s --max-time 10 "$@" -o "$WORK/small.out" "http://$PG/v2/x/blobs/$SMALL"
	check "$name" test "sha256:$(sha256sum < "$WORK/small.out" | cut -d' ' -f1)" = "$SMALL"
}

# The daemon under a descriptor limit of its own: PG_NOFILE.
export PG_REAL=$PULLGATE
cat > "$WORK/pg-ulimit.sh" <<'EOF'
#!/bin/sh
ulimit -n "$PG_NOFILE" || exit 1
exec "$PG_REAL" "$@"
EOF
chmod +x "$WORK/pg-ulimit.sh"

# --- A limit above what the descriptors allow is refused at start. -------
printf 'client: { max_connections = 5000; };\n' > "$WORK/toomany.conf"
PG_NOFILE=1024 timeout 10 "$WORK/pg-ulimit.sh" serve -c "$WORK/toomany.conf" \
    --listen "127.0.0.1:$(free_port)" --cache "$WORK/cache-toomany" \
    > "$WORK/toomany.log" 2>&1
rc=$?
check "start: client.max_connections above what ulimit -n 1024 allows is refused (exit $rc)" \
    test $rc = 1
check "start: the error names the key and the descriptor limit" \
    grep -q "client.max_connections = 5000 .*1024 descriptors" "$WORK/toomany.log"

# --- A soft descriptor limit below the hard one is raised at start. ------
cat > "$WORK/pg-soft.sh" <<'EOF'
#!/bin/sh
ulimit -Sn 256 && ulimit -Hn 4096 || exit 1
exec "$PG_REAL" "$@"
EOF
chmod +x "$WORK/pg-soft.sh"
PULLGATE=$WORK/pg-soft.sh start_pullgate soft --upstream http://127.0.0.1:9
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$PG_PID/limits")
check "start: a soft descriptor limit of 256 under a hard 4096 is raised to 4096 (now $soft)" \
    test "$soft" = 4096
stop_pid "$PG_PID"

start_fake good
UPSTREAM=http://127.0.0.1:$FAKE_PORT
SMALL=$(fake_blob 1048576)
MID=$(fake_blob 16777216)
# The large blob goes into the shared cache directly (zeros, sparse).
PG_CACHE_FIXED=$WORK/cache
truncate -s $BIGSIZE "$WORK/big"
h=$(sha256sum < "$WORK/big" | cut -d' ' -f1)
BIG=sha256:$h
mkdir -p "$PG_CACHE_FIXED/blobs/sha256/${h:0:2}"
mv "$WORK/big" "$PG_CACHE_FIXED/blobs/sha256/${h:0:2}/$h"

# --- Item 1: a client sending during a large answer; one never reading. ---
# The bound: the daemon's RSS grows at most 32 MiB over its idle figure.
start_pullgate mem --upstream "$UPSTREAM" --log-level info
PG=127.0.0.1:$PG_PORT
small_ok "memory: the small blob, cached through the daemon"
curl -s -o /dev/null "http://$PG/v2/x/blobs/$MID"
check "memory: the 268 MB blob is answered from the cache" test \
    "$(curl -s -I "http://$PG/v2/x/blobs/$BIG" | tr -d '\r' |
    awk 'tolower($1) == "content-length:" { print $2 }')" = $BIGSIZE
sleep 0.5
base=$(rss "$PG_PID")
$H neverread "$PG_PORT" "/v2/x/blobs/$BIG" 12 &
nr=$!
PIDS="$PIDS $nr"
out=$($H sender "$PG_PORT" "/v2/x/blobs/$BIG" 10 "$PG_PID" 201326592)
wait "$nr"
sent=${out% *}
peak=${out#* }
growth=$(( (${peak:-0} - base) / 1024 ))
echo "# memory: sent ${sent:-?} bytes during the answer; RSS ${base} KiB before, peak ${peak:-?} KiB"
check "memory: RSS grew at most 32 MiB while a client sent during a 268 MB answer and another never read (grew $growth MiB)" \
    test "${peak:-0}" -gt 0 -a "$growth" -le 32
check "memory: the daemon stopped reading the sender (it got under 64 MiB in)" \
    test "${sent:-999999999}" -lt 67108864
check "memory: a request pipelined behind an answer held up is answered" \
    test "$($H pipeline "$PG_PORT" "/v2/x/blobs/$MID" 16777216)" = ok
small_ok "memory: afterwards the daemon serves a normal request"
stop_pid "$PG_PID"

# --- Item 2: 2,000 idle connections against ulimit -n 1024. ---------------
export PG_NOFILE=1024
PULLGATE=$WORK/pg-ulimit.sh start_pullgate idle --upstream "$UPSTREAM" \
    --log-level info
PG=127.0.0.1:$PG_PORT
max=$(sed -n 's/.*client connections: at most \([0-9]*\),.*/\1/p' "$PG_LOG" | tail -1)
log0=$(fsize "$PG_LOG")
srcs=""
for i in $(seq 10 29); do srcs="$srcs 127.0.0.$i"; done
# shellcheck disable=SC2086
$H idle "$PG_PORT" 2000 25 $srcs > "$WORK/idle.out" &
ip=$!
PIDS="$PIDS $ip"
wait_file "$WORK/idle.out"
c0=$(cpu "$PG_PID")
sleep 3
c1=$(cpu "$PG_PID")
echo "# idle: $(cat "$WORK/idle.out") of 2000 connected; limit ${max:-?}; $((c1 - c0)) ticks of CPU in 3 s"
check "idle: 2,000 connections made" test "$(cat "$WORK/idle.out")" = 2000
check "idle: no CPU spin (at most 30 ticks, 10%, in 3 s; used $((c1 - c0)))" \
    test $((c1 - c0)) -le 30
check "idle: a new client gets /healthz" curl -sf --max-time 5 -o /dev/null "http://$PG/healthz"
small_ok "idle: a new client gets a cached blob"
check "idle: connections open stay within the limit (${max:-?})" \
    test "${max:-0}" -gt 0 -a "$(metric pullgate_client_connections)" -le "${max:-0}"
check "idle: idle connections gave way to new ones" \
    test "$(metric pullgate_client_connections_evicted_total)" -gt 0
stop_pid "$ip"
# accept(2) out of descriptors: the limit lowered under the daemon's feet.
prlimit --pid "$PG_PID" --nofile=40:1024
$H idle "$PG_PORT" 100 10 127.0.0.30 > "$WORK/emfile.out" &
ip=$!
PIDS="$PIDS $ip"
wait_file "$WORK/emfile.out"
c0=$(cpu "$PG_PID")
sleep 2
c1=$(cpu "$PG_PID")
check "emfile: no CPU spin while accept(2) fails (at most 20 ticks in 2 s; used $((c1 - c0)))" \
    test $((c1 - c0)) -le 20
check "emfile: the listener paused" test "$(metric pullgate_client_accept_pauses_total)" -gt 0
check "emfile: a new client gets /healthz" curl -sf --max-time 5 -o /dev/null "http://$PG/healthz"
stop_pid "$ip"
prlimit --pid "$PG_PID" --nofile=1024:1024
small_ok "emfile: afterwards the daemon serves a normal request"
grown=$(( $(fsize "$PG_LOG") - log0 ))
check "idle, emfile: the log did not flood (grew $grown bytes, under 64 KiB)" \
    test "$grown" -lt 65536
stop_pid "$PG_PID"

# --- Item 2: a request head trickled a byte a second (slowloris). ---------
cat > "$WORK/slow.conf" <<EOF
client: {
  timeout = 4;
  head_timeout = 2;
};
EOF
start_pullgate slow -c "$WORK/slow.conf" --upstream "$UPSTREAM"
PG=127.0.0.1:$PG_PORT
t=$($H trickle "$PG_PORT" 1 12)
echo "# slowloris: closed after $t s"
check "slowloris: a head trickled a byte a second is cut at the 2 s head deadline (after $t s; the idle timeout is 4 s)" \
    awk -v t="$t" 'BEGIN { exit !(t + 0 >= 1.5 && t + 0 <= 3.5) }'
check "slowloris: counted" test "$(metric pullgate_client_head_timeouts_total)" -ge 1
# A client reading a long answer steadily is not cut by the idle timeout
# (evhttp kept a read timeout running while it wrote).
rm -f "$WORK/steady.out"
curl -s --max-time 9 --limit-rate 8M -o "$WORK/steady.out" "http://$PG/v2/x/blobs/$BIG"
rc=$?
check "slowloris: a client reading a long answer steadily for 9 s is not cut at the 4 s idle timeout (curl $rc, $(fsize "$WORK/steady.out") bytes)" \
    test $rc = 28 -a "$(fsize "$WORK/steady.out")" -gt 50000000
small_ok "slowloris: afterwards the daemon serves a normal request"
stop_pid "$PG_PID"

# --- Item 2: every slot busy: the listener pauses, nobody spins. ---------
cat > "$WORK/full.conf" <<EOF
client: {
  max_connections = 4;
  max_connections_per_address = 4;
};
EOF
start_pullgate full -c "$WORK/full.conf" --upstream "$UPSTREAM" --log-level info
PG=127.0.0.1:$PG_PORT
nrs=""
for i in 1 2 3 4; do
	$H neverread "$PG_PORT" "/v2/x/blobs/$BIG" 5 &
	nrs="$nrs $!"
done
PIDS="$PIDS $nrs"
sleep 1
c0=$(cpu "$PG_PID")
t0=$(date +%s.%N)
curl -sf --max-time 15 -o /dev/null "http://$PG/healthz"
rc=$?
waited=$(echo "$(date +%s.%N) - $t0" | bc -l)
c1=$(cpu "$PG_PID")
for p in $nrs; do wait "$p"; done
check "full: with 4 of 4 connections busy a new client waits, then is served (curl $rc after $(printf '%.1f' "$waited") s)" \
    test $rc = 0 -a "$(echo "$waited >= 2" | bc)" = 1
check "full: no CPU spin while waiting (at most 30 ticks; used $((c1 - c0)))" test $((c1 - c0)) -le 30
check "full: the listener paused" test "$(metric pullgate_client_accept_pauses_total)" -ge 1
small_ok "full: afterwards the daemon serves a normal request"
stop_pid "$PG_PID"

# --- Item 2: one address takes more than its share. ----------------------
# Busy connections: clients of a blob the upstream sends slowly, never
# reading. ulimit -n 256: 80 connections, 20 per address.
start_fake good --chunk 65536 --delay 0.2
SLOWBLOB=$(fake_blob 33554432)
export PG_NOFILE=256
PULLGATE=$WORK/pg-ulimit.sh start_pullgate fair --upstream "http://127.0.0.1:$FAKE_PORT" \
    --log-level info
PG=127.0.0.1:$PG_PORT
$H busy "$PG_PORT" "/v2/x/blobs/$SLOWBLOB" 300 15 127.0.0.2 > "$WORK/busy.out" &
bp=$!
PIDS="$PIDS $bp"
wait_file "$WORK/busy.out"
echo "# fairness: 127.0.0.2: $(cut -d' ' -f1 "$WORK/busy.out") of $(cut -d' ' -f2 "$WORK/busy.out") connections answered 503"
check "fairness: 127.0.0.3 gets /healthz while 127.0.0.2 holds its share" \
    curl -sf --max-time 5 --interface 127.0.0.3 -o /dev/null "http://$PG/healthz"
small_ok "fairness: 127.0.0.3 gets a cached blob" --interface 127.0.0.3
check "fairness: 127.0.0.2's connections beyond its share were refused" \
    test "$(metric 'pullgate_client_connections_refused_total{reason="address"}')" -gt 0
check "fairness: the refused ones were told so (503)" \
    test "$(cut -d' ' -f1 "$WORK/busy.out")" -gt 0
stop_pid "$bp"
small_ok "fairness: afterwards the daemon serves a normal request"

finish
