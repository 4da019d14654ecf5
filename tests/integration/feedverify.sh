#!/bin/bash
# Package files are verified against the cached package index, as Debian
# serves it: apt fetches Release, then Packages.xz by hash, then .deb
# files. A .deb the upstream serves with wrong bytes once is a failure for
# the client and is not cached; once the upstream is mended the next
# request gets the right file. A .deb no cached index lists is passed
# through, never cached. Counters say what the daemon did.
. "$(dirname "$0")/../lib.sh"

REPO=$WORK/www/deb
make_deb_repo "$REPO" 3 20000
start_nginx "$WORK/www"
cat > "$WORK/pg.conf" <<CONF
feeds = ( { name = "deb"; url = "http://127.0.0.1:$NGX_PORT/deb"; } );
CONF
start_pullgate verify -c "$WORK/pg.conf"
F=http://127.0.0.1:$PG_PORT/feeds/deb
C=$PG_CACHE
IDX=dists/stable/main/binary-all
XZ=$(sha256sum < "$REPO/$IDX/Packages.xz" | cut -d' ' -f1)
DEB=pool/main/pkg-1_1.0_all.deb
cached() { test -f "$C/feeds/deb/data/$1#"; }

check "Release through pullgate" curl -sf -o "$WORK/Release" "$F/dists/stable/Release"
check "the by-hash Packages.xz through pullgate" \
    curl -sf -o "$WORK/Packages.xz" "$F/$IDX/by-hash/SHA256/$XZ"
check "...parsed into a lookup index when it was published" \
    test "$(metric pullgate_feed_indexes_parsed_total)" -ge 1

# The upstream serves wrong bytes (same size) for the .deb, once.
cp "$REPO/$DEB" "$WORK/good.deb"
$PY -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[len(b) // 2] ^= 0xff
open(sys.argv[1], 'wb').write(b)" "$REPO/$DEB"
vf=$(metric pullgate_verification_failures_total)
rc=0; curl -sf -o "$WORK/got.deb" "$F/$DEB" || rc=$?
check "wrong bytes: the client's download fails (curl rc=$rc)" test "$rc" != 0
check "wrong bytes: the client never got the wrong file whole" \
    sh -c "! cmp -s '$WORK/got.deb' '$REPO/$DEB'"
check "wrong bytes: counted as a verification failure" \
    test "$(metric pullgate_verification_failures_total)" -gt "$vf"
check "wrong bytes: nothing is cached" sh -c "! test -e '$C/feeds/deb/data/$DEB#'"
check "wrong bytes: no temporary file is left" test -z "$(ls -A "$C/tmp")"

# Mended upstream: the right file, cached; then served from the cache.
cp "$WORK/good.deb" "$REPO/$DEB"
check "mended: the next request gets the right file" \
    sh -c "curl -sf -o '$WORK/got.deb' '$F/$DEB' && cmp -s '$WORK/got.deb' '$WORK/good.deb'"
check "mended: it is cached" cached "$DEB"
n=$(grep -c "GET /deb/$DEB" "$NGX_LOG")
check "mended: the next request is a cache hit" \
    sh -c "curl -sf -o '$WORK/again.deb' '$F/$DEB' && cmp -s '$WORK/again.deb' '$WORK/good.deb' &&
	test \$(grep -c 'GET /deb/$DEB' '$NGX_LOG') = $n"

# A .deb no cached index lists: passed through, not cached.
cp "$WORK/good.deb" "$REPO/pool/main/unlisted_1.0_all.deb"
u=$(metric pullgate_feed_unverified_total)
check "unlisted: the client gets the file" \
    sh -c "curl -sf -o '$WORK/unl.deb' '$F/pool/main/unlisted_1.0_all.deb' && cmp -s '$WORK/unl.deb' '$WORK/good.deb'"
check "unlisted: it is not cached" sh -c "! test -e '$C/feeds/deb/data/pool/main/unlisted_1.0_all.deb#'"
check "unlisted: counted as unverified" \
    test "$(metric pullgate_feed_unverified_total)" -gt "$u"

# HEAD of a package not in the cache: the feed is asked with a HEAD,
# nothing is downloaded or cached, and the keep-alive connection it came
# on answers the next request.
P3=pool/main/pkg-3_1.0_all.deb
out=$(curl -s -I --max-time 10 -w '%{http_code} %{num_connects}\n' -o /dev/null \
    "$F/$P3" -o /dev/null "$F/dists/stable/Release" | tr '\n' ' ')
check "HEAD uncached: answered, and the next request on the connection too ($out)" \
    test "$out" = "200 1 200 0 "
check "HEAD uncached: the feed was asked with a HEAD, not a GET" \
    sh -c "grep -q 'HEAD /deb/$P3' '$NGX_LOG' && ! grep -q 'GET /deb/$P3' '$NGX_LOG'"
check "HEAD uncached: nothing is cached" sh -c "! test -e '$C/feeds/deb/data/$P3#'"
len=$(curl -s -I --max-time 10 "$F/$P3" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-length" { print $2 }')
check "HEAD uncached: Content-Length is the file's ($len)" \
    test "$len" = "$(stat -c %s "$REPO/$P3")"
code=$(curl -s -I -o /dev/null -w '%{http_code}' --max-time 10 "$F/pool/main/nothere_1_all.deb")
check "HEAD uncached: a file the feed lacks is 404 ($code)" test "$code" = 404

# A restart keeps the lookup indexes: a package is verified without the
# Packages file being parsed again.
stop_pid "$PG_PID"
PG_PORT_FIXED=$PG_PORT PG_CACHE_FIXED=$C start_pullgate verify -c "$WORK/pg.conf"
cp "$REPO/pool/main/pkg-2_1.0_all.deb" "$WORK/p2.deb"
$PY -c "
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[100] ^= 0xff
open(sys.argv[1], 'wb').write(b)" "$REPO/pool/main/pkg-2_1.0_all.deb"
rc=0; curl -sf -o /dev/null "$F/pool/main/pkg-2_1.0_all.deb" || rc=$?
check "after a restart: a wrong package is still refused (rc=$rc)" test "$rc" != 0
check "after a restart: no index was parsed again" \
    test "$(metric pullgate_feed_indexes_parsed_total)" = 0
check "after a restart: nothing wrong is cached" \
    sh -c "! test -e '$C/feeds/deb/data/pool/main/pkg-2_1.0_all.deb#'"
finish
