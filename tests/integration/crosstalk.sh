#!/bin/bash
# No cross-talk between entries (issue 10, items 3, 6 and 9): each feed's
# and registry's tokens go to its own upstream only; a download of a blob
# through one entry never fails the pulls of it through another; a
# redirect carries neither credentials nor the client certificate to
# another host, and feeds follow redirects by the same rule as every other
# upstream request; a client's error names the class of failure, never
# curl's text or the upstream's address.
#
# Real parts: docker-registry (token auth, mTLS with its redirect storage
# middleware), tests/tools/tokenserver.py, nginx for a redirecting feed.
# Test tools where no real server shows it: tests/tools/filesrv.py (a feed
# behind Bearer tokens, which records the Authorization header it got; a
# TLS server that records whether a client certificate was offered) and
# fakeupstream.py (an entry whose upstream answers 404 slowly).
. "$(dirname "$0")/../lib.sh"

PKI=$WORK/pki
sh "$TOP/certs/mkpki.sh" "$PKI"
mkdir -p "$WORK/secrets"
chmod 700 "$WORK/secrets"
secret() {	# secret NAME VALUE: a 0600 file holding VALUE
	printf '%s\n' "$2" > "$WORK/secrets/$1"
	chmod 600 "$WORK/secrets/$1"
}
rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
PW_A="a-$(rnd)"; PW_B="b-$(rnd)"; PW_ALICE="alice-$(rnd)"; PW_FEED="feed-$(rnd)"
secret a.pw "$PW_A"
secret b.pw "$PW_B"
secret alice.pw "$PW_ALICE"
secret bob.pw "not-bobs-password"
secret feed.pw "$PW_FEED"

# start_tokens NAME SERVICE USER:PW: a token server with its own signing
# key. Sets TS_PORT, TS_LOG; the key's certificate is $WORK/NAME.pem.
start_tokens() {
	TS_PORT=$(free_port)
	TS_LOG=$WORK/tokens-$1.log
	: > "$TS_LOG"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/$1.key" \
	    -out "$WORK/$1.pem" -days 2 -subj "/CN=token signer $1" 2>/dev/null
	$PY "$TOOLS/tokenserver.py" --port "$TS_PORT" --key "$WORK/$1.key" \
	    --cert "$WORK/$1.pem" --log "$TS_LOG" --service "$2" --user "$3" &
	PIDS="$PIDS $!"
	wait_http "http://127.0.0.1:$TS_PORT/token"
}

# --- Item 3: two feeds behind two token services. --------------------------
make_deb_repo "$WORK/repo-a" 2 3000
make_deb_repo "$WORK/repo-b" 2 3000
for f in a b; do
	pw=$PW_A; [ $f = b ] && pw=$PW_B
	start_tokens "feed$f" "feed-$f" "user$f:$pw"
	port=$(free_port)
	$PY "$TOOLS/filesrv.py" --port "$port" --root "$WORK/repo-$f" \
	    --log "$WORK/feed-$f.log" --realm "http://127.0.0.1:$port/token" \
	    --service "feed-$f" --token-cert "$WORK/feed$f.pem" \
	    --relay "http://127.0.0.1:$TS_PORT/token" &
	PIDS="$PIDS $!"
	: > "$WORK/feed-$f.log"
	wait_http "http://127.0.0.1:$port/"
	eval "FEED_${f}_PORT=$port; TS_${f}_LOG=$TS_LOG"
done

# --- Item 3: two registry entries on one token realm, other credentials. --
start_tokens reg test-registry "alice:$PW_ALICE"
REG_TS_PORT=$TS_PORT; REG_TS_LOG=$TS_LOG
REG_AUTH="auth:
  token:
    realm: http://127.0.0.1:$REG_TS_PORT/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $WORK/reg.pem" start_registry token
TOK_PORT=$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 2 --size 20000 > /dev/null
check "push a private image to the token registry" skopeo --insecure-policy copy -q \
    --dest-tls-verify=false --dest-creds "alice:$PW_ALICE" \
    "oci:$WORK/img:v1" "docker://127.0.0.1:$TOK_PORT/private/app:v1"

# --- Item 6: a registry that has the blobs, an upstream that lacks them. --
start_registry right
RIGHT_PORT=$REG_PORT
$PY "$TOOLS/mkimage.py" "$WORK/many" --tag v1 --layers 12 --size 40000 > /dev/null
check "push a 12-layer image to the registry" push_image "$WORK/many" v1 \
    "127.0.0.1:$RIGHT_PORT/acme/many:v1"
LAYERS=$($PY - "$WORK/many" <<'PY'
import json, sys
root = sys.argv[1]
def blob(d):
    return json.load(open("%s/blobs/sha256/%s" % (root, d.split(":")[1])))
todo = [m["digest"] for m in json.load(open(root + "/index.json"))["manifests"]]
while todo:
    m = blob(todo.pop())
    todo += [x["digest"] for x in m.get("manifests", [])]
    for l in m.get("layers", []):
        print(l["digest"])
PY
)
start_fake good --slow-404 3
SLOW_PORT=$FAKE_PORT; SLOW_LOG=$FAKE_LOG

# --- Item 9: an mTLS registry whose blobs redirect to another host. -------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/other-host.key" -out "$WORK/other-host.csr" -subj "/CN=127.0.0.2" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.2\nextendedKeyUsage=serverAuth\n' > "$WORK/other-host.ext"
openssl x509 -req -in "$WORK/other-host.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 2 -out "$WORK/other-host.pem" -extfile "$WORK/other-host.ext" 2>/dev/null
CDN_PORT=$(free_port)
CDN_LOG=$WORK/cdn.log
: > "$CDN_LOG"
mkdir -p "$WORK/registry-iot/data"
$PY "$TOOLS/filesrv.py" --host 127.0.0.2 --port "$CDN_PORT" \
    --root "$WORK/registry-iot/data" --log "$CDN_LOG" \
    --tls "$WORK/other-host.pem" "$WORK/other-host.key" --client-ca "$PKI/ca.pem" &
PIDS="$PIDS $!"
REG_WAIT_OPTS="--cacert $PKI/ca.pem" wait_http "https://127.0.0.2:$CDN_PORT/"
REG_HTTP_EXTRA="  tls:
    certificate: $PKI/server.pem
    key: $PKI/server.key
    clientcas:
      - $PKI/ca.pem
middleware:
  storage:
    - name: redirect
      options:
        baseurl: https://127.0.0.2:$CDN_PORT/" \
REG_SCHEME=https REG_WAIT_OPTS="--cert $PKI/device.pem --key $PKI/device.key" \
    start_registry iot
IOT_PORT=$REG_PORT
mkdir -p "$WORK/skopeo-certs"
cp "$PKI/ca.pem" "$WORK/skopeo-certs/ca.crt"
cp "$PKI/device.pem" "$WORK/skopeo-certs/client.cert"
cp "$PKI/device.key" "$WORK/skopeo-certs/client.key"
check "push to the mTLS registry with the device certificate" \
    skopeo --insecure-policy copy -q --dest-cert-dir "$WORK/skopeo-certs" \
    "oci:$WORK/img:v1" "docker://127.0.0.1:$IOT_PORT/acme/app:v1"

# --- Item 9: a feed that redirects to another host. ------------------------
make_deb_repo "$WORK/repo-r" 2 3000
RED_PORT=$(free_port); OTHER_PORT=$(free_port)
for n in red other; do
	mkdir -p "$WORK/nginx-$n/tmp"
done
cat > "$WORK/nginx-red/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $WORK/nginx-red/pid;
error_log $WORK/nginx-red/error.log;
events { worker_connections 64; }
http { log_format auth '\$request AUTH \$http_authorization';
  access_log $WORK/nginx-red/access.log auth;
  client_body_temp_path $WORK/nginx-red/tmp; proxy_temp_path $WORK/nginx-red/tmp;
  fastcgi_temp_path $WORK/nginx-red/tmp; uwsgi_temp_path $WORK/nginx-red/tmp;
  scgi_temp_path $WORK/nginx-red/tmp;
  server { listen 127.0.0.1:$RED_PORT;
    location / { return 302 http://127.0.0.2:$OTHER_PORT\$request_uri; } } }
NGINX
cat > "$WORK/nginx-other/nginx.conf" <<NGINX
user root; daemon off; worker_processes 1; pid $WORK/nginx-other/pid;
error_log $WORK/nginx-other/error.log;
events { worker_connections 64; }
http { log_format auth '\$request AUTH \$http_authorization';
  access_log $WORK/nginx-other/access.log auth;
  client_body_temp_path $WORK/nginx-other/tmp; proxy_temp_path $WORK/nginx-other/tmp;
  fastcgi_temp_path $WORK/nginx-other/tmp; uwsgi_temp_path $WORK/nginx-other/tmp;
  scgi_temp_path $WORK/nginx-other/tmp;
  server { listen 127.0.0.2:$OTHER_PORT; root $WORK/repo-r; } }
NGINX
for n in red other; do
	nginx -c "$WORK/nginx-$n/nginx.conf" -p "$WORK/nginx-$n" &
	PIDS="$PIDS $!"
done
wait_http "http://127.0.0.1:$RED_PORT/"
wait_http "http://127.0.0.2:$OTHER_PORT/"

DEAD_PORT=$(free_port)	# nothing listens there

# --- pullgate. ---------------------------------------------------------------
cat > "$WORK/pg.conf" <<CONF
device: { cert = "$PKI/device.pem"; key = "$PKI/device.key"; };
breaker_seconds = 0;
registries = (
  { id = 3; name = "tx"; url = "http://127.0.0.1:$TOK_PORT"; auth = [ "basic", "token" ];
    username = "alice"; password_file = "$WORK/secrets/alice.pw";
    token_hosts = [ "127.0.0.1:$REG_TS_PORT" ]; },
  { id = 4; name = "ty"; url = "http://127.0.0.1:$TOK_PORT"; auth = [ "basic", "token" ];
    username = "bob"; password_file = "$WORK/secrets/bob.pw";
    token_hosts = [ "127.0.0.1:$REG_TS_PORT" ]; },
  { id = 5; name = "right"; url = "http://127.0.0.1:$RIGHT_PORT"; },
  { id = 6; name = "other"; url = "http://127.0.0.1:$SLOW_PORT"; },
  { id = 7; name = "iot"; url = "https://127.0.0.1:$IOT_PORT"; auth = "mtls";
    ca = "$PKI/ca.pem"; },
  { id = 8; name = "dead"; url = "http://127.0.0.1:$DEAD_PORT"; }
);
feeds = (
  { name = "fa"; url = "http://127.0.0.1:$FEED_a_PORT"; auth = [ "basic", "token" ];
    username = "usera"; password_file = "$WORK/secrets/a.pw"; },
  { name = "fb"; url = "http://127.0.0.1:$FEED_b_PORT"; auth = [ "basic", "token" ];
    username = "userb"; password_file = "$WORK/secrets/b.pw"; },
  { name = "red"; url = "http://127.0.0.1:$RED_PORT"; auth = "basic";
    username = "feeduser"; password_file = "$WORK/secrets/feed.pw"; },
  { name = "deadfeed"; url = "http://127.0.0.1:$DEAD_PORT"; }
);
CONF
start_pullgate crosstalk -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
SEEN=$WORK/client-saw
: > "$SEEN"

# same_file URL FILE: pullgate answers URL with 200 and FILE's bytes.
same_file() {
	code=$(curl -s -o "$WORK/got" -w '%{http_code}' "$1")
	cat "$WORK/got" >> "$SEEN"
	[ "$code" = 200 ] && cmp -s "$WORK/got" "$2"
}

# Item 3: the two feeds, alternately; each file through the feed it is in.
n=0
for rel in dists/stable/Release dists/stable/main/binary-all/Packages.gz \
    pool/main/pkg-1_1.0_all.deb pool/main/pkg-2_1.0_all.deb; do
	for f in a b; do
		n=$((n + 1))
		check "token feeds: f$f/$rel arrives whole" \
		    same_file "http://$PG/feeds/f$f/$rel" "$WORK/repo-$f/$rel"
	done
done
for f in a b; do
	log=$WORK/feed-$f.log
	check "token feeds: feed $f's server got only its own tokens ($(grep -c 'TOKEN foreign' "$log") foreign)" \
	    sh -c "! grep -q 'TOKEN foreign' '$log'"
	check "token feeds: feed $f's server got its own token ($(grep -c 'TOKEN ok' "$log") requests)" \
	    sh -c "grep -q 'TOKEN ok' '$log'"
done
check "token feeds: one token fetched for each feed ($(metric pullgate_tokens_fetched_total))" \
    test "$(metric pullgate_tokens_fetched_total)" = 2
eval "check 'token feeds: feed a asked its token service as user a' grep -q '^TOKEN usera ' '$TS_a_LOG'"
eval "check 'token feeds: feed b asked its token service as user b' grep -q '^TOKEN userb ' '$TS_b_LOG'"

# Item 3: two entries of one registry and realm, other credentials.
code=$(curl -s -o "$WORK/tx" -w '%{http_code}' "http://$PG/v2/tx/private/app/manifests/v1")
check "token registry: entry tx (alice) gets the private manifest ($code)" test "$code" = 200
code=$(curl -s -o "$WORK/ty" -w '%{http_code}' "http://$PG/v2/ty/private/app/manifests/v1")
cat "$WORK/tx" "$WORK/ty" >> "$SEEN"
check "token registry: entry ty (bob, wrong password) is refused, not given tx's token ($code)" \
    test "$code" = 401
check "token registry: bob's own credentials were tried" grep -q '^REFUSED bob' "$REG_TS_LOG"

# Item 6: every layer asked through the entry that lacks it (a slow 404)
# and, while those wait, through the entry that has it.
nlayers=$(echo "$LAYERS" | wc -w)
others=""; rights=""; i=0
for d in $LAYERS; do
	i=$((i + 1))
	others="$others -o $WORK/other-$i http://$PG/v2/other/acme/many/blobs/$d"
	rights="$rights -o $WORK/right-$i http://$PG/v2/right/acme/many/blobs/$d"
done
# shellcheck disable=SC2086
curl -s --parallel --parallel-max 50 --max-time 30 -w '%{http_code}\n' $others \
    > "$WORK/other-codes" &
OTHERS_PID=$!
i=0
while [ "$(grep -c '^GET /v2/acme/many/blobs/' "$SLOW_LOG")" -lt "$nlayers" ] && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
# shellcheck disable=SC2086
curl -s --parallel --parallel-max 50 --max-time 30 -w '%{http_code}\n' $rights \
    > "$WORK/right-codes"
wait "$OTHERS_PID"
bad=0; i=0
for d in $LAYERS; do
	i=$((i + 1))
	[ "sha256:$(sha256sum < "$WORK/right-$i" | cut -d' ' -f1)" = "$d" ] || bad=$((bad + 1))
done
check "shared downloads: $nlayers pulls through the right entry while the other was asked, $bad failed ($(sort "$WORK/right-codes" | uniq -c | tr -s ' \n' ' '))" \
    sh -c "[ $nlayers = 12 ] && [ $bad = 0 ]"
check "shared downloads: the other entry got its own 404s" \
    test "$(grep -c '^404$' "$WORK/other-codes")" = "$nlayers"
in_cache() {
	for d in $LAYERS; do
		h=${d#sha256:}
		[ -f "$PG_CACHE/blobs/sha256/$(echo "$h" | cut -c1-2)/$h" ] || return 1
	done
}
check "shared downloads: every blob is in the cache" in_cache

# Item 9: an mTLS blob download redirected to another host.
IOT_BLOB=$($PY - "$WORK/img" <<'PY'
import json, sys
root = sys.argv[1]
def blob(d):
    return json.load(open("%s/blobs/sha256/%s" % (root, d.split(":")[1])))
todo = [m["digest"] for m in json.load(open(root + "/index.json"))["manifests"]]
while todo:
    m = blob(todo.pop())
    todo += [x["digest"] for x in m.get("manifests", [])]
    for l in m.get("layers", []):
        print(l["digest"]); sys.exit(0)
PY
)
r0=$(metric pullgate_upstream_redirects_cross_origin_total)
code=$(curl -s -o "$WORK/iot" -w '%{http_code}' "http://$PG/v2/iot/acme/app/blobs/$IOT_BLOB")
check "mtls redirect: the blob arrives from the other host ($code)" \
    sh -c "[ $code = 200 ] && [ sha256:\$(sha256sum < '$WORK/iot' | cut -d' ' -f1) = '$IOT_BLOB' ]"
check "mtls redirect: the other host was asked" grep -q "^GET /docker/registry/v2/blobs/" "$CDN_LOG"
check "mtls redirect: no client certificate was offered to it" \
    sh -c "grep -q 'CERT no' '$CDN_LOG' && ! grep -q 'CERT yes' '$CDN_LOG'"
check "mtls redirect: counted as a redirect to another origin" \
    test "$(metric pullgate_upstream_redirects_cross_origin_total)" -gt "$r0"

# Item 9: feeds follow redirects like every other upstream request, without
# their credentials.
for rel in dists/stable/Release dists/stable/main/binary-all/Packages \
    pool/main/pkg-1_1.0_all.deb; do
	check "feed redirect: $rel arrives from the other host" \
	    same_file "http://$PG/feeds/red/$rel" "$WORK/repo-r/$rel"
done
check "feed redirect: the feed's own host got the credentials" \
    grep -q "AUTH Basic " "$WORK/nginx-red/access.log"
check "feed redirect: the other host served the files" \
    grep -q "GET /pool/main/pkg-1_1.0_all.deb" "$WORK/nginx-other/access.log"
check "feed redirect: the other host got no credentials" \
    sh -c "! grep -v 'AUTH -\$' '$WORK/nginx-other/access.log' | grep -q ."

# Item 9: errors name the class of failure, not curl's text or the address.
NOBLOB=sha256:$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
for path in /v2/dead/acme/app/manifests/v1 /v2/dead/acme/app/blobs/$NOBLOB \
    /feeds/deadfeed/dists/stable/Release \
    /feeds/deadfeed/pool/main/x_1_all.deb; do
	code=$(curl -s -o "$WORK/dead" -w '%{http_code}' "http://$PG$path")
	cat "$WORK/dead" >> "$SEEN"
	check "dead upstream: $path: $code, the class of failure ($(head -c 120 "$WORK/dead" | tr -cd '[:print:]'))" \
	    sh -c "[ '$code' -ge 500 ] && grep -qi 'refused' '$WORK/dead'"
	check "dead upstream: $path: no address, port or curl text in the body" \
	    sh -c "! grep -qiE '127\\.0\\.0\\.1|$DEAD_PORT|connect to|could.?n.t|curl' '$WORK/dead'"
done
check "dead upstream: the log keeps the detail" grep -q "127.0.0.1:$DEAD_PORT" "$PG_LOG"

# Secrets: nowhere a client could see them, not in the log.
for s in "$PW_A" "$PW_B" "$PW_ALICE" "$PW_FEED"; do
	check "secret ${s:0:6}... absent from the daemon log" sh -c "! grep -q -- '$s' '$PG_LOG'"
	check "secret ${s:0:6}... absent from every client response" sh -c "! grep -q -- '$s' '$SEEN'"
done
check "no token (JWT) in the daemon log" sh -c "! grep -q 'eyJ' '$PG_LOG'"

finish
