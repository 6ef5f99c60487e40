#!/usr/bin/env python3
"""Prints the token benchmark table (markdown) from criterion's results in target/criterion."""
import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]


def ops(op, alg, who):
    f = root / f"{op}_{alg}" / who / "new" / "estimates.json"
    if not f.exists():
        return None
    ns = json.loads(f.read_text())["median"]["point_estimate"]
    return 1e9 / ns


print("| algorithm | verify ours (ops/s) | verify upstream (ops/s) | ratio | sign ours (ops/s) | sign upstream (ops/s) | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for alg in ALGS:
    row = [alg]
    for op in ("verify", "sign"):
        ours, up = ops(op, alg, "ours"), ops(op, alg, "upstream")
        row += [f"{ours:,.0f}" if ours else "–", f"{up:,.0f}" if up else "n/a",
                f"{ours / up:.2f}×" if ours and up else "–"]
    print("| " + " | ".join(row) + " |")
