"""The names of PyTorch's registration macros, shared by the phases that must recognise them.

The structure walk (`definitions`) turns `TORCH_IMPL_FUNC(x) {...}` into the method
`structured_x::impl`, the call sweep (`calls`) does not count registration macros as calls, and
`registrations` / `macros` find their uses with literal-prefixed regexes (`_registration_hits`).
"""

from __future__ import annotations

import re

from .text import _UPPER_WORD, _WORD

_REG_PREFILTER = (b"TORCH_IMPL_FUNC", b"META_FUNC", b"DECLARE_DISPATCH", b"DEFINE_DISPATCH", b"REGISTER_",
                  b"TORCH_LIBRARY")

# Literal-prefixed patterns (CPython scans for the literal first, which is fast), run only when the
# literal occurs in the file.
_REG_PATTERNS = (
    (b"TORCH_", re.compile(rb"TORCH_(?:IMPL_FUNC|META_FUNC2?|PRECOMPUTE_META_FUNC2?|LIBRARY_IMPL|LIBRARY_FRAGMENT"
                           rb"|LIBRARY)(?=\s*\()")),
    (b"_DISPATCH", re.compile(rb"_DISPATCH(?=\s*\()")),  # DECLARE_/DEFINE_/REGISTER_*_DISPATCH: extended left
    (b"C10_REGISTER_", re.compile(rb"C10_REGISTER_[A-Z0-9_]+(?=\s*\()")),
)
_DISPATCH_MACRO_RE = re.compile(r"(?:DECLARE|DEFINE|(?:ALSO_)?REGISTER(?:_[A-Z0-9]+)*)_DISPATCH")


def _registration_hits(data: bytes):
    """(start, end, macro) of registration macro names followed by '(' in data, in order."""
    hits = []
    for lit, pat in _REG_PATTERNS:
        if lit not in data:
            continue
        for m in pat.finditer(data):
            s, e = m.span()
            if lit == b"_DISPATCH":
                while s > 0 and data[s - 1] in _UPPER_WORD:
                    s -= 1
                macro = data[s:e].decode("ascii", "replace")
                if not _DISPATCH_MACRO_RE.fullmatch(macro):
                    continue
            else:
                macro = m.group().decode("ascii", "replace")
            if s > 0 and data[s - 1] in _WORD:
                continue
            hits.append((s, e, macro))
    hits.sort()
    return hits


_STRUCTURED_MACROS = frozenset(
    ("TORCH_IMPL_FUNC", "TORCH_META_FUNC", "TORCH_META_FUNC2", "TORCH_PRECOMPUTE_META_FUNC",
     "TORCH_PRECOMPUTE_META_FUNC2")
)
_LIBRARY_MACROS = frozenset(("TORCH_LIBRARY", "TORCH_LIBRARY_FRAGMENT", "TORCH_LIBRARY_IMPL"))
_NOT_CODE = frozenset(
    ("comment", "string_literal", "string_content", "raw_string_literal", "raw_string_content",
     "char_literal", "preproc_arg", "system_lib_string", "escape_sequence")
)
_DIRECTIVE_PARENTS = frozenset(
    ("preproc_def", "preproc_function_def", "preproc_ifdef", "preproc_defined", "preproc_call")
)


def _structured_target(macro: str, args: list[str], ns: str) -> tuple[str, str, str]:
    """(registration name, struct name, method name) for TORCH_IMPL_FUNC / TORCH_META_FUNC*."""
    a0 = args[0] if args else "?"
    if macro.endswith("2"):
        a1 = args[1] if len(args) > 1 else "?"
        return f"{a0}.{a1}", f"structured_{a0}_{a1}", "meta"
    if macro == "TORCH_IMPL_FUNC":
        return a0, f"structured_{a0}", "impl"
    return a0, f"structured_{a0}", "meta"
