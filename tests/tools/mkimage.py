#!/usr/bin/python3
"""Writes a synthetic OCI image layout for the tests.

mkimage.py DIR --tag TAG [--layers N] [--size BYTES] [--platforms P,P] [--seed S]

Each layer is a gzipped tar holding one file of pseudo-random bytes
(deterministic from the seed). With several platforms, an OCI image index
lists one manifest per platform; otherwise index.json names the manifest.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile


def put_blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def make_layer(rng, size, name):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        payload = rng.randbytes(size)
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=1, mtime=0), tar_bytes


def make_manifest(root, rng, layers, size, os_name, arch, variant):
    descs, diff_ids = [], []
    for i in range(layers):
        gz, tar_bytes = make_layer(rng, size, "layer%d-%s.bin" % (i, arch))
        d = put_blob(root, gz)
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        descs.append(d)
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
    config = {"architecture": arch, "os": os_name,
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "config": {"Cmd": ["/layer0.bin"]}}
    if variant:
        config["variant"] = variant
    cdesc = put_blob(root, json.dumps(config, sort_keys=True).encode())
    cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mdesc = put_blob(root, json.dumps(manifest, sort_keys=True).encode())
    mdesc["mediaType"] = manifest["mediaType"]
    platform = {"os": os_name, "architecture": arch}
    if variant:
        platform["variant"] = variant
    mdesc["platform"] = platform
    return mdesc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--platforms", default="linux/amd64")
    ap.add_argument("--seed", default="pullgate")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    plats = [p.split("/") for p in a.platforms.split(",")]
    manifests = [make_manifest(a.dir, rng, a.layers, a.size, p[0], p[1],
                               p[2] if len(p) > 2 else None) for p in plats]
    if len(manifests) == 1:
        top = manifests[0]
        del top["platform"]
    else:
        index = {"schemaVersion": 2,
                 "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": manifests}
        top = put_blob(a.dir, json.dumps(index, sort_keys=True).encode())
        top["mediaType"] = index["mediaType"]
    top["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    print(top["digest"])


if __name__ == "__main__":
    main()
