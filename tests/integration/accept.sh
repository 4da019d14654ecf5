#!/bin/bash
# A client's Accept never changes what a tag means (issue 10, item 4): a
# Docker manifest list in a real docker-registry, asked for first by a
# client that takes only Docker schema2, then by one that takes
# everything, then through local and offline: the tag stays the list.
. "$(dirname "$0")/../lib.sh"

S2=application/vnd.docker.distribution.manifest.v2+json
LIST=application/vnd.docker.distribution.manifest.list.v2+json
ALL="$LIST, $S2, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/multi" --tag v1 --layers 2 --size 20000 \
    --platforms linux/arm64/v8,linux/amd64 > /dev/null
skopeo --insecure-policy copy -q --all --format v2s2 --dest-tls-verify=false \
    "oci:$WORK/multi:v1" "docker://$UP/acme/app:v1" > "$WORK/push.log" 2>&1 ||
    cat "$WORK/push.log"
# What the registry itself answers each kind of client.
digest_of() {	# digest_of URL ACCEPT
	curl -s -o /dev/null -D - -H "Accept: $2" "$1" |
	    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}
LIST_D=$(digest_of "http://$UP/v2/acme/app/manifests/v1" "$ALL")
AMD64_D=$(digest_of "http://$UP/v2/acme/app/manifests/v1" "$S2")
check "the registry holds a manifest list and picks a child for schema2-only clients" \
    sh -c "[ -n '$LIST_D' ] && [ -n '$AMD64_D' ] && [ '$LIST_D' != '$AMD64_D' ]"

cat > "$WORK/pg.conf" <<CONF
default_registry = "edge";
registries = ( { id = 3; name = "edge"; url = "http://$UP"; tag_ttl = 3; } );
CONF
start_pullgate acc -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

# ask NAME ACCEPT [REPO]: GET through pullgate; sets CODE, TYPE, DIGEST.
ask() {
	curl -s -o "$WORK/$1.body" -D "$WORK/$1.h" -H "Accept: $2" \
	    "http://$PG/v2/${3:-acme/app}/manifests/v1"
	CODE=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$WORK/$1.h")
	TYPE=$(tr -d '\r' < "$WORK/$1.h" | sed -n 's/^Content-Type: //p')
	DIGEST=$(tr -d '\r' < "$WORK/$1.h" | sed -n 's/^Docker-Content-Digest: //p')
}
body_ok() {	# the body hashes to the digest announced
	[ "sha256:$(sha256sum < "$WORK/$1.body" | cut -d' ' -f1)" = "$DIGEST" ]
}

ask s2first "$S2"
check "schema2-only client first: the linux/amd64 schema2 manifest ($CODE $TYPE)" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$S2' ] && [ '$DIGEST' = '$AMD64_D' ]"
check "schema2-only client: the body is that manifest" body_ok s2first
ask full "$ALL"
check "a full client next gets the list, not the child ($TYPE)" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$LIST' ] && [ '$DIGEST' = '$LIST_D' ]"
check "full client: the body is the list" body_ok full
code=$(curl -s -o /dev/null -w '%{http_code}' -I -H "Accept: $S2" \
    "http://$PG/v2/acme/app/manifests/v1")
check "HEAD by a schema2-only client answers too ($code)" test "$code" = 200

# The tag goes stale; a schema2-only client revalidates it.
sleep 4
ask s2again "$S2"
check "after revalidation by a schema2-only client: still its child" \
    sh -c "[ '$CODE' = 200 ] && [ '$DIGEST' = '$AMD64_D' ]"
ask full2 "$ALL"
check "... and the tag still means the list" \
    sh -c "[ '$CODE' = 200 ] && [ '$DIGEST' = '$LIST_D' ]"
check "the list pulls whole with skopeo (every platform)" \
    pull_image "$PG/acme/app:v1" "$WORK/out"
check "... its blobs verified" blobs_verified "$WORK/out"

ask local "$ALL" local/acme/app
check "local: the tag is the list" \
    sh -c "[ '$CODE' = 200 ] && [ '$DIGEST' = '$LIST_D' ]"
ask locals2 "$S2" local/acme/app
check "local: a schema2-only client gets the child from the cache" \
    sh -c "[ '$CODE' = 200 ] && [ '$DIGEST' = '$AMD64_D' ]"

# Offline, with the registry gone: the same answers from the cache.
stop_pid "$PG_PID"
stop_pid "$REG_PID"
cat > "$WORK/pg-off.conf" <<CONF
default_registry = "edge";
offline = true;
registries = ( { id = 3; name = "edge"; url = "http://$UP"; tag_ttl = 3; } );
CONF
PG_CACHE_FIXED=$PG_CACHE start_pullgate acc-off -c "$WORK/pg-off.conf"
PG=127.0.0.1:$PG_PORT
ask s2off "$S2"
check "offline: a schema2-only client first still gets its child" \
    sh -c "[ '$CODE' = 200 ] && [ '$DIGEST' = '$AMD64_D' ]"
ask fulloff "$ALL"
check "offline: the tag still means the list" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$LIST' ] && [ '$DIGEST' = '$LIST_D' ]"
ask ocionly "application/vnd.oci.image.manifest.v1+json"
check "offline: a client taking neither the list nor its child's type: 404 MANIFEST_UNKNOWN" \
    sh -c "[ '$CODE' = 404 ] && grep -q MANIFEST_UNKNOWN '$WORK/ocionly.body'"

finish
