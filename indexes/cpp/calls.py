"""Phase 4 of the C++ parser: call references, from the query's call captures.

Call names: `foo`, `at::add` (qualified as written, templates stripped), `iter.foo` /
`self->impl_->bar` when the receiver is a plain name chain, `.dtype` (member name only, leading
'.') when the receiver is an expression (`x.options().dtype()`). Calls through `(*fp)(x)`,
`arr[i](x)`, lambdas, casts, and the registration macros themselves are not references. The sweep
runs in source order: `line` by counting newlines incrementally, `scope` = qualname of the
function definition containing the call ("" at namespace/class level). When an expression
receiver is a chain of calls on a name (`input.device().is_cpu()`, `n->outputs().at(i)->hasUses()`),
an element (`table_[i].isValid()`) or a pointee (`(*fn).name()`), a reference of kind "receiver"
(`.is_cpu <- input.device()`; `->hasUses <- n->outputs().at(i)` through a pointer) follows the
call's, for the link step to type it.
"""

from __future__ import annotations

import re

from ..code_facts import Reference
from ..code_facts import new_reference as _new_reference
from .idioms import _LIBRARY_MACROS, _STRUCTURED_MACROS
from .text import _norm_name

_NO_REFERENCE = frozenset(
    ("static_cast", "reinterpret_cast", "const_cast", "dynamic_cast")
) | _STRUCTURED_MACROS | _LIBRARY_MACROS | frozenset(("DECLARE_DISPATCH", "DEFINE_DISPATCH"))


def _callee(node, raw: bytes, data: bytes, id_ident, id_qual, id_tfunc, id_field) -> str:
    """The reference name for a call's callee node ("" when it is not a reference)."""
    k = node.kind_id
    if k == id_ident:
        text = raw.decode("utf-8", "replace")
        if text in _NO_REFERENCE or (text.endswith("DISPATCH") and text.isupper()) or text.startswith("C10_REGISTER_"):
            return ""  # registration macros are CodeRegistrations, not calls
        return text
    if k == id_qual or k == id_tfunc:
        text = _norm_name(raw.decode("utf-8", "replace"))
        return "" if text in _NO_REFERENCE else text
    if k != id_field:
        return ""  # (*fp)(x), arr[i](x), [](){}(), ...
    if len(raw) > 160 or b"(" in raw or b"[" in raw or b'"' in raw or b"*" in raw or b"&" in raw:
        # the receiver is an expression: keep the member name only
        fld = node.child_by_field_name("field")
        if fld is None:
            return ""
        ftext = data[fld.start_byte : fld.end_byte].decode("utf-8", "replace")
        return "." + _norm_name(ftext.replace("template ", " "))
    text = raw.decode("utf-8", "replace")
    if "<" in text or " " in text or "\n" in text or "\t" in text:
        text = _norm_name(text.replace("template ", " "))
    return text


# A member call whose receiver is a chain of calls on a name (`input.device().is_cpu`,
# `at::globalContext().userEnabledCuDNN`, `node->outputs().at(i)->hasUses`: arguments without
# parentheses of their own), an element (`table_[ix].isValid`) or a pointee (`(*func).stream`): the
# receiver expression is recorded beside the call (kind "receiver", `.is_cpu <- input.device()`),
# so that the link step can type it.
_RECEIVER_RE = re.compile(
    rb"^((?:[A-Za-z_]\w*\s*(?:\.|->)\s*)?[A-Za-z_][\w:]*\s*\([^()]*\)(?:\s*(?:\.|->)\s*[A-Za-z_]\w*\s*\([^()]*\))*"
    rb"|[A-Za-z_]\w*\s*\[[^\[\]()]*\]|\(\s*\*\s*[A-Za-z_]\w*\s*\))\s*(\.|->)\s*[A-Za-z_]\w*$")


_BLANK = (b" ", b"\t", b"\n", b"\r")


def _argument_counts(arg_lists, data: bytes) -> dict[int, int]:
    """Start byte of each argument list -> how many arguments it passes (comments are not
    arguments). A call's list starts at the first non-blank byte after its callee."""
    out = {}
    for a in arg_lists:
        n = a.named_child_count
        if n and data.find(b"/", a.start_byte, a.end_byte) >= 0:  # maybe a comment: count without them
            n = sum(1 for c in a.named_children if c.type != "comment")
        out[a.start_byte] = n
    return out


def _source_order(node) -> int:
    """Sort key: start, then end (nested callees like `f()()` can share a start byte)."""
    return (node.start_byte << 32) | node.end_byte


def _sweep_calls(call_nodes, data: bytes, funcs: list, ids: dict, arg_lists=None) -> list:
    """References of the call captures `call_nodes`, swept in source order: the line and the
    enclosing function of `funcs` ((start byte, end byte, qualname), sorted) advance
    monotonically, so each call costs a dict lookup of its callee text and a newline count.
    `arg_lists`: the calls' argument lists, which give each call its argument count."""
    nargs_at = _argument_counts(arg_lists or (), data)
    id_ident = ids["identifier"]
    id_qual = ids["qualified_identifier"]
    id_field = ids["field_expression"]
    id_tfunc = ids["template_function"]
    refs = []
    if call_nodes:
        call_nodes.sort(key=_source_order)
        names: dict[bytes, str] = {}  # callee text -> reference name ("" = not a reference)
        receivers: dict[bytes, str] = {}  # callee text -> its receiver expression, when simple
        count = data.count
        line = 1
        prev = 0
        fi = 0
        nf = len(funcs)
        cur_end, cur_scope = -1, ""
        for node in call_nodes:
            pos = node.start_byte
            raw = data[pos : node.end_byte]
            name = names.get(raw)
            if name is None:
                name = names[raw] = _callee(node, raw, data, id_ident, id_qual, id_tfunc, id_field)
            if not name:
                continue
            line += count(b"\n", prev, pos)
            prev = pos
            while fi < nf and funcs[fi][0] <= pos:
                _, cur_end, cur_scope = funcs[fi]
                fi += 1
            scope = cur_scope if pos < cur_end else ""
            end = node.end_byte
            while data[end:end + 1] in _BLANK:
                end += 1
            refs.append(_new_reference(name, line, scope, nargs_at.get(end)))
            if name[0] == "." and scope:
                recv = receivers.get(raw)
                if recv is None:
                    m = _RECEIVER_RE.match(raw)
                    recv = receivers[raw] = (("-" if m.group(2) == b"->" else "") + m.group(1).decode("utf-8", "replace")
                                             if m else "")
                if recv:  # `.m <- x.f()`, or `->m <- x.f()` through a pointer
                    if recv[0] == "-":
                        refs.append(Reference(f"-{name.replace('.', '>', 1)} <- {recv[1:]}", line, scope, "receiver"))
                    else:
                        refs.append(Reference(f"{name} <- {recv}", line, scope, "receiver"))
    return refs
