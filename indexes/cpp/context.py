"""Facts the link step needs to resolve a C++ name the way the compiler would (indexes/link_cpp.py).

A call is stored as written (`add_kernel`, `at::add`, `self.size`) with the qualname of its
enclosing function; the enclosing namespaces and class come from that qualname, the receiver kind
from the spelling (`x.f`, `p->f`, `.f` on an expression), parameter types from the enclosing
definition's signature. What the calls alone do not say is recorded here:

* `using namespace at::native;` and `using at::Tensor;` become references (kind "ref") named as
  written (`using namespace at::native`, `using at::Tensor`), scoped by the function they are in,
  or else by the namespace around them (where they apply); so does a namespace alias
  (`namespace F = torch::nn::functional`, so that `F::detail::pad` is looked up in its target). They are also true references: of
  the namespace or the name they bring in.
* The kernel a registration names (`REGISTER_DISPATCH(add_stub, &add_kernel)`, `m.impl("add",
  TORCH_FN(wrapper_add))`) becomes a reference (kind "ref") at the registration's line, scoped
  by the namespace around it, so that `refs add_kernel` is answered by resolution, not by a
  similar spelling (`qmul_kernel` is not `mul_kernel`).
* A local variable that is the receiver of a member call in the same function (`auto input =
  input_r;` ... `input.dim()`) becomes a reference of kind "local" at its declaration: named
  `input: Tensor` for a declared type (`node: Node*` for `Node* node`), `input =
  input_r.contiguous()` for `auto` (the initializer, one line, capped), `q in queues_` for `for
  (auto& q : queues_)`, so that the link step can type the receiver (a parameter, another local,
  a data member, or the return type of the call that initializes it). So do the locals such an
  initializer starts with (`bias_r` of `auto bias = bias_r;`, `func` of `*func`, `grads` of
  `grads[i]`), three levels deep, range-for variables, lambda parameters, and the declarations of
  for-loop initializers and `if`/`while` conditions. Only receivers and their sources are
  recorded: a few per function, not every local.
* A `#define` inside a conditional group says which in its signature (`#define TORCH_CHECK(cond,
  ...)  // under #ifdef STRIP_ERROR_MESSAGES`), so that the link step can prefer the define a
  default build sees over one in a disabled branch.
"""

from __future__ import annotations

import re

from ..code_facts import Reference
from .text import _norm_name, _one_line

_USING_PREFIXES = ("using namespace ", "using ")
_TARGET_KINDS = frozenset(("m.impl", "m.def", "m.fallback"))
_NOT_KERNELS = frozenset(("", "<lambda>", "fallthrough"))
_CONDITIONAL = frozenset(("preproc_if", "preproc_ifdef", "preproc_elif", "preproc_elifdef", "preproc_else"))


def using_references(nodes, data: bytes, scope_of, namespace_at) -> list:
    """References for the `using_declaration` captures (see the module docstring)."""
    out = []
    for node in nodes:
        text = " ".join(data[node.start_byte : node.end_byte].decode("utf-8", "replace").split()).rstrip(";")
        text = text.replace(" ::", "::").replace(":: ", "::")
        if text.startswith("namespace "):  # `namespace F = torch::nn::functional;`
            alias, _, target = text[10:].partition("=")
            alias, target = alias.strip(), _norm_name(target.strip())
            if alias.isidentifier() and target and " " not in target:
                scope = scope_of(node.start_byte) or namespace_at(node.start_point[0] + 1)
                out.append(Reference(f"namespace {alias} = {target.lstrip(':')}", node.start_point[0] + 1, scope, "ref"))
            continue
        for prefix in _USING_PREFIXES:
            if text.startswith(prefix):
                target = _norm_name(text[len(prefix) :].strip())
                if target and " " not in target:
                    pos = node.start_byte
                    scope = scope_of(pos) or namespace_at(node.start_point[0] + 1)
                    out.append(Reference(prefix + target, node.start_point[0] + 1, scope, "ref"))
                break
    return out


def registration_target_references(regs, namespace_at) -> list:
    """References to the kernels registrations name (REGISTER_*DISPATCH, m.impl/m.def/m.fallback)."""
    out = []
    for r in regs:
        if not r.target or r.target in _NOT_KERNELS or " " in r.target or "(" in r.target:
            continue
        if r.kind in _TARGET_KINDS or r.kind.endswith("_DISPATCH") and r.kind.startswith(("REGISTER", "ALSO_REGISTER")):
            scope = r.scope if r.scope and "," not in r.scope and r.kind not in _TARGET_KINDS else ""
            out.append(Reference(r.target, r.line, scope or namespace_at(r.line), "ref"))
    return out


_WRAPPERS = frozenset(("reference_declarator", "pointer_declarator", "attributed_declarator"))


def _receiver(name: str) -> str:
    """`x` of `x.f` / `x->f` (one level, a plain identifier), else ""."""
    i = name.find(".")
    j = name.find("->")
    k = i if j < 0 or (0 <= i < j) else j
    if k <= 0:
        return ""
    head = name[:k]
    rest = name[k + (2 if name[k] == "-" else 1) :]
    if not head.isidentifier() or "." in rest or "->" in rest or head == "this":
        return ""
    return head


_INIT_HEAD_RE = re.compile(r"[*&(\s]*([A-Za-z_]\w*)")


def local_references(decl_nodes, refs: list, data: bytes, scope_of) -> list:
    """Kind "local" references for the declarations of member-call receivers (see the module
    docstring), and of the locals those are initialized from (`auto bias = bias_r;` needs
    `bias_r`'s declaration; `auto& fn = *func;`, `auto& g = grads[i];`, `auto d = x.device();` need
    `func`, `grads`, `x`), three levels deep."""
    wanted = set()
    for r in refs:
        if r.scope and r.kind == "call":
            v = _receiver(r.name)
            if v:
                wanted.add((r.scope, v))
    if not wanted:
        return []
    seen = []  # (var, scope, node, type node, value node) of every simple local declaration
    for node in decl_nodes:
        typ = node.child_by_field_name("type")
        if typ is None:
            continue
        for decl in node.children_by_field_name("declarator"):
            value = None
            if decl.type == "init_declarator":
                value = decl.child_by_field_name("value")
                decl = decl.child_by_field_name("declarator")
            elif node.type == "declaration" and node.parent is not None and node.parent.type == "condition_clause":
                value = node.child_by_field_name("value")  # if (auto* n = f()): the value is the declaration's
            pointer = False
            while decl is not None and decl.type in _WRAPPERS:
                pointer = pointer or decl.type == "pointer_declarator"
                decl = decl.child_by_field_name("declarator") or (decl.named_children or [None])[-1]
            if decl is None or decl.type != "identifier":
                continue
            seen.append((data[decl.start_byte : decl.end_byte].decode("utf-8", "replace"), node, typ, value, pointer))
    out = []
    done = set()
    for _ in range(4):
        names = {v for _, v in wanted}
        more = set()
        for var, node, typ, value, pointer in seen:
            if var not in names:
                continue
            scope = scope_of(node.start_byte)
            if not scope or (scope, var) not in wanted or (scope, var, node.start_byte) in done:
                continue
            done.add((scope, var, node.start_byte))
            ttext = " ".join(data[typ.start_byte : typ.end_byte].decode("utf-8", "replace").split())
            if typ.type == "placeholder_type_specifier" or ttext == "auto":
                if node.type == "for_range_loop":  # for (auto& x : v): an element of v
                    value = node.child_by_field_name("right")
                    if value is None:
                        continue
                    rng = " ".join(data[value.start_byte : value.end_byte].decode("utf-8", "replace").split())
                    out.append(Reference(f"{var} in {rng[:160]}", node.start_point[0] + 1, scope, "local"))
                    if rng.isidentifier() and (scope, rng) not in wanted:
                        more.add((scope, rng))
                    continue
                if value is None or value.type == "initializer_list":
                    continue
                init = " ".join(data[value.start_byte : value.end_byte].decode("utf-8", "replace").split())
                text = f"{var} = {init[:160]}"
                m = _INIT_HEAD_RE.match(init)
                if m and (scope, m.group(1)) not in wanted:
                    more.add((scope, m.group(1)))
            else:
                text = f"{var}: {ttext}*" if pointer else f"{var}: {ttext}"  # `Node* n`: the type says pointer
            out.append(Reference(text, node.start_point[0] + 1, scope, "local"))
        if not more:
            break
        wanted |= more
    return out


def namespace_locator(defs: list):
    """A function line -> qualname of the innermost namespace definition around it ("" if none),
    from the walker's definitions ([name, qualname, kind, line, end_line, ...])."""
    spans = sorted((d[3], -d[4], d[1]) for d in defs if d[2] == "namespace")
    if not spans:
        return lambda line: ""

    def namespace_at(line: int) -> str:
        best = ""
        for start, neg_end, qual in spans:
            if start > line:
                break
            if line <= -neg_end:
                best = qual
        return best

    return namespace_at


def macro_condition(define_node, data: bytes) -> str:
    """`// under #ifdef X` (or `#else of #ifdef X`, `#if defined(A) && B`, ...) for a #define inside
    a conditional group, "" at top level."""
    p = define_node.parent
    if p is None or p.type not in _CONDITIONAL:
        return ""
    if p.type == "preproc_else":
        head = _first_line(p.parent, data) if p.parent is not None else "#if ?"
        return "// under #else of " + _one_line(head, 80)
    return "// under " + _one_line(_first_line(p, data), 80)


def _first_line(node, data: bytes) -> str:
    end = data.find(b"\n", node.start_byte, node.end_byte)
    return data[node.start_byte : end if end >= 0 else node.end_byte].decode("utf-8", "replace").strip()
