#!/bin/bash
# Upstream authentication against real registries: mTLS (clientcas),
# htpasswd basic auth, the token flow (with a test token server), a static
# bearer key; secrets never leak; bad secrets and certificates are refused.
. "$(dirname "$0")/../lib.sh"

PKI=$WORK/pki
sh "$TOP/certs/mkpki.sh" "$PKI"
mkdir -p "$WORK/secrets" "$WORK/skopeo-certs"
chmod 700 "$WORK/secrets"
cp "$PKI/ca.pem" "$WORK/skopeo-certs/ca.crt"
cp "$PKI/device.pem" "$WORK/skopeo-certs/client.cert"
cp "$PKI/device.key" "$WORK/skopeo-certs/client.key"
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 30000 > /dev/null

secret() {	# secret NAME VALUE: a 0600 file holding VALUE
	printf '%s\n' "$2" > "$WORK/secrets/$1"
	chmod 600 "$WORK/secrets/$1"
}
BASIC_PW="basic-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BEARER_KEY="key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
READER_PW="reader-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
secret basic.pw "$BASIC_PW"
secret wrong.pw "not-the-password"
secret bearer.key "$BEARER_KEY"
secret wrongbearer.key "not-the-key"
secret reader.pw "$READER_PW"

# --- Upstreams. ----------------------------------------------------------
REG_HTTP_EXTRA="  tls:
    certificate: $PKI/server.pem
    key: $PKI/server.key
    clientcas:
      - $PKI/ca.pem"
REG_SCHEME=https REG_WAIT_OPTS="--cert $PKI/device.pem --key $PKI/device.key" \
    start_registry mtls
TLS_PORT=$REG_PORT; TLS_LOG=$REG_LOG
unset REG_HTTP_EXTRA
check "push to the mTLS registry with the device certificate" \
    skopeo --insecure-policy copy -q --dest-cert-dir "$WORK/skopeo-certs" \
    "oci:$WORK/img:v1" "docker://127.0.0.1:$TLS_PORT/acme/app:v1"

htpasswd -Bbn gw "$BASIC_PW" > "$WORK/htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: basic-realm
    path: $WORK/htpasswd" start_registry basic
HT_PORT=$REG_PORT
check "push to the htpasswd registry" skopeo --insecure-policy copy -q \
    --dest-tls-verify=false --dest-creds "gw:$BASIC_PW" \
    "oci:$WORK/img:v1" "docker://127.0.0.1:$HT_PORT/acme/app:v1"

TS_PORT=$(free_port)
TS_LOG=$WORK/tokens.log
: > "$TS_LOG"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/token.key" \
    -out "$WORK/token.pem" -days 2 -subj "/CN=token signer" 2>/dev/null
$PY "$TOOLS/tokenserver.py" --port "$TS_PORT" --key "$WORK/token.key" \
    --cert "$WORK/token.pem" --log "$TS_LOG" --ttl 4 \
    --user "admin:adminpw" --user "reader:$READER_PW" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$TS_PORT/token"
REG_AUTH="auth:
  token:
    realm: http://127.0.0.1:$TS_PORT/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $WORK/token.pem" start_registry token
TOK_PORT=$REG_PORT; TOK_LOG=$REG_LOG
for t in v1 v2 v3; do
	skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds admin:adminpw \
	    "oci:$WORK/img:v1" "docker://127.0.0.1:$TOK_PORT/public/app:$t" || fail "push public/app:$t"
done
check "push to the token registry" skopeo --insecure-policy copy -q \
    --dest-tls-verify=false --dest-creds admin:adminpw \
    "oci:$WORK/img:v1" "docker://127.0.0.1:$TOK_PORT/private/app:v1"

# An https registry whose 401 names a plain-http token realm.
REG_HTTP_EXTRA="  tls:
    certificate: $PKI/server.pem
    key: $PKI/server.key"
REG_SCHEME=https REG_AUTH="auth:
  token:
    realm: http://127.0.0.1:$TS_PORT/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $WORK/token.pem" start_registry tlstoken
TLSTOK_PORT=$REG_PORT
unset REG_HTTP_EXTRA

BLOB=$(fake_blob 100000)
start_fake good --bearer "$BEARER_KEY"
KEY_PORT=$FAKE_PORT; KEY_LOG=$FAKE_LOG

# --- pullgate, with every entry. -----------------------------------------
cat > "$WORK/pg.conf" <<CONF
device: { cert = "$PKI/device.pem"; key = "$PKI/device.key"; };
registries_file = "$WORK/registries.conf";
registries = (
  { id = 3; name = "iot"; url = "https://127.0.0.1:$TLS_PORT"; auth = "mtls";
    ca = "$PKI/ca.pem"; },
  { id = 4; name = "basic"; url = "http://127.0.0.1:$HT_PORT"; auth = "basic";
    username = "gw"; password_file = "$WORK/secrets/basic.pw"; },
  { id = 5; name = "basicbad"; url = "http://127.0.0.1:$HT_PORT"; auth = "basic";
    username = "gw"; password_file = "$WORK/secrets/wrong.pw"; },
  { id = 6; name = "tok"; url = "http://127.0.0.1:$TOK_PORT"; auth = "token";
    token_hosts = [ "127.0.0.1:$TS_PORT" ]; },
  { id = 7; name = "tokpriv"; url = "http://127.0.0.1:$TOK_PORT";
    auth = [ "basic", "token" ]; username = "reader";
    password_file = "$WORK/secrets/reader.pw"; token_hosts = [ "127.0.0.1:$TS_PORT" ]; },
  { id = 8; name = "tokuntrusted"; url = "http://127.0.0.1:$TOK_PORT"; auth = "token"; },
  { id = 9; name = "key"; url = "http://127.0.0.1:$KEY_PORT"; auth = "bearer";
    bearer_file = "$WORK/secrets/bearer.key"; },
  { id = 10; name = "keybad"; url = "http://127.0.0.1:$KEY_PORT"; auth = "bearer";
    bearer_file = "$WORK/secrets/wrongbearer.key"; },
  { id = 11; name = "iotnocert"; url = "https://127.0.0.1:$TLS_PORT"; ca = "$PKI/ca.pem"; },
  { id = 12; name = "tokdown"; url = "https://127.0.0.1:$TLSTOK_PORT"; ca = "$PKI/ca.pem";
    auth = [ "basic", "token" ]; username = "reader";
    password_file = "$WORK/secrets/reader.pw"; token_hosts = [ "127.0.0.1:$TS_PORT" ]; }
);
CONF
start_pullgate auth -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
SEEN=$WORK/client-saw
: > "$SEEN"

# pull_ok NAME REF / pull_fails NAME REF PATTERN: skopeo through pullgate.
PULLS=0
pull_ok() {
	PULLS=$((PULLS + 1))
	if pull_image "$PG/$2" "$WORK/out-$PULLS" 2>> "$SEEN" && blobs_verified "$WORK/out-$PULLS"; then
		ok "$1"
	else
		fail "$1"
	fi
}
# get NAME PATH EXPECT_STATUS PATTERN: curl through pullgate; body and
# headers are kept for the secrets check.
get() {
	st=$(curl -s -D "$WORK/h" -o "$WORK/b" -w '%{http_code}' "http://$PG$2")
	cat "$WORK/h" "$WORK/b" >> "$SEEN"
	if [ "$st" = "$3" ] && grep -q -- "$4" "$WORK/b"; then
		ok "$1 ($st)"
	else
		fail "$1 (got $st: $(head -c 300 "$WORK/b"))"
	fi
}

pull_ok "mtls: pull with the device certificate" iot/acme/app:v1
get "mtls: an entry without the certificate is refused by the upstream" \
    /v2/iotnocert/acme/app/manifests/v1 502 "registry 'iotnocert'"
pull_ok "basic: pull with the right password" basic/acme/app:v1
get "basic: the wrong password is UNAUTHORIZED, naming the entry" \
    /v2/basicbad/acme/app/manifests/v1 401 "UNAUTHORIZED.*registry 'basicbad'"

n0=$(grep -c '^TOKEN' "$TS_LOG")
pull_ok "token: anonymous pull of a public repository" tok/public/app:v1
n1=$(grep -c '^TOKEN' "$TS_LOG")
check "token: one token fetched for the first pull ($((n1 - n0)))" test $((n1 - n0)) = 1
pull_ok "token: a second tag within the token's life" tok/public/app:v2
n2=$(grep -c '^TOKEN' "$TS_LOG")
check "token: reused until it expires (no new token request)" test "$n2" = "$n1"
sleep 5
pull_ok "token: a pull after the token expired" tok/public/app:v3
n3=$(grep -c '^TOKEN' "$TS_LOG")
check "token: refreshed after expiry (one new request)" test $((n3 - n2)) = 1
get "token: anonymous access to a private repository is UNAUTHORIZED" \
    /v2/tok/private/app/manifests/v1 401 "registry 'tok'"
pull_ok "token: credentialed scope with the entry's username and password" tokpriv/private/app:v1
check "token: the credentialed token request carried the user" grep -q '^TOKEN reader ' "$TS_LOG"
get "token: a realm on a host the entry does not trust is refused" \
    /v2/tokuntrusted/public/app/manifests/v1 401 "does not trust"
st=$(curl -s -o /dev/null -w '%{http_code}' "http://$PG/v2/tokdown/downgrade/app/manifests/v1")
check "token: an https entry's password never goes to a plain-http realm ($st)" \
    sh -c "[ '$st' != 200 ] && ! grep -q '^TOKEN reader repository:downgrade/app' '$TS_LOG'"

get "bearer: the key is sent" /v2/key/x/blobs/$BLOB 200 ""
check "bearer: the upstream saw Authorization: Bearer" grep -q "AUTH Bearer $BEARER_KEY" "$KEY_LOG"
get "bearer: a wrong key is UNAUTHORIZED" /v2/keybad/y/blobs/$(fake_blob 1000) 401 "registry 'keybad'"
OWN=$(fake_blob 2000)
code=$(curl -s -o "$WORK/own" -w '%{http_code}' -H "Authorization: Bearer client-own-key" \
    "http://$PG/v2/key/x/blobs/$OWN")
check "a client with its own Authorization header gets the blob ($code)" \
    sh -c "[ '$code' = 200 ] && [ sha256:\$(sha256sum < '$WORK/own' | cut -d' ' -f1) = '$OWN' ]"
check "...the upstream was asked with the entry's key" \
    grep -q "^GET /v2/x/blobs/$OWN AUTH Bearer $BEARER_KEY\$" "$KEY_LOG"
check "...and the client's own Authorization header is not passed on" \
    sh -c "! grep -q client-own-key '$KEY_LOG'"

# Redirects never carry credentials to another host.
start_fake good --host 127.0.0.2
CDN_PORT=$FAKE_PORT; CDN_LOG=$FAKE_LOG
start_fake good --bearer "$BEARER_KEY" --redirect "http://127.0.0.2:$CDN_PORT"
stop_pid "$PG_PID"
sed -i "s|127.0.0.1:$KEY_PORT|127.0.0.1:$FAKE_PORT|" "$WORK/pg.conf"
PG_PORT_FIXED=$PG_PORT start_pullgate auth -c "$WORK/pg.conf"
RB=$(fake_blob 50000)
get "redirect: a blob redirected to another host arrives" /v2/key/x/blobs/$RB 200 ""
check "redirect: the other host was asked" grep -q "GET /v2/x/blobs/$RB" "$CDN_LOG"
check "redirect: the other host saw no Authorization header" sh -c "! grep -q AUTH '$CDN_LOG'"

# Certificates: another CA, expired, none.
stop_pid "$PG_PID"
sed "s|device.pem|other.pem|; s|device.key|other.key|" "$WORK/pg.conf" > "$WORK/pg-other.conf"
PG_CACHE_FIXED=$WORK/cache-other PG_PORT_FIXED=$PG_PORT start_pullgate other -c "$WORK/pg-other.conf"
get "mtls: a certificate from another CA fails with the entry named" \
    /v2/iot/acme/app/manifests/v1 502 "registry 'iot'"
stop_pid "$PG_PID"
sed -e "s|^device: .*|device: { cert = \"$PKI/expired.pem\"; key = \"$PKI/expired.key\"; expiry_warning_days = 60; };|" \
    "$WORK/pg.conf" > "$WORK/pg-exp.conf"
PG_CACHE_FIXED=$WORK/cache-exp PG_PORT_FIXED=$PG_PORT start_pullgate exp -c "$WORK/pg-exp.conf"
n=$(grep -c "GET /v2/" "$TLS_LOG")
get "mtls: an expired certificate is refused before dialing" \
    /v2/iot/acme/app/manifests/v1 401 "UNAUTHORIZED.*expired on 2021-01-01"
check "mtls: the upstream saw no request with the expired certificate" \
    test "$(grep -c "GET /v2/" "$TLS_LOG")" = "$n"
# Renewal on disk: the same daemon, no restart.
cp "$PKI/device.pem" "$PKI/expired.pem.new"; mv "$PKI/expired.pem.new" "$PKI/expired.pem"
cp "$PKI/device.key" "$PKI/expired.key.new"; mv "$PKI/expired.key.new" "$PKI/expired.key"
sleep 1.1
pull_ok "mtls: a renewed certificate is used without a restart" iot/acme/app:v1
check "mtls: the renewal was counted" test "$(metric pullgate_identity_reloads_total)" -gt 0
check "mtls: a certificate near expiry is warned about" \
    test "$(metric pullgate_identity_expiry_warnings_total)" -gt 0

# Secrets never leak: not in the log, not in anything a client saw.
for s in "$BASIC_PW" "$BEARER_KEY" "$READER_PW" adminpw; do
	check "secret ${s:0:6}... absent from the daemon logs" sh -c "! grep -q -- '$s' $WORK/pullgate-*.log"
	check "secret ${s:0:6}... absent from every client response" sh -c "! grep -q -- '$s' '$SEEN'"
done
check "no token (JWT) in the daemon logs" sh -c "! grep -q 'eyJ' $WORK/pullgate-*.log"

# A secret file others can read is refused, with a clear message.
chmod 644 "$WORK/secrets/basic.pw"
"$PULLGATE" serve -c "$WORK/pg.conf" --listen 127.0.0.1:1 > "$WORK/mode.out" 2>&1
check "a secret file with mode 0644 is refused at start" grep -q "readable by group or others (mode 0644)" "$WORK/mode.out"
chmod 600 "$WORK/secrets/basic.pw"
# So is a device key others can read (it gets the same check).
chmod 644 "$PKI/device.key"
rc=0; timeout 10 "$PULLGATE" serve -c "$WORK/pg.conf" --listen 127.0.0.1:1 > "$WORK/keymode.out" 2>&1 || rc=$?
check "a device key with mode 0644 is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q 'device.key: readable by group or others (mode 0644)' '$WORK/keymode.out'"
chmod 600 "$PKI/device.key"

# registry list / add / rm.
"$PULLGATE" registry list -c "$WORK/pg.conf" > "$WORK/list.json"
check "registry list: JSON with every entry" sh -c "$PY -c 'import json,sys; t=json.load(open(\"$WORK/list.json\")); sys.exit(0 if len(t)==12 else 1)'"
check "registry list: no secret in it" sh -c "! grep -q -- '$BASIC_PW\|$BEARER_KEY\|$READER_PW' '$WORK/list.json'"
check "registry add: a new entry" "$PULLGATE" registry add -c "$WORK/pg.conf" --name extra \
    --url https://extra.example --auth bearer --bearer-file "$WORK/secrets/bearer.key"
# registries: `registry list` as "ID NAME" lines; fails when the list fails.
registries() {
	"$PULLGATE" registry list -c "$WORK/pg.conf" > "$WORK/list2.json" &&
	    $PY -c 'import json, sys
for e in json.load(open(sys.argv[1])): print(e["id"], e["name"])' "$WORK/list2.json"
}
check "registry add: listed with id 13" test "$(registries | grep ' extra$')" = "13 extra"
chmod 644 "$WORK/secrets/wrong.pw"
"$PULLGATE" registry add -c "$WORK/pg.conf" --name bad --url https://bad.example \
    --auth basic --username u --password-file "$WORK/secrets/wrong.pw" > "$WORK/add.out" 2>&1
check "registry add: an entry whose secret file others can read is refused" grep -q "refused.*mode 0644" "$WORK/add.out"
chmod 600 "$WORK/secrets/wrong.pw"
"$PULLGATE" registry add -c "$WORK/pg.conf" --name iot --url https://x.example > "$WORK/add2.out" 2>&1
check "registry add: a duplicate name is refused" grep -q "used twice" "$WORK/add2.out"
check "registry rm: removes an added entry" "$PULLGATE" registry rm -c "$WORK/pg.conf" extra
rm_done() { registries > "$WORK/ids" && ! grep -q ' extra$' "$WORK/ids" && [ "$(wc -l < "$WORK/ids")" = 12 ]; }
check "registry rm: it is gone, the other 12 are listed" rm_done
"$PULLGATE" registry rm -c "$WORK/pg.conf" iot > "$WORK/rm.out" 2>&1
check "registry rm: an entry of the main file is left alone" grep -q "main configuration file" "$WORK/rm.out"

check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
finish
