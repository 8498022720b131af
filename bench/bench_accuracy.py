#!/usr/bin/env python3
"""Static dispatch answers vs the live dispatcher of the installed torch, per key. Prints figures.

    python bench/bench_accuracy.py [--keys CPU,Meta,...] [--show N]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from torchatlas.indexes.pipeline import build_index
from torchatlas.indexes.runtime import read_live
from torchatlas.indexes.sources import open_source
from torchatlas.indexes.store import Index

KEYS = "CPU,Meta,AutogradCPU,SparseCPU,QuantizedCPU,NestedTensorCPU,AutogradNestedTensor,ZeroTensor,CUDA,AutogradCUDA,SparseCsrCPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default=KEYS)
    ap.add_argument("--show", type=int, default=5, help="disagreements to list per key")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "i.sqlite"
        t = time.perf_counter()
        build_index(open_source("installed"), db)
        print(f"indexed in {time.perf_counter() - t:.1f} s")
        idx = Index(db)
        live = read_live()
        print(f"live dispatcher: torch {live.version}, {sum(1 for o in live.ops if o.startswith('aten::'))} aten ops")
        for key in args.keys.split(","):
            n, bad = 0, collections.Counter()
            examples = {}
            for op, table in live.ops.items():
                if not op.startswith("aten::") or table is None:
                    continue
                n += 1
                le = table.get(key)
                lv = (le.kind, le.registered_in) if le else ("none", None)
                st = idx.dispatch(op, [key]).get(key)
                sv = (st.kind, st.registered_in) if st else ("unknown op", None)
                if lv != sv:
                    bad[(sv, lv)] += 1
                    examples.setdefault((sv, lv), op)
            total_bad = sum(bad.values())
            print(f"{key:<22} {100 * (1 - total_bad / n):7.3f}% agree ({total_bad} of {n} differ)")
            for (sv, lv), c in bad.most_common(args.show):
                print(f"    {c:4d} static {sv} live {lv}  e.g. {examples[(sv, lv)]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
