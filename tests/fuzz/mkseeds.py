#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus, tests/fuzz/corpus/<target>/:
small realistic inputs (manifests, Packages in every compression, tar and
docker save archives, challenges, configurations). Regression inputs
(crash-*) are kept in the same directories by hand and never rewritten.

    python3 tests/fuzz/mkseeds.py
"""
import gzip, hashlib, io, json, lzma, os, struct, sys, tarfile

top = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(top, "corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sha(b):
    return hashlib.sha256(b).hexdigest()


H1 = sha(b"one")
H2 = sha(b"two")

# digest
put("digest", "valid", "sha256:" + H1)
put("digest", "upper", "sha256:" + H1.upper())
put("digest", "short", "sha256:" + H1[:63])
put("digest", "sha512", "sha512:" + H1 + H1)
put("digest", "raw32", hashlib.sha256(b"x").digest())

# reference
for i, r in enumerate(["library/alpine:3.20", "alpine", "acme/app@sha256:" + H1,
                       "ghcr.io/acme/app:v1.2.3-rc_1", "a__b/c--d/e.f:_x",
                       "acme/app:v1@sha256:" + H2, "../etc/passwd", "Acme/App",
                       "localhost:5000/x", "a" * 300]):
    put("reference", "ref%d" % i, r)

# range: 8 bytes of size (little-endian), then the header
for i, (size, h) in enumerate([(1000, "bytes=0-99"), (1000, "bytes=-500"),
                               (1000, "bytes=100-"), (1000, "bytes=1-2,3-4"),
                               (0, "bytes=0-"), (10, "bytes=10-20"),
                               (1 << 40, "bytes= 9223372036854775807-"),
                               (5, "bytes=-0")]):
    put("range", "range%d" % i, struct.pack("<Q", size) + h.encode())

# challenge
for i, c in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"',
        'Bearer realm="http://127.0.0.1:5001/auth", service=registry, scope="a:b:pull,push"',
        'bearer  realm="https://x/\\"quoted\\"",error="insufficient_scope"',
        'Basic realm="Registry"',
        'Bearer realm=https://ghcr.io/token,service=ghcr.io',
        'Bearer realm="ftp://x"']):
    put("challenge", "challenge%d" % i, c)

# token
for i, t in enumerate([
        {"token": "eyJhbGciOiJSUzI1NiJ9.e30.sig", "expires_in": 300,
         "issued_at": "2026-11-30T14:00:00Z"},
        {"access_token": "abc.def", "expires_in": 0},
        {"token": "", "access_token": "x" * 40, "expires_in": 99999999999},
        {"token": "has space"}, {"token": 5}]):
    put("token", "token%d" % i, json.dumps(t))
put("token", "notjson", "token=abc")

# dockercred: the first byte chooses (0 Docker Hub's config.json, 1 an
# entry on registry.acme.example:5000, 2 a helper's answer).
put("dockercred", "hub", b"\x00" + json.dumps({"auths": {
    "https://index.docker.io/v1/": {"auth": "Z3c6cGFzczp3b3Jk"}}}).encode())
put("dockercred", "acme", b"\x01" + json.dumps({"auths": {
    "other.example": {"auth": "eDp5"},
    "https://registry.acme.example:5000/v2/": {"username": "u",
                                              "password": "p"}},
    "credsStore": "desktop"}).encode())
put("dockercred", "identity", b"\x01" + json.dumps({"auths": {
    "registry.acme.example:5000": {"identitytoken": "t"}}}).encode())
put("dockercred", "answer", b"\x02" + json.dumps({
    "ServerURL": "registry.acme.example:5000", "Username": "AWS",
    "Secret": "eyJwYXlsb2FkIjoi"}).encode())
put("dockercred", "garbage", b"\x02<html>not JSON</html>")

# tags: n, length of last, last, then the answer
def tags(n, last, body):
    return bytes([n, len(last)]) + last.encode() + json.dumps(body).encode()

put("tags", "all", tags(255, "", {"name": "acme/app", "tags": ["v2", "v1", "latest"]}))
put("tags", "page", tags(2, "v1", {"name": "acme/app", "tags": ["v1", "v2", "v3", "v4"]}))
put("tags", "invalid", tags(0, "", {"name": "x", "tags": ["ok", "-bad", 5, None, "a/b"]}))
put("tags", "null", tags(1, "", {"name": "x", "tags": None}))

# apipath
for i, p in enumerate([
        "/v2/library/alpine/manifests/3.20?ns=docker.io",
        "/v2/acme/app/blobs/sha256:" + H1,
        "/v2/remote/library/alpine/tags/list?n=2&last=3.19",
        "/v2/acme/app/blobs/uploads/",
        "/v2/a%2Fb/manifests/x",
        "/v2/3/acme/app/referrers/sha256:" + H2,
        "/v2/local/acme/app/manifests/sha256:" + H1 + "?ns=ghcr.io",
        "/v2/acme/app/manifests/v1?ns=registry.acme.example%3A5000",
        "/v2/alpine/tags/list?n=abc",
        "/v2/..%2F..%2Fetc/manifests/x"]):
    put("apipath", "path%d" % i, p)

# feedpath
for i, p in enumerate([
        "http://deb.debian.org/debian/dists/bookworm/InRelease",
        "/feeds/debian/pool/main/h/hello/hello_2.10-3_amd64.deb",
        "/feeds/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/" + H1,
        "http://downloads.openwrt.org:8080/releases/23.05.0/packages/x86_64/base/Packages.gz",
        "/feeds/openwrt/../x",
        "/feeds/security/dists/bookworm-security/main/binary-all/Packages.xz",
        "http://deb.debian.org/debian-security/pool/updates/x.deb",
        "/feeds/debian/dists/%2e%2e/x",
        "http://DEB.debian.org:80/debian/pool/a%20b.deb"]):
    put("feedpath", "path%d" % i, p)

# config: the shipped file, a rich one, and one with a registries file
etc = os.path.join(top, "..", "..", "etc", "pullgate.conf")
put("config", "shipped", open(etc, "rb").read())
rich = """listen = "127.0.0.1:8080";
cache_dir = "/var/lib/pullgate";
log_level = "debug";
tag_ttl = 60;
cache_max_bytes = 1073741824;
server_names = [ "containers.local", "gw.example" ];
default_registry = "acme";
registries = (
  { name = "acme"; url = "https://registry.acme.example:5000"; auth = ["mtls", "token"];
    token_hosts = [ "auth.acme.example" ]; mirror_of = [ "ghcr.io" ];
    immutable_tags = "^v[0-9]+\\\\.[0-9]+$"; tag_ttl = 30; },
  { name = "quay"; url = "https://quay.io"; auth = "basic"; username = "u";
    password_file = "/etc/pullgate/quay.pass"; }
);
feeds = (
  { name = "debian"; url = "http://deb.debian.org/debian"; }
);
feed_ttl = 300;
"""
put("config", "rich", rich)
put("config", "with-registries", 'cache_dir = "/tmp/x";\n\0registries = ( { name = "lab"; '
    'url = "http://10.0.0.2:5000"; auth = "bearer"; bearer_file = "/etc/k"; } );\n')
put("config", "bad", 'listen = "nohost";\ntag_ttl = -5;\nregistries = ( { name = "1"; } );\n')

# manifest: documents separated by "\n--\n"; document k is sha256:0...0<k+1>
def D(k):
    return "sha256:" + "0" * 63 + str(k + 1)

index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [
             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D(1),
              "size": 400, "platform": {"os": "linux", "architecture": "amd64"}},
             {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D(2),
              "size": 400, "platform": {"os": "linux", "architecture": "arm64"}}]}
def manifest(cfg, layers):
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg, "size": 123},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": l, "size": 1000 + i} for i, l in enumerate(layers)]}
config = {"architecture": "amd64", "os": "linux",
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + H1]}}
put("manifest", "index", "\n--\n".join(json.dumps(x, indent=1) for x in [
    index, manifest(D(3), [D(4), "sha256:" + H1]), manifest(D(3), [D(4)]), config, "layer"]))
put("manifest", "single", json.dumps(manifest("sha256:" + H2, ["sha256:" + H1])))
docker_list = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
docker_list["manifests"] = [dict(m, mediaType="application/vnd.docker.distribution.manifest.v2+json")
                            for m in index["manifests"]] + [{"digest": D(0)}]
put("manifest", "cycle", json.dumps(docker_list) + "\n--\n" + json.dumps(
    {"manifests": [{"digest": D(0)}, {"digest": D(2)}]}) + "\n--\n" + json.dumps(
    {"manifests": [{"digest": D(1)}], "config": {"digest": 5}, "layers": {"x": 1}}))

# packages: plain, gzip, xz as files; 0x01/0x02: compressed by the target
pkgs = """Package: hello
Version: 2.10-3
Architecture: amd64
Maintainer: Santiago Vila <sanvila@debian.org>
Installed-Size: 280
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
 .
 It is the kind of program a maintainer packages first.
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53268
SHA256: %s

Package: base-files
Version: 12.4+deb12u5
Architecture: amd64
Pre-Depends: awk
Provides: base
Filename: ./pool/main/b/base-files/base-files_12.4_amd64.deb
Size: 70592
SHA256: %s

Package: nosum
Version: 1
Filename: pool/main/n/nosum_1_all.deb
Size: 10
""" % (H1, H2)
opkg = """Package: busybox
Version: 1.36.1-1
Depends: libc
Architecture: x86_64
Filename: base/busybox_1.36.1-1_x86_64.ipk
Size: 235417
SHA256sum: %s
Description:  The Swiss Army Knife of embedded Linux.

""" % H1
put("packages", "Packages", pkgs)
put("packages", "Packages.gz", gzip.compress(pkgs.encode(), mtime=0))
put("packages", "Packages.xz", lzma.compress(pkgs.encode()))
put("packages", "opkg-Packages", opkg)
put("packages", "gzip-by-target", b"\x01" + pkgs.encode())
put("packages", "xz-by-target", b"\x02" + opkg.encode())
put("packages", "two-gzip-members", gzip.compress(pkgs.encode(), mtime=0) +
    gzip.compress(opkg.encode(), mtime=0))
put("packages", "truncated.xz", lzma.compress(pkgs.encode())[:60])
put("packages", "bad-fields", "Package: x\nSHA256: zz\nSize: -1\n\nPackage: y\nPackage: y\n"
    "\n continuation first\nPackage: z\nFilename: a\nSHA256: " + H1 + "\nSize: 99999999999999999999\n")

# pkgidx: a Packages text, two NULs, then (offset u16, xor) damage triples
put("pkgidx", "intact", pkgs.encode() + b"\0\0")
put("pkgidx", "header-flip", pkgs.encode() + b"\0\0" + struct.pack("<HB", 20, 1))
put("pkgidx", "record-flip", pkgs.encode() + b"\0\0" + struct.pack("<HB", 4160 + 20, 0x80)
    + struct.pack("<HB", 4160 + 64 + 3, 0x10))
put("pkgidx", "fanout-flip", pkgs.encode() + b"\0\0" + struct.pack("<HB", 64 + 4 * 512, 2))
put("pkgidx", "cut", opkg.encode() + b"\0\0" + struct.pack("<HB", 4200, 0xff))

# release
release = """Origin: Debian
Label: Debian
Suite: stable
Codename: bookworm
Date: Sat, 09 Nov 2024 10:00:00 UTC
Valid-Until: Sat, 16 Nov 2024 10:00:00 UTC
Architectures: amd64 arm64
Components: main
MD5Sum:
 0123456789abcdef0123456789abcdef  1234 main/binary-amd64/Packages
SHA256:
 %s  53268 main/binary-amd64/Packages
 %s  11111 main/binary-amd64/Packages.xz
 %s   222 main/binary-amd64/Release
 badhash 12 main/x
""" % (H1, H2, H1)
put("release", "Release", release)
signed = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
          release.replace("\n-", "\n- -") +
          "-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n")
put("release", "InRelease", signed)
put("release", "InRelease-text-after", signed + "extra\n")
put("release", "armor-in-release", release + "-----BEGIN PGP SIGNATURE-----\n")

# tar and import
def tar_bytes(entries, fmt=tarfile.USTAR_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data, kind in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == "link":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return b.getvalue()

layer = tar_bytes([("etc/", b"", "dir"), ("etc/hostname", b"gateway\n", "file")])
put("tar", "plain", tar_bytes([("a/", b"", "dir"), ("a/b.txt", b"hello\n", "file"),
                               ("c", b"x" * 600, "file")]))
put("tar", "gnu-longname", tar_bytes([("d/" + "n" * 150, b"long", "file")], tarfile.GNU_FORMAT))
put("tar", "pax-path", tar_bytes([("p/" + "q" * 120, b"pax", "file")], tarfile.PAX_FORMAT))
put("tar", "symlink", tar_bytes([("l", "/etc/passwd", "link")]))
put("tar", "truncated", tar_bytes([("f", b"y" * 2000, "file")])[:1200])

# An OCI image layout, as skopeo writes it
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
man = json.dumps(manifest("sha256:" + sha(cfg), ["sha256:" + sha(layer)])).encode()
man_obj = json.loads(man)
man_obj["config"]["size"] = len(cfg)
man_obj["layers"][0]["size"] = len(layer)
man = json.dumps(man_obj).encode()
oci_index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man),
     "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "acme/app:v1"}}]}).encode()
oci = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', "file"), ("index.json", oci_index, "file"),
       ("blobs/", b"", "dir"), ("blobs/sha256/", b"", "dir")]
oci += [("blobs/sha256/" + sha(b), b, "file") for b in (man, cfg, layer)]
put("import", "oci-archive", tar_bytes(oci))
put("tar", "oci-archive", tar_bytes(oci))
# A docker save archive
dcfg_name = sha(cfg) + ".json"
dsave = [("manifest.json", json.dumps([{"Config": dcfg_name, "RepoTags": ["acme/app:v1"],
                                       "Layers": ["l1/layer.tar"]}]).encode(), "file"),
         (dcfg_name, cfg, "file"), ("l1/", b"", "dir"), ("l1/layer.tar", layer, "file"),
         ("repositories", b'{"acme/app":{"v1":"x"}}', "file")]
put("import", "docker-save", tar_bytes(dsave))
put("import", "docker-save-traversal", tar_bytes([("../escape", b"x", "file")] + dsave))
put("import", "docker-save-bad-diffid", tar_bytes(
    [(n, d.replace(sha(layer).encode(), sha(b"other").encode()) if n == dcfg_name else d, k)
     for n, d, k in dsave]))
put("import", "oci-missing-blob", tar_bytes(oci[:-1]))
print("seeds written under", corpus)
