#!/usr/bin/env python3
"""How often `pr tests` selects the tests a planted bug makes fail. Prints figures, asserts nothing.

    python bench/bench_select_tests.py [--tree DIR] [--workspace DIR] [--numpy DIR] [--json]

Where the code and the tests come from (said again in the output):
  code   the installed torch (2.13), copied into a lab workspace (a git repository: the bug is a
         one-line edit there, and `git diff` is the change, as in `pr tests`);
  tests  the v2.6.0 tree's test files (`../shared/pytorch-source/fetch`), linked into the workspace as
         `test/`: the selection searches them, and a fixed pool of them is run for the ground truth.
         They import numpy, which the project venv lacks: --numpy DIR (a `pip install --target DIR
         numpy`) is put on PYTHONPATH for those runs only.

Ground truth: the POOL files run once without a bug (baseline) and once per bug, in one pytest
process each (junit XML); a test that fails with the bug and passed in the baseline "fails because of
the bug". The selection (`select_tests.analyse` + `select` with the installed torch's index, the
same calls `pr tests` makes) never sees the results.

Figures per bug: the files that fail, whether each is among the selected test files, the rank of the
first, and whether a failing test also matches the entry's `-k` filter. Overall: bugs whose failing
files are all selected / bugs with a failure; file-level recall; selection size.

Measured 2026-12-06 (2 shared cores): 10 of the 11 bugs fail a pool test (dropout-p-range fails none);
for 7/10 every failing file is selected and for 9/10 at least one (pytree-child-order is the miss:
_pytree is reached through layers of callers no test names); file recall 11/16 (69%); the entry's
`-k` keeps a failing test in 9/10; 16.9 test files selected on average (of 1,000+); 1.5-5 s a selection.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

POOL = ("test/nn/test_dropout.py", "test/nn/test_init.py", "test/nn/test_packed_sequence.py",
        "test/nn/test_pruning.py", "test/nn/test_parametrization.py", "test/nn/test_lazy_modules.py",
        "test/nn/test_load_state_dict.py", "test/nn/test_module_hooks.py")

# (id, file, text as it is, text with the bug): one-line bugs a contributor could write
BUGS = (
    ("dropout-module-training", "torch/nn/modules/dropout.py",
     "return F.dropout(input, self.p, self.training, self.inplace)",
     "return F.dropout(input, self.p, not self.training, self.inplace)"),
    ("dropout-p-range", "torch/nn/functional.py",
     "    if p < 0.0 or p > 1.0:\n        raise ValueError(f\"dropout probability has to be between 0 and 1, but got {p}\")\n"
     "    return (\n        _VF.dropout_(input, p, training) if inplace else _VF.dropout(input, p, training)",
     "    if p < 0.0 or p >= 1.0:\n        raise ValueError(f\"dropout probability has to be between 0 and 1, but got {p}\")\n"
     "    return (\n        _VF.dropout_(input, p, training) if inplace else _VF.dropout(input, p, training)"),
    ("init-relu-gain", "torch/nn/init.py",
     "    elif nonlinearity == \"relu\":\n        return math.sqrt(2.0)",
     "    elif nonlinearity == \"relu\":\n        return math.sqrt(3.0)"),
    ("init-fan-in", "torch/nn/init.py",
     "fan_in = num_input_fmaps * receptive_field_size",
     "fan_in = num_input_fmaps + receptive_field_size"),
    ("rnn-invert-permutation", "torch/nn/utils/rnn.py",
     "0, permutation, torch.arange(0, permutation.numel(), device=permutation.device)",
     "0, permutation, torch.arange(0, permutation.numel(), device=permutation.device).flip(0)"),
    ("prune-amount-rounding", "torch/nn/utils/prune.py",
     "        return round(amount * tensor_size)",
     "        return int(amount * tensor_size)"),
    ("pytree-child-order", "torch/utils/_pytree.py",
     "subspecs = [helper(child, leaves) for child in children]",
     "subspecs = [helper(child, leaves) for child in reversed(children)]"),
    ("load-state-dict-unexpected", "torch/nn/modules/module.py",
     "                    elif input_name[0] not in local_state:\n                        unexpected_keys.append(key)",
     "                    elif input_name[0] not in local_state:\n                        pass"),
    ("lazy-uninitialized", "torch/nn/modules/lazy.py",
     "            if is_lazy(param):\n                return True\n        return False",
     "            if is_lazy(param):\n                return False\n        return False"),
    ("parametrize-is-parametrized", "torch/nn/utils/parametrize.py",
     "    if parametrizations is None or not isinstance(parametrizations, ModuleDict):\n        return False",
     "    if parametrizations is None or not isinstance(parametrizations, ModuleDict):\n        return True"),
    ("hooks-forward-pre-kwargs", "torch/nn/modules/module.py",
     "                    if hook_id in self._forward_pre_hooks_with_kwargs:",
     "                    if hook_id not in self._forward_pre_hooks_with_kwargs:"),
)


def run_pool(ws: Path, numpy_dir: str | None, xml: Path) -> dict[str, set[str]]:
    """{pool file: ids of its failing tests}; a file that does not import counts as one failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ws), numpy_dir) if p))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *POOL]
    subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    failed: dict[str, set[str]] = {p: set() for p in POOL}
    root = ET.parse(xml).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        cls = case.get("classname", "")
        path = cls.split(".")[:-1]
        name = case.get("name", "")
        for p in POOL:
            stem = p[:-3].replace("/", ".")
            if ".".join(path).endswith(stem.split(".", 1)[1]) or ".".join(path).endswith(stem) \
                    or cls.endswith(Path(p).stem):
                failed[p].add(f"{cls.rsplit('.', 1)[-1]}::{name}")
                break
    return failed


def k_matches(expr: str, test_id: str) -> bool:
    """pytest's -k for an `a or b` expression: a case-insensitive substring of the test's names."""
    low = test_id.lower()
    return not expr or any(w.strip().lower() in low for w in expr.split(" or "))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=os.path.expanduser("~/.cache/pytorch-src/pytorch-v2.6.0"),
                    help="the v2.6.0 tree (its test/ folder is the test pool)")
    ap.add_argument("--workspace", help="an existing lab workspace on the installed torch (default: a new one)")
    ap.add_argument("--numpy", help="a folder holding numpy (pip install --target DIR numpy)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tree = Path(args.tree)
    if not (tree / "test").is_dir():
        print(f"no test/ in {tree}: run ../shared/pytorch-source/fetch first", file=sys.stderr)
        return 2
    from torchatlas.contrib.gitport import Git
    from torchatlas.contrib.loader import load_labs
    from torchatlas.contrib.pr.select_tests import analyse, select
    from torchatlas.contrib.pr.start import lines_of_diff
    from torchatlas.contrib.workspace import create_workspace, open_workspace
    from torchatlas.indexes.pipeline import default_db_path
    from torchatlas.indexes.sources import open_source
    from torchatlas.indexes.store import Index

    source = open_source("installed")
    tmp = Path(tempfile.mkdtemp(prefix="bench-select-"))
    if args.workspace:
        ws = open_workspace(Path(args.workspace))
    else:
        ws = create_workspace(load_labs().labs["fx-pass"], source, tmp / "ws")
    root = Path(ws.root)
    if not (root / "test").exists():
        os.symlink(tree / "test", root / "test")
    exclude = root / ".git" / "info" / "exclude"
    if "/test\n" not in exclude.read_text():
        exclude.write_text(exclude.read_text() + "/test\n")
    git = Git(root)
    index = Index(default_db_path(source))
    print(f"code: installed torch {source.info.version} in {root}; tests: {tree}/test (v2.6.0); "
          f"pool: {len(POOL)} files", file=sys.stderr)
    t = time.monotonic()
    base = run_pool(root, args.numpy, tmp / "base.xml")
    print(f"baseline: {sum(len(v) for v in base.values())} failing without a bug ({time.monotonic() - t:.0f} s)",
          file=sys.stderr)
    rows = []
    try:
        for bug_id, rel, old, new in BUGS:
            path = root / rel
            text = path.read_text(encoding="utf-8")
            if text.count(old) < 1:
                rows.append({"bug": bug_id, "error": f"the text to change is not in {rel} (another torch version?)"})
                continue
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            try:
                t = time.monotonic()
                files = git.changed_files(ws.starter)
                lines = lines_of_diff(git.diff(ws.starter))
                change = analyse(root, files, lines, index)
                tests = select(root, change, index=index, limit=25)
                sel_seconds = time.monotonic() - t
                t = time.monotonic()
                got = run_pool(root, args.numpy, tmp / f"{bug_id}.xml")
                run_seconds = time.monotonic() - t
            finally:
                path.write_text(text, encoding="utf-8")
            failing = {p: sorted(ids - base[p]) for p, ids in got.items() if ids - base[p]}
            selected = [x.path for x in tests if x.kind == "test-file"]
            by_path = {x.path: x for x in tests if x.kind == "test-file"}
            hit_files = [p for p in failing if p in selected]
            ranks = [selected.index(p) + 1 for p in hit_files]
            k_hit = [p for p in hit_files if any(k_matches(by_path[p].filter, i) for i in failing[p])]
            rows.append({"bug": bug_id, "file": rel, "failing": {p: v[:5] for p, v in failing.items()},
                         "failing_files": len(failing), "selected_files": len(selected), "selected": selected[:10],
                         "hit_files": hit_files, "k_hits": k_hit, "first_rank": min(ranks) if ranks else None,
                         "all_hit": bool(failing) and len(hit_files) == len(failing),
                         "selection_s": round(sel_seconds, 2), "run_s": round(run_seconds, 1)})
            r = rows[-1]
            print(f"{bug_id:30} fail {r['failing_files']} file(s) | selected {len(selected):2} | hit "
                  f"{len(hit_files)}/{len(failing)} (rank {r['first_rank']}) | -k hit {len(k_hit)} | "
                  f"select {sel_seconds:.1f} s", file=sys.stderr)
    finally:
        index.close()
    measured = [r for r in rows if r.get("failing_files")]
    summary = {
        "code": f"installed torch {source.info.version}", "tests": f"{tree}/test (v2.6.0)", "pool": list(POOL),
        "bugs": len(BUGS), "bugs_with_failures": len(measured),
        "all_failing_files_selected": sum(r["all_hit"] for r in measured),
        "file_recall": round(sum(len(r["hit_files"]) for r in measured) /
                             max(1, sum(r["failing_files"] for r in measured)), 3),
        "with_k_filter": sum(bool(r["k_hits"]) for r in measured),
        "mean_selected_files": round(sum(r["selected_files"] for r in measured) / max(1, len(measured)), 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"\n{summary['all_failing_files_selected']}/{summary['bugs_with_failures']} bugs: every failing test "
              f"file selected; file recall {summary['file_recall']:.0%}; the -k filter kept a failing test in "
              f"{summary['with_k_filter']}/{summary['bugs_with_failures']}; {summary['mean_selected_files']} test "
              f"files selected on average ({len(BUGS) - len(measured)} bug(s) failed no pool test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
