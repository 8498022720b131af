"""Tests for the bulk Python parser (torchatlas.indexes.py_parser).

Inline snippets are modelled on real torch code. The tests at the bottom read real files from
the PyTorch tree named by TORCHATLAS_TEST_SOURCE and are skipped when it is unset.
"""

from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path

import pytest

from torchatlas.indexes.code_facts import FileFacts
from torchatlas.indexes.py_parser import module_name, parse_python


def parse(path: str, src: str) -> FileFacts:
    return parse_python(path, textwrap.dedent(src).encode())


def defs(facts: FileFacts) -> dict[str, object]:
    return {d.qualname: d for d in facts.definitions}


def regs(facts: FileFacts, kind: str) -> list[tuple[str, str, str]]:
    return [(r.name, r.target, r.key) for r in facts.registrations if r.kind == kind]


# --------------------------------------------------------------------------------------------
# module names, definitions, qualnames


def test_module_name_from_path():
    assert module_name("torch/nn/modules/module.py") == ("torch.nn.modules.module", False)
    assert module_name("torch/nn/__init__.py") == ("torch.nn", True)
    assert module_name("./tools/setup_helpers/env.py") == ("tools.setup_helpers.env", False)


def test_nested_classes_methods_and_kinds():
    f = parse(
        "torch/nn/modules/module.py",
        '''\
        class _WrappedHook:
            def __init__(self, hook, module=None):
                self.hook = hook

            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                return self.hook(*args, **kwargs)


        class Module:
            training: bool
            _version: int = 1

            class _Inner(Base, metaclass=Meta):
                def deep(self):
                    def helper(x):
                        return x
                    return helper(1)

            @property
            def name(self):
                return "m"

            async def run(self):
                pass

            def _wrapped_call_impl(self, *args, **kwargs):
                return self._call_impl(*args, **kwargs)

            __call__: Callable[..., Any] = _wrapped_call_impl
        ''',
    )
    d = defs(f)
    m = "torch.nn.modules.module"
    assert d[f"{m}._WrappedHook"].kind == "class"
    assert d[f"{m}._WrappedHook.__call__"].kind == "method"
    assert d[f"{m}._WrappedHook.__call__"].line == 5
    assert d[f"{m}._WrappedHook.__call__"].end_line == 6
    assert d[f"{m}._WrappedHook.__call__"].signature == "def __call__(self, *args: Any, **kwargs: Any) -> Any"
    assert d[f"{m}.Module._Inner"].bases == ("Base",)  # metaclass= is not a base
    assert d[f"{m}.Module._Inner.deep"].kind == "method"
    assert d[f"{m}.Module._Inner.deep.helper"].kind == "function"
    assert d[f"{m}.Module.name"].line == 20  # the def line, not the decorator line
    assert d[f"{m}.Module.run"].signature == "async def run(self)"
    # class-level assignments are definitions: Module.__call__ is one in real torch
    call = d[f"{m}.Module.__call__"]
    assert call.kind == "variable" and call.line == 29 and "__call__" in call.signature
    assert d[f"{m}.Module.training"].kind == "variable"
    assert d[f"{m}.Module._version"].kind == "variable"
    # locals inside functions are not definitions
    assert f"{m}._WrappedHook.__init__.hook" not in d


def test_class_bases_as_written_for_hierarchies():
    f = parse(
        "torch/nn/modules/linear.py",
        """\
        from .module import Module
        import torch.autograd

        class Linear(Module):
            pass

        class LazyLinear(LazyModuleMixin, Linear):
            pass

        class _Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x
        """,
    )
    d = defs(f)
    assert d["torch.nn.modules.linear.Linear"].bases == ("Module",)
    assert d["torch.nn.modules.linear.LazyLinear"].bases == ("LazyModuleMixin", "Linear")
    assert d["torch.nn.modules.linear._Fn"].bases == ("torch.autograd.Function",)
    assert d["torch.nn.modules.linear._Fn.forward"].kind == "method"


def test_module_level_variables_including_if_and_try_blocks():
    f = parse(
        "torch/nn/functional.py",
        '''\
        __all__ = ["gelu"]
        gelu = _add_docstr(
            torch._C._nn.gelu,
            r"""gelu(input) -> Tensor""",
        )
        a, b = 1, 2
        try:
            import numpy as np
            HAS_NUMPY = True
        except ImportError:
            HAS_NUMPY = False
        if TYPE_CHECKING:
            DType = int

        def f():
            local = 1
        ''',
    )
    d = defs(f)
    assert d["torch.nn.functional.gelu"].kind == "variable"
    assert (d["torch.nn.functional.gelu"].line, d["torch.nn.functional.gelu"].end_line) == (2, 5)
    for name in ("__all__", "a", "b", "HAS_NUMPY", "DType"):
        assert f"torch.nn.functional.{name}" in d
    assert "torch.nn.functional.local" not in d and "torch.nn.functional.f.local" not in d


# --------------------------------------------------------------------------------------------
# imports


def test_imports_absolute_relative_and_star():
    f = parse(
        "torch/nn/modules/linear.py",
        """\
        from __future__ import annotations
        import math
        import torch.nn.functional as F, os.path
        from torch import Tensor
        from .module import Module
        from . import init
        from .. import functional as Fn
        from ..parameter import (Parameter,
                                 UninitializedParameter as UP)
        from torch.overrides import *

        def lazy():
            from torch._C import _nn
        """,
    )
    targets = [(i.target, i.line) for i in f.includes]
    assert ("__future__.annotations", 1) in targets
    assert ("math", 2) in targets
    assert ("torch.nn.functional", 3) in targets and ("os.path", 3) in targets
    assert ("torch.Tensor", 4) in targets
    assert ("torch.nn.modules.module.Module", 5) in targets
    assert ("torch.nn.modules.init", 6) in targets
    assert ("torch.nn.functional", 7) in targets
    assert ("torch.nn.parameter.Parameter", 8) in targets
    assert ("torch.nn.parameter.UninitializedParameter", 8) in targets
    assert ("torch.overrides.*", 10) in targets
    assert ("torch._C._nn", 13) in targets  # imports inside functions count too
    assert all(not i.system for i in f.includes)


def test_relative_import_in_package_init():
    f = parse("torch/nn/__init__.py", "from .modules import *\nfrom . import functional\nfrom .. import _C\n")
    assert [i.target for i in f.includes] == ["torch.nn.modules.*", "torch.nn.functional", "torch._C"]


# --------------------------------------------------------------------------------------------
# calls


def test_calls_dotted_names_and_scopes():
    f = parse(
        "torch/nn/modules/activation.py",
        """\
        import torch.nn.functional as F

        class GELU(Module):
            def __init__(self, approximate: str = "none") -> None:
                super().__init__()
                self.approximate = approximate

            def forward(self, input: Tensor) -> Tensor:
                y = torch.add(input, 1)
                z = self.layers[0].forward(y)
                return F.gelu(input, approximate=self.approximate)

        x = ", ".join(names)
        register(lambda t: t.sum())
        """,
    )
    refs = {(r.name, r.scope) for r in f.references}
    cls = "torch.nn.modules.activation.GELU"
    assert ("super().__init__", f"{cls}.__init__") in refs
    assert ("super", f"{cls}.__init__") in refs
    assert ("torch.add", f"{cls}.forward") in refs
    assert ("self.layers[].forward", f"{cls}.forward") in refs
    assert ("F.gelu", f"{cls}.forward") in refs
    assert ("str.join", "") in refs
    assert ("register", "") in refs and ("t.sum", "") in refs  # lambdas belong to the enclosing scope
    assert all(r.kind == "call" for r in f.references)
    gelu = [r for r in f.references if r.name == "F.gelu"][0]
    assert gelu.line == 11


def test_decorators_are_scoped_outside_the_decorated_function():
    f = parse(
        "torch/_refs/__init__.py",
        """\
        @out_wrapper()
        @property
        def f(x):
            return g(x)
        """,
    )
    refs = {(r.name, r.scope) for r in f.references}
    assert ("out_wrapper", "") in refs
    assert ("property", "") in refs
    assert ("g", "torch._refs.f") in refs


# --------------------------------------------------------------------------------------------
# registration idioms


def test_aten_refs_and_other_namespaces():
    f = parse(
        "torch/_decomp/decompositions.py",
        """\
        import torch
        aten = torch._ops.ops.aten
        prims = torch.ops.prims

        def f(x):
            a = torch.ops.aten.add.Tensor(x, x)
            b = aten.mul(x, 2)
            c = aten.sum.dim_IntList(x, [0])
            d = prims.convert_element_type.default(x, torch.float)
            s = aten.add.default._schema
            # aten.sub.Tensor in a comment is not a reference
            t = "aten.div.Tensor in a string is not one either"
            return torch.ops.quantized.linear(x)
        """,
    )
    aten = [(r.name, r.line, r.scope) for r in f.registrations if r.kind == "aten_ref"]
    scope = "torch._decomp.decompositions.f"
    assert aten == [
        ("aten::add.Tensor", 6, scope),
        ("aten::mul", 7, scope),
        ("aten::sum.dim_IntList", 8, scope),
        ("aten::add.default", 10, scope),  # `._schema` is not an overload name
    ]
    others = [r.name for r in f.registrations if r.kind == "op_ref"]
    assert others == ["prims::convert_element_type.default", "quantized::linear"]


def test_register_decomposition_single_list_module_name_and_type():
    f = parse(
        "torch/_decomp/decompositions.py",
        """\
        import torch
        from torch._decomp import register_decomposition
        aten = torch.ops.aten

        _softmax_ops = [aten._softmax.default, aten._softmax.out]
        _more = _softmax_ops + [aten.special_softmax]

        @register_decomposition(aten.tanh_backward)
        @out_wrapper("grad_input")
        def tanh_backward(out_grad, y):
            return out_grad * (1 - y * y).conj_physical()

        @register_decomposition([aten.sigmoid_backward.default, aten.sigmoid_backward.grad_input])
        def sigmoid_backward(out_grad, y):
            return out_grad * (y * (1 - y)).conj_physical()

        @register_decomposition(_more)
        def softmax(x, dim, half_to_float):
            pass

        @register_decomposition(torch.ops.aten.dropout, type="pre_autograd")
        def dropout(input, p, train):
            pass

        def register_inplace(aten_op, outplace_op):
            @register_decomposition(aten_op)
            def inplace_op(*args, **kwargs):
                pass
            return inplace_op

        _fn = register_decomposition(aten.relu_)(_relu_)
        """,
    )
    m = "torch._decomp.decompositions"
    got = regs(f, "register_decomposition")
    assert ("aten::tanh_backward", f"{m}.tanh_backward", "") in got
    assert ("aten::sigmoid_backward.default", f"{m}.sigmoid_backward", "") in got
    assert ("aten::sigmoid_backward.grad_input", f"{m}.sigmoid_backward", "") in got
    assert [g for g in got if g[1] == f"{m}.softmax"] == [
        ("aten::_softmax.default", f"{m}.softmax", ""),
        ("aten::_softmax.out", f"{m}.softmax", ""),
        ("aten::special_softmax", f"{m}.softmax", ""),
    ]
    assert ("aten::dropout", f"{m}.dropout", "pre_autograd") in got
    # an op the parser cannot see is kept as written (no "::"), with its function
    assert ("aten_op", f"{m}.register_inplace.inplace_op", "") in got
    assert ("aten::relu_", "_relu_", "") in got
    line = [r.line for r in f.registrations if r.kind == "register_decomposition" and r.name == "aten::dropout"]
    assert line == [21]


def test_register_meta_and_meta_library_impl():
    f = parse(
        "torch/_meta_registrations.py",
        """\
        import torch
        from torch import _prims
        aten = torch.ops.aten

        _meta_lib_dont_use_me_use_register_meta = torch.library.Library("aten", "IMPL", "Meta")

        def register_meta(op):
            def wrapper(fn):
                return fn
            return wrapper

        @register_meta([aten.take.default, aten.take.out])
        @out_wrapper()
        def meta_take(self, index):
            return self.new_empty(index.shape)

        @register_meta(aten.linalg_matrix_exp)
        def linalg_matrix_exp(self):
            return torch.empty_like(self)

        @register_meta(
            [aten.cummax.default, aten.cummax.out, aten.cummin.default, aten.cummin.out]
        )
        def cummaxmin(self, dim):
            pass

        def activate_meta():
            for op_overload, fn in activate_meta_table.items():
                _meta_lib_dont_use_me_use_register_meta.impl(op_overload, fn)
        """,
    )
    m = "torch._meta_registrations"
    got = regs(f, "register_meta")
    assert ("aten::take.default", f"{m}.meta_take", "") in got
    assert ("aten::take.out", f"{m}.meta_take", "") in got
    assert ("aten::linalg_matrix_exp", f"{m}.linalg_matrix_exp", "") in got
    assert [g[0] for g in got if g[1] == f"{m}.cummaxmin"] == [
        "aten::cummax.default", "aten::cummax.out", "aten::cummin.default", "aten::cummin.out",
    ]
    assert regs(f, "Library.IMPL") == [("aten", f"{m}._meta_lib_dont_use_me_use_register_meta", "Meta")]
    impl = [r for r in f.registrations if r.kind == "lib.impl"]
    assert [(r.name, r.target, r.key, r.scope) for r in impl] == [("op_overload", "fn", "Meta", f"{m}.activate_meta")]


def test_library_define_and_impl_with_namespaces():
    f = parse(
        "torch/ao/quantization/fx/_decomposed.py",
        """\
        from torch.library import impl, Library

        quantized_decomposed_lib = Library("quantized_decomposed", "DEF")

        quantized_decomposed_lib.define(
            "quantize_per_tensor(Tensor input, float scale, int zero_point, "
            "int quant_min, int quant_max, ScalarType dtype) -> Tensor"
        )

        @impl(quantized_decomposed_lib, "quantize_per_tensor", "CompositeExplicitAutograd")
        def quantize_per_tensor(input, scale, zero_point, quant_min, quant_max, dtype):
            pass

        class _Lib:
            lib = torch.library.Library("triton", "FRAGMENT")

        def register():
            with torch.library._scoped_library("mylib", "IMPL", "CPU") as lib:
                lib.impl("foo", foo_cpu)
                lib.fallback(fallthrough)
        """,
    )
    m = "torch.ao.quantization.fx._decomposed"
    assert regs(f, "Library.DEF") == [("quantized_decomposed", f"{m}.quantized_decomposed_lib", "")]
    assert regs(f, "lib.define") == [("quantized_decomposed::quantize_per_tensor", "", "")]
    assert regs(f, "torch.library.impl") == [
        ("quantized_decomposed::quantize_per_tensor", f"{m}.quantize_per_tensor", "CompositeExplicitAutograd")
    ]
    assert regs(f, "Library.FRAGMENT") == [("triton", f"{m}._Lib.lib", "")]
    assert regs(f, "Library.IMPL") == [("mylib", "lib", "CPU")]
    assert regs(f, "lib.impl") == [("mylib::foo", "foo_cpu", "CPU")]
    assert regs(f, "lib.fallback") == [("mylib", "fallthrough", "CPU")]


def test_torch_library_custom_op_fake_autograd_and_impl():
    f = parse(
        "torch/testing/_internal/custom_op_db.py",
        """\
        import torch
        from torch.library import register_fake

        torch.library.define(
            "testlib::mutating_custom_op",
            "(Tensor(a!) x, Tensor(b!) z) -> (Tensor, Tensor, Tensor)",
            tags=torch.Tag.pt2_compliant_tag,
        )

        @torch.library.impl("testlib::mutating_custom_op", "cpu")
        def foo_impl_cpu(x, z):
            return x, z, x + z

        @register_fake("testlib::mutating_custom_op")
        def foo_impl_abstract(x, z):
            return x, z, x + z

        @torch.library.custom_op("_torch_testing::numpy_mul", mutates_args=(), device_types="cpu")
        def numpy_mul(x: Tensor, y: Tensor) -> Tensor:
            return torch.tensor(x.cpu().numpy() * y.cpu().numpy(), device=x.device)

        @numpy_mul.register_fake
        def _(x, y):
            return (x * y).contiguous()

        numpy_mul.register_autograd(numpy_mul_backward, setup_context=numpy_mul_setup_context)
        torch.library.register_autograd("testlib::mutating_custom_op", backward_fn)

        @torch.library.register_kernel("_torch_testing::numpy_mul", "cuda")
        def numpy_mul_cuda(x, y):
            pass
        """,
    )
    m = "torch.testing._internal.custom_op_db"
    assert regs(f, "torch.library.define") == [("testlib::mutating_custom_op", "", "")]
    assert regs(f, "torch.library.impl") == [("testlib::mutating_custom_op", f"{m}.foo_impl_cpu", "cpu")]
    assert regs(f, "torch.library.custom_op") == [("_torch_testing::numpy_mul", f"{m}.numpy_mul", "cpu")]
    assert regs(f, "torch.library.register_fake") == [
        ("testlib::mutating_custom_op", f"{m}.foo_impl_abstract", ""),
        ("_torch_testing::numpy_mul", f"{m}._", ""),
    ]
    assert regs(f, "torch.library.register_autograd") == [
        ("_torch_testing::numpy_mul", "numpy_mul_backward", ""),
        ("testlib::mutating_custom_op", "backward_fn", ""),
    ]
    assert regs(f, "torch.library.register_kernel") == [("_torch_testing::numpy_mul", f"{m}.numpy_mul_cuda", "cuda")]


def test_c_bindings_through_full_names_imports_and_vf():
    f = parse(
        "torch/nn/functional.py",
        '''\
        import torch
        from torch import _VF
        from torch._C import _add_docstr, _linalg

        gelu = _add_docstr(
            torch._C._nn.gelu,
            r"""gelu(input) -> Tensor""",
        )
        cross = _add_docstr(_linalg.linalg_cross, r"""...""")

        def meshgrid(*tensors):
            return _VF.meshgrid(tensors)

        def fft(x):
            # torch._C._fft.fft_fft in a comment is not a binding
            return torch._C._fft.fft_fft(x)

        def other(x):
            return torch._C._get_tracing_state()
        ''',
    )
    got = [(r.name, r.target, r.scope) for r in f.registrations if r.kind == "c_binding"]
    m = "torch.nn.functional"
    assert got == [
        ("torch._C._nn.gelu", f"{m}.gelu", ""),
        ("torch._C._linalg.linalg_cross", f"{m}.cross", ""),
        ("torch._C._VariableFunctions.meshgrid", "", f"{m}.meshgrid"),
        ("torch._C._fft.fft_fft", "", f"{m}.fft"),
    ]


# --------------------------------------------------------------------------------------------
# robustness


def test_python2_and_broken_file_still_yields_definitions():
    src = b"""\
import os
print "hello"

class Old(object):
    def method(self):
        print "x", self
        return os.getcwd()

def broken(x:
    pass

def after(x):
    return os.path.join(x)
"""
    f = parse_python("tools/old_script.py", src)
    d = defs(f)
    assert "tools.old_script.Old" in d and "tools.old_script.Old.method" in d
    assert "tools.old_script.after" in d
    assert f.parse_errors > 0
    assert ("os.path.join", "tools.old_script.after") in {(r.name, r.scope) for r in f.references}


def test_valid_python_the_grammar_rejects_is_not_counted_as_an_error():
    # tree-sitter-python 0.25 rejects a starred element in a return tuple; ast accepts it
    f = parse("torch/x.py", "def f(out, xs):\n    return out, *[x for x in xs]\n\ndef g():\n    pass\n")
    assert f.parse_errors == 0
    assert "torch.x.g" in defs(f)


def test_non_utf8_bytes_never_crash():
    src = "# caf\xe9\nNAME = 'd\xe9j\xe0'\n\ndef f():\n    return g()\n".encode("latin-1") + b"\xff\xfe\x00\n"
    f = parse_python("torch/legacy.py", src)
    assert "torch.legacy.f" in defs(f)
    assert "torch.legacy.NAME" in defs(f)
    assert all(isinstance(d.signature, str) for d in f.definitions)
    assert parse_python("torch/empty.py", b"").definitions == ()
    assert parse_python("torch/bin.py", bytes(range(256)) * 4).path == "torch/bin.py"


def test_results_pickle_and_are_deterministic():
    src = b"import torch\naten = torch.ops.aten\n@register_meta(aten.add.Tensor)\ndef f(x):\n    return x\n"
    a = parse_python("torch/p.py", src)
    b = pickle.loads(pickle.dumps(a))
    assert a == b == parse_python("torch/p.py", src)
    assert a.language == "python" and a.path == "torch/p.py"


def test_module_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from torchatlas.indexes.py_parser import parse_python; "
        "parse_python('torch/a.py', b'import torch\\ntorch.ops.aten.add(1)\\n'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# real files

_SOURCE = os.environ.get("TORCHATLAS_TEST_SOURCE", "")
needs_source = pytest.mark.skipif(
    not _SOURCE or not Path(_SOURCE, "torch").is_dir(),
    reason="set TORCHATLAS_TEST_SOURCE to a PyTorch source tree (e.g. pytorch-v2.6.0) to run",
)


def _real(rel: str) -> tuple[FileFacts, list[str]]:
    data = Path(_SOURCE, rel).read_bytes()
    return parse_python(rel, data), data.decode("utf-8", "replace").splitlines()


@pytest.mark.source
@needs_source
def test_real_module_call_is_defined_where_it_says():
    f, lines = _real("torch/nn/modules/module.py")
    d = defs(f)
    call = d["torch.nn.modules.module.Module.__call__"]
    assert "__call__" in lines[call.line - 1]
    mod = d["torch.nn.modules.module.Module"]
    assert mod.kind == "class" and lines[mod.line - 1].startswith("class Module")
    assert mod.line < call.line <= mod.end_line
    fwd = d["torch.nn.modules.module.Module._call_impl"]
    assert fwd.kind == "method" and "def _call_impl" in lines[fwd.line - 1]
    assert f.parse_errors == 0
    assert any(r.name == "self._call_impl" or r.name == "self.forward" for r in f.references)


@pytest.mark.source
@needs_source
def test_real_meta_registrations_register_real_ops():
    f, lines = _real("torch/_meta_registrations.py")
    meta = [r for r in f.registrations if r.kind == "register_meta"]
    assert len(meta) > 250
    names = {r.name for r in meta}
    assert {"aten::take.default", "aten::linalg_matrix_exp", "aten::cummax.default"} <= names
    take = next(r for r in meta if r.name == "aten::take.default")
    assert take.target == "torch._meta_registrations.meta_take"
    assert "aten.take.default" in lines[take.line - 1]
    assert any(r.kind == "Library.IMPL" and r.name == "aten" and r.key == "Meta" for r in f.registrations)
    assert f.parse_errors == 0


@pytest.mark.source
@needs_source
def test_real_decompositions_and_refs():
    f, lines = _real("torch/_decomp/decompositions.py")
    dec = [r for r in f.registrations if r.kind == "register_decomposition"]
    assert len(dec) > 150
    tb = next(r for r in dec if r.name == "aten::tanh_backward")
    assert tb.target == "torch._decomp.decompositions.tanh_backward"
    assert "aten.tanh_backward" in lines[tb.line - 1]
    f2, _ = _real("torch/_refs/__init__.py")
    assert any(r.kind == "register_decomposition" and r.name.startswith("aten::") for r in f2.registrations)
    assert "torch._refs.add" in defs(f2)


@pytest.mark.source
@needs_source
def test_real_functional_bindings():
    f, _ = _real("torch/nn/functional.py")
    cb = {(r.name, r.target) for r in f.registrations if r.kind == "c_binding"}
    assert ("torch._C._nn.avg_pool2d", "torch.nn.functional.avg_pool2d") in cb
    f2, _ = _real("torch/functional.py")
    assert any(r.name == "torch._C._VariableFunctions.meshgrid" for r in f2.registrations)


@pytest.mark.source
@needs_source
def test_real_linear_is_a_module():
    f, _ = _real("torch/nn/modules/linear.py")
    assert defs(f)["torch.nn.modules.linear.Linear"].bases == ("Module",)
    assert "torch.nn.modules.module.Module" in {i.target for i in f.includes}
