#!/usr/bin/python3
"""A small registry-like server for what docker-registry cannot do: lie,
trickle, or cut a body short. It serves blobs from a directory of files
named by their sha256 hex, and logs every request line to --log.

fakeupstream.py --port P --blobs DIR --log FILE [--mode good|lie|truncate]
                [--chunk BYTES] [--delay SECONDS]

  lie       same length, one byte flipped in the middle
  truncate  announces the full length, sends half, closes
  chunked   no Content-Length: the body in chunked transfer coding
  --delay   pause after each chunk (a slow upstream)
  --bearer KEY     answer 401 unless "Authorization: Bearer KEY"
  --redirect BASE  answer blob requests with a 302 to BASE + path
  --slow-404 SECONDS  wait that long before answering a 404
Each request's Authorization header, if any, is logged after the path.
"""
import argparse
import http.server
import os
import re
import sys
import time

from testhttp import Server, reply_json

BLOB = re.compile(r"^/v2/(.+)/blobs/sha256:([0-9a-f]{64})$")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        auth = self.headers.get("Authorization")
        with open(self.server.opts.log, "a") as f:
            f.write("%s %s%s\n" % (self.command, self.path,
                                   " AUTH " + auth if auth else ""))

    def do_HEAD(self):
        self.handle_any(head=True)

    def do_GET(self):
        self.handle_any(head=False)

    def handle_any(self, head):
        self.record()
        o = self.server.opts
        path = self.path.split("?", 1)[0]
        if o.bearer and self.headers.get("Authorization") != "Bearer " + o.bearer:
            reply_json(self, 401, {"errors": [{"code": "UNAUTHORIZED",
                                               "message": "key"}]}, head)
            return
        if o.redirect and BLOB.match(path):
            self.send_response(302)
            self.send_header("Location", o.redirect + path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/v2/":
            reply_json(self, 200, {}, head)
            return
        m = BLOB.match(path)
        f = os.path.join(o.blobs, m.group(2)) if m else None
        if f is None or not os.path.exists(f):
            time.sleep(o.slow_404)
            reply_json(self, 404, {"errors": [{"code": "BLOB_UNKNOWN",
                                               "message": "unknown"}]}, head)
            return
        data = bytearray(open(f, "rb").read())
        if o.mode == "lie" and data:
            data[len(data) // 2] ^= 0xFF
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if o.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if head:
            return
        if o.mode == "chunked":
            try:
                for i in range(0, len(data), o.chunk):
                    part = data[i:i + o.chunk]
                    self.wfile.write(b"%x\r\n" % len(part) + bytes(part) + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        end = len(data) // 2 if o.mode == "truncate" else len(data)
        try:
            for i in range(0, end, o.chunk):
                self.wfile.write(data[i:min(i + o.chunk, end)])
                self.wfile.flush()
                if o.delay:
                    time.sleep(o.delay)
        except (BrokenPipeError, ConnectionResetError):
            return
        if o.mode == "truncate":
            self.close_connection = True




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--blobs", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", default="good", choices=["good", "lie", "truncate", "chunked"])
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--bearer", default="")
    ap.add_argument("--redirect", default="")
    ap.add_argument("--slow-404", type=float, default=0.0)
    ap.add_argument("--host", default="127.0.0.1")
    opts = ap.parse_args()
    srv = Server((opts.host, opts.port), Handler)
    srv.opts = opts
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
