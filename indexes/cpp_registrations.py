"""Hand-written C++ registrations: `TORCH_LIBRARY_IMPL(ns, Key, m) { m.impl(...); m.fallback(...); }`.

A focused scan for the dispatch resolver, not the C++ index: it reads only files that mention
TORCH_LIBRARY_IMPL under aten/src/ATen and torch/csrc, matches each block's braces, and picks out
`m.impl("op", ...)` and `m.fallback(...)` calls with their lines.

The installed package ships headers, not these .cpp files. For it, CORE_FALLBACKS stands in: the
backend fallbacks that c10/ATen register for every op, as found by this very scan in a full tree
(a test checks the table against the scan of the v2.6.0 checkout, so it cannot drift silently).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .model import Location, Problem, Registration

_BLOCK = re.compile(rb"TORCH_LIBRARY_IMPL\s*\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)\s*\{")
_IMPL = re.compile(rb"""\.impl\s*\(\s*(?:TORCH_SELECTIVE_NAME\s*\(\s*)?"([\w:.]+)"\s*\)?\s*,\s*([^;]*?)\)\s*;""", re.S)
_FALLBACK = re.compile(rb"\.fallback\s*\(\s*([^;]*?)\)\s*;", re.S)
_COMMENT = re.compile(rb"//[^\n]*|/\*.*?\*/", re.S)

SCAN_DIRS = ("aten/src/ATen", "torch/csrc")

# Backend fallbacks registered for every op by c10/ATen .cpp files (key -> (kind, file)).
# Only the keys the resolver answers for; the source of each is the scan of a full tree.
CORE_FALLBACKS: dict[str, tuple[str, str]] = {
    "Meta": ("fallback", "aten/src/ATen/core/MetaFallbackKernel.cpp"),
    "AutogradCPU": ("fallback", "aten/src/ATen/core/VariableFallbackKernel.cpp"),
    "AutogradCUDA": ("fallback", "aten/src/ATen/core/VariableFallbackKernel.cpp"),
    "AutogradMeta": ("fallback", "aten/src/ATen/core/VariableFallbackKernel.cpp"),
    "ZeroTensor": ("fallback", "aten/src/ATen/ZeroTensorFallback.cpp"),
}


# Per-op registrations of those core files that the dispatcher table depends on, for the installed
# package (which lacks the .cpp): the ZeroTensor block of ZeroTensorFallback.cpp, verbatim (a test
# compares it with the v2.6.0 tree's). Its macros come from MathBitFallThroughLists.h, which the
# package does ship, so the list of view ops follows the installed version.
CORE_BLOCKS: tuple[tuple[str, bytes], ...] = (
    ("aten/src/ATen/ZeroTensorFallback.cpp", b"""
  TORCH_LIBRARY_IMPL(aten, ZeroTensor, m) {
    m.impl("zeros_like", torch::CppFunction::makeFallthrough());
    m.impl("mul.Scalar", torch::CppFunction::makeFallthrough());
    m.impl("add.Scalar", torch::CppFunction::makeFallthrough());
    m.impl("copy_", torch::CppFunction::makeFallthrough());
    m.impl("clone", torch::CppFunction::makeFallthrough());
    m.impl("dot", torch::CppFunction::makeFallthrough());
    m.impl("vdot", torch::CppFunction::makeFallthrough());
    TORCH_VIEW_FNS(m)
    TENSOR_UTILITIES_AND_CONSTRUCTORS(m)
  }
"""),
)
MACRO_HEADER = ("aten/src/ATen/native/MathBitFallThroughLists.h", "torch/include/ATen/native/MathBitFallThroughLists.h")
_DEFINE = re.compile(rb"#define\s+(\w+)\(m\)\s*\\\n((?:[^\n]*\\\n)*[^\n]*)")


def read_macros(data: bytes) -> dict[bytes, bytes]:
    """`#define NAME(m) m.impl(...); \\ ...` bodies, by name: registration lists shared by several
    TORCH_LIBRARY_IMPL blocks (the views every math-bit key lets fall through)."""
    return {m.group(1): m.group(2).replace(b"\\\n", b"\n") for m in _DEFINE.finditer(data)}


def _expand(body: bytes, macros: dict[bytes, bytes]) -> bytes:
    """Replace `NAME(m)` by the macro's m.impl lines, all on the line of the use (lines stay true)."""
    if not macros:
        return body
    return re.sub(rb"\b(" + b"|".join(re.escape(k) for k in macros) + rb")\(\s*m\s*\)",
                  lambda m: macros[m.group(1)].replace(b"\n", b" "), body)


def core_registrations(root: Path) -> list[Registration]:
    """The installed package's stand-in for CORE_BLOCKS' .cpp files (line 0: not in this source)."""
    macros = _macros_under(root)
    regs = []
    for rel, text in CORE_BLOCKS:
        regs += [Registration(r.op, r.key, r.kernel, r.kind, Location(rel, 0), r.detail)
                 for r in scan_file(rel, text, macros)]
    return regs


def _macros_under(root: Path) -> dict[bytes, bytes]:
    for rel in MACRO_HEADER:
        try:
            return read_macros((root / rel).read_bytes())
        except OSError:
            continue
    return {}


def _blank_comments(data: bytes) -> bytes:
    """Replace comments by spaces of the same length (newlines kept), so offsets and lines hold."""
    return _COMMENT.sub(lambda m: re.sub(rb"[^\n]", b" ", m.group(0)), data)


def _block_end(data: bytes, open_brace: int) -> int:
    depth = 0
    for i in range(open_brace, len(data)):
        c = data[i]
        if c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return i
    return len(data)


def _kernel_name(expr: str) -> str:
    """`TORCH_FN(at::native::foo)` / `&foo` / `torch::dispatch(..., &foo)` -> the function named."""
    m = re.search(r"TORCH_FN\(\s*([\w:<>]+)\s*\)", expr) or re.search(r"&\s*([\w:]+)\s*\)?\s*$", expr)
    return m.group(1) if m else expr


def scan_file(rel: str, data: bytes, macros: dict[bytes, bytes] | None = None) -> list[Registration]:
    if b"TORCH_LIBRARY_IMPL" not in data:
        return []
    data = _expand(_blank_comments(data), macros or {})
    out: list[Registration] = []
    for m in _BLOCK.finditer(data):
        ns, key = m.group(1).decode(), m.group(2).decode()
        start = m.end() - 1
        end = _block_end(data, start)
        body = data[start:end]
        base_line = data.count(b"\n", 0, start) + 1
        for im in _IMPL.finditer(body):
            name = im.group(1).decode()
            if "::" in name:
                ns_, name = name.split("::", 1)
            else:
                ns_ = ns
            line = base_line + body.count(b"\n", 0, im.start())
            kernel = _kernel_name(re.sub(rb"\s+", b" ", im.group(2)).decode(errors="replace").strip())
            op = f"{ns_}::{name}" if not name.endswith(".default") else f"{ns_}::{name[:-8]}"
            kind = "fallthrough" if "makeFallthrough" in kernel else "impl"
            out.append(Registration(op=op, key=key, kernel=kernel, kind=kind, location=Location(rel, line)))
        for fm in _FALLBACK.finditer(body):
            line = base_line + body.count(b"\n", 0, fm.start())
            kernel = re.sub(rb"\s+", b" ", fm.group(1)).decode(errors="replace").strip()
            kind = "fallthrough" if "makeFallthrough" in kernel else "fallback"
            out.append(Registration(op="*", key=key, kernel=kernel, kind=kind, location=Location(rel, line),
                                    detail=f"namespace {ns}"))
    return out


def scan_tree(root: Path) -> tuple[list[Registration], list[Problem]]:
    regs: list[Registration] = []
    problems: list[Problem] = []
    macros = _macros_under(root)
    for d in SCAN_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(base):
            for fn in files:
                if not fn.endswith((".cpp", ".cc", ".cu", ".mm")):
                    continue
                p = Path(dirpath) / fn
                rel = str(p.relative_to(root))
                try:
                    data = p.read_bytes()
                except OSError as e:
                    problems.append(Problem(Location(rel), "", f"unreadable: {e.strerror}", "warning"))
                    continue
                regs.extend(scan_file(rel, data, macros))
    return regs, problems


def fallbacks_from(regs: list[Registration]) -> dict[str, tuple[str, str, int]]:
    """key -> (kind, file, line) of the backend fallback registered for every op (namespace `_`)."""
    out: dict[str, tuple[str, str, int]] = {}
    for r in regs:
        if r.op == "*" and r.detail == "namespace _":
            out.setdefault(r.key, (r.kind, r.location.path, r.location.line))
    return out
