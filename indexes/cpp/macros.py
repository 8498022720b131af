"""Phase 6 of the C++ parser: same-file macro expansion of registrations and definitions.

For files holding a registration macro name or a `##`: a function-like `#define` of this file
whose body holds a registration macro or `.impl(`/`.def(` (BinaryOps.cpp's
`CREATE_BINARY_TORCH_IMPL_FUNC(func_out, func_stub)`), or a `{` with a `##` paste or a parameter
followed by `(` (a definition with a made-up name: ForeachUnaryOp.cu's `OP_CUSTOM_FUNCTOR`) is
expanded textually at each call site; the expansion's registrations, definitions and calls become
facts at the call site's line. Definitions are read from one tree-sitter parse per macro of its
expansion with placeholder arguments, put back per call site, so a macro called 100 times costs
one small parse.
"""

from __future__ import annotations

import re

from ..code_facts import new_reference as _new_reference
from .blanking import _blank
from .calls import _callee, _source_order
from .definitions import _Walker
from .idioms import _DIRECTIVE_PARENTS, _LIBRARY_MACROS, _NOT_CODE, _REG_PREFILTER, _STRUCTURED_MACROS, _registration_hits, _structured_target
from .registrations import _library_calls, _simple_registration
from .scopes import _scope_fixed
from .text import _WORD, _join, _macro_args, _norm_name, _on_directive_line, _one_line
from .treesitter import _ts

_PARAM_SPLIT_RE = re.compile(r"[\s,()]+")
_LIB_CALL_HINT = (b".impl", b".def", b".fallback")
_TEMPLATE_RE = re.compile(r"\s*##\s*|(?<!#)#\s*[A-Za-z_]\w*|[A-Za-z_]\w*")


def _template(body: str, params: list[str]) -> tuple:
    """A macro body compiled for repeated substitution: (pieces, number of named parameters,
    variadic), pieces being literal strings, argument indexes (int) and stringized argument
    indexes (-1 - index). `##` and the blanks around it are dropped (token pasting); `#p`
    stringizes parameter p; the line continuations become blanks."""
    body = body.replace("\\\r\n", " ").replace("\\\n", " ")
    variadic = bool(params) and params[-1] == "..."
    named = params[:-1] if variadic else params
    index = {p: i for i, p in enumerate(named)}
    if variadic:
        index["__VA_ARGS__"] = len(named)
    pieces: list = []
    lit: list = []
    last = 0
    for m in _TEMPLATE_RE.finditer(body):
        tok = m.group()
        c = tok[0]
        if c == "#" or c.isspace():
            if "##" in tok:
                lit.append(body[last : m.start()])
                last = m.end()
                continue
            if c != "#":
                continue
            i = index.get(tok[1:].strip())
            if i is None:
                continue
            i = -1 - i
        else:
            i = index.get(tok)
            if i is None:
                continue
        lit.append(body[last : m.start()])
        pieces.append("".join(lit))
        pieces.append(i)
        lit = []
        last = m.end()
    lit.append(body[last:])
    pieces.append("".join(lit))
    return tuple(pieces), len(named), variadic


def _substitute(body: str, params: list[str], args: list[str], template: tuple | None = None) -> str:
    """The body of a function-like macro with `args` substituted (see `_template`)."""
    pieces, n, variadic = template or _template(body, params)
    vals = [args[i] if i < len(args) else "" for i in range(n)]
    if variadic:
        vals.append(", ".join(args[n:]))
    out = []
    for p in pieces:
        if p.__class__ is str:
            out.append(p)
        elif p >= 0:
            out.append(vals[p])
        else:
            out.append('"%s"' % vals[-1 - p])
    return "".join(out)


def _expand_macros(data, root, scope_of, macro_values, fmacros, blocks, regs, xdefs, xrefs, class_names,
                   with_regs, spans=None) -> None:
    """Registrations and definitions written inside a function-like macro of this file, at the
    macro's call sites.

    Selected macros: those whose body holds a registration macro or `.impl(`/`.def(` (only when the
    file has registrations at all), those whose body holds a `{` and a `##` paste or a parameter
    followed by `(` (likely a definition with a pasted or parameter name), and macros calling
    selected macros (three levels). Each call site outside a `#define`/comment/string is expanded
    textually (parameters, `#x`, `##`, `__VA_ARGS__`; nested calls rescanned up to three levels,
    argument comments dropped), then:
    * registration macros in the expansion are registrations at the call site's line
      (`CREATE_BINARY_TORCH_IMPL_FUNC(bitwise_and_out, bitwise_and_stub)` -> TORCH_IMPL_FUNC
      bitwise_and_out); `m.impl(#op, ...)` in a macro called within a TORCH_LIBRARY* block yields
      m.impl facts;
    * an expansion holding a `{` is parsed and structure-walked like a file: its definitions
      (functions, the structured-kernel `structured_x::impl` methods, structs and their methods)
      are Definitions at the call site (line and end_line of the call, signature = the call text,
      qualname = the namespaces/classes enclosing the call site + the expanded qualname), and the
      calls inside them References at the call site's line, scoped by those qualnames
      (`OP_CUSTOM_FUNCTOR(floating_half, sigmoid, Sigmoid)` -> `foreach_tensor_sigmoid_cuda`).
    """
    candidates = {}
    for name_node in fmacros:
        d = name_node.parent
        value = d.child_by_field_name("value")
        params = d.child_by_field_name("parameters")
        if value is None or params is None:
            continue
        vb = data[value.start_byte : value.end_byte]
        name = data[name_node.start_byte : name_node.end_byte].decode("utf-8", "replace")
        ptext = data[params.start_byte : params.end_byte].decode("utf-8", "replace")
        plist = [p for p in _PARAM_SPLIT_RE.split(ptext) if p]
        candidates[name] = (plist, vb.decode("utf-8", "replace"), d.start_byte, d.end_byte, vb)
    macros = {}
    for name, c in candidates.items():
        vb = c[4]
        if with_regs and (any(tok in vb for tok in _REG_PREFILTER) or any(tok in vb for tok in _LIB_CALL_HINT)):
            pass
        elif b"{" not in vb or not (b"##" in vb or _param_called(c[0], c[1])):
            continue
        if _registration_hits(name.encode() + b"("):
            continue  # a (re)definition of a registration macro itself, e.g. REGISTER_DISPATCH
        macros[name] = c[:4]
    if not macros:
        return
    called: dict = {}  # candidate -> the names it calls (computed when needed)
    for _ in range(3):  # macros that call selected macros of this file are expanded too
        grew = False
        for name, c in candidates.items():
            if name in macros:
                continue
            names = called.get(name)
            if names is None:
                names = called[name] = set(_CALLED_NAME_RE.findall(c[1]))
            if not names.isdisjoint(macros) and not _registration_hits(name.encode() + b"("):
                macros[name] = c[:4]
                grew = True
        if not grew:
            break
    bnames = [n.encode() for n in macros]
    parser, query, QueryCursor, ids = _ts()

    templates: dict = {}

    def expand(name: str, args: list, depth: int) -> bytes:
        t = templates.get(name)
        if t is None:
            plist, body = macros[name][:2]
            t = templates[name] = _template(body, plist)
        tb = _substitute("", [], args, t).encode("utf-8", "replace")
        if depth >= 3:
            return tb
        out = []
        last = 0
        for cs, ce, cname in _find_calls(tb, bnames):
            if cs < last:
                continue
            a, end = _macro_args(tb, ce)
            if end < 0:
                continue
            out.append(tb[last:cs])
            out.append(expand(cname.decode(), _clean_args(a), depth + 1))
            last = end
        if not out:
            return tb
        out.append(tb[last:])
        return b"".join(out)

    # Definitions and calls are read from one parse per macro (and argument count) of its expansion
    # with placeholder arguments (`_MARK`), the placeholders being replaced at each call site:
    # C macros have no conditionals, so every call of a macro expands to the same shape.
    tcache: dict = {}

    def template_facts(name: str, nargs: int, in_class: bool) -> tuple[list, list]:
        key = (name, nargs, in_class)
        got = tcache.get(key)
        if got is not None:
            return got
        tdefs: list = []
        trefs: list = []
        tcache[key] = (tdefs, trefs)
        tb = expand(name, [_MARK % k for k in range(nargs)], 1)
        if b"{" not in tb:
            return tdefs, trefs
        sub = parser.parse(_blank(tb)).root_node
        w = _Walker(tb)
        w.walk(sub, "", in_class)
        for idx, q_last in w.pending:
            if q_last in w.class_names or q_last in class_names:
                w.defs[idx][2] = "method"
        kept = set()
        for d in w.defs:
            if d[2] == "namespace" or ("(" in d[0] and not d[0].startswith("operator")):
                continue  # namespaces, and unexpanded macro blocks (`OTHER_MACRO(x) {...}`)
            qualifier = d[1].rsplit("::", 1)[0] if "::" in d[1] else ""
            tdefs.append((d[0], d[1], d[2], d[6], "x7m" in qualifier))
            kept.add(d[1])
        funcs = sorted(f for f in w.funcs if f[2] in kept)
        if funcs:
            for cn in sorted(QueryCursor(query).captures(sub).get("call", ()), key=_source_order):
                pos = cn.start_byte
                scope = ""
                for fs, fe, fq in funcs:  # innermost function of the expansion holding the call
                    if fs <= pos < fe:
                        scope = fq
                if not scope:
                    continue
                cname = _callee(cn, tb[pos : cn.end_byte], tb, ids["identifier"], ids["qualified_identifier"],
                                ids["template_function"], ids["field_expression"])
                if cname:
                    trefs.append((cname, scope))
        return tdefs, trefs

    for s, e, bname in _find_calls(data, bnames):
        node = root.descendant_for_byte_range(s, e)
        if node is None or node.type in _NOT_CODE or _on_directive_line(data, s):
            continue
        parent = node.parent
        if parent is not None and parent.type in _DIRECTIVE_PARENTS:
            continue
        name = bname.decode()
        dstart, dend = macros[name][2:4]
        if dstart <= s < dend:
            continue
        args, end = _macro_args(data, e)
        if end < 0:
            continue
        args = _clean_args(args)
        line = node.start_point[0] + 1
        end_line = line + data.count(b"\n", s, end)
        site = _one_line(data[s:end].decode("utf-8", "replace"))
        ns, in_class = _scope_fixed(root, s, data, spans)
        structured = []  # (qualname, macro, args) of the structured kernels registered by the expansion
        if with_regs:
            tb = expand(name, args, 1)
            for s2, e2, macro in _registration_hits(tb):
                a2, end2 = _macro_args(tb, e2)
                if end2 < 0 or macro in _LIBRARY_MACROS:
                    continue
                if macro in _STRUCTURED_MACROS:
                    reg = _simple_registration(macro, a2, line, "", ns)
                    structured.append((reg.target, macro, a2))
                else:
                    reg = _simple_registration(macro, a2, line, scope_of(s), "")
                if reg is not None:
                    regs.append(reg)
            for b in blocks:  # m.def / m.impl when the call site is inside a TORCH_LIBRARY* block
                if b[0] <= s < b[1]:
                    regs.extend(_library_calls(tb, 0, len(tb), b[4], root, b[2], b[3], lambda _p: line,
                                               macro_values, data))
                    break
        tdefs, trefs = template_facts(name, len(args), in_class)
        if not tdefs and not structured:
            continue
        subst = [(_MARK % k, a) for k, a in enumerate(args)]
        made = set()
        for dname, dqual, kind, bases, qual_marked in tdefs:
            dname = _unmark(dname, subst)
            qual = _join(ns, _unmark(dqual, subst))
            if qual_marked and kind == "function":  # method or function, now that the class is known
                q_last = qual.rsplit("::", 2)[-2] if "::" in qual else ""
                if q_last[:1].isupper() or q_last in class_names or q_last == dname:
                    kind = "method"
            made.add(qual)
            xdefs.append([dname, qual, kind, line, end_line, site, bases])
        for qual, macro, a2 in structured:  # safety net: the expansion did not parse as a function
            if qual not in made:
                _, struct, meth = _structured_target(macro, a2, ns)
                xdefs.append([meth, qual, "method", line, end_line, site, ()])
        for cname, scope in trefs:
            xrefs.append(_new_reference(_unmark(cname, subst), line, _join(ns, _unmark(scope, subst))))


_MARK = "x7m%dm7x"  # a placeholder argument: an identifier that pastes into identifiers


def _unmark(text: str, subst: list) -> str:
    """`text` of a placeholder expansion with the real arguments put back."""
    if "x7m" not in text:
        return text
    for mark, arg in subst:
        text = text.replace(mark, arg)
    if " " in text or "<" in text:
        text = _norm_name(text)
    return text


_COMMENT_IN_ARG_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _clean_args(args: list) -> list:
    """Macro arguments without comments (`/*division_op*/ true` -> `true`)."""
    return [" ".join(_COMMENT_IN_ARG_RE.sub(" ", a).split()) if "/" in a else a for a in args]


_CALLED_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")


def _find_calls(buf: bytes, names: list) -> list:
    """(start, end of name, name) of `name(` for the given names in buf, in order: substring
    searches (no per-file regex to compile); the name is a whole word not after `.`/`->`."""
    hits = []
    n = len(buf)
    find = buf.find
    for name in names:
        i = find(name)
        while i >= 0:
            j = i + len(name)
            if (i == 0 or (buf[i - 1] not in _WORD and buf[i - 1] not in b".>")) and (j >= n or buf[j] not in _WORD):
                k = j
                while k < n and buf[k] in b" \t\r\n":
                    k += 1
                if k < n and buf[k] == 0x28:  # '('
                    hits.append((i, j, name))
            i = find(name, j)
    hits.sort()
    return hits


def _param_called(params: list, body: str) -> bool:
    """Whether a named parameter is followed by `(` in a macro body (`Tensor name(...) {`)."""
    if "(" not in body:
        return False
    named = {p for p in params if p != "..." and p.isidentifier()}
    return bool(named) and not named.isdisjoint(_CALLED_NAME_RE.findall(body))
