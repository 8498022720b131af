"""Python Meta kernels read statically vs the live dispatcher of the installed torch.

The live side runs in a subprocess (importing torch here would drag it into every later test):
it lists every aten op whose `Meta:` entry says `registered at .../torch/_meta_registrations.py:N`
and, for those, which Python function activate_meta() gave it (the same table walk, on the live
objects), so kernel names and definition lines can be checked too.

`ops` comes from torchgen through a small adapter (`ops_from_torchgen`), run in a subprocess with the
tree's own torchgen first on sys.path (a newer torchgen cannot read an older tree's YAML). It is meant
to be swapped for the project's own YAML reader later: only name, overload and the two flags are used.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchatlas.indexes.model import Location, OperatorSchema
from torchatlas.indexes.python_registrations import META_FILE, python_meta_registrations

THRESHOLD = 0.995
V260 = Path(os.environ["TORCHATLAS_TEST_SOURCE"]) if os.environ.get("TORCHATLAS_TEST_SOURCE") else None

_TORCHGEN_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from torchgen.gen import parse_native_yaml
y = sys.argv[2]
parsed = parse_native_yaml(f"{y}/native_functions.yaml", f"{y}/tags.yaml")
json.dump([[str(f.func.name.name), f.func.name.overload_name, str(f.func), f.loc.line,
            f.has_composite_implicit_autograd_kernel,
            # model.OperatorSchema.is_view: a return aliases an input without writing it. (torchgen's
            # NativeFunction.is_view_op also counts in-place views such as t_, which torch's
            # OpOverload.is_view, the flag activate_meta() reads, does not.)
            any(r.annotation is not None and not r.annotation.is_write for r in f.func.returns)]
           for f in parsed.native_functions], sys.stdout)
"""

_LIVE_SCRIPT = r"""
import json, os, sys, warnings
warnings.filterwarnings("ignore")
import torch
from torch._decomp import global_decomposition_table
site = os.path.dirname(os.path.dirname(torch.__file__))
out = {}
for op in torch._C._dispatch_get_all_op_names():
    if not op.startswith("aten::"):
        continue
    for line in torch._C._dispatch_dump_table(op).splitlines():
        if line.startswith("Meta:") and "_meta_registrations.py" in line:
            out[op] = {"registered_at": line.split("registered at ", 1)[1].rsplit(" [", 1)[0]}
# The Python side: which function activate_meta() registered (meta > post_autograd > pre_autograd).
for typ in ("meta", "post_autograd", "pre_autograd"):
    for opo, fn in global_decomposition_table[typ].items():
        try:
            name = opo.name()
        except Exception:
            continue
        if name not in out or "kernel" in out[name]:
            continue
        # The innermost function of the __wrapped__ chain (the decorated one); when the chain ends
        # in an operator rather than a function, the function registered itself.
        chain = [fn]
        while hasattr(chain[-1], "__wrapped__") and len(chain) < 50:
            chain.append(chain[-1].__wrapped__)
        f = chain[-1] if hasattr(chain[-1], "__code__") else chain[0]
        if hasattr(f, "__code__"):
            out[name]["kernel"] = f"{f.__globals__.get('__name__')}.{f.__code__.co_qualname}"
            out[name]["defined_at"] = f"{os.path.relpath(f.__code__.co_filename, site)}:{f.__code__.co_firstlineno}"
json.dump(out, sys.stdout)
"""


def ops_from_torchgen(tree: Path, yaml_dir: Path) -> dict[str, OperatorSchema]:
    """torchgen's NativeFunctions as the OperatorSchemas python_meta_registrations reads."""
    proc = subprocess.run([sys.executable, "-c", _TORCHGEN_SCRIPT, str(tree), str(yaml_dir)],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.skip(f"torchgen could not read {yaml_dir}: {proc.stderr.strip()[-300:]}")
    ops = {}
    for name, overload, schema, line, cia, view in json.loads(proc.stdout):
        s = OperatorSchema(name=name, overload=overload, schema=schema, arguments=(), returns=(),
                           location=Location("native_functions.yaml", line),
                           has_composite_implicit_autograd_kernel=cia, is_view=view)
        ops[s.op] = s
    return ops


@pytest.fixture(scope="module")
def site_packages() -> Path:
    spec = importlib.util.find_spec("torch")  # locates torch without importing it
    if spec is None or not spec.origin:
        pytest.skip("torch is not installed")
    return Path(spec.origin).parent.parent


@pytest.fixture(scope="module")
def live(site_packages) -> dict:
    proc = subprocess.run([sys.executable, "-c", _LIVE_SCRIPT], capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        pytest.skip(f"torch is not importable: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)


@pytest.mark.live
def test_python_meta_matches_live_dispatcher(site_packages, live):
    ops = ops_from_torchgen(site_packages, site_packages / "torchgen/packaged/ATen/native")
    regs, problems = python_meta_registrations(site_packages, "package", ops)
    static = {r.op: r for r in regs}
    assert len(static) == len(regs), "one registration per op"

    extra = sorted(set(static) - set(live))
    missed = sorted(set(live) - set(static))
    precision = 1 - len(extra) / max(len(static), 1)
    recall = 1 - len(missed) / max(len(live), 1)
    report = (f"static {len(static)}, live {len(live)}, precision {precision:.4f}, recall {recall:.4f}"
              f"\n  not live: {extra}\n  missed: {[(m, live[m]) for m in missed]}\n"
              f"  problems: {[str(p) for p in problems]}")
    assert precision >= THRESHOLD and recall >= THRESHOLD, report

    # The line: where the dispatcher says the kernel was registered (the aten Meta Library).
    wrong_line = []
    for op in sorted(set(static) & set(live)):
        path, _, line = live[op]["registered_at"].rpartition(":")
        r = static[op]
        if not path.endswith("/" + META_FILE) or r.location != Location(META_FILE, int(line)) or r.key != "Meta":
            wrong_line.append((op, live[op]["registered_at"], str(r.location)))
    assert not wrong_line, wrong_line[:20]

    # Which function: name and first line (as co_firstlineno counts it) of the innermost function.
    checked = [op for op in set(static) & set(live) if "kernel" in live[op]]
    wrong_fn = sorted((op, live[op]["kernel"], live[op]["defined_at"], static[op].kernel, static[op].detail)
                      for op in checked
                      if static[op].kernel != live[op]["kernel"]
                      or not static[op].detail.startswith(live[op]["defined_at"] + " "))
    assert len(wrong_fn) <= (1 - THRESHOLD) * len(checked), wrong_fn[:20]
    assert all(r.kind == "python_meta" for r in regs)
    assert len(problems) <= 3, [str(p) for p in problems]


@pytest.mark.source
def test_python_meta_on_v260_checkout():
    if V260 is None:
        pytest.skip("TORCHATLAS_TEST_SOURCE is unset: set it to a full PyTorch tree "
                    "(../shared/pytorch-source/fetch prints one)")
    if not (V260 / META_FILE).is_file():
        pytest.fail(f"TORCHATLAS_TEST_SOURCE={V260} has no {META_FILE}")
    ops = ops_from_torchgen(V260, V260 / "aten/src/ATen/native")
    regs, problems = python_meta_registrations(V260, "checkout", ops)
    assert len(regs) > 1000, (len(regs), [str(p) for p in problems])
    assert len(problems) <= 5, [str(p) for p in problems]
    # Every one is registered at the line that constructs the aten Meta Library.
    lines = (V260 / META_FILE).read_text().splitlines()
    lib = [i + 1 for i, text in enumerate(lines)
           if text.startswith("_meta_lib_dont_use_me_use_register_meta = torch.library.Library(")]
    assert {r.location for r in regs} == {Location(META_FILE, lib[0])}
    # The well-known ones are there, the skipped ones are not.
    for op in ("aten::mm", "aten::add.Tensor", "aten::abs", "aten::sin_"):
        assert op in {r.op for r in regs}, op
    for op in ("aten::clone", "aten::empty_strided", "aten::view", "aten::_to_copy"):
        assert op not in {r.op for r in regs}, op


@pytest.mark.live
def test_higher_order_operators_are_not_reported_as_problems(site_packages):
    """`@register_decomposition(out_dtype)` decomposes a higher-order operator, not an aten op: no
    warning for the user about it (every first index printed one)."""
    ops = ops_from_torchgen(site_packages, site_packages / "torchgen/packaged/ATen/native")
    _, problems = python_meta_registrations(site_packages, "package", ops)
    assert not [p for p in problems if "_higher_order_ops" in str(p)], [str(p) for p in problems]
