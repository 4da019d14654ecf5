#!/bin/bash
# Namespaces that choose an entry: an entry with namespaces =
# "^[0-9a-f]{32}$" receives containers.local:8080/<account-id>/<app>:<tag>
# with the account ID kept in the upstream name, while other names still
# go to the default entry (Docker Hub's place for mirror clients); an
# entry's name still wins; 'resolve --json' says which rule chose. The
# IoT platform's entry authenticates as user KEY with an access key (an
# htpasswd docker-registry); skopeo and containerd's ctr pull the account
# form while a Docker Hub-named image on the same daemon goes to the
# default entry.
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

ACCT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
AKEY=ak-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
htpasswd -Bbn KEY "$AKEY" > "$WORK/htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: basic-realm
    path: $WORK/htpasswd" start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 50000 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/tool" --tag v2 --layers 1 --size 30000 --seed 5 > /dev/null
for i in "img:v1 app:v1" "tool:v2 tool:v2"; do
	set -- $i
	skopeo --insecure-policy copy -q --all --dest-tls-verify=false \
	    --dest-creds "KEY:$AKEY" "oci:$WORK/$1" "docker://$UP/$ACCT/$2" ||
	    fail "push $2 to the KEY registry"
done
# The default entry: a registry with a Docker Hub-named image, which must
# not be asked for the account.
start_registry hub
HUB=127.0.0.1:$REG_PORT; HUB_LOG=$REG_LOG
$PY "$TOOLS/mkimage.py" "$WORK/alpine" --tag 3.20 --layers 1 --size 20000 --seed 7 > /dev/null
push_image "$WORK/alpine" 3.20 "$HUB/library/alpine:3.20"
REG_LOG=$WORK/registry-up/registry.log
mkdir -m 0700 "$WORK/secrets"
printf '%s\n' "$AKEY" > "$WORK/secrets/iot.key"
chmod 0600 "$WORK/secrets/iot.key"
cat > "$WORK/pg.conf" <<CONF
upstream = "http://$HUB";
registries = (
  { id = 3; name = "iot"; url = "http://$UP"; namespaces = "^[0-9a-f]{32}\$";
    auth = "basic"; username = "KEY"; password_file = "$WORK/secrets/iot.key"; }
);
CONF
start_pullgate main -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
ns0=$(metric 'pullgate_requests_routed_total{by="namespace"}')
check "an account-ID path pulls from the entry that claims it" \
    pull_image "$PG/$ACCT/app:v1" "$WORK/out"
check "... every blob verified" blobs_verified "$WORK/out"
check "... the account ID kept in the upstream name" \
    grep -q "GET /v2/$ACCT/app/manifests/v1" "$REG_LOG"
check "... counted as routed by namespace" \
    test "$(metric 'pullgate_requests_routed_total{by="namespace"}')" -gt "$ns0"
check "... and nothing of it asked of the default entry" \
    sh -c "! grep -q '$ACCT' '$HUB_LOG'"
d0=$(metric 'pullgate_requests_routed_total{by="default"}')
check "a Docker Hub-named image on the same daemon pulls from the default entry" \
    pull_image "$PG/library/alpine:3.20" "$WORK/alpine-out"
check "... every blob verified, the default registry's image" sh -c \
    "[ \"\$(ls '$WORK/alpine-out/blobs/sha256' | sort)\" = \"\$(ls '$WORK/alpine/blobs/sha256' | sort)\" ]"
check "... counted as routed by default" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" -gt "$d0"
check "... and never asked of the account's registry" \
    sh -c "! grep -q 'alpine' '$REG_LOG'"
d0=$(metric 'pullgate_requests_routed_total{by="default"}')
curl -s -o /dev/null "http://$PG/v2/abcd/app/manifests/v1"
check "a name that looks almost like an account ID goes to the default" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" = $((d0 + 1))

# containerd's ctr, on a containerd of the test's own: the account form
# (through KEY and the access key) and the Docker Hub name, side by side.
if start_containerd ns; then
	ctr_log() { "$@" >> "$WORK/ctr.log" 2>&1; }
	digest_of() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"; }
	# has REF DIGEST: containerd's image REF is that digest.
	has() { ctr_ t images ls | awk -v r="$1" '$1 == r { print $3 }' | grep -qx "$2"; }
	check "ctr pulls <account-id>/tool:v2 (never pulled before) through the KEY entry" \
	    ctr_log ctr_ t images pull --plain-http --all-platforms "$PG/$ACCT/tool:v2"
	check "... the image the account's registry holds" has "$PG/$ACCT/tool:v2" "$(digest_of "$WORK/tool")"
	check "... fetched from it with KEY's access key (200 from the htpasswd registry)" \
	    grep -q "GET /v2/$ACCT/tool/manifests/v2 HTTP/1.1\" 200" "$REG_LOG"
	check "ctr pulls <account-id>/app:v1 too" \
	    ctr_log ctr_ t images pull --plain-http --all-platforms "$PG/$ACCT/app:v1"
	check "... the same image skopeo got" has "$PG/$ACCT/app:v1" "$(digest_of "$WORK/img")"
	check "ctr pulls library/alpine:3.20 from the default entry" \
	    ctr_log ctr_ t images pull --plain-http --all-platforms "$PG/library/alpine:3.20"
	check "... the default registry's image" has "$PG/library/alpine:3.20" "$(digest_of "$WORK/alpine")"
else
	fail "containerd starts"
fi
check "the access key is in no log of the daemon" sh -c "! grep -q '$AKEY' '$WORK'/pullgate-*.log"
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" --json "$ACCT/app:v1" > "$WORK/r1.json"
check "resolve names the entry and the namespace rule" sh -c \
    "grep -q '\"registry\": \"iot\"' '$WORK/r1.json' && grep -q '\"rule\": \"namespace\"' '$WORK/r1.json'"
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" --json "iot/$ACCT/app:v1" > "$WORK/r2.json"
check "an entry's name is still the first rule" sh -c \
    "grep -q '\"rule\": \"name\"' '$WORK/r2.json' && grep -q '\"digest\": \"sha256:' '$WORK/r2.json'"
printf 'registries = ( { id = 3; name = "x"; url = "http://a"; namespaces = "(["; } );\n' > "$WORK/bad.conf"
"$PULLGATE" serve -c "$WORK/bad.conf" --listen "127.0.0.1:$(free_port)" --cache "$WORK/c2" > "$WORK/bad.out" 2>&1
check "an invalid pattern is refused at start, with the key named" \
    grep -q "namespaces is not a valid" "$WORK/bad.out"
finish
