"""indexes/bindings.py on hand-made operators and a tiny fake source tree."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from torchatlas.indexes.bindings import python_bindings
from torchatlas.indexes.model import Argument, Location, OperatorSchema


def op(schema: str, variants: str = "function", **fields) -> OperatorSchema:
    """An OperatorSchema from a `func:` string (enough syntax for these tests)."""
    m = re.fullmatch(r"(\w+)(?:\.(\w+))?\((.*)\) -> (.*)", schema)
    assert m, schema
    name, overload, params, _returns = m.groups()
    args, kwonly = [], False
    for p in filter(None, (x.strip() for x in params.split(", "))):
        if p == "*":
            kwonly = True
            continue
        decl, _, default = p.partition("=")
        typ, arg = decl.rsplit(" ", 1)
        alias = re.search(r"\((\w!?)\)", typ)
        args.append(Argument(arg, re.sub(r"\(.*?\)", "", typ), default or None,
                             alias.group(1) if alias else None, kwonly,
                             kwonly and bool(alias and alias.group(1).endswith("!"))))
    return OperatorSchema(name=name, overload=overload or "", schema=schema, arguments=tuple(args),
                          returns=(), location=Location("native_functions.yaml", 1),
                          variants=tuple(v.strip() for v in variants.split(",")), **fields)


OPS = [
    op("add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor", "function, method"),
    op("add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor", "function, method"),
    op("add.out(Tensor self, Tensor other, *, Scalar alpha=1, Tensor(a!) out) -> Tensor(a!)"),
    op("add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)", "method"),
    op("divide.Tensor(Tensor self, Tensor other) -> Tensor", "function, method"),
    op("divide.Scalar(Tensor self, Scalar other) -> Tensor", "function, method"),
    op("only_method(Tensor self) -> Tensor", "method"),
    op("abs(Tensor self) -> Tensor", "function, method"),
    op("relu(Tensor self) -> Tensor", "function, method"),
    op("relu_(Tensor(a!) self) -> Tensor(a!)", "function, method"),
    op("softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor", "function, method"),
    op("split.Tensor(Tensor(a) self, SymInt split_size, int dim=0) -> Tensor(a)[]",
       "function, method"),
    op("gelu(Tensor self, *, str approximate='none') -> Tensor", python_module="nn"),
    op("gelu.out(Tensor self, *, str approximate='none', Tensor(a!) out) -> Tensor(a!)",
       python_module="nn"),
    op("elu(Tensor self, Scalar alpha=1) -> Tensor", python_module="nn"),
    op("elu.out(Tensor self, Scalar alpha=1, *, Tensor(a!) out) -> Tensor(a!)", python_module="nn"),
    op("linalg_vector_norm(Tensor self, Scalar ord=2) -> Tensor", python_module="linalg"),
    op("special_erf(Tensor self) -> Tensor", python_module="special"),
    op("conv_thing_backward(Tensor grad) -> Tensor"),
    op("is_complex(Tensor self) -> bool", "function, method", manual_cpp_binding=True),
    op("_foo_copy.out(Tensor self, *, Tensor(a!) out) -> Tensor(a!)", tags=("generated",)),
    op("unique_dim(Tensor self, int dim) -> Tensor"),
]

FILES = {
    "torchgen/packaged/autograd/gen_python_functions.py": '''
        _SKIP_PYTHON_BINDINGS = [".*_backward", "size"]
        SKIP_PYTHON_BINDINGS = [re.compile(rf"^{p}$") for p in _SKIP_PYTHON_BINDINGS]
        SKIP_PYTHON_BINDINGS_SIGNATURES = [
            "add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
        ]
        def should_generate_py_binding(f):
            if "generated" in f.tags and "view_copy" not in f.tags:
                return False
        def is_py_nn_function(f): pass
        def is_py_linalg_function(f): pass
        def is_py_special_function(f): pass
    ''',
    "torchgen/packaged/autograd/deprecated.yaml": '''
        - name: add(Tensor self, Scalar alpha, Tensor other) -> Tensor
          aten: add(self, other, alpha)
        - name: gone(Tensor self) -> Tensor
          aten: gone(self)
    ''',
    "torch/__init__.py": '''
        from torch._C import *
        PRIVATE_OPS = ("unique_dim",)
        for __name in dir(_C._VariableFunctions):
            pass
        from torch.functional import *
    ''',
    "torch/functional.py": '''
        import torch
        __all__ = ["split"]
        def split(tensor, split_size_or_sections, dim=0):
            return tensor.split(split_size_or_sections, dim)
    ''',
    "torch/_tensor.py": '''
        import torch
        from torch import _C
        class Tensor(torch._C.TensorBase):
            def split(self, split_size, dim=0):
                if isinstance(split_size, int):
                    return torch._VF.split(self, split_size, dim)
                return torch._VF.split_with_sizes(self, split_size, dim)
            __abs__ = _C.TensorBase.abs
            def __rsub__(self, other):
                return _C._VariableFunctions.rsub(self, other)
    ''',
    "torch/nn/functional.py": '''
        import torch
        from torch import _VF
        from torch._C import _add_docstr
        gelu = _add_docstr(torch._C._nn.gelu, "gelu(input) -> Tensor")
        def relu(input, inplace=False):
            if inplace:
                return torch.relu_(input)
            return torch.relu(input)
        relu_ = _add_docstr(torch.relu_, "relu_(input) -> Tensor")
        def softmax(input, dim=None, dtype=None):
            return input.softmax(dim) if dtype is None else input.softmax(dim, dtype=dtype)
        def elu(input, alpha=1.0):
            return torch._C._nn.elu(input, alpha)
        def not_a_wrapper(input):
            return torch.add(input, input)
        def _private(input):
            return torch.relu(input)
    ''',
    "torch/linalg/__init__.py": '''
        from torch._C import _add_docstr, _linalg
        vector_norm = _add_docstr(_linalg.linalg_vector_norm, "")
    ''',
    "torch/special/__init__.py": '''
        from torch._C import _add_docstr, _special
        erf = _add_docstr(_special.special_erf, "")
    ''',
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return tmp_path


@pytest.fixture
def result(tree):
    bindings, problems = python_bindings(OPS, tree, "package")
    by_callable: dict[str, set[str]] = {}
    for b in bindings:
        by_callable.setdefault(b.callable, set()).add(b.op)
    return bindings, problems, by_callable


def test_functions_and_methods_follow_variants(result):
    _, _, got = result
    assert got["torch.add"] == {"aten::add.Tensor", "aten::add.out"}  # out= folds in
    assert got["torch.Tensor.add"] == {"aten::add.Tensor"}
    assert got["torch.Tensor.add_"] == {"aten::add_.Tensor"}
    assert "torch.add_" not in got
    assert got["torch.Tensor.only_method"] == {"aten::only_method"}
    assert "torch.only_method" not in got


def test_skip_lists_and_exclusions(result):
    bindings, _, got = result
    ops = {b.op for b in bindings}
    assert "aten::add.Scalar" not in ops  # SKIP_PYTHON_BINDINGS_SIGNATURES
    assert "aten::conv_thing_backward" not in ops  # _SKIP_PYTHON_BINDINGS regex
    assert "aten::_foo_copy.out" not in ops  # generated
    assert "aten::is_complex" not in ops  # manual_cpp_binding: never enters the dispatcher
    # number-as-tensor names: the Tensor signature shadows the Scalar one
    assert got["torch.divide"] == {"aten::divide.Tensor"}
    # PRIVATE_OPS keep their C path
    assert got["torch._C._VariableFunctions.unique_dim"] == {"aten::unique_dim"}


def test_python_modules_and_aliases(result):
    bindings, _, got = result
    assert got["torch._C._nn.gelu"] == {"aten::gelu", "aten::gelu.out"}
    assert got["torch.nn.functional.gelu"] == {"aten::gelu", "aten::gelu.out"}  # same object
    assert "torch.gelu" not in got
    assert got["torch.linalg.vector_norm"] == {"aten::linalg_vector_norm"}
    assert got["torch._C._linalg.linalg_vector_norm"] == {"aten::linalg_vector_norm"}
    assert got["torch.special.erf"] == {"aten::special_erf"}
    assert got["torch.nn.functional.relu_"] == {"aten::relu_"}
    assert got["torch.Tensor.__abs__"] == {"aten::abs"}
    via = {(b.callable, b.op): b.via for b in bindings}
    assert via[("torch.nn.functional.gelu", "aten::gelu")].startswith(
        "alias in torch/nn/functional.py:4")


def test_wrappers(result):
    bindings, _, got = result
    assert got["torch.nn.functional.relu"] == {"aten::relu"}  # relu_ is another op
    assert got["torch.nn.functional.softmax"] == {"aten::softmax.int"}  # input.softmax(...)
    assert got["torch.nn.functional.elu"] == {"aten::elu"}  # never passes out=
    assert "torch.nn.functional.not_a_wrapper" not in got
    assert "torch.nn.functional._private" not in got
    assert "torch.Tensor.__rsub__" not in got
    # torch.split -> Tensor.split (Python) -> torch._VF.split; split_with_sizes is another op
    assert got["torch.split"] == {"aten::split.Tensor"}
    assert got["torch.Tensor.split"] == {"aten::split.Tensor"}
    # the bindings Python replaced keep their C path
    assert got["torch._C._VariableFunctions.split"] == {"aten::split.Tensor"}
    assert got["torch._C.TensorBase.split"] == {"aten::split.Tensor"}
    via = {(b.callable, b.op): b.via for b in bindings}
    assert via[("torch.nn.functional.relu", "aten::relu")] == (
        "wrapper in torch/nn/functional.py:5 (torch._C._VariableFunctions.relu)")


def test_deprecated_entries_are_checked(result):
    _, problems, _ = result
    assert [p.entry for p in problems if "deprecated" in p.message] == ["gone"]


def test_checkout_layout_and_missing_files(tmp_path: Path):
    # a checkout keeps gen_python_functions.py under tools/autograd; here it has none at all
    (tmp_path / "torch").mkdir()
    bindings, problems = python_bindings(OPS, tmp_path, "checkout")
    got = {(b.callable, b.op) for b in bindings}
    assert ("torch.add", "aten::add.Tensor") in got  # built-in fallback rules
    assert ("torch._C._nn.gelu", "aten::gelu") in got
    assert not any(c.startswith("torch.nn.functional.") for c, _ in got)
    missing = {p.location.path for p in problems}
    assert "tools/autograd/gen_python_functions.py" in missing
    assert "torch/nn/functional.py" in missing
    assert all(p.severity in ("warning", "error") for p in problems)


def test_broken_python_is_a_problem_not_an_exception(tree: Path):
    (tree / "torch/nn/functional.py").write_text("def broken(:\n")
    bindings, problems = python_bindings(OPS, tree, "package")
    assert any(p.location.path == "torch/nn/functional.py" and p.severity == "error"
               for p in problems)
    assert any(b.callable == "torch.add" for b in bindings)


def test_unknown_python_module_is_reported(tree: Path):
    odd = op("odd(Tensor self) -> Tensor", python_module="quantum")
    bindings, problems = python_bindings(OPS + [odd], tree, "package")
    assert not any(b.op == "aten::odd" for b in bindings)
    assert any(p.entry == "odd" for p in problems)
