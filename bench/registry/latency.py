#!/usr/bin/env python3
"""Summarises `wrk --latency` output as p50/p99 milliseconds and requests/s (JSON on stdout)."""
import json, re, sys

text = sys.stdin.read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
pct = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(json.dumps({"p50_ms": pct.get("50"), "p99_ms": pct.get("99"), "rps": float(rps.group(1)) if rps else None,
                  "non_2xx": int(non2xx.group(1)) if non2xx else 0}))
