#!/bin/bash
# pullgate status over the control socket: only the daemon's user can open
# it (mode 0600; another user is refused), the TCP listener does not answer
# it; it reports version, listen address, the budget, each entry's breaker,
# last success and last error, and a download in flight with its progress;
# a second daemon on the same cache leaves the first one's socket alone.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 100000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
start_fake good --chunk 65536 --delay 0.05
SLOW=$(fake_blob 4194304)		# about 3 s upstream

chmod 0711 "$WORK"
mkdir -m 0755 "$WORK/pub"
SOCK=$WORK/pub/control.sock
cat > "$WORK/pg.conf" <<CONF
control_socket = "$SOCK";
cache_max_bytes = 1073741824;
breaker_seconds = 30;
tag_ttl = 0;
registries = (
  { id = 3; name = "acme"; url = "http://$UP"; },
  { id = 4; name = "slow"; url = "http://127.0.0.1:$FAKE_PORT"; }
);
CONF
start_pullgate main -c "$WORK/pg.conf"
status() { "$PULLGATE" status -c "$WORK/pg.conf" --cache "$PG_CACHE" "$@"; }

check "the control socket is the daemon user's alone (0600)" \
    test "$(stat -c %a:%U "$SOCK")" = "600:$(id -un)"
check "another user cannot ask for the status" sh -c \
    "! runuser -u nobody -- '$PULLGATE' status -c '$WORK/pg.conf' > '$WORK/nobody.out' 2>&1"
check "... and is told why" grep -q "may not open it" "$WORK/nobody.out"
check "the TCP listener does not answer /status" sh -c \
    "test \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PG_PORT/status) = 404"

status > "$WORK/s0.txt"
check "pullgate status answers" grep -q "^pullgate .*listening on 127.0.0.1:$PG_PORT" "$WORK/s0.txt"
check "... listing the registries" grep -q "registry 3 .*acme" "$WORK/s0.txt"
status --json > "$WORK/s0.json"
j() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "--json: version and pid" test "$(j "$WORK/s0.json" 'd["pid"]')" = "$PG_PID"
check "--json: the budget" test "$(j "$WORK/s0.json" 'd["cache"]["max_bytes"]')" = 1073741824
check "--json: no success recorded before any pull" \
    test "$(j "$WORK/s0.json" '[e for e in d["registries"] if e["name"]=="acme"][0]["last_success"]')" = None

pull_image "127.0.0.1:$PG_PORT/3/acme/app:v1" "$WORK/out1"
status --json > "$WORK/s1.json"
check "after a pull, the entry's last success is set and its breaker closed" \
    test "$(j "$WORK/s1.json" '[(e["breaker"], e["last_success"] is not None) for e in d["registries"] if e["name"]=="acme"][0]')" = "('closed', True)"
check "... and the cache counts bytes" test "$(j "$WORK/s1.json" 'd["cache"]["bytes"] > 200000')" = True

curl -s -o "$WORK/slow.out" "http://127.0.0.1:$PG_PORT/v2/4/x/blobs/$SLOW" &
cpid=$!
sleep 1
status --json > "$WORK/s2.json"
check "a download in flight is listed with its length" \
    test "$(j "$WORK/s2.json" '[t["length"] for t in d["transfers"]]')" = "[4194304]"
check "... and its progress" \
    test "$(j "$WORK/s2.json" '0 < d["transfers"][0]["received"] < 4194304')" = True
status > "$WORK/s2.txt"
check "... also in the summary" grep -q "^downloads in flight: 1" "$WORK/s2.txt"
wait $cpid

stop_pid "$REG_PID"
pull_image "127.0.0.1:$PG_PORT/3/acme/app:v1" "$WORK/out2"
status --json > "$WORK/s3.json"
check "with the upstream stopped the entry's breaker is open" \
    test "$(j "$WORK/s3.json" '[e["breaker"] for e in d["registries"] if e["name"]=="acme"][0]')" = open
check "... with its last error" \
    test "$(j "$WORK/s3.json" '[e["last_error"] is not None for e in d["registries"] if e["name"]=="acme"][0]')" = True

kill -HUP "$PG_PID"
sleep 0.5
check "SIGHUP does not stop the daemon" sh -c \
    "kill -0 $PG_PID && curl -sf http://127.0.0.1:$PG_PORT/healthz > /dev/null"
check "... it reloads the configuration" \
    test "$(metric pullgate_reloads_total)" = 1

# A second daemon on the same cache must not take the first one's socket.
P2=$(free_port)
"$PULLGATE" serve -c "$WORK/pg.conf" --listen "127.0.0.1:$P2" --cache "$PG_CACHE" \
    > "$WORK/pullgate-second.log" 2>&1 &
P2_PID=$!; PIDS="$PIDS $P2_PID"; PG_PIDS="$PG_PIDS $P2_PID"
wait_http "http://127.0.0.1:$P2/healthz"
check "a second daemon on the cache leaves the socket to the first" \
    test "$(status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" = "$PG_PID"
stop_pid "$P2_PID"
check "... and does not remove it when it stops" test -S "$SOCK"
stop_pid "$PG_PID"
check "the socket is removed when the daemon stops" test ! -e "$SOCK"
check "with no daemon, status says so and exits 1" sh -c \
    "! '$PULLGATE' status -c '$WORK/pg.conf' > /dev/null 2>&1"
finish
