#!/bin/bash
# Pull-through with real parts: docker-registry upstream, skopeo client.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/multi" --tag v1 --layers 3 --size 200000 \
    --platforms linux/amd64,linux/arm64/v8,linux/arm/v7 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/single" --tag 1.0 --layers 4 --size 50000 \
    --seed other > /dev/null
check "push multi-platform index with skopeo" push_image "$WORK/multi" v1 "$UP/acme/app:v1"
check "push single-platform image with skopeo" push_image "$WORK/single" 1.0 "$UP/acme/tool:1.0"
for t in 1.1 2.0 2.1 3.0; do
	push_image "$WORK/single" 1.0 "$UP/acme/tool:$t"
done

start_pullgate main --upstream "http://$UP"
PG=127.0.0.1:$PG_PORT

check "pull multi-platform index through pullgate" pull_image "$PG/acme/app:v1" "$WORK/out-multi"
check "every pulled blob matches its digest (multi)" blobs_verified "$WORK/out-multi"
check "pulled blobs are exactly the pushed ones (multi)" same_blobs "$WORK/multi" "$WORK/out-multi"
check "pull single-platform image through pullgate" pull_image "$PG/acme/tool:1.0" "$WORK/out-single"
check "every pulled blob matches its digest (single)" blobs_verified "$WORK/out-single"
check "pulled blobs are exactly the pushed ones (single)" same_blobs "$WORK/single" "$WORK/out-single"

# Headers on the wire.
INDEX_DIGEST=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/multi/index.json")
curl -s -D "$WORK/h1" -o "$WORK/b1" -H "Accept: application/vnd.oci.image.index.v1+json" \
    "http://$PG/v2/acme/app/manifests/v1"
check "manifest by tag: Docker-Content-Digest" grep -qi "^Docker-Content-Digest: $INDEX_DIGEST" "$WORK/h1"
check "manifest by tag: Content-Type is the OCI index" grep -qi "^Content-Type: application/vnd.oci.image.index.v1+json" "$WORK/h1"
check "manifest by tag: API version header" grep -qi "^Docker-Distribution-API-Version: registry/2.0" "$WORK/h1"
check "manifest body hashes to its digest" test "sha256:$(sha256sum < "$WORK/b1" | cut -d' ' -f1)" = "$INDEX_DIGEST"
curl -s -I "http://$PG/v2/acme/app/manifests/$INDEX_DIGEST" > "$WORK/h2"
check "HEAD manifest by digest: 200 with Content-Length" grep -qi "^Content-Length: $(stat -c %s "$WORK/b1")" "$WORK/h2"

# A blob pulled before, and its Range variants.
BLOB=$(ls -S "$WORK/multi/blobs/sha256" | head -1)
BLOBF=$WORK/multi/blobs/sha256/$BLOB
SIZE=$(stat -c %s "$BLOBF")
code=$(curl -s -o "$WORK/r1" -D "$WORK/rh1" -w '%{http_code}' -H "Range: bytes=100-1099" \
    "http://$PG/v2/acme/app/blobs/sha256:$BLOB")
check "Range: 206" test "$code" = 206
check "Range: Content-Range" grep -qi "^Content-Range: bytes 100-1099/$SIZE" "$WORK/rh1"
check "Range: the right bytes" cmp -s "$WORK/r1" <(tail -c +101 "$BLOBF" | head -c 1000)
code=$(curl -s -o "$WORK/r2" -w '%{http_code}' -H "Range: bytes=-10" "http://$PG/v2/acme/app/blobs/sha256:$BLOB")
tail -c 10 "$BLOBF" > "$WORK/r2want"
check "Range suffix: 206" test "$code" = 206
check "Range suffix: the last 10 bytes" cmp -s "$WORK/r2" "$WORK/r2want"
code=$(curl -s -o /dev/null -D "$WORK/rh3" -w '%{http_code}' -H "Range: bytes=$SIZE-" "http://$PG/v2/acme/app/blobs/sha256:$BLOB")
check "Range past the end: 416" test "$code" = 416
check "Range past the end: Content-Range bytes */size" grep -qi "^Content-Range: bytes \*/$SIZE" "$WORK/rh3"
curl -s -I "http://$PG/v2/acme/app/blobs/sha256:$BLOB" > "$WORK/bh"
check "HEAD blob: Content-Length and digest" sh -c "grep -qi '^Content-Length: $SIZE' $WORK/bh && grep -qi '^Docker-Content-Digest: sha256:$BLOB' $WORK/bh"

# tags/list with n and last.
curl -s "http://$PG/v2/acme/tool/tags/list?n=2" > "$WORK/tags1"
check "tags/list n=2" grep -q '"tags":\["1.0","1.1"\]' "$WORK/tags1"
curl -s "http://$PG/v2/acme/tool/tags/list?n=2&last=1.1" > "$WORK/tags2"
check "tags/list n=2 last=1.1" grep -q '"tags":\["2.0","2.1"\]' "$WORK/tags2"

# A client that takes only Docker schema2 never gets the cached OCI index.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
    "http://$PG/v2/acme/app/manifests/v1")
check "a schema2-only client is not served the cached OCI index (upstream says $code)" test "$code" = 404

# A HEAD that fails carries no body: the next answer on the same
# keep-alive connection must come through intact.
out=$(curl -s -I "http://$PG/v2/acme/nothere/manifests/v1" -o /dev/null --next -s "http://$PG/v2/")
check "HEAD errors carry no body (keep-alive stays in sync)" test "$out" = "{}"
curl -s -I "http://$PG/v2/acme/nothere/manifests/v1" > "$WORK/h404"
check "HEAD error: 404 with the Content-Length of the body it omits" \
    sh -c "grep -q '^HTTP/1.1 404' '$WORK/h404' && grep -qi '^Content-Length: [1-9]' '$WORK/h404'"

# Push and delete are refused.
code=$(curl -s -o "$WORK/e1" -w '%{http_code}' -X POST "http://$PG/v2/acme/app/blobs/uploads/")
check "push: 405 UNSUPPORTED" sh -c "[ $code = 405 ] && grep -q UNSUPPORTED $WORK/e1"
code=$(curl -s -o "$WORK/e2" -w '%{http_code}' -X DELETE "http://$PG/v2/acme/app/manifests/$INDEX_DIGEST")
check "delete: 405 UNSUPPORTED" sh -c "[ $code = 405 ] && grep -q UNSUPPORTED $WORK/e2"

# Unknown things are clean OCI errors.
code=$(curl -s -o "$WORK/e3" -w '%{http_code}' "http://$PG/v2/acme/nothere/manifests/v1")
check "unknown manifest: 404 MANIFEST_UNKNOWN" sh -c "[ $code = 404 ] && grep -q MANIFEST_UNKNOWN $WORK/e3"
code=$(curl -s -o "$WORK/e4" -w '%{http_code}' "http://$PG/v2/acme/app/blobs/sha256:$(printf '0%.0s' $(seq 64))")
check "unknown blob: 404 BLOB_UNKNOWN" sh -c "[ $code = 404 ] && grep -q BLOB_UNKNOWN $WORK/e4"

# Offline: the upstream stops; what was pulled by digest still pulls.
stop_pid "$REG_PID"
check "upstream stopped: pull by digest still succeeds" pull_image "$PG/acme/app@$INDEX_DIGEST" "$WORK/off"
check "offline pull: blobs verified" blobs_verified "$WORK/off"
check "offline pull: same blobs" same_blobs "$WORK/multi" "$WORK/off"

# The tag index survives a restart.
stop_pid "$PG_PID"
PG_PORT_FIXED=$PG_PORT PG_CACHE_FIXED=$PG_CACHE start_pullgate main --upstream "http://$UP"
check "after restart, offline: pull by tag from the cache" pull_image "$PG/acme/app:v1" "$WORK/off2"
check "after restart, offline: same blobs" same_blobs "$WORK/multi" "$WORK/off2"
code=$(curl -s -D "$WORK/h3" -o /dev/null -w '%{http_code}' "http://$PG/v2/acme/app/manifests/v1")
check "after restart, offline: the tag answers 200 ($code) with its digest, from the cache" \
    sh -c "[ '$code' = 200 ] && grep -qi '^Docker-Content-Digest: $INDEX_DIGEST' '$WORK/h3' && grep -qi '^X-Pullgate-Source: cache' '$WORK/h3'"
check "daemon log has no sanitizer report" sanitizer_clean "$PG_LOG"
finish
