#!/bin/sh
# Makes a test PKI in DIR (for the tests, and to try mTLS by hand):
#   ca.pem ca.key                 the registry's client CA
#   server.pem server.key         a TLS server certificate for 127.0.0.1
#   device.pem device.key         a device certificate from ca (PEM)
#   device.der device.key.der     the same in DER
#   expired.pem expired.key       a device certificate from ca, expired
#   other-ca.pem other.pem other.key   a device certificate from another CA
# Usage: certs/mkpki.sh DIR
set -eu
D=$1
mkdir -p "$D"
cd "$D"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.pem -days 30 -subj "/O=pullgate test/CN=test CA" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout other-ca.key -out other-ca.pem -days 30 -subj "/O=elsewhere/CN=other CA" 2>/dev/null

# sign NAME SUBJECT CA EXTFILE
sign() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
	    -CAcreateserial -days 30 -out "$1.pem" -extfile "$4" 2>/dev/null
	rm -f "$1.csr"
}
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
sign server "/CN=127.0.0.1" ca server.ext
sign device "/O=Acme/CN=device-0001" ca client.ext
sign other "/O=Acme/CN=device-0001" other-ca client.ext
openssl x509 -in device.pem -outform DER -out device.der
openssl pkey -in device.key -outform DER -out device.key.der

# An expired certificate: openssl ca can set the dates in the past.
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca-db/ca.cnf <<CNF
[ ca ]
default_ca = test
[ test ]
dir = ca-db
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
x509_extensions = ext
[ any ]
commonName = supplied
organizationName = optional
[ ext ]
extendedKeyUsage = clientAuth
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout expired.key -out expired.csr -subj "/O=Acme/CN=device-0001" 2>/dev/null
openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key \
    -startdate 20200101000000Z -enddate 20210101000000Z \
    -in expired.csr -out expired.pem -notext 2>/dev/null
rm -f expired.csr
chmod 600 ./*.key ./*.key.der
chmod 644 ./*.pem ./*.der
