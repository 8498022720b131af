"""`parse_cpp(path, data) -> FileFacts`: the phases of the C++ parser, in order.

1. `blanking`: the copy tree-sitter parses; 2. one tree-sitter parse (`treesitter`);
3. `definitions`: the structure walk, then `scopes` restores namespaces lost in ERROR regions;
4. one query pass: includes, `#define`s, ERROR count, and `calls`; 5. `registrations`;
6. `macros`: same-file macro expansion; 7. `context`: what the link step needs beyond the calls
(`using` declarations, the kernels registrations name, the conditions around `#define`s). This
module only sequences them and builds the frozen facts; each phase's module says how it works.
"""

from __future__ import annotations

from bisect import bisect_right

from ..code_facts import Definition, FileFacts, Include, Reference
from ..gc_pause import paused_gc
from .blanking import _blank
from .calls import _sweep_calls
from .context import (local_references, macro_condition, namespace_locator, registration_target_references,
                      using_references)
from .definitions import _Walker
from .idioms import _REG_PREFILTER
from .macros import _expand_macros
from .registrations import _reg_line, _registrations
from .scopes import _fix_namespaces, _namespace_spans
from .text import _end_line, _one_line
from .treesitter import _ts

CPP_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")


def parse_cpp(path: str, data: bytes) -> FileFacts:
    """Extract definitions, includes, calls and registrations from one C++/CUDA file."""
    # The extraction allocates many small acyclic objects; the cyclic GC would otherwise rescan
    # every live object of the caller (e.g. an indexer holding thousands of FileFacts) each time.
    with paused_gc():
        return _parse_cpp(path, data)


def _parse_cpp(path: str, data: bytes) -> FileFacts:
    parser, query, QueryCursor, ids = _ts()
    src = _blank(data)
    tree = parser.parse(src)
    root = tree.root_node

    # 2. one query pass (before the structure walk, which needs its local classes)
    caps = QueryCursor(query).captures(root)

    # 1. structure
    walker = _Walker(data)
    walker.walk(root, "", False)
    classes = caps.get("class")
    if classes and walker.funcs:
        walker.local_classes(classes)
    if walker.pending:
        for idx, q_last in walker.pending:
            if q_last in walker.class_names:
                walker.defs[idx][2] = "method"
    # namespaces lost in an ERROR region at namespace level: restored from the text's brace ranges
    spans = None
    if walker.ns_error:
        spans, braces = _namespace_spans(data)
        if _fix_namespaces(data, walker.defs, spans, braces, frozenset(walker.fdef)):
            walker.funcs = [(f[0], f[1], walker.defs[i][1]) for f, i in zip(walker.funcs, walker.fdef)]
            walker.defs = [d for d in walker.defs if d[2]]
        if not spans:
            spans = None
    funcs = walker.funcs
    funcs.sort()
    f_starts = [f[0] for f in funcs]

    def scope_of(pos: int) -> str:
        i = bisect_right(f_starts, pos) - 1
        if i >= 0 and pos < funcs[i][1]:
            return funcs[i][2]
        return ""


    includes = []
    system_id = ids["system_lib_string"]
    for node in caps.get("include", ()):
        raw = data[node.start_byte : node.end_byte].decode("utf-8", "replace").strip()
        is_sys = node.kind_id == system_id
        if raw[:1] in "<\"" and len(raw) >= 2:
            raw = raw[1:-1]
        includes.append(Include(raw.strip(), node.start_point[0] + 1, is_sys))
    if len(includes) > 1:
        includes.sort(key=_include_line)  # query captures are not strictly in source order

    defs = walker.defs
    macro_values: dict[str, object] = {}
    for cap, fn_like in (("macro", False), ("fmacro", True)):
        for node in caps.get(cap, ()):
            d = node.parent
            name = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
            if fn_like:
                params = d.child_by_field_name("parameters")
                sig = "#define " + name + (data[params.start_byte:params.end_byte].decode("utf-8", "replace")
                                           if params is not None else "")
            else:
                value = d.child_by_field_name("value")
                sig = "#define " + name
                if value is not None:
                    macro_values.setdefault(name, value)
                    sig += " " + data[value.start_byte:value.end_byte].decode("utf-8", "replace")
            sig = _one_line(sig, 200)
            cond = macro_condition(d, data)
            if cond:
                sig += "  " + cond
            defs.append([name, name, "macro", node.start_point[0] + 1, _end_line(d), sig, ()])

    # ERROR nodes; a file whose only recoveries are MISSING tokens (a macro call without its `;`)
    # counts 1. (Capturing MISSING nodes too would cost ~8% more query time.)
    parse_errors = len(caps.get("error", ())) or (1 if root.has_error else 0)

    # 3. calls: one sweep in source order
    refs = _sweep_calls(caps.get("call"), data, funcs, ids, caps.get("args"))

    # 4. registrations; 5. same-file macro expansion (registrations and definitions)
    regs = []
    blocks: list = []
    with_regs = any(tok in data for tok in _REG_PREFILTER)
    if with_regs:
        regs, blocks = _registrations(data, root, scope_of, macro_values, spans)
    fmacros = caps.get("fmacro")
    if fmacros and (with_regs or b"##" in data):
        xdefs: list = []
        xrefs: list = []
        _expand_macros(data, root, scope_of, macro_values, fmacros, blocks, regs, xdefs, xrefs,
                       walker.class_names, with_regs, spans)
        if xdefs:
            defs.extend(xdefs)
        if xrefs:
            refs.extend(xrefs)
            refs.sort(key=_ref_line)
    if len(regs) > 1:
        regs.sort(key=_reg_line)

    # 6. context for the link step: `using` declarations and the kernels registrations name
    decls = caps.get("decl")
    if decls and refs:
        local = local_references(decls, refs, data, scope_of)
        if local:
            refs.extend(local)
            refs.sort(key=_ref_line)
    usings = caps.get("using")
    if usings or regs:
        namespace_at = namespace_locator(defs)
        extra = using_references(usings, data, scope_of, namespace_at) if usings else []
        if regs:
            extra += registration_target_references(regs, namespace_at)
        if extra:
            refs.extend(extra)
            refs.sort(key=_ref_line)

    defs.sort(key=_def_line)
    definitions = tuple(Definition(d[0], d[1], d[2], d[3], d[4], d[5], d[6]) for d in defs)
    return FileFacts(
        path=path,
        language="cpp",
        definitions=definitions,
        includes=tuple(includes),
        references=tuple(refs),
        registrations=tuple(regs),
        parse_errors=parse_errors,
    )


def _include_line(inc: Include) -> int:
    return inc.line


def _def_line(d: list) -> int:
    return d[3]


def _ref_line(ref: Reference) -> int:
    return ref.line
