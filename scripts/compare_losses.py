#!/usr/bin/env python3
"""Compares two runs' validation losses (metrics.jsonl) step by step: exits 1
when any evaluation differs by more than --within, relative to the first run's.
Prints a line per evaluation. Usage: compare_losses.py --within 0.02 A B"""
import argparse
import json
import sys


def evals(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = json.loads(line)
            if m.get("val_loss") is not None:
                out[m["step"]] = m["val_loss"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--within", type=float, required=True, help="largest relative difference allowed")
    ap.add_argument("reference")
    ap.add_argument("other")
    a = ap.parse_args()
    try:
        ref, other = evals(a.reference), evals(a.other)
    except OSError as e:
        print(f"compare_losses: {e}", file=sys.stderr)
        return 1
    steps = sorted(set(ref) & set(other))
    if not steps:
        print("no evaluation at a common step", file=sys.stderr)
        return 1
    worst = 0.0
    for s in steps:
        rel = abs(other[s] - ref[s]) / abs(ref[s])
        worst = max(worst, rel)
        print(f"step {s}: {ref[s]:.4f} vs {other[s]:.4f} ({100 * rel:.2f}%)")
    print(f"worst {100 * worst:.2f}% over {len(steps)} evaluations (bound {100 * a.within:.1f}%)")
    return 0 if worst <= a.within else 1


if __name__ == "__main__":
    sys.exit(main())
