"""`trace`: torchgen's own names for each overload, the binding file its python_module picks, method-
and function-only variants, and CompositeImplicitAutograd kernels followed into the ops they call.

Names are checked against what the installed torch itself ships (the `struct TORCH_API <name>` of
every ATen/ops/*_ops.h, and `torch.ops.aten.<op>.<overload>` in a subprocess), not against a copy
of the rule.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from torchatlas.indexes.store import Index
from torchatlas.indexes.trace import binding_file, cpp_names, trace


def _titles(steps) -> str:
    return "\n".join(f"[{s.layer}] {s.title} @ {s.location} | {s.note}" for s in steps)


def test_cpp_names_follow_torchgen_per_overload():
    conv = cpp_names({"name": "conv2d", "overload": "", "variants": ["function"], "arguments": []})
    assert conv.ops_struct == "at::_ops::conv2d" and conv.function == "at::conv2d" and conv.method is None
    add_ = cpp_names({"name": "add_", "overload": "Tensor", "variants": ["method"], "arguments": []})
    assert add_.ops_struct == "at::_ops::add__Tensor" and add_.function is None
    assert add_.method == "at::Tensor::add_" and add_.root == "add"
    out = cpp_names({"name": "add", "overload": "out", "variants": ["function"],
                     "arguments": [{"name": "out", "out": True}]})
    assert out.ops_struct == "at::_ops::add_out" and out.function == "at::add_out"


def test_binding_file_comes_from_python_module():
    assert binding_file("torch.nn.functional.conv2d", {"python_module": None}) == "python_torch_functions.cpp"
    assert binding_file("torch._C._nn.gelu", {"python_module": "nn"}) == "python_nn_functions.cpp"
    assert binding_file("torch.linalg.norm", {"python_module": "linalg"}) == "python_linalg_functions.cpp"
    assert binding_file("torch.Tensor.mul_", {"python_module": None}) == "python_variable_methods.cpp"


@pytest.fixture(scope="module")
def installed(installed_db):
    idx = Index(installed_db)
    yield idx
    idx.close()


def test_every_ops_struct_exists_in_the_installed_headers(installed):
    """The oracle is the wheel's own generated headers: every `at::_ops::` name trace would print
    for an operator of native_functions.yaml is a struct torchgen wrote."""
    ops_dir = Path(installed.source.root) / "torch/include/ATen/ops"
    shipped = set()
    for h in ops_dir.glob("*_ops.h"):
        shipped.update(re.findall(r"struct TORCH_API (\w+) \{", h.read_text(errors="replace")))
    assert len(shipped) > 2000
    records = [r for r in installed.all_ops() if r.get("schema") and not r.get("origin")]
    missing = [r["op"] for r in records if cpp_names(r).ops_struct[len("at::_ops::"):] not in shipped]
    assert len(missing) <= len(records) * 0.001, missing[:20]


def test_conv2d_names_the_default_overload_struct_and_the_torch_functions_binding(installed):
    op, steps = trace(installed, "torch.nn.functional.conv2d", key="CPU")
    assert op == "aten::conv2d"
    text = _titles(steps)
    assert "at::_ops::conv2d::call" in text and "conv2d_::call" not in text
    binding = next(s for s in steps if s.layer == "binding")
    assert "python_torch_functions.cpp" in binding.title and "python_nn_functions.cpp" not in binding.title
    api = next(s for s in steps if s.layer == "cpp_api")
    assert api.title.startswith("at::conv2d(") and api.location and "ATen/ops/conv2d.h" in api.location
    # the live torch agrees: the dispatcher's name, and the default overload trace names
    code = ("import torch, json; p = torch.ops.aten.conv2d.default; "
            "print(json.dumps([p.name(), p._overloadname]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["aten::conv2d", "default"]


def test_conv2d_is_composite_implicit_and_the_walk_says_why_it_goes_on_or_stops(installed):
    _op, steps = trace(installed, "torch.nn.functional.conv2d", key="CPU")
    dispatch = next(s for s in steps if s.layer == "dispatch")
    assert "composite_implicit" in dispatch.title
    hop = [s for s in steps if s.layer == "decomposes"]
    assert hop, _titles(steps)
    # the package ships no Convolution.cpp: the walk stops there and says how to go on
    assert hop[-1].location is None and "index a checkout" in hop[-1].note


def test_with_runtime_conv2d_reaches_convolution_and_a_cpu_kernel(installed):
    """The package has no Convolution.cpp: the installed torch shows the hop (an OpInfo sample run
    under a dispatch mode, in a subprocess: ~10 s of CPU, the one slow test of this file)."""
    pytest.importorskip("numpy", reason="torch's OpInfo samples need NumPy (pip install -e '.[labs]' installs it)")
    _op, steps = trace(installed, "torch.nn.functional.conv2d", key="CPU", runtime=True)
    text = _titles(steps)
    hops = [s for s in steps if s.layer == "decomposes"]
    assert hops and "aten::convolution" in hops[0].title and "seen live" in hops[0].title, text
    assert "no CPU kernel of its own" in hops[0].note and "OpInfo sample" in hops[0].note
    last = [s for s in steps if s.layer == "dispatch"][-1]
    assert "composite_implicit" not in last.title and "-> -" not in last.title, text
    kernel = [s for s in steps if s.layer == "kernel"][-1]
    assert "convolution" in kernel.title, text


def test_a_method_only_op_is_not_called_through_an_at_function(installed):
    rec = installed.op("aten::mul_.Tensor")
    assert "function" not in rec["variants"]
    _op, steps = trace(installed, "torch.Tensor.mul_", key="CPU")
    api = next(s for s in steps if s.layer == "cpp_api")
    assert api.title.startswith("at::Tensor::mul_(") and "method-only" in api.title
    assert "at::_ops::mul__Tensor::call" in api.title
    binding = next(s for s in steps if s.layer == "binding")
    assert "python_variable_methods.cpp" in binding.title


def test_an_nn_module_op_binds_in_python_nn_functions(installed):
    rec = installed.op("aten::gelu")
    assert rec["python_module"] == "nn"
    _op, steps = trace(installed, "aten::gelu", key="CPU")
    assert any("at::_ops::gelu::call" in s.title for s in steps), _titles(steps)


def test_on_the_tree_conv2d_is_followed_to_convolution_and_a_cpu_kernel(tree_db):
    with_tree = Index(tree_db)
    try:
        _op, steps = trace(with_tree, "torch.nn.functional.conv2d", key="CPU")
    finally:
        with_tree.close()
    text = _titles(steps)
    hops = [s for s in steps if s.layer == "decomposes"]
    assert hops and "aten::convolution" in hops[0].title and hops[0].location, text
    assert "Convolution.cpp" in hops[0].location
    assert "no CPU kernel of its own" in hops[0].note
    last_dispatch = [s for s in steps if s.layer == "dispatch"][-1]
    assert "composite_implicit" not in last_dispatch.title, text


def test_python_code_is_followed_by_its_calls_to_the_callable_that_binds_an_operator(installed):
    """`trace torch.nn.Linear`: an nn.Module runs its forward, whose call of F.linear binds aten::linear
    (before: "binds no operator ... did you mean torch._C._nn.linear?")."""
    chosen, steps = trace(installed, "torch.nn.Linear")
    assert chosen == "aten::linear", _titles(steps)
    python = [s for s in steps if s.layer == "python"]
    assert "torch.nn.modules.linear.Linear.forward" in python[0].title and "nn.Module" in python[0].title
    assert python[1].title == "torch.nn.modules.linear.Linear.forward  calls torch.nn.functional.linear"
    path, line = python[1].location.rsplit(":", 1)  # the call site, read back from the installed file
    root = Path(installed.source.root)
    assert "linear(" in (root / path).read_text().splitlines()[int(line) - 1]
    assert python[2].title.startswith("torch.nn.functional.linear  (binds aten::linear")
    assert [s.layer for s in steps[3:5]] == ["binding", "cpp_api"]
    # a public name of a method: said as its definition, then the same walk
    chosen, steps = trace(installed, "torch.nn.Conv2d.forward")
    assert chosen == "aten::conv2d" and "defined as torch.nn.modules.conv.Conv2d.forward" in steps[0].title
    # several reachable: the nearest is traced, the others are named
    _chosen, steps = trace(installed, "torch.nn.MultiheadAttention")
    assert any("the others are" in s.note and "torch.cat" in s.note for s in steps), _titles(steps)


def test_python_code_that_reaches_no_binding_says_where_it_looked(installed):
    from torchatlas.indexes.errors import NotFound
    with pytest.raises(NotFound) as e:
        trace(installed, "torch.nn.Module")
    assert "torch.nn.modules.module.Module.forward" in str(e.value) and "resolved calls" in str(e.value)
    with pytest.raises(NotFound) as e:
        trace(installed, "torch.zzqq")
    assert "resolved calls" not in str(e.value)  # no such code: nothing to say about its calls
    with pytest.raises(NotFound) as e:
        trace(installed, "torch.nn.functional")
    assert "torch.nn.functional is a module" in str(e.value)
