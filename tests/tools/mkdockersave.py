#!/usr/bin/python3
"""Writes a "docker save" archive (the classic format: manifest.json,
<config hex>.json, <id>/layer.tar, repositories) for the import tests.

mkdockersave.py OUT.tar REPO:TAG [--layers N] [--seed S]
"""
import argparse
import hashlib
import io
import json
import random
import tarfile


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("ref")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", default="saved")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    layers, diff_ids = [], []
    for i in range(a.layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            add(t, "file%d.bin" % i, rng.randbytes(20000))
        data = raw.getvalue()
        h = hashlib.sha256(data).hexdigest()
        layers.append(("%s/layer.tar" % h, data))
        diff_ids.append("sha256:" + h)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/file0.bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                        sort_keys=True).encode()
    chex = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": chex + ".json", "RepoTags": [a.ref],
                 "Layers": [n for n, _ in layers]}]
    repo, tag = a.ref.rsplit(":", 1)
    with tarfile.open(a.out, "w", format=tarfile.USTAR_FORMAT) as t:
        add(t, chex + ".json", config)
        for n, data in layers:
            add(t, n, data)
        add(t, "manifest.json", json.dumps(manifest).encode())
        add(t, "repositories", json.dumps({repo: {tag: layers[-1][0].split("/")[0]}}).encode())


if __name__ == "__main__":
    main()
