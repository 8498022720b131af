"""Hidden: strided inputs, out= with a layout the kernel must write through, broadcasting, and that
the library runs the lab's kernel rather than calling the installed one."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import torch

INF = float("inf")
LIB = os.environ["TORCHATLAS_LAB_LIB"]


def _overlay_loaded():
    """True when this process already loaded the overlay (the check files may share one process)."""
    lib = os.path.realpath(LIB)
    try:
        with open("/proc/self/maps") as fh:
            return any(lib in line for line in fh)
    except OSError:
        return False


_REFERENCE_SCRIPT = (
    "import sys, torch\n"
    "cases = torch.load(sys.argv[1])\n"
    "torch.save({k: torch.logaddexp(a, b) for k, (a, b) in cases.items()}, sys.argv[2])\n")


def installed_logaddexp(cases):
    """torch.logaddexp of each (a, b) as the installed kernel computes it: here if the overlay is
    not loaded yet, else in a fresh process that never loads it."""
    if not _overlay_loaded():
        return {k: torch.logaddexp(a, b) for k, (a, b) in cases.items()}
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.pt")
        torch.save(cases, src)
        subprocess.run([sys.executable, "-c", _REFERENCE_SCRIPT, src, dst], check=True, capture_output=True)
        return torch.load(dst)


def _inputs():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(64, 70, generator=g, dtype=torch.float64) * 5
    b = torch.randn(64, 70, generator=g, dtype=torch.float64) * 5
    a[::7, ::3] = -INF
    b[::7, ::3] = -INF
    a[1::9, 1::4] = INF
    b[1::9, 1::4] = INF
    return a, b


A, B = _inputs()
REF = installed_logaddexp({"t": (A.t(), B.t()),  # transposed: TensorIterator reorders it to contiguous
                           "s": (A[:, ::2], B[:, ::2]),  # every other column: a strided inner loop
                           "bcast": (A[:, :1], B[:1, :]), "f32": (A.float(), B.float())})
torch.ops.load_library(LIB)


def _check(got, ref, what):
    ok = torch.isclose(got, ref, rtol=1e-6, atol=1e-6, equal_nan=True)
    if not bool(ok.all()):
        idx = tuple(int(i) for i in (~ok).nonzero()[0])
        raise AssertionError(f"{what}: {(~ok).sum().item()} values differ from the installed kernel; first at "
                             f"{idx}: got {got[idx].item()}, expected {ref[idx].item()}")


def test_strided_inputs():
    _check(torch.logaddexp(A.t(), B.t()), REF["t"], "logaddexp of transposed inputs")
    _check(torch.logaddexp(A[:, ::2], B[:, ::2]), REF["s"], "logaddexp(a[:, ::2], b[:, ::2]) (strided inputs)")


def test_out_with_other_strides_and_broadcasting():
    out = torch.empty(70, 64, dtype=torch.float64).t()  # (64, 70) with column-major strides
    torch.logaddexp(A[:, :1], B[:1, :], out=out)
    _check(out, REF["bcast"], "logaddexp(a[:, :1], b[:1, :], out=<column-major>)")
    _check(torch.logaddexp(A.float(), B.float()), REF["f32"], "float32 inputs")


def test_the_library_does_not_call_the_installed_kernel():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-D", "-C", "--undefined-only", LIB], capture_output=True, text=True, check=True).stdout
    allowed = ("at::meta::structured_logaddexp::meta",)
    calls = [ln.split(None, 1)[-1] for ln in out.splitlines() if "logaddexp" in ln]
    calls = [c for c in calls if not c.startswith(allowed)]
    assert not calls, (
        "the overlay library calls the installed logaddexp instead of computing it: "
        + ", ".join(calls) + ". The lab is to fix the lab's kernel (lab/cpu/BinaryOpsKernel.cpp)")
