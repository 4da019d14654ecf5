#!/usr/bin/python3
"""Synthesizes OCI artifacts for the tests, and pushes them.

mkartifacts.py --layout DIR --out DIR [--push HOST:PORT --repo REPO]
               [--helm-repo REPO]

For the image named by the OCI layout's index.json (tests/tools/mkimage.py)
it writes, as files named by their sha256 hex into --out:
  - a cosign-style signature: an OCI image manifest with artifactType
    application/vnd.dev.cosign.artifact.sig.v1+json, the empty config
    (application/vnd.oci.empty.v1+json) and one simple-signing layer;
  - an SBOM: artifactType application/spdx+json, the empty config, one
    SPDX document as its layer;
  both with a "subject" naming the image;
  - the referrers index listing the two (what the tag-schema tag
    "sha256-<hex of the image>" holds, and what a registry with the
    referrers API answers);
  - a Helm chart: config application/vnd.cncf.helm.config.v1+json, one
    layer application/vnd.cncf.helm.chart.content.v1.tar+gzip.

With --push, uploads all of it to a registry over plain HTTP (monolithic
blob uploads, manifests PUT by digest, the index under the tag-schema tag,
the chart under --helm-repo:0.1.0). Prints a JSON summary of the digests.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile
import urllib.request

EMPTY = "application/vnd.oci.empty.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


class Out:
    def __init__(self, d):
        self.dir = d
        self.blobs = []         # (data, digest) in push order
        os.makedirs(d, exist_ok=True)

    def blob(self, data, media_type):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.dir, h), "wb") as f:
            f.write(data)
        self.blobs.append((data, "sha256:" + h))
        return {"mediaType": media_type, "digest": "sha256:" + h,
                "size": len(data)}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def artifact(out, subject, artifact_type, layer_type, payload, annotations):
    config = out.blob(b"{}", EMPTY)
    layer = out.blob(payload, layer_type)
    m = {"schemaVersion": 2, "mediaType": MANIFEST,
         "artifactType": artifact_type, "config": config, "layers": [layer],
         "subject": subject, "annotations": annotations}
    data = canonical(m)
    d = out.blob(data, MANIFEST)
    d["artifactType"] = artifact_type
    d["annotations"] = annotations
    return data, d


def helm_chart(out):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in (("mychart/Chart.yaml",
                            b"apiVersion: v2\nname: mychart\nversion: 0.1.0\n"),
                           ("mychart/values.yaml", b"replicas: 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(text))
    chart = gzip.compress(raw.getvalue(), mtime=0)
    config = out.blob(canonical({"apiVersion": "v2", "name": "mychart",
                                 "version": "0.1.0"}), HELM_CONFIG)
    layer = out.blob(chart, HELM_CHART)
    data = canonical({"schemaVersion": 2, "mediaType": MANIFEST,
                      "config": config, "layers": [layer]})
    return data, out.blob(data, MANIFEST)


def request(method, url, data=None, ctype=None):
    req = urllib.request.Request(url, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers


def push_blob(base, repo, data, digest):
    h = request("POST", "%s/v2/%s/blobs/uploads/" % (base, repo), b"")
    loc = h["Location"]
    if loc.startswith("/"):
        loc = base + loc
    sep = "&" if "?" in loc else "?"
    request("PUT", "%s%sdigest=%s" % (loc, sep, digest), data,
            "application/octet-stream")


def push_manifest(base, repo, ref, data, media_type):
    request("PUT", "%s/v2/%s/manifests/%s" % (base, repo, ref), data,
            media_type)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--push", default="")
    ap.add_argument("--repo", default="")
    ap.add_argument("--helm-repo", default="")
    a = ap.parse_args()

    top = json.load(open(os.path.join(a.layout, "index.json")))["manifests"][0]
    subject = {"mediaType": top["mediaType"], "digest": top["digest"],
               "size": top["size"]}
    out = Out(a.out)
    sig, sig_d = artifact(out, subject, SIG,
                          "application/vnd.dev.cosign.simplesigning.v1+json",
                          canonical({"critical": {"image": {
                              "docker-manifest-digest": top["digest"]}}}),
                          {"dev.cosignproject.cosign/signature": "MEUCIQ=="})
    sbom, sbom_d = artifact(out, subject, SBOM, SBOM,
                            canonical({"spdxVersion": "SPDX-2.3",
                                       "name": "app"}),
                            {"org.opencontainers.image.created":
                             "2026-01-01T00:00:00Z"})
    index = canonical({"schemaVersion": 2, "mediaType": INDEX,
                       "manifests": [sig_d, sbom_d]})
    index_d = out.blob(index, INDEX)
    helm, helm_d = helm_chart(out)
    tag = top["digest"].replace(":", "-")
    if a.push:
        base = "http://" + a.push
        for data, digest in out.blobs:
            if data in (sig, sbom, index, helm):
                continue
            push_blob(base, a.repo, data, digest)
            if a.helm_repo:
                push_blob(base, a.helm_repo, data, digest)
        push_manifest(base, a.repo, sig_d["digest"], sig, MANIFEST)
        push_manifest(base, a.repo, sbom_d["digest"], sbom, MANIFEST)
        push_manifest(base, a.repo, tag, index, INDEX)
        if a.helm_repo:
            push_manifest(base, a.helm_repo, "0.1.0", helm, MANIFEST)
    print(json.dumps({"subject": top["digest"], "tag": tag,
                      "sig": sig_d["digest"], "sbom": sbom_d["digest"],
                      "index": index_d["digest"], "helm": helm_d["digest"]}))


if __name__ == "__main__":
    main()
