#!/bin/bash
# Package feeds: a signed Debian repository and an opkg-style feed served
# by nginx, apt-get in isolated roots through pullgate in HTTP-proxy mode
# and through /feeds/, then nginx stopped and everything again from the
# cache; a package that does not match its index; a redirect followed; a
# host no feed names.
. "$(dirname "$0")/../lib.sh"

REPO=$WORK/www/deb
mkdir -p "$REPO/pool/main" "$REPO/dists/stable/main/binary-amd64" \
    "$REPO/dists/stable/main/binary-all" "$WORK/www/opkg"

# Three small packages; hello-a depends on hello-b.
mkpkg() { mkdeb "$1" "$2" "$REPO/pool/main" gzip; }	# mkpkg NAME DEPENDS
mkpkg hello-a hello-b
mkpkg hello-b ""
mkpkg hello-c ""
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key "pullgate tests <t@example.invalid>" \
    rsa2048 sign never > /dev/null 2>&1
reindex() {	# regenerates Packages, Release and the signed InRelease
	(cd "$REPO" && apt-ftparchive packages pool > dists/stable/main/binary-all/Packages)
	cp "$REPO/dists/stable/main/binary-all/Packages" "$REPO/dists/stable/main/binary-amd64/Packages"
	gzip -kf "$REPO/dists/stable/main/binary-all/Packages" "$REPO/dists/stable/main/binary-amd64/Packages"
	(cd "$REPO" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable \
	    -o APT::FTPArchive::Release::Codename=stable \
	    -o "APT::FTPArchive::Release::Architectures=amd64 all" \
	    -o APT::FTPArchive::Release::Components=main release dists/stable > "$WORK/Release" \
	    && mv "$WORK/Release" dists/stable/Release)
	gpg --batch --yes --clearsign -o "$REPO/dists/stable/InRelease" "$REPO/dists/stable/Release"
}
reindex
gpg --batch --export > "$WORK/key.gpg"

# An opkg-style feed: .ipk = ar(debian-binary, control.tar.gz, data.tar.gz).
mkipk() {	# mkipk NAME
	d=$WORK/ipk/$1
	mkdir -p "$d/control" "$d/data/usr/lib/$1"
	printf 'Package: %s\nVersion: 1.0\nArchitecture: all\n' "$1" > "$d/control/control"
	head -c 2000 /dev/urandom > "$d/data/usr/lib/$1/lib"
	echo "2.0" > "$d/debian-binary"
	tar -C "$d/control" -czf "$d/control.tar.gz" .
	tar -C "$d/data" -czf "$d/data.tar.gz" .
	(cd "$d" && ar rc "$WORK/www/opkg/${1}_1.0_all.ipk" debian-binary control.tar.gz data.tar.gz)
}
mkipk tool-x
mkipk tool-y
mkipk tool-bad
# Packages, Packages.gz and Packages.sig (a stand-in signature: the
# SHA-256 of Packages, so a test can tell whether the two belong together).
opkg_index() {
	for f in "$WORK"/www/opkg/*.ipk; do
		n=$(basename "$f"); p=${n%%_*}
		sum=$(sha256sum < "$f" | cut -d' ' -f1)
		[ "$p" = tool-bad ] && sum=$(printf '0%.0s' $(seq 64))	# the index lies
		printf 'Package: %s\nVersion: 1.0\nFilename: %s\nSize: %s\nSHA256sum: %s\n\n' \
		    "$p" "$n" "$(stat -c %s "$f")" "$sum"
	done > "$WORK/www/opkg/Packages"
	gzip -kf "$WORK/www/opkg/Packages"
	sha256sum < "$WORK/www/opkg/Packages" | cut -d' ' -f1 > "$WORK/www/opkg/Packages.sig"
}
opkg_index

NGX=$(free_port)
mkdir -p "$WORK/nginx/tmp"
cat > "$WORK/nginx/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $WORK/nginx/pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http { access_log $WORK/nginx/access.log; client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  server { listen 127.0.0.1:$NGX; root $WORK/www; } }
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGX_PID=$!
PIDS="$PIDS $NGX_PID"
wait_http "http://127.0.0.1:$NGX/deb/dists/stable/InRelease"

start_fake good		# a host no feed names
NOFEED_PORT=$FAKE_PORT; NOFEED_LOG=$FAKE_LOG
cat > "$WORK/pg.conf" <<CONF
feed_ttl = 0;
feeds = (
  { name = "deb"; url = "http://127.0.0.1:$NGX/deb"; },
  { name = "opk"; url = "http://127.0.0.1:$NGX/opkg"; }
);
CONF
start_pullgate feeds -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

# apt_root NAME MODE: an isolated apt root using pullgate as proxy or mapped.
apt_root() {
	A=$WORK/apt-$1
	mkdir -p "$A/etc/apt/apt.conf.d" "$A/etc/apt/sources.list.d" \
	    "$A/etc/apt/preferences.d" "$A/var/lib/apt/lists/partial" \
	    "$A/var/cache/apt/archives/partial" "$A/var/lib/dpkg"
	: > "$A/var/lib/dpkg/status"
	cat > "$A/apt.conf" <<APT
Dir "$A/";
Dir::State::status "$A/var/lib/dpkg/status";
Dir::Etc "$A/etc/apt/";
Dir::Cache "$A/var/cache/apt/";
Dir::Log "$A/var/log/apt/";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "0";
Debug::NoLocking "true";
APT
	if [ "$2" = proxy ]; then
		echo "Acquire::http::Proxy \"http://$PG\";" >> "$A/apt.conf"
		echo "deb [signed-by=$WORK/key.gpg] http://127.0.0.1:$NGX/deb stable main" \
		    > "$A/etc/apt/sources.list"
	else
		echo "Acquire::http::Proxy \"DIRECT\";" >> "$A/apt.conf"
		echo "deb [signed-by=$WORK/key.gpg] http://$PG/feeds/deb stable main" \
		    > "$A/etc/apt/sources.list"
	fi
}
apt_() { APT_CONFIG=$A/apt.conf apt-get -q -o Dpkg::Use-Pty=0 "$@" >> "$A/apt.log" 2>&1; }
# apt_update: apt-get update that fetched every index. apt-get exits 0 when
# an index could not be fetched ("W: Failed to fetch"), so its output counts.
apt_update() {
	APT_CONFIG=$A/apt.conf apt-get -q update > "$A/update.log" 2>&1
	rc=$?
	cat "$A/update.log" >> "$A/apt.log"
	[ $rc = 0 ] && ! grep -q '^[WE]:' "$A/update.log"
}
downloaded() { test -f "$A/var/cache/apt/archives/hello-a_1.0_all.deb" -a \
    -f "$A/var/cache/apt/archives/hello-b_1.0_all.deb"; }

for mode in proxy mapped; do
	apt_root "$mode" "$mode"
	check "apt ($mode): update through pullgate" apt_update
	check "apt ($mode): the signed InRelease verified (no warning)" sh -c "! grep -q -i 'not signed\|NO_PUBKEY\|^W:\|^E:' '$A/apt.log'"
	check "apt ($mode): install --download-only with a dependency" apt_ install -y --download-only hello-a
	check "apt ($mode): both packages downloaded" downloaded
done
check "apt: nginx saw the requests (through pullgate)" grep -q "GET /deb/pool/main/hello-b_1.0_all.deb" "$WORK/nginx/access.log"
n=$(grep -c "pool/main/hello-a" "$WORK/nginx/access.log")
check "apt: each package file was fetched upstream once ($n)" test "$n" = 1

# opkg as it does it: the index, then the packages, checking each.
opkg_fetch() {	# opkg_fetch BASE OUT: 0 if every good package verifies
	curl -sf -o "$2.gz" "$1/Packages.gz" || return 1
	curl -sf -o "$2.sig" "$1/Packages.sig" || return 1
	gunzip -c "$2.gz" > "$2" || return 1
	[ "$(sha256sum < "$2" | cut -d' ' -f1)" = "$(cat "$2.sig")" ] || return 1
	ok=0
	for n in tool-x_1.0_all.ipk tool-y_1.0_all.ipk; do
		want=$(awk -v f="$n" '$1=="Filename:"{cur=$2} $1=="SHA256sum:" && cur==f {print $2}' "$2")
		size=$(awk -v f="$n" '$1=="Filename:"{cur=$2} $1=="Size:" && cur==f {print $2}' "$2")
		curl -sf -o "$2.$n" "$1/$n" || return 1
		[ "$(sha256sum < "$2.$n" | cut -d' ' -f1)" = "$want" ] || return 1
		[ "$(stat -c %s "$2.$n")" = "$size" ] || return 1
		ok=$((ok + 1))
	done
	[ $ok = 2 ]
}
check "opkg-style: index and packages through /feeds/, sizes and SHA-256 match" \
    opkg_fetch "http://$PG/feeds/opk" "$WORK/opk1"
code=$(curl -s -o "$WORK/bad.ipk" -w '%{http_code}' "http://$PG/feeds/opk/tool-bad_1.0_all.ipk")
rc=$?
check "a package whose bytes do not match its index: the client sees a failure ($rc/$code)" \
    test "$rc" -ne 0 -o "$code" -ge 500
# The feed store keeps a file at feeds/<name>/data/<path># (proxy/feed.c).
# tool-x verified and was cached there: tool-bad must not be.
check "...and it is not cached (tool-x, which verified, is)" \
    test -f "$PG_CACHE/feeds/opk/data/tool-x_1.0_all.ipk#" -a \
    ! -e "$PG_CACHE/feeds/opk/data/tool-bad_1.0_all.ipk#"
check "opkg-style: HTTP-proxy mode too" sh -c "curl -sf -x http://$PG -o /dev/null http://127.0.0.1:$NGX/opkg/tool-x_1.0_all.ipk"

# HTTP behaviour apt and opkg rely on.
curl -s -D "$WORK/h1" -o /dev/null "http://$PG/feeds/opk/tool-x_1.0_all.ipk"
check "a Content-Length, an ETag and Last-Modified on a cached file" \
    sh -c "grep -qi '^Content-Length: [0-9]' '$WORK/h1' && grep -qi '^ETag: \"' '$WORK/h1' && grep -qi '^Last-Modified:' '$WORK/h1'"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/Ip' "$WORK/h1")
lm=$(sed -n 's/^Last-Modified: \(.*\)\r$/\1/Ip' "$WORK/h1")
check "304 for If-None-Match" test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$PG/feeds/opk/tool-x_1.0_all.ipk")" = 304
check "304 for If-Modified-Since" test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" "http://$PG/feeds/opk/tool-x_1.0_all.ipk")" = 304
check "Range: 206" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-9' "http://$PG/feeds/opk/tool-x_1.0_all.ipk")" = 206
check "HEAD: a Content-Length" sh -c "curl -sI 'http://$PG/feeds/opk/tool-x_1.0_all.ipk' | grep -qi '^Content-Length: [1-9]'"

# Errors in plain HTTP, as apt and opkg expect (never an OCI JSON body).
curl -s -D "$WORK/h404" -o "$WORK/b404" "http://$PG/feeds/deb/pool/main/nothere_1.0_all.deb"
check "a file the feed does not have: 404 in plain text" \
    sh -c "grep -q '^HTTP/1.1 404' '$WORK/h404' && grep -qi '^Content-Type: text/plain' '$WORK/h404' && ! grep -q errors '$WORK/b404'"
curl -s -D "$WORK/h404p" -o /dev/null -x "http://$PG" "http://127.0.0.1:$NGX/deb/dists/stable/main/binary-all/nothere"
check "...in HTTP-proxy mode too" \
    sh -c "grep -q '^HTTP/1.1 404' '$WORK/h404p' && grep -qi '^Content-Type: text/plain' '$WORK/h404p'"

# A feed that redirects elsewhere: followed, as every upstream request is
# (crosstalk.sh checks that no credentials go along).
start_fake good --host 127.0.0.2
ELSE_LOG=$FAKE_LOG
start_fake good --redirect "http://127.0.0.2:$FAKE_PORT"
RD_PORT=$FAKE_PORT
stop_pid "$PG_PID"
sed -i "s|^feeds = (|feeds = (\n  { name = \"red\"; url = \"http://127.0.0.1:$RD_PORT\"; },|" "$WORK/pg.conf"
PG_CACHE_FIXED=$PG_CACHE PG_PORT_FIXED=$PG_PORT start_pullgate feeds -c "$WORK/pg.conf"
RB=$(fake_blob 5000)
code=$(curl -s -o "$WORK/redirected" -w '%{http_code}' "http://$PG/feeds/red/v2/x/blobs/$RB")
check "a feed's redirect is followed ($code)" \
    sh -c "[ $code = 200 ] && [ sha256:\$(sha256sum < '$WORK/redirected' | cut -d' ' -f1) = $RB ]"
check "...to the other host" grep -q "GET /v2/x/blobs/$RB" "$ELSE_LOG"

# A host no feed names: refused, nothing dialled.
f0=$(wc -l < "$NOFEED_LOG")
code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://$PG" "http://127.0.0.1:$NOFEED_PORT/v2/")
check "proxy request for a host no feed names: 403 ($code)" test "$code" = 403
check "...and no outgoing connection" test "$(wc -l < "$NOFEED_LOG")" = "$f0"

# Hostile requests: encoded traversal, a file where a directory must be.
code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "http://$PG/feeds/deb/%252e%252e/secret")
check "an encoded ../ in a feed path is refused ($code)" test "$code" = 400
curl -s -o /dev/null "http://$PG/feeds/deb/dists"
curl -s -o /dev/null "http://$PG/feeds/deb/dists/stable"
apt_root collide proxy
check "asking for a directory as a file does not break the feed" apt_update

# The feed changes upstream: a new package, new indexes, a new InRelease.
# Within feed_ttl the old set is served; after it the new one, whole.
# TTL leaves room for a package build and an apt update on a busy machine.
TTL=6
stop_pid "$PG_PID"
sed -i "s/^feed_ttl = 0;/feed_ttl = $TTL;/" "$WORK/pg.conf"
PG_CACHE_FIXED=$PG_CACHE PG_PORT_FIXED=$PG_PORT start_pullgate feeds -c "$WORK/pg.conf"
apt_root warm proxy
check "feed_ttl = $TTL: apt update" apt_update
sleep "$TTL.2"
apt_root warm2 proxy
check "feed_ttl = $TTL: apt update after the TTL" apt_update	# every index fresh again for TTL s
mkpkg hello-d ""
reindex
apt_root within proxy
check "within feed_ttl: apt update" apt_update
check "within feed_ttl the old index set is served (hello-a, no hello-d yet)" \
    sh -c "APT_CONFIG=$A/apt.conf apt-cache show hello-a > /dev/null 2>&1 && ! APT_CONFIG=$A/apt.conf apt-cache show hello-d > /dev/null 2>&1"
sleep "$TTL.2"
apt_root after proxy
check "after feed_ttl: apt update sees the new set" apt_update
check "...never a mix (no hash sum mismatch)" sh -c "! grep -qi 'mismatch' '$A/apt.log'"
check "...and the new package installs" apt_ install -y --download-only hello-d

check "the switch to the new set was counted" test "$(metric pullgate_feed_set_switches_total)" -gt 0

# A new set upstream that cannot be completed (its Packages.gz are gone):
# the old set stays, whole, and apt update still works with it.
mkpkg hello-e ""
reindex
for a in all amd64; do mv "$REPO/dists/stable/main/binary-$a/Packages.gz" "$WORK/Packages-$a.gz"; done
sleep "$TTL.2"
apt_root incomplete proxy
check "an incomplete new set upstream: apt update works with the old set" apt_update
check "...never a mix (no hash sum mismatch)" sh -c "! grep -qi 'mismatch' '$A/apt.log'"
check "...the old set (hello-d, not hello-e)" sh -c "APT_CONFIG=$A/apt.conf apt-cache show hello-d > /dev/null 2>&1 && ! APT_CONFIG=$A/apt.conf apt-cache show hello-e > /dev/null 2>&1"
check "...and counted as a set kept" test "$(metric pullgate_feed_set_kept_total)" -gt 0
for a in all amd64; do mv "$WORK/Packages-$a.gz" "$REPO/dists/stable/main/binary-$a/Packages.gz"; done
sleep "$TTL.2"
apt_root complete proxy
check "once the upstream set is complete: apt update" apt_update
check "once the upstream set is complete, it is switched in" apt_ install -y --download-only hello-e

# The opkg feed changes: Packages.gz and Packages.sig switch together.
opkg_fetch "http://$PG/feeds/opk" "$WORK/opk-before" > /dev/null 2>&1
mkipk tool-z
opkg_index
sleep "$TTL.2"
check "opkg: after feed_ttl the new Packages.gz and its Packages.sig belong together" \
    opkg_fetch "http://$PG/feeds/opk" "$WORK/opk-after"
check "opkg: ...and it is the new index" grep -q "tool-z" "$WORK/opk-after"

# A second gateway, staged on purpose: prefill --feed, nothing else.
PG1=$PG; PG1_PORT=$PG_PORT
start_pullgate staged -c "$WORK/pg.conf"
PG2=127.0.0.1:$PG_PORT
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "$PG2" --cache "$PG_CACHE" \
    --feed deb --dist stable --arch amd64 hello-a > "$WORK/pf1.out" 2>&1
check "prefill --feed (apt): the package and its dependency" \
    sh -c "grep -q 'hello-a pool/main/hello-a_1.0_all.deb cached' '$WORK/pf1.out' && grep -q 'hello-b .* cached (dependency)' '$WORK/pf1.out'"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "$PG2" --cache "$PG_CACHE" \
    --feed opk tool-y > "$WORK/pf2.out" 2>&1
check "prefill --feed (opkg)" grep -q "tool-y tool-y_1.0_all.ipk cached" "$WORK/pf2.out"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "$PG2" --cache "$PG_CACHE" \
    --feed opk nothere > "$WORK/pf3.out" 2>&1
check "prefill --feed: an unknown package fails the run, clearly" \
    sh -c "[ $? = 1 ] && grep -q 'nothere: FAILED: not in the feed' '$WORK/pf3.out'"
PG=$PG1; PG_PORT=$PG1_PORT

# The uplink goes: fresh apt roots, everything from the cache.
stop_pid "$NGX_PID"
for mode in proxy mapped; do
	apt_root "$mode-offline" "$mode"
	check "offline apt ($mode): update from the cache" apt_update
	check "offline apt ($mode): install --download-only from the cache" \
	    apt_ install -y --download-only hello-a
	check "offline apt ($mode): both packages" downloaded
done
check "offline opkg-style: index and packages from the cache" \
    opkg_fetch "http://$PG/feeds/opk" "$WORK/opk2"
PG=$PG2
apt_root staged-offline proxy
check "offline, staged gateway: apt update from what prefill fetched" apt_update
check "offline, staged gateway: install --download-only hello-a" apt_ install -y --download-only hello-a
check "offline, staged gateway: with its dependency" downloaded
check "offline, staged gateway: opkg-style fetch of the prefilled package" \
    sh -c "curl -sf -o /dev/null 'http://$PG2/feeds/opk/Packages.gz' && curl -sf -o /dev/null 'http://$PG2/feeds/opk/tool-y_1.0_all.ipk'"
PG=$PG1
curl -s -D "$WORK/h503" -o /dev/null "http://$PG/feeds/deb/dists/stable/main/binary-all/Packages.xz"
check "offline: a volatile file never cached gets 503 with Retry-After, in plain text" \
    sh -c "grep -q '^HTTP/1.1 503' '$WORK/h503' && grep -qi '^Retry-After:' '$WORK/h503' && grep -qi '^Content-Type: text/plain' '$WORK/h503'"
finish
