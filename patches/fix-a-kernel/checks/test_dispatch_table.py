"""The live dispatch table: after loading the overlay, aten::logaddexp's CPU kernel is yours."""

import os

import torch

torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])


def _cpu_line(op):
    table = torch._C._dispatch_dump_table(op)
    return next((ln for ln in table.splitlines() if ln.startswith("CPU:")), "(no CPU entry)")


def test_cpu_key_runs_the_lab_kernel():
    for op in ("aten::logaddexp", "aten::logaddexp.out"):
        line = _cpu_line(op)
        print(f"{op}  {line}")  # what `torch._C._dispatch_dump_table` shows at the CPU key
        assert "lab/BinaryOps.cpp" in line, (
            f"the dispatch table of {op} says at the CPU key: {line!r}; expected the registration in "
            "lab/BinaryOps.cpp (TORCH_LIBRARY_IMPL(aten, CPU, m) with m.impl(\"logaddexp\", ...) and "
            "m.impl(\"logaddexp.out\", ...))")


def test_a_call_goes_through_the_lab_kernel():
    # Python -> dispatcher -> the CPU entry above -> lab::structured_logaddexp_out::impl -> the stub.
    x = torch.tensor([0.0, 1.0])
    out = torch.empty(2)
    torch.logaddexp(x, x, out=out)
    expected = x + torch.log(torch.tensor(2.0))
    assert torch.allclose(out, expected), (
        f"logaddexp(x, x, out=...) gave {out.tolist()}, expected x + log(2) = {expected.tolist()}")
