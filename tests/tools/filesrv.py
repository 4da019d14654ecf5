#!/usr/bin/python3
"""A static file server for the tests that records what each request
carried: its Authorization header, and over TLS whether the client
offered a certificate. Optionally it wants Docker token flow tokens.

filesrv.py --port P --root DIR --log FILE [--host H]
           [--tls CERT KEY --client-ca CA]
           [--realm URL --service S --token-cert PEM [--relay URL]]

  --tls          HTTPS; with --client-ca the server asks for a client
                 certificate (optional) and records whether one came
  --realm        answer 401 with "WWW-Authenticate: Bearer realm=...,
                 service=..." unless the request carries a token that the
                 token server of --token-cert signed (RS256), unexpired
  --relay        GET /token is passed to this token server URL (query and
                 Authorization header as they came): a realm on the
                 server's own host

Each request is logged as one line:
  GET /path AUTH <header or -> TOKEN <ok|foreign|none> CERT <yes|no|->
"""
import argparse
import base64
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from testhttp import Server


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def token_verdict(auth, pubkey, service):
    """"ok" if auth is "Bearer <JWT signed by pubkey, for service, unexpired>",
    "none" if there is no bearer token, else "foreign"."""
    if not auth.startswith("Bearer "):
        return "none"
    parts = auth[7:].split(".")
    if len(parts) != 3:
        return "foreign"
    try:
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except Exception:
        return "foreign"
    with tempfile.NamedTemporaryFile() as f:
        f.write(sig)
        f.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pubkey,
                            "-signature", f.name],
                           input=(parts[0] + "." + parts[1]).encode(),
                           capture_output=True)
    if r.returncode != 0:
        return "foreign"
    if claims.get("aud") != service or claims.get("exp", 0) < time.time():
        return "foreign"
    return "ok"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def relay(self):
        o = self.server.opts
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        req = urllib.request.Request(o.relay + "?" + query)
        if self.headers.get("Authorization"):
            req.add_header("Authorization", self.headers["Authorization"])
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self, head):
        o = self.server.opts
        if o.relay and self.path.split("?", 1)[0] == "/token":
            self.relay()
            return
        auth = self.headers.get("Authorization", "")
        verdict = "none"
        if o.realm:
            verdict = token_verdict(auth, self.server.pubkey, o.service)
        cert = "-"
        if o.tls and o.client_ca:
            cert = "yes" if self.connection.getpeercert() else "no"
        with open(o.log, "a") as f:
            f.write("%s %s AUTH %s TOKEN %s CERT %s\n" % (
                self.command, self.path, auth or "-", verdict, cert))
        if o.realm and verdict != "ok":
            body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            self.send_response(401)
            self.send_header("WWW-Authenticate",
                             'Bearer realm="%s",service="%s"' % (o.realm, o.service))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        rel = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")
        path = os.path.realpath(os.path.join(o.root, rel))
        if not path.startswith(os.path.realpath(o.root) + "/") or \
                not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca")
    ap.add_argument("--realm", default="")
    ap.add_argument("--service", default="test-registry")
    ap.add_argument("--token-cert")
    ap.add_argument("--relay", default="")
    opts = ap.parse_args()
    srv = Server((opts.host, opts.port), Handler)
    srv.opts = opts
    if opts.realm:
        pub = subprocess.run(["openssl", "x509", "-in", opts.token_cert,
                              "-noout", "-pubkey"], check=True,
                             capture_output=True).stdout
        srv.pubkey = opts.log + ".pub"
        with open(srv.pubkey, "wb") as f:
            f.write(pub)
    if opts.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.tls[0], opts.tls[1])
        if opts.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(opts.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
