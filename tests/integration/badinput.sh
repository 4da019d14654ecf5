#!/bin/bash
# Bad input: malformed requests, traversal attempts, invalid names and
# digests, oversized headers. Always a 4xx (OCI error body where the
# request got that far), never a crash, never a file outside the cache.
. "$(dirname "$0")/../lib.sh"

start_fake good
start_pullgate bad --upstream "http://127.0.0.1:$FAKE_PORT"
PG=127.0.0.1:$PG_PORT

# status PATH: the HTTP status of a GET of PATH sent exactly as written.
status() {
	curl -s --path-as-is -o "$WORK/body" -w '%{http_code}' "http://$PG$1"
}
# expect_oci NAME CODE STATUS PATH
expect_oci() {
	st=$(status "$4")
	if [ "$st" = "$3" ] && grep -q "\"code\":\"$2\"" "$WORK/body"; then
		ok "$1 ($st $2)"
	else
		fail "$1 (got $st: $(head -c 200 "$WORK/body"))"
	fi
}

Z64=$(printf '0%.0s' $(seq 64))
expect_oci "dot-dot in the name" NAME_INVALID 400 "/v2/../../etc/passwd/manifests/latest"
expect_oci "encoded dot-dot in the name" NAME_INVALID 400 "/v2/a/%2e%2e/%2e%2e/b/manifests/latest"
expect_oci "uppercase in the name" NAME_INVALID 400 "/v2/Acme/App/manifests/latest"
expect_oci "illegal character in the name" NAME_INVALID 400 "/v2/acme/a\$pp/manifests/latest"
expect_oci "NUL in the name" NAME_INVALID 400 "/v2/acme/a%00pp/manifests/latest"
expect_oci "empty component" NAME_INVALID 400 "/v2/acme//app/manifests/latest"
expect_oci "dot-dot before the reference" NAME_UNKNOWN 404 "/v2/acme/app/manifests/../x"
expect_oci "invalid tag" TAG_INVALID 400 "/v2/acme/app/manifests/.hidden"
expect_oci "over-long tag" TAG_INVALID 400 "/v2/acme/app/manifests/$(printf 'a%.0s' $(seq 200))"
expect_oci "blob digest with encoded traversal" NAME_UNKNOWN 404 "/v2/acme/app/blobs/sha256:..%2f..%2f..%2fetc%2fpasswd"
expect_oci "blob digest of the wrong length" DIGEST_INVALID 400 "/v2/acme/app/blobs/sha256:abc"
expect_oci "blob digest in uppercase hex" DIGEST_INVALID 400 "/v2/acme/app/blobs/sha256:$(printf 'A%.0s' $(seq 64))"
expect_oci "unsupported digest algorithm" DIGEST_INVALID 400 "/v2/acme/app/blobs/md5:$Z64"
expect_oci "manifest digest invalid" DIGEST_INVALID 400 "/v2/acme/app/manifests/sha256:xyz"
expect_oci "unknown API path" NAME_UNKNOWN 404 "/v2/acme/app/whatever/x"
expect_oci "name too long" NAME_INVALID 400 "/v2/$(printf 'a%.0s' $(seq 300))/manifests/latest"
expect_oci "bad n in tags/list" PAGINATION_NUMBER_INVALID 400 "/v2/acme/app/tags/list?n=-1"

# Oversized headers: refused by evhttp's limit, daemon unaffected.
big=$(head -c 40000 /dev/zero | tr '\0' 'a')
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://$PG/v2/")
check "oversized header refused with a 4xx ($st)" test "${st:0:1}" = 4

# Malformed request lines.
for req in 'GARBAGE\r\n\r\n' 'GET\r\n\r\n' 'GET /v2/ HTTP/9.9\r\n\r\n' \
    'GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' \
    '\x00\x01\x02\x03\r\n\r\n' 'GET http://evil.example/v2/ HTTP/1.1\r\n\r\n'; do
	line=$(printf "$req" | $PY "$TOOLS/rawhttp.py" "$PG_PORT" | head -1)
	case "$line" in
	"HTTP/1."[01]" 4"*|NONE) ok "malformed request '$req' -> ${line:0:30}" ;;
	*) fail "malformed request '$req' -> $line" ;;
	esac
done

# Log injection: what a client sends reaches the log as one line.
code=$(curl -s -o /dev/null -w '%{http_code}' \
    "http://$PG/v2/x/manifests/v1?ns=evil%0d%0a2000-01-01T00:00:00Z%20pullgate%5berror%5d%20forged%1b%5b2J")
check "log injection: the request is refused ($code)" test "$code" = 403
check "log injection: no forged line and no terminal escape in the log" \
    sh -c "! grep -q '^2000-01-01T00:00:00Z' '$PG_LOG' && ! grep -q \"\$(printf '\\033')\" '$PG_LOG'"

check "daemon still answers after all of it" curl -sf -o /dev/null "http://$PG/v2/"
check "nothing was written outside the cache's own directories" \
    test -z "$(find "$PG_CACHE" -mindepth 1 -maxdepth 1 ! -name blobs ! -name manifests ! -name repos ! -name tmp ! -name quarantine ! -name partial ! -name pins \
    ! \( -name control.sock -type s \))"
check "no upstream request was made for any of it" test "$(grep -vc 'GET /v2/$' "$FAKE_LOG")" = 0
check "daemon log has no sanitizer report" sanitizer_clean "$PG_LOG"
finish
