#!/bin/bash
# One download for many readers, streaming, slow clients, lying and
# truncating upstreams, kill -9 in the middle of a download.
. "$(dirname "$0")/../lib.sh"

# --- Many simultaneous pulls of one large blob: one upstream GET. --------
start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/big" --tag v1 --layers 1 --size 48000000 > /dev/null
push_image "$WORK/big" v1 "$UP/acme/big:v1"
BIG=$(ls -S "$WORK/big/blobs/sha256" | head -1)
start_pullgate conc --upstream "http://$UP"
PG=127.0.0.1:$PG_PORT
pids=""
for i in 1 2 3 4 5 6; do
	curl -s -o "$WORK/conc$i" "http://$PG/v2/acme/big/blobs/sha256:$BIG" &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
good=0
for i in 1 2 3 4 5 6; do
	[ "$(sha256sum < "$WORK/conc$i" | cut -d' ' -f1)" = "$BIG" ] && good=$((good + 1))
done
check "6 simultaneous clients all got the right bytes" test "$good" = 6
check "exactly one upstream GET for 6 simultaneous pulls" test "$(upstream_gets "$REG_LOG" "sha256:$BIG")" = 1
check "the blob is in the cache" test -f "$PG_CACHE/blobs/sha256/${BIG:0:2}/$BIG"

# --- Streaming from a slow upstream: first bytes long before the end. ----
start_fake good --chunk 65536 --delay 0.05
SLOW=$(fake_blob 4194304)		# 64 chunks: about 3.2 s upstream
stop_pid "$PG_PID"
start_pullgate slow --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
curl -s -o "$WORK/slow-fast" "http://$PG/v2/x/blobs/$SLOW" &
fastpid=$!
curl -s --limit-rate 256k -o "$WORK/slow-slow" "http://$PG/v2/x/blobs/$SLOW" &
slowpid=$!
sleep 1.2
partial=$(fsize "$WORK/slow-fast")
check "a client streams while the upstream downloads (bytes after 1.2 s)" \
    test "$partial" -gt 0 -a "$partial" -lt 4194304
wait "$fastpid"
check "the fast client finished while the rate-limited one still reads" kill -0 "$slowpid"
wait "$slowpid"
check "fast client: right bytes" test "sha256:$(sha256sum < "$WORK/slow-fast" | cut -d' ' -f1)" = "$SLOW"
check "rate-limited client: right bytes" test "sha256:$(sha256sum < "$WORK/slow-slow" | cut -d' ' -f1)" = "$SLOW"
check "one upstream GET for the fast and the slow client" test "$(grep -c "GET /v2/x/blobs/$SLOW" "$FAKE_LOG")" = 1

# --- Clients that leave: mid-stream, and before the first byte. ---------
GONE=$(fake_blob 2097152)
curl -s -o /dev/null --max-time 0.5 "http://$PG/v2/x/blobs/$GONE"
check "a client that left mid-stream saw a timeout" test $? = 28
curl -s -o "$WORK/gone-after" "http://$PG/v2/x/blobs/$GONE"
check "the download went on without it; the next client gets the blob" \
    test "sha256:$(sha256sum < "$WORK/gone-after" | cut -d' ' -f1)" = "$GONE"
check "one upstream GET for the leaver and the next client" test "$(grep -c "GET /v2/x/blobs/$GONE" "$FAKE_LOG")" = 1
check "the daemon is still healthy" curl -sf -o /dev/null "http://$PG/healthz"

# --- kill -9 in the middle of a download, then a restart. ---------------
KILL=$(fake_blob 4194304)
curl -s -o "$WORK/killed" "http://$PG/v2/x/blobs/$KILL" &
cpid=$!
sleep 1
check "a partial download is in tmp/ before the kill" test -n "$(ls "$PG_CACHE/tmp")"
kill -9 "$PG_PID"
wait "$cpid" 2>/dev/null
crc=$?
forget_pid "$PG_PID"
# The upstream needs about 3.2 s, so the client cannot have the whole blob:
# what matters is that its response did not end as if it were complete.
check "the client of the killed daemon sees a failure, not a clean end (curl rc=$crc)" \
    test "$crc" -ne 0
check "...and the bytes it got are the start of the blob ($(fsize "$WORK/killed") bytes)" \
    cmp -s "$WORK/killed" <(head -c "$(fsize "$WORK/killed")" "$WORK/fakeblobs/${KILL#sha256:}")
check "no blob was published for the killed download" test ! -e "$PG_CACHE/blobs/sha256/${KILL:7:2}/${KILL#sha256:}"
PG_CACHE_FIXED=$PG_CACHE start_pullgate slow --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
check "the restart removed the partial file" test -z "$(ls "$PG_CACHE/tmp")"
curl -s -o "$WORK/after" "http://$PG/v2/x/blobs/$KILL"
check "the next pull after the restart succeeds" test "sha256:$(sha256sum < "$WORK/after" | cut -d' ' -f1)" = "$KILL"
stop_pid "$FAKE_PID"
check "slow-upstream daemon log has no sanitizer report" sanitizer_clean "$PG_LOG"

# --- A lying upstream: wrong bytes are not cached, the client sees a failure.
start_fake lie
LIE=$(fake_blob 1000000)
stop_pid "$PG_PID"
start_pullgate lie --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
code=$(curl -s -o "$WORK/lie" -w '%{http_code}' "http://$PG/v2/x/blobs/$LIE")
rc=$?
# Either an error status (the failure was known before the first byte) or a
# response cut short of its Content-Length (curl exit 18): never a clean 200.
check "lying upstream: the client sees a failure (rc=$rc, status $code)" \
    test "$rc" -ne 0 -o "$code" -ge 500
check "lying upstream: the client never got the whole body" test "$(fsize "$WORK/lie")" -lt 1000000
check "lying upstream: nothing cached" test ! -e "$PG_CACHE/blobs/sha256/${LIE:7:2}/${LIE#sha256:}"
check "lying upstream: no temporary file left" test -z "$(ls "$PG_CACHE/tmp")"
check "lying upstream: the mismatch is counted" \
    test "$(metric pullgate_verification_failures_total)" -gt 0
curl -s -o "$WORK/lie2" "http://$PG/v2/x/blobs/$LIE"
check "lying upstream: a second request goes upstream again" test "$(grep -c "GET /v2/x/blobs/$LIE" "$FAKE_LOG")" = 2
stop_pid "$FAKE_PID"

# --- A slow lying upstream: the client is already streaming when the digest
# fails, so its response must be cut short, never end cleanly.
start_fake lie --chunk 65536 --delay 0.05
LIE2=$(fake_blob 1048576)
stop_pid "$PG_PID"
start_pullgate lie2 --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
code=$(curl -s -o "$WORK/lie2" -w '%{http_code}' "http://$PG/v2/x/blobs/$LIE2")
rc=$?
check "slow lying upstream: 200 started, then cut short (rc=$rc, status $code)" \
    test "$rc" = 18 -a "$code" = 200
check "slow lying upstream: the client got most bytes but never the last" \
    test "$(fsize "$WORK/lie2")" -gt 0 -a "$(fsize "$WORK/lie2")" -lt 1048576
check "slow lying upstream: nothing cached" test ! -e "$PG_CACHE/blobs/sha256/${LIE2:7:2}/${LIE2#sha256:}"
stop_pid "$FAKE_PID"

# --- A truncating upstream.
start_fake truncate
TRUNC=$(fake_blob 1000000)
stop_pid "$PG_PID"
start_pullgate trunc --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
code=$(curl -s -o "$WORK/trunc" -w '%{http_code}' "http://$PG/v2/x/blobs/$TRUNC")
rc=$?
check "truncating upstream: the client sees a failure (rc=$rc, status $code)" \
    test "$rc" -ne 0 -o "$code" -ge 500
check "truncating upstream: nothing cached" test ! -e "$PG_CACHE/blobs/sha256/${TRUNC:7:2}/${TRUNC#sha256:}"
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
finish
