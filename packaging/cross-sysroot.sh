#!/bin/sh
# cross-sysroot.sh TRIPLET DIR: a sysroot of Debian's own libraries for a
# foreign architecture (aarch64-linux-gnu = arm64, arm-linux-gnueabihf =
# armhf), for 'make CROSS=TRIPLET' and for running the result under
# qemu-user-static. The packages are the archive's multiarch ones
# (dpkg --add-architecture), downloaded and unpacked rather than installed:
# an archive's foreign-architecture indexes can lag the host's (security
# updates), and Multi-Arch: same packages must have one version across
# architectures, so installing them could mean downgrading the host's own
# libraries. Unpacked into DIR they touch nothing.
set -eu

triplet=$1
dir=$2
case "$triplet" in
aarch64-linux-gnu) arch=arm64 ;;
arm-linux-gnueabihf) arch=armhf ;;
*) echo "cross-sysroot.sh: unknown triplet $triplet" >&2; exit 2 ;;
esac
[ -f "$dir/.complete" ] && exit 0

if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	dpkg --add-architecture "$arch"
	apt-get update -q || true	# a foreign index that fails is reported, not fatal
fi
dev="libc6-dev libevent-dev libcurl4-openssl-dev libssl-dev libjansson-dev
libconfig-dev libmbedtls-dev zlib1g-dev liblzma-dev"
want=""
for p in $dev; do want="$want $p:$arch"; done

rm -rf "$dir"
mkdir -p "$dir/debs"
# Every package the development packages need, recursively, of that
# architecture (virtual packages and other architectures left out).
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $want |
    sed -n "s/^\([a-z0-9][a-z0-9.+-]*\):$arch\$/\1/p" | sort -u > "$dir/packages"
cd "$dir/debs"
# shellcheck disable=SC2046
apt-get download -q $(sed "s/\$/:$arch/" ../packages) > ../download.log 2>&1 || {
	tail -5 ../download.log >&2; exit 1; }
cd ..
# Each package's shlibs file too: 'make deb ARCH=...' computes the
# package's dependencies from them (dpkg-shlibdeps -L).
: > shlibs.local
for d in debs/*.deb; do
	dpkg-deb -x "$d" .
	rm -rf control && dpkg-deb -e "$d" control
	[ -f control/shlibs ] && cat control/shlibs >> shlibs.local
done
rm -rf control
# Absolute symbolic links (libfoo.so -> /lib/...) point into the sysroot.
find . -type l | while read -r l; do
	t=$(readlink "$l")
	case "$t" in /*) ln -sfn "$(pwd)$t" "$l" ;; esac
done
# usr-merged layout, as Debian 12 has it.
for d in lib; do
	if [ -d "$d" ] && [ ! -L "$d" ]; then
		mkdir -p "usr/$d" && cp -a "$d"/. "usr/$d"/ && rm -rf "$d"
	fi
	[ -e "$d" ] || ln -s "usr/$d" "$d"
done
rm -rf debs
touch .complete
echo "sysroot for $arch in $dir: $(wc -l < packages) packages"
