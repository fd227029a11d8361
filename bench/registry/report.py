#!/usr/bin/env python3
"""Turns run.sh's results.tsv into the Markdown tables of docs/BENCHMARKS.md (medians over runs)."""
import json, statistics, sys
from collections import defaultdict

times, lat = defaultdict(list), {}
for line in open(sys.argv[1]):
    reg, op, rest = line.rstrip("\n").split("\t", 2)
    if op == "manifest_get":
        lat[reg] = json.loads(rest)
    else:
        times[(reg, op)].append(float(rest.split("\t")[1]))
label = {"push_big": "push 1 image, ~102 MiB, 6 layers", "pull_big": "pull 1 image, ~102 MiB, 6 layers",
         "push_small": "push 200 small images (skopeo sync)", "pull_small": "pull 200 small images (skopeo sync)"}
print("| operation | Berth (s) | CNCF open (s) | CNCF htpasswd (s) | Berth vs open | Berth vs htpasswd |")
print("| --- | --- | --- | --- | --- | --- |")
for op in ["push_big", "pull_big", "push_small", "pull_small"]:
    m = {r: statistics.median(times[(r, op)]) for r in ["berth", "cncf-open", "cncf-htpasswd"] if times[(r, op)]}
    b = m.get("berth")
    unit, amount = ("MiB/s", 102.0) if op.endswith("big") else ("images/s", 200.0)
    print(f"| {label[op]} | {b:.2f} ({amount/b:.0f} {unit}) | {m['cncf-open']:.2f} ({amount/m['cncf-open']:.0f} {unit}) | "
          f"{m['cncf-htpasswd']:.2f} | {m['cncf-open']/b:.2f}x | {m['cncf-htpasswd']/b:.2f}x |")
static = times.get(("static", "pull_big"))
if static:
    floor, cncf = statistics.median(static), statistics.median(times[("cncf-open", "pull_big")])
    print()
    print(f"Floor for the big pull (nginx serving the same files statically): {floor:.2f} s; the best ratio any "
          f"registry could show against CNCF open: {cncf/floor:.2f}x; Berth's time over the floor: "
          f"{statistics.median(times[('berth', 'pull_big')])/floor:.2f}x.")
print()
print("| manifest GET, 64 connections | p50 (ms) | p99 (ms) | requests/s | non-2xx |")
print("| --- | --- | --- | --- | --- |")
for r in ["berth", "cncf-open", "cncf-htpasswd"]:
    if r in lat:
        l = lat[r]
        print(f"| {r} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['rps']:.0f} | {l['non_2xx']} |")
