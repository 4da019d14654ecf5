#!/usr/bin/python3
"""A Docker token server for the tests (docker-registry's auth.token mode).

tokenserver.py --port P --key token.key --cert token.pem --log FILE
               [--ttl SECONDS] [--user NAME:PASSWORD]... [--service S]
               [--issuer I]

Repositories under "public/" may be pulled anonymously; everything else
needs one of the --user credentials (Basic auth). Push is granted to
authenticated users. Tokens are RS256 JWTs signed with `openssl dgst`;
the kid is the registry's key id of the certificate's public key. Every
token request is logged as a line "TOKEN <user or -> <scope>".
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import subprocess
import time
import urllib.parse

from testhttp import Server, reply_json


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(cert_path):
    der = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout",
                          "-pubkey"], check=True, capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                          input=der, check=True, capture_output=True).stdout
    b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        o = self.server.opts
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                cred = base64.b64decode(auth[6:]).decode()
            except Exception:
                cred = ""
            if cred not in o.user:
                with open(o.log, "a") as f:
                    f.write("REFUSED %s\n" % cred.split(":")[0])
                reply_json(self, 401, {"details": "wrong credentials"})
                return
            user = cred.split(":")[0]
        access = []
        for scope in q.get("scope", []):
            for s in scope.split(" "):
                parts = s.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                name, wanted = parts[1], parts[2].split(",")
                granted = []
                if "pull" in wanted and (user or name.startswith("public/")):
                    granted.append("pull")
                if user and "push" in wanted:
                    granted.append("push")
                if granted:
                    access.append({"type": "repository", "name": name,
                                   "actions": granted})
        with open(o.log, "a") as f:
            f.write("TOKEN %s %s\n" % (user or "-", " ".join(q.get("scope", []))))
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.server.kid}
        claims = {"iss": o.issuer, "sub": user or "", "aud": o.service,
                  "exp": now + o.ttl, "nbf": now - 5, "iat": now,
                  "jti": b64url(os.urandom(12)), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", o.key],
                             input=signing_input, check=True,
                             capture_output=True).stdout
        token = signing_input.decode() + "." + b64url(sig)
        reply_json(self, 200, {"token": token, "access_token": token,
                         "expires_in": o.ttl, "issued_at":
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--service", default="test-registry")
    ap.add_argument("--issuer", default="test-issuer")
    opts = ap.parse_args()
    srv = Server(("127.0.0.1", opts.port), Handler)
    srv.opts = opts
    srv.kid = key_id(opts.cert)
    srv.serve_forever()


if __name__ == "__main__":
    main()
