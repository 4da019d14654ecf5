#!/bin/bash
# The disk work of a download runs off the event loop (workers.c): with
# fdatasync held for seconds (strace injects the delay), the daemon
# answers other requests while the download is being stored, and the
# client has every byte but the last, which comes once the blob is in
# place; no pwrite or fdatasync of a download, nor the fsync of the
# directory a blob is renamed into, nor the parse of a package index,
# runs on the loop's thread (the rename itself does, with the budget's
# count of the blob: placecount.sh).
# The disk is asked to start writing the file every 8 MiB on the way
# (sync_file_range), so the sync at the end has little left to do.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 20000000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
BLOB=$(ls -S "$WORK/img/blobs/sha256" | head -1)
start_pullgate disk --upstream "http://$UP"
PG=127.0.0.1:$PG_PORT
ACCEPT="Accept: application/vnd.oci.image.manifest.v1+json"
curl -s -o /dev/null -H "$ACCEPT" "http://$PG/v2/acme/app/manifests/v1"
jobs0=$(metric pullgate_disk_jobs_total)

# slow_syncs OUT MICROSECONDS SYSCALLS: strace on the daemon at $PG, writing
# the calls of SYSCALLS to OUT, every fdatasync held that long before it runs;
# returns once it is attached (it has seen the accept of a request). Sets
# STRACE_PID.
slow_syncs() {
	strace -f -qq -y -e trace="accept4,$3" -e inject=fdatasync:delay_enter="$2" \
	    -o "$1" -p "$PG_PID" &
	STRACE_PID=$!
	PIDS="$PIDS $STRACE_PID"
	n=0
	while [ ! -s "$1" ] && [ $n -lt 50 ]; do
		curl -s -o /dev/null "http://$PG/healthz"; sleep 0.1; n=$((n + 1))
	done
}

slow_syncs "$WORK/strace.out" 4000000 \
    pwrite64,fdatasync,sync_file_range,rename,renameat,renameat2,fsync

curl -s -N -o "$WORK/blob" "http://$PG/v2/acme/app/blobs/sha256:$BLOB" &
CURL_PID=$!
wait_metric pullgate_transfers_storing 1
size=$(stat -c %s "$WORK/img/blobs/sha256/$BLOB")
i=0
while [ "$(fsize "$WORK/blob")" -lt $((size - 1)) ] && [ $i -lt 30 ]; do
	sleep 0.1; i=$((i + 1))
done
check "the download is verified and being stored (storing $(metric pullgate_transfers_storing), receiving $(metric pullgate_transfers_in_flight))" \
    test "$(metric pullgate_transfers_storing)" = 1 -a \
    "$(metric pullgate_transfers_in_flight)" = 0
check "... the client has every byte but the last meanwhile ($(fsize "$WORK/blob") of $size)" \
    test "$(fsize "$WORK/blob")" = $((size - 1))
code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 "http://$PG/healthz")
check "the daemon answers /healthz meanwhile" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 -H "$ACCEPT" \
    "http://$PG/v2/acme/app/manifests/v1")
check "the daemon answers a cached manifest meanwhile" test "$code" = 200
check "... and the download is still being stored after both answers" \
    test "$(metric pullgate_transfers_storing)" = 1
wait_metric pullgate_transfers_storing 0 15
check "the download ends once the file is synced" \
    test "$(metric pullgate_transfers_storing)" = 0
wait "$CURL_PID"
check "the client then got the whole blob, verified" \
    test "$(sha256sum < "$WORK/blob" | cut -d' ' -f1)" = "$BLOB"
check "the blob is in the cache" test -f "$PG_CACHE/blobs/sha256/${BLOB:0:2}/$BLOB"
src=$(curl -s -D - -o "$WORK/blob2" "http://$PG/v2/acme/app/blobs/sha256:$BLOB" |
    sed -n 's/^X-Pullgate-Source: *\([a-z]*\).*/\1/Ip')
check "then it is served from the cache ($src)" test "$src" = cache
check "the hashing, writing and syncing were jobs of the workers (counted)" \
    test "$(metric pullgate_disk_jobs_total)" -gt "$jobs0"
stop_pid "$STRACE_PID"
writes=$(grep -c 'pwrite64(' "$WORK/strace.out")
syncs=$(grep -c 'fdatasync(' "$WORK/strace.out")
writeouts=$(grep -c 'sync_file_range(' "$WORK/strace.out")
onloop=$(grep -E -c "^$PG_PID +(pwrite64|fdatasync|sync_file_range)\(" "$WORK/strace.out")
check "the download was written ($writes pwrite) and synced ($syncs fdatasync)" \
    test "$writes" -gt 0 -a "$syncs" -gt 0
check "its write-out was started on the way, every 8 MiB ($writeouts sync_file_range for $size bytes)" \
    test "$writeouts" -ge $((size / 8388608))
check "none of them on the event loop's thread ($onloop)" test "$onloop" = 0
# The blob's rename into blobs/ and the fsync of that directory (-y shows
# the descriptor's path). A call that another thread's traced call
# interrupts is printed "fsync(7</path> <unfinished ...>": no ")".
placed=$(grep -E "rename(at2?)?\(.*/blobs/sha256/${BLOB:0:2}/$BLOB\"" "$WORK/strace.out")
dirsync=$(grep -E "fsync\([0-9]+</.*/blobs/sha256/${BLOB:0:2}>" "$WORK/strace.out")
check "the blob was renamed into place and its directory synced" \
    test -n "$placed" -a -n "$dirsync"
check "... the directory's sync not on the event loop's thread" \
    test -z "$(printf '%s\n' "$dirsync" | grep "^$PG_PID ")"

# Stopped while a verified download is being synced: the daemon finishes
# putting it in place before it exits, rather than setting it aside.
BLOB2=$(ls -S "$WORK/img/blobs/sha256" | sed -n 2p)
slow_syncs "$WORK/strace2.out" 2000000 fdatasync
curl -s -o "$WORK/blob3" "http://$PG/v2/acme/app/blobs/sha256:$BLOB2" &
CURL_PID=$!
wait_metric pullgate_transfers_storing 1
inflight=$(metric pullgate_transfers_storing)
kill -TERM "$PG_PID"
i=0
while kill -0 "$PG_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "stopped while syncing it ($inflight storing): the daemon exited" \
    test "$inflight" = 1 -a $i -lt 100
stop_pid "$PG_PID"
stop_pid "$STRACE_PID"
wait "$CURL_PID" 2>/dev/null
check "... after putting the blob in place" \
    test -f "$PG_CACHE/blobs/sha256/${BLOB2:0:2}/$BLOB2"
check "... not in partial/" test ! -e "$PG_CACHE/partial/$BLOB2"

check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"

# A download whose write fails (ENOSPC) while its upstream waits for the
# disk (paused): its upstream request ends and frees the entry's one slot
# (past connect_timeout, so no leftover curl timer can end it instead).
start_fake good --chunk 65536 --delay 0.01
PA=$(fake_blob 30000000); PB=$(fake_blob 1000000)
cat > "$WORK/pg.conf" <<CONF
registries = ( { id = 5; name = "f"; url = "http://127.0.0.1:$FAKE_PORT"; } );
upstream_transfer: { max_per_entry = 1; queue_timeout = 5; connect_timeout = 2; };
CONF
start_pullgate paused -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
curl -s -m 60 -o "$WORK/pa" "http://$PG/v2/f/x/blobs/$PA" &
CURL_PID=$!
sleep 3
strace -f -qq -e trace=pwrite64 -e inject=pwrite64:delay_enter=1500000:error=ENOSPC \
    -o "$WORK/strace3.out" -p "$PG_PID" &
STRACE_PID=$!
PIDS="$PIDS $STRACE_PID"
wait "$CURL_PID"
rc=$?
stop_pid "$STRACE_PID"
check "disk full while paused: the client is cut short (rc $rc, $(metric pullgate_upstream_pauses_total) pauses)" \
    test "$rc" = 18 -a "$(metric pullgate_upstream_pauses_total)" -gt 0
wait_metric pullgate_upstream_in_flight 0 5
check "... its upstream request ended" test "$(metric pullgate_upstream_in_flight)" = 0
code=$(curl -s -m 20 -o "$WORK/pb" -w '%{http_code}' "http://$PG/v2/f/x/blobs/$PB")
check "... and the next blob through the entry (one slot) is served ($code)" \
    test "$code" = 200
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
stop_pid "$PG_PID"

# A package index is parsed into its lookup by the sync job, not on the
# loop (a Debian-sized Packages.xz takes most of a second): the lookup's
# temporary file is created off the loop's thread, then taken into place,
# and the package files it lists are verified against it.
REPO=$WORK/www/deb
make_deb_repo "$REPO" 3 20000
start_nginx "$WORK/www"
printf 'feeds = ( { name = "deb"; url = "http://127.0.0.1:%s/deb"; } );\n' \
    "$NGX_PORT" > "$WORK/feed.conf"
start_pullgate feed -c "$WORK/feed.conf"
F=http://127.0.0.1:$PG_PORT/feeds/deb
curl -s -o /dev/null "$F/dists/stable/Release"
parsed=$(metric pullgate_feed_indexes_parsed_total)
PG=127.0.0.1:$PG_PORT
slow_syncs "$WORK/strace4.out" 0 openat		# no delay: traced only
code=$(curl -s -o "$WORK/Packages.xz" -w '%{http_code}' \
    "$F/dists/stable/main/binary-all/Packages.xz")
stop_pid "$STRACE_PID"
made=$(grep -E 'openat\(.*/tmp/pkgidx\.[^"]*", O_RDWR\|O_CREAT' "$WORK/strace4.out")
check "Packages.xz through pullgate ($code), parsed into a lookup (counted)" \
    test "$code" = 200 -a "$(metric pullgate_feed_indexes_parsed_total)" = $((parsed + 1))
check "... by a worker: its lookup was written off the loop's thread" \
    test -n "$made" -a -z "$(echo "$made" | grep "^$PG_PID ")"
check "... and taken into place: nothing left in tmp/" \
    test -z "$(ls -A "$PG_CACHE/tmp")"
code=$(curl -s -o "$WORK/pkg.deb" -w '%{http_code}' "$F/pool/main/pkg-1_1.0_all.deb")
check "a package it lists is verified against it and cached ($code)" \
    test "$code" = 200 -a -f "$PG_CACHE/feeds/deb/data/pool/main/pkg-1_1.0_all.deb#"
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
stop_pid "$PG_PID"

# A lookup the worker parsed that cannot be put in place (feeds/deb/pkgidx
# is a file: a damaged cache) is removed, not left in tmp/ until the next
# start; the index is still published and lists nothing.
mkdir -p "$WORK/cache-badidx/feeds/deb"
: > "$WORK/cache-badidx/feeds/deb/pkgidx"
start_pullgate badidx -c "$WORK/feed.conf"
F=http://127.0.0.1:$PG_PORT/feeds/deb
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "$F/dists/stable/main/binary-all/Packages.xz")
check "Packages.xz with no place for its lookup: served and published ($code)" \
    test "$code" = 200 -a -f "$PG_CACHE/feeds/deb/data/dists/stable/main/binary-all/Packages.xz#"
check "... the lookup parsed for it is not left in tmp/ ($(ls -A "$PG_CACHE/tmp"))" \
    test -z "$(ls -A "$PG_CACHE/tmp")"
unv=$(metric pullgate_feed_unverified_total)
code=$(curl -s -o /dev/null -w '%{http_code}' "$F/pool/main/pkg-1_1.0_all.deb")
check "... it lists nothing: a package is passed through, not cached ($code)" \
    test "$code" = 200 -a "$(metric pullgate_feed_unverified_total)" = $((unv + 1)) \
    -a ! -e "$PG_CACHE/feeds/deb/data/pool/main/pkg-1_1.0_all.deb#"
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
finish
