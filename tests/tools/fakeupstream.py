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
  --answer-delay S wait S seconds before answering (a slow upstream)
  --slow-404 SECONDS  wait that long before answering a 404
  --referrers      answer the referrers API (OCI 1.1): GET
                   /v2/<repo>/referrers/<digest> serves the file
                   referrers/<repo>/<hex> of the blobs directory, or an
                   empty index; without it, 404 as distribution 2.8 does
  --referrers-page N  that listing N descriptors a page (?page=K), with
                   Link: <...?page=K+1>; rel="next" while more remain
  --cut F,F,...    cut the connection (after flushing) when a blob's body
                   reaches each fraction F of its size, once per point and
                   blob: resumes (a mock, since docker-registry cannot be
                   made to cut a connection)
  --no-range       ignore Range: always the whole blob with a 200
  --range-once     honour only a blob's first Range request; later ones
                   get the whole blob with a 200
  --change etag|data  after a blob's first cut its content changes (one
                   byte flipped at 95%): with a new ETag (If-Range then
                   gets the whole new body), or under the same ETag
Blobs honour "Range: bytes=N-" (206 with Content-Range) and If-Range
(their strong ETag is the quoted digest hex, Last-Modified fixed).
Each request's Authorization and Range headers, if any, are logged after
the path; after each blob body a line "SENT <path> <status> <first byte>
<bytes sent>" says what went out.

Manifests: files in the blobs directory are also manifests by digest
(Content-Type from their mediaType), and a file tags/<repo path>/<tag>
holding a digest makes that tag. GET /_fake/stats (not logged) answers
{"max": most requests in progress at once, "now": in progress}.

Hostile upstreams, chosen by a repository's first component, whatever
--mode says:
  stall/...        headers with a Content-Length, then no byte, ever
  endless/...      a status line, then header lines without end
  loop/...         a redirect to itself, forever
  wrongdigest/...  a manifest by digest answers another valid manifest
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time

from testhttp import Server, reply_json

BLOB = re.compile(r"^/v2/(.+)/blobs/sha256:([0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/(.+)/manifests/([^/]+)$")
REFERRERS = re.compile(r"^/v2/(.+)/referrers/sha256:([0-9a-f]{64})$")
EMPTY_INDEX = (b'{"schemaVersion":2,"mediaType":'
               b'"application/vnd.oci.image.index.v1+json","manifests":[]}')
LOCK = threading.Lock()
STATS = {"now": 0, "max": 0}
CUTS = {}       # blob hex -> cut offsets not yet used
CHANGED = set()  # blob hex whose content changed (--change)
RANGED = set()  # blob hex that had its Range request (--range-once)
LAST_MODIFIED = "Mon, 02 Jan 2023 00:00:00 GMT"


def busy(n):
    with LOCK:
        STATS["now"] += n
        STATS["max"] = max(STATS["max"], STATS["now"])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        auth = self.headers.get("Authorization")
        rng = self.headers.get("Range")
        ifr = self.headers.get("If-Range")
        with open(self.server.opts.log, "a") as f:
            f.write("%s %s%s%s%s\n" % (self.command, self.path,
                                     " AUTH " + auth if auth else "",
                                     " RANGE " + rng if rng else "",
                                     " IFRANGE " + ifr if ifr else ""))

    def sent(self, status, first, n):
        with open(self.server.opts.log, "a") as f:
            f.write("SENT %s %d %d %d\n" % (self.path, status, first, n))

    def blob_range(self, hexd, size):
        """The first byte to send, from Range and If-Range (0: all)."""
        o = self.server.opts
        rng = self.headers.get("Range")
        m = re.match(r"^bytes=(\d+)-$", rng or "")
        if o.no_range or not m:
            return 0
        if o.range_once:
            with LOCK:
                if hexd in RANGED:
                    return 0
                RANGED.add(hexd)
        ifr = self.headers.get("If-Range")
        if ifr is not None and ifr not in (self.etag(hexd), LAST_MODIFIED):
            return 0
        first = int(m.group(1))
        return first if first < size else -1

    def etag(self, hexd):
        changed = hexd in CHANGED and self.server.opts.change == "etag"
        return '"%s%s"' % (hexd, "-2" if changed else "")

    def do_HEAD(self):
        self.counted(head=True)

    def do_GET(self):
        if self.path == "/_fake/stats":
            with LOCK:
                reply_json(self, 200, dict(STATS))
            return
        self.counted(head=False)

    def counted(self, head):
        busy(1)
        try:
            self.handle_any(head)
        finally:
            busy(-1)

    def hostile(self, kind, path):
        """The misbehaviours; True when one answered."""
        if kind == "stall":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            time.sleep(120)
            self.close_connection = True
            return True
        if kind == "endless":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            line = b"X-Endless: " + b"a" * 1000 + b"\r\n"
            try:
                for _ in range(1000000):      # 1 GB at most
                    self.wfile.write(line)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return True
        if kind == "loop":
            self.send_response(302)
            self.send_header("Location", path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def manifest(self, repo, ref, head, wrong):
        """A manifest by digest (a file of the blobs directory) or tag."""
        o = self.server.opts
        if not ref.startswith("sha256:"):
            t = os.path.join(o.blobs, "tags", repo, ref)
            if not os.path.exists(t):
                return False
            ref = open(t).read().strip()
        f = os.path.join(o.blobs, ref[len("sha256:"):])
        if not os.path.exists(f):
            return False
        data = open(f, "rb").read()
        if wrong:   # another manifest, valid, announced as what it is
            data = json.dumps(dict(json.loads(data), annotations={
                "wrong": "yes"})).encode()
        mt = json.loads(data).get("mediaType",
                                  "application/vnd.oci.image.manifest.v1+json")
        self.send_response(200)
        self.send_header("Content-Type", mt)
        self.send_header("Docker-Content-Digest",
                         "sha256:" + hashlib.sha256(data).hexdigest())
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return True

    def referrers(self, repo, hexdigest, head):
        """The referrers API: the listing file, or an empty index."""
        o = self.server.opts
        f = os.path.join(o.blobs, "referrers", repo, hexdigest)
        data = open(f, "rb").read() if os.path.exists(f) else EMPTY_INDEX
        link = None
        if o.referrers_page:
            m = re.search(r"[?&]page=([0-9]+)", self.path)
            k = int(m.group(1)) if m else 0
            index = json.loads(data)
            every = index["manifests"]
            n = o.referrers_page
            index["manifests"] = every[k * n:(k + 1) * n]
            data = json.dumps(index).encode()
            if (k + 1) * n < len(every):
                link = '<%s?page=%d>; rel="next"' % (
                    self.path.split("?", 1)[0], k + 1)
        self.send_response(200)
        if link:
            self.send_header("Link", link)
        self.send_header("Content-Type",
                         "application/vnd.oci.image.index.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def handle_any(self, head):
        self.record()
        o = self.server.opts
        path = self.path.split("?", 1)[0]
        if o.bearer and self.headers.get("Authorization") != "Bearer " + o.bearer:
            reply_json(self, 401, {"errors": [{"code": "UNAUTHORIZED",
                                               "message": "key"}]}, head)
            return
        if o.answer_delay and path != "/v2/":
            time.sleep(o.answer_delay)
        kind = path.split("/")[2] if path.count("/") > 2 else ""
        if self.hostile(kind, path):
            return
        m = REFERRERS.match(path)
        if m and o.referrers:
            self.referrers(m.group(1), m.group(2), head)
            return
        m = MANIFEST.match(path)
        if m and self.manifest(m.group(1), m.group(2), head,
                               kind == "wrongdigest"):
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
        hexd = m.group(2)
        if o.mode == "lie" and data:
            data[len(data) // 2] ^= 0xFF
        if hexd in CHANGED and data:
            data[len(data) * 95 // 100] ^= 0xFF
        first = self.blob_range(hexd, len(data))
        if first < 0:
            reply_json(self, 416, {"errors": [{"code": "RANGE",
                                               "message": "range"}]}, head,
                       {"Content-Range": "bytes */%d" % len(data)})
            return
        status = 206 if first > 0 else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", self.etag(hexd))
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.send_header("Accept-Ranges", "bytes")
        if first > 0:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (
                first, len(data) - 1, len(data)))
        if o.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data) - first))
        self.end_headers()
        if head:
            return
        if o.cut:
            with LOCK:
                cuts = CUTS.setdefault(hexd, sorted(
                    int(float(x) * len(data)) for x in o.cut.split(",")))
                cut = next((c for c in cuts if c > first), None)
                if cut is not None:
                    cuts.remove(cut)
            if cut is not None:
                n = 0
                try:
                    for i in range(first, cut, o.chunk):
                        part = data[i:min(i + o.chunk, cut)]
                        self.wfile.write(part)
                        self.wfile.flush()
                        n += len(part)
                        if o.delay:
                            time.sleep(o.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.sent(status, first, n)
                if o.change:
                    CHANGED.add(hexd)
                self.close_connection = True
                return
        data = data[first:]
        if o.mode == "chunked":
            try:
                for i in range(0, len(data), o.chunk):
                    part = data[i:i + o.chunk]
                    self.wfile.write(b"%x\r\n" % len(part) + bytes(part) + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.sent(status, first, len(data))
            return
        end = len(data) // 2 if o.mode == "truncate" else len(data)
        n = 0
        try:
            for i in range(0, end, o.chunk):
                self.wfile.write(data[i:min(i + o.chunk, end)])
                self.wfile.flush()
                n += min(i + o.chunk, end) - i
                if o.delay:
                    time.sleep(o.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.sent(status, first, n)
            return
        self.sent(status, first, n)
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
    ap.add_argument("--answer-delay", type=float, default=0.0)
    ap.add_argument("--slow-404", type=float, default=0.0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--referrers", action="store_true")
    ap.add_argument("--referrers-page", type=int, default=0)
    ap.add_argument("--cut", default="")
    ap.add_argument("--no-range", action="store_true")
    ap.add_argument("--range-once", action="store_true")
    ap.add_argument("--change", default="", choices=["", "etag", "data"])
    opts = ap.parse_args()
    srv = Server((opts.host, opts.port), Handler)
    srv.opts = opts
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
