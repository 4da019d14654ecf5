#!/bin/bash
# Namespaces that choose an entry: an entry with namespaces =
# "^[0-9a-f]{32}$" receives containers.local:8080/<account-id>/<app>:<tag>
# with the account ID kept in the upstream name, while other names still
# go to the default entry (Docker Hub's place for mirror clients); an
# entry's name still wins; 'resolve --json' says which rule chose.
. "$(dirname "$0")/../lib.sh"

ACCT=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
start_registry up
UP=127.0.0.1:$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 50000 > /dev/null
push_image "$WORK/img" v1 "$UP/$ACCT/app:v1"
start_fake good		# the default entry: must not be asked for the account
cat > "$WORK/pg.conf" <<CONF
upstream = "http://127.0.0.1:$FAKE_PORT";
registries = (
  { id = 3; name = "iot"; url = "http://$UP"; namespaces = "^[0-9a-f]{32}\$"; }
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
    sh -c "! grep -q '$ACCT' '$FAKE_LOG'"
d0=$(metric 'pullgate_requests_routed_total{by="default"}')
curl -s -o /dev/null "http://$PG/v2/library/alpine/manifests/3"
check "a name no pattern claims goes to the default entry" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" = $((d0 + 1))
curl -s -o /dev/null "http://$PG/v2/abcd/app/manifests/v1"
check "... also one that looks almost like an account ID" \
    test "$(metric 'pullgate_requests_routed_total{by="default"}')" = $((d0 + 2))
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
