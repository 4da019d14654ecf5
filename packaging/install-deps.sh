#!/bin/sh
# Installs what pullgate needs on Debian 12, as root, only if missing.
#   install-deps.sh build    compilers and libraries
#   install-deps.sh test     the above, plus the tests' servers and clients
#   install-deps.sh bench    the above, plus nginx, bc and ab for make bench
set -eu

BUILD_PKGS="build-essential pkg-config libevent-dev libcurl4-openssl-dev
libssl-dev libjansson-dev libconfig-dev libmbedtls-dev zlib1g-dev liblzma-dev
libcrypt-dev"
TEST_PKGS="libcmocka-dev mandoc prometheus debhelper lintian systemd adduser iproute2 shellcheck crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user-static file docker-registry skopeo apache2-utils python3 curl
openssl ca-certificates containerd bc nginx-light apt-utils gnupg
binutils xz-utils clang-14 libfuzzer-14-dev docker.io podman python3-grpcio
python3-yaml strace"
BENCH_PKGS="nginx-light bc apache2-utils"

case "${1:-build}" in
build) want="$BUILD_PKGS" ;;
test) want="$BUILD_PKGS $TEST_PKGS" ;;
bench) want="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing — run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
