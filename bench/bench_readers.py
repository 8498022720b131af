#!/usr/bin/env python3
"""Two readers of the index build, timed on the installed torch (they used to be timed asserts in
tests). Prints figures, asserts nothing.

    python bench/bench_readers.py [--runs N]

  python_bindings            which Python callables bind which operators (generated bindings read
                             statically); budget: well under 1 s
  python_meta_registrations  torch's Python Meta kernels read with `ast`; budget: ~1.5 s
  reference                  the tree's torchgen parsing native_functions.yaml, the input both need
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "functional"))


def _best(fn, runs: int) -> tuple[float, float]:
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t)
    return min(xs), statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from test_bindings_live import operator_schemas_from_torchgen
    from test_python_meta_live import ops_from_torchgen

    from torchatlas.indexes.bindings import python_bindings
    from torchatlas.indexes.python_registrations import python_meta_registrations
    from torchatlas.indexes.sources import installed_root
    site = installed_root()
    if site is None:
        print("no installed torch")
        return 2
    ref = _best(lambda: operator_schemas_from_torchgen(site), args.runs)
    ops = operator_schemas_from_torchgen(site)
    b = _best(lambda: python_bindings(ops, site, "package"), args.runs)
    meta_ops = ops_from_torchgen(site, site / "torchgen/packaged/ATen/native")
    m = _best(lambda: python_meta_registrations(site, "package", meta_ops), args.runs)
    print(f"reference  torchgen parse of native_functions.yaml: best {ref[0]:.2f} s, median {ref[1]:.2f} s")
    print(f"bindings   python_bindings: best {b[0]:.2f} s, median {b[1]:.2f} s ({b[0] / ref[0]:.2f}x the reference)")
    print(f"meta       python_meta_registrations: best {m[0]:.2f} s, median {m[1]:.2f} s "
          f"({m[0] / ref[0]:.2f}x the reference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
