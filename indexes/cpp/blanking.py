"""Phase 1 of the C++ parser: the copy of a file that tree-sitter parses, with the macros it cannot
know about overwritten by blanks of the same length (newlines kept), so byte offsets and line
numbers stay those of the file.

Blanked: export macros (`TORCH_API`, `C10_API`, any all-caps `*_API`, `C10_EXPORT`,
`VISIBILITY_HIDDEN`), CUDA/cutlass qualifiers (`__global__`, `__launch_bounds__(..)`,
`C10_LAUNCH_BOUNDS_n(..)`, `C10_HOST_DEVICE`, ...), `HANDLE_TH_ERRORS`/`END_HANDLE_TH_ERRORS`,
kernel-launch chevrons (`k<<<grid, block>>>(args)` becomes the call `k(args)`), the uses of the
file's object-like macros that expand to nothing or one specifier, block comments on continuation
lines of a `#define`, and the extra branches of the conditional groups of `conditionals`; a
multi-word builtin type as a macro argument (`F(x, unsigned int, 1)`) is joined into one
identifier. Without this, `class TORCH_API Foo : public Bar {` derails the parse of the class and
of the namespace around it. Candidates are found with literal-prefixed regexes, which CPython scans
at memchr speed; preprocessor lines are left alone. Names and signatures are always read from the
original bytes, never from this copy.
"""

from __future__ import annotations

import re

from .conditionals import _branch_spans
from .text import _UPPER_WORD, _WORD, _in_directive, _on_directive_line, _paren_end

_API_RE = re.compile(rb"_API\b")
_C10_RE = re.compile(rb"C10_[A-Z0-9_]+")
_CUDA_RE = re.compile(rb"__(?:device|global|host|forceinline|noinline|launch_bounds)__")
_CHEVRON_RE = re.compile(rb"<<<")

# Other statement/attribute macros worth blanking: (literal present in the file, pattern, whether a
# parenthesized argument list that follows is blanked too). HANDLE_TH_ERRORS / END_HANDLE_TH_ERRORS
# open and close a hidden try-block in ~900 Python-binding functions of torch/csrc.
_OTHER_BLANK = (
    (b"VISIBILITY_HIDDEN", re.compile(rb"VISIBILITY_HIDDEN(?!\w)"), False),
    (b"PYBIND11_EXPORT", re.compile(rb"PYBIND11_EXPORT(?!\w)"), False),
    (b"HANDLE_TH_ERRORS", re.compile(rb"HANDLE_TH_ERRORS(?:_PYBIND|_RET)?(?!\w)"), True),
    (b"CUTLASS_", re.compile(rb"CUTLASS_(?:HOST_DEVICE|DEVICE|GLOBAL|PRAGMA_UNROLL|PRAGMA_NO_UNROLL)(?!\w)"), False),
    (b"CUTE_", re.compile(rb"CUTE_(?:HOST_DEVICE|DEVICE|HOST)(?!\w)"), False),
    (b"NLOHMANN_JSON_NAMESPACE_", re.compile(rb"NLOHMANN_JSON_NAMESPACE_(?:BEGIN|END)(?!\w)"), False),
    # c10/macros/Macros.h: `__ubsan_ignore_undefined__` & co. between a declaration's specifiers or
    # after its parameters (`double operator/(Half a, double b) __ubsan_ignore_float_divide_by_zero__ {`)
    (b"__ubsan_ignore_", re.compile(rb"__ubsan_ignore_\w+__(?!\w)"), False),
)
_C10_BLANK = frozenset(
    b"C10_" + s
    for s in (
        b"EXPORT",
        b"IMPORT",
        b"HIDDEN",
        b"HOST_DEVICE",
        b"DEVICE",
        b"HOST",
        b"ALWAYS_INLINE",
        b"ALWAYS_INLINE_ATTRIBUTE",
        b"NOINLINE",
        b"NODISCARD",
        b"UNUSED",
        b"USED",
        b"DEPRECATED",
        b"HOST_CONSTEXPR_EXCEPT_WIN_CUDA",
    )
)
# With their argument list. The diagnostic pragmas stand between declarations without a `;`
# (`C10_DIAGNOSTIC_PUSH_AND_IGNORED_IF_DEFINED("-Wnewline-eof")` before an #include in
# serialization/export.cpp turned the rest of that file into an ERROR region).
_C10_BLANK_CALL = frozenset(
    (b"C10_LAUNCH_BOUNDS_0", b"C10_LAUNCH_BOUNDS_1", b"C10_LAUNCH_BOUNDS_2", b"C10_DEPRECATED_MESSAGE",
     b"C10_DIAGNOSTIC_PUSH_AND_IGNORED_IF_DEFINED", b"C10_DIAGNOSTIC_POP", b"C10_CLANG_DIAGNOSTIC_PUSH",
     b"C10_CLANG_DIAGNOSTIC_POP", b"C10_CLANG_DIAGNOSTIC_IGNORE")
)


def _directive_comment_spans(data: bytes) -> list:
    """Block comments that start on a continuation line of a preprocessor directive.

    tree-sitter-cpp turns `#define F(a) \\<newline>  g(/*flag=*/true, a);` into ERROR nodes: the
    #define is lost and its body is parsed as code, derailing the rest of the file (UnaryOps.cpp,
    ForeachUnaryOp.cu, ...). A comment is whitespace to the preprocessor, so it is blanked."""
    spans = []
    find = data.find
    i = find(b"/*")
    while i >= 0:
        e = find(b"*/", i + 2)
        if e < 0:
            break
        e += 2
        ls = data.rfind(b"\n", 0, i)
        if ls > 1 and (data[ls - 1] == 0x5C or (data[ls - 1] == 0x0D and data[ls - 2] == 0x5C)):
            spans.append((i, e))
        i = find(b"/*", e)
    return spans


# A multi-word builtin type as a macro argument in statement position (`SMALL_INDEX(scalar_t,
# unsigned int, 1);` in cuda/Indexing.cu) makes tree-sitter lose the enclosing functions and the
# rest of the file; as one identifier (`unsigned_int`) it parses as a call. Only the tree sees it:
# names and signatures are read from the original bytes.
_UNSIGNED_ARG_RE = re.compile(rb"unsigned (?=(?:int|long|char|short)[ \t]*[,)])")

# Object-like macros of the file that expand to nothing or to one specifier/attribute, in every
# `#define` of them: `#define TENSORIMPL_MAYBE_VIRTUAL` / `... virtual` (c10/core/TensorImpl.h).
# tree-sitter reads such a name as a type, and `TENSORIMPL_MAYBE_VIRTUAL const Storage& storage()
# const {` in the TensorImpl class body turns all of `namespace c10 { ... }` into an ERROR region.
# Their uses in code are blanked like the `*_API` macros.
_ATTR_DEFINE_RE = re.compile(
    rb"#[ \t]*define[ \t]+([A-Z_][A-Z0-9_]*)[ \t]*"
    rb"(?:(?:virtual|inline|static|constexpr|explicit|__attribute__\(\([\w ,()\"]*\)\)|\[\[[\w:]+\]\])[ \t]*)?"
    rb"(?=\r?\n|//|/\*|\Z)"
)


def _attr_macro_spans(data: bytes) -> list:
    """Spans of the code uses of the file's specifier-like object macros (see _ATTR_DEFINE_RE)."""
    counts: dict = {}
    for m in _ATTR_DEFINE_RE.finditer(data):
        name = m.group(1)
        counts[name] = counts.get(name, 0) + 1
    spans = []
    find = data.find
    for name, k in counts.items():
        uses = []
        i = find(name)
        while i >= 0:
            e = i + len(name)
            if (i == 0 or data[i - 1] not in _WORD) and (e >= len(data) or data[e] not in _WORD) \
                    and not _in_directive(data, i):
                uses.append((i, e))
            i = find(name, e)
        if uses and len(re.findall(rb"#[ \t]*define[ \t]+" + name + rb"(?!\w)", data)) == k:
            spans.extend(uses)
    return spans


def _blank(data: bytes) -> bytes:
    spans = []
    if b"_API" in data:
        for m in _API_RE.finditer(data):
            s = m.start()
            while s > 0 and data[s - 1] in _UPPER_WORD:
                s -= 1
            if s == m.start() or (s > 0 and data[s - 1] in _WORD) or not (0x41 <= data[s] <= 0x5A):
                continue
            spans.append((s, m.end()))
    if b"C10_" in data:
        for m in _C10_RE.finditer(data):
            s, e = m.span()
            if (s > 0 and data[s - 1] in _WORD) or (e < len(data) and data[e] in _WORD):
                continue
            tok = m.group()
            if tok in _C10_BLANK:
                spans.append((s, e))
            elif tok in _C10_BLANK_CALL:
                pe = _paren_end(data, e)
                spans.append((s, pe if pe > 0 else e))
    if b"__global__" in data or b"__device__" in data or b"__host__" in data or b"__forceinline__" in data \
            or b"__launch_bounds__" in data or b"__noinline__" in data:
        for m in _CUDA_RE.finditer(data):
            s, e = m.span()
            if (s > 0 and data[s - 1] in _WORD) or (e < len(data) and data[e] in _WORD):
                continue
            if data[s + 2 : s + 8] == b"launch":
                pe = _paren_end(data, e)
                e = pe if pe > 0 else e
            spans.append((s, e))
    if b"<<<" in data:
        for m in _CHEVRON_RE.finditer(data):
            s = m.start()
            e = data.find(b">>>", s + 3, s + 600)
            if e < 0 or b";" in data[s:e] or b"{" in data[s:e]:
                continue
            spans.append((s, e + 3))
    for lit, pat, parens in _OTHER_BLANK:
        if lit not in data:
            continue
        for m in pat.finditer(data):
            s, e = m.span()
            if s >= 4 and data[s - 4 : s] == b"END_":  # END_HANDLE_TH_ERRORS
                s -= 4
            if s > 0 and data[s - 1] in _WORD:
                continue
            if parens and data[e - 4 : e] == b"_RET":
                pe = _paren_end(data, e)
                e = pe if pe > 0 else e
            spans.append((s, e))
    if b"define" in data:
        spans.extend(_attr_macro_spans(data))
    cspans = _branch_spans(data)
    if b"\\\n" in data or b"\\\r\n" in data:
        cspans.extend(_directive_comment_spans(data))
    joins = []  # `, unsigned int,` (a macro argument) -> `, unsigned_int,`: see _UNSIGNED_ARG_RE
    if b"unsigned " in data:
        for m in _UNSIGNED_ARG_RE.finditer(data):
            s = m.start()
            k = s - 1
            while k >= 0 and data[k] in b" \t":
                k -= 1
            if k >= 0 and data[k] == 0x2C:  # ','
                joins.append(m.end() - 1)
    if not spans and not cspans and not joins:
        return data
    buf = bytearray(data)
    for j in joins:
        buf[j] = 0x5F  # '_'
    for s, e in cspans:  # kept: newlines and the backslashes that continue the directive
        chunk = data[s:e]
        buf[s:e] = bytes(c if c in b"\r\n" or (c == 0x5C and chunk[k + 1 : k + 2] in (b"\n", b"\r")) else 0x20
                         for k, c in enumerate(chunk))
    for s, e in spans:
        if _on_directive_line(data, s):
            continue
        chunk = data[s:e]
        if b"\n" in chunk:
            buf[s:e] = bytes(c if c in b"\r\n" else 0x20 for c in chunk)
        else:
            buf[s:e] = b" " * (e - s)
    return bytes(buf)
