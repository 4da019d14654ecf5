#!/bin/bash
# Who may pull (issue 10, item 10): a listener on a non-loopback address
# needs a client allow-list; an entry can be kept to some clients and can
# require client credentials (bcrypt, in a 0600 file). Clients pick their
# source address on loopback (127.0.0.0/8): curl --interface 127.0.0.N.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT
UP_LOG=$REG_LOG
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 40000 > /dev/null
check "push an image upstream" push_image "$WORK/img" v1 "$UP/acme/app:v1"
ACCEPT="Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"

PW="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PW2="pw2-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PW3="pw3-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$WORK/secrets"
chmod 700 "$WORK/secrets"
CREDS=$WORK/secrets/clients.htpasswd
{
	htpasswd -Bbn gw "$PW"
	htpasswd -Bbn crowd "$PW2"
	htpasswd -Bbn -C 13 slow "$PW3"	# ~0.5 s: a client can leave meanwhile
} 2>/dev/null | grep . > "$CREDS"
chmod 600 "$CREDS"

PG_PORT=$(free_port)
PG_LOG=$WORK/pullgate-access.log
cat > "$WORK/pg.conf" <<CONF
listen = "0.0.0.0:$PG_PORT";
clients = [ "127.0.0.1", "127.0.0.2/32", "127.0.0.3" ];
registries = (
  { id = 3; name = "open"; url = "http://$UP"; },
  { id = 4; name = "only2"; url = "http://$UP"; clients = [ "127.0.0.2/32" ];
    mirror_of = [ "only2.example" ]; },
  { id = 5; name = "cred"; url = "http://$UP"; client_credentials = "$CREDS"; }
);
feeds = (
  { name = "fonly2"; url = "http://$UP/f"; clients = [ "127.0.0.2/32" ]; },
  { name = "fcred"; url = "http://$UP/f"; client_credentials = "$CREDS"; }
);
CONF

# serve CONF [ARGS...]: a daemon in the foreground for a start-up check.
serve() {
	conf=$1; shift
	timeout 10 "$PULLGATE" serve -c "$conf" --cache "$WORK/cache-refused" "$@"
}
# code FROM URL [CURL ARGS...]: the HTTP status a client at 127.0.0.FROM gets.
code() {
	from=$1; url=$2; shift 2
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	    --interface "127.0.0.$from" "$@" "http://127.0.0.1:$PG_PORT$url"
}
# m NAME: a counter, read from an allowed address.
m() {
	curl -s --max-time 5 --interface 127.0.0.2 "http://127.0.0.1:$PG_PORT/metrics" |
	    awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}
upstream_requests() { grep -c '"GET /v2/\|"HEAD /v2/' "$UP_LOG" || true; }
REFUSED_ADDR='pullgate_access_total{result="refused_address"}'
REFUSED_CRED='pullgate_access_total{result="refused_credentials"}'
ACCEPTED='pullgate_access_total{result="accepted_credentials"}'
BCRYPT=pullgate_access_bcrypt_runs_total

# --- Start-up refusals. ----------------------------------------------------
rc=0; serve /dev/null --listen "0.0.0.0:$(free_port)" > "$WORK/any.out" 2>&1 || rc=$?
check "listening on 0.0.0.0 without 'clients' is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q \"needs 'clients'\" '$WORK/any.out'"
rc=0; serve /dev/null --listen "[::]:$(free_port)" > "$WORK/any6.out" 2>&1 || rc=$?
check "listening on :: without 'clients' is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q \"needs 'clients'\" '$WORK/any6.out'"
sed 's/"127.0.0.3" ]/"127.0.0.3", "10.1.2.3\/8" ]/' "$WORK/pg.conf" > "$WORK/badprefix.conf"
rc=0; serve "$WORK/badprefix.conf" > "$WORK/badprefix.out" 2>&1 || rc=$?
check "a prefix with bits past its length is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q '10.1.2.3/8' '$WORK/badprefix.out'"
chmod 644 "$CREDS"
rc=0; serve "$WORK/pg.conf" > "$WORK/mode.out" 2>&1 || rc=$?
check "a client credentials file others can read is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q 'clients.htpasswd: readable by group or others (mode 0644)' '$WORK/mode.out'"
chmod 600 "$CREDS"
grep "slow:" "$CREDS" | sed 's/\$2y\$/$1$/' > "$WORK/secrets/md5.htpasswd"
chmod 600 "$WORK/secrets/md5.htpasswd"
sed "s|$CREDS|$WORK/secrets/md5.htpasswd|" "$WORK/pg.conf" > "$WORK/md5.conf"
rc=0; serve "$WORK/md5.conf" > "$WORK/md5.out" 2>&1 || rc=$?
check "a credentials file with a non-bcrypt hash is refused at start (rc=$rc)" \
    sh -c "test $rc != 0 && grep -q 'not a bcrypt hash' '$WORK/md5.out'"

# --- The daemon on 0.0.0.0, with its allow-list. -------------------------
"$PULLGATE" serve -c "$WORK/pg.conf" --cache "$WORK/cache-access" \
    --log-level debug > "$PG_LOG" 2>&1 &
PG_PID=$!
PIDS="$PIDS $PG_PID"
PG_PIDS="$PG_PID"
REG_WAIT_OPTS="--interface 127.0.0.2" wait_http "http://127.0.0.1:$PG_PORT/healthz"

check "an allowed address gets /healthz" test "$(code 2 /healthz)" = 200
before=$(upstream_requests)
check "an address outside 'clients' gets 403 for /healthz" test "$(code 4 /healthz)" = 403
check "... and 403 for /metrics" test "$(code 4 /metrics)" = 403
c4=$(code 4 /v2/open/acme/app/manifests/v1 -H "$ACCEPT")
check "... and 403 for a pull" test "$c4" = 403
check "... and for an HTTP-proxy request" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.4 \
    --proxy "http://127.0.0.1:$PG_PORT" "http://$UP/f/x")" = 403
curl -s --interface 127.0.0.4 "http://127.0.0.1:$PG_PORT/v2/open/acme/app/manifests/v1" > "$WORK/denied.json"
check "the refusal is DENIED and does not list the allowed clients" \
    sh -c "grep -q DENIED '$WORK/denied.json' && ! grep -q '127.0.0' '$WORK/denied.json'"
check "counter: refused by address (5 so far)" test "$(m "$REFUSED_ADDR")" = 5
check "a refused client caused no upstream request" \
    sh -c "test $c4 = 403 && test $(upstream_requests) = $before"
check "an allowed address pulls through an open entry" \
    test "$(code 3 /v2/open/acme/app/manifests/v1 -H "$ACCEPT")" = 200

# --- An entry kept to some clients. --------------------------------------
before=$(upstream_requests)
c1=$(code 3 /v2/only2/acme/app/manifests/v1 -H "$ACCEPT")
c2=$(code 3 "/v2/acme/app/manifests/v1?ns=only2.example" -H "$ACCEPT")
check "entry only2 refuses 127.0.0.3 (403)" test "$c1" = 403
check "... also when routed to it by ?ns=" test "$c2" = 403
check "... and nothing was asked upstream for the refused requests" \
    sh -c "test $c1$c2 = 403403 && test $(upstream_requests) = $before"
check "entry only2 serves 127.0.0.2" \
    test "$(code 2 /v2/only2/acme/app/manifests/v1 -H "$ACCEPT")" = 200
check "feed fonly2 refuses 127.0.0.3 (403)" test "$(code 3 /feeds/fonly2/dists/x/Release)" = 403
check "feed fonly2 serves 127.0.0.2 (the upstream's 404, not a refusal)" \
    test "$(code 2 /feeds/fonly2/dists/x/Release)" = 404
check "the local entry is closed while an entry requires credentials" \
    test "$(code 2 /v2/local/acme/app/manifests/v1 -H "$ACCEPT")" = 403

# --- An entry that requires client credentials. --------------------------
curl -s -D "$WORK/h401" -o /dev/null --interface 127.0.0.3 -H "$ACCEPT" \
    "http://127.0.0.1:$PG_PORT/v2/cred/acme/app/manifests/v1"
check "no credentials: 401 with a Basic challenge" \
    sh -c "head -1 '$WORK/h401' | grep -q ' 401' && grep -qi '^WWW-Authenticate: Basic realm=\"pullgate\"' '$WORK/h401'"
curl -s -D "$WORK/hping" -o /dev/null --interface 127.0.0.3 "http://127.0.0.1:$PG_PORT/v2/"
check "GET /v2/ challenges a client without credentials (so clients send them)" \
    sh -c "head -1 '$WORK/hping' | grep -q ' 401' && grep -qi '^WWW-Authenticate: Basic' '$WORK/hping'"
check "GET /v2/ with credentials: 200" test "$(code 2 /v2/ -u "gw:$PW")" = 200
check "feed fcred: 401 with a Basic challenge without credentials" \
    test "$(code 3 /feeds/fcred/dists/x/Release)" = 401
check "feed fcred: the right credentials pass (the upstream's 404)" \
    test "$(code 3 /feeds/fcred/dists/x/Release -u "gw:$PW")" = 404

PG=127.0.0.1:$PG_PORT
rm -rf "$WORK/out-right"
skopeo --insecure-policy copy -q --all --src-tls-verify=false --src-creds "gw:$PW" \
    "docker://$PG/cred/acme/app:v1" "oci:$WORK/out-right:pulled" > "$WORK/skopeo-right.log" 2>&1
check "skopeo with the right --src-creds pulls through entry cred" blobs_verified "$WORK/out-right"
check "... the same blobs as pushed" sh -c "test -d '$WORK/out-right/blobs' &&
    test \"\$(ls '$WORK/img/blobs/sha256' | sort)\" = \"\$(ls '$WORK/out-right/blobs/sha256' | sort)\""
rm -rf "$WORK/out-wrong"
rc=0; skopeo --insecure-policy copy -q --all --src-tls-verify=false --src-creds "gw:not-$PW" \
    "docker://$PG/cred/acme/app:v1" "oci:$WORK/out-wrong:pulled" > "$WORK/skopeo-wrong.log" 2>&1 || rc=$?
check "skopeo with wrong --src-creds fails (rc=$rc)" test "$rc" != 0
rc=0; skopeo --insecure-policy copy -q --all --src-tls-verify=false \
    "docker://$PG/cred/acme/app:v1" "oci:$WORK/out-none:pulled" > "$WORK/skopeo-none.log" 2>&1 || rc=$?
check "skopeo without credentials fails (rc=$rc)" test "$rc" != 0
check "counter: requests accepted by credentials (a whole pull)" test "$(m "$ACCEPTED")" -ge 4
check "counter: requests refused for their credentials" test "$(m "$REFUSED_CRED")" -ge 2
runs=$(m "$BCRYPT")
check "bcrypt ran once per distinct credentials, not per request ($runs runs, $(m "$ACCEPTED") accepted)" \
    sh -c "test $runs -ge 1 && test $runs -le 3"

# Twenty simultaneous requests with credentials never seen: one bcrypt,
# all answered, none refused.
runs=$(m "$BCRYPT")
i=0; CROWD=""
while [ $i -lt 20 ]; do
	code 2 /v2/cred/acme/app/manifests/v1 -H "$ACCEPT" -u "crowd:$PW2" > "$WORK/crowd-$i" &
	CROWD="$CROWD $!"
	i=$((i + 1))
done
for p in $CROWD; do wait "$p"; done
check "20 simultaneous first requests of one client all pass" \
    test "$(cat "$WORK"/crowd-* | tr -d '\n')" = "$(printf '200%.0s' $(seq 20))"
check "... for one bcrypt run" test "$(m "$BCRYPT")" = "$((runs + 1))"

# A client that leaves while its credentials are checked; then the
# daemon answers as before (and the ASan build reports nothing).
curl -s -o /dev/null --max-time 0.1 --interface 127.0.0.3 -u "slow:$PW3" \
    "http://127.0.0.1:$PG_PORT/v2/cred/acme/app/manifests/v1"
sleep 1
check "after a client left mid-check, /healthz still answers" test "$(code 2 /healthz)" = 200
check "... and that client's credentials were checked once and pass now" \
    test "$(code 3 /v2/cred/acme/app/manifests/v1 -H "$ACCEPT" -u "slow:$PW3")" = 200

# What a client presented never reaches the logs or the upstream.
B64=$(printf 'gw:%s' "$PW" | base64)
check "no client password in the daemon log (which logged the requests)" \
    sh -c "test -s '$PG_LOG' && grep -q cred/acme '$PG_LOG' &&
    ! grep -q -e '$PW' -e '$PW2' -e '$PW3' -e '$B64' '$PG_LOG'"
check "no client password in the registry's log" \
    sh -c "! grep -q -e '$PW' -e '$B64' '$UP_LOG'"

finish
