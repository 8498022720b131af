"""Phase 3 of the C++ parser: the structure walk that yields the definitions of a file.

It walks in Python, never into function bodies: translation unit, namespace bodies, class bodies,
`extern "C"` blocks, template declarations, `#if/#ifdef/#else` branches and ERROR nodes (so
definitions inside a damaged region are still found; a function of an ERROR region whose body
holds function/namespace/template definitions is a misparse swallowing them, and they are walked
too). It yields namespaces, classes/structs/unions (kind "struct" for struct and union), enums,
function definitions, in-class method definitions and in-class method *declarations* (kind
"method", `end_line` = the declaration's last line) and data members (kind "variable", the type as
written in the signature; `TORCH_ARG(T, x)` in an options class writes the method `x` and the
member `x_`). Namespace-scope prototypes are not definitions and are skipped. Also: friend functions defined in a class body (functions of the
enclosing namespace), namespace-scope type aliases (kind "alias"), and the classes local to
function bodies, which the query captures and `local_classes` walks (their methods are qualified by
the function). Each definition is kept as a list (see `_Walker.__init__`) so that
`scopes._fix_namespaces` can requalify it before the frozen `Definition`s are made.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from .idioms import _LIBRARY_MACROS, _STRUCTURED_MACROS, _structured_target
from .text import _join, _norm_name, _one_line, _split_args

_CONTAINERS = frozenset(
    ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef", "ERROR",
     "template_declaration", "declaration_list", "field_declaration_list")
)
_CLASS_TYPES = {"class_specifier": "class", "struct_specifier": "struct", "union_specifier": "struct"}
_DECL_WRAPPERS = frozenset(
    ("pointer_declarator", "reference_declarator", "attributed_declarator", "parenthesized_declarator",
     "init_declarator")
)
_SIMPLE_NAMES = frozenset(("identifier", "field_identifier", "destructor_name", "operator_name",
                           "type_identifier", "operator_cast"))
_BASE_SKIP = frozenset(("access_specifier", "virtual", "comment"))
_MACRO_ARG_RE = re.compile(r"[\w:<>&*. -]{1,160}")  # gtest names run to 100+ characters


def _macro_block_args_ok(args: list[str]) -> bool:
    return len(args) <= 8 and all(_MACRO_ARG_RE.fullmatch(a) for a in args)


def _code_only(text: str) -> str:
    """`text` without comments, directive lines and the #else/#elif branches of a conditional group
    (the branch the parsed copy kept, see conditionals.py): a type split by `#ifdef`."""
    out = []
    skip = False
    for line in text.split("\n"):
        t = line.strip()
        if t.startswith("#"):
            word = t[1:].lstrip()
            if word.startswith(("else", "elif")):
                skip = True
            elif word.startswith("endif"):
                skip = False
            continue
        if not skip:
            out.append(line.split("//", 1)[0])
    return re.sub(r"/\*.*?\*/", " ", " ".join(out), flags=re.S)


def _start_byte(node) -> int:
    return node.start_byte


class _Walker:
    __slots__ = ("src", "defs", "funcs", "fdef", "class_names", "pending", "ns_error", "nsp")

    def __init__(self, src: bytes):
        self.src = src
        # [name, qualname, kind, line, end_line, signature, bases, name_byte, prefix, written(, body
        # start byte of a class)], where qualname == _join(prefix, written): the extra fields let
        # _fix_namespaces requalify it
        self.defs: list = []
        self.funcs: list = []  # (start_byte, end_byte, qualname)
        self.fdef: list = []  # index in defs of each funcs entry
        self.ns_error = False  # an ERROR node was walked outside class bodies
        self.class_names: set = set()
        self.pending: list = []  # (index into defs, qualifier last component) for method-vs-function
        self.nsp = ""  # the innermost namespace being walked: where a friend function defined in a class lives

    def t(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- containers -------------------------------------------------------------------------
    def walk(self, container, prefix: str, in_class: bool) -> None:
        in_error = container.type == "ERROR"
        if in_error and not in_class:
            self.ns_error = True
        for child in container.named_children:
            ty = child.type
            if ty == "function_definition":
                self.function(child, prefix, in_class)
                if in_error:
                    self.rescue(child, prefix)
            elif ty == "namespace_definition":
                self.namespace(child, prefix)
            elif ty in _CLASS_TYPES:
                self.klass(child, prefix, ty)
            elif ty in ("declaration", "field_declaration"):
                self.declaration(child, prefix, in_class)
            elif ty in _CONTAINERS:
                self.walk(child, prefix, in_class)
            elif (ty == "alias_declaration" or ty == "type_definition") and not in_class:
                self.alias(child, prefix, ty)
            elif ty == "friend_declaration":
                # `friend bool operator==(const A&, const A&) { ... }` in a class body: a function of the
                # enclosing namespace (found by argument-dependent lookup), not a member
                for c in child.named_children:
                    if c.type == "function_definition":
                        self.function(c, self.nsp, False)
            elif ty == "enum_specifier":
                self.enum(child, prefix)
            elif ty == "linkage_specification":
                body = child.child_by_field_name("body")
                if body is not None:
                    if body.type == "declaration_list":
                        self.walk(body, prefix, in_class)
                    elif body.type == "function_definition":
                        self.function(body, prefix, in_class)
                    elif body.type == "declaration":
                        self.declaration(body, prefix, in_class)

    def local_classes(self, nodes) -> None:
        """Classes defined in function bodies (`struct LintScope { ... }` in `Graph::lint`, test
        fixtures in TEST bodies), from the query's class captures: the walk never enters function
        bodies. Their members are definitions qualified by the enclosing function
        (`torch::jit::Graph::lint::LintScope::LintScope`); calls in them keep the scope of that
        function (their methods get no `funcs` entry), as before."""
        funcs = sorted(self.funcs)
        starts = [f[0] for f in funcs]
        walked = {d[10] for d in self.defs if len(d) > 10}
        n_funcs = len(self.funcs)
        for node in sorted(nodes, key=_start_byte):
            body = node.child_by_field_name("body")
            if body is None or body.start_byte in walked:
                continue
            pos = node.start_byte
            scope = None
            i = bisect_right(starts, pos) - 1
            for j in range(i, max(i - 3, -1), -1):  # the innermost function holding pos (misparses nest)
                if pos < funcs[j][1]:
                    scope = funcs[j][2]
                    break
            if scope is None:
                continue  # a class at namespace or class level: walked already
            k = len(self.defs)
            self.klass(node, scope, node.type)
            walked.update(d[10] for d in self.defs[k:] if len(d) > 10)
        del self.funcs[n_funcs:]
        del self.fdef[n_funcs:]

    def rescue(self, node, prefix: str) -> None:
        """Definitions swallowed by a function misparsed inside an ERROR region.

        A statement tree-sitter cannot parse (`SMALL_INDEX(scalar_t, unsigned int, 1);`, a macro
        call with a type argument, in cuda/Indexing.cu) can turn the rest of the file into a bogus
        function whose body holds the real definitions; C++ has no nested functions, so function,
        namespace and template definitions in such a body are walked too."""
        body = node.child_by_field_name("body")
        if body is None:
            return
        for c in body.named_children:
            t = c.type
            if t == "function_definition":
                self.function(c, prefix, False)
                self.rescue(c, prefix)
            elif t == "namespace_definition":
                self.namespace(c, prefix)
            elif t == "template_declaration" or t == "linkage_specification":
                self.walk(c, prefix, False)

    def namespace(self, node, prefix: str) -> None:
        name_node = node.child_by_field_name("name")
        qual = prefix
        if name_node is not None:
            name = "".join(self.t(name_node).split())
            qual = _join(prefix, name)
            self.defs.append([name.rsplit("::", 1)[-1], qual, "namespace", name_node.start_point[0] + 1,
                              node.end_point[0] + 1, _one_line(self.src[node.start_byte:name_node.end_byte]
                                                               .decode("utf-8", "replace")), (),
                              name_node.start_byte, prefix, name])
        body = node.child_by_field_name("body")
        if body is not None:
            outer = self.nsp
            self.nsp = qual
            self.walk(body, qual, False)
            self.nsp = outer

    def klass(self, node, prefix: str, ty: str) -> None:
        body = node.child_by_field_name("body")
        name_node = node.child_by_field_name("name")
        if body is None or name_node is None:
            return  # forward declaration, elaborated type, or anonymous class
        name = _norm_name(self.t(name_node))
        qual = _join(prefix, name)
        short = name.rsplit("::", 1)[-1]
        self.class_names.add(short)
        bases = []
        for c in node.children:
            if c.type == "base_class_clause":
                for b in c.named_children:
                    if b.type not in _BASE_SKIP:
                        bases.append(" ".join(self.t(b).split()))
        sig = _one_line(self.src[node.start_byte:body.start_byte].decode("utf-8", "replace"))
        self.defs.append([short, qual, _CLASS_TYPES[ty], name_node.start_point[0] + 1, node.end_point[0] + 1,
                          sig, tuple(bases), name_node.start_byte, prefix, name, body.start_byte])
        self.walk(body, qual, True)

    def alias(self, node, prefix: str, ty: str) -> None:
        """A namespace-scope type alias (`using IntArrayRef = ArrayRef<int64_t>;`, `typedef X Y;`): kind
        "alias", signature `using Y = X` whatever the spelling, so that the link step can follow a
        parameter's type (`IntArrayRef sizes` -> `sizes.size()` is `c10::ArrayRef::size`)."""
        typ = node.child_by_field_name("type")
        name_node = node.child_by_field_name("name" if ty == "alias_declaration" else "declarator")
        if typ is None or name_node is None or name_node.type != "type_identifier":
            if typ is not None and typ.type in _CLASS_TYPES:
                self.klass(typ, prefix, typ.type)  # typedef struct Foo { ... } Foo_t;
            return
        target = " ".join(self.t(typ).split())
        if typ.type in _CLASS_TYPES:
            self.klass(typ, prefix, typ.type)
            tag = typ.child_by_field_name("name")
            target = self.t(tag) if tag is not None else "anonymous " + _CLASS_TYPES[typ.type]
        name = self.t(name_node)
        self.defs.append([name, _join(prefix, name), "alias", name_node.start_point[0] + 1, node.end_point[0] + 1,
                          _one_line(f"using {name} = {target}"), (), name_node.start_byte, prefix, name])

    def enum(self, node, prefix: str) -> None:
        body = node.child_by_field_name("body")
        name_node = node.child_by_field_name("name")
        if body is None or name_node is None:
            return
        name = _norm_name(self.t(name_node))
        sig = _one_line(self.src[node.start_byte:body.start_byte].decode("utf-8", "replace"))
        self.defs.append([name.rsplit("::", 1)[-1], _join(prefix, name), "enum", name_node.start_point[0] + 1,
                          node.end_point[0] + 1, sig, (), name_node.start_byte, prefix, name])

    def declaration(self, node, prefix: str, in_class: bool) -> None:
        typ = node.child_by_field_name("type")
        if typ is not None:
            tt = typ.type
            if tt in _CLASS_TYPES:
                self.klass(typ, prefix, tt)
            elif tt == "enum_specifier":
                self.enum(typ, prefix)
        if not in_class:
            return  # namespace-scope prototypes and variables are not definitions
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in _DECL_WRAPPERS:
            decl = decl.child_by_field_name("declarator") or (decl.named_children or [None])[-1]
        if decl is None:
            return
        if decl.type == "field_identifier":
            if typ is not None and node.type == "field_declaration":
                self.fields(node, prefix)
            return
        if decl.type == "function_declarator":
            inner = decl.child_by_field_name("declarator")
            if inner is None or inner.type not in _SIMPLE_NAMES:
                return
            name_node = inner
            if inner.type == "identifier" and self.t(inner) == "TORCH_ARG":
                self.torch_arg(node, decl, prefix)
                return
        elif decl.type == "operator_cast":
            name_node = decl
        else:
            return  # a data member
        name = _norm_name(self.t(name_node))
        if decl.type == "operator_cast":
            name = name.split("(", 1)[0].strip()
        self.defs.append([name, _join(prefix, name), "method", name_node.start_point[0] + 1,
                          node.end_point[0] + 1, _one_line(self.t(node)), (), name_node.start_byte, prefix, name])

    def torch_arg(self, node, decl, prefix: str) -> None:
        """`TORCH_ARG(double, lr) = 1e-2;` in an options class (torch/arg.h) writes the accessors
        `lr()` / `lr(new_lr)` and the data member `lr_`: a method `lr` (signature `const double& lr()
        const`, so that its return type types `options.lr().foo()`) and a variable `lr_`."""
        params = decl.child_by_field_name("parameters")
        text = " ".join(self.t(params)[1:-1].split()) if params is not None else ""
        typ, _, name = text.rpartition(",")
        typ, name = typ.strip(), name.strip()
        if not typ or not name.isidentifier():
            return
        line, end = decl.start_point[0] + 1, node.end_point[0] + 1
        self.defs.append([name, _join(prefix, name), "method", line, end, _one_line(f"const {typ}& {name}() const", 200),
                          (), decl.start_byte, prefix, name])
        self.defs.append([name + "_", _join(prefix, name + "_"), "variable", line, end, _one_line(f"{typ} {name}_", 200),
                          (), decl.start_byte, prefix, name + "_"])

    def fields(self, node, prefix: str) -> None:
        """The data members of one `field_declaration` (`c10::intrusive_ptr<Store> store_;`, `Node *a,
        *b;`): kind "variable", signature = the type and declarator up to the name (`std::shared_ptr<Node>
        function`, `Node* fn_`: no initializer), so that the link step can type `store_->set(..)` and
        `next.function->name()` in the class's methods."""
        src = self.src
        start = node.start_byte
        typ = node.child_by_field_name("type")
        head = src[start : typ.end_byte].decode("utf-8", "replace")
        if "#" in head or "/" in head:
            head = _code_only(head)
        for decl in node.children_by_field_name("declarator"):
            name_node = decl
            while name_node is not None and name_node.type in _DECL_WRAPPERS:
                name_node = name_node.child_by_field_name("declarator") or (name_node.named_children or [None])[-1]
            if name_node is None or name_node.type != "field_identifier":
                continue
            name = src[name_node.start_byte : name_node.end_byte].decode("utf-8", "replace")
            marks = src[decl.start_byte : name_node.start_byte].decode("utf-8", "replace")
            self.defs.append([name, _join(prefix, name), "variable", name_node.start_point[0] + 1,
                              node.end_point[0] + 1, _one_line(f"{head} {marks.strip()}{name}", 200), (),
                              name_node.start_byte, prefix, name])

    def function(self, node, prefix: str, in_class: bool) -> None:
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in _DECL_WRAPPERS:
            decl = decl.child_by_field_name("declarator") or (decl.named_children or [None])[-1]
        if decl is None:
            return
        fstart = node.start_byte
        fend = node.end_byte
        sig_end = decl.end_byte
        kind = "method" if in_class else "function"
        if decl.type == "operator_cast":
            name_node = decl
            full = self.t(decl).split("(", 1)[0].strip()
        elif decl.type == "function_declarator":
            name_node = decl.child_by_field_name("declarator")
            if name_node is None:
                return
            nt = name_node.type
            if nt == "function_declarator":  # MACRO(args)(params) { ... }
                mac = name_node.child_by_field_name("declarator")
                macro = self.t(mac) if mac is not None else ""
                params = name_node.child_by_field_name("parameters")
                args = _split_args(self.t(params)[1:-1]) if params is not None else []
                args = [" ".join(a.split()) for a in args]
                if macro in _STRUCTURED_MACROS:
                    _, struct, meth = _structured_target(macro, args, prefix)
                    written = struct + "::" + meth
                    qual = _join(prefix, written)
                    self.fdef.append(len(self.defs))
                    self.defs.append([meth, qual, "method", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                      _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                      name_node.start_byte, prefix, written])
                    self.funcs.append((fstart, fend, qual))
                    return
                if not _macro_block_args_ok(args):
                    return
                full = f"{macro}({', '.join(args)})"
                name = full
                qual = _join(prefix, full)
                self.fdef.append(len(self.defs))
                self.defs.append([name, qual, "function", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                  _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                  name_node.start_byte, prefix, full])
                self.funcs.append((fstart, fend, qual))
                return
            full = self.t(name_node)
            if in_class and nt == "identifier" and full == "TORCH_ARG":  # `TORCH_ARG(int64_t, step) = 0;`
                self.torch_arg(node, decl, prefix)
                return
            if nt == "identifier" and node.child_by_field_name("type") is None and not in_class:
                stripped = full.strip()
                if stripped.isupper():
                    if stripped in _LIBRARY_MACROS:
                        return  # TORCH_LIBRARY* blocks: registrations, not definitions
                    params = decl.child_by_field_name("parameters")
                    args = _split_args(self.t(params)[1:-1]) if params is not None else []
                    args = [" ".join(a.split()) for a in args]
                    if not _macro_block_args_ok(args):
                        return  # most likely a misparse, not `TEST(Suite, Name) { ... }`
                    full = f"{stripped}({', '.join(args)})"
                    qual = _join(prefix, full)
                    self.fdef.append(len(self.defs))
                    self.defs.append([full, qual, "function", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                      _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                      name_node.start_byte, prefix, full])
                    self.funcs.append((fstart, fend, qual))
                    return
        else:
            return
        has_tpl = "<" in full and "operator" not in full
        full = _norm_name(full)
        if "::" in full and not full.startswith("operator"):
            qualifier, name = full.rsplit("::", 1)
        else:
            qualifier, name = "", full
        if not in_class and qualifier:
            q_last = qualifier.rsplit("::", 1)[-1]
            if has_tpl or q_last[:1].isupper() or q_last == name or name.startswith("~") \
                    or q_last.startswith("structured_"):
                kind = "method"
            else:
                self.pending.append((len(self.defs), q_last))
        qual = _join(prefix, full)
        self.fdef.append(len(self.defs))
        self.defs.append([name, qual, kind, name_node.start_point[0] + 1, node.end_point[0] + 1,
                          _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                          name_node.start_byte, prefix, full])
        self.funcs.append((fstart, fend, qual))
