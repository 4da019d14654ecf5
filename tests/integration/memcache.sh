#!/bin/bash
# Manifests and tags from memory (issue 14, item 1): repeated manifest
# GETs and HEADs open no file (strace on the daemon, and the memory cache
# counters); a tag another process moves (import) or removes (cache rm)
# is seen at once; the memory budget bounds what is kept (evictions).
. "$(dirname "$0")/../lib.sh"
only_variants openssl-address

start_registry up
UP=127.0.0.1:$REG_PORT
ACC='Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'
$PY "$TOOLS/mkimage.py" "$WORK/a" --tag v1 --layers 1 --size 1000 --seed a > /dev/null
$PY "$TOOLS/mkimage.py" "$WORK/b" --tag v1 --layers 1 --size 1000 --seed b > /dev/null
push_image "$WORK/a" v1 "$UP/acme/app:v1"
digest_of() { sed -n 's/.*"digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$1/index.json" | head -1; }
DA=$(digest_of "$WORK/a")
DB=$(digest_of "$WORK/b")
cat > "$WORK/pg.conf" <<CONF
tag_ttl = 3600;
registries = ( { id = 3; name = "up"; url = "http://$UP"; } );
default_registry = "up";
CONF
start_pullgate m -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
# tag_digest: the Docker-Content-Digest the daemon answers for acme/app:v1.
tag_digest() {
	curl -s -o /dev/null -D - -H "$ACC" "http://$PG/v2/acme/app/manifests/v1" |
	    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}
check "the tag is fetched once through the daemon" test "$(tag_digest)" = "$DA"

# --- 1000 requests from memory: no file opened. ---------------------------
: > "$WORK/urls"
for i in $(seq 1 250); do
	echo "url = \"http://$PG/v2/acme/app/manifests/v1\"" >> "$WORK/urls"
	echo "url = \"http://$PG/v2/acme/app/manifests/$DA\"" >> "$WORK/urls"
done
curl -s -H "$ACC" -K "$WORK/urls" -o /dev/null > /dev/null	# warm
h0=$(metric pullgate_memory_cache_hits_total)
strace -f -qq -e trace=open,openat,openat2 -o "$WORK/strace.out" -p "$PG_PID" &
ST=$!
PIDS="$PIDS $ST"
i=0
while [ "$(awk '/TracerPid/ { print $2 }' /proc/$PG_PID/status)" = 0 ] && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
curl -s -H "$ACC" -K "$WORK/urls" -o /dev/null > /dev/null
curl -s -I -H "$ACC" -K "$WORK/urls" -o /dev/null > /dev/null
stop_pid "$ST"
h1=$(metric pullgate_memory_cache_hits_total)
opens=$(grep -c 'open' "$WORK/strace.out")
check "1000 manifest GETs and HEADs by tag and digest opened no file ($opens opens)" test "$opens" = 0
check "...and were memory cache hits ($((h1 - h0)) >= 1000)" test $((h1 - h0)) -ge 1000

# --- A tag moved by another process is seen at once. ----------------------
"$PULLGATE" import -c "$WORK/pg.conf" --cache "$PG_CACHE" --as acme/app:v1 "$WORK/b" > "$WORK/import.out" 2>&1
check "import moves acme/app:v1 in the store" test "$?" = 0
check "the daemon answers the moved tag at once, not its memory ($(tag_digest))" test "$(tag_digest)" = "$DB"
"$PULLGATE" cache rm -c "$WORK/pg.conf" --cache "$PG_CACHE" acme/app:v1 > "$WORK/rm.out" 2>&1
# The upstream still has a; a tag the cache no longer has goes upstream.
check "after cache rm the tag is asked of the upstream again ($(tag_digest))" test "$(tag_digest)" = "$DA"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$ACC" "http://$PG/v2/acme/app/manifests/$DB")
check "the imported manifest by digest is still answered ($code)" test "$code" = 200
check "the tag changes were seen through the watch" test "$(metric pullgate_memory_cache_flushes_total)" -ge 2

# --- ...also between two requests on one keep-alive connection. -----------
# The daemon reads no change notice per request (manifest.c): a command
# that finishes between two requests of one connection must still be seen
# by the second. ka.py prints one line per answer, on one connection.
cat > "$WORK/ka.py" <<'PYEOF'
import http.client, subprocess, sys
host, port, acc, pullgate, conf, cache, b, da, db = sys.argv[1:]
conn = http.client.HTTPConnection(host, int(port), timeout=30)
conn.connect()
conn.auto_open = 0	# a second connection would raise, not hide a stale answer
sock = conn.sock
def ask(method, ref):
	conn.request(method, "/v2/acme/app/manifests/" + ref, headers={"Accept": acc})
	r = conn.getresponse()
	r.read()
	return "%d %s" % (r.status, r.getheader("Docker-Content-Digest", "-"))
def run(*args):
	subprocess.run([pullgate] + list(args) + ["-c", conf, "--cache", cache],
	    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("tag", ask("GET", "v1"))
run("import", "--as", "acme/app:v1", b)
print("moved", ask("GET", "v1"))
print("digest", ask("HEAD", db))
run("cache", "rm", "acme/app:v1")
run("cache", "gc", "--grace", "0")
print("gone", ask("HEAD", db))
print("same", conn.sock is sock)
PYEOF
$PY "$WORK/ka.py" 127.0.0.1 "$PG_PORT" "${ACC#Accept: }" "$PULLGATE" "$WORK/pg.conf" \
    "$PG_CACHE" "$WORK/b" "$DA" "$DB" > "$WORK/ka.out" 2>&1
ka() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$WORK/ka.out"; }
check "keep-alive: the tag before the import ($(ka tag))" test "$(ka tag)" = "200 $DA"
check "keep-alive: the next request sees the tag import moved ($(ka moved))" test "$(ka moved)" = "200 $DB"
check "keep-alive: the imported manifest by digest, from memory ($(ka digest))" test "$(ka digest)" = "200 $DB"
check "keep-alive: after cache rm and gc it is gone, not answered from memory ($(ka gone))" test "$(ka gone)" = "404 -"
check "keep-alive: all on one connection ($(ka same))" test "$(ka same)" = True

# --- The budget bounds memory. --------------------------------------------
MAX=8192
sed -i "1i memory_cache_max_bytes = $MAX;" "$WORK/pg.conf"
stop_pid "$PG_PID"
start_pullgate m -c "$WORK/pg.conf"
PG=127.0.0.1:$PG_PORT
# 40 tags of one repository, put straight into the upstream.
IDX=$WORK/a/blobs/sha256/${DA#sha256:}
MT=$(sed -n 's/.*"mediaType": *"\([^"]*\)".*/\1/p' "$IDX" | head -1)
for i in $(seq 1 40); do
	curl -s -o /dev/null -X PUT -H "Content-Type: $MT" --data-binary "@$IDX" \
	    "http://$UP/v2/acme/app/manifests/t$i"
done
bad=0
for round in 1 2; do
	for i in $(seq 1 40); do
		d=$(curl -s -o /dev/null -D - -H "$ACC" "http://$PG/v2/acme/app/manifests/t$i" |
		    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }')
		[ "$d" = "$DA" ] || bad=$((bad + 1))
	done
done
check "40 tags answered right twice under a small memory budget ($bad wrong)" test "$bad" = 0
ev=$(metric pullgate_memory_cache_evictions_total)
bytes=$(metric pullgate_memory_cache_bytes)
check "the memory budget evicted ($ev evictions)" test "$ev" -gt 0
check "...and holds at most its budget ($bytes <= $MAX)" test "$bytes" -le "$MAX" -a "$bytes" -gt 0

finish
