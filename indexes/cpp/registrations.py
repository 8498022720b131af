"""Phase 5 of the C++ parser: PyTorch's registration idioms as `CodeRegistration` facts.

Registrations come from literal-prefixed regexes on the raw bytes (see `idioms`), run only if the
file contains one of the macro names; each hit is validated against the tree (not in a comment,
string, `#define` name or macro body) and its arguments are split by a paren/string-aware
scanner. This is robust to the many shapes tree-sitter gives macro calls at namespace level
(expression statements with a MISSING `;`, function definitions, declarations, ERROR).
TORCH_LIBRARY* bodies are located through the tree (brace matching as fallback) and scanned for
`<var>.def/.impl/.fallback(` with the block's library variable. The fields of each kind are
described in the package docstring (`indexes/cpp/__init__.py`).
"""

from __future__ import annotations

import re

from ..code_facts import CodeRegistration
from .idioms import _DIRECTIVE_PARENTS, _LIBRARY_MACROS, _NOT_CODE, _STRUCTURED_MACROS, _registration_hits, _structured_target
from .scopes import _scope_fixed
from .text import _COMMENT_RE, _join, _macro_args, _norm_name, _on_directive_line, _one_line

_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DISPATCH_KEY_RE = re.compile(r"DispatchKey::(\w+)")
_UNWRAP_RES = (
    re.compile(r"^TORCH_FN(?:_TYPE)?\s*\((.*)\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?dispatch\s*\([^,]*,(.*)\)$", re.S),
    re.compile(r"^(?:static_cast|reinterpret_cast)\s*<.*>\s*\((.*)\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?CppFunction::make\w*\s*<\s*(.*?)\s*>\s*\(\s*\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?CppFunction::make\w*\s*\((.*)\)$", re.S),
    re.compile(r"^\((.*)\)$", re.S),
)
_MAKE_NOARG_RE = re.compile(r"^(?:torch::|c10::)?CppFunction::(make\w+)\s*\(\s*\)$")
_NAME_LIKE_RE = re.compile(r"[\w:~]+(?:<.*>)?(?:::[\w~]+)*", re.S)


def _kernel_of(arg: str) -> str:
    """The kernel named by an m.impl/m.fallback/m.def argument, as written (templates dropped)."""
    if "/" in arg:
        arg = _COMMENT_RE.sub(" ", arg)
    if "\\" in arg:
        arg = arg.replace("\\\n", " ").replace("\\", " ")
    a = " ".join(arg.split())
    if not a:
        return ""
    if "makeFallthrough" in a:
        return "fallthrough"
    m = _MAKE_NOARG_RE.match(a)
    if m:  # CppFunction::makeNamedNotSupported() and friends
        return m.group(1)
    for _ in range(6):  # TORCH_FN((&ns::k)), dispatch(Key, TORCH_FN(k)), static_cast<..>(&k), ...
        if a.startswith("&"):
            a = a[1:].strip()
            continue
        for pat in _UNWRAP_RES:
            m = pat.match(a)
            if m:
                a = m.group(1).strip()
                break
        else:
            break
    if a.startswith("["):
        return "<lambda>"
    if _NAME_LIKE_RE.fullmatch(a):
        return _norm_name(a)
    return _one_line(a, 120)


def _schema_name(schema: str) -> str:
    """`aten::add.Tensor(Tensor self, ...) -> Tensor` -> `aten::add.Tensor`."""
    i = schema.find("(")
    return (schema[:i] if i >= 0 else schema).strip()


def _simple_registration(macro: str, args: list[str], line: int, scope: str, ns: str):
    """CodeRegistration for a non-library registration macro call (ns: enclosing namespace)."""
    a = args + ["", "", ""]
    if macro in _STRUCTURED_MACROS:
        name, struct, meth = _structured_target(macro, args, ns)
        return CodeRegistration(macro, name, line, _join(ns, f"{struct}::{meth}"), "", "")
    if macro == "DECLARE_DISPATCH":
        return CodeRegistration(macro, a[1], line, "", "", scope)
    if macro == "DEFINE_DISPATCH":
        return CodeRegistration(macro, a[0], line, "", "", scope)
    if macro.endswith("DISPATCH"):  # REGISTER_*DISPATCH, ALSO_REGISTER_*
        arch = macro[macro.index("REGISTER_") + 9 : -len("DISPATCH")].rstrip("_")
        if macro == "REGISTER_ARCH_DISPATCH":
            key, target = a[1], a[2]
        elif arch == "NO_CPU":
            key, target = "CPU", ""
        else:
            key, target = arch, a[1]
        target = target.strip()
        if target.startswith("&"):
            target = target[1:].strip()
        return CodeRegistration(macro, a[0], line, _norm_name(target) if target else "", key, scope)
    if macro.startswith("C10_REGISTER_"):
        if macro == "C10_REGISTER_GUARD_IMPL" or len(args) < 3:
            return CodeRegistration(macro, a[0], line, a[1] if len(args) > 1 else "", a[0], scope)
        return CodeRegistration(macro, a[1].strip('#"'), line, args[-1], a[0], scope)
    return None


def _library_calls(text: bytes, lo: int, hi: int, var: str, root, ns: str, key: str, line_of, macro_values,
                   data: bytes) -> list:
    """m.def / m.impl / m.fallback calls on `var` in text[lo:hi]."""
    out = []
    if not var or not var.isidentifier():
        return out
    pat = re.compile(rb"(?<![\w.>])" + re.escape(var.encode()) + rb"\s*\.\s*(def|impl|fallback)(?=\s*\()")
    for m in pat.finditer(text, lo, hi):
        s = m.start()
        line = line_of(s)
        if line is None:
            continue
        args, end = _macro_args(text, m.end())
        if end < 0:
            continue
        out.append(_library_call("m." + m.group(1).decode(), args, ns, key, line, macro_values, data))
    return out


def _registrations(data: bytes, root, scope_of, macro_values, spans=None) -> tuple[list, list]:
    """(registrations, TORCH_LIBRARY* blocks as (body_start, body_end, ns, key, var)) of one file."""
    regs = []
    blocks = []  # (body_start, body_end, ns, key, var)
    for s, e, macro in _registration_hits(data):
        node = root.descendant_for_byte_range(s, e)
        if node is None or node.type in _NOT_CODE:
            continue
        parent = node.parent
        if parent is not None and parent.type in _DIRECTIVE_PARENTS:
            continue
        if _on_directive_line(data, s):
            continue
        args, end = _macro_args(data, e)
        if end < 0:
            continue
        line = node.start_point[0] + 1
        if macro in _LIBRARY_MACROS:
            a = args + ["", "", ""]
            if macro == "TORCH_LIBRARY_IMPL":
                ns, key, var = a[0], a[1], a[2]
            else:
                ns, key, var = a[0], "", a[1]
            regs.append(CodeRegistration(macro, ns, line, "", key, ""))
            body = _library_body(root, data, s, e, end)
            if body is not None:
                blocks.append((body[0], body[1], ns, key, var))
            continue
        ns = _scope_fixed(root, s, data, spans)[0] if macro in _STRUCTURED_MACROS else ""
        reg = _simple_registration(macro, args, line, scope_of(s), ns)
        if reg is not None:
            regs.append(reg)

    def line_in_file(pos: int):
        node = root.descendant_for_byte_range(pos, pos + 1)
        if node is None or node.type in _NOT_CODE:
            return None
        return node.start_point[0] + 1

    for body_start, body_end, ns, key, var in blocks:
        regs.extend(_library_calls(data, body_start, body_end, var, root, ns, key, line_in_file, macro_values, data))

    return regs, blocks


def _reg_line(reg: CodeRegistration) -> int:
    return reg.line


def _library_body(root, data: bytes, s: int, e: int, args_end: int):
    """Byte range of the `{ ... }` body of a TORCH_LIBRARY* block."""
    node = root.descendant_for_byte_range(s, e)
    for _ in range(4):
        if node is None:
            break
        if node.type == "function_definition":
            body = node.child_by_field_name("body")
            if body is not None:
                return body.start_byte, body.end_byte
            break
        node = node.parent
    # Fallback: brace matching on the raw bytes.
    i = args_end
    n = len(data)
    while i < n and data[i] in b" \t\r\n":
        i += 1
    if i >= n or data[i] != 0x7B:
        return None
    depth = 0
    j = i
    while j < n:
        c = data[j]
        if c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return i, j + 1
        j += 1
    return i, n


def _unwrap_selective(arg: str) -> str:
    """The string an op-name/schema argument spells: `TORCH_SELECTIVE_SCHEMA("a" "b")` -> `ab`."""
    parts = _STRING_RE.findall(arg)
    return "".join(parts) if parts else " ".join(arg.split())


def _library_call(kind: str, args: list[str], ns: str, key: str, line: int, macro_values, data: bytes):
    scope = f"{ns}, {key}" if key else ns
    # The kernel is everything after the name/schema (for m.fallback: everything), re-joined,
    # since top-level commas also separate template arguments: `k<const Tensor&, double>`.
    rest = args[1:] if kind != "m.fallback" else args
    while rest and rest[-1].lstrip().startswith("{"):  # m.def(schema, [kernel,] {tags})
        rest = rest[:-1]
    ka = ", ".join(a.strip() for a in rest).strip()
    if ka in macro_values:  # one level of an object-like macro defined in this file
        v = macro_values[ka]
        ka = data[v.start_byte : v.end_byte].decode("utf-8", "replace").strip()
    target = ""
    call_key = key
    if ka:
        km = _DISPATCH_KEY_RE.search(ka)
        if km:
            call_key = km.group(1)
        target = _kernel_of(ka)
    if kind == "m.fallback":
        return CodeRegistration(kind, ns, line, target, call_key, scope)
    first = args[0] if args else ""
    text = _unwrap_selective(first)
    name = _schema_name(text) if kind == "m.def" else text.strip()
    if name and "::" not in name and ns and ns != "_":
        name = f"{ns}::{name}"
    return CodeRegistration(kind, name, line, target, call_key, scope)
