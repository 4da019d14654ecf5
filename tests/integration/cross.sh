#!/bin/bash
# The arm64 and armhf builds: made with Debian's cross compilers against a
# sysroot of the archive's own packages for that architecture, then run
# under qemu-user-static. The arm64 daemon serves a skopeo pull from a
# docker-registry, then the same image again with the registry stopped.
# Independent of the crypto variant of the run: checked once, with the
# OpenSSL build's turn (armhf is built with mbedTLS, as OpenWrt does).
. "$(dirname "$0")/../lib.sh"

only_variants openssl

A64=$TOP/build/openssl-aarch64-linux-gnu/pullgate
A32=$TOP/build/mbedtls-arm-linux-gnueabihf/pullgate
(cd "$TOP" && make -s CROSS=aarch64-linux-gnu "build/openssl-aarch64-linux-gnu/pullgate") \
    > "$WORK/arm64.log" 2>&1
check "make CROSS=aarch64-linux-gnu builds" test $? = 0 || tail -20 "$WORK/arm64.log"
check "... an arm64 executable" sh -c "file '$A64' | grep -q 'ARM aarch64'"
(cd "$TOP" && make -s CROSS=arm-linux-gnueabihf CRYPTO=mbedtls \
    "build/mbedtls-arm-linux-gnueabihf/pullgate") > "$WORK/armhf.log" 2>&1
check "make CROSS=arm-linux-gnueabihf CRYPTO=mbedtls builds" test $? = 0 || tail -20 "$WORK/armhf.log"
check "... an armhf executable" sh -c "file '$A32' | grep -q 'ARM, EABI5'"
check "the armhf binary runs under qemu-arm-static" sh -c \
    "qemu-arm-static -L '$TOP/build/sysroot-arm-linux-gnueabihf' '$A32' --version | grep -q mbedtls"

(cd "$TOP" && make -s deb ARCH=arm64) > "$WORK/deb-arm64.log" 2>&1
check "make deb ARCH=arm64 builds the package" test $? = 0 || tail -20 "$WORK/deb-arm64.log"
DEB=$TOP/build/deb/pullgate_$(sed -n '1s/^pullgate (\([^)]*\)).*/\1/p' "$TOP/packaging/debian/changelog")_arm64.deb
check "... for arm64" sh -c "dpkg-deb -f '$DEB' Architecture | grep -qx arm64"
check "... its dependencies computed from the arm64 libraries" sh -c \
    "dpkg-deb -f '$DEB' Depends | grep -q 'libevent-2.1-7' && dpkg-deb -f '$DEB' Depends | grep -q 'libcurl4'"
check "... holding an arm64 binary" sh -c \
    "dpkg-deb --fsys-tarfile '$DEB' | tar -xO ./usr/bin/pullgate > '$WORK/deb-bin' && file '$WORK/deb-bin' | grep -q 'ARM aarch64'"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 3 --size 300000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"

PORT=$(free_port)
qemu-aarch64-static -L "$TOP/build/sysroot-aarch64-linux-gnu" "$A64" serve \
    --listen "127.0.0.1:$PORT" --cache "$WORK/cache" --upstream "http://$UP" \
    > "$WORK/pullgate-arm64.log" 2>&1 &
PG_PID=$!; PIDS="$PIDS $PG_PID"; PG_PIDS=$PG_PID
wait_http "http://127.0.0.1:$PORT/healthz" 300
check "the arm64 daemon runs under qemu-aarch64-static" \
    sh -c "curl -sf http://127.0.0.1:$PORT/healthz | grep -q ok"
check "the arm64 daemon serves a skopeo pull" pull_image "127.0.0.1:$PORT/acme/app:v1" "$WORK/out1"
check "... every blob verified" blobs_verified "$WORK/out1"
stop_pid "$REG_PID"
check "with the registry stopped, it serves the same image again" \
    pull_image "127.0.0.1:$PORT/acme/app:v1" "$WORK/out2"
check "... the same blobs" same_blobs "$WORK/out1" "$WORK/out2"
finish
