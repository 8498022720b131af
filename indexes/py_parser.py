"""Bulk Python parser: one source file in, one `FileFacts` out.

Approach
--------
`parse_python(path, data)` is a pure function (no I/O, no store, never imports torch); its result
is made of frozen dataclasses, so it pickles back from a worker process and can be cached by the
file's content hash.

* Parsing is tree-sitter-python, chosen by measurement on torch/ + torchgen/ + tools/ of v2.6.0
  (2,241 files, 34.7 MB, CPU time on one core): `ast.parse` alone runs at 7.3 MB/s and a bare
  `ast.walk` over its ~4M nodes brings that to 5.1 MB/s before any extraction is done;
  tree-sitter parses at 12 MB/s, and one compiled query, run in C, hands back only the nodes we
  need (definitions, callees, imports, bare decorators) for ~1.1 s more. Tree-sitter also
  recovers from syntax errors, which `ast` cannot. End to end (parse, query, extraction) this
  module runs at ~6 MB/s per core; the split is roughly parse 52%, query 20%, Python 28%.
* Nesting (qualnames, the `scope` of a call) comes from byte ranges: definitions are swept in
  start order with a stack; calls are sorted and swept the same way; anything else bisects the
  definition starts and walks up to the innermost definition containing it. Line numbers are
  counted from newlines between sorted offsets (cheaper than asking each node for its point).
* Module- and class-level assignments (the "variable" definitions) are found by walking the few
  statement nodes in Python: anchored query patterns for them cost more than the walk.
* `torch.ops.<ns>.X[.overload]` / `aten.X[.overload]` and `torch._C._nn.X`-style binding
  references are found by substring search over the raw bytes (aliases such as
  `aten = torch.ops.aten` or `from torch._C import _linalg` are learned from the file first);
  each hit is confirmed to be code, not a string or comment, by asking the tree for the node at
  that byte.
* Registration idioms are recognised on the (rare) callees whose last name component is of
  interest, in two phases: first `Library(...)` constructions and `@custom_op` functions (so later
  `lib.impl(...)` and `@my_op.register_fake` can be tied to them), then everything else.

Facts produced
--------------
Definition   function / method / class (bases as written, keywords such as metaclass= dropped),
             and "variable" for assignments at module level and in a class body, also inside an
             if/elif/else/try/except/else/finally block there
             (`__call__: Callable[..., Any] = _wrapped_call_impl` is `Module.__call__`).
             Inside functions, only bindings that state a type, for the link step to type
             receivers by: `x = C(...)` / `x: T` -> `<function>.x` when some call in the file has
             a receiver named x, and `self.x = C(...)` / `self.x: T` in a method -> `<class>.x`
             (signature `x = C(...)` / `self.x: T`: the callee or annotation only).
             Qualnames are dotted and global: `<module>.<Outer>.<inner>` (no `<locals>`).
             `line` is the `def`/`class` line (not the first decorator), `end_line` the last
             line of the body.
Include      `import a.b` -> "a.b"; `from a import b` -> "a.b"; `from a import *` -> "a.*";
             relative imports resolved against the module path (`__init__.py` is the package).
             `alias` is the local name bound ("a" for `import a.b`, "c" for `import a.b as c`
             or `from a import b as c`, "*" for a star import); `scope` the enclosing def's
             qualname ("" at module level): the link step resolves names through them.
Reference    kind "call" for every call, name in dotted form as written: `torch.add`,
             `self._call_impl`, `super().__init__`, `x[].view` (subscript), `str.join` (a string
             literal receiver), `(...)` for other expression receivers; line is the line of the
             called name (a chain split over lines reports its last link). Bare decorators
             (`@property`) are references of kind "call" too (decorating calls them). scope is the
             qualname of the innermost enclosing def/class, "" at module level.
CodeRegistration kinds:
  aten_ref             name "aten::X" or "aten::X.overload" as written (torch.ops.aten.X,
                       torch._ops.ops.aten.X, aten.X, or any alias bound to torch.ops.aten)
  op_ref               the same for any other torch.ops namespace ("prims::X", "quantized::X.y")
  c_binding            torch._C._VariableFunctions/_nn/_linalg/_fft/_special/_sparse/_nested.X
                       (also via torch._VF/_VF and `from torch._C import _nn`); name is the
                       canonical `torch._C._nn.gelu`; target is the Python name bound to it when
                       the reference sits in a module/class-level assignment
                       (`gelu = _add_docstr(torch._C._nn.gelu, ...)` -> torch.nn.functional.gelu)
  register_decomposition / register_meta
                       one fact per op; the op argument may be one op, a list/tuple (or a `+` of
                       them), or a name bound at module level to such a list; target = the decorated
                       function's qualname (or the function in `register_meta(op)(fn)`);
                       key = the `type=` value when given ("pre_autograd")
  Library.IMPL / Library.DEF / Library.FRAGMENT (or plain "Library" when the kind is not a
                       literal): `torch.library.Library("aten", "IMPL", "Meta")` and
                       `_scoped_library(...)`; name = namespace, key = dispatch key, target = the
                       variable it is bound to
  lib.impl / lib.define / lib.fallback
                       methods on a Library object; name = "ns::op" (op objects resolved as for
                       aten_ref), key = explicit dispatch key or the Library's, target = the kernel
  torch.library.<fn>   define, impl, custom_op, triton_op, register_fake, impl_abstract,
                       register_autograd, register_kernel, register_vmap,
                       register_torch_dispatch, also via `from torch.library import ...` and on
                       custom-op objects (`@numpy_mul.register_fake`); name = the op ("ns::op"),
                       key = device types / dispatch key where given, target = the function
scope of every registration is the enclosing definition's qualname.
When an op argument cannot be resolved statically (`aten_op`, `getattr(aten, name)`) the fact
is still emitted with the argument text as written, so it never silently disappears; resolved
ops always contain "::".

parse_errors counts tree-sitter ERROR and MISSING nodes. tree-sitter-python 0.25 rejects a few
valid constructs (`return x, *ys` at 3 sites in v2.6.0); when a file has errors it is re-checked
with `ast.parse` and, if that accepts it, parse_errors is 0 (the facts around the construct may
still be a little incomplete). Error recovery can swallow the rest of a file into one ERROR node
(`def f(x:` with no closing parenthesis): `def`/`class` lines inside ERROR regions are salvaged
by a line scan, nested by indentation, and become scopes for the calls inside them.

Known blind spots
-----------------
* Names are as written (`F.gelu` stays `F.gelu`): the link step (indexes/link_python.py) resolves
  them after parsing, through the imports recorded here and the whole index's definitions.
* Calls in default arguments, annotations and class bases are scoped to the def/class they
  syntactically sit in, not the scope that evaluates them.
* Variables: plain-name / tuple targets at module or class level (and in if/try blocks there);
  in functions only the typed bindings above; not `with`/`for` targets or augmented assignments.
* Salvaged definitions in broken files have approximate end lines (the next definition at the
  same or lower indentation, or the end of the ERROR region) and one-line signatures.
* Op lists are resolved only through module-level names and list/tuple/`+` literals; ops computed
  at run time (`getattr(aten, name)`, loops over lists, `pytree.tree_map`) are emitted as written.
* Library objects are recognised when bound in the same file (or when the receiver name contains
  "lib"); custom-op objects only when decorated with custom_op/triton_op in the same file.
* Signatures collapse whitespace but keep inline comments inside multi-line parameter lists.
* Bytes are decoded as UTF-8 with replacement; a PEP 263 coding cookie is not honoured.
"""

from __future__ import annotations

import ast
import re
import warnings
from bisect import bisect_right
from operator import attrgetter

from .code_facts import CodeRegistration, Definition, FileFacts, Include, Reference, new_reference
from .python_signatures import params as sig_params

__all__ = ["parse_python", "module_name"]

# ---------------------------------------------------------------------------------------------
# tree-sitter objects are created lazily, once per process (they are not picklable).

_QUERY_SRC = """
(function_definition) @func
(class_definition) @class
(call function: (_) @callee)
(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import
(decorator (identifier) @bare_decorator)
(decorator (attribute) @bare_decorator)
(assignment left: (identifier) @local_lhs right: (call function: [(identifier) (attribute)]))
(assignment left: (identifier) @local_lhs type: (type))
(assignment left: (identifier) @local_lhs right: (identifier))
(assignment left: (identifier) @local_lhs right: (subscript value: [(identifier) (attribute)]))
(for_statement) @loop
(assignment left: (attribute object: (identifier) @_self) @attr_lhs (#eq? @_self "self"))
"""

# Module- and class-level assignments are found by walking statements in Python rather than by
# query patterns: anchored patterns cost ~0.3 s per 35 MB of walking in C, the walk ~0.04 s.
_COMPOUND = frozenset(("if_statement", "try_statement"))
_CLAUSES = frozenset(("elif_clause", "else_clause", "except_clause", "finally_clause"))


def _assignments(root, classes) -> list:
    """Assignment nodes at module level (also in module-level if/try blocks) and in class bodies."""
    out = []
    append = out.append

    def block(node, deep):
        for st in node.children:
            t = st.type
            if t == "expression_statement":
                c = st.child(0)
                if c is not None and c.type == "assignment":
                    append(c)
            elif deep and t in _COMPOUND:
                for ch in st.children:
                    ct = ch.type
                    if ct == "block":
                        block(ch, False)
                    elif ct in _CLAUSES:
                        for b in ch.children:
                            if b.type == "block":
                                block(b, False)

    block(root, True)
    for c in classes:
        body = c.child_by_field_name("body")
        if body is not None:
            block(body, True)
    return out


_TS = None  # (parser, query, QueryCursor class)


def _ts():
    global _TS
    if _TS is None:
        import tree_sitter
        import tree_sitter_python

        lang = tree_sitter.Language(tree_sitter_python.language())
        _TS = (tree_sitter.Parser(lang), tree_sitter.Query(lang, _QUERY_SRC), tree_sitter.QueryCursor)
    return _TS


# ---------------------------------------------------------------------------------------------
# small helpers

_START = attrgetter("start_byte")
_DOTTED = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*\Z").match
_SIG_MAX = 300


def _txt(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _one_line(b: bytes, limit: int = _SIG_MAX) -> str:
    s = _txt(b" ".join(b.split()))
    return s if len(s) <= limit else s[: limit - 3] + "..."


def module_name(path: str) -> tuple[str, bool]:
    """`torch/nn/modules/module.py` -> ("torch.nn.modules.module", False); `__init__.py` -> package."""
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    for ext in (".py", ".pyi"):
        if p.endswith(ext):
            p = p[: -len(ext)]
            break
    parts = [x for x in p.split("/") if x]
    is_pkg = bool(parts) and parts[-1] == "__init__"
    if is_pkg:
        parts.pop()
    return ".".join(parts), is_pkg


def _resolve_relative(module: str, is_pkg: bool, level: int, rest: str) -> str:
    pkg = module.split(".") if module else []
    if not is_pkg:
        pkg = pkg[:-1]
    up = level - 1
    if up > len(pkg) or (up == len(pkg) and not rest):
        return "." * level + rest  # escapes the source root: keep as written
    base = pkg[: len(pkg) - up]
    return ".".join(base + ([rest] if rest else []))


def _dotted(node, depth: int = 0) -> str:
    """A callee expression in dotted form (slow path; the fast path is the node text itself)."""
    t = node.type
    if t == "identifier":
        return _txt(node.text)
    if depth > 40:
        return "(...)"
    if t == "attribute":
        obj = node.child_by_field_name("object")
        attr = node.child_by_field_name("attribute")
        left = _dotted(obj, depth + 1) if obj is not None else "(...)"
        return left + "." + (_txt(attr.text) if attr is not None else "?")
    if t == "call":
        fn = node.child_by_field_name("function")
        return (_dotted(fn, depth + 1) if fn is not None else "(...)") + "()"
    if t == "subscript":
        v = node.child_by_field_name("value")
        return (_dotted(v, depth + 1) if v is not None else "(...)") + "[]"
    if t in ("string", "concatenated_string"):
        return "str"
    if t in ("list", "list_comprehension"):
        return "list"
    if t in ("dictionary", "dictionary_comprehension"):
        return "dict"
    if t in ("set", "set_comprehension"):
        return "set"
    if t == "tuple":
        return "tuple"
    if t == "parenthesized_expression":
        inner = [c for c in node.named_children if c.type != "comment"]
        if len(inner) == 1 and inner[0].type in ("identifier", "attribute", "call", "subscript"):
            return _dotted(inner[0], depth + 1)
    return "(...)"


def _callee_name(node) -> str:
    b = node.text
    if _DOTTED(b):
        return b.decode("ascii")
    return _dotted(node)


def _string_value(node):
    """The value of a plain string literal node, else None."""
    if node is None:
        return None
    if node.type == "concatenated_string":
        vals = [_string_value(c) for c in node.named_children if c.type != "comment"]
        return None if any(v is None for v in vals) else "".join(vals)
    if node.type != "string":
        return None
    parts = []
    for c in node.named_children:
        if c.type == "string_content":
            parts.append(_txt(c.text))
        elif c.type in ("interpolation", "escape_interpolation"):
            return None
        elif c.type == "escape_sequence":
            parts.append(_txt(c.text))
    return "".join(parts)


def _args(call):
    """(positional arg nodes, {kw: value node}) of a call node."""
    args = call.child_by_field_name("arguments")
    pos, kw = [], {}
    if args is None or args.type != "argument_list":
        return pos, kw
    for c in args.named_children:
        t = c.type
        if t == "keyword_argument":
            k = c.child_by_field_name("name")
            v = c.child_by_field_name("value")
            if k is not None and v is not None:
                kw[_txt(k.text)] = v
        elif t in ("comment", "list_splat", "dictionary_splat"):
            continue
        else:
            pos.append(c)
    return pos, kw


def _arg(pos, kw, i, name):
    if name in kw:
        return kw[name]
    return pos[i] if i < len(pos) else None


# OpOverloadPacket / OpOverload attributes that are not overload names (aten.add.default._schema)
_NOT_OVERLOAD = frozenset(
    """overloads name _schema _overloadname _overloadpacket _qualified_op_name op py_impl decompose
    has_kernel_for_dispatch_key has_kernel_for_any_dispatch_key _op _dir _tags tags namespace
    redispatch _opname _ns _can_decompose py_kernels _handle is_view _lazy_init _has_torchbind_op_overload
    _get_dispatch _uncache_dispatch _dispatch_cache _schemas _register_as_effectful_op_temporarily
    __name__ __qualname__ __module__ __doc__ __call__ __getattr__ __class__ _overload_names
    default_overload""".split()
)

# attributes of a torch.ops namespace that are not operators (aten::__rshift__ etc. are operators)
_NOT_OPS = frozenset(
    """__name__ __doc__ __class__ __module__ __qualname__ __dict__ __getattr__ __call__ __file__
    __path__ __all__ __spec__ __loader__ __package__ __iter__ __dir__ name _dir _ops""".split()
)

_OP_CONTAINERS = frozenset(("list", "tuple", "binary_operator", "parenthesized_expression", "set"))

_CBIND_MODS = ("_VariableFunctions", "_nn", "_linalg", "_fft", "_special", "_sparse", "_nested")

# `NAME = torch.ops.<ns>` / `NAME: T = torch._ops.ops.<ns>`: the line text before the needle ...
_ALIAS_HEAD = re.compile(rb"[ \t]*([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*\Z")
# ... and after it
_ALIAS_NS = re.compile(rb"([A-Za-z_]\w*)[ \t]*(?:#[^\n]*)?(?:\r?\n|\Z)")

_IDENT_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_OPS_TAIL = re.compile(rb"([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")  # ns.op[.overload]
_ALIAS_TAIL = re.compile(rb"([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")  # op[.overload]
_MEMBER = re.compile(rb"[A-Za-z_]\w*")


def _occurrences(data: bytes, needle: bytes):
    """Offsets just past each `needle` in `data` that does not continue a longer dotted name."""
    find = data.find
    n = len(needle)
    i = find(needle)
    while i >= 0:
        if i == 0 or data[i - 1] not in _IDENT_CHARS:
            yield i, i + n
        i = find(needle, i + n)


_INTEREST = frozenset(
    """register_decomposition register_meta Library _scoped_library impl define fallback custom_op
    triton_op register_fake impl_abstract register_autograd register_kernel register_vmap
    register_torch_dispatch""".split()
)
_LIBRARY_CTORS = frozenset(
    """torch.library.Library torch.library._scoped_library Library _scoped_library library.Library
    library._scoped_library""".split()
)
_TL_FUNCS = frozenset(
    """define impl custom_op triton_op register_fake impl_abstract register_autograd register_kernel
    register_vmap register_torch_dispatch""".split()
)
_OPOBJ_METHODS = frozenset(
    "register_fake register_autograd register_kernel register_vmap register_torch_dispatch".split()
)


# ---------------------------------------------------------------------------------------------


# calls whose elements are their argument's (`for x in reversed(xs)`); enumerate's are (i, x) pairs
_ELEMENT_WRAPPERS = frozenset(("enumerate", "reversed", "sorted", "list", "tuple", "iter"))


class _File:
    """Per-file state while extracting."""

    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        self.module, self.is_pkg = module_name(path)
        self.defs: list[Definition] = []
        self.includes: list[Include] = []
        self.refs: list[Reference] = []
        self.regs: list[CodeRegistration] = []
        # scope arrays (definitions that open a scope: functions and classes), by start byte
        self.s_start: list[int] = []
        self.s_end: list[int] = []
        self.s_qual: list[str] = []
        self.s_parent: list[int] = []
        self.def_qual_by_start: dict[int, str] = {}
        # module-level variables: name -> right-hand node; ranges for c_binding targets
        self.mod_vars: dict[str, object] = {}
        self.v_start: list[int] = []
        self.v_end: list[int] = []
        self.v_qual: list[str] = []
        self.bindings: dict[str, str] = {}  # local import name -> dotted target
        self.ops_aliases: dict[str, str] = {"aten": "aten"}
        self.libs: dict[str, tuple[str, str, str]] = {}  # receiver text -> (ns, kind, key)
        self.custom_ops: dict[str, str] = {}  # local function name -> "ns::op"
        self._all_quals: set[str] = set()
        self._class_quals: set[str] = set()
        self._func_sigs: dict[str, str] | None = None  # function qualname -> signature (typed_bindings)
        self._params_of: dict[str, dict[str, str]] = {}  # function qualname -> {parameter: annotation}

    # -- scopes ------------------------------------------------------------------------------
    def scope_at(self, byte: int) -> str:
        i = bisect_right(self.s_start, byte) - 1
        ends, parent = self.s_end, self.s_parent
        while i >= 0 and ends[i] <= byte:
            i = parent[i]
        return self.s_qual[i] if i >= 0 else ""

    def qualify(self, name: str, byte: int) -> str:
        """A function name used at `byte`, qualified if it is defined in an enclosing scope."""
        if not name or "." in name or "(" in name:
            return name
        quals = self._all_quals
        i = bisect_right(self.s_start, byte) - 1
        while i >= 0 and self.s_end[i] <= byte:
            i = self.s_parent[i]
        while i >= 0:
            q = self.s_qual[i] + "." + name
            if q in quals:
                return q
            i = self.s_parent[i]
        q = (self.module + "." + name) if self.module else name
        return q if q in quals else name

    # -- definitions -------------------------------------------------------------------------
    def definitions(self, funcs, classes, var_nodes):
        items = [(n.start_byte, 0, n) for n in funcs]
        items += [(n.start_byte, 1, n) for n in classes]
        items += [(n.start_byte, 2, n) for n in var_nodes]
        items.sort(key=lambda x: (x[0], x[1]))
        module = self.module
        stack: list[tuple[int, int, str, bool]] = []  # (end_byte, scope index, qualname, is_class)
        defs = self.defs
        data = self.data
        count = data.count
        line, prev = 1, 0  # line numbers by counting newlines (cheaper than node.start_point)
        for start, what, node in items:
            line += count(b"\n", prev, start)
            prev = start
            while stack and stack[-1][0] <= start:
                stack.pop()
            parent = stack[-1] if stack else None
            base = parent[2] if parent else module
            if what == 2:
                if parent is not None and not parent[3]:
                    continue  # an assignment inside a function (_assignments does not collect those)
                self._variables(node, base, parent is None, line)
                continue
            name_node = node.child_by_field_name("name")
            if name_node is None:
                continue
            name = _txt(name_node.text)
            qual = base + "." + name if base else name
            body = node.child_by_field_name("body")
            head_end = body.start_byte if body is not None else node.end_byte
            head = self.data[start:head_end].rstrip()
            if node.has_error:
                head = head.split(b"\n", 1)[0]
            if head.endswith(b":"):
                head = head[:-1]
            else:  # a comment between the colon and the body
                colon = [c for c in node.children if c.type == ":"]
                if colon:
                    head = self.data[start : colon[-1].start_byte]
            end = node.end_byte
            end_line = self.end_line(start, end, line)
            if what == 0:
                kind = "method" if parent is not None and parent[3] else "function"
                defs.append(Definition(name, qual, kind, line, end_line, _one_line(head)))
            else:
                bases: tuple[str, ...] = ()
                sup = node.child_by_field_name("superclasses")
                if sup is not None:
                    bases = tuple(
                        _one_line(c.text, 200)
                        for c in sup.named_children
                        if c.type not in ("keyword_argument", "comment", "dictionary_splat")
                    )
                defs.append(Definition(name, qual, "class", line, end_line, _one_line(head), bases))
            idx = len(self.s_start)
            self.s_start.append(start)
            self.s_end.append(end)
            self.s_qual.append(qual)
            self.s_parent.append(parent[1] if parent else -1)
            self.def_qual_by_start[start] = qual
            stack.append((end, idx, qual, what == 1))
        self._all_quals = {d.qualname for d in defs if d.kind != "variable"}
        self._class_quals = {d.qualname for d in defs if d.kind == "class"}

    def end_line(self, start: int, end: int, start_line: int) -> int:
        """Last line of a node spanning data[start:end] that starts on start_line."""
        data = self.data
        n = data.count(b"\n", start, end)
        if n and data[end - 1] == 10:  # ends right after a newline: the last line is the one before
            return start_line + n - 1
        return start_line + n

    def _variables(self, node, base: str, at_module: bool, line: int):
        left = node.child_by_field_name("left")
        if left is None:
            return
        if left.type == "identifier":
            targets = [left]
        elif left.type in ("pattern_list", "tuple_pattern"):
            targets = [c for c in left.named_children if c.type == "identifier"]
        else:
            return
        right = node.child_by_field_name("right")
        start, end = node.start_byte, node.end_byte
        eol = self.data.find(b"\n", start, end)
        sig = _one_line(self.data[start : eol if eol >= 0 else end], 200)
        end_line = self.end_line(start, end, line)
        for t in targets:
            name = _txt(t.text)
            qual = base + "." + name if base else name
            self.defs.append(Definition(name, qual, "variable", line, end_line, sig))
            self.v_start.append(start)
            self.v_end.append(end)
            self.v_qual.append(qual)
            if at_module and right is not None and len(targets) == 1:
                self.mod_vars[name] = right

    def typed_bindings(self, names, attrs, receivers: set[str]):
        """Variables bound inside functions with a stated type (the link step types receivers by
        them): `x = C(...)` / `x: T = ...` -> `<function>.x`; `self.x = C(...)` / `self.x: T = ...`
        in a method -> `<class>.x` (an instance attribute). The signature keeps the annotation or
        the callee only (`reader = BytesReader(...)`): what the value is, on one line. A local is
        kept only when some call in the file has a receiver of its name (`reader.read()`): the
        others would only cost rows (instance attributes are used from other files: all kept)."""
        names = [n for n in names if n.text.decode("utf-8", "replace") in receivers]
        if not names and not attrs:
            return
        kinds = {d.qualname: d.kind for d in self.defs if d.kind != "variable"}
        defs = []
        for node, is_attr in [(n, False) for n in names] + [(n, True) for n in attrs]:
            a = node.parent
            if a is None or a.type != "assignment":
                continue
            scope = self.scope_at(a.start_byte)
            if kinds.get(scope) not in ("function", "method"):
                continue  # module and class level: _variables has them
            typ = a.child_by_field_name("type")
            right = a.child_by_field_name("right")
            if typ is not None:
                value = ": " + _one_line(typ.text, 150)
            elif right is not None and right.type == "call":
                fn = right.child_by_field_name("function")
                if fn is None or fn.type not in ("identifier", "attribute") or not _DOTTED(fn.text):
                    continue
                value = " = " + _txt(fn.text) + "(...)"
            elif right is not None and right.type == "subscript" and not is_attr:
                # `grad = grads[i]`: an element of a named container (the link step types it by the
                # container's annotation, `grads: list[Tensor]`, as a loop variable over it)
                value_node = right.child_by_field_name("value")
                if value_node is None or not _DOTTED(value_node.text):
                    continue
                value = f" = {_txt(value_node.text)}[...]"
            elif right is not None and right.type == "identifier":
                # `self.base = base` with `base: Distribution` a parameter of this function: the
                # annotation states what it holds (written `= base: Distribution`, a form no source
                # line has; python_signatures.variable reads it as an assignment, not a declaration)
                param = _txt(right.text)
                ann = self._param_annotations(scope).get(param)
                if not ann:
                    continue  # `self.x = y`, y untyped: no stated type
                value = f" = {param}: {ann}"
            else:
                continue  # `self.x = f(..)[0]`, literals...: no stated type
            if is_attr:
                attr = node.child_by_field_name("attribute")
                cls = scope.rpartition(".")[0]
                if attr is None or kinds.get(cls) != "class":
                    continue
                name = _txt(attr.text)
                qual = cls + "." + name
                target = "self." + name
            else:
                name = target = _txt(node.text)
                qual = scope + "." + name
            line = a.start_point[0] + 1
            defs.append(Definition(name, qual, "variable", line, _end_line(a), target + value))
        defs.sort(key=attrgetter("line"))
        self.defs += defs

    def loop_bindings(self, loops, receivers: set[str]) -> None:
        """Loop variables over a named container, in functions: `for x in xs:`, `for i, x in
        enumerate(xs):`, `for x in reversed(self.items):` -> `<function>.x` with the signature
        `x in xs` (the link step types x by the element type of xs's annotation: `xs: list[Node]`);
        over a call, `for m in self.children():` -> `m in self.children()` (by the element type
        of the callee's return annotation: `-> Iterator["Module"]`).
        Kept only when some call in the file has a receiver of that name, as typed locals are."""
        defs = []
        kinds = None
        for node in loops:
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            if left is None or right is None:
                continue
            fn = right.child_by_field_name("function") if right.type == "call" else None
            wrapper = _txt(fn.text) if fn is not None else ""
            if wrapper in _ELEMENT_WRAPPERS:
                args = right.child_by_field_name("arguments")
                inner = args.named_children if args is not None else []
                if len(inner) != 1:
                    continue
                right = inner[0]
                if wrapper == "enumerate":  # `for i, x in enumerate(xs)`: x
                    targets = left.named_children if left.type in ("pattern_list", "tuple_pattern") else []
                    if len(targets) != 2:
                        continue
                    left = targets[1]
            call = ""
            if right.type == "call":  # `for m in self.children():` what the callee returns
                fn = right.child_by_field_name("function")
                if fn is None:
                    continue
                right, call = fn, "()"
            if left.type != "identifier" or right.type not in ("identifier", "attribute") or not _DOTTED(right.text):
                continue
            name = _txt(left.text)
            if name not in receivers:
                continue
            scope = self.scope_at(node.start_byte)
            if kinds is None:
                kinds = {d.qualname: d.kind for d in self.defs if d.kind != "variable"}
            if kinds.get(scope) not in ("function", "method"):
                continue
            defs.append(Definition(name, scope + "." + name, "variable", node.start_point[0] + 1,
                                   left.end_point[0] + 1, f"{name} in {_txt(right.text)}{call}"))
        defs.sort(key=attrgetter("line"))
        self.defs += defs

    def _param_annotations(self, func: str) -> dict[str, str]:
        """{parameter: annotation} of the function `func` (qualname), from its stored signature."""
        if self._func_sigs is None:
            self._func_sigs = {d.qualname: d.signature for d in self.defs if d.kind in ("function", "method")}
        got = self._params_of.get(func)
        if got is None:
            sig = self._func_sigs.get(func, "")
            got = self._params_of[func] = (sig_params(sig) or {}) if sig else {}
        return got

    def var_at(self, byte: int) -> str:
        i = bisect_right(self.v_start, byte) - 1
        if i >= 0 and byte < self.v_end[i]:
            return self.v_qual[i]
        return ""

    def salvage(self, error_nodes):
        """Definitions tree-sitter's error recovery swallowed: `def`/`class` lines in ERROR regions.

        Nesting is taken from indentation; a salvaged definition runs to the next definition at
        the same or a lower indentation, or to the end of the ERROR region. Salvaged definitions
        also become scopes for the references inside them."""
        data = self.data
        known = {d.line for d in self.defs if d.kind != "variable"}
        found = []  # [name, qual, kind, line, end_line, sig, start_byte, end_byte]
        for err in error_nodes:
            start = data.rfind(b"\n", 0, err.start_byte) + 1
            err_end_line = _end_line(err)
            line = data.count(b"\n", 0, start) + 1
            pos = start
            # (indent, qual, is_class, index in found or -1): starts with the enclosing real scopes
            stack: list[tuple[int, str, bool, int]] = []
            i = bisect_right(self.s_start, err.start_byte) - 1
            while i >= 0 and self.s_end[i] <= err.start_byte:
                i = self.s_parent[i]
            while i >= 0:
                b0 = self.s_start[i]
                ind = len(data[data.rfind(b"\n", 0, b0) + 1 : b0].expandtabs())
                stack.insert(0, (ind, self.s_qual[i], self.s_qual[i] in self._class_quals, -1))
                i = self.s_parent[i]
            for m in _SALVAGE.finditer(data, start, err.end_byte):
                line += data.count(b"\n", pos, m.start())
                pos = m.start()
                indent = len(m.group(1).expandtabs())
                while stack and stack[-1][0] >= indent:
                    k = stack.pop()[3]
                    if k >= 0:
                        prev = found[k]
                        prev[4], prev[7] = max(prev[3], line - 1), m.start()
                parent_q, parent_cls = (stack[-1][1], stack[-1][2]) if stack else (self.module, False)
                name = _txt(m.group(3))
                qual = parent_q + "." + name if parent_q else name
                is_class = m.group(2) == b"class"
                kind = "class" if is_class else ("method" if parent_cls else "function")
                if line in known:
                    stack.append((indent, qual, is_class, len(found)))
                    found.append([None] * 8)  # placeholder: tree-sitter has it already
                    continue
                eol = data.find(b"\n", m.start())
                sig = _one_line(data[m.start() : eol if eol >= 0 else len(data)].strip().rstrip(b":"))
                found.append([name, qual, kind, line, err_end_line, sig, m.start(), err.end_byte])
                stack.append((indent, qual, is_class, len(found) - 1))
                if is_class:
                    self._class_quals.add(qual)
        extra = []
        for name, qual, kind, line, end_line, sig, b0, b1 in found:
            if name is None:
                continue
            self.defs.append(Definition(name, qual, kind, line, end_line, sig))
            self._all_quals.add(qual)
            extra.append((b0, b1, qual))
        if extra:
            items = list(zip(self.s_start, self.s_end, self.s_qual)) + extra
            items.sort(key=lambda x: (x[0], -x[1]))
            self.s_start, self.s_end, self.s_qual, self.s_parent = [], [], [], []
            stack2: list[int] = []
            for b0, b1, qual in items:
                while stack2 and self.s_end[stack2[-1]] <= b0:
                    stack2.pop()
                self.s_parent.append(stack2[-1] if stack2 else -1)
                self.s_start.append(b0)
                self.s_end.append(b1)
                self.s_qual.append(qual)
                stack2.append(len(self.s_start) - 1)

    # -- imports -----------------------------------------------------------------------------
    def imports(self, nodes):
        inc = self.includes
        for node in nodes:
            line = node.start_point[0] + 1
            scope = self.scope_at(node.start_byte)
            t = node.type
            if t == "import_statement":
                for n in node.children_by_field_name("name"):
                    if n.type == "aliased_import":
                        dn = n.child_by_field_name("name")
                        al = n.child_by_field_name("alias")
                        if dn is None:
                            continue
                        target = _clean_dotted(dn.text)
                        local = target.split(".", 1)[0]
                        if al is not None:
                            local = _txt(al.text)
                            self.bindings[local] = target
                    else:
                        target = _clean_dotted(n.text)
                        local = target.split(".", 1)[0]
                        self.bindings.setdefault(local, local)
                    inc.append(Include(target, line, False, local, scope))
                continue
            if t == "future_import_statement":
                base = "__future__"
            else:
                mn = node.child_by_field_name("module_name")
                if mn is None:
                    continue
                if mn.type == "relative_import":
                    level, rest = 0, ""
                    for c in mn.children:
                        if c.type == "import_prefix":
                            level = c.text.count(b".")
                        elif c.type == "dotted_name":
                            rest = _clean_dotted(c.text)
                    base = _resolve_relative(self.module, self.is_pkg, level, rest)
                else:
                    base = _clean_dotted(mn.text)
            names = node.children_by_field_name("name")
            if not names:
                if any(c.type == "wildcard_import" for c in node.children):
                    inc.append(Include(base + ".*" if not base.endswith(".") else base + "*", line, False, "*",
                                       scope))
                else:
                    inc.append(Include(base, line, False, "", scope))
                continue
            sep = "" if base.endswith(".") else "."
            for n in names:
                if n.type == "aliased_import":
                    dn = n.child_by_field_name("name")
                    al = n.child_by_field_name("alias")
                    if dn is None:
                        continue
                    nm = _clean_dotted(dn.text)
                    local = _txt(al.text) if al is not None else nm
                else:
                    nm = _clean_dotted(n.text)
                    local = nm
                target = base + sep + nm
                self.bindings[local] = target
                inc.append(Include(target, line, False, local, scope))

    def resolve(self, name: str) -> str:
        """`name` with its first component replaced by what an import bound it to."""
        head, dot, rest = name.partition(".")
        tgt = self.bindings.get(head)
        if tgt is None:
            return name
        return tgt + dot + rest

    # -- op expressions ----------------------------------------------------------------------
    def op_name(self, text: str):
        """`aten.add.Tensor` / `torch.ops.aten.add` / alias -> "aten::add.Tensor", else None."""
        parts = text.split(".")
        ns = None
        if len(parts) >= 4 and parts[0] == "torch" and parts[1] == "ops":
            ns, rest = parts[2], parts[3:]
        elif len(parts) >= 5 and parts[0] == "torch" and parts[1] == "_ops" and parts[2] == "ops":
            ns, rest = parts[3], parts[4:]
        elif len(parts) >= 3 and parts[0] == "ops" and "ops" in self.ops_aliases:
            ns, rest = parts[1], parts[2:]
        elif len(parts) >= 2 and parts[0] in self.ops_aliases and parts[0] != "ops":
            ns, rest = self.ops_aliases[parts[0]], parts[1:]
        if ns is None or not rest or rest[0] in _NOT_OPS:
            return None
        name = ns + "::" + rest[0]
        if len(rest) > 1 and rest[1] not in _NOT_OVERLOAD:
            name += "." + rest[1]
        return name

    def op_specs(self, node, depth: int = 0) -> list[str]:
        """Op names named by a register_* argument: one op, a list/tuple, or a module-level name."""
        if node is None or depth > 8:
            return []
        t = node.type
        if t in ("list", "tuple", "expression_list", "set"):
            out: list[str] = []
            for c in node.named_children:
                if c.type != "comment":
                    out += self.op_specs(c, depth + 1)
            return out
        if t == "parenthesized_expression":
            out = []
            for c in node.named_children:
                if c.type != "comment":
                    out += self.op_specs(c, depth + 1)
            return out
        if t == "binary_operator":
            l, r = node.child_by_field_name("left"), node.child_by_field_name("right")
            op = node.child_by_field_name("operator")
            if op is not None and op.text == b"+":
                return self.op_specs(l, depth + 1) + self.op_specs(r, depth + 1)
        if t == "identifier":
            bound = self.mod_vars.get(_txt(node.text))
            if bound is not None and bound.type in _OP_CONTAINERS:
                res = self.op_specs(bound, depth + 1)
                if res:
                    return res
        s = _string_value(node)
        if s is not None:
            return [s]
        text = _callee_name(node) if t in ("attribute", "identifier") else _one_line(node.text, 200)
        return [self.op_name(text) or text]

    # -- registrations -----------------------------------------------------------------------
    def reg(self, kind, name, node, target="", key="", scope=None):
        b = node.start_byte
        self.regs.append(
            CodeRegistration(
                kind, name, node.start_point[0] + 1, target, key, self.scope_at(b) if scope is None else scope
            )
        )

    def decorated_target(self, call):
        """Qualname of the function a decorator call decorates, or of `fn` in `deco(...)(fn)`."""
        p = call.parent
        if p is None:
            return ""
        if p.type == "decorator":
            dd = p.parent
            d = dd.child_by_field_name("definition") if dd is not None else None
            if d is not None:
                return self.def_qual_by_start.get(d.start_byte, "")
            return ""
        if p.type == "call" and p.child_by_field_name("function") == call:
            pos, kw = _args(p)
            if pos:
                return self.func_arg(pos[0], call)
        return ""

    def func_arg(self, node, call) -> str:
        if node is None:
            return ""
        if node.type in ("identifier", "attribute"):
            return self.qualify(_callee_name(node), call.start_byte)
        return _one_line(node.text, 200)

    def registrations(self, interesting):
        later = []
        # phase 1: Library objects and custom ops, so later uses can be tied to them
        for node, name, last in interesting:
            call = node.parent
            if last in ("Library", "_scoped_library"):
                r = self.resolve(name)
                if r in _LIBRARY_CTORS or r.endswith(".library.Library"):
                    self._library(call, name)
                    continue
            elif last in ("custom_op", "triton_op"):
                r = self.resolve(name)
                if r.startswith(("torch.library.", "torch._library.")) or r in ("custom_op", "triton_op"):
                    self._torch_library(call, last, "torch.library." + last, phase1=True)
                    continue
            later.append((node, name, last))
        # phase 2
        for node, name, last in later:
            call = node.parent
            if last in ("register_decomposition", "register_meta"):
                self._register_op(call, last)
                continue
            recv, _, _ = name.rpartition(".")
            r = self.resolve(name)
            if last in _TL_FUNCS and (
                r.startswith(("torch.library.", "torch._library."))
                and r.count(".") >= 2
            ):
                self._torch_library(call, last, "torch.library." + last)
                continue
            is_lib = recv in self.libs or "lib" in recv.rpartition(".")[2].lower()
            if last in ("impl", "define", "fallback") and recv and is_lib:
                self._lib_method(call, recv, last)
                continue
            decorating = call.parent is not None and call.parent.type == "decorator"
            if last in _OPOBJ_METHODS and recv and (recv in self.custom_ops or decorating):
                self._opobj_method(call, recv, last)

    def _library(self, call, name):
        pos, kw = _args(call)
        ns_n, kind_n = _arg(pos, kw, 0, "ns"), _arg(pos, kw, 1, "kind")
        key_n = _arg(pos, kw, 2, "dispatch_key")
        ns = _string_value(ns_n) if ns_n is not None else ""
        if ns is None:
            ns = _one_line(ns_n.text, 80)
        kind = _string_value(kind_n) if kind_n is not None else None
        key = (_string_value(key_n) or _one_line(key_n.text, 80)) if key_n is not None else ""
        bound = ""
        p = call.parent
        if p is not None and p.type == "assignment" and p.child_by_field_name("right") == call:
            left = p.child_by_field_name("left")
            if left is not None and left.type in ("identifier", "attribute"):
                bound = _callee_name(left)
        elif p is not None and p.type == "as_pattern":  # with _scoped_library(...) as lib
            al = p.child_by_field_name("alias")
            if al is not None:
                bound = _txt(al.text).strip()
        elif p is not None and p.type == "with_item":
            pass
        if bound:
            self.libs[bound] = (ns, kind or "", key)
        target = bound
        if bound and "." not in bound:
            scope = self.scope_at(call.start_byte)
            if not scope and self.module:
                target = self.module + "." + bound
            elif scope in self._class_quals:  # a class attribute
                target = scope + "." + bound
        self.reg("Library." + kind if kind else "Library", ns, call, target, key)

    def _register_op(self, call, last):
        pos, kw = _args(call)
        op = _arg(pos, kw, 0, "aten_op" if last == "register_decomposition" else "op")
        if op is None:
            return
        target = self.decorated_target(call)
        ops = self.op_specs(op)
        if not target and not any("::" in o for o in ops):
            return  # a wrapper forwarding its parameter, e.g. decomp.register_decomposition(ops, table)
        key = ""
        tn = kw.get("type")
        if tn is not None:
            key = _string_value(tn) or _one_line(tn.text, 80)
        for o in ops:
            self.reg(last, o, call, target, key)

    def _ns_op(self, node, ns: str) -> str:
        """An op argument to a Library method: "name" -> "ns::name"; op objects resolved."""
        s = _string_value(node)
        if s is not None:
            s = s.split("(", 1)[0].strip()
            if "::" in s or not ns:
                return s
            return ns + "::" + s
        if node.type in ("identifier", "attribute"):
            t = _callee_name(node)
            return self.op_name(t) or t
        return _one_line(node.text, 200)

    def _lib_method(self, call, recv, last):
        ns, _lkind, lkey = self.libs.get(recv, ("", "", ""))
        pos, kw = _args(call)
        if last == "fallback":
            fn = _arg(pos, kw, 0, "fn")
            kn = _arg(pos, kw, 1, "dispatch_key")
            key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else lkey
            self.reg("lib.fallback", ns or recv, call, self.func_arg(fn, call), key)
            return
        if last == "define":
            sn = _arg(pos, kw, 0, "schema")
            if sn is None:
                return
            self.reg("lib.define", self._ns_op(sn, ns), call, "", "")
            return
        on = _arg(pos, kw, 0, "op_name")
        if on is None:
            return
        fn = _arg(pos, kw, 1, "fn")
        kn = _arg(pos, kw, 2, "dispatch_key")
        key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else lkey
        target = self.func_arg(fn, call) if fn is not None else self.decorated_target(call)
        for o in self.op_specs(on) if on.type in ("list", "tuple") else [self._ns_op(on, ns)]:
            self.reg("lib.impl", o, call, target, key)

    def _torch_library(self, call, last, kind, phase1=False):
        pos, kw = _args(call)
        first_kw = {"define": "qualname", "impl": "qualname", "impl_abstract": "qualname", "custom_op": "name",
                    "triton_op": "name"}.get(last, "op")
        first = _arg(pos, kw, 0, first_kw)
        if first is None:
            return
        fs = _string_value(first)
        key, target = "", ""
        rest = pos[1:] if pos and pos[0] is first else pos
        if last == "impl" and fs is None and pos and len(pos) >= 2 and _string_value(pos[1]) is not None:
            # legacy torch.library.impl(lib, "name", "CPU")
            lib_name = _callee_name(first) if first.type in ("identifier", "attribute") else ""
            lib = self.libs.get(lib_name, ("", "", ""))
            name = self._ns_op(pos[1], lib[0])
            kn = pos[2] if len(pos) > 2 else kw.get("dispatch_key")
            key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else lib[2]
            fn = pos[3] if len(pos) > 3 else kw.get("func")
            target = self.func_arg(fn, call) if fn is not None else self.decorated_target(call)
            self.reg(kind, name, call, target, key)
            return
        name = self._ns_op(first, "") if fs is None else fs.split("(", 1)[0].strip()
        if last == "define":
            self.reg(kind, name, call, "", "")
            return
        if last in ("impl", "register_kernel"):
            kn = rest[0] if rest else kw.get("types" if last == "impl" else "device_types")
            key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else ""
            fn = rest[1] if len(rest) > 1 else kw.get("func")
        elif last == "register_torch_dispatch":
            kn = rest[0] if rest else kw.get("torch_dispatch_class")
            key = _one_line(kn.text, 80) if kn is not None else ""
            fn = rest[1] if len(rest) > 1 else kw.get("func")
        elif last in ("custom_op", "triton_op"):
            kn = kw.get("device_types")
            key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else ""
            fn = rest[0] if rest else kw.get("fn")
        elif last == "register_autograd":
            fn = rest[0] if rest else kw.get("backward")
        else:  # register_fake, impl_abstract, register_vmap
            fn = rest[0] if rest else kw.get("func")
        target = self.func_arg(fn, call) if fn is not None else self.decorated_target(call)
        if phase1 and target:
            self.custom_ops[target.rpartition(".")[2]] = name
        self.reg(kind, name, call, target, key)

    def _opobj_method(self, call, recv, last, bare=False):
        name = self.custom_ops.get(recv, recv)
        if bare:
            target = ""
            p = call.parent  # the decorator
            dd = p.parent if p is not None else None
            d = dd.child_by_field_name("definition") if dd is not None else None
            if d is not None:
                target = self.def_qual_by_start.get(d.start_byte, "")
            self.reg("torch.library." + last, name, call, target, "")
            return
        pos, kw = _args(call)
        key = ""
        if last == "register_kernel":
            kn = _arg(pos, kw, 0, "device_types")
            key = (_string_value(kn) or _one_line(kn.text, 80)) if kn is not None else ""
            fn = _arg(pos, kw, 1, "fn")
        elif last == "register_torch_dispatch":
            kn = _arg(pos, kw, 0, "torch_dispatch_class")
            key = _one_line(kn.text, 80) if kn is not None else ""
            fn = _arg(pos, kw, 1, "fn")
        else:
            fn = _arg(pos, kw, 0, "backward" if last == "register_autograd" else "fn")
        target = self.func_arg(fn, call) if fn is not None else self.decorated_target(call)
        self.reg("torch.library." + last, name, call, target, key)

    # -- regex scans over the raw bytes ------------------------------------------------------
    def scan_ops(self, root):
        """aten_ref / op_ref facts: torch.ops.<ns>.X[.overload] and aliases of a namespace."""
        data = self.data
        aliases = self.ops_aliases
        for local, tgt in self.bindings.items():
            if tgt in ("torch.ops", "torch._ops.ops"):
                aliases["ops"] = "ops"
            elif tgt.count(".") == 2 and tgt.startswith("torch.ops."):
                aliases[local] = tgt.rpartition(".")[2]  # from torch.ops import aten
            elif tgt.count(".") == 3 and tgt.startswith("torch._ops.ops."):
                aliases[local] = tgt.rpartition(".")[2]
        hits = []  # (start, ns, op, overload)
        for needle in (b"torch.ops.", b"torch._ops.ops.", b"ops."):
            if needle == b"ops." and "ops" not in aliases:
                break
            for start, end in _occurrences(data, needle):
                m = _OPS_TAIL.match(data, end)
                if m is not None:
                    hits.append((start, m.group(1), m.group(2), m.group(3)))
                    continue
                m = _ALIAS_NS.match(data, end)  # aten = torch.ops.aten
                if m is not None:
                    h = _ALIAS_HEAD.match(data, data.rfind(b"\n", 0, start) + 1, start)
                    if h is not None:
                        aliases[h.group(1).decode("ascii", "replace")] = m.group(1).decode("ascii", "replace")
        for alias in self.ops_aliases:
            if alias == "ops":
                continue
            for start, end in _occurrences(data, alias.encode() + b"."):
                m = _ALIAS_TAIL.match(data, end)
                if m is not None:
                    hits.append((start, self.ops_aliases[alias].encode(), m.group(1), m.group(2)))
        if not hits:
            return
        hits.sort()
        desc = root.descendant_for_byte_range
        regs = self.regs
        for start, ns_b, op_b, ov_b in hits:
            n = desc(start, start + 1)
            if n is None or n.type != "identifier":
                continue  # in a string or a comment
            ns = ns_b.decode("ascii", "replace")
            op = op_b.decode("ascii", "replace")
            if op in _NOT_OPS:
                continue
            name = ns + "::" + op
            if ov_b is not None:
                ov = ov_b.decode("ascii", "replace")
                if ov not in _NOT_OVERLOAD:
                    name += "." + ov
            kind = "aten_ref" if ns == "aten" else "op_ref"
            regs.append(CodeRegistration(kind, name, n.start_point[0] + 1, "", "", self.scope_at(start)))

    def scan_bindings(self, root):
        """c_binding facts: torch._C._nn.X and friends, through torch._VF and import aliases."""
        data = self.data
        prefixes = {}
        if b"_C." in data:
            for mod in _CBIND_MODS:
                prefixes["torch._C." + mod] = mod
        if b"_VF" in data:
            prefixes["torch._VF"] = "_VariableFunctions"
        for local, tgt in self.bindings.items():
            if tgt == "torch._VF":
                prefixes[local] = "_VariableFunctions"
            elif tgt == "torch._C":
                for mod in _CBIND_MODS:
                    prefixes[local + "." + mod] = mod
            elif tgt.startswith("torch._C.") and tgt[9:] in _CBIND_MODS:
                prefixes[local] = tgt[9:]
        hits = []
        for prefix, mod in prefixes.items():
            for start, end in _occurrences(data, prefix.encode() + b"."):
                m = _MEMBER.match(data, end)
                if m is not None:
                    hits.append((start, mod, m.group(0)))
        if not hits:
            return
        hits.sort()
        desc = root.descendant_for_byte_range
        for start, mod, member_b in hits:
            member = member_b.decode("ascii", "replace")
            if member in _NOT_OPS:
                continue
            n = desc(start, start + 1)
            if n is None or n.type != "identifier":
                continue
            self.regs.append(
                CodeRegistration(
                    "c_binding", "torch._C." + mod + "." + member, n.start_point[0] + 1,
                    self.var_at(start), "", self.scope_at(start),
                )
            )


def _clean_dotted(b: bytes) -> str:
    return _txt(b"".join(b.split()))


def _end_line(node) -> int:
    row, col = node.end_point
    if col == 0 and row > node.start_point[0]:
        return row  # the node ends at the start of a line: its last line is the one before
    return row + 1


def _count_errors(root):
    """(number of ERROR and MISSING nodes, the outermost ERROR nodes)."""
    n = 0
    outer = []
    stack = [(root, False)]
    while stack:
        node, inside = stack.pop()
        if node.is_missing:
            n += 1
            continue
        if node.type == "ERROR":
            n += 1
            if not inside:
                outer.append(node)
            inside = True
        if node.has_error:
            stack.extend((c, inside) for c in node.children)
    outer.sort(key=_START)
    return n, outer


_SALVAGE = re.compile(rb"^([ \t]*)(?:async[ \t]+)?(def|class)[ \t]+([A-Za-z_]\w*)", re.M)


def parse_python(path: str, data: bytes) -> FileFacts:
    """Extract definitions, imports, calls and registration idioms from one Python file."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    parser, query, cursor_cls = _ts()
    tree = parser.parse(data)
    root = tree.root_node
    f = _File(path, data)
    caps = cursor_cls(query).captures(root)

    classes = caps.get("class", [])
    f.definitions(caps.get("func", ()), classes, _assignments(root, classes))
    errors = 0
    if root.has_error:
        errors, error_nodes = _count_errors(root)
        f.salvage(error_nodes)
        if errors:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ast.parse(data)
                errors = 0  # valid Python that tree-sitter-python's grammar does not accept
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                pass
    imports = caps.get("import", [])
    imports.sort(key=_START)
    f.imports(imports)  # after the definitions: each import knows its enclosing scope

    # calls, in document order: the enclosing scope is tracked with a stack sweep
    refs = f.refs
    append = refs.append
    interesting = []
    interest = _INTEREST
    dotted = _DOTTED
    s_start, s_end, s_qual = f.s_start, f.s_end, f.s_qual
    nscopes = len(s_start)
    i = 0
    stack: list[int] = []
    scope = ""
    callees = caps.get("callee", [])
    callees.sort(key=_START)  # captures are not guaranteed to come in document order
    count = data.count
    line, prev = 1, 0
    for node in callees:
        start = node.start_byte
        line += count(b"\n", prev, start)
        prev = start
        if (stack and s_end[stack[-1]] <= start) or (i < nscopes and s_start[i] <= start):
            while i < nscopes and s_start[i] <= start:
                while stack and s_end[stack[-1]] <= s_start[i]:
                    stack.pop()
                stack.append(i)
                i += 1
            while stack and s_end[stack[-1]] <= start:
                stack.pop()
            scope = s_qual[stack[-1]] if stack else ""
        b = node.text
        if dotted(b):
            name = b.decode("ascii")
            append(new_reference(name, line, scope))
        else:
            name = _dotted(node)
            at = line
            if node.type == "attribute":  # a chain split over lines: the line of the called name
                attr = node.child_by_field_name("attribute")
                if attr is not None:
                    at += count(b"\n", start, attr.start_byte)
            append(new_reference(name, at, scope))
        last = name.rpartition(".")[2]
        if last in interest:
            interesting.append((node, name, last))
    bare = []
    for node in caps.get("bare_decorator", ()):
        name = _callee_name(node)
        refs.append(Reference(name, node.start_point[0] + 1, f.scope_at(node.start_byte)))
        recv, _, last = name.rpartition(".")
        if last in _OPOBJ_METHODS and recv:
            bare.append((node, recv, last))
    refs.sort(key=lambda r: r.line)
    receivers = {r.name.partition(".")[0] for r in refs if "." in r.name}
    f.typed_bindings(caps.get("local_lhs", ()), caps.get("attr_lhs", ()), receivers)
    f.loop_bindings(caps.get("loop", ()), receivers)

    f.scan_ops(root)  # learns torch.ops aliases, used by the registrations below
    f.registrations(interesting)
    for node, recv, last in bare:
        f._opobj_method(node, recv, last, bare=True)
    f.scan_bindings(root)

    regs = sorted(f.regs, key=lambda r: r.line)
    return FileFacts(
        path=path,
        language="python",
        definitions=tuple(f.defs),
        includes=tuple(sorted(f.includes, key=lambda i: i.line)),
        references=tuple(refs),
        registrations=tuple(regs),
        parse_errors=errors,
    )
