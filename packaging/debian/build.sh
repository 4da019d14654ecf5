#!/bin/sh
# make deb [ARCH=...]: builds the Debian package from a copy of the tree
# (debhelper wants debian/ at the top), for this machine or, with an
# architecture (arm64, armhf), cross-built. The .deb lands in build/deb/.
set -eu
cd "$(dirname "$0")/../.."
arch=${1:-}
top=$(pwd)
version=$(sed -n '1s/^pullgate (\([^)]*\)).*/\1/p' packaging/debian/changelog)
out=build/deb
src=$out/pullgate-$version
rm -rf "$src"
mkdir -p "$src"
tar --exclude=./build --exclude=./.git --exclude=./pullgate -cf - . |
    tar -xf - -C "$src"
cp -R packaging/debian "$src/debian"
rm -f "$src/debian/build.sh"
cd "$src"
if [ -n "$arch" ]; then
	triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_TYPE 2> /dev/null)
	PULLGATE_SYSROOT=$top/build/sysroot-$triplet
	sh "$top/packaging/cross-sysroot.sh" "$triplet" "$PULLGATE_SYSROOT"
	export PULLGATE_SYSROOT
	# -d: the build dependencies are in the sysroot, not installed.
	DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b -d -a"$arch"
else
	dpkg-buildpackage -us -uc -b
fi
