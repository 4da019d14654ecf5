#!/bin/bash
# apt all the way, with the shipped snippets (issue 12, item 5): inside a
# network and mount namespace this script creates, pullgate runs on
# containers.local:8080 with the feed of etc/pullgate.conf's example
# (debian = http://deb.debian.org/debian, here nginx on 127.0.0.1:80 with
# a signed bookworm suite the test builds, and its key where the shipped
# sources line's signed-by names Debian's keyring). apt-get install of a
# package with a dependency really installs it (dpkg --root) into isolated
# roots: the mapped form (sources.list.d-pullgate.list), the HTTP-proxy
# form (pullgate-proxy.conf with the usual deb.debian.org line) and both
# snippets together; then nginx stopped and fresh roots again.
if [ "${PG_APT_NETNS:-}" = "" ]; then
	PG_APT_NETNS=1 exec unshare --net --mount --propagation private \
	    bash "$0" "$@"
fi
. "$(dirname "$0")/../lib.sh"
only_variants openssl

ip link set lo up
printf '127.0.0.1 localhost containers.local deb.debian.org\n::1 localhost\n' > "$WORK/hosts"
mount --bind "$WORK/hosts" /etc/hosts

# --- The archive: hello-a depends on hello-b; signed InRelease. -----------
REPO=$WORK/www/debian
mkdir -p "$REPO/pool/main/h" "$REPO/dists/bookworm/main/binary-amd64" \
    "$REPO/dists/bookworm/main/binary-all"
mkpkg() { mkdeb "$1" "$2" "$REPO/pool/main/h" xz; }	# mkpkg NAME DEPENDS
mkpkg hello-a hello-b
mkpkg hello-b ""
export GNUPGHOME=$WORK/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key "pullgate tests <t@example.invalid>" \
    rsa2048 sign never > /dev/null 2>&1
idx=$REPO/dists/bookworm/main
(cd "$REPO" && apt-ftparchive packages pool > "$idx/binary-all/Packages")
cp "$idx/binary-all/Packages" "$idx/binary-amd64/Packages"
xz -k "$idx/binary-all/Packages" "$idx/binary-amd64/Packages"
(cd "$REPO" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=bookworm \
    -o "APT::FTPArchive::Release::Architectures=amd64 all" \
    -o APT::FTPArchive::Release::Components=main release dists/bookworm \
    > "$WORK/Release" && mv "$WORK/Release" dists/bookworm/Release)
gpg --batch --yes --clearsign -o "$REPO/dists/bookworm/InRelease" "$REPO/dists/bookworm/Release"
gpg --batch --export > "$WORK/key.gpg"
mount --bind "$WORK/key.gpg" /usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$WORK/nginx/tmp"
cat > "$WORK/nginx/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $WORK/nginx/pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http { access_log $WORK/nginx/access.log; client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  server { listen 127.0.0.1:80; server_name deb.debian.org; root $WORK/www; } }
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGX_PID=$!
PIDS="$PIDS $NGX_PID"
wait_http "http://deb.debian.org/debian/dists/bookworm/InRelease"

# --- pullgate: the shipped configuration, its feed example uncommented. ---
sed -e "s|^cache_dir = .*|cache_dir = \"$WORK/cache\";|" \
    -e "s|^registries_file = .*|registries_file = \"$WORK/registries.conf\";|" \
    "$TOP/etc/pullgate.conf" > "$WORK/pullgate.conf"
echo 'feeds = ( { name = "debian"; url = "http://deb.debian.org/debian"; } );' \
    >> "$WORK/pullgate.conf"
PG_PORT_FIXED=8080 PG_CACHE_FIXED=$WORK/cache start_pullgate main -c "$WORK/pullgate.conf"

# apt_root NAME FORM: an isolated root (apt's Dir, dpkg's --root) whose
# /etc/apt holds the shipped snippets of FORM (mapped, proxy or both) at
# their documented names; the proxy form keeps the usual sources line.
apt_root() {
	A=$WORK/root-$1
	mkdir -p "$A/etc/apt/apt.conf.d" "$A/etc/apt/sources.list.d" \
	    "$A/etc/apt/preferences.d" "$A/var/lib/apt/lists/partial" \
	    "$A/var/cache/apt/archives/partial" "$A/var/lib/dpkg/info" \
	    "$A/var/lib/dpkg/updates" "$A/var/log/apt"
	: > "$A/var/lib/dpkg/status"
	: > "$A/etc/apt/sources.list"
	case $2 in mapped|both)
		cp "$TOP/etc/apt/sources.list.d-pullgate.list" "$A/etc/apt/sources.list.d/pullgate.list" ;;
	esac
	case $2 in proxy|both)
		cp "$TOP/etc/apt/pullgate-proxy.conf" "$A/etc/apt/apt.conf.d/01pullgate"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
		    > "$A/etc/apt/sources.list" ;;
	esac
	cat > "$A/apt.conf" <<APT
Dir "$A/";
APT::Architecture "amd64";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "0";
Debug::NoLocking "true";
DPkg::Options { "--root=$A"; "--force-bad-path"; };
DPkg::Use-Pty "false";
APT
}
# apt_install: update (every index fetched: apt-get exits 0 with
# "W: Failed to fetch", so its output counts), then install hello-a.
apt_install() {
	APT_CONFIG=$A/apt.conf apt-get -q update > "$A/update.log" 2>&1 &&
	    ! grep -q '^[WE]:' "$A/update.log" || { cat "$A/update.log" >&2; return 1; }
	APT_CONFIG=$A/apt.conf apt-get -q -y install hello-a > "$A/install.log" 2>&1 ||
	    { cat "$A/install.log" >&2; return 1; }
}
# installed: dpkg of the root has both packages installed, files in place.
installed() {
	for p in hello-a hello-b; do
		dpkg --root="$A" -s "$p" 2>/dev/null | grep -qx 'Status: install ok installed' &&
		    cmp -s "$A/usr/share/$p/data" "$WORK/pkg/$p/usr/share/$p/data" ||
		    { echo "$p not installed in $A" >&2; return 1; }
	done
}

APTV=$(apt-get --version | sed -n '1s/^apt \([^ ]*\).*/\1/p')
for when in online offline; do
	if [ $when = offline ]; then
		stop_pid "$NGX_PID"
		check "offline: the archive is stopped" \
		    sh -c "! curl -s -o /dev/null --max-time 2 http://deb.debian.org/debian/"
	fi
	for form in mapped proxy both; do
		apt_root "$when-$form" "$form"
		m0=$(metric 'pullgate_feed_requests_total')
		check "$when, apt $APTV ($form): update and install hello-a (depends on hello-b)" apt_install
		check "$when, apt ($form): both installed by dpkg into the root, files in place" installed
		check "$when, apt ($form): the signature verified with the keyring signed-by names" \
		    sh -c "! grep -qi 'NO_PUBKEY\|not signed\|unauthenticated' '$A/update.log' '$A/install.log'"
	done
done
code=$(curl -s -o /dev/null -w '%{http_code}' -x http://containers.local:8080 \
    http://containers.local/feeds/debian/dists/bookworm/InRelease)
check "a proxy request for our name on another port is still refused ($code)" test "$code" = 403
check "the archive saw each package file once (the rest came from the cache)" sh -c \
    "[ \$(grep -c 'GET /debian/pool/main/h/hello-a_1.0_all.deb' '$WORK/nginx/access.log') = 1 ] &&
     [ \$(grep -c 'GET /debian/pool/main/h/hello-b_1.0_all.deb' '$WORK/nginx/access.log') = 1 ]"
DPKGV=$(dpkg-query -W -f '${Version}' dpkg | cut -d. -f1,2)
check "README names the versions proven here (apt $APTV, dpkg $DPKGV)" \
    grep -q "with apt $APTV and dpkg $DPKGV:" "$TOP/README.md"
finish
