#!/usr/bin/python3
"""Fills a cache directory with many small verified blobs for the bench.

mkblobs.py CACHE_DIR [--count N] [--min BYTES] [--max BYTES] [--seed S]

Writes N blobs of random bytes under CACHE_DIR/blobs/sha256/<2 hex>/<64 hex>,
each named by its SHA-256 (the layout described at the top of
proxy/cache.c), and prints their total size in bytes.
"""
import argparse
import hashlib
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--min", type=int, default=64)
    ap.add_argument("--max", type=int, default=2048)
    ap.add_argument("--seed", default="pullgate-blobs")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    top = os.path.join(a.dir, "blobs", "sha256")
    for i in range(256):
        os.makedirs(os.path.join(top, "%02x" % i), exist_ok=True)
    total = 0
    for _ in range(a.count):
        data = rng.randbytes(rng.randint(a.min, a.max))
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(top, h[:2], h), "wb") as f:
            f.write(data)
        total += len(data)
    print(total)


if __name__ == "__main__":
    main()
