#!/bin/bash
# Gateways in tiers: two registries, a parent pullgate in front of them,
# two child pullgates whose one configured entry is the parent (parent =
# true). The child forwards the client's path and ns= unchanged, so the
# parent routes (by entry id, account-ID namespace, ns=, default); each
# tier caches, under names that keep /3/acme/app, /acme/app, ns=ghcr.io
# and ns=docker.io apart. Registries stopped: an empty node is served by
# the parent. Parent stopped: the first node is served from its own cache.
# The cloud credentials (KEY and an access key) stay at the parent.
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

ACCEPT="Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
ACCT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Two upstreams with an acme/app:v1 each, of different content; the first
# takes the cloud's credentials (user KEY and an access key), which only
# the parent holds.
AKEY=ak-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
htpasswd -Bbn KEY "$AKEY" > "$WORK/htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: basic-realm
    path: $WORK/htpasswd" start_registry one
R1=127.0.0.1:$REG_PORT; R1_PID=$REG_PID
start_registry two
R2=127.0.0.1:$REG_PORT; R2_PID=$REG_PID
$PY "$TOOLS/mkimage.py" "$WORK/a" --tag v1 --layers 2 --size 40000 --seed 1 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/b" --tag v1 --layers 2 --size 40000 --seed 2 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/c" --tag v1 --layers 1 --size 30000 --seed 3 > /dev/null
for i in "a acme/app" "c $ACCT/app"; do
	set -- $i
	skopeo --insecure-policy copy -q --all --dest-tls-verify=false \
	    --dest-creds "KEY:$AKEY" "oci:$WORK/$1:v1" "docker://$R1/$2:v1" ||
	    fail "push $2 to registry one"
done
mkdir -m 0700 "$WORK/secrets"
printf '%s\n' "$AKEY" > "$WORK/secrets/one.key"
chmod 0600 "$WORK/secrets/one.key"
push_image "$WORK/b" v1 "$R2/acme/app:v1"

# The parent: its default is R2; entry 3 is R1 (ghcr.io's mirror and the
# account IDs); entry 4 is R2 as docker.io's mirror.
cat > "$WORK/parent.conf" <<CONF
upstream = "http://$R2";
registries = (
  { id = 3; name = "site3"; url = "http://$R1"; mirror_of = [ "ghcr.io" ];
    namespaces = "^[0-9a-f]{32}\$"; auth = "basic"; username = "KEY";
    password_file = "$WORK/secrets/one.key"; },
  { id = 4; name = "hub"; url = "http://$R2"; mirror_of = [ "docker.io" ]; }
);
CONF
start_pullgate parent -c "$WORK/parent.conf"
P=127.0.0.1:$PG_PORT; P_PORT=$PG_PORT; P_PID=$PG_PID
cat > "$WORK/child.conf" <<CONF
registries = (
  { id = 3; name = "site"; url = "http://$P"; parent = true; }
);
CONF
start_pullgate node1 -c "$WORK/child.conf"
N1_PORT=$PG_PORT; N1_CACHE=$PG_CACHE
start_pullgate node2 -c "$WORK/child.conf"
N2_PORT=$PG_PORT; N2_CACHE=$PG_CACHE

at() { PG_PORT=$1; }	# at PORT: metric reads that daemon
# digest PORT PATH: the Docker-Content-Digest of a manifest GET, or "".
digest() {
	curl -s -o /dev/null -D - -H "$ACCEPT" "http://127.0.0.1:$1/v2/$2" |
	    tr -d '\r' | sed -n 's/^Docker-Content-Digest: //Ip'
}
# status PORT PATH: the HTTP status of a manifest GET.
status() {
	curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "http://127.0.0.1:$1/v2/$2"
}
# cached DIR [ENTRY REPO]...: the cache lists each ENTRY's REPO:v1, complete.
cached() {
	d=$1; shift
	"$PULLGATE" cache ls --json --cache "$d" | $PY -c '
import json, sys
have = {(e["registry"], e["repository"]) for e in json.load(sys.stdin)
        if e["tag"] == "v1" and e["complete"]}
want = list(zip(sys.argv[1::2], sys.argv[2::2]))
missing = [w for w in want if w not in have]
print("missing:", missing, file=sys.stderr) if missing else None
sys.exit(1 if missing else 0)
' "$@"
}
blobset() { ls "$1/blobs/sha256" | sort; }
# verified_as LAYOUT ORIGINAL: every blob verified, and the original's set.
verified_as() { blobs_verified "$1" && [ "$(blobset "$1")" = "$(blobset "$2")" ]; }
# same_not LAYOUT THIS NOT-THAT
same_not() { verified_as "$1" "$2" && [ "$(blobset "$1")" != "$(blobset "$3")" ]; }
# asked ENTRY...: each entry made upstream requests (metric's daemon).
asked() {
	for e in "$@"; do
		[ "$(metric "pullgate_upstream_entry_requests_total{entry=\"$e\"}")" -gt 0 ] || return 1
	done
}
# mirrors PORT: ns=ghcr.io is entry 3's image, ns=docker.io registry two's.
mirrors() {
	[ "$(digest "$1" "acme/app/manifests/v1?ns=ghcr.io")" = "$DA" ] &&
	    [ "$(digest "$1" "acme/app/manifests/v1?ns=docker.io")" = "$DB" ]
}
layout_digest() {	# the digest of the image a layout (oci:DIR:v1) holds
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"
}
DA=$(layout_digest "$WORK/a"); DB=$(layout_digest "$WORK/b"); DC=$(layout_digest "$WORK/c")

# Node 1 pulls: the entry-id form, the default form, the account-ID form
# (skopeo), and the two mirror forms (ns=).
N1=127.0.0.1:$N1_PORT
check "node 1 pulls 3/acme/app:v1 through the parent" pull_image "$N1/3/acme/app:v1" "$WORK/n1a"
check "... every blob verified" blobs_verified "$WORK/n1a"
check "... the content of entry 3 of the parent (registry one)" same_blobs "$WORK/n1a" "$WORK/a"
check "node 1 pulls acme/app:v1 (the parent's default)" pull_image "$N1/acme/app:v1" "$WORK/n1b"
check "... registry two's content, not entry 3's: no collision at the child" \
    same_not "$WORK/n1b" "$WORK/b" "$WORK/a"
check "node 1 pulls <account-id>/app:v1 (the parent's namespaces rule)" \
    pull_image "$N1/$ACCT/app:v1" "$WORK/n1c"
check "... every blob verified, registry one's account image" \
    verified_as "$WORK/n1c" "$WORK/c"
check "ns=ghcr.io acme/app:v1 is entry 3's image" \
    test "$(digest "$N1_PORT" "acme/app/manifests/v1?ns=ghcr.io")" = "$DA"
check "ns=docker.io acme/app:v1 is registry two's image" \
    test "$(digest "$N1_PORT" "acme/app/manifests/v1?ns=docker.io")" = "$DB"
# containerd on node 1, ghcr.io mirrored to its pullgate: ns=ghcr.io
# through both tiers to entry 3.
if start_containerd node1; then
	mkdir -p "$WORK/hosts/ghcr.io"
	printf 'server = "https://ghcr.io"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
	    "$N1" > "$WORK/hosts/ghcr.io/hosts.toml"
	ctr_log() { "$@" >> "$WORK/ctr.log" 2>&1; }
	check "ctr pulls ghcr.io/acme/app:v1 as a mirror client of node 1" \
	    ctr_log ctr_ t images pull --hosts-dir "$WORK/hosts" ghcr.io/acme/app:v1
	check "... entry 3's image" sh -c "ctr --address '$CTD_SOCK' -n t images ls |
	    awk '\$1 == \"ghcr.io/acme/app:v1\" { print \$3 }' | grep -qx '$DA'"
	stop_pid "$CTD_PID"
else
	fail "containerd starts"
fi

at "$N1_PORT"
check "node 1 routed every request to its parent" \
    test "$(metric 'pullgate_requests_routed_total{by="parent"}')" -gt 10
check "... and asked nothing of its own entry 1 (Docker Hub)" \
    test "$(metric 'pullgate_upstream_entry_requests_total{entry="remote"}')" = 0
check "... its parent entry asked" \
    test "$(metric 'pullgate_upstream_entry_requests_total{entry="site"}')" -gt 0
at "$P_PORT"
check "the parent routed by entry id" test "$(metric 'pullgate_requests_routed_total{by="name"}')" -gt 0
check "... by account-ID namespace" test "$(metric 'pullgate_requests_routed_total{by="namespace"}')" -gt 0
check "... by ns=" test "$(metric 'pullgate_requests_routed_total{by="ns"}')" -ge 2
check "... by its default" test "$(metric 'pullgate_requests_routed_total{by="default"}')" -gt 0
check "... and each of its entries asked its upstream" asked site3 hub remote
check "the parent's cache holds each entry's image" cached "$WORK/cache-parent" \
    site3 acme/app remote acme/app site3 "$ACCT/app" hub acme/app
check "node 1's cache holds them under names of their own" cached "$N1_CACHE" \
    site 3/acme/app site acme/app site "$ACCT/app" site ns__ghcr.io/acme/app \
    site ns__docker.io/acme/app
"$PULLGATE" resolve -c "$WORK/child.conf" --listen "$N1" --json 3/acme/app:v1 > "$WORK/r.json"
check "resolve at a node: the parent rule, and entry 3's image" sh -c \
    "grep -q '\"rule\": \"parent\"' '$WORK/r.json' && grep -q '\"digest\": \"$DA\"' '$WORK/r.json'"
check "registry list says the parent is the node's default" sh -c \
    "'$PULLGATE' registry list -c '$WORK/child.conf' | $PY -c 'import json,sys; l=json.load(sys.stdin); sys.exit(0 if [e[\"name\"] for e in l if e[\"default\"]] == [\"site\"] and any(e.get(\"parent\") for e in l) else 1)'"
check "a path spelt like a child's ns= name is refused at the child" \
    test "$(status "$N1_PORT" "ns__ghcr.io/acme/app/manifests/v1")" = 400
check "an ns= no entry of the parent serves: the parent's 403 at the child" \
    test "$(status "$N1_PORT" "acme/app/manifests/v1?ns=quay.io")" = 403

# The registries stop: node 2, with an empty cache, is served by the parent.
stop_pid "$R1_PID"; stop_pid "$R2_PID"
N2=127.0.0.1:$N2_PORT
pmiss=$(status "$P_PORT" "3/acme/none/manifests/v1")
check "registries down: an image never pulled gets the same answer at both tiers" \
    test "$(status "$N2_PORT" "3/acme/none/manifests/v1")" = "$pmiss"
at "$N2_PORT"
check "... and the parent's 5xx opens no breaker at the child" \
    test "$(metric 'pullgate_breaker_openings_total{entry="site"}')" = 0
check "node 2 pulls 3/acme/app:v1 from the parent's cache" pull_image "$N2/3/acme/app:v1" "$WORK/n2a"
check "... every blob verified, entry 3's image" verified_as "$WORK/n2a" "$WORK/a"
check "node 2 pulls acme/app:v1 (default) from the parent" pull_image "$N2/acme/app:v1" "$WORK/n2b"
check "... every blob verified, registry two's image" verified_as "$WORK/n2b" "$WORK/b"
check "node 2 pulls the account-ID image from the parent" pull_image "$N2/$ACCT/app:v1" "$WORK/n2c"
check "node 2: ns=ghcr.io and ns=docker.io from the parent, each its own image" \
    mirrors "$N2_PORT"

# The parent stops: node 1 answers from its own cache.
stop_pid "$P_PID"
at "$N1_PORT"
c0=$(( $(metric 'pullgate_answers_total{source="cache"}') + $(metric 'pullgate_answers_total{source="stale"}') ))
check "parent down: node 1 pulls 3/acme/app:v1 from its cache" pull_image "$N1/3/acme/app:v1" "$WORK/o1a"
check "... every blob verified" blobs_verified "$WORK/o1a"
check "node 1 pulls acme/app:v1 from its cache" pull_image "$N1/acme/app:v1" "$WORK/o1b"
check "... still registry two's image" verified_as "$WORK/o1b" "$WORK/b"
check "node 1 pulls the account-ID image from its cache" pull_image "$N1/$ACCT/app:v1" "$WORK/o1c"
check "node 1: ns=ghcr.io and ns=docker.io from its cache, each its own image" \
    mirrors "$N1_PORT"
check "... answered from the cache (counted)" \
    test $(( $(metric 'pullgate_answers_total{source="cache"}') + $(metric 'pullgate_answers_total{source="stale"}') )) -ge $((c0 + 5))
s=$(status "$N1_PORT" "3/acme/none/manifests/v1")
check "parent down: an image never pulled is 5xx at node 1, as at the parent with its registry down" \
    test "$s" -ge 500 -a "$pmiss" -ge 500

check "the cloud's access key reaches no node: not in its cache, not in its log" \
    sh -c "! grep -rqF '$AKEY' '$N1_CACHE' '$N2_CACHE' '$WORK/pullgate-node1.log' '$WORK/pullgate-node2.log'"

printf 'registries = ( { id = 3; name = "p"; url = "http://a"; parent = true; namespaces = "x"; } );\n' > "$WORK/bad.conf"
"$PULLGATE" serve -c "$WORK/bad.conf" --listen "127.0.0.1:$(free_port)" --cache "$WORK/c3" > "$WORK/bad.out" 2>&1
check "a parent with namespaces is refused at start, with the reason" grep -q "a parent is another pullgate" "$WORK/bad.out"
printf 'registries = ( { id = 3; name = "p"; url = "http://a"; parent = true; },\n { id = 4; name = "q"; url = "http://b"; parent = true; } );\n' > "$WORK/bad2.conf"
"$PULLGATE" serve -c "$WORK/bad2.conf" --listen "127.0.0.1:$(free_port)" --cache "$WORK/c4" > "$WORK/bad2.out" 2>&1
check "two parents are refused at start" grep -q "only one entry can be the parent" "$WORK/bad2.out"
finish
