"""Hidden checks of labops::softclip: gradcheck against finite differences (opcheck does not catch
a wrong backward formula), and the live dispatch table: the CPU kernel must be the learner's C++
kernel from lab/softclip.cpp, not a Python or composite stand-in."""

import os

import pytest
import torch

_loaded = {}


def _op():
    if "op" not in _loaded:
        try:
            torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])
            import lab.softclip  # noqa: F401
        except Exception as e:
            pytest.fail(f"loading the library or importing lab/softclip.py failed: {type(e).__name__}: {e}")
        _loaded["op"] = torch.ops.labops.softclip.default
    return _loaded["op"]


def test_gradcheck():
    op = _op()
    g = torch.Generator().manual_seed(2)
    cases = [(torch.randn(4, 5, generator=g, dtype=torch.float64) * 3, 2.0),
             (torch.randn(3, 4, generator=g, dtype=torch.float64).t() * 0.3, 0.25),
             (torch.randn(7, generator=g, dtype=torch.float64) * 10, 7.0)]
    for x, limit in cases:
        x = x.detach().requires_grad_(True)
        error = None
        try:
            ok = torch.autograd.gradcheck(lambda a: op(a, limit), (x,), raise_exception=False)
        except Exception as e:  # reported below, without a chained traceback
            error = e
        if error is not None:
            text = str(error)
            if isinstance(error, NotImplementedError) and "backend" in text:
                pytest.fail("labops::softclip has no CPU kernel: register it with "
                            "TORCH_LIBRARY_IMPL(labops, CPU, m) in lab/softclip.cpp")
            pytest.fail(f"gradcheck(limit={limit}) raised {type(error).__name__}: "
                        f"{(text.splitlines() or [''])[0][:300]} (lab/softclip.py: _setup_context, _backward)")
        assert ok, (f"gradcheck failed at limit={limit} on {tuple(x.shape)} float64 input"
                    f"{'' if x.is_contiguous() else ' (not contiguous)'}: the gradient of _backward "
                    "differs from finite differences of the forward; d/dx limit*tanh(x/limit) is "
                    "1 - tanh(x/limit)**2 (lab/softclip.py)")


def test_cpu_kernel_is_the_learners_cpp_kernel():
    _op()
    table = torch._C._dispatch_dump_table("labops::softclip")
    cpu = next((ln for ln in table.splitlines() if ln.startswith("CPU:")), "")
    assert cpu, ("the live dispatch table of labops::softclip has no CPU entry: register the kernel with "
                 "TORCH_LIBRARY_IMPL(labops, CPU, m) in lab/softclip.cpp")
    assert "lab/softclip.cpp" in cpu and cpu.rstrip().endswith("[kernel]"), (
        f"the CPU entry of labops::softclip is `{cpu.strip()}`; expected the C++ kernel registered in "
        "lab/softclip.cpp (TORCH_LIBRARY_IMPL(labops, CPU, m)), not a Python or composite kernel")
