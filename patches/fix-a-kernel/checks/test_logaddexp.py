"""Your logaddexp kernel against the installed one, on the same inputs in the same process.

The installed kernel's answers are computed first; then the overlay library is loaded and its
`TORCH_LIBRARY_IMPL(aten, CPU, m)` replaces the CPU kernel of aten::logaddexp, so the same calls
run your code.
"""

import os
import subprocess
import sys
import tempfile

import torch

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

INF = float("inf")
PAIRS = [(-INF, -INF), (INF, INF), (0.0, 0.0), (-3.0, 5.0), (2.0, -1.0), (-INF, 1.0), (700.0, 700.0)]


def _small(dtype):
    a = torch.tensor([p[0] for p in PAIRS], dtype=dtype)
    b = torch.tensor([p[1] for p in PAIRS], dtype=dtype)
    return a, b


def _large(dtype):
    g = torch.Generator().manual_seed(12)
    a = (torch.randn(4099, generator=g) * 4).to(dtype)
    b = (torch.randn(4099, generator=g) * 4).to(dtype)
    return a, b


DTYPES = (torch.float32, torch.float64)
# The installed kernel's answers, before the overlay replaces it.
REFERENCE = installed_logaddexp({(kind, dt): make(dt) for kind, make in (("small", _small), ("large", _large))
                                 for dt in DTYPES})

LOAD_ERROR = ""
try:
    torch.ops.load_library(LIB)
except Exception as e:  # the builder checks the library loads; this is the last resort
    LOAD_ERROR = f"the overlay library did not load: {type(e).__name__}: {e}"


def _compare(kind, dtype, a, b):
    assert not LOAD_ERROR, LOAD_ERROR
    got = torch.logaddexp(a, b)
    ref = REFERENCE[(kind, dtype)]
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    same = torch.isclose(got, ref, rtol=tol, atol=tol, equal_nan=True)
    bad = (~same).nonzero().flatten().tolist()
    return got, ref, bad


def test_small_inputs_match_the_installed_kernel():
    for dtype in DTYPES:
        a, b = _small(dtype)
        got, ref, bad = _compare("small", dtype, a, b)
        if bad:
            lines = [f"  logaddexp({a[i].item()}, {b[i].item()}): your kernel gave {got[i].item()}, "
                     f"the installed kernel gives {ref[i].item()}" for i in bad]
            raise AssertionError(
                f"{len(bad)} of {len(a)} values differ on a {len(a)}-element {dtype} tensor:\n" + "\n".join(lines) +
                "\nWith so few elements, which of the two lambdas of cpu_kernel_vec ran? "
                "(lab/cpu/BinaryOpsKernel.cpp; how cpu_kernel_vec splits the work is in "
                "aten/src/ATen/native/cpu/Loops.h, vectorized_loop)")


def test_large_inputs_match_the_installed_kernel():
    for dtype in DTYPES:
        a, b = _large(dtype)
        got, ref, bad = _compare("large", dtype, a, b)
        if bad:
            b_larger = sum(1 for i in bad if b[i] > a[i])
            i = bad[0]
            raise AssertionError(
                f"{len(bad)} of {len(a)} values differ on a contiguous {len(a)}-element {dtype} tensor "
                f"({b_larger} of them where b > a); the first at index {i}: logaddexp({a[i].item():.6g}, "
                f"{b[i].item():.6g}) gave {got[i].item():.6g}, the installed kernel gives {ref[i].item():.6g}. "
                "Long contiguous runs go through the vector lambda of cpu_kernel_vec in "
                "lab/cpu/BinaryOpsKernel.cpp")
