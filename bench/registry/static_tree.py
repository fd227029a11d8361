#!/usr/bin/env python3
"""Lays an OCI image layout out as the files a registry pull asks for, for a static file server (the benchmark's
floor): SRC/index.json's manifests by their `ref.name` under DEST/manifests/, every blob as DEST/blobs/sha256:HEX.
Usage: static_tree.py SRC_OCI_LAYOUT DEST"""
import json, os, shutil, sys

src, dest = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(dest, "manifests"), exist_ok=True)
os.makedirs(os.path.join(dest, "blobs"), exist_ok=True)
for name in os.listdir(os.path.join(src, "blobs", "sha256")):
    shutil.copyfile(os.path.join(src, "blobs", "sha256", name), os.path.join(dest, "blobs", f"sha256:{name}"))
for m in json.load(open(os.path.join(src, "index.json")))["manifests"]:
    tag = m.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if tag:
        algo, hexd = m["digest"].split(":", 1)
        shutil.copyfile(os.path.join(src, "blobs", algo, hexd), os.path.join(dest, "manifests", tag))
