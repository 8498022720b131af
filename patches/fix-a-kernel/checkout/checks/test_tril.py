"""The checkout's tril kernel against the installed one, on the same inputs.

The installed kernel's answers are computed first; then the overlay library is loaded and its
`TORCH_LIBRARY_IMPL(aten, CPU, m)` (lab/RegisterCPU_tril.cpp) sends aten::tril, tril.out and tril_
on CPU tensors to the TORCH_META_FUNC(tril) / TORCH_IMPL_FUNC(tril_cpu) compiled from your
aten/src/ATen/native/TriangularOps.cpp.
"""

import os
import subprocess
import sys
import tempfile

import torch

LIB = os.environ["TORCHATLAS_LAB_LIB"]
# set in the fresh process that computes the installed kernel's answers: importing this file
# there must not load the overlay
REFERENCE_RUN = "TORCHATLAS_LAB_REFERENCE_RUN"


def _overlay_loaded():
    """True when this process already loaded the overlay (the check files may share one process)."""
    lib = os.path.realpath(LIB)
    try:
        with open("/proc/self/maps") as fh:
            return any(lib in line for line in fh)
    except OSError:
        return False


def _run_cases(cases):
    """Each case (kind, x, k) as the kernel now registered computes it; 'out' writes into a slice
    of a bigger buffer, 'inplace' calls tril_ on a copy."""
    got = {}
    for name, (kind, x, k) in cases.items():
        if kind == "inplace":
            got[name] = x.clone().tril_(k)
        elif kind == "out":
            buf = torch.full((x.shape[0], x.shape[1] + 2, x.shape[2] + 3), -7, dtype=x.dtype)
            out = buf[:, 1:-1, 1:-2]  # batch stride of the big buffer, not of x
            torch.tril(x, k, out=out)
            got[name] = buf
        else:
            got[name] = torch.tril(x, k)
    return got


_REFERENCE_SCRIPT = (
    "import sys, torch\n"
    "sys.path.insert(0, sys.argv[3])\n"
    "from test_tril import _run_cases\n"
    "torch.save(_run_cases(torch.load(sys.argv[1])), sys.argv[2])\n")


def installed_tril(cases):
    """The installed kernel's answers: here if the overlay is not loaded yet, else in a fresh
    process that never loads it."""
    if not _overlay_loaded():
        return _run_cases(cases)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.pt"), os.path.join(tmp, "out.pt")
        torch.save(cases, src)
        subprocess.run([sys.executable, "-c", _REFERENCE_SCRIPT, src, dst, os.path.dirname(__file__)],
                       check=True, capture_output=True, env={**os.environ, REFERENCE_RUN: "1"})
        return torch.load(dst)


g = torch.Generator().manual_seed(5)
X = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
CASES = {
    "functional 6x5, k=0": ("functional", X[0].clone(), 0),
    "functional 6x5, k=-2": ("functional", X[0].clone(), -2),
    "functional 4x6x5 batch, k=1": ("functional", X.clone(), 1),
    "functional int64 4x6x5, k=0": ("functional", (X * 10).long(), 0),
    "in place tril_ 6x5, k=0": ("inplace", X[1].clone(), 0),
    "in place tril_ 4x6x5 batch, k=-1": ("inplace", X.clone(), -1),
    "out= into a slice of a bigger buffer, 4x6x5, k=0": ("out", X.clone(), 0),
    "out= into a slice of a bigger buffer, float32, k=2": ("out", X.float(), 2),
}
LOAD_ERROR = ""
if not os.environ.get(REFERENCE_RUN):
    REFERENCE = installed_tril(CASES)
    try:
        torch.ops.load_library(LIB)
    except Exception as e:  # the builder checks the library loads; this is the last resort
        LOAD_ERROR = f"the overlay library did not load: {type(e).__name__}: {e}"


def _compare(names):
    assert not LOAD_ERROR, LOAD_ERROR
    got = _run_cases({n: CASES[n] for n in names})
    for name in names:
        ref, mine = REFERENCE[name], got[name]
        bad = (mine != ref).nonzero().tolist()
        assert not bad, (
            f"{name}: {len(bad)} of {ref.numel()} values differ from the installed kernel; first at {tuple(bad[0])}: "
            f"got {mine[tuple(bad[0])].item()}, expected {ref[tuple(bad[0])].item()}"
            + (f"\n  input:\n{CASES[name][1]}\n  got:\n{mine}\n  expected:\n{ref}" if ref.dim() == 2 else ""))


def test_functional_tril():
    _compare([n for n in CASES if n.startswith("functional")])


def test_in_place_tril_():
    _compare([n for n in CASES if n.startswith("in place")])


def test_out_into_a_slice_of_a_bigger_buffer():
    # `out` keeps the big buffer's strides (its batch stride is 8*8, not 6*5): the kernel must
    # write each matrix where `out` says it lives, and leave the buffer's padding (-7) alone.
    _compare([n for n in CASES if n.startswith("out=")])
