#!/bin/bash
# The OpenWrt package's init script: shellcheck clean; its UCI -> pullgate.conf
# translation run with stand-ins for OpenWrt's functions.sh, rc.common and
# procd (tests/tools/openwrt/: OpenWrt's shell library is not on Debian),
# and the daemon started with the command line procd was given, pulling
# from the private registry the UCI file names. OpenWrt builds the mbedTLS
# variant, so this runs with it only.
. "$(dirname "$0")/../lib.sh"

only_variants mbedtls

INIT=$TOP/packaging/openwrt/files/pullgate.init
SHIM=$TOP/tests/tools/openwrt
check "the init script passes shellcheck" shellcheck "$INIT"
check "the shipped UCI file translates" sh -c "
    mkdir -p '$WORK/shipped' &&
    sed 's|/var/cache/pullgate|$WORK/shipped-cache|' '$TOP/packaging/openwrt/files/pullgate.config' > '$WORK/shipped/pullgate' &&
    UCI_CONFIG_DIR='$WORK/shipped' PULLGATE_CONF='$WORK/shipped.conf' PROCD_LOG='$WORK/procd0.log' \
    sh '$SHIM/rc.common' '$INIT' start && '$PULLGATE' registry list -c '$WORK/shipped.conf' > /dev/null"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 40000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
PORT=$(free_port)

mkdir -p "$WORK/uci"
cat > "$WORK/uci/pullgate" <<UCI
config pullgate 'main'
	option enabled '1'
	option listen '127.0.0.1:$PORT'
	option cache_dir '$WORK/cache'
	option cache_max_bytes '104857600'
	option log_level 'debug'
	option tag_ttl '60'
	list server_name 'containers.local'
	list server_name '127.0.0.1'

config registry
	option id '3'
	option name 'acme'
	option url 'http://$UP'

config feed
	option name 'vendor'
	option url 'http://127.0.0.1:9/gw'
UCI
export UCI_CONFIG_DIR=$WORK/uci PULLGATE_CONF=$WORK/pullgate.conf PROCD_LOG=$WORK/procd.log
check "start translates /etc/config/pullgate" sh "$SHIM/rc.common" "$INIT" start
check "procd runs 'pullgate serve -c' the written file" \
    grep -qx "param command /usr/bin/pullgate serve -c $WORK/pullgate.conf" "$PROCD_LOG"
check "procd respawns it, as user pullgate" sh -c \
    "grep -q '^param respawn ' '$PROCD_LOG' && grep -qx 'param user pullgate' '$PROCD_LOG'"
check "a UCI change triggers a reload" grep -qx "trigger pullgate" "$PROCD_LOG"
"$PULLGATE" registry list -c "$WORK/pullgate.conf" > "$WORK/list.json" 2>&1
check "the written file loads, with the UCI registry as entry 3" \
    grep -q '"acme"' "$WORK/list.json"
check "the cache directory is made" test -d "$WORK/cache"

cmd=$(sed -n 's|^param command /usr/bin/pullgate ||p' "$PROCD_LOG")
# shellcheck disable=SC2086
"$PULLGATE" $cmd > "$WORK/pullgate-openwrt.log" 2>&1 &
PG_PID=$!; PIDS="$PIDS $PG_PID"; PG_PIDS=$PG_PID
wait_http "http://127.0.0.1:$PORT/healthz"
check "the daemon procd starts pulls from the UCI registry" \
    pull_image "127.0.0.1:$PORT/3/acme/app:v1" "$WORK/out"
check "... every blob verified" blobs_verified "$WORK/out"

check "reload rewrites the file and sends SIGHUP" sh -c \
    "sh '$SHIM/rc.common' '$INIT' reload && grep -qx 'signal pullgate \* HUP' '$PROCD_LOG'"
cp "$WORK/pullgate.conf" "$WORK/before.conf"
sed -i "s/option cache_max_bytes .*/option cache_max_bytes 'lots'/" "$WORK/uci/pullgate"
sh "$SHIM/rc.common" "$INIT" reload > "$WORK/bad.out" 2>&1
check "a non-numeric option is refused by reload" test $? != 0
check "... with the option named" grep -q "cache_max_bytes 'lots'" "$WORK/bad.out"
check "... and the file in force is kept" cmp -s "$WORK/before.conf" "$WORK/pullgate.conf"
check "... with nothing left half-written" test ! -e "$WORK/pullgate.conf.new"
finish
