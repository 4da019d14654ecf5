#!/usr/bin/python3
"""Writes an unsigned Debian repository the size of Debian's main for the bench.

mkfeed.py DIR [--suite S] [--stanzas N] [--debs M] [--seed S]

DIR/dists/<suite>/main/binary-amd64/ gets Packages, Packages.gz and
Packages.xz (each also under by-hash/SHA256/<hex>, as Acquire-By-Hash
repositories have them) with N stanzas in Debian's field order; M of them,
spread over the sorted index, are real small .deb files written under
DIR/pool/main/; the rest name files that do not exist. DIR/dists/<suite>/
Release lists the indexes with their sizes and hashes. Deterministic for a
seed. Prints the pool paths of the real packages, one a line.
"""
import argparse
import gzip
import hashlib
import io
import lzma
import os
import random
import shutil
import tarfile

SYLLABLES = ["ab", "ac", "al", "an", "ar", "ba", "be", "ca", "co", "da", "de",
             "el", "en", "er", "fa", "fi", "ga", "ge", "ha", "in", "io", "ka",
             "la", "le", "li", "lo", "ma", "mi", "mo", "na", "ne", "no", "or",
             "pa", "pe", "pi", "po", "qu", "ra", "re", "ri", "ro", "sa", "se",
             "si", "so", "ta", "te", "ti", "to", "ul", "un", "va", "vi", "xa",
             "ze", "zo"]
SECTIONS = ["libs", "utils", "devel", "python", "perl", "net", "admin", "text",
            "doc", "science", "x11", "graphics", "sound", "web", "misc",
            "libdevel", "java", "golang", "rust", "javascript"]
SUFFIXES = ["", "", "", "-dev", "-doc", "-common", "-data", "-bin", "-utils",
            "-dbgsym", "1", "2", "6", "-tools", "-plugins"]
PREFIXES = ["", "", "", "lib", "lib", "python3-", "golang-", "librust-",
            "node-", "libjs-", "r-cran-", "fonts-", "texlive-", "ruby-"]


def word(rng, n):
    return "".join(rng.choice(SYLLABLES) for _ in range(n))


def pool_dir(src):
    return src[:4] if src.startswith("lib") and len(src) > 3 else src[0]


def ar_member(name, data):
    head = "%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (name, 0, 0, 0, "100644", len(data))
    return head.encode() + data + (b"\n" if len(data) % 2 else b"")


def tar_gz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def make_deb(rng, p):
    """A real .deb: ar(debian-binary, control.tar.gz, data.tar.gz)."""
    control = ("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\n"
               "Installed-Size: %d\nSection: %s\nPriority: optional\n"
               "Description: %s\n" % (p["Package"], p["Version"],
                                      p["Architecture"], p["Maintainer"],
                                      p["Installed-Size"], p["Section"],
                                      p["Description"])).encode()
    payload = rng.randbytes(rng.randint(2000, 24000))
    return (b"!<arch>\n" + ar_member("debian-binary", b"2.0\n") +
            ar_member("control.tar.gz", tar_gz([("./control", control)])) +
            ar_member("data.tar.gz", tar_gz([("./usr/share/%s/data" % p["Package"],
                                                payload)])))


def make_names(rng, n):
    names = set()
    while len(names) < n:
        names.add(rng.choice(PREFIXES) + word(rng, rng.randint(2, 4)) +
                  rng.choice(SUFFIXES))
    return sorted(names)


def stanza(rng, name, names):
    src = name.split("-")[0].rstrip("0123456789") or name
    if src.startswith("python3"):
        src = "python-" + src[8:]
    ver = "%d.%d.%d-%d" % (rng.randint(0, 9), rng.randint(0, 30),
                           rng.randint(0, 20), rng.randint(1, 5))
    arch = "all" if rng.random() < 0.3 else "amd64"
    deps = ["libc6 (>= 2.%d)" % rng.randint(14, 36)]
    for _ in range(rng.randint(0, 5)):
        deps.append(rng.choice(names) + (" (>= %d.%d)" % (rng.randint(0, 9),
                                                          rng.randint(0, 9))
                                         if rng.random() < 0.5 else ""))
    p = {
        "Package": name,
        "Source": src,
        "Version": ver,
        "Installed-Size": rng.randint(10, 90000),
        "Maintainer": "%s Maintainers <%s@packages.debian.invalid>" % (
            src.capitalize(), src),
        "Architecture": arch,
        "Depends": ", ".join(deps),
        "Description": "%s %s for the %s framework" % (
            word(rng, 3), rng.choice(["library", "tool", "module", "data"]),
            word(rng, 2)),
        "Homepage": "https://%s.example.org/" % src,
        "Description-md5": "%032x" % rng.getrandbits(128),
        "Section": rng.choice(SECTIONS),
        "Priority": "optional",
        "Filename": "pool/main/%s/%s/%s_%s_%s.deb" % (pool_dir(src), src, name,
                                                      ver, arch),
        "Size": rng.randint(2000, 40000000),
        "MD5sum": "%032x" % rng.getrandbits(128),
        "SHA256": "%064x" % rng.getrandbits(256),
    }
    return p


def write_index(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "by-hash", "SHA256", h), "wb") as f:
        f.write(data)
    return h, hashlib.md5(data).hexdigest(), len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--suite", default="stable")
    ap.add_argument("--stanzas", type=int, default=60000)
    ap.add_argument("--debs", type=int, default=50)
    ap.add_argument("--seed", default="pullgate-feed")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    names = make_names(rng, a.stanzas)
    step = a.stanzas // max(a.debs, 1)
    real = set(step // 2 + i * step for i in range(a.debs))
    out, debs = [], []
    for i, name in enumerate(names):
        p = stanza(rng, name, names)
        if i in real:
            deb = make_deb(rng, p)
            path = os.path.join(a.dir, p["Filename"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(deb)
            p["Size"] = len(deb)
            p["MD5sum"] = hashlib.md5(deb).hexdigest()
            p["SHA256"] = hashlib.sha256(deb).hexdigest()
            debs.append(p["Filename"])
        out.append("".join("%s: %s\n" % kv for kv in p.items()) + "\n")
    text = "".join(out).encode()

    comp = "main/binary-amd64"
    d = os.path.join(a.dir, "dists", a.suite, comp)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "by-hash", "SHA256"))
    files = [("Packages", text),
             ("Packages.gz", gzip.compress(text, compresslevel=6, mtime=0)),
             ("Packages.xz", lzma.compress(text, preset=1))]
    listed = [(comp + "/" + n,) + write_index(d, n, data) for n, data in files]
    with open(os.path.join(a.dir, "dists", a.suite, "Release"), "w") as f:
        f.write("Origin: pullgate bench\nLabel: pullgate bench\n"
                "Suite: %s\nCodename: %s\nDate: Sat, 01 Jan 2000 00:00:00 UTC\n"
                "Acquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\n"
                "Description: a Debian-main-sized repository for make bench\n"
                % (a.suite, a.suite))
        f.write("MD5Sum:\n")
        for rel, _, md5, size in listed:
            f.write(" %s %16d %s\n" % (md5, size, rel))
        f.write("SHA256:\n")
        for rel, sha, _, size in listed:
            f.write(" %s %16d %s\n" % (sha, size, rel))
    print("\n".join(debs))


if __name__ == "__main__":
    main()
