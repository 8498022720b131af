"""Where kernels are defined, for the resolver's `defined_at`: a quick lexical scan of ATen's native code.

It finds `TORCH_IMPL_FUNC(name)` (structured kernels) and top-of-line function definitions
(`Tensor& add_out(...) {` in PyTorch's style, return type and name at column 0) under
aten/src/ATen/native. The C++ index (tree-sitter) knows more; this is enough to point a reader at
the body of a kernel the dispatch table names, in a fraction of a second. The installed package
ships no .cpp files, so there it finds nothing and `defined_at` stays null.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_IMPL = re.compile(rb"^TORCH_IMPL_FUNC\s*\(\s*(\w+)\s*\)", re.M)
# A definition at column 0: qualifiers/return type, then the name, then "(" — and no ";" before "{".
_DEF = re.compile(rb"^(?!return\b|if\b|else\b|for\b|while\b|switch\b|case\b|using\b|typedef\b|#)"
                  rb"(?:[A-Za-z_][\w:<>,]*[\s\*&]+){1,6}(\w+)\s*\(", re.M)
_EXTS = (".cpp", ".cu", ".mm", ".cc")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def scan(root: Path, rel_dir: str = "aten/src/ATen/native") -> dict[str, str]:
    """kernel name -> "path:line". TORCH_IMPL_FUNC wins over a plain function of the same name."""
    base = root / rel_dir
    impl: dict[str, str] = {}
    plain: dict[str, str] = {}
    if not base.is_dir():
        return {}
    for dirpath, _dirs, files in os.walk(base):
        for fn in sorted(files):
            if not fn.endswith(_EXTS):
                continue
            p = Path(dirpath) / fn
            try:
                data = p.read_bytes()
            except OSError:
                continue
            rel = str(p.relative_to(root))
            for m in _IMPL.finditer(data):
                impl.setdefault(m.group(1).decode(), f"{rel}:{_line_of(data, m.start())}")
            for m in _DEF.finditer(data):
                # the definition must open a body before any ';'
                tail = data[m.end(): m.end() + 2000]
                semi, brace = tail.find(b";"), tail.find(b"{")
                if brace < 0 or (0 <= semi < brace):
                    continue
                name = m.group(1).decode()
                plain.setdefault(name, f"{rel}:{_line_of(data, m.start(1))}")
    plain.update(impl)
    plain.update(_ufunc_locations(root, base / "ufunc"))
    return plain


def _ufunc_locations(root: Path, ufunc_dir: Path) -> dict[str, str]:
    """ufunc ops (`ufunc_inner_loop:` in the YAML) get kernels ufunc_<op>_<Key> generated around
    the scalar and vectorized loops of aten/src/ATen/native/ufunc/<op>.h: point at those."""
    out: dict[str, str] = {}
    if not ufunc_dir.is_dir():
        return out
    for p in sorted(ufunc_dir.glob("*.h")):
        data = p.read_bytes()
        m = re.search(rb"\b" + re.escape(p.stem.encode()) + rb"\s*\(", data)
        if m:
            where = f"{p.relative_to(root)}:{_line_of(data, m.start())}"
            for key in ("CPU", "CUDA"):
                out[f"ufunc_{p.stem}_{key}"] = where
    return out
