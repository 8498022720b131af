"""python_meta_registrations on a tiny fake torch tree: each construct the real tree uses, in miniature."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torchatlas.indexes.model import Location, OperatorSchema
from torchatlas.indexes.python_registrations import python_meta_registrations

DECOMP_INIT = """
from collections import defaultdict
import torch
from torch.utils import _pytree as pytree

global_decomposition_table = defaultdict(dict)
decomposition_table = global_decomposition_table["post_autograd"]
pre_autograd_decomposition_table = global_decomposition_table["pre_autograd"]
meta_table = global_decomposition_table["meta"]

def _add_op_to_registry(registry, op, fn):
    registry[op] = fn

def register_decomposition(aten_op, registry=None, *, type="post_autograd", unsafe=False):
    def decomposition_decorator(fn):
        nonlocal registry
        if registry is None:
            registry = global_decomposition_table[type]
        pytree.tree_map_(lambda op: _add_op_to_registry(registry, op, fn), aten_op)
        return fn
    return decomposition_decorator

import torch._decomp.decompositions
import torch._refs
"""

DECOMPOSITIONS = """
import functools
import torch
from torch._decomp import register_decomposition
from torch._prims_common.wrappers import out_wrapper

aten = torch._ops.ops.aten
my_table = {}

@register_decomposition([aten.foo.default, (aten.bar.Tensor,)])  # pytree of overloads
@out_wrapper()
def foo_or_bar(x):
    return x

@register_decomposition(aten.baz)  # a packet: every overload the dispatcher has
def baz(x):
    return x

@register_decomposition(aten.cia_op)  # has a CompositeImplicitAutograd kernel: skipped
def cia(x):
    return x

@register_decomposition(aten.view_op.default)  # a view: skipped
def view_op(x):
    return x

@register_decomposition(aten.routed, registry=my_table)  # another table: not a Meta kernel
def routed(x):
    return x

@register_decomposition(aten.pre, type="pre_autograd")
def pre(x):
    return x

@register_decomposition(aten.empty_strided)  # named in activate_meta's skip set (default only)
def empty_strided(x):
    return x

def register_inplace(aten_op, outplace_op):
    @register_decomposition(aten_op)
    def inplace_op(*args, **kwargs):
        return outplace_op(*args, **kwargs)
    return inplace_op

register_inplace(aten.baz_, aten.baz)

@register_decomposition(some_unknown_thing.op)  # cannot be evaluated: a problem, not a crash
def mystery(x):
    return x
"""

REFS_INIT = """
import torch
import torch._prims_common as utils
from functools import wraps
from torch._decomp import register_decomposition

aten = torch.ops.aten
infer_aten_op = object()

def _make_elementwise_unary_reference(type_promotion_kind, *, aten_op=infer_aten_op):
    def inner(prim):
        nonlocal aten_op

        @wraps(prim)
        def _ref(a):
            return prim(a)

        if aten_op is infer_aten_op:
            aten_op = utils.get_aten_op(prim, prim.__name__)
        if aten_op is not None:
            register_decomposition(aten_op)(_ref)
        return _ref
    return inner

@_make_elementwise_unary_reference(0)  # infer_aten_op: aten.sin, from the name
def sin(a):
    return a

@_make_elementwise_unary_reference(0, aten_op=None)  # registers nothing
def helper(a):
    return a

@_make_elementwise_unary_reference(0, aten_op=aten.cos.default)
def my_cos(a):
    return a

def _make_inplace(fn):
    @wraps(fn)
    def _fn(a, *args, **kwargs):
        return fn(a, *args, out=a, **kwargs)
    inplace_name = f"{fn.__name__}_"
    _fn.__name__ = inplace_name
    _fn = register_decomposition(getattr(aten, inplace_name))(_fn)
    return _fn

sin_ = _make_inplace(sin)

import torch._refs.special
"""

REFS_SPECIAL = """
from torch._refs import _make_elementwise_unary_reference

@_make_elementwise_unary_reference(0)  # module torch._refs.special: aten.special_entr
def entr(a):
    return a
"""

META = """
import torch
from torch._decomp import _add_op_to_registry, global_decomposition_table, meta_table
from torch.utils import _pytree as pytree

aten = torch.ops.aten
_meta_lib_dont_use_me_use_register_meta = torch.library.Library("aten", "IMPL", "Meta")

def register_meta(op):
    def wrapper(fn):
        def register(op):
            _add_op_to_registry(meta_table, op, fn)
        pytree.tree_map_(register, op)
        return fn
    return wrapper

@register_meta(aten.baz.default)  # meta beats post_autograd for baz; baz.out stays with decompositions
def meta_baz(x):
    return x

if torch._C._has_mkldnn:
    _meta_lib_dont_use_me_use_register_meta_for_mkldnn = torch.library.Library("mkldnn", "IMPL", "Meta")

    @register_meta(torch.ops.mkldnn._convolution_pointwise.default)
    def meta_mkldnn(x):
        return x

import torch._refs

def activate_meta():
    activate_meta_table = {}
    for typ in ["meta", "post_autograd", "pre_autograd"]:
        registry = global_decomposition_table[typ]
        for opo in registry:
            if opo not in activate_meta_table:
                activate_meta_table[opo] = registry[opo]
    for op_overload, fn in activate_meta_table.items():
        if torch._C._dispatch_has_kernel_for_dispatch_key(op_overload.name(), "CompositeImplicitAutograd"):
            pass
        elif op_overload.is_view:
            pass
        elif op_overload.name() in {"aten::empty_strided", "aten::clone"}:
            pass
        else:
            if "mkldnn::" in op_overload.name():
                _meta_lib_dont_use_me_use_register_meta_for_mkldnn.impl(op_overload, fn)
            else:
                _meta_lib_dont_use_me_use_register_meta.impl(op_overload, fn)

activate_meta()
"""



def _line(text: str, needle: str) -> int:
    """The 1-based line of needle in text as written to disk (dedented, leading newline dropped)."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    return next(i + 1 for i, line in enumerate(lines) if needle in line)


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


def _op(name: str, overload: str = "", cia: bool = False, view: bool = False) -> OperatorSchema:
    return OperatorSchema(name=name, overload=overload, schema=f"{name}(Tensor self) -> Tensor", arguments=(),
                          returns=(), location=Location("native_functions.yaml", 1),
                          has_composite_implicit_autograd_kernel=cia, is_view=view)


OPS = {s.op: s for s in (
    _op("foo"), _op("foo", "out"), _op("bar", "Tensor"), _op("bar", "Scalar"),
    _op("baz"), _op("baz", "out"), _op("baz_"), _op("cia_op", cia=True), _op("view_op", view=True),
    _op("routed"), _op("pre"), _op("empty_strided"), _op("empty_strided", "out"),
    _op("sin"), _op("sin", "out"), _op("sin_"), _op("cos"), _op("cos", "out"), _op("helper"),
    _op("special_entr"),
)}


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    _write(tmp_path, "torch/__init__.py", "")
    _write(tmp_path, "torch/_decomp/__init__.py", DECOMP_INIT)
    _write(tmp_path, "torch/_decomp/decompositions.py", DECOMPOSITIONS)
    _write(tmp_path, "torch/_refs/__init__.py", REFS_INIT)
    _write(tmp_path, "torch/_refs/special/__init__.py", REFS_SPECIAL)
    _write(tmp_path, "torch/_meta_registrations.py", META)
    return tmp_path


@pytest.fixture()
def result(tree: Path):
    regs, problems = python_meta_registrations(tree, "checkout", OPS)
    return {r.op: r for r in regs}, problems


def test_registered_set(result):
    regs, _ = result
    assert set(regs) == {
        "aten::foo", "aten::bar.Tensor",  # list / tuple of overloads; not foo.out, bar.Scalar
        "aten::baz", "aten::baz.out", "aten::baz_",  # packet; register_inplace factory
        "aten::pre",  # pre_autograd counts too
        "aten::empty_strided.out",  # the skip set names the default overload only
        "aten::sin", "aten::sin.out", "aten::cos",  # factory decorators (aten_op=aten.cos.default)
        "aten::sin_",  # _make_inplace: getattr(aten, f"{fn.__name__}_")
        "aten::special_entr",  # infer_aten_op in torch._refs.special
    }


def test_skips(result):
    regs, _ = result
    assert "aten::cia_op" not in regs  # CompositeImplicitAutograd
    assert "aten::view_op" not in regs  # view
    assert "aten::routed" not in regs  # registry= routes it elsewhere
    assert "aten::empty_strided" not in regs  # activate_meta's named set
    assert "aten::helper" not in regs  # aten_op=None


def test_location_is_the_library_line(result):
    regs, _ = result
    assert {r.location for r in regs.values()} == {Location("torch/_meta_registrations.py",
                                                          _line(META, "_meta_lib_dont_use_me_use_register_meta ="))}
    assert all(r.key == "Meta" and r.kind == "python_meta" for r in regs.values())


def test_precedence_and_kernels(result):
    regs, _ = result
    assert regs["aten::baz"].kernel == "torch._meta_registrations.meta_baz"  # meta wins
    assert regs["aten::baz.out"].kernel == "torch._decomp.decompositions.baz"
    assert "[meta]" in regs["aten::baz"].detail and "@register_meta(aten.baz.default)" in regs["aten::baz"].detail
    # the innermost function of the wraps chain: the decorated one, with its first decorator's line
    assert regs["aten::sin"].kernel == "torch._refs.sin"
    assert regs["aten::sin_"].kernel == "torch._refs.sin"
    sin_line = _line(REFS_INIT, "# infer_aten_op: aten.sin")
    assert regs["aten::sin"].detail.startswith(f"torch/_refs/__init__.py:{sin_line} ")
    assert "_make_inplace(sin)" in regs["aten::sin_"].detail
    assert regs["aten::cos"].kernel == "torch._refs.my_cos"
    assert regs["aten::foo"].kernel == "torch._decomp.decompositions.foo_or_bar"
    assert regs["aten::baz_"].kernel == "torch._decomp.decompositions.register_inplace.<locals>.inplace_op"


def test_problems_name_what_could_not_be_read(result):
    _, problems = result
    texts = [str(p) for p in problems]
    assert any("torch/_decomp/decompositions.py:" in t and "some_unknown_thing" in t for t in texts), texts
    # the mkldnn branch is taken under an unevaluated condition but registers no aten op: no noise
    assert not any("condition" in t for t in texts), texts
    assert len(problems) == 1, texts


def test_missing_files_are_problems_not_errors(tmp_path: Path):
    regs, problems = python_meta_registrations(tmp_path, "checkout", OPS)
    assert regs == [] and problems and "missing" in problems[0].message
    _write(tmp_path, "torch/_meta_registrations.py", "x = 1\n")
    regs, problems = python_meta_registrations(tmp_path, "package", OPS)
    assert regs == []
    assert any("activate_meta" in str(p) for p in problems)
    assert any(p.location.path == "torch/_refs/__init__.py" for p in problems)


def test_garbage_does_not_raise(tmp_path: Path):
    _write(tmp_path, "torch/_meta_registrations.py", "def register_meta(:\n")
    regs, problems = python_meta_registrations(tmp_path, "checkout", OPS)
    assert regs == [] and any("cannot parse" in p.message for p in problems)


def test_library_line_of_a_call_split_over_lines(tree: Path):
    meta = (tree / "torch/_meta_registrations.py").read_text().replace(
        'torch.library.Library("aten", "IMPL", "Meta")', 'torch.library.Library(\n    "aten", "IMPL", "Meta"\n)')
    (tree / "torch/_meta_registrations.py").write_text(meta)
    regs, _ = python_meta_registrations(tree, "checkout", OPS)
    # Python reports the line of `Library` in the call, as torch.library.Library records it
    assert {r.location.line for r in regs} == {_line(META, "_meta_lib_dont_use_me_use_register_meta =")}
