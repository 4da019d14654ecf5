#!/bin/bash
# The byte budget over images and feeds together: images pulled with
# skopeo and Debian packages fetched the way apt does (InRelease, the
# by-hash Packages.xz, then .deb files), interleaved, through one daemon
# with a small cache_max_bytes. The cache's files are sampled throughout:
# they never pass the budget; the pinned image and the feed's index files
# stay; evictions happen (the daemon's counter). Then a download that
# cannot fit is refused, a body of unknown length stops at the budget,
# and removals by another process ('cache rm' + 'gc') are seen at once.
. "$(dirname "$0")/../lib.sh"

MAX=6000000
start_registry budget
UP=127.0.0.1:$REG_PORT
for n in pinned a b c d; do
	$PY "$TOOLS/mkimage.py" "$WORK/img-$n" --tag v1 --layers 1 --size 900000 \
	    --seed "budget-$n" > /dev/null
	push_image "$WORK/img-$n" v1 "$UP/t/$n:v1"
done
make_deb_repo "$WORK/www/deb" 8 600000
start_nginx "$WORK/www"
big=$(fake_blob 7000000)
small=$(fake_blob 300000)
start_fake good
GOOD_PORT=$FAKE_PORT
start_fake chunked
CHUNKED_PORT=$FAKE_PORT
cat > "$WORK/pg.conf" <<CONF
cache_max_bytes = $MAX;
registries = ( { id = 3; name = "up"; url = "http://$UP"; },
  { id = 4; name = "fake"; url = "http://127.0.0.1:$GOOD_PORT"; },
  { id = 5; name = "chunked"; url = "http://127.0.0.1:$CHUNKED_PORT"; } );
default_registry = "up";
feeds = ( { name = "deb"; url = "http://127.0.0.1:$NGX_PORT/deb"; } );
CONF
start_pullgate budget -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
C=$PG_CACHE

files_bytes() { find "$C" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
# Samples the cache's file bytes every 50 ms until $WORK/stop exists.
sampler() {
	max=0; i=0
	while [ ! -f "$WORK/stop" ] && [ $i -lt 6000 ]; do
		b=$(files_bytes); [ "$b" -gt "$max" ] && max=$b
		echo "$max" > "$WORK/max"; sleep 0.05; i=$((i + 1))
	done
}
sampler & SAMPLER=$!
PIDS="$PIDS $SAMPLER"

F=http://$PG/feeds/deb
IDX=dists/stable/main/binary-all
XZ=$(sha256sum < "$WORK/www/deb/$IDX/Packages.xz" | cut -d' ' -f1)
check "feed: InRelease-less suite: Release through pullgate" \
    curl -sf -o "$WORK/Release" "$F/dists/stable/Release"
check "feed: the by-hash Packages.xz through pullgate" \
    curl -sf -o "$WORK/Packages.xz" "$F/$IDX/by-hash/SHA256/$XZ"
pull_image "$PG/t/pinned:v1" "$WORK/p-pinned"
check "cache pin: the first image" \
    "$PULLGATE" cache pin --cache "$C" -c "$WORK/pg.conf" t/pinned:v1
ok_all=0
for i in 1 2 3 4 5 6 7 8; do
	curl -sf -o "$WORK/pkg-$i.deb" "$F/pool/main/pkg-${i}_1.0_all.deb" || ok_all=1
	cmp -s "$WORK/pkg-$i.deb" "$WORK/www/deb/pool/main/pkg-${i}_1.0_all.deb" || ok_all=1
	case $i in
	2) pull_image "$PG/t/a:v1" "$WORK/p-a" || ok_all=1 ;;
	4) pull_image "$PG/t/b:v1" "$WORK/p-b" || ok_all=1 ;;
	6) pull_image "$PG/t/c:v1" "$WORK/p-c" || ok_all=1 ;;
	8) pull_image "$PG/t/d:v1" "$WORK/p-d" || ok_all=1 ;;
	esac
done
check "every package and image arrived whole although together they pass the budget" \
    test "$ok_all" = 0
touch "$WORK/stop"; wait "$SAMPLER" 2>/dev/null; forget_pid "$SAMPLER"
max=$(cat "$WORK/max")
# The budget counts blobs and feed files; tag, media-type and feed meta
# files (a few hundred bytes each) are outside it.
check "the cache's files never passed cache_max_bytes ($max <= $MAX + 64 KiB)" \
    test "$max" -le $((MAX + 65536))
du=$(du -sb "$C" | cut -f1)
dirs=$(find "$C" -type d | wc -l)
check "du of the cache holds the budget ($du <= $MAX + $dirs directories)" \
    test "$du" -le $((MAX + 65536 + dirs * 4096))
check "evictions happened (pullgate_cache_evictions_total)" \
    test "$(metric pullgate_cache_evictions_total)" -gt 0
check "the pinned image is whole" sh -c "for d in \$(ls '$WORK/p-pinned/blobs/sha256'); do
	test -f '$C/blobs/sha256/'\$(echo \$d | cut -c1-2)/\$d || exit 1; done"
check "the feed's index files stayed" sh -c "
	test -n \"\$(find '$C/feeds/deb' -type f -path '*/data/dists/stable/Release#')\" &&
	test -n \"\$(find '$C/feeds/deb' -type f -path '*/data/$IDX/by-hash/SHA256/$XZ#')\""
check "the newest image stayed" sh -c "for d in \$(ls '$WORK/p-d/blobs/sha256'); do
	test -f '$C/blobs/sha256/'\$(echo \$d | cut -c1-2)/\$d || exit 1; done"
check "the daemon's cache gauge agrees with the disk" sh -c "
	g=\$(curl -s http://$PG/metrics | awk '\$1==\"pullgate_cache_bytes\"{print \$2}')
	test \"\$g\" -le $MAX"

# A blob larger than the whole budget: refused (507), nothing evicted.
before=$(find "$C/blobs" -type f | sort | md5sum)
refusals=$(metric pullgate_budget_refusals_total)
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "http://$PG/v2/fake/t/x/blobs/$big" 2>/dev/null)
check "budget: a blob larger than the budget is refused ($code)" test "$code" = 507
check "budget: ...counted (pullgate_budget_refusals_total)" \
    test "$(metric pullgate_budget_refusals_total)" -gt "$refusals"
check "budget: ...and nothing was evicted for it" \
    test "$(find "$C/blobs" -type f | sort | md5sum)" = "$before"

# Bodies of unknown length reserve as they grow: a small one is cached,
# one larger than the room left is stopped and not cached.
check "budget: a body without Content-Length is cached" sh -c "
	curl -sf -o '$WORK/small' 'http://$PG/v2/chunked/t/x/blobs/$small' &&
	test -f '$C/blobs/sha256/$(echo "$small" | cut -c8-9)/$(echo "$small" | cut -c8-)'"
refusals=$(metric pullgate_budget_refusals_total)
curl -s -o "$WORK/big" "http://$PG/v2/chunked/t/x/blobs/$big"
check "budget: a body without Content-Length past the budget never ends cleanly" \
    test "$(sha256sum < "$WORK/big" | cut -d' ' -f1)" != "$(echo "$big" | cut -c8-)"
check "budget: ...is not cached" \
    test ! -e "$C/blobs/sha256/$(echo "$big" | cut -c8-9)/$(echo "$big" | cut -c8-)"
check "budget: ...is counted as refused" \
    test "$(metric pullgate_budget_refusals_total)" -gt "$refusals"
check "budget: no reservation is left behind" \
    test "$(metric pullgate_cache_reserved_bytes)" = 0
check "budget: no temporary file is left" test -z "$(ls -A "$C/tmp")"

# Another process removes an image: the daemon's gauge drops at once.
g1=$(metric pullgate_cache_bytes)
"$PULLGATE" cache rm --cache "$C" -c "$WORK/pg.conf" t/d:v1 > /dev/null 2>&1
"$PULLGATE" cache gc --cache "$C" -c "$WORK/pg.conf" --grace 0 > /dev/null 2>&1
i=0; while [ "$(metric pullgate_cache_bytes)" -ge "$g1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "another process's gc is seen by the daemon ($g1 -> $(metric pullgate_cache_bytes))" \
    test "$(metric pullgate_cache_bytes)" -lt "$g1"
b=$(find "$C/blobs" "$C/feeds" -type f -not -path '*/meta/*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
check "the gauge equals the files the index covers ($b = $(metric pullgate_cache_bytes))" \
    test "$b" = "$(metric pullgate_cache_bytes)"
finish
