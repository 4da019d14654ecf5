#!/usr/bin/python3
"""Latency probe for the bench: what a health checker sees.

probe.py latency URL --stop FILE [--max-seconds S] [--interval S]
    GETs URL on a new connection, again and again, until FILE exists (or
    S seconds passed), then prints "samples p50_ms p99_ms max_ms errors".
probe.py up URL [--max-seconds S]
    Polls URL every 2 ms until it answers 200; prints the wall-clock time
    (time.time()) of that first answer, or "timeout".
"""
import argparse
import http.client
import math
import os
import sys
import time
import urllib.parse


def get(u, timeout):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", u.path or "/")
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def pct(v, p):
    return v[max(0, math.ceil(p * len(v)) - 1)]


def latency(a, u):
    lat, errors = [], 0
    end = time.monotonic() + a.max_seconds
    while not os.path.exists(a.stop) and time.monotonic() < end:
        t0 = time.monotonic()
        try:
            ok = get(u, 60) == 200
        except OSError:
            ok = False
        lat.append((time.monotonic() - t0) * 1000)
        errors += not ok
        time.sleep(a.interval)
    lat.sort()
    if not lat:
        print("0 0 0 0 0")
        return
    print("%d %.1f %.1f %.1f %d" % (len(lat), pct(lat, 0.5), pct(lat, 0.99),
                                    lat[-1], errors))


def up(a, u):
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        try:
            if get(u, 1) == 200:
                print("%.6f" % time.time())
                return
        except OSError:
            pass
        time.sleep(0.002)
    print("timeout")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["latency", "up"])
    ap.add_argument("url")
    ap.add_argument("--stop")
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--interval", type=float, default=0.005)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    if a.mode == "latency":
        if not a.stop:
            sys.exit("probe.py latency: --stop FILE is required")
        latency(a, u)
    else:
        up(a, u)


if __name__ == "__main__":
    main()
