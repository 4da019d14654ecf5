#!/usr/bin/env python3
"""Writes one Debian suite's index set for the feed tests:

    mksuite.py ROOT SUITE GENERATION [--kib N]

ROOT/dists/SUITE/{main,contrib}/binary-{amd64,all}/Packages (about N KiB
of stanzas whose text depends on GENERATION) and Packages.gz, then
ROOT/dists/SUITE/InRelease listing them in its SHA256 section (unsigned:
pullgate reads the hashes, not the signature). Every file is written to
a temporary name and renamed, the InRelease last, and all get the same
modification time derived from GENERATION, so each generation has its
own ETag and Last-Modified even within one second.
"""
import argparse
import gzip
import hashlib
import os
import random

COMPONENTS = ("main", "contrib")
ARCHES = ("amd64", "all")


def put(path, data, mtime):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.utime(tmp, (mtime, mtime))
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("suite")
    ap.add_argument("generation", type=int)
    ap.add_argument("--kib", type=int, default=64)
    a = ap.parse_args()

    mtime = 1600000000 + a.generation * 100
    suite = os.path.join(a.root, "dists", a.suite)
    rnd = random.Random("%s/%d" % (a.suite, a.generation))
    listed = []
    for comp in COMPONENTS:
        for arch in ARCHES:
            rel = "%s/binary-%s" % (comp, arch)
            os.makedirs(os.path.join(suite, rel), exist_ok=True)
            out, n = [], 0
            while sum(len(s) for s in out) < a.kib * 1024:
                text = "%032x" % rnd.getrandbits(128)
                out.append(
                    "Package: pkg-%s-%d\nVersion: %d.%d\nArchitecture: %s\n"
                    "Filename: pool/%s/pkg-%d_%d_%s.deb\nSize: %d\n"
                    "SHA256: %s\nDescription: %s generation %d\n\n" % (
                        comp, n, a.generation, n, arch, comp, n,
                        a.generation, arch, rnd.randrange(1000, 99999),
                        hashlib.sha256(text.encode()).hexdigest(), text,
                        a.generation))
                n += 1
            plain = "".join(out).encode()
            for name, data in (("Packages", plain),
                               ("Packages.gz", gzip.compress(plain, mtime=0))):
                put(os.path.join(suite, rel, name), data, mtime)
                listed.append((hashlib.sha256(data).hexdigest(), len(data),
                               rel + "/" + name))
    release = ["Origin: pullgate-tests", "Suite: %s" % a.suite,
               "Codename: %s" % a.suite, "Generation: %d" % a.generation,
               "Components: %s" % " ".join(COMPONENTS),
               "Architectures: amd64 all", "SHA256:"]
    release += [" %s %d %s" % entry for entry in listed]
    put(os.path.join(suite, "InRelease"), ("\n".join(release) + "\n").encode(),
        mtime)


if __name__ == "__main__":
    main()
