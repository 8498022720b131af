"""Hidden: more shapes, layouts, dtypes and diagonals, and triu left to the installed kernel."""

import os
import subprocess
import sys
import tempfile

import torch

LIB = os.environ["TORCHATLAS_LAB_LIB"]
REFERENCE_RUN = "TORCHATLAS_LAB_REFERENCE_RUN"  # the fresh process computing the installed answers


def _overlay_loaded():
    lib = os.path.realpath(LIB)
    try:
        with open("/proc/self/maps") as fh:
            return any(lib in line for line in fh)
    except OSError:
        return False


def _cases():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(3, 2, 7, 7, generator=g)
    return {
        "transposed input": (x[0, 0].t(), 1, "f"),
        "4-d batch": (x, -3, "f"),
        "diagonal past the width": (x[0], 9, "f"),
        "diagonal below the height": (x[0], -8, "f"),
        "empty": (torch.empty(0, 4), 0, "f"),
        "complex": (torch.complex(x[1, 1], x[2, 1]), 0, "f"),
        "bool": (x[2, 0] > 0, -1, "f"),
        "tril_ 4-d batch": (x.clone(), 2, "i"),
        "tril_ on a transposed matrix": (x[1, 0].clone().t(), 0, "i"),
        "out= column-major": (x[2, 1], 0, "o"),
    }


def _run(cases):
    got = {}
    for name, (t, k, how) in cases.items():
        if how == "i":
            got[name] = t.clone().tril_(k) if t.is_contiguous() else t.tril_(k).clone()
        elif how == "o":
            out = torch.empty(t.shape[1], t.shape[0], dtype=t.dtype).t()
            torch.tril(t, k, out=out)
            got[name] = out.clone()
        else:
            got[name] = torch.tril(t, k)
    return got


def _reference():
    if not _overlay_loaded():
        return _run(_cases())
    script = ("import sys, torch\nsys.path.insert(0, sys.argv[2])\nfrom test_more_layouts import _run, _cases\n"
              "torch.save(_run(_cases()), sys.argv[1])\n")
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "ref.pt")
        subprocess.run([sys.executable, "-c", script, dst, os.path.dirname(__file__)], check=True,
                       capture_output=True, env={**os.environ, REFERENCE_RUN: "1"})
        return torch.load(dst)


if not os.environ.get(REFERENCE_RUN):
    REF = _reference()
    torch.ops.load_library(LIB)


def test_more_shapes_layouts_and_dtypes():
    got = _run(_cases())
    wrong = [name for name in REF if not torch.equal(got[name], REF[name])]
    assert not wrong, "tril differs from the installed kernel for: " + ", ".join(wrong)


def test_triu_is_left_alone():
    table = torch._C._dispatch_dump_table("aten::triu")
    cpu = next((ln for ln in table.splitlines() if ln.startswith("CPU:")), "")
    assert "lab/" not in cpu, f"aten::triu's CPU kernel was replaced too: {cpu}"
