#!/bin/bash
# import / export with no network: skopeo's OCI archives and layouts, a
# docker save archive, export -> import on another cache -> offline pull,
# corrupt, truncated and hostile archives refused whole.
. "$(dirname "$0")/../lib.sh"

$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --platforms linux/amd64,linux/arm64 > /dev/null
D=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/img/index.json")
skopeo --insecure-policy copy -q --all "oci:$WORK/img:v1" "oci-archive:$WORK/app.tar:acme/app:v1"
$PY "$TOOLS/mkdockersave.py" "$WORK/saved.tar" acme/saved:1.0
C1=$WORK/cache1
snap() { find "$1" -type f | sort | xargs -r sha256sum | md5sum; }

"$PULLGATE" import --cache "$C1" "$WORK/app.tar" > "$WORK/i1.out" 2>&1
check "import: an OCI archive skopeo wrote" grep -q "remote/acme/app:v1 $D imported, pinned" "$WORK/i1.out"
"$PULLGATE" import --cache "$C1" --as acme/dir:v1 "$WORK/img" > "$WORK/i2.out" 2>&1
check "import: an OCI layout directory, named with --as" grep -q "remote/acme/dir:v1 $D imported" "$WORK/i2.out"
"$PULLGATE" import --cache "$C1" "$WORK/saved.tar" > "$WORK/i3.out" 2>&1
check "import: a docker save archive" grep -q "remote/acme/saved:1.0 sha256:.* imported" "$WORK/i3.out"
"$PULLGATE" import --cache "$C1" "$WORK/img" > "$WORK/i4.out" 2>&1
check "import: a layout whose ref name is a bare tag asks for --as" grep -q "give --as" "$WORK/i4.out"

# No upstream at all: the daemon serves what was imported.
start_pullgate imp --cache "$C1" --upstream http://127.0.0.1:9
PG=127.0.0.1:$PG_PORT
check "pull by tag of the imported OCI image" pull_image "$PG/acme/app:v1" "$WORK/p1"
check "...same blobs" same_blobs "$WORK/img" "$WORK/p1"
check "pull by digest of the imported OCI image" pull_image "$PG/acme/dir@$D" "$WORK/p2"
check "pull by tag of the imported docker save image" pull_image "$PG/acme/saved:1.0" "$WORK/p3"
check "...its blobs verify" blobs_verified "$WORK/p3"

# export -> import on an empty cache -> offline pull.
"$PULLGATE" export --cache "$C1" -o "$WORK/out.tar" acme/app:v1 acme/saved:1.0 > "$WORK/e.out" 2>&1
check "export: two images to one archive" grep -q "export: 2 image(s)" "$WORK/e.out"
check "export: skopeo reads it" skopeo --insecure-policy copy -q --all \
    "oci-archive:$WORK/out.tar:acme/app:v1" "oci:$WORK/sk:x"
C2=$WORK/cache2
"$PULLGATE" import --cache "$C2" "$WORK/out.tar" > "$WORK/i5.out" 2>&1
check "export -> import into an empty cache" sh -c "[ \$(grep -c imported '$WORK/i5.out') = 2 ]"
NBLOBS=$(tar -tf "$WORK/out.tar" | grep -c '^blobs/sha256/')
check "export on a pipe: a plain line per blob written, then a summary" \
    sh -c "[ \$(grep -c '^export $WORK/out.tar: sha256:[0-9a-f]\{12\} done, .* of $NBLOBS)\$' '$WORK/e.out') = $NBLOBS ] &&
    grep -q '^export $WORK/out.tar: [0-9.]* [kMG]*B in [0-9]*:[0-9][0-9] (.*B/s)\$' '$WORK/e.out'"
check "import on a pipe: a plain line per blob read, then a summary" \
    sh -c "[ \$(grep -c '^import $WORK/out.tar: sha256:[0-9a-f]\{12\} done, ' '$WORK/i5.out') = $NBLOBS ] &&
    grep -q '^import $WORK/out.tar: [0-9.]* [kMG]*B in [0-9]*:[0-9][0-9] (.*B/s)\$' '$WORK/i5.out'"
script -qc "'$PULLGATE' import --cache '$WORK/cache-tty' '$WORK/out.tar'" /dev/null > "$WORK/i-tty.out" 2>&1
check "import on a terminal: redrawn in place with a bar and percent" \
    sh -c "grep -q \"\$(printf '\\033')\\[[0-9]*A\" '$WORK/i-tty.out' && grep -q 'import $WORK/out.tar \[[=> ]*\] 100%' '$WORK/i-tty.out'"
stop_pid "$PG_PID"
start_pullgate imp2 --cache "$C2" --upstream http://127.0.0.1:9
PG=127.0.0.1:$PG_PORT
check "offline pull from the second cache (all platforms)" pull_image "$PG/acme/app:v1" "$WORK/p4"
check "...same blobs as the original" same_blobs "$WORK/img" "$WORK/p4"
check "offline pull of the docker save image from the second cache" pull_image "$PG/acme/saved:1.0" "$WORK/p5"
stop_pid "$PG_PID"

# Bad archives are refused whole; the cache does not change.
C3=$WORK/cache3
"$PULLGATE" import --cache "$C3" "$WORK/saved.tar" > /dev/null 2>&1
before=$(snap "$C3")
cp "$WORK/app.tar" "$WORK/corrupt.tar"
$PY "$TOOLS/tarmangle.py" flip "$WORK/corrupt.tar" blobs/sha256/
"$PULLGATE" import --cache "$C3" "$WORK/corrupt.tar" > "$WORK/bad1.out" 2>&1
check "a corrupt archive (one flipped byte) is refused" sh -c "[ $? = 1 ] && grep -q 'refused, the cache is unchanged' '$WORK/bad1.out'"
check "...and the cache is as it was" test "$(snap "$C3")" = "$before"
head -c $(( $(stat -c %s "$WORK/app.tar") / 2 )) "$WORK/app.tar" > "$WORK/trunc.tar"
"$PULLGATE" import --cache "$C3" "$WORK/trunc.tar" > "$WORK/bad2.out" 2>&1
check "a truncated archive is refused" grep -q "truncated" "$WORK/bad2.out"
check "...and the cache is as it was" test "$(snap "$C3")" = "$before"
cp "$WORK/saved.tar" "$WORK/savedbad.tar"
$PY "$TOOLS/tarmangle.py" flip "$WORK/savedbad.tar" layer.tar
"$PULLGATE" import --cache "$C3" "$WORK/savedbad.tar" > "$WORK/bad3.out" 2>&1
check "a docker save archive with a damaged layer is refused" grep -q "diff_id" "$WORK/bad3.out"
# import unpacks into the staging directory $C3/tmp/import.XXXXXX, so an
# entry ../../../pullgate-evil, if followed, lands in $WORK/pullgate-evil.
$PY "$TOOLS/tarmangle.py" evil "$WORK/evil.tar" ../../../pullgate-evil
"$PULLGATE" import --cache "$C3" "$WORK/evil.tar" > "$WORK/bad4.out" 2>&1
check "an archive with a ../ entry is refused" grep -q "refused the entry name" "$WORK/bad4.out"
check "...and nothing was written outside" \
    sh -c "test ! -e '$WORK/pullgate-evil' && test -z \"\$(find '$WORK' -name pullgate-evil)\""
check "...and the cache is as it was" test "$(snap "$C3")" = "$before"
check "no staging directory is left behind" test -z "$(ls "$C3/tmp")"
finish
