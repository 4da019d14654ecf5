#!/bin/bash
# prefill: fetch and pin on purpose, then pull everything offline.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT; UP_PID=$REG_PID
$PY "$TOOLS/mkimage.py" "$WORK/multi" --tag v1 --layers 2 --size 100000 \
    --platforms linux/amd64,linux/arm64/v8,linux/arm/v7 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/single" --tag 1.0 --seed single > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/arm" --tag v1 --layers 2 --size 100000 --seed arm \
    --platforms linux/amd64,linux/arm64/v8,linux/arm/v7 > /dev/null
push_image "$WORK/multi" v1 "$UP/acme/app:v1"
push_image "$WORK/single" 1.0 "$UP/acme/tool:1.0"
push_image "$WORK/arm" v1 "$UP/acme/arm:v1"
DA=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/arm/index.json")
DM=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/multi/index.json")
cat > "$WORK/pg.conf" <<CONF
registries = ( { id = 3; name = "up"; url = "http://$UP"; } );
default_registry = "up";
CONF
start_pullgate pre -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "$PG" --cache "$PG_CACHE" \
    acme/app:v1 acme/nothere:v1 up/acme/tool:1.0 > "$WORK/pre.out" 2>&1
rc=$?
check "prefill: exit 1 when one image failed" test $rc = 1
check "prefill: the failure is reported, naming the image" grep -q "acme/nothere:v1 FAILED: .*404" "$WORK/pre.out"
check "prefill: the others go on and report their digest" grep -q "acme/app:v1 $DM pinned" "$WORK/pre.out"
check "prefill: ...all of them" grep -q "up/acme/tool:1.0 sha256:.* pinned" "$WORK/pre.out"
"$PULLGATE" cache ls -c "$WORK/pg.conf" --cache "$PG_CACHE" > "$WORK/ls.out"
check "prefill: the images are pinned" sh -c "[ \$(grep -c 'complete  pinned' '$WORK/ls.out') = 2 ]"

printf '# staging list\nacme/arm:v1\n\n' > "$WORK/list"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "$PG" --cache "$PG_CACHE" \
    --platform linux/arm64/v8 -f "$WORK/list" > "$WORK/pre2.out" 2>&1
check "prefill -f with --platform" grep -q "acme/arm:v1 $DA pinned" "$WORK/pre2.out"

# On a terminal: progress.
script -qc "'$PULLGATE' prefill -c '$WORK/pg.conf' --listen '$PG' --cache '$PG_CACHE' acme/tool:1.0" \
    /dev/null > "$WORK/tty.out" 2>&1
check "prefill on a terminal shows a bar, percent and bytes done of total" \
    grep -q "acme/tool:1.0 \[[=> ]*\] *[0-9]*%  [0-9.]* [kMG]*B / [0-9.]* [kMG]*B" "$WORK/tty.out"

# The uplink goes: every prefilled image, every platform, pulls.
stop_pid "$UP_PID"
check "offline: the prefilled multi-platform image pulls (all platforms)" \
    sh -c "skopeo --insecure-policy copy -q --all --src-tls-verify=false \
    docker://$PG/acme/app:v1 oci:$WORK/o1:x && [ \$(ls $WORK/o1/blobs/sha256 | wc -l) = \$(ls $WORK/multi/blobs/sha256 | wc -l) ]"
check "offline: the prefilled single image pulls" pull_image "$PG/acme/tool:1.0" "$WORK/o2"
skopeo --insecure-policy copy -q --override-arch arm64 --override-variant v8 --src-tls-verify=false \
    "docker://$PG/acme/arm:v1" "oci:$WORK/o3:x" > /dev/null 2>&1
check "offline: --platform fetched that platform" test $? = 0
skopeo --insecure-policy copy -q --override-arch arm --override-variant v7 --src-tls-verify=false \
    "docker://$PG/acme/arm:v1" "oci:$WORK/o4:x" > /dev/null 2>&1
check "offline: ...and not the others" test $? != 0

# No daemon: prefill starts its own on the cache directory.
stop_pid "$PG_PID"
start_registry up2
push_image "$WORK/single" 1.0 "127.0.0.1:$REG_PORT/acme/tool:1.0"
sed -i "s|http://$UP|http://127.0.0.1:$REG_PORT|" "$WORK/pg.conf"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "127.0.0.1:$(free_port)" \
    --cache "$WORK/staged" acme/tool:1.0 > "$WORK/pre3.out" 2>&1
check "prefill with no daemon running fills the cache directory" \
    sh -c "grep -q 'acme/tool:1.0 sha256:.* pinned' '$WORK/pre3.out' && [ -n \"\$(ls '$WORK/staged/blobs/sha256')\" ]"
check "...and its own daemon is gone" sh -c "! pgrep -f '[s]erve -c $WORK/pg.conf --listen' > /dev/null"

# --- Parallel prefill: bounded by --jobs, with progress a person reads. --
$PY "$TOOLS/mkimage.py" "$WORK/jobs" --tag v1 --layers 6 --size 3000000 --seed jobs > /dev/null
push_image "$WORK/jobs" v1 "127.0.0.1:$REG_PORT/acme/jobs:v1"
NB=$(ls "$WORK/jobs/blobs/sha256" | wc -l)		# config, layers, manifest
start_pullgate jobs2 -c "$WORK/pg.conf"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "127.0.0.1:$PG_PORT" \
    --cache "$PG_CACHE" --jobs 2 acme/jobs:v1 > "$WORK/jobs.out" 2>&1
check "prefill --jobs 2 of a 6-layer image succeeds" \
    grep -q "^acme/jobs:v1 sha256:.* pinned" "$WORK/jobs.out"
most=$(metric pullgate_transfers_in_flight_max)
check "prefill --jobs 2: at most 2 downloads in flight at once, and 2 ($most)" \
    test "$most" = 2
good=0
for f in "$WORK"/jobs/blobs/sha256/*; do
	h=$(basename "$f")
	c=$PG_CACHE/blobs/sha256/${h:0:2}/$h
	[ -f "$c" ] && [ "$(sha256sum < "$c" | cut -d' ' -f1)" = "$h" ] && good=$((good + 1))
done
check "prefill --jobs 2: every blob and manifest is in the cache, verified ($good of $NB)" \
    test "$good" = "$NB"
check "prefill on a pipe: one plain line per blob done ($((NB - 1)) blobs)" \
    test "$(grep -c "^acme/jobs:v1: sha256:[0-9a-f]\{12\} done, [0-9.]* [kM]*B ([0-9]* of [0-9]*)$" "$WORK/jobs.out")" = $((NB - 1))
check "prefill on a pipe: a summary line at the end" \
    grep -q "^acme/jobs:v1: 18.0 MB in [0-9]*:[0-9][0-9] ([0-9.]* [kMG]*B/s)$" "$WORK/jobs.out"
check "prefill on a pipe: no terminal control sequences" \
    sh -c "! grep -q \"\$(printf '\\033')\" '$WORK/jobs.out'"
stop_pid "$PG_PID"
start_pullgate jobs4 -c "$WORK/pg.conf"
script -qc "'$PULLGATE' prefill -c '$WORK/pg.conf' --listen '127.0.0.1:$PG_PORT' --cache '$PG_CACHE' acme/jobs:v1" \
    /dev/null > "$WORK/jobs-tty.out" 2>&1
most=$(metric pullgate_transfers_in_flight_max)
check "prefill (default --jobs 4): more than one download at once, at most 4 ($most)" \
    test "$most" -gt 1 -a "$most" -le 4
check "prefill on a terminal: redrawn in place (cursor up, erase line)" \
    sh -c "grep -q \"\$(printf '\\033')\\[[0-9]*A\" '$WORK/jobs-tty.out' && grep -q \"\$(printf '\\033')\\[2K\" '$WORK/jobs-tty.out'"
check "prefill on a terminal: a line per blob in flight with bar, rate and time left" \
    grep -q "^.*  sha256:[0-9a-f]\{12\} *\[[=> ]*\] *[0-9]*%  .* / .*B/s  [0-9-]*:[0-9-]* left" "$WORK/jobs-tty.out"
check "prefill on a terminal: each blob's end is shown" \
    test "$(grep -c "sha256:[0-9a-f]\{12\} *done" "$WORK/jobs-tty.out")" = $((NB - 1))
"$PULLGATE" prefill -c "$WORK/pg.conf" --jobs 0 acme/jobs:v1 > /dev/null 2>&1
check "prefill --jobs 0 is refused (usage error)" test $? = 2
finish
