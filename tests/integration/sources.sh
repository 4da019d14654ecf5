#!/bin/bash
# Image sources: routes (default, name, id, ns= mirror), real clients
# (skopeo, containerd), tag TTL and HEAD revalidation, offline resolution
# with a circuit breaker, a hung upstream, refusals.
. "$(dirname "$0")/../lib.sh"

start_registry up
UP=127.0.0.1:$REG_PORT; UP_PID=$REG_PID; UP_LOG=$REG_LOG
$PY "$TOOLS/mkimage.py" "$WORK/img1" --tag v1 --platforms linux/amd64,linux/arm64 > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/img2" --tag v1 --seed two > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/img3" --tag v1 --seed three > /dev/null
push_image "$WORK/img1" v1 "$UP/acme/app:v1"
push_image "$WORK/img2" v1 "$UP/acme/tool:v1"
push_image "$WORK/img2" v1 "$UP/acme/moving:v1"
push_image "$WORK/img3" v1 "$UP/acme/never:v1"
push_image "$WORK/img1" v1 "$UP/acme/fixed:1.2.3"
D1=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/img1/index.json")
D2=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/img2/index.json")
D3=$(sed -n 's/.*"digest": "\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/img3/index.json")

start_fake good		# a host no request may reach
cat > "$WORK/pg.conf" <<CONF
default_registry = "edge";
breaker_seconds = 30;
upstream_transfer: { connect_timeout = 2; };
registries = (
  { id = 3; name = "edge"; url = "http://$UP"; tag_ttl = 3;
    mirror_of = [ "registry.example.com:5000" ];
    immutable_tags = "^[0-9]+\\\\.[0-9]+\\\\.[0-9]+\$"; }
);
CONF
start_pullgate src -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT

# --- Routes, online. ------------------------------------------------------
pulls=0
skopeo_pull() {	# skopeo_pull REF: pull into a new directory, verify
	pulls=$((pulls + 1))
	pull_image "$PG/$1" "$WORK/pull-$pulls" && blobs_verified "$WORK/pull-$pulls"
}
check "skopeo: default entry" skopeo_pull acme/app:v1
check "skopeo: entry by name" skopeo_pull edge/acme/tool:v1
check "skopeo: entry by id" skopeo_pull 3/acme/app:v1
check "skopeo: the local entry resolves what is cached" skopeo_pull local/acme/app:v1

start_containerd one
ctr_log() { "$@" >> "$WORK/ctr.log" 2>&1; }
check "containerd: ctr pull --plain-http, direct" \
    ctr_log ctr_ ns1 images pull --plain-http --all-platforms "$PG/acme/app:v1"
mkdir -p "$WORK/hosts/registry.example.com:5000"
cat > "$WORK/hosts/registry.example.com:5000/hosts.toml" <<TOML
server = "http://registry.example.com:5000"
[host."http://$PG"]
  capabilities = ["pull", "resolve"]
TOML
ns_before=$(metric 'pullgate_requests_routed_total{by="ns"}')
check "containerd: --hosts-dir mirror for a made-up registry host" \
    ctr_log ctr_ ns1 images pull --hosts-dir "$WORK/hosts" registry.example.com:5000/acme/tool:v1
check "the mirror's requests were routed by ns= (counted)" \
    test "$(metric 'pullgate_requests_routed_total{by="ns"}')" -gt "$ns_before"

# resolve, online.
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" --json acme/app:v1 > "$WORK/res.json"
check "resolve: the digest of a tag" grep -q "\"digest\": \"$D1\"" "$WORK/res.json"
check "resolve: its media type" grep -q '"mediaType": "application/vnd.oci.image.index.v1+json"' "$WORK/res.json"

# --- Tags: TTL, HEAD revalidation, immutable tags, digests. ---------------
heads() { grep -c "\"HEAD /v2/acme/$1/manifests/$2 " "$UP_LOG" || true; }
gets() { grep -c "\"GET /v2/acme/$1/manifests/$2 " "$UP_LOG" || true; }
curl -s -o /dev/null "http://$PG/v2/acme/moving/manifests/v1"
push_image "$WORK/img3" v1 "$UP/acme/moving:v1"		# the tag moves
dg() { curl -s -D - -o /dev/null "http://$PG/v2/acme/$1/manifests/$2" | sed -n 's/^Docker-Content-Digest: \(.*\)\r$/\1/p'; }
check "within the TTL a moved tag is not seen" test "$(dg moving v1)" = "$D2"
sleep 3.2
check "after the TTL a moved tag is seen" test "$(dg moving v1)" = "$D3"
g0=$(gets tool v1); h0=$(heads tool v1)
sleep 3.2
check "an unchanged tag after its TTL still resolves" test "$(dg tool v1)" = "$D2"
check "...revalidated with a HEAD" test "$(heads tool v1)" = $((h0 + 1))
check "...and no GET" test "$(gets tool v1)" = "$g0"
curl -s -o /dev/null "http://$PG/v2/acme/fixed/manifests/1.2.3"
sleep 3.2
h0=$(heads fixed 1.2.3); g0=$(gets fixed 1.2.3)
curl -s -o /dev/null "http://$PG/v2/acme/fixed/manifests/1.2.3"
check "an immutable (semver) tag is not revalidated after its TTL" \
    test "$(heads fixed 1.2.3)$(gets fixed 1.2.3)" = "$h0$g0"
n=$(grep -c "manifests/$D1" "$UP_LOG")
for i in 1 2 3; do curl -s -o /dev/null "http://$PG/v2/acme/app/manifests/$D1"; done
check "a cached digest never goes upstream" test "$(grep -c "manifests/$D1" "$UP_LOG")" = "$n"

# --- Refusals. ------------------------------------------------------------
fake0=$(wc -l < "$FAKE_LOG")
code=$(curl -s -o "$WORK/ns.out" -w '%{http_code}' "http://$PG/v2/acme/app/manifests/v1?ns=127.0.0.1:$FAKE_PORT")
check "ns= naming an unconfigured host: 403 DENIED" sh -c "[ $code = 403 ] && grep -q DENIED '$WORK/ns.out'"
code=$(curl -s -o "$WORK/host.out" -w '%{http_code}' -H "Host: evil.example" "http://$PG/v2/acme/app/manifests/v1")
check "a Host that is not configured: 403" test "$code" = 403
check "neither caused an outgoing connection" test "$(wc -l < "$FAKE_LOG")" = "$fake0"

# --- A hung upstream (SIGSTOP): cached tags served stale, and the failure
# opens the circuit breaker. A stopped registry still has connections
# accepted (by the kernel) and handles what was sent once it continues, so
# its access log then shows what pullgate asked it while it was hung.
sleep 3.2		# every tag is stale now
ht=$(heads tool v1); ha=$(heads app v1); ga=$(gets app v1)
kill -STOP "$UP_PID"
code=$(curl -s --max-time 30 -D "$WORK/stale.h" -o /dev/null -w '%{http_code}' "http://$PG/v2/acme/tool/manifests/v1")
check "hung upstream: the cached tag is served ($code; 30 s bound, a hang fails)" test "$code" = 200
check "hung upstream: marked stale (Warning: 110)" grep -qi "^Warning: 110" "$WORK/stale.h"
code=$(curl -s --max-time 30 -D "$WORK/stale2.h" -o /dev/null -w '%{http_code}' "http://$PG/v2/acme/app/manifests/v1")
check "hung upstream: the next stale tag is served too, marked stale ($code)" \
    sh -c "[ '$code' = 200 ] && grep -qi '^Warning: 110' '$WORK/stale2.h'"
kill -CONT "$UP_PID"
# The registry handles the queued requests, then one of ours sent after them.
curl -s -o /dev/null --max-time 10 "http://$UP/v2/acme/after-cont/manifests/x"
i=0
while ! grep -q after-cont "$UP_LOG" || [ "$(heads tool v1)" = "$ht" ]; do
	[ $i -lt 100 ] || break
	sleep 0.1; i=$((i + 1))
done
check "hung upstream: it was asked to revalidate the first tag (one HEAD)" test "$(heads tool v1)" = $((ht + 1))
check "...and not asked for the next one: the circuit breaker opened" \
    test "$(heads app v1) $(gets app v1)" = "$ha $ga"

# --- Offline: the upstream stops; fresh clients pull by tag and digest. ---
stop_pid "$UP_PID"
sleep 3.2
check "offline, skopeo: default entry by tag" skopeo_pull acme/app:v1
check "offline, skopeo: by name, by tag" skopeo_pull edge/acme/tool:v1
check "offline, skopeo: by id, by digest" skopeo_pull "3/acme/app@$D1"
check "offline, skopeo: the local entry" skopeo_pull local/acme/app:v1
start_containerd two
check "offline, containerd (new root): direct, by tag, all platforms" \
    ctr_log ctr_ ns2 images pull --plain-http --all-platforms "$PG/acme/app:v1"
check "offline, containerd (new root): mirror, by digest" \
    ctr_log ctr_ ns2 images pull --hosts-dir "$WORK/hosts" "registry.example.com:5000/acme/tool@$D2"
curl -s "http://$PG/v2/acme/app/tags/list" > "$WORK/tags.off"
check "offline: tags/list lists the cached tags" grep -q '"tags":\["v1"\]' "$WORK/tags.off"
# The circuit breaker is open: pullgate does not dial the upstream. A server
# listening on the dead upstream's port for this one request would see it.
: > "$WORK/deadport.log"
$PY "$TOOLS/fakeupstream.py" --port "${UP#*:}" --blobs "$WORK/fakeblobs" \
    --log "$WORK/deadport.log" &
DEAD_PID=$!
PIDS="$PIDS $DEAD_PID"
wait_http "http://$UP/v2/"
d0=$(wc -l < "$WORK/deadport.log")
code=$(curl -s --max-time 30 -o "$WORK/never.out" -w '%{http_code}' "http://$PG/v2/acme/never/manifests/v1")
check "offline: an image never cached fails with a clear error ($code)" \
    sh -c "[ $code = 502 ] && grep -q \"registry 'edge'\" '$WORK/never.out'"
check "offline: ...without dialling the upstream, the circuit breaker is open" \
    test "$(wc -l < "$WORK/deadport.log")" = "$d0"
check "offline: the breaker is named in the error" grep -q "circuit breaker" "$WORK/never.out"
stop_pid "$DEAD_PID"
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" acme/tool:v1 > "$WORK/res.off"
check "offline: resolve answers from the daemon (stale)" grep -q "^$D2 .* stale$" "$WORK/res.off"
stop_pid "$PG_PID"
sed -i "s|^default_registry.*|default_registry = \"edge\"; cache_dir = \"$PG_CACHE\";|" "$WORK/pg.conf"
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" --registry local acme/tool:v1 > "$WORK/res.nodaemon"
check "no daemon, no uplink: resolve reads the cache" grep -q "^$D2 .* cache$" "$WORK/res.nodaemon"
"$PULLGATE" resolve -c "$WORK/pg.conf" --listen "$PG" acme/never:v1 > "$WORK/res.never" 2>&1
rc=$?
check "no daemon, no uplink: an image never cached fails (exit $rc), naming the cache" \
    sh -c "[ $rc = 1 ] && grep -q 'acme/never:v1: not in the cache of $PG_CACHE' '$WORK/res.never'"

# offline = true never touches the network.
start_registry up2
push_image "$WORK/img3" v1 "127.0.0.1:$REG_PORT/acme/never:v1"
sed "s|http://$UP|http://127.0.0.1:$REG_PORT|; s|^breaker_seconds.*|offline = true;|" "$WORK/pg.conf" > "$WORK/pg-off.conf"
PG_CACHE_FIXED=$PG_CACHE start_pullgate off -c "$WORK/pg-off.conf"
reg0=$(grep -c 'GET /v2/acme/never/manifests' "$REG_LOG")
PG=127.0.0.1:$PG_PORT
check "offline = true: cached images still pull" skopeo_pull acme/app:v1
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$PG/v2/acme/never/manifests/v1")
check "offline = true: an uncached image is not fetched ($code)" test "$code" = 502
check "offline = true: the upstream saw no request" test "$(grep -c 'GET /v2/acme/never/manifests' "$REG_LOG")" = "$reg0"
check "daemon logs have no sanitizer report" sanitizer_clean "$PG_LOG"
finish
