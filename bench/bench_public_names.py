#!/usr/bin/env python3
"""How often a public dotted name reaches the definition Python itself reaches (inspect, attribute lookup).

    python bench/bench_public_names.py [--db DB] [-n 2000] [--seed 1]

The oracle is the installed torch, imported here: for every public class of a few packages
(torch.nn, torch.optim, torch.utils.data, torch.fx, torch.distributions, torch.export,
torch.autograd), every public function, classmethod, staticmethod or property it has (its own or
inherited, as `dir()` lists them) is looked up along the class's `__mro__`; the class that defines it
names the answer (`torch.nn.Linear.parameters` -> `Module.parameters`). A sample of N such
(class, member) names is asked of `code_queries.resolve_symbol` on the installed torch's index, and
its first answer is right when it is the same class's member. Printed apart: members the class
defines itself, and inherited ones (found since public_names follows a class's bases; before,
0% of the inherited ones resolved). And every public class and function of twenty torch modules
(`torch.nn.functional.relu`, `torch.utils.data.get_worker_info`) against the file and line
`inspect.getsourcelines` gives. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import random
import sys
import time
from pathlib import Path

PACKAGES = ("torch.nn", "torch.optim", "torch.utils.data", "torch.fx", "torch.distributions", "torch.export",
            "torch.autograd")


def member_names(packages=PACKAGES) -> list[tuple[str, str, bool]]:
    """(public dotted name, `Owner.member` it must reach, whether it is inherited)."""
    out = []
    for package in packages:
        mod = importlib.import_module(package)
        for name in getattr(mod, "__all__", None) or dir(mod):
            cls = getattr(mod, name, None)
            if name.startswith("_") or not inspect.isclass(cls):
                continue
            for attr in dir(cls):
                owner = next((k for k in cls.__mro__ if attr in k.__dict__), None)
                if attr.startswith("_") or owner is None or not owner.__module__.startswith("torch"):
                    continue
                value = owner.__dict__[attr]
                if inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod, property)):
                    out.append((f"{package}.{name}.{attr}", f"{owner.__name__}.{attr}", owner is not cls))
    return out


MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.autograd", "torch.utils.data", "torch.fx",
           "torch.distributed", "torch.export", "torch.onnx", "torch.library", "torch.func", "torch.amp", "torch.jit",
           "torch.profiler", "torch.distributions", "torch.testing", "torch.nn.utils", "torch.nn.init",
           "torch.optim.lr_scheduler")


def module_names(modules=MODULES) -> list[tuple[str, str, int, int]]:
    """(public dotted name, the file inspect says defines it, its first line, its decorator lines) for
    the classes and functions of `modules` written in torch's own Python."""
    import os

    import torch
    root = os.path.dirname(os.path.dirname(torch.__file__))
    out = []
    for module in modules:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]:
            obj = getattr(mod, name, None)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            try:
                path, (lines, start) = inspect.getsourcefile(obj), inspect.getsourcelines(obj)
            except (TypeError, OSError):
                continue
            if path and path.startswith(root):
                decorators = sum(1 for line in lines if line.lstrip().startswith("@"))
                out.append((f"{module}.{name}", os.path.relpath(path, root), start, decorators))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="an index of the installed torch (default: the cache's, built or updated first)")
    ap.add_argument("-n", type=int, default=2000, help="names to sample")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--misses", type=int, default=10, help="list this many misses")
    args = ap.parse_args(argv)

    from torchatlas.indexes import code_queries as cq
    from torchatlas.indexes.pipeline import build_index, default_db_path
    from torchatlas.indexes.sources import open_source
    from torchatlas.indexes.store import Index
    if args.db:
        db = Path(args.db)
    else:
        source = open_source("installed")
        db = default_db_path(source)
        build_index(source, db)  # an update when it is current: seconds
    index = Index(db)
    names = member_names()
    random.seed(args.seed)
    sample = random.sample(names, min(args.n, len(names)))
    right = {True: [0, 0], False: [0, 0]}
    misses = []
    t0 = time.perf_counter()
    for dotted, want, inherited in sample:
        hits = cq.resolve_symbol(index, dotted)
        ok = bool(hits) and hits[0].qualname.endswith("." + want)
        right[inherited][0] += ok
        right[inherited][1] += 1
        if not ok and len(misses) < args.misses:
            misses.append(f"  {dotted}: wanted {want}, got {hits[0].qualname if hits else 'nothing'}")
    took = time.perf_counter() - t0
    top = module_names()
    top_right, top_misses = 0, []
    for dotted, path, start, decorators in top:
        hits = cq.resolve_symbol(index, dotted)
        at = hits[0].location.rpartition(":") if hits else ("", "", "0")
        if at[0] == path and start <= int(at[2]) <= start + decorators + 3:
            top_right += 1
        elif len(top_misses) < args.misses:
            top_misses.append(f"  {dotted}: inspect says {path}:{start}, got {hits[0].location if hits else 'nothing'}")
    print(f"index: {db}")
    print(f"module-level: {top_right}/{len(top)} = {100 * top_right / max(len(top), 1):.1f}% of the classes and "
          f"functions of {len(MODULES)} torch modules answer at the file and line inspect gives (the rest: "
          "decorators that build a new function elsewhere, as boolean_dispatch does, and the like)")
    print(f"sample: {len(sample)} of {len(names)} (class, member) names of {', '.join(PACKAGES)} (seed {args.seed})")
    for inherited, label in ((False, "its own member"), (True, "inherited")):
        good, total = right[inherited]
        print(f"  {label:<15} {good}/{total} = {100 * good / max(total, 1):.1f}% reach the class Python's lookup names")
    print(f"  {1000 * took / max(len(sample), 1):.2f} ms a name")
    if misses or top_misses:
        print("misses:", *misses, *top_misses, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
