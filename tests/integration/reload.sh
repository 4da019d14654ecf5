#!/bin/bash
# Live reload: 'pullgate registry add' puts a new entry in force in the
# running daemon (same process) and a pull through it works; a download in
# flight across a reload finishes whole and its configuration is freed
# after; a configuration that does not load is refused whole with the
# reason and the old one keeps serving; a changed client limit waits for
# a restart and says so (a --listen or --cache flag stays in force);
# 'registry rm' takes the entry away; SIGHUP reloads.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 100000 > /dev/null
push_image "$WORK/img" v1 "$UP/acme/app:v1"
start_fake good --chunk 65536 --delay 0.05
SLOW=$(fake_blob 4194304)		# about 3 s upstream

cat > "$WORK/pg.conf" <<CONF
control_socket = "$WORK/control.sock";
registries_file = "$WORK/registries.conf";
registries = ( { id = 4; name = "slow"; url = "http://127.0.0.1:$FAKE_PORT"; } );
CONF
cp "$WORK/pg.conf" "$WORK/pg.conf.good"
start_pullgate main -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
pg() { "$PULLGATE" "$@"; }

pg registry add -c "$WORK/pg.conf" --name acme --url "http://$UP" > "$WORK/add.out" 2>&1
check "registry add succeeds" test $? = 0 || cat "$WORK/add.out"
check "... and says the running daemon took it" grep -q "applied to the running daemon" "$WORK/add.out"
check "the new entry serves a pull, without a restart" pull_image "$PG/3/acme/app:v1" "$WORK/out1"
check "... from the same daemon process" kill -0 "$PG_PID"
check "one reload counted" test "$(metric pullgate_reloads_total)" = 1
check "nothing in flight kept the old configuration" test "$(metric pullgate_configs_retired)" = 0

# A download in flight across a reload.
curl -s -o "$WORK/slow.out" "http://$PG/v2/4/x/blobs/$SLOW" &
cpid=$!
sleep 1
pg reload -c "$WORK/pg.conf" > "$WORK/r1.out" 2>&1
check "pullgate reload succeeds during a download" test $? = 0 || cat "$WORK/r1.out"
check "... which keeps the configuration it started with alive" \
    test "$(metric pullgate_configs_retired)" = 1
wait $cpid
check "the download in flight finished whole" \
    test "sha256:$(sha256sum < "$WORK/slow.out" | cut -d' ' -f1)" = "$SLOW"
wait_metric pullgate_configs_retired 0 15
check "... and the old configuration was freed after it" \
    test "$(metric pullgate_configs_retired)" = 0

# A configuration that does not load: refused whole, the old one serves.
printf 'tag_ttl = ;\n' >> "$WORK/pg.conf"
pg reload -c "$WORK/pg.conf.good" > "$WORK/r2.out" 2>&1
check "a broken configuration is refused" test $? = 1
check "... with the reason" grep -q "refused.*pg.conf:4: syntax error" "$WORK/r2.out"
check "... counted" test "$(metric pullgate_reloads_refused_total)" = 1
check "the configuration in force still serves" pull_image "$PG/3/acme/app:v1" "$WORK/out2"
printf 'registries = ( { id = 5; name = "bad"; url = "ftp://x"; } );\n' \
    > "$WORK/registries-bad.conf"
cp "$WORK/pg.conf.good" "$WORK/pg.conf"
cp "$WORK/registries.conf" "$WORK/registries.good"
cp "$WORK/registries-bad.conf" "$WORK/registries.conf"
kill -HUP "$PG_PID"
sleep 0.5
check "SIGHUP with a bad registries file: refused, the daemon lives" sh -c \
    "kill -0 $PG_PID && test \$(curl -s -o /dev/null -w '%{http_code}' http://$PG/healthz) = 200"
check "... counted" test "$(metric pullgate_reloads_refused_total)" = 2
check "... and the entry in force still serves" pull_image "$PG/3/acme/app:v1" "$WORK/out3"
cp "$WORK/registries.good" "$WORK/registries.conf"

# What waits for a restart is said.
{ cat "$WORK/pg.conf.good"; printf 'client: { timeout = 30; };\n'; } > "$WORK/pg.conf"
pg reload -c "$WORK/pg.conf" > "$WORK/r3.out" 2>&1
check "a changed client limit is taken with a note that it waits" sh -c \
    "grep -q '^reloaded' '$WORK/r3.out' && grep -q 'note: client.timeout changed' '$WORK/r3.out'"
check "... and the daemon still listens where it did" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "http://$PG/healthz")" = 200
cp "$WORK/pg.conf.good" "$WORK/pg.conf"

pg registry rm -c "$WORK/pg.conf" acme > "$WORK/rm.out" 2>&1
check "registry rm is applied to the running daemon" grep -q "applied to the running daemon" "$WORK/rm.out"
check "... the entry is gone from it" sh -c \
    "! '$PULLGATE' status -c '$WORK/pg.conf' --json | grep -q '\"acme\"'"
before=$(metric pullgate_reloads_total)
kill -HUP "$PG_PID"
sleep 0.5
check "SIGHUP reloads" test "$(metric pullgate_reloads_total)" = $((before + 1))
printf 'cache_dir = "%s";\n' "$WORK/nowhere" > "$WORK/none.conf"
"$PULLGATE" reload -c "$WORK/none.conf" > "$WORK/r4.out" 2>&1
check "a reload with no daemon fails and says so" sh -c \
    "test $? = 1 && grep -q 'no daemon answers' '$WORK/r4.out'"
finish
