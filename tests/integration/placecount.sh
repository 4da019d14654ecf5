#!/bin/bash
# A blob put in place is counted by the budget once, from the moment it
# is there: with its directory's sync held for seconds (strace injects
# the delay), the download's reservation and the store index never both
# count it, so a download beside it in a cache with room for both evicts
# nothing, and the blob stays. (Were the blob renamed into place before
# the loop counts it, the store watch would see it first: counted twice,
# a download beside it evicted it, and the index then counted a file
# that is gone.)
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

A=$(fake_blob 6000000); B=$(fake_blob 3000000)
start_fake good
cat > "$WORK/pg.conf" <<CONF
cache_max_bytes = 10000000;
registries = ( { id = 5; name = "f"; url = "http://127.0.0.1:$FAKE_PORT"; } );
CONF
start_pullgate place -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

strace -f -qq -e trace=accept4,fsync -e inject=fsync:delay_enter=3000000 \
    -o "$WORK/strace.out" -p "$PG_PID" &
STRACE_PID=$!
PIDS="$PIDS $STRACE_PID"
i=0	# attached once it has seen the accept of a request
while ! grep -q accept4 "$WORK/strace.out" 2>/dev/null && [ $i -lt 100 ]; do
	curl -s -o /dev/null "http://$PG/healthz"; sleep 0.1; i=$((i + 1))
done

curl -s -o "$WORK/a" "http://$PG/v2/f/x/blobs/$A" &
CURL_PID=$!
wait_metric pullgate_transfers_storing 1
sleep 0.5	# in place now, its directory's sync held
storing=$(metric pullgate_transfers_storing)
bytes=$(metric pullgate_cache_bytes)
reserved=$(metric pullgate_cache_reserved_bytes)
check "the 6 MB blob is being stored ($storing) and counted once (index $bytes + reserved $reserved)" \
    test "$storing" = 1 -a $((bytes + reserved)) = 6000000
check "a 3 MB download beside it is served" \
    curl -sf -o "$WORK/b" "http://$PG/v2/f/x/blobs/$B"
wait "$CURL_PID"
wait_metric pullgate_transfers_storing 0
stop_pid "$STRACE_PID"
check "the first client got its blob whole" \
    test "sha256:$(sha256sum < "$WORK/a" | cut -d' ' -f1)" = "$A"
evicted=$(metric pullgate_cache_evictions_total)
check "nothing was evicted for it, both fitting in the 10 MB cache ($evicted)" \
    test "$evicted" = 0
check "the 6 MB blob is in the cache" \
    test -f "$PG_CACHE/blobs/sha256/${A:7:2}/${A#sha256:}"
files=$(find "$PG_CACHE/blobs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
check "the budget counts what is on disk ($(metric pullgate_cache_bytes) = $files)" \
    test "$(metric pullgate_cache_bytes)" = "$files"
finish
