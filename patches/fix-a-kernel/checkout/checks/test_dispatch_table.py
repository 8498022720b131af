"""The live dispatch table and the library: tril's CPU kernel is the one built from your checkout."""

import os
import shutil
import subprocess

import pytest
import torch

LIB = os.environ["TORCHATLAS_LAB_LIB"]
torch.ops.load_library(LIB)


def _cpu_line(op):
    table = torch._C._dispatch_dump_table(op)
    return next((ln for ln in table.splitlines() if ln.startswith("CPU:")), "(no CPU entry)")


def test_cpu_key_runs_the_overlay():
    for op in ("aten::tril", "aten::tril.out", "aten::tril_"):
        line = _cpu_line(op)
        print(f"{op}  {line}")  # what `torch._C._dispatch_dump_table` shows at the CPU key
        assert "lab/RegisterCPU_tril.cpp" in line, (
            f"the dispatch table of {op} says at the CPU key: {line!r}; expected the registration in "
            "lab/RegisterCPU_tril.cpp (TORCH_LIBRARY_IMPL(aten, CPU, m) with m.impl(\"tril\", ...), "
            "m.impl(\"tril.out\", ...) and m.impl(\"tril_\", ...))")


def test_the_library_holds_your_kernel():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-C", "--defined-only", LIB], capture_output=True, text=True, check=True).stdout
    for symbol in ("at::native::structured_tril_cpu::impl", "at::meta::structured_tril::meta"):
        assert symbol in out, (
            f"the overlay library does not define {symbol}: the tril wrappers would call the installed "
            "kernel instead of the one in your aten/src/ATen/native/TriangularOps.cpp")
