# Shared helpers for the integration tests (sourced by tests/integration/*.sh).
#
# Every server a test starts is recorded by PID and stopped by the EXIT
# trap, also on failure. Checks print "ok - NAME" or "not ok - NAME";
# tests/run.sh counts them.

set -u

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PULLGATE=${PULLGATE:-$TOP/build/openssl/pullgate}
PY=/usr/bin/python3
TOOLS=$TOP/tests/tools
WORK=$(mktemp -d /tmp/pullgate-test.XXXXXX)
PIDS=""
FAILED=0

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

cleanup() {
	for p in $PIDS; do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	if [ "${KEEP_WORK:-}" = "" ]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
# check NAME COMMAND...: runs the command, records the result.
check() {
	name=$1; shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL [TRIES]: until the URL answers (any HTTP status).
wait_http() {
	i=0
	while [ $i -lt "${2:-100}" ]; do
		# shellcheck disable=SC2086
		if curl -sk ${REG_WAIT_OPTS:-} -o /dev/null --max-time 1 "$1"; then return 0; fi
		sleep 0.1; i=$((i + 1))
	done
	echo "timeout waiting for $1" >&2
	return 1
}

forget_pid() {
	np=""
	for p in $PIDS; do [ "$p" = "$1" ] || np="$np $p"; done
	PIDS=$np
}

stop_pid() {
	kill "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget_pid "$1"
}

# start_registry NAME: a plain docker-registry on a free loopback port.
# Sets REG_PORT, REG_PID, REG_LOG. Extra YAML for the http: section may be
# given in REG_HTTP_EXTRA, and a whole auth: section in REG_AUTH.
start_registry() {
	REG_PORT=$(free_port)
	d=$WORK/registry-$1
	mkdir -p "$d/data"
	cat > "$d/config.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
${REG_HTTP_EXTRA:-}
${REG_AUTH:-}
YAML
	REG_LOG=$d/registry.log
	docker-registry serve "$d/config.yml" > "$REG_LOG" 2>&1 &
	REG_PID=$!
	PIDS="$PIDS $REG_PID"
	wait_http "${REG_SCHEME:-http}://127.0.0.1:$REG_PORT/v2/"
}

# start_pullgate NAME [ARGS...]: the daemon on a free port with its own cache.
# Sets PG_PORT, PG_PID, PG_LOG, PG_CACHE (reused if already set for NAME).
start_pullgate() {
	name=$1; shift
	PG_PORT=${PG_PORT_FIXED:-$(free_port)}
	PG_CACHE=${PG_CACHE_FIXED:-$WORK/cache-$name}
	PG_LOG=$WORK/pullgate-$name.log
	"$PULLGATE" serve --listen "127.0.0.1:$PG_PORT" --cache "$PG_CACHE" \
	    --log-level debug "$@" >> "$PG_LOG" 2>&1 &
	PG_PID=$!
	PIDS="$PIDS $PG_PID"
	PG_PIDS="${PG_PIDS:-} $PG_PID"
	wait_http "http://127.0.0.1:$PG_PORT/healthz"
}

# sanitizer_clean LOG: no AddressSanitizer or UBSan report in the log.
sanitizer_clean() {
	! grep -q -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$1"
}

# push_image LAYOUT TAG REF: skopeo copy of an OCI layout to a registry.
push_image() {
	skopeo --insecure-policy copy -q --all --dest-tls-verify=false \
	    "oci:$1:$2" "docker://$3" > "$WORK/skopeo-push.log" 2>&1 || {
		cat "$WORK/skopeo-push.log" >&2; return 1; }
}

# pull_image REF OUTDIR: skopeo copy (all platforms) to an OCI layout.
pull_image() {
	rm -rf "$2"
	skopeo --insecure-policy copy -q --all --src-tls-verify=false \
	    "docker://$1" "oci:$2:pulled" > "$WORK/skopeo-pull.log" 2>&1 || {
		cat "$WORK/skopeo-pull.log" >&2; return 1; }
}

# blobs_verified LAYOUT: every blob's sha256 equals its file name.
blobs_verified() {
	n=0
	for f in "$1"/blobs/sha256/*; do
		[ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || {
			echo "blob $f does not match its digest" >&2; return 1; }
		n=$((n + 1))
	done
	[ $n -gt 0 ]
}

# same_blobs A B: the two layouts hold the same set of blobs.
same_blobs() {
	[ "$(ls "$1/blobs/sha256" | sort)" = "$(ls "$2/blobs/sha256" | sort)" ]
}

# upstream_gets LOG DIGEST: how many GETs of that blob the registry served.
upstream_gets() {
	grep -c "\"GET /v2/[^ ]*/blobs/$2 " "$1" || true
}

# finish: stops the daemons still running (SIGTERM, so a sanitizer build
# reports leaks), checks every daemon log for sanitizer reports, exits.
# only_variants VARIANT...: a script that does not depend on the build
# variant (or is too slow to run three times) runs for the named ones only
# and ends here, with no checks, for the others.
only_variants() {
	local v
	for v in "$@"; do
		case "$PULLGATE" in */build/$v/pullgate) return 0 ;; esac
	done
	finish
}

finish() {
	for p in ${PG_PIDS:-}; do
		kill -0 "$p" 2>/dev/null && stop_pid "$p"
	done
	for log in "$WORK"/pullgate-*.log; do
		[ -f "$log" ] || continue
		if ! sanitizer_clean "$log"; then
			fail "sanitizer report in $(basename "$log")"
			grep -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" | head -40
		fi
	done
	exit $((FAILED > 0))
}

# start_fake MODE [ARGS...]: tests/tools/fakeupstream.py serving $WORK/fakeblobs.
# Sets FAKE_PORT, FAKE_PID, FAKE_LOG.
start_fake() {
	mode=$1; shift
	FAKE_PORT=$(free_port)
	FAKE_LOG=$WORK/fake-$FAKE_PORT.log
	mkdir -p "$WORK/fakeblobs"
	: > "$FAKE_LOG"
	$PY "$TOOLS/fakeupstream.py" --port "$FAKE_PORT" --blobs "$WORK/fakeblobs" \
	    --log "$FAKE_LOG" --mode "$mode" "$@" &
	FAKE_PID=$!
	PIDS="$PIDS $FAKE_PID"
	host=127.0.0.1
	case "$*" in *"--host "*) host=$(echo "$*" | sed 's/.*--host \([^ ]*\).*/\1/') ;; esac
	wait_http "http://$host:$FAKE_PORT/v2/"
}

# fake_blob BYTES: a random blob for the fake upstream; prints its digest.
fake_blob() {
	mkdir -p "$WORK/fakeblobs"
	head -c "$1" /dev/urandom > "$WORK/fakeblobs/new"
	h=$(sha256sum < "$WORK/fakeblobs/new" | cut -d' ' -f1)
	mv "$WORK/fakeblobs/new" "$WORK/fakeblobs/$h"
	echo "sha256:$h"
}

# mkdeb NAME DEPENDS DIR COMPRESSOR: a small package NAME_1.0_all.deb in
# DIR (3000 random bytes in /usr/share/NAME), depending on DEPENDS unless
# it is empty; its tree is built under $WORK/pkg/NAME.
mkdeb() {
	local d=$WORK/pkg/$1
	mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
	head -c 3000 /dev/urandom > "$d/usr/share/$1/data"
	{
		echo "Package: $1"; echo "Version: 1.0"; echo "Architecture: all"
		echo "Maintainer: pullgate tests <t@example.invalid>"
		[ -n "$2" ] && echo "Depends: $2"
		echo "Description: pullgate test package $1"
	} > "$d/DEBIAN/control"
	dpkg-deb --build -Z"$4" "$d" "$3/${1}_1.0_all.deb" > /dev/null
}

# start_static_nginx: nginx (one worker, sendfile) serving $WORK/nginx/www
# on a loopback port, as the reference of the benchmarks; sets NGX (the
# port) and NGX_PID, and waits until its file "blob" is answered.
start_static_nginx() {
	NGX=$(free_port)
	mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
	cat > "$WORK/nginx/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $WORK/nginx/pid; error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http { access_log off; sendfile on; client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  server { listen 127.0.0.1:$NGX; root $WORK/nginx/www; } }
NGINX
	nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
	NGX_PID=$!
	PIDS="$PIDS $NGX_PID"
	wait_http "http://127.0.0.1:$NGX/blob"
}

# fsize FILE: its size in bytes, 0 when it does not exist.
fsize() {
	stat -c %s "$1" 2>/dev/null || echo 0
}

# start_containerd [NAME]: a containerd of the test's own (root, state,
# socket). Sets CTD_SOCK, CTD_PID; ctr_ NS ARGS... runs ctr against it.
start_containerd() {
	d=$WORK/containerd-${1:-main}
	mkdir -p "$d/root" "$d/state"
	CTD_SOCK=$d/containerd.sock
	cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$CTD_SOCK.ttrpc"
TOML
	containerd --config "$d/config.toml" > "$d/containerd.log" 2>&1 &
	CTD_PID=$!
	PIDS="$PIDS $CTD_PID"
	i=0
	while [ ! -S "$CTD_SOCK" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S "$CTD_SOCK" ]
}
ctr_() {
	ns=$1; shift
	ctr --address "$CTD_SOCK" -n "$ns" "$@"
}

# metric NAME: a counter or gauge from the daemon's /metrics (0 if absent).
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$PG_PORT/metrics" |
	    awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

# wait_metric NAME VALUE [SECONDS]: waits (10 s at most, or SECONDS) until
# the daemon's metric NAME reads VALUE.
wait_metric() {
	local n=0 max=$((${3:-10} * 10))
	while [ "$(metric "$1")" != "$2" ] && [ $n -lt $max ]; do
		sleep 0.1; n=$((n + 1))
	done
}

# make_deb_repo DIR N BYTES: an unsigned Debian repository in DIR with N
# packages pkg-1..pkg-N of about BYTES each (uncompressed, so the size
# holds), suite "stable", component main, binary-all; Packages, .gz and
# .xz, their by-hash copies, and a Release with Acquire-By-Hash.
make_deb_repo() {
	repo=$1
	mkdir -p "$repo/pool/main" "$repo/dists/stable/main/binary-all"
	i=1
	while [ "$i" -le "$2" ]; do
		d=$WORK/debsrc/pkg-$i
		mkdir -p "$d/DEBIAN" "$d/usr/share/pkg-$i"
		head -c "$3" /dev/urandom > "$d/usr/share/pkg-$i/data"
		printf 'Package: pkg-%s\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test %s\n' \
		    "$i" "$i" > "$d/DEBIAN/control"
		dpkg-deb --build -Znone "$d" "$repo/pool/main/pkg-${i}_1.0_all.deb" > /dev/null
		i=$((i + 1))
	done
	idx=$repo/dists/stable/main/binary-all
	(cd "$repo" && apt-ftparchive packages pool > "$idx/Packages")
	gzip -kf "$idx/Packages"
	xz -kf "$idx/Packages"
	mkdir -p "$idx/by-hash/SHA256"
	for f in Packages Packages.gz Packages.xz; do
		cp "$idx/$f" "$idx/by-hash/SHA256/$(sha256sum < "$idx/$f" | cut -d' ' -f1)"
	done
	(cd "$repo" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable \
	    -o APT::FTPArchive::Release::Codename=stable \
	    -o APT::FTPArchive::Release::Architectures=all \
	    -o APT::FTPArchive::Release::Components=main \
	    -o APT::FTPArchive::Release::Acquire-By-Hash=yes \
	    release dists/stable | grep -v by-hash > "$WORK/Release.new" &&
	    mv "$WORK/Release.new" dists/stable/Release)
}

# start_nginx ROOT: nginx serving ROOT on a free loopback port, with an
# access log. Sets NGX_PORT, NGX_PID, NGX_LOG.
start_nginx() {
	NGX_PORT=$(free_port)
	n=$WORK/nginx-$NGX_PORT
	mkdir -p "$n/tmp"
	NGX_LOG=$n/access.log
	cat > "$n/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $n/pid; error_log $n/error.log;
events { worker_connections 128; }
http { access_log $NGX_LOG; client_body_temp_path $n/tmp;
  proxy_temp_path $n/tmp; fastcgi_temp_path $n/tmp;
  uwsgi_temp_path $n/tmp; scgi_temp_path $n/tmp;
  server { listen 127.0.0.1:$NGX_PORT; root $1; } }
NGINX
	nginx -c "$n/nginx.conf" -p "$n" &
	NGX_PID=$!
	PIDS="$PIDS $NGX_PID"
	wait_http "http://127.0.0.1:$NGX_PORT/"
}
