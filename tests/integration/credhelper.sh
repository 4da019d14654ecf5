#!/bin/bash
# Credentials from outside the configuration, rotated while running, against
# an htpasswd docker-registry whose password the test changes: a Docker
# credential helper (tests/tools/credhelper.sh as docker-credential-NAME on
# the daemon's PATH) and a Docker config.json. Pulls go on through every
# rotation with no restart and no failure (a 401 asks again, once); the
# helper runs a bounded number of times, one run for concurrent requests;
# failing, missing, hanging and garbage-answering helpers give clear 502s
# while the event loop keeps serving; no secret in logs, answers or
# 'registry list'. Counters come from /metrics.
. "$(dirname "$0")/../lib.sh"
only_variants openssl openssl-address

rand() { head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
P1="pw1-$(rand)"; P2="pw2-$(rand)"; P3="pw3-$(rand)"; P4="pw4-$(rand)"
P5="pw5-$(rand)"; T1="tk1-$(rand)"; T2="tk2-$(rand)"; P6="pw6-$(rand)"
export PG_CREDHELPER_DIR=$WORK/helper
mkdir -p "$PG_CREDHELPER_DIR" "$WORK/bin" "$WORK/docker"
for n in pgtest pgshort pgbg pgtok pgfail pghang pggarbage pgbomexit; do
	ln -s "$TOOLS/credhelper.sh" "$WORK/bin/docker-credential-$n"
done
export PATH=$WORK/bin:$PATH
echo gw > "$PG_CREDHELPER_DIR/user"
echo "$P1" > "$PG_CREDHELPER_DIR/secret"
calls() {	# calls NAME: how many times docker-credential-NAME ran
	if [ -f "$PG_CREDHELPER_DIR/$1.calls" ]; then
		wc -l < "$PG_CREDHELPER_DIR/$1.calls"
	else
		echo 0
	fi
}

# --- The upstream: htpasswd basic auth, restarted to change the password.
$PY "$TOOLS/mkimage.py" "$WORK/img" --tag v1 --layers 1 --size 20000 > /dev/null
htpasswd -Bbn gw "$P1" > "$WORK/htpasswd" 2>/dev/null
REG_AUTH="auth:
  htpasswd:
    realm: basic-realm
    path: $WORK/htpasswd" start_registry basic
UP=127.0.0.1:$REG_PORT
BASIC_PID=$REG_PID
skopeo --insecure-policy copy -q --all --dest-tls-verify=false \
    --dest-creds "gw:$P1" "oci:$WORK/img:v1" "docker://$UP/acme/app:v1" ||
    fail "push acme/app:v1"
MT=$(curl -s -u "gw:$P1" -o "$WORK/manifest" -w '%{content_type}' \
    -H "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json" \
    "http://$UP/v2/acme/app/manifests/v1")
for t in v2 v3 v4 v5 d1 c1 c2 c3 c4 c5 c6 c7 c8; do
	curl -sf -u "gw:$P1" -X PUT -H "Content-Type: $MT" \
	    --data-binary "@$WORK/manifest" \
	    "http://$UP/v2/acme/app/manifests/$t" > /dev/null || fail "tag acme/app:$t"
done
# reg_password PW: the registry with only PW valid (it reads htpasswd once).
reg_password() {
	stop_pid "$REG_PID"
	htpasswd -Bbn gw "$1" > "$WORK/htpasswd" 2>/dev/null
	docker-registry serve "$WORK/registry-basic/config.yml" >> "$REG_LOG" 2>&1 &
	REG_PID=$!
	PIDS="$PIDS $REG_PID"
	wait_http "http://$UP/v2/"
}
# docker_config KEY PW: a config.json as docker login writes it, mode 0600.
docker_config() {
	printf '{"auths":{"%s":{"auth":"%s"}},"HttpHeaders":{"User-Agent":"x"}}\n' \
	    "$1" "$(printf 'gw:%s' "$2" | base64 -w0)" > "$WORK/docker/new.json"
	chmod 600 "$WORK/docker/new.json"
	mv "$WORK/docker/new.json" "$WORK/docker/config.json"
}
docker_config "$UP" "$P1"

# A token-flow registry: its token service knows user gw by the helper's
# pgtok secret; tokens live 2 s, so a rotation meets the refusal.
echo "$T1" > "$PG_CREDHELPER_DIR/pgtok.secret"
echo "$P6" > "$PG_CREDHELPER_DIR/pgbomexit.secret"
TS_PORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/token.key" \
    -out "$WORK/token.pem" -days 2 -subj "/CN=token signer" 2>/dev/null
# token_server PASSWORD: the token service with that password for gw.
token_server() {
	[ -n "${TS_PID:-}" ] && stop_pid "$TS_PID"
	$PY "$TOOLS/tokenserver.py" --port "$TS_PORT" --key "$WORK/token.key" \
	    --cert "$WORK/token.pem" --log "$WORK/tokens.log" --ttl 2 \
	    --user "admin:adminpw" --user "gw:$1" &
	TS_PID=$!
	PIDS="$PIDS $TS_PID"
	wait_http "http://127.0.0.1:$TS_PORT/token"
}
token_server "$T1"
REG_AUTH="auth:
  token:
    realm: http://127.0.0.1:$TS_PORT/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $WORK/token.pem" start_registry token
TOKUP=127.0.0.1:$REG_PORT
for t in v1 v2; do
	skopeo --insecure-policy copy -q --all --dest-tls-verify=false \
	    --dest-creds admin:adminpw "oci:$WORK/img:v1" \
	    "docker://$TOKUP/private/app:$t" || fail "push private/app:$t"
done
REG_PORT=${UP#127.0.0.1:}
REG_LOG=$WORK/registry-basic/registry.log
REG_PID=$BASIC_PID

cat > "$WORK/pg.conf" <<CONF
registries_file = "$WORK/registries.conf";
registries = (
  { id = 3; name = "helped"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgtest"; credential_lifetime = 600; },
  { id = 4; name = "short"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgshort"; credential_lifetime = 10; },
  { id = 5; name = "dcfg"; url = "http://$UP"; auth = "basic";
    docker_config = "$WORK/docker/config.json"; },
  { id = 6; name = "failing"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgfail"; },
  { id = 7; name = "hanging"; url = "http://$UP"; auth = "basic";
    credential_helper = "pghang"; credential_timeout = 4; },
  { id = 8; name = "garbage"; url = "http://$UP"; auth = "basic";
    credential_helper = "pggarbage"; },
  { id = 9; name = "missing"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgnotinstalled"; },
  { id = 12; name = "bomexit"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgbomexit"; },
  { id = 11; name = "bg"; url = "http://$UP"; auth = "basic";
    credential_helper = "pgbg"; credential_lifetime = 10; },
  { id = 10; name = "tok"; url = "http://$TOKUP"; auth = [ "basic", "token" ];
    credential_helper = "pgtok"; token_hosts = [ "127.0.0.1:$TS_PORT" ]; }
);
CONF
start_pullgate credhelper -c "$WORK/pg.conf" ||
    { fail "the daemon starts: $(cat "$PG_LOG")"; finish; }
PG=127.0.0.1:$PG_PORT
SEEN=$WORK/client-saw
: > "$SEEN"

PULLS=0
pull() {	# pull REF: skopeo through pullgate, every blob verified
	PULLS=$((PULLS + 1))
	pull_image "$PG/$1" "$WORK/out-$PULLS" 2>> "$SEEN" &&
	    blobs_verified "$WORK/out-$PULLS"
}
ACCEPT="application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
# get PATH: prints the status; the answer is kept (and checked for secrets).
get() {
	curl -s --max-time 30 -H "Accept: $ACCEPT" -D "$WORK/h" -o "$WORK/b" \
	    -w '%{http_code}' "http://$PG$1"
	cat "$WORK/h" "$WORK/b" >> "$SEEN"
}

# The background refresh: a pair in the last fifth of its life is used
# while the helper is asked again. Its first answer now, checked below.
TB0=$(date +%s.%N)
st_bg=$(get /v2/bg/acme/app/manifests/v1)
TB1=$(date +%s.%N)

# --- A helper: used, asked with the host as docker asks, kept for its life.
check "helper: a pull through the entry works" pull helped/acme/app:v1
check "helper: it ran once ($(calls pgtest))" test "$(calls pgtest)" = 1
check "helper: it was given the server as docker gives it ($(head -1 "$PG_CREDHELPER_DIR/pgtest.calls"))" \
    test "$(head -1 "$PG_CREDHELPER_DIR/pgtest.calls")" = "$UP"
check "helper: runs counted in /metrics" \
    test "$(metric pullgate_credential_helper_runs_total)" = $(($(calls pgtest) + $(calls pgbg)))
check "helper: a second pull within the lifetime works" pull helped/acme/app:v2
check "helper: ...and did not run it again ($(calls pgtest))" test "$(calls pgtest)" = 1
check "short lifetime: a pull works" pull short/acme/app:v1
T_SHORT=$(date +%s)
check "docker_config: a pull with a config.json (base64 auth) works" \
    pull dcfg/acme/app:v1

n0=$(calls pgbg)
left=$(awk "BEGIN { l = $TB1 + 8.3 - $(date +%s.%N); print (l > 0 ? l : 0) }")
sleep "$left"
st=$(get /v2/bg/acme/app/manifests/v2)
in_time=$(awk "BEGIN { print ($(date +%s.%N) - $TB0 < 10) }")
i=0
while [ "$(calls pgbg)" = "$n0" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "background refresh: answered ($st_bg, $st) with the pair in use" \
    test "$st_bg:$st" = 200:200
if [ "$in_time" = 1 ]; then
	check "background refresh: in its last fifth the helper was asked again ($n0 -> $(calls pgbg))" \
	    test "$(calls pgbg)" = $((n0 + 1))
else
	echo "# background refresh: the machine was too slow to ask within the window"
fi

# --- Rotation: the registry's password and the helper's secret change.
reg_password "$P2"
echo "$P2" > "$PG_CREDHELPER_DIR/secret"
docker_config "https://$UP" "$P2"	# the https:// form of the key
r0=$(metric pullgate_credential_refusals_total)
n0=$(calls pgtest)
check "rotation: a pull after the password changed works (helper)" \
    pull helped/acme/app:v3
check "rotation: the helper ran again, a bounded number of times ($(($(calls pgtest) - n0)))" \
    test $(($(calls pgtest) - n0)) -ge 1 -a $(($(calls pgtest) - n0)) -le 2
check "rotation: the refusal (401) was counted" \
    test "$(metric pullgate_credential_refusals_total)" -gt "$r0"
d0=$(metric pullgate_docker_config_reads_total)
check "rotation: a pull after the password changed works (config.json rewritten)" \
    pull dcfg/acme/app:v3
check "rotation: the rewritten config.json was read again" \
    test "$(metric pullgate_docker_config_reads_total)" -gt "$d0"

# The token flow: the helper's pair goes to the token service; when it
# refuses the old pair (its token expired), the helper is asked again.
check "token flow: a pull with the helper's pair works" pull tok/private/app:v1
check "token flow: the token service saw user gw" grep -q "^TOKEN gw " "$WORK/tokens.log"
token_server "$T2"
echo "$T2" > "$PG_CREDHELPER_DIR/pgtok.secret"
sleep 2.5	# the token of the old pair expires
n0=$(calls pgtok)
check "token flow: after the token service's password changed, a pull works" \
    pull tok/private/app:v2
check "token flow: the old pair was refused by the token service" \
    grep -q "^REFUSED gw" "$WORK/tokens.log"
check "token flow: the helper was asked again ($(($(calls pgtok) - n0)))" \
    test $(($(calls pgtok) - n0)) = 1

# Concurrent requests after a rotation share one run of a slow helper.
reg_password "$P3"
echo "$P3" > "$PG_CREDHELPER_DIR/secret"
echo 1 > "$PG_CREDHELPER_DIR/delay"
n0=$(calls pgtest)
PAR=""
for i in 1 2 3 4 5 6 7 8; do
	(st=$(get "/v2/helped/acme/app/manifests/c$i"); echo "$st" > "$WORK/par.$i") &
	PAR="$PAR $!"
done
for p in $PAR; do wait "$p"; done
rm -f "$PG_CREDHELPER_DIR/delay"
codes=$(cat "$WORK"/par.* | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
check "concurrent: 8 requests after a rotation all answered 200 ($codes)" \
    test "$(cat "$WORK"/par.* | grep -c '^200$')" = 8
check "concurrent: they shared one helper run ($(($(calls pgtest) - n0)))" \
    test $(($(calls pgtest) - n0)) = 1

# The lifetime ends: the next request asks the helper again first.
n0=$(calls pgshort)
left=$((T_SHORT + 11 - $(date +%s)))
[ "$left" -gt 0 ] && sleep "$left"
echo "$P3" > "$PG_CREDHELPER_DIR/secret"
check "lifetime: a pull after credential_lifetime works" pull short/acme/app:v2
check "lifetime: the helper was asked again ($(($(calls pgshort) - n0)))" \
    test $(($(calls pgshort) - n0)) -ge 1

# config.json: the username/password form, and a file others can read.
reg_password "$P4"
printf '{"auths":{"%s":{"username":"gw","password":"%s"}}}\n' "$UP" "$P4" \
    > "$WORK/docker/new.json"
chmod 600 "$WORK/docker/new.json"
mv "$WORK/docker/new.json" "$WORK/docker/config.json"
check "docker_config: username/password form, rotated, pull works" \
    pull dcfg/acme/app:v4
f0=$(metric pullgate_docker_config_failures_total)
chmod 644 "$WORK/docker/config.json"
touch "$WORK/docker/config.json"
check "docker_config: a file others can read is refused, the pair in use stays" \
    test "$(get /v2/dcfg/acme/app/manifests/d1)" = 200
check "docker_config: the refusal is counted" \
    test "$(metric pullgate_docker_config_failures_total)" -gt "$f0"
check "docker_config: the refusal names the mode" \
    grep -q "readable by group or others" "$PG_LOG"
chmod 600 "$WORK/docker/config.json"

# --- Helpers that fail: a clear 502, counted, and not rerun at once.
st=$(get /v2/failing/acme/app/manifests/v1)
check "failing helper: 502 ($st)" test "$st" = 502
check "failing helper: the answer names it and its message" \
    grep -q "docker-credential-pgfail: exited with status 1: credentials not found" "$WORK/b"
get /v2/failing/acme/app/manifests/v2 > /dev/null
check "failing helper: not run again at once ($(calls pgfail))" test "$(calls pgfail)" = 1
check "failing helper: counted (reason exit)" \
    test "$(metric 'pullgate_credential_helper_failures_total{reason="exit"}')" = 1
st=$(get /v2/garbage/acme/app/manifests/v1)
check "garbage answer: 502 ($st), saying so" \
    sh -c "test '$st' = 502 && grep -q 'not a JSON object' '$WORK/b'"
check "garbage answer: counted (reason answer)" \
    test "$(metric 'pullgate_credential_helper_failures_total{reason="answer"}')" = 1
st=$(get /v2/missing/acme/app/manifests/v1)
check "missing helper: 502 ($st), not found on the PATH" \
    sh -c "test '$st' = 502 && grep -q 'docker-credential-pgnotinstalled: not found' '$WORK/b'"
check "missing helper: counted (reason start)" \
    test "$(metric 'pullgate_credential_helper_failures_total{reason="start"}')" = 1

st=$(get /v2/bomexit/acme/app/manifests/v1)
check "failing helper that printed its answer (after a BOM): 502 ($st), without it" \
    sh -c "test '$st' = 502 && ! grep -q -- '$P6' '$WORK/b' '$PG_LOG'"

# A hanging helper: killed at credential_timeout; meanwhile the loop serves.
t0=$(date +%s.%N)
(curl -s --max-time 30 -o "$WORK/hang.body" -w '%{http_code}' \
    "http://$PG/v2/hanging/acme/app/manifests/v1" > "$WORK/hang.code") &
HANG=$!
i=0
while [ "$(calls pghang)" = 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "hanging helper: it is running" test "$(calls pghang)" = 1
hz=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://$PG/healthz")
check "hanging helper: /healthz answers meanwhile ($hz)" test "$hz" = 200
check "hanging helper: a pull through another entry works meanwhile" \
    pull helped/acme/app:v1
check "hanging helper: still waiting for it then" kill -0 "$HANG"
wait "$HANG"
t1=$(date +%s.%N)
check "hanging helper: 502 after the timeout ($(cat "$WORK/hang.code"), $(awk "BEGIN { print $t1 - $t0 }") s)" \
    sh -c "test '$(cat "$WORK/hang.code")' = 502 && grep -q 'no answer within 4 s' '$WORK/hang.body'"
check "hanging helper: counted (reason timeout)" \
    test "$(metric 'pullgate_credential_helper_failures_total{reason="timeout"}')" = 1
check "hanging helper: killed with its process group (no sleep left)" \
    sh -c "! pgrep -f '^sleep 37$' > /dev/null"
cat "$WORK/hang.body" >> "$SEEN"

# --- Reload: a new helper answer is asked for; the old pair is not kept.
reg_password "$P5"
echo "$P5" > "$PG_CREDHELPER_DIR/secret"
n0=$(calls pgtest)
check "reload: accepted" sh -c "\"$PULLGATE\" reload -c \"$WORK/pg.conf\" --cache \"$PG_CACHE\" > /dev/null"
check "reload: a pull with the new password works" pull helped/acme/app:v5
check "reload: the helper was asked once ($(($(calls pgtest) - n0)))" \
    test $(($(calls pgtest) - n0)) = 1

# --- No secret anywhere it should not be.
"$PULLGATE" registry list -c "$WORK/pg.conf" > "$WORK/list.json"
check "registry list: names the helper and the config.json" \
    sh -c "grep -q '\"credential_helper\": \"pgtest\"' '$WORK/list.json' && grep -q '\"docker_config\"' '$WORK/list.json'"
for s in "$P1" "$P2" "$P3" "$P4" "$P5" "$P6" "$T1" "$T2"; do
	check "secret ${s:0:4}... absent from the daemon log, answers and registry list" \
	    sh -c "! grep -q -- '$s' '$PG_LOG' '$SEEN' '$WORK/list.json'"
	b=$(printf 'gw:%s' "$s" | base64 -w0)
	check "...and its base64 too" sh -c "! grep -q -- '$b' '$PG_LOG' '$SEEN' '$WORK/list.json'"
done
finish
