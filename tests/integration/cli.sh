#!/bin/bash
# The command line and the configuration file.
. "$(dirname "$0")/../lib.sh"

check "pullgate --help names serve" sh -c "'$PULLGATE' --help | grep -q 'serve'"
check "pullgate serve --help lists every flag" sh -c \
    "'$PULLGATE' serve --help | grep -q -- '--listen' && '$PULLGATE' serve --help | grep -q -- '--upstream' && '$PULLGATE' serve --help | grep -q -- '--cache'"
"$PULLGATE" nonsense > /dev/null 2>&1
check "an unknown command exits 2" test $? = 2

printf 'lisen = "127.0.0.1:1";\n' > "$WORK/typo.conf"
"$PULLGATE" serve -c "$WORK/typo.conf" > "$WORK/out" 2>&1
check "a misspelt key is refused with its line" grep -q "line 1: unknown key 'lisen'" "$WORK/out"
printf 'tag_ttl = "soon";\n' > "$WORK/type.conf"
"$PULLGATE" serve -c "$WORK/type.conf" > "$WORK/out" 2>&1
check "a wrongly typed value is refused" grep -q "'tag_ttl' must be an integer" "$WORK/out"
printf 'upstream = "ftp://x";\n' > "$WORK/url.conf"
"$PULLGATE" serve -c "$WORK/url.conf" > "$WORK/out" 2>&1
check "a non-http upstream is refused" grep -q 'http:// or https://' "$WORK/out"
"$PULLGATE" serve -c "$WORK/missing.conf" > "$WORK/out" 2>&1
check "a missing -c file is an error" grep -q 'cannot read' "$WORK/out"

# The shipped, documented file loads; flags override it.
start_fake good
PORT=$(free_port)
sed "s|^listen = .*|listen = \"127.0.0.1:1\";|; s|^cache_dir = .*|cache_dir = \"$WORK/c-conf\";|" \
    "$TOP/etc/pullgate.conf" > "$WORK/shipped.conf"
"$PULLGATE" serve -c "$WORK/shipped.conf" --listen "127.0.0.1:$PORT" \
    --upstream "http://127.0.0.1:$FAKE_PORT" > "$WORK/conf.log" 2>&1 &
pid=$!
PIDS="$PIDS $pid"
check "etc/pullgate.conf loads and --listen overrides it" wait_http "http://127.0.0.1:$PORT/healthz"
check "the cache directory from the file is used" test -d "$WORK/c-conf/blobs/sha256"
Z=$(printf '0%.0s' $(seq 64))
curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/x/blobs/sha256:$Z"
check "--upstream overrides the file (the request reached it)" \
    grep -q "blobs/sha256:$Z" "$FAKE_LOG"
stop_pid $pid
finish
