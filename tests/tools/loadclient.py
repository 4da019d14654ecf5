#!/usr/bin/python3
"""Many clients at once: one thread and one connection per URL, all
released together, each a GET. Prints one line: how many answers had each
status, and how many 200 bodies did not hash to the digest their URL names.

loadclient.py [--header 'Name: value']... [--timeout S] URL... | -f FILE
"""
import argparse
import hashlib
import http.client
import re
import sys
import threading
import urllib.parse

DIGEST = re.compile(r"sha256:([0-9a-f]{64})$")


def fetch(url, headers, timeout, barrier, out, i):
    u = urllib.parse.urlsplit(url)
    try:
        barrier.wait()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        c.request("GET", u.path + ("?" + u.query if u.query else ""),
                  headers=headers)
        r = c.getresponse()
        body = r.read()
        c.close()
        status = r.status
    except Exception:       # a client that got no answer is a result too
        out[i] = ("error", True)
        return
    m = DIGEST.search(u.path)
    ok = status != 200 or m is None or \
        hashlib.sha256(body).hexdigest() == m.group(1)
    out[i] = (str(status), ok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="*")
    ap.add_argument("-f", dest="file")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    urls = list(a.urls)
    if a.file:
        urls += [l.strip() for l in open(a.file) if l.strip()]
    headers = dict(h.split(": ", 1) for h in a.header)
    barrier = threading.Barrier(len(urls))
    out = [None] * len(urls)
    threads = [threading.Thread(target=fetch, args=(u, headers, a.timeout,
                                                    barrier, out, i))
               for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    bad = 0
    for status, ok in out:
        counts[status] = counts.get(status, 0) + 1
        bad += 0 if ok else 1
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())) +
          " bad_digest=%d" % bad)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
