#!/bin/bash
# OCI artifacts and signatures (issue 12, item 6), online and offline.
#
# Upstream "edge" is Debian's docker-registry 2.8, which has no referrers
# API (it answers 404): a signature and an SBOM whose subject is an image
# are attached the OCI 1.1 tag-schema way (tag sha256-<hex> holding an
# index of them), and a Helm chart is pushed beside. Upstream "native" is
# tests/tools/fakeupstream.py --referrers, a mock: no registry here has the
# referrers API. Through pullgate: the listing, its artifactType filter,
# the referrers and the chart by digest; then with each upstream stopped,
# the same bytes from the cache.
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
SBOM=application/spdx+json
SIG=application/vnd.dev.cosign.artifact.sig.v1+json

start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 20000 > /dev/null
check "push the image with skopeo" push_image "$WORK/img" v1 "$UP/acme/app:v1"
$PY "$TOOLS/mkartifacts.py" --layout "$WORK/img" --out "$WORK/art" \
    --push "$UP" --repo acme/app --helm-repo acme/charts > "$WORK/sum.json"
check "push a signature, an SBOM (tag-schema referrers) and a Helm chart" \
    test -s "$WORK/sum.json"
j() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/sum.json" "$1"; }
SUBJ=$(j subject); SIGD=$(j sig); SBOMD=$(j sbom); IDX=$(j index); HELM=$(j helm)
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$UP/v2/acme/app/referrers/$SUBJ")
check "docker-registry 2.8 has no referrers API (it answers $code)" test "$code" = 404

# The native upstream (a mock) serves the same artifacts and the listing.
mkdir -p "$WORK/fakeblobs/referrers/acme/app"
cp "$WORK/art/"* "$WORK/fakeblobs/"
cp "$WORK/img/blobs/sha256/"* "$WORK/fakeblobs/"
cp "$WORK/art/${IDX#sha256:}" "$WORK/fakeblobs/referrers/acme/app/${SUBJ#sha256:}"
BOGUS=sha256:$(printf bogus | sha256sum | cut -d' ' -f1)
echo '{"manifests": "none"}' > "$WORK/fakeblobs/referrers/acme/app/${BOGUS#sha256:}"
start_fake good --referrers
NATIVE_LOG=$FAKE_LOG NATIVE_PORT=$FAKE_PORT NATIVE_PID=$FAKE_PID
# A listing of 6 descriptors of 1.5 MB each: larger than manifest_max_bytes.
HUGE=sha256:$(printf huge | sha256sum | cut -d' ' -f1)
$PY -c 'import json,sys
d = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
     "digest": sys.argv[2], "size": 1, "annotations": {"x": "y" * 1500000}}
json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [d] * 6}, open(sys.argv[1], "w"))' \
    "$WORK/fakeblobs/referrers/acme/app/${HUGE#sha256:}" "$BOGUS"
start_fake good --referrers --referrers-page 1	# the same, one a page
PAGED_LOG=$FAKE_LOG

cat > "$WORK/pg.conf" <<CONF
default_registry = "edge";
registries = (
  { id = 3; name = "edge"; url = "http://$UP"; tag_ttl = 0; },
  { id = 4; name = "native"; url = "http://127.0.0.1:$NATIVE_PORT"; tag_ttl = 0; },
  { id = 5; name = "paged"; url = "http://127.0.0.1:$FAKE_PORT"; tag_ttl = 0; }
);
CONF
start_pullgate ref -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

# get NAME URL-PATH [CURL ARGS]: GET through pullgate; sets CODE, TYPE.
get() {
	n=$1; p=$2; shift 2
	curl -s -o "$WORK/$n.body" -D "$WORK/$n.h" "$@" "http://$PG$p"
	CODE=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$WORK/$n.h")
	TYPE=$(tr -d '\r' < "$WORK/$n.h" | sed -n 's/^Content-Type: //Ip')
}
hdr() { tr -d '\r' < "$WORK/$1.h" | sed -n "s/^$2: //Ip"; }
# listed NAME: the digests a listing names, sorted, on one line.
listed() {
	$PY -c 'import json,sys; print(" ".join(sorted(m["digest"] for m in json.load(open(sys.argv[1]))["manifests"])))' "$WORK/$1.body"
}
sha() { echo "sha256:$(sha256sum < "$1" | cut -d' ' -f1)"; }
BOTH=$(printf '%s\n' "$SIGD" "$SBOMD" | sort | tr '\n' ' ' | sed 's/ $//')

check "pull the image through pullgate" pull_image "$PG/acme/app:v1" "$WORK/pulled"

# 1. Tag-schema fallback (docker-registry): online.
get on "/v2/acme/app/referrers/$SUBJ"
check "referrers (tag schema): 200 $OCI_INDEX ($CODE $TYPE)" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$OCI_INDEX' ]"
check "referrers (tag schema): lists the signature and the SBOM" \
    test "$(listed on)" = "$BOTH"
check "referrers (tag schema): the index of tag sha256-<hex>, verbatim" \
    cmp -s "$WORK/on.body" "$WORK/art/${IDX#sha256:}"
check "referrers (tag schema): counted" test "$(metric 'pullgate_referrers_total{source="tag_schema"}')" -ge 1
get onf "/v2/acme/app/referrers/$SUBJ?artifactType=$SBOM"
check "artifactType filter (a literal +): only the SBOM, OCI-Filters-Applied: artifactType" \
    sh -c "[ '$CODE' = 200 ] && [ '$(listed onf)' = '$SBOMD' ] && [ '$(hdr onf OCI-Filters-Applied)' = artifactType ]"
get onn "/v2/acme/app/referrers/$SUBJ?artifactType=application/x-none"
check "artifactType matching nothing: an empty index" \
    sh -c "[ '$CODE' = 200 ] && [ -z '$(listed onn)' ]"
curl -s -I "http://$PG/v2/acme/app/referrers/$SUBJ" | tr -d '\r' > "$WORK/head.h"
check "HEAD referrers: 200 with the listing's Content-Length" \
    sh -c "grep -q '^HTTP/1.1 200' '$WORK/head.h' && grep -qi '^Content-Length: $(fsize "$WORK/on.body")\$' '$WORK/head.h'"
get none "/v2/acme/app/referrers/$SIGD"
check "nothing refers to the digest: 200, an empty OCI index" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$OCI_INDEX' ] && [ -z '$(listed none)' ]"
get bad "/v2/acme/app/referrers/sha256:1234"
check "an invalid digest: 400 DIGEST_INVALID" \
    sh -c "[ '$CODE' = 400 ] && grep -q DIGEST_INVALID '$WORK/bad.body'"
get badn "/v2/acme/App/referrers/$SUBJ"
check "an invalid name: 400 NAME_INVALID" \
    sh -c "[ '$CODE' = 400 ] && grep -q NAME_INVALID '$WORK/badn.body'"

# fetch_artifact TAG MANIFEST-DIGEST [REPO]: the manifest by digest and its
# config and layers, each verified against its digest.
fetch_artifact() {
	get "$1" "/v2/${3:-acme/app}/manifests/$2" -H "Accept: $OCI_MANIFEST"
	[ "$CODE" = 200 ] && [ "$(sha "$WORK/$1.body")" = "$2" ] &&
	    [ "$(hdr "$1" Docker-Content-Digest)" = "$2" ] &&
	    [ "$TYPE" = "$OCI_MANIFEST" ] || return 1
	for d in $($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join([m["config"]["digest"]] + [l["digest"] for l in m["layers"]]))' "$WORK/$1.body"); do
		curl -sf -o "$WORK/$1.blob" "http://$PG/v2/${3:-acme/app}/blobs/$d" &&
		    [ "$(sha "$WORK/$1.blob")" = "$d" ] || return 1
	done
}
check "the signature manifest and its blobs by digest (online)" fetch_artifact sig "$SIGD"
check "the SBOM manifest and its blobs by digest (online)" fetch_artifact sbom "$SBOMD"
check "the Helm chart by tag, verified (online)" \
    sh -c "curl -sf -H 'Accept: $OCI_MANIFEST' -o '$WORK/helm.body' 'http://$PG/v2/acme/charts/manifests/0.1.0' &&
    [ \"\$(sha256sum < '$WORK/helm.body' | cut -d' ' -f1)\" = '${HELM#sha256:}' ]"
check "the Helm chart's config and chart layer, verified (online)" fetch_artifact helm "$HELM" acme/charts

# 2. The referrers API upstream (mock): forwarded and cached.
get nat "/v2/native/acme/app/referrers/$SUBJ"
check "referrers (API upstream): 200, the upstream's listing verbatim" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$OCI_INDEX' ] && cmp -s '$WORK/nat.body' '$WORK/art/${IDX#sha256:}'"
check "referrers (API upstream): asked the API, not the tag" \
    sh -c "grep -q '^GET /v2/acme/app/referrers/$SUBJ' '$NATIVE_LOG' && ! grep -q 'manifests/sha256-' '$NATIVE_LOG'"
check "referrers (API upstream): counted" test "$(metric 'pullgate_referrers_total{source="api"}')" -ge 1
get natf "/v2/native/acme/app/referrers/$SUBJ?artifactType=$(echo "$SIG" | sed "s,/,%2F,g; s,+,%2B,g")"
check "referrers (API upstream): artifactType filter (percent-encoded)" \
    sh -c "[ '$CODE' = 200 ] && [ '$(listed natf)' = '$SIGD' ] && [ '$(hdr natf OCI-Filters-Applied)' = artifactType ]"
check "the signature by digest through the API upstream" fetch_artifact nsig "$SIGD" native/acme/app
get bog "/v2/native/acme/app/referrers/$BOGUS"
check "an upstream listing that is no index: 502, not cached" \
    sh -c "[ '$CODE' = 502 ] && grep -q MANIFEST_INVALID '$WORK/bog.body' && [ ! -e '$PG_CACHE/referrers/native/acme/app/_tags/sha256-${BOGUS#sha256:}' ]"
get pag "/v2/paged/acme/app/referrers/$SUBJ"
check "referrers (API upstream, one a page): both pages followed and merged" \
    sh -c "[ '$CODE' = 200 ] && [ '$(listed pag)' = '$BOTH' ] &&
    grep -q 'referrers/$SUBJ?page=1' '$PAGED_LOG'"

get huge "/v2/paged/acme/app/referrers/$HUGE"
pages=$(grep -c "^GET /v2/acme/app/referrers/$HUGE" "$PAGED_LOG")
check "a paginated listing past manifest_max_bytes: 502 ($CODE), refused once the pages so far pass it ($pages of 6 asked)" \
    sh -c "[ '$CODE' = 502 ] && [ $pages -le 3 ]"

# 3. A second gateway staged with prefill (its own daemon): the image
# brings its referrers, and gc, which keeps what tags reference, keeps them.
C2=$WORK/cache-staged
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "127.0.0.1:$(free_port)" \
    --cache "$C2" acme/app:v1 > "$WORK/pre.out" 2>&1
check "prefill: the image and its 2 referrers" grep -q "acme/app:v1 $SUBJ pinned, .* 2 referrer(s)" "$WORK/pre.out"
"$PULLGATE" prefill -c "$WORK/pg.conf" --listen "127.0.0.1:$(free_port)" \
    --cache "$WORK/cache-bare" --no-referrers acme/app:v1 > "$WORK/pre2.out" 2>&1
check "prefill --no-referrers: none" sh -c "grep -q '0 referrer(s)' '$WORK/pre2.out' &&
    [ ! -e '$WORK/cache-bare/blobs/sha256/$(echo ${SIGD#sha256:} | cut -c1-2)/${SIGD#sha256:}' ]"
"$PULLGATE" cache gc --grace 0 -c "$WORK/pg.conf" --cache "$C2" > "$WORK/gc.out" 2>&1
check "gc keeps the listing and the referrers of a tagged image" sh -c "
    for d in ${IDX#sha256:} ${SIGD#sha256:} ${SBOMD#sha256:}; do
        [ -e '$C2/blobs/sha256/'\$(echo \$d | cut -c1-2)/\$d ] || exit 1; done"

# 4. Both upstreams stopped: the same answers from the cache.
stop_pid "$REG_PID"
stop_pid "$NATIVE_PID"
stop_pid "$FAKE_PID"
before=$(metric 'pullgate_referrers_total{source="cache"}')
get off "/v2/acme/app/referrers/$SUBJ"
check "offline (tag schema): 200, byte for byte the online listing" \
    sh -c "[ '$CODE' = 200 ] && [ '$TYPE' = '$OCI_INDEX' ] && cmp -s '$WORK/off.body' '$WORK/on.body'"
get offf "/v2/acme/app/referrers/$SUBJ?artifactType=$SBOM"
check "offline (tag schema): the filtered listing equals the online one" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/offf.body' '$WORK/onf.body' && [ '$(hdr offf OCI-Filters-Applied)' = artifactType ]"
get offn "/v2/acme/app/referrers/$SIGD"
check "offline: nothing refers, as online (an empty index)" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/offn.body' '$WORK/none.body'"
get offloc "/v2/local/acme/app/referrers/$SUBJ"
check "the local entry: the listing another entry cached" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/offloc.body' '$WORK/on.body'"
get offnat "/v2/native/acme/app/referrers/$SUBJ"
check "offline (API upstream): byte for byte the online listing" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/offnat.body' '$WORK/nat.body'"
get offpag "/v2/paged/acme/app/referrers/$SUBJ"
check "offline (paginated API upstream): the merged listing, byte for byte" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/offpag.body' '$WORK/pag.body'"
check "offline listings counted as from the cache" \
    test "$(metric 'pullgate_referrers_total{source="cache"}')" -ge $((before + 6))
check "offline: the signature and its blobs by digest" fetch_artifact osig "$SIGD"
check "offline: the SBOM and its blobs by digest" fetch_artifact osbom "$SBOMD"
check "offline: the Helm chart by tag, the same bytes" \
    sh -c "curl -sf -H 'Accept: $OCI_MANIFEST' -o '$WORK/ohelm.body' 'http://$PG/v2/acme/charts/manifests/0.1.0' && cmp -s '$WORK/ohelm.body' '$WORK/helm.body'"
check "offline: the Helm chart's blobs, verified" fetch_artifact ohelm "$HELM" acme/charts
check "offline: the image itself" pull_image "$PG/acme/app:v1" "$WORK/pulled-off"
"$PULLGATE" export -c "$WORK/pg.conf" --cache "$PG_CACHE" acme/charts:0.1.0 \
    -o "$WORK/chart.tar" > "$WORK/export.out" 2>&1
check "export of the Helm chart holds its manifest, config and chart layer" \
    sh -c "tar -tf '$WORK/chart.tar' > '$WORK/chart.list' &&
    for d in \$($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m[\"config\"][\"digest\"][7:], m[\"layers\"][0][\"digest\"][7:])' '$WORK/helm.body') ${HELM#sha256:}; do
        grep -q \"blobs/sha256/\$d\" '$WORK/chart.list' || exit 1; done"
get offcold "/v2/acme/app/referrers/sha256:$(printf x | sha256sum | cut -d' ' -f1)"
check "offline, never listed: an error, not an invented empty listing ($CODE)" \
    sh -c "[ '$CODE' -ge 500 ]"

# The staged gateway, with the upstreams gone.
PG_CACHE_FIXED=$C2 start_pullgate staged -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
get st "/v2/acme/app/referrers/$SUBJ"
check "staged gateway, offline: the listing, byte for byte" \
    sh -c "[ '$CODE' = 200 ] && cmp -s '$WORK/st.body' '$WORK/on.body'"
check "staged gateway, offline: the signature and its blobs" fetch_artifact stsig "$SIGD"
check "staged gateway, offline: the SBOM and its blobs" fetch_artifact stsbom "$SBOMD"

finish
