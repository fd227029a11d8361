#!/usr/bin/env python3
"""Builds the benchmark images: one ~100 MiB image in 6 layers (an OCI layout) and 200 small images (skopeo `dir:`
layouts, for `skopeo sync --src dir`). Random layer data, so compression cannot shrink it; gzip level 0 wrappers."""

import gzip, hashlib, io, json, os, sys, tarfile

def sha(b):
    return hashlib.sha256(b).hexdigest()

def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1600000000
            t.addfile(info, io.BytesIO(data))
    raw = raw.getvalue()
    blob = gzip.compress(raw, compresslevel=0, mtime=0)
    return blob, "sha256:" + sha(raw)

def image(layers, label):
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"bench": label}},
                         "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + sha(b), "size": len(b)} for b, _ in layers]},
        indent=2).encode()
    return config, manifest

def main(out):
    big = os.path.join(out, "big")
    os.makedirs(os.path.join(big, "blobs/sha256"), exist_ok=True)
    layers = [layer([(f"data/part{i}.bin", os.urandom(17 * 1024 * 1024))]) for i in range(6)]
    config, manifest = image(layers, "big")
    for b in [b for b, _ in layers] + [config, manifest]:
        open(os.path.join(big, "blobs/sha256", sha(b)), "wb").write(b)
    open(os.path.join(big, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}
    open(os.path.join(big, "index.json"), "w").write(json.dumps(index))
    small = os.path.join(out, "small")
    for i in range(200):
        d = os.path.join(small, f"img{i:03d}")
        os.makedirs(d, exist_ok=True)
        layers = [layer([(f"etc/img{i}-{j}.txt", os.urandom(4096))]) for j in range(2)]
        config, manifest = image(layers, f"small{i}")
        for b in [b for b, _ in layers] + [config]:
            open(os.path.join(d, sha(b)), "wb").write(b)
        open(os.path.join(d, "manifest.json"), "wb").write(manifest)
        open(os.path.join(d, "version"), "w").write("Directory Transport Version: 1.1\n")

if __name__ == "__main__":
    main(sys.argv[1])
