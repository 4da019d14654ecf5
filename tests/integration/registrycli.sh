#!/bin/bash
# 'pullgate registry add' in the forms IoT platforms use (ioFog's): a URL
# without a scheme is https, --name is optional (made from the host), the
# password comes on standard input and is stored 0600 in the secrets
# directory, and a GCR-style JSON key of several lines (username
# _json_key) is a password like any other. A running daemon takes the
# entry at once and pulls from an htpasswd docker-registry with it;
# 'registry list --json' says which entry is local, public, or uses a
# certificate; the secret is never printed or logged.
. "$(dirname "$0")/../lib.sh"

$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 50000 > /dev/null
KEYID=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$(printf '{\n "type": "k",\n "id": "%s"\n}' "$KEYID")
htpasswd -Bbn _json_key "$KEY" > "$WORK/htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: basic-realm
    path: $WORK/htpasswd" start_registry keyed
UP=127.0.0.1:$REG_PORT
check "push to the htpasswd registry with the JSON key" skopeo --insecure-policy copy -q \
    --dest-tls-verify=false --dest-creds "_json_key:$KEY" \
    "oci:$WORK/img:v1" "docker://$UP/acme/app:v1"

mkdir -m 0700 "$WORK/etc"
cat > "$WORK/etc/pullgate.conf" <<CONF
registries_file = "$WORK/etc/registries.conf";
control_socket = "$WORK/control.sock";
CONF
start_pullgate main -c "$WORK/etc/pullgate.conf"
reg() { "$PULLGATE" registry "$@"; }

reg add -c "$WORK/etc/pullgate.conf" --url example.org > "$WORK/add1.out" 2>&1
check "add with only a scheme-less URL works" test $? = 0 || cat "$WORK/add1.out"
reg list -c "$WORK/etc/pullgate.conf" --json > "$WORK/list1.json"
j() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
check "... https is assumed and the name is made from the host" \
    test "$(j "$WORK/list1.json" '[(e["name"], e["url"]) for e in d if e["id"]==3][0]')" = "('example.org', 'https://example.org')"
check "list --json says which entry is local, public, uses a certificate" \
    test "$(j "$WORK/list1.json" '[(e["name"], e["local"], e["public"], e["certificate"]) for e in d]')" = \
    "[('remote', False, True, False), ('local', True, False, False), ('example.org', False, False, False)]"

printf '%s\n' "$KEY" | reg add -c "$WORK/etc/pullgate.conf" --url "http://$UP" \
    --username _json_key --password-stdin > "$WORK/add2.out" 2>&1
check "add with a JSON key on standard input works" test $? = 0 || cat "$WORK/add2.out"
check "... and the running daemon took it" grep -q "applied to the running daemon" "$WORK/add2.out"
PWFILE=$(ls "$WORK"/etc/secrets/*.password 2>/dev/null | head -1)
check "the key is stored in the secrets directory, mode 0600" \
    test -n "$PWFILE" -a "$(stat -c %a "$PWFILE" 2>/dev/null)" = 600
check "... whole, lines and all" test "$(cat "$PWFILE")" = "$KEY"
check "the entry pulls with the JSON key, without a restart" \
    pull_image "127.0.0.1:$PG_PORT/4/acme/app:v1" "$WORK/out"
check "... every blob verified" blobs_verified "$WORK/out"
printf 'wrong\n' | reg add -c "$WORK/etc/pullgate.conf" --url "http://$UP" \
    --name wrongkey --username _json_key --password-stdin > /dev/null 2>&1
check "a wrong key does not pull" sh -c \
    "! skopeo --insecure-policy copy -q --src-tls-verify=false docker://127.0.0.1:$PG_PORT/wrongkey/acme/app:v1 oci:$WORK/bad:v1 > /dev/null 2>&1"
reg list -c "$WORK/etc/pullgate.conf" > "$WORK/list2.json"
check "the key never appears in the log or the listing" sh -c \
    "! grep -qF '$KEYID' '$PG_LOG' '$WORK/list2.json'"
printf '' | reg add -c "$WORK/etc/pullgate.conf" --url "http://$UP" --name empty \
    --username u --password-stdin > "$WORK/add3.out" 2>&1
check "an empty standard input is refused" sh -c \
    "grep -q 'nothing on standard input' '$WORK/add3.out' && test ! -e '$WORK/etc/secrets/empty.password'"
finish
