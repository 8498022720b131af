"""Benchmark the codegen build mode against bare torchgen, measured in the same run.

    python bench/bench_codegen.py [--runs 2] [--serial] [--json]

Each step in a scratch folder, the pristine generation in a scratch cache dir (so it is cold), in
interleaved rounds (--runs, default 2; the minimum is reported, every figure is listed):

* reference: bare `python -m torchgen.gen --per-operator-headers` on the installed torchgen's
  packaged/ATen, then the bare autograd generator (gen_autograd + gen_autograd_python), one after
  the other, as a learner would type them;
* pristine (once, before the rounds): `pristine_output` cold (ATen and autograd side by side
  unless --serial), then warm;
* new op: `build` of a fresh workspace whose native_functions.yaml and derivatives.yaml declare
  squareplus (both generators, plus the diff against the pristine output);
* derivative edit: `build` after a change to derivatives.yaml only (ATen output kept);
* unchanged: `build` again (the stamp says nothing changed).

The machine is shared: figures vary with its load (2x between runs here); the reference runs in
the same round right before the builds, so the ratio of the minima is the figure to read.
Recent generations are not reused here (each round generates); the pristine cache is a scratch one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchatlas.contrib.builders import codegen

NEW_OP = """\
- func: squareplus.out(Tensor self, Scalar b=4, *, Tensor(a!) out) -> Tensor(a!)
  structured: True
  structured_inherits: TensorIteratorBase
  dispatch:
    CPU: squareplus_out

- func: squareplus(Tensor self, Scalar b=4) -> Tensor
  structured_delegate: squareplus.out
  variants: function, method

"""
DERIVATIVE = """\
- name: squareplus(Tensor self, Scalar b=4) -> Tensor
  self: grad * 0.5 * (1 + self / (self * self + b).sqrt())
  result: auto_element_wise

"""


def _insert(path: Path, before: str, text: str) -> None:
    s = path.read_text()
    i = s.index(before)
    path.write_text(s[:i] + text + s[i:])


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _bare(installed: Path, scratch: Path) -> tuple[float, float]:
    layout = codegen.layout_of(installed)
    env = dict(os.environ, PYTHONPATH=str(layout.python_root), PYTHONDONTWRITEBYTECODE="1")
    out = scratch / "bare"
    aten = [sys.executable, "-m", "torchgen.gen", "--source-path", str(layout.aten), "--install_dir",
            str(out / "aten"), "--aoti-install-dir", str(out / "aoti"), "--per-operator-headers"]
    autograd = [sys.executable, "-c", codegen._AUTOGRAD_DRIVER, layout.autograd_module, str(layout.native_functions),
                str(layout.tags), str(out / "autograd"), str(layout.autograd)]
    ta, _ = _timed(lambda: subprocess.run(aten, cwd=scratch, env=env, check=True, capture_output=True))
    tg, _ = _timed(lambda: subprocess.run(autograd, cwd=scratch, env=env, check=True, capture_output=True))
    return ta, tg


def _round(installed: Path, scratch: Path, n: int, rows: dict[str, list[float]]) -> None:
    """One interleaved round: the bare reference, then each build step on a fresh workspace (the
    machine's load drifts; interleaving gives both sides the same drift)."""
    ta, tg = _bare(installed, scratch)
    rows.setdefault("reference: bare torchgen.gen (ATen)", []).append(ta)
    rows.setdefault("reference: bare autograd generator", []).append(tg)
    rows.setdefault("reference: both, one after the other", []).append(ta + tg)

    ws = scratch / f"ws{n}"
    shutil.copytree(installed, ws / "torchgen", ignore=shutil.ignore_patterns("__pycache__"))
    _insert(ws / "torchgen/packaged/ATen/native/native_functions.yaml", "- func: hardshrink_backward.grad_input", NEW_OP)
    _insert(ws / "torchgen/packaged/autograd/derivatives.yaml", "- name: hardshrink_backward(", DERIVATIVE)
    steps: list[tuple[float, str]] = []
    t_build = time.perf_counter()
    t, r = _timed(lambda: codegen.build(None, ws, progress=lambda m: steps.append((time.perf_counter() - t_build, m))))
    assert r.ok and "squareplus" in r.summary, r.diagnostics or r.log[-2000:]
    rows.setdefault("build: new op (ATen + autograd + diff)", []).append(t)
    for i, (at, msg) in enumerate(steps):  # where the new-op build spent its time
        until = steps[i + 1][0] if i + 1 < len(steps) else t
        rows.setdefault(f"  new op: {msg.split(':', 1)[1].strip()[:40]}", []).append(until - at)

    dy = ws / "torchgen/packaged/autograd/derivatives.yaml"
    dy.write_text(dy.read_text().replace("/ (self * self + b).sqrt())", "* (self * self + b).rsqrt())"))
    t, r = _timed(lambda: codegen.build(None, ws))
    assert r.ok and "rsqrt" in r.summary
    rows.setdefault("build: derivatives.yaml edit (autograd + diff)", []).append(t)

    t, r = _timed(lambda: codegen.build(None, ws))
    assert r.ok and r.cached
    rows.setdefault("build: nothing changed", []).append(t)

    from torchatlas.contrib.builders.gen_diff import diff_outputs
    pristine = codegen.pristine_output(installed)
    t, _ = _timed(lambda: diff_outputs(pristine, ws / ".lab/build/codegen/out"))
    rows.setdefault("diff_outputs alone (pristine vs new op)", []).append(t)
    shutil.rmtree(ws)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serial", action="store_true", help="run the ATen and autograd generators one after the other")
    ap.add_argument("--runs", type=int, default=2, help="interleaved rounds (default 2); the minimum is reported")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    installed = codegen.installed_torchgen()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        scratch = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")  # a cold pristine cache
        codegen._recall = lambda *a, **kw: None  # every round generates: no recent generation is reused
        if args.serial:
            real = codegen.run_torchgen

            def serial(*a, **kw):
                kw["parallel"] = False
                return real(*a, **kw)
            codegen.run_torchgen = serial

        t, _ = _timed(lambda: codegen.pristine_output(installed))
        rows["pristine_output, cold (once)"] = [t]
        t, _ = _timed(lambda: codegen.pristine_output(installed))
        rows["pristine_output, warm"] = [t]
        for n in range(args.runs):
            _round(installed, scratch, n, rows)

    load = os.getloadavg()[0]
    best = {k: min(v) for k, v in rows.items()}
    if args.json:
        print(json.dumps({"seconds_min": {k: round(v, 2) for k, v in best.items()},
                          "seconds_all": {k: [round(x, 2) for x in v] for k, v in rows.items()},
                          "load": load, "cores": os.cpu_count(), "parallel": not args.serial}, indent=1))
    else:
        width = max(map(len, rows))
        for k, v in rows.items():
            print(f"{k:<{width}}  {min(v):7.2f} s   ({', '.join(f'{x:.1f}' for x in v)})")
        ref = best["reference: both, one after the other"]
        print(f"\nnew-op build / bare reference (minimum of {args.runs}): "
              f"{best['build: new op (ATen + autograd + diff)'] / ref:.2f}x"
              f"  (load average {load:.1f} on {os.cpu_count()} cores; generators "
              f"{'serial' if args.serial else 'side by side'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
