#!/bin/bash
# pullgate cert show|csr, with the crypto backend of this build.
. "$(dirname "$0")/../lib.sh"

PKI=$WORK/pki
sh "$TOP/certs/mkpki.sh" "$PKI"
"$PULLGATE" --version > "$WORK/version"

"$PULLGATE" cert show --cert "$PKI/device.pem" --key "$PKI/device.key" > "$WORK/show.txt"
check "cert show: a valid PEM certificate with its key exits 0" test $? = 0
check "cert show: subject" grep -q "^subject: *O=Acme, CN=device-0001" "$WORK/show.txt"
check "cert show: issuer" grep -q "^issuer: *O=pullgate test, CN=test CA" "$WORK/show.txt"
want_fp=$(openssl x509 -in "$PKI/device.pem" -outform DER | sha256sum | cut -d' ' -f1)
check "cert show: the SHA-256 fingerprint of the DER" grep -q "^sha256: *$want_fp" "$WORK/show.txt"
want_serial=$(openssl x509 -in "$PKI/device.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
check "cert show: the serial" grep -q "^serial: *0*$want_serial" "$WORK/show.txt"
want_end=$(date -u -d "$(openssl x509 -in "$PKI/device.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
check "cert show: not after" grep -q "^not after: *$want_end" "$WORK/show.txt"

check "cert show: the subject's fields, one a line, the old line kept" sh -c \
    "grep -q '^  O: *Acme\$' '$WORK/show.txt' && grep -q '^  CN: *device-0001\$' '$WORK/show.txt' &&
    [ \"\$(grep -n '^  CN:' '$WORK/show.txt' | cut -d: -f1)\" -gt \"\$(grep -n '^  O:' '$WORK/show.txt' | cut -d: -f1)\" ]"

# A subject of many fields: repeated OU, a comma in a value, UTF-8, an
# attribute with no short name; the same fields from either backend.
openssl req -x509 -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/rich.key" -out "$WORK/rich.pem" -days 30 -subj \
    "/C=DE/L=München/O=Acme GmbH, Plant 4/OU=Line 4/OU=Gateways/CN=device-0042/emailAddress=ops@acme.example/serialNumber=X1/2.5.4.97=VATDE-1" \
    2> /dev/null
"$PULLGATE" cert show --cert "$WORK/rich.pem" --key "$WORK/rich.key" > "$WORK/rich.txt"
sed -n 's/^  \([^ ]*:\) *\(.*\)/\1\2/p' "$WORK/rich.txt" > "$WORK/rich.fields"
printf '%s\n' "C:DE" "L:München" "O:Acme GmbH, Plant 4" "OU:Line 4" "OU:Gateways" \
    "CN:device-0042" "emailAddress:ops@acme.example" "serialNumber:X1" \
    "2.5.4.97:VATDE-1" > "$WORK/rich.want"
check "cert show: every subject field, in order, named alike by both backends" \
    cmp -s "$WORK/rich.fields" "$WORK/rich.want"
"$PULLGATE" cert show --cert "$WORK/rich.pem" --key "$WORK/rich.key" --json > "$WORK/rich.json"
check "cert show --json: subject_fields, the same" sh -c "$PY -c '
import json,sys
f=json.load(open(\"$WORK/rich.json\"))[\"subject_fields\"]
want=[l.rstrip(\"\\n\").split(\":\",1) for l in open(\"$WORK/rich.want\", encoding=\"utf-8\")]
want=[(\"2.5.4.97\", \"VATDE-1\") if w[0]==\"2.5.4.97\" else tuple(w) for w in want]
sys.exit(0 if [(x[\"type\"],x[\"value\"]) for x in f]==want else 1)'"
for other in "$TOP/build/openssl/pullgate" "$TOP/build/mbedtls/pullgate"; do
	[ -x "$other" ] && [ "$other" != "$PULLGATE" ] || continue
	"$other" cert show --cert "$WORK/rich.pem" --key "$WORK/rich.key" --json |
	    $PY -c 'import json,sys; print(json.load(sys.stdin).get("subject_fields"))' > "$WORK/o.f"
	$PY -c 'import json,sys; print(json.load(sys.stdin).get("subject_fields"))' < "$WORK/rich.json" > "$WORK/m.f"
	check "cert show: the same subject fields as the $(basename "$(dirname "$other")") build" \
	    cmp -s "$WORK/o.f" "$WORK/m.f"
done

"$PULLGATE" cert show --cert "$PKI/device.der" --key "$PKI/device.key.der" --json > "$WORK/show.json"
check "cert show: DER certificate and key, as JSON" sh -c "$PY -c '
import json,sys
j=json.load(open(\"$WORK/show.json\"))
sys.exit(0 if j[\"format\"]==\"der\" and j[\"usable\"] and j[\"fingerprint_sha256\"]==\"$want_fp\" else 1)'"

"$PULLGATE" cert show --cert "$PKI/device.pem" --key "$PKI/other.key" > "$WORK/mis.txt" 2>&1
rc=$?
check "cert show: a key of another certificate exits 1" test $rc = 1
check "cert show: ...and says so" grep -q "does not belong to the certificate" "$WORK/mis.txt"
"$PULLGATE" cert show --cert "$PKI/expired.pem" --key "$PKI/expired.key" > "$WORK/exp.txt" 2>&1
rc=$?
check "cert show: an expired certificate exits 1 with its end date" \
    sh -c "[ $rc = 1 ] && grep -q 'expired on 2021-01-01T00:00:00Z' '$WORK/exp.txt'"
echo "not a certificate" > "$WORK/junk.pem"
"$PULLGATE" cert show --cert "$WORK/junk.pem" > "$WORK/junk.txt" 2>&1
check "cert show: a file that is no certificate is a clear error" grep -q "not a PEM or DER certificate" "$WORK/junk.txt"

"$PULLGATE" cert csr --key "$WORK/new.key" --subject "CN=device-0042,O=Acme" > "$WORK/new.csr"
check "cert csr: a CSR that verifies" sh -c "openssl req -in '$WORK/new.csr' -verify -noout 2>/dev/null"
check "cert csr: the subject" sh -c "openssl req -in '$WORK/new.csr' -noout -subject | grep -q 'CN *= *device-0042, O *= *Acme'"
check "cert csr: an EC P-256 key" sh -c "openssl pkey -in '$WORK/new.key' -noout -text | grep -q 'prime256v1\|P-256'"
check "cert csr: the key file is mode 0600" test "$(stat -c %a "$WORK/new.key")" = 600
k1=$(sha256sum < "$WORK/new.key")
"$PULLGATE" cert csr --key "$WORK/new.key" --subject "CN=device-0042" --out "$WORK/again.csr"
check "cert csr: an existing key is reused, not replaced" test "$(sha256sum < "$WORK/new.key")" = "$k1"
check "cert csr: ...and signs the new CSR" sh -c "[ \"\$(openssl req -in '$WORK/again.csr' -noout -pubkey)\" = \"\$(openssl pkey -in '$WORK/new.key' -pubout)\" ]"
finish
