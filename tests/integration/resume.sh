#!/bin/bash
# Downloads that resume: an upstream that cuts the connection mid-blob
# (at 30%, 60% and 90%), one that ignores Range, one whose content changes
# between the cuts, and kill -9 of the daemon mid-download. The upstream is
# tests/tools/fakeupstream.py (a mock: docker-registry cannot be made to cut
# a connection); it honours Range and If-Range and logs the bytes it sent
# per request ("SENT path status first bytes").
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

SIZE=8000000

# sent_total LOG DIGEST: the body bytes the fake sent for that blob.
sent_total() {
	awk -v p="/blobs/$2" '$1 == "SENT" && index($2, p) { n += $5 } END { print n + 0 }' "$1"
}
# range_starts LOG DIGEST: the Range requests' first bytes, one a line.
range_starts() {
	grep "GET /v2/[^ ]*/blobs/$2 .*RANGE bytes=" "$1" |
	    sed 's/.*RANGE bytes=\([0-9]*\)-.*/\1/'
}
# good_blob FILE DIGEST: the file hashes to the digest.
good_blob() {
	[ "sha256:$(sha256sum < "$1" | cut -d' ' -f1)" = "$2" ]
}
cached() {
	[ -f "$PG_CACHE/blobs/sha256/${1:7:2}/${1#sha256:}" ] &&
	    good_blob "$PG_CACHE/blobs/sha256/${1:7:2}/${1#sha256:}" "$1"
}

# --- Cuts at 30%, 60% and 90%: one download, three resumes. -------------
start_fake good --cut 0.3,0.6,0.9
B1=$(fake_blob $SIZE)
start_pullgate cuts --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
code=$(curl -s -o "$WORK/b1" -w '%{http_code}' "http://$PG/v2/x/blobs/$B1")
check "cuts at 30/60/90%: the client got the whole, verified blob ($code)" \
    good_blob "$WORK/b1" "$B1"
check "cuts: the blob is cached and verified" cached "$B1"
starts=$(range_starts "$FAKE_LOG" "$B1" | tr '\n' ' ')
check "cuts: resumed with Range from each cut point ($starts)" \
    test "$starts" = "$((SIZE * 3 / 10)) $((SIZE * 6 / 10)) $((SIZE * 9 / 10)) "
check "cuts: every resume carried If-Range with the first answer's ETag" \
    test "$(grep -c "blobs/$B1 .*IFRANGE \"${B1#sha256:}\"" "$FAKE_LOG")" = 3
sent=$(sent_total "$FAKE_LOG" "$B1")
check "cuts: the upstream sent $sent bytes for a $SIZE-byte blob (<= 1.05x)" \
    test "$sent" -le $((SIZE * 105 / 100))
check "cuts: pullgate_upstream_resumes_total counts 3" \
    test "$(metric pullgate_upstream_resumes_total)" = 3
check "cuts: pullgate_upstream_bytes_total is the blob's size" \
    test "$(metric pullgate_upstream_bytes_total)" = "$SIZE"
check "cuts: no partial file left" test -z "$(find "$PG_CACHE/partial" "$PG_CACHE/tmp" -type f)"

# --- A follower that joins mid-download, across the cuts. ---------------
stop_pid "$FAKE_PID"
start_fake good --cut 0.3,0.6,0.9 --chunk 65536 --delay 0.02
B2=$(fake_blob $SIZE)
stop_pid "$PG_PID"
start_pullgate follow --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
curl -s -o "$WORK/b2a" "http://$PG/v2/x/blobs/$B2" &
apid=$!
i=0
while [ "$(fsize "$WORK/b2a")" -le $((SIZE * 4 / 10)) ] && [ $i -lt 300 ]; do
	sleep 0.05; i=$((i + 1))
done
curl -s -o "$WORK/b2b" "http://$PG/v2/x/blobs/$B2"
wait "$apid"
check "follower: it joined the download in flight" \
    test "$(metric pullgate_transfers_joined_total)" = 1
check "follower: the first client got the verified blob" good_blob "$WORK/b2a" "$B2"
check "follower: the client that joined past the first cut got it too" \
    good_blob "$WORK/b2b" "$B2"
sent=$(sent_total "$FAKE_LOG" "$B2")
check "follower: the upstream sent $sent bytes for both (<= 1.05x)" \
    test "$sent" -le $((SIZE * 105 / 100))
stop_pid "$FAKE_PID"

# --- An upstream that ignores Range: the body starts over, still right. --
start_fake good --cut 0.3,0.6 --no-range
B3=$(fake_blob $SIZE)
stop_pid "$PG_PID"
start_pullgate norange --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT
curl -s -o "$WORK/b3" "http://$PG/v2/x/blobs/$B3"
check "Range ignored (200 again): the client got the verified blob" good_blob "$WORK/b3" "$B3"
check "Range ignored: the blob is cached and verified" cached "$B3"
check "Range ignored: the upstream answered 200 three times" \
    test "$(grep -c "^SENT /v2/x/blobs/$B3 200 0 " "$FAKE_LOG")" = 3
stop_pid "$FAKE_PID"

# --- Content that changes between the cuts: never cached, never served. --
for change in etag data; do
	start_fake good --cut 0.3 --change $change
	B4=$(fake_blob $SIZE)
	stop_pid "$PG_PID"
	start_pullgate change-$change --upstream "http://127.0.0.1:$FAKE_PORT"
	PG=127.0.0.1:$PG_PORT
	code=$(curl -s -o "$WORK/b4" -w '%{http_code}' "http://$PG/v2/x/blobs/$B4")
	rc=$?
	check "changed content ($change): the client sees a failure (rc=$rc, status $code)" \
	    test "$rc" -ne 0 -o "$code" -ge 500
	check "changed content ($change): the client never got the whole body" \
	    test "$(fsize "$WORK/b4")" -lt $SIZE
	check "changed content ($change): nothing cached" \
	    test ! -e "$PG_CACHE/blobs/sha256/${B4:7:2}/${B4#sha256:}"
	check "changed content ($change): no partial or temporary file kept" \
	    test -z "$(find "$PG_CACHE/partial" "$PG_CACHE/tmp" -type f)"
	check "changed content ($change): the mismatch is counted" \
	    test "$(metric pullgate_verification_failures_total)" = 1
	stop_pid "$FAKE_PID"
done

# --- kill -9 mid-download; the next run resumes the partial file. -------
start_fake good --chunk 65536 --delay 0.03
B5=$(fake_blob $SIZE)
stop_pid "$PG_PID"
start_pullgate killed --upstream "http://127.0.0.1:$FAKE_PORT"
KCACHE=$PG_CACHE
curl -s -o /dev/null "http://127.0.0.1:$PG_PORT/v2/x/blobs/$B5" &
cpid=$!
i=0
while [ "$(du -b "$KCACHE/tmp" 2>/dev/null | tail -1 | cut -f1)" -lt $((SIZE / 3)) ] &&
    [ $i -lt 300 ]; do
	sleep 0.05; i=$((i + 1))
done
kill -9 "$PG_PID"
wait "$cpid" 2>/dev/null
forget_pid "$PG_PID"
stop_pid "$FAKE_PID"
# Restarted with the upstream gone: the partial file is no answer.
dead=$(free_port)
PG_CACHE_FIXED=$KCACHE start_pullgate killed --upstream "http://127.0.0.1:$dead"
PART=$KCACHE/partial/${B5#sha256:}
have=$(fsize "$PART")
check "kill -9: the restart kept the partial download ($have bytes) in partial/" \
    test "$have" -gt 0 -a "$have" -lt $SIZE
code=$(curl -s -o "$WORK/b5dead" -w '%{http_code}' "http://127.0.0.1:$PG_PORT/v2/x/blobs/$B5")
check "kill -9: with the upstream gone the partial file is not served ($code)" \
    test "$code" != 200 -a "$(fsize "$WORK/b5dead")" -lt $SIZE
check "kill -9: nothing under blobs/ for it" \
    test ! -e "$KCACHE/blobs/sha256/${B5:7:2}/${B5#sha256:}"
check "kill -9: the partial file is still kept after that failure" \
    test "$(fsize "$PART")" = "$have"
stop_pid "$PG_PID"
start_fake good
PG_CACHE_FIXED=$KCACHE start_pullgate killed --upstream "http://127.0.0.1:$FAKE_PORT"
curl -s -o "$WORK/b5" "http://127.0.0.1:$PG_PORT/v2/x/blobs/$B5"
check "kill -9: the next run asked for the rest: Range from byte $have" \
    test "$(range_starts "$FAKE_LOG" "$B5" | tr -d '\n')" = "$have"
check "kill -9: ...and the upstream sent only the rest" \
    test "$(sent_total "$FAKE_LOG" "$B5")" = $((SIZE - have))
check "kill -9: the client got the complete, verified blob" good_blob "$WORK/b5" "$B5"
check "kill -9: the blob is cached and verified" cached "$B5"
check "kill -9: the resume is counted" test "$(metric pullgate_upstream_resumes_total)" = 1
check "kill -9: the partial file is gone" test ! -e "$PART"
# --- A partial file tampered with on disk, then a 200 to the next Range:
# the bytes already sent from the partial file are not the blob's, and the
# whole body that follows must not be spliced onto them.
stop_pid "$FAKE_PID"
start_fake good --cut 0.6 --range-once --chunk 65536 --delay 0.01
B6=$(fake_blob $SIZE)
stop_pid "$PG_PID"
start_pullgate tampered --upstream "http://127.0.0.1:$FAKE_PORT"
head -c $((SIZE / 3)) /dev/zero > "$PG_CACHE/partial/${B6#sha256:}"
code=$(curl -s -o "$WORK/b6" -w '%{http_code}' "http://127.0.0.1:$PG_PORT/v2/x/blobs/$B6")
rc=$?
check "tampered partial, then a 200: the client never gets a complete wrong body (rc=$rc, status $code)" \
    test "$rc" -ne 0 -o "$code" != 200 -o "$(fsize "$WORK/b6")" -lt $SIZE
check "tampered partial, then a 200: the mismatch is counted" \
    test "$(metric pullgate_verification_failures_total)" -ge 1
check "tampered partial: no partial or temporary file kept" \
    test -z "$(find "$PG_CACHE/partial" "$PG_CACHE/tmp" -type f)"
finish
