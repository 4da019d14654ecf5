#!/bin/bash
# The cache on disk: cache ls, cache verify (a corrupt blob is moved aside
# and never served again), and a full disk during a download.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --platforms linux/amd64,linux/arm64 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
D=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/img/index.json")
start_pullgate c --upstream "http://$UP"
PG=127.0.0.1:$PG_PORT
pull_image "$PG/acme/app:v1" "$WORK/o1"

"$PULLGATE" cache ls --cache "$PG_CACHE" --json > "$WORK/ls.json"
check "cache ls: the pulled tag with its digest, complete, every blob counted" sh -c "$PY -c '
import json,os,sys
t=json.load(open(\"$WORK/ls.json\"))
n=len(os.listdir(\"$WORK/img/blobs/sha256\"))
ok=len(t)==1 and t[0][\"digest\"]==\"$D\" and t[0][\"complete\"] and t[0][\"manifests\"]+t[0][\"blobs\"]==n
sys.exit(0 if ok else 1)'"
"$PULLGATE" cache verify --cache "$PG_CACHE" > "$WORK/v1.out"
check "cache verify: an intact cache passes" sh -c "[ $? = 0 ] && grep -q ', 0 corrupt' '$WORK/v1.out'"

# Corrupt one layer on disk, as a failing flash card would.
L=$(ls -S "$WORK/img/blobs/sha256" | head -1)
F=$PG_CACHE/blobs/sha256/${L:0:2}/$L
printf 'X' | dd of="$F" bs=1 seek=100 conv=notrunc 2>/dev/null
"$PULLGATE" cache verify --cache "$PG_CACHE" > "$WORK/v2.out"
rc=$?
check "cache verify: the corrupt blob is reported (exit $rc)" sh -c "[ $rc = 1 ] && grep -q 'corrupt: sha256:$L' '$WORK/v2.out'"
check "cache verify: ...and moved to quarantine/" sh -c "[ ! -e '$F' ] && ls '$PG_CACHE/quarantine' | grep -q '$L'"
curl -s -o "$WORK/refetch" "http://$PG/v2/acme/app/blobs/sha256:$L"
check "the blob is fetched again, never served corrupt" test "$(sha256sum < "$WORK/refetch" | cut -d' ' -f1)" = "$L"
check "the re-fetched blob is back in the cache" test -f "$F"

# --- Pins, rm, gc, and the byte budget. -----------------------------------
for n in pinned u1 u2 x y; do
	$PY "$TOOLS/mkimage.py" "$WORK/b-$n" --tag v1 --layers 1 --size 1000000 --seed "$n" > /dev/null
	push_image "$WORK/b-$n" v1 "$UP/b/$n:v1"
done
push_image "$WORK/b-pinned" v1 "$UP/b/copy:v1"		# every blob shared
layer() { ls -S "$WORK/b-$1/blobs/sha256" | head -1; }
cached() { test -f "$BC/blobs/sha256/$(layer "$1" | cut -c1-2)/$(layer "$1")"; }
not_cached() { ! cached "$1"; }
cat > "$WORK/budget.conf" <<CONF
cache_max_bytes = 3600000;
registries = ( { id = 3; name = "up"; url = "http://$UP"; } );
default_registry = "up";
CONF
stop_pid "$PG_PID"
start_pullgate budget -c "$WORK/budget.conf"
PG=127.0.0.1:$PG_PORT
BC=$PG_CACHE
pull_image "$PG/b/pinned:v1" "$WORK/p1"
check "cache pin: pins a cached image" "$PULLGATE" cache pin --cache "$BC" -c "$WORK/budget.conf" b/pinned:v1
pull_image "$PG/b/copy:v1" "$WORK/p2"
pull_image "$PG/b/u1:v1" "$WORK/p3"; sleep 0.05
pull_image "$PG/b/u2:v1" "$WORK/p4"; sleep 0.05
pull_image "$PG/b/u1:v1" "$WORK/p5"		# u1 is now used more recently than u2
"$PULLGATE" cache ls --cache "$BC" -c "$WORK/budget.conf" --json > "$WORK/ls2.json"
check "cache ls: the pin is shown" sh -c "$PY -c '
import json,sys
t={x[\"repository\"]: x for x in json.load(open(\"$WORK/ls2.json\"))}
sys.exit(0 if t[\"b/pinned\"][\"pinned\"] and not t[\"b/u1\"][\"pinned\"] else 1)'"
check "budget: x pulls although the cache would pass cache_max_bytes" pull_image "$PG/b/x:v1" "$WORK/p6"
check "budget: the least recently used unpinned image went (u2)" not_cached u2
check "budget: the more recently used one stayed (u1)" cached u1
check "budget: the pinned image stayed" cached pinned
check "budget: a blob shared by the pinned image and an unpinned one stayed" \
    test -f "$BC/blobs/sha256/$(layer pinned | cut -c1-2)/$(layer pinned)"
total=$(du -sb "$BC/blobs" | cut -f1)
check "budget: the store holds the budget ($total <= 3600000 + directories)" test "$total" -le 3700000
check "budget: the eviction is counted" test "$(metric pullgate_cache_evictions_total)" -gt 0
"$PULLGATE" cache pin --cache "$BC" -c "$WORK/budget.conf" b/u1:v1 b/x:v1 b/copy:v1
before=$(ls -R "$BC/blobs" | sort | md5sum)
code=$(curl -s -o "$WORK/full.out" -w '%{http_code}' "http://$PG/v2/b/y/blobs/sha256:$(layer y)")
check "budget: with everything pinned a new download is refused ($code)" \
    sh -c "[ $code = 507 ] && grep -q 'the cache is full' '$WORK/full.out'"
check "budget: ...and the cache stays intact" test "$(ls -R "$BC/blobs" | sort | md5sum)" = "$before"
"$PULLGATE" cache unpin --cache "$BC" -c "$WORK/budget.conf" b/x:v1
check "cache rm: forgets a tag" "$PULLGATE" cache rm --cache "$BC" -c "$WORK/budget.conf" b/x:v1
"$PULLGATE" cache gc --cache "$BC" -c "$WORK/budget.conf" --grace 0 > "$WORK/gc.out"
check "cache gc: reports what it removed" grep -q 'removed [1-9]' "$WORK/gc.out"
check "cache gc: removes what nothing references" not_cached x
check "cache gc: keeps what pins reference" cached pinned
check "cache gc: keeps what tags reference" cached u1
"$PULLGATE" cache rm --cache "$BC" -c "$WORK/budget.conf" b/nothere:v1 2> "$WORK/rm.err"
check "cache rm: an image that is not cached is a clear error" grep -q "not in the cache" "$WORK/rm.err"

# --- The CLI and the daemon at once: rm and gc while pulls run. -----------
( for i in $(seq 15); do
	"$PULLGATE" cache rm --cache "$BC" -c "$WORK/budget.conf" b/u2:v1 > /dev/null 2>&1
	"$PULLGATE" cache gc --cache "$BC" -c "$WORK/budget.conf" --grace 0 > /dev/null 2>&1
  done ) &
churn=$!
good=0
for i in 1 2 3 4 5; do
	pull_image "$PG/b/u2:v1" "$WORK/cc$i" && blobs_verified "$WORK/cc$i" && good=$((good + 1))
done
wait "$churn"
check "pulls during cache rm + gc all succeed with verified blobs ($good/5)" test "$good" = 5
"$PULLGATE" cache verify --cache "$BC" > "$WORK/cc.verify"
check "after the churn every blob in the cache verifies" grep -q ", 0 corrupt" "$WORK/cc.verify"
check "after the churn no temporary file is left" test -z "$(ls "$BC/tmp")"

# --- A full disk. ----------------------------------------------------------
SMALL=$WORK/small
mkdir -p "$SMALL"
if mount -t tmpfs -o size=8m tmpfs "$SMALL"; then
	trap 'umount "$SMALL" 2>/dev/null; cleanup' EXIT
	start_fake good
	SMALLBLOB=$(fake_blob 200000)
	BIGBLOB=$(fake_blob 4000000)
	stop_pid "$PG_PID"
	PG_CACHE_FIXED=$SMALL/cache start_pullgate full --upstream "http://127.0.0.1:$FAKE_PORT"
	PG=127.0.0.1:$PG_PORT
	curl -s -o /dev/null "http://$PG/v2/x/blobs/$SMALLBLOB"
	head -c 6000000 /dev/zero > "$SMALL/filler" 2>/dev/null
	code=$(curl -s -o "$WORK/big" -w '%{http_code}' "http://$PG/v2/x/blobs/$BIGBLOB")
	rc=$?
	check "full disk: the download fails for the client (rc=$rc, status $code)" \
	    test "$rc" -ne 0 -o "$code" -ge 500
	check "full disk: no temporary file is left" test -z "$(ls "$SMALL/cache/tmp")"
	check "full disk: nothing half-written is published" \
	    test ! -e "$SMALL/cache/blobs/sha256/${BIGBLOB:7:2}/${BIGBLOB#sha256:}"
	check "full disk: the write error is counted" \
	    test "$(metric pullgate_cache_write_errors_total)" -gt 0
	curl -s -o "$WORK/hit" "http://$PG/v2/x/blobs/$SMALLBLOB"
	check "full disk: cache hits are still served" \
	    test "sha256:$(sha256sum < "$WORK/hit" | cut -d' ' -f1)" = "$SMALLBLOB"
	rm -f "$SMALL/filler"
	curl -s -o "$WORK/big2" "http://$PG/v2/x/blobs/$BIGBLOB"
	check "full disk: with space back, the same daemon downloads it" \
	    test "sha256:$(sha256sum < "$WORK/big2" | cut -d' ' -f1)" = "$BIGBLOB"
	stop_pid "$PG_PID"
	umount "$SMALL"
else
	fail "full disk: cannot mount a small tmpfs (not root?)"
fi
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
finish
