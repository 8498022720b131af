"""Where the dispatcher will find squareplus: the registrations torchgen generated per dispatch
key (CPU from the `dispatch:` entry, Meta for free because the kernel is structured) and the
Python bindings (`torch.squareplus(x, out=...)`, `Tensor.squareplus`)."""

import os
import re
from pathlib import Path

GEN = Path(os.environ["TORCHATLAS_LAB_GEN"])


def _read(rel: str) -> str:
    path = GEN / rel
    assert path.is_file(), f"torchgen did not write {rel} (looked in {GEN})"
    return path.read_text(encoding="utf-8")


def _impls(text: str) -> list[str]:
    return re.findall(r'm\.impl\("(squareplus(?:\.\w+)?)"', text)


def test_cpu_registration():
    got = _impls(_read("aten/RegisterCPUEverything.cpp"))
    for op in ("squareplus", "squareplus.out"):
        assert op in got, (
            f"aten/RegisterCPUEverything.cpp does not register {op!r} at the CPU key (m.impl(\"{op}\", ...)); "
            f"found {got or 'no squareplus registration'}. The out= entry needs `dispatch:` with "
            "`CPU: squareplus_out`; the functional gets its CPU kernel from it through `structured_delegate`.")


def test_functional_cpu_kernel_is_generated_from_the_structured_one():
    text = _read("aten/RegisterCPUEverything.cpp")
    assert re.search(r"struct structured_squareplus_out_functional final : public "
                     r"at::native::structured_squareplus_out", text), (
        "RegisterCPUEverything.cpp has no `structured_squareplus_out_functional` wrapper: for a structured "
        "delegate torchgen writes the functional's CPU kernel itself (meta() to size the output, then impl()). "
        "Is the functional entry `structured_delegate: squareplus.out`?")


def test_meta_registration_for_free():
    got = _impls(_read("aten/RegisterMetaEverything.cpp"))
    assert "squareplus" in got and "squareplus.out" in got, (
        f"aten/RegisterMetaEverything.cpp registers {got or 'nothing'} for squareplus, expected both "
        "overloads: a structured kernel's meta() computes output shapes without data, so torchgen "
        "registers it at the Meta key (what FakeTensor and torch.compile use) without a line of yours")


def test_python_binding_with_out():
    torch_fns = _read("autograd/python_torch_functionsEverything.cpp")
    found = re.findall(r'"(squareplus\([^"]*)"', torch_fns) or "no squareplus signature"
    assert '"squareplus(Tensor input, Scalar b=4, *, Tensor out=None)"' in torch_fns, (
        "the binding of torch.squareplus (autograd/python_torch_functionsEverything.cpp) has no "
        "`squareplus(Tensor input, Scalar b=4, *, Tensor out=None)` signature: torchgen merges the "
        "functional and the out= overload into one Python function when both exist with the same inputs. "
        f"Found: {found}")
    methods = _read("autograd/python_variable_methods.cpp")
    assert '"squareplus(Scalar b=4)"' in methods, (
        "Tensor.squareplus has no binding (autograd/python_variable_methods.cpp): add `method` to the "
        "functional's `variants:`")
