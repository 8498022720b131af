"""The live dispatcher of the installed torch: the oracle for the static resolver.

torch is imported only here, and only in a subprocess (importing it costs ~1.5 s and drags in
hundreds of modules), which dumps `torch._C._dispatch_dump_table(op)` for the ops asked and hands
the text back. The parsing of those lines into (kind, registered_in) is ours, so a change in the
dump format shows up as a test failure here, not as silent disagreement elsewhere.

A line of the dump looks like:
    CPU: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCPU_0.cpp:1297 [kernel]
    ADInplaceOrView: fallthrough registered at .../VariableFallbackKernel.cpp:103 [backend fallback]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass

from .errors import AtlasError

_LINE = re.compile(r"^(?P<key>\w+): (?P<fallthrough>fallthrough )?registered at (?P<file>.+?):(?P<line>\d+) \[(?P<tag>[^\]]+)\]$")
_SHARD = re.compile(r"_\d+(\.cpp)$")

# Markers in a registration path: the text before them is the build machine's checkout root.
_ROOT_MARKERS = ("/build/aten/src/ATen/", "/torch/csrc/", "/aten/src/ATen/", "/build/", "/torch/", "/functorch/")

_DUMP_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
names = json.loads(sys.stdin.read()) or sorted(torch._C._dispatch_get_all_op_names())
out = {"version": torch.__version__, "torch_root": torch.__file__.rsplit("/", 2)[0], "ops": {},
       "cuda_built": torch.version.cuda is not None or getattr(torch.version, "hip", None) is not None}
for n in names:
    try:
        out["ops"][n] = torch._C._dispatch_dump_table(n)
    except Exception as e:  # an op name the dispatcher does not know
        out["ops"][n] = None
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True)
class LiveEntry:
    key: str
    kind: str  # same vocabulary as the static resolver (model.KINDS)
    registered_in: str
    registered_at: str  # file:line as the dump says, build-machine prefix removed
    tag: str  # the dump's own words: kernel, default backend kernel, math kernel, ...


@dataclass(frozen=True)
class LiveTable:
    version: str
    ops: dict  # op -> {key: LiveEntry}; None for an op the dispatcher does not know
    cuda_built: bool = True  # a CPU-only build registers no CUDA kernels: CUDA keys cannot agree


def normalize_path(path: str, torch_root: str = "") -> str:
    """A registration path relative to the source root, as the static side would name it."""
    if torch_root and path.startswith(torch_root + "/"):
        return path[len(torch_root) + 1:]
    for marker in _ROOT_MARKERS:
        i = path.find(marker)
        if i >= 0:
            rel = path[i + 1:]
            return rel[len("build/"):] if rel.startswith("build/") else rel
    return path


def registered_in_name(rel: str) -> str:
    """Generated files by their torchgen name without shard suffix; hand-written by their path."""
    base = rel.rsplit("/", 1)[-1]
    if rel.startswith(("aten/src/ATen/Register", "torch/csrc/autograd/generated/")) or (
        base.startswith("Register") and "/" not in rel
    ):
        return _SHARD.sub(r"\1", base)
    return rel


def _kind(tag: str, fallthrough: bool, registered_in: str) -> str:
    if fallthrough:
        return "fallthrough"
    if tag == "backend fallback":
        return "fallback"
    if tag == "autograd kernel":
        return "autograd"
    if tag == "nested kernel":
        return "composite_implicit_nested"
    if tag == "math kernel":
        return "composite_implicit_nested" if "NestedTensor" in registered_in else "composite_implicit"
    if tag == "default backend kernel":
        if "NonFunctional" in registered_in:
            return "composite_explicit_nonfunctional"
        return "composite_explicit"
    return "kernel"


def parse_dump(text: str, torch_root: str = "") -> dict[str, LiveEntry]:
    table: dict[str, LiveEntry] = {}
    for raw in text.splitlines():
        m = _LINE.match(raw.strip())
        if not m:
            continue
        rel = normalize_path(m["file"], torch_root)
        reg = registered_in_name(rel)
        table[m["key"]] = LiveEntry(
            key=m["key"], kind=_kind(m["tag"], bool(m["fallthrough"]), reg), registered_in=reg,
            registered_at=f"{rel}:{m['line']}", tag=m["tag"])
    return table


def read_live(ops: list[str] | None = None, python: str | None = None, timeout: float = 300) -> LiveTable:
    """Dump the live dispatch tables of `ops` (all ops when None) from the installed torch."""
    try:
        proc = subprocess.run([python or sys.executable, "-c", _DUMP_SCRIPT], input=json.dumps(ops or []),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise AtlasError(f"reading the live dispatcher timed out after {timeout:.0f} s") from e
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AtlasError(f"could not read the live dispatcher: {last}",
                         hint="is torch installed in this Python? pip install torch==2.13.0")
    data = json.loads(proc.stdout)
    root = data.get("torch_root", "")
    parsed = {op: (parse_dump(text, root) if text is not None else None) for op, text in data["ops"].items()}
    return LiveTable(version=data["version"], ops=parsed, cuda_built=data.get("cuda_built", True))
