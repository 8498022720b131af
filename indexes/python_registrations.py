"""Python Meta kernels that `import torch` registers: torch/_meta_registrations.py's activate_meta().

At import, activate_meta() merges torch._decomp.global_decomposition_table's three tables (meta >
post_autograd > pre_autograd, first wins) and registers each op's function as its Meta kernel
through one `torch.library.Library("aten", "IMPL", "Meta")`, skipping ops that have a
CompositeImplicitAutograd kernel, view ops, and a named set. The dispatcher then says the Meta
kernel was "registered at torch/_meta_registrations.py:LINE", LINE being where that Library was
constructed (torch.library.Library records its caller's line).

The tables are filled as modules run: `@register_meta(op)`, `@register_decomposition(op, ...)`,
factories that call them (`_make_elementwise_unary_reference(...)`, `_make_inplace(fn)`, ...), with
ops spelled `aten.add.Tensor`, `aten.add` (every overload the dispatcher has), lists/tuples of
those, `getattr(aten, f"{name}_")`, or `utils.get_aten_op(fn, name)`. Static reading needs a small
abstract interpreter, and that is what this module is: it runs the module-level code of the
modules that mention a registration decorator, following their imports as Python would (cycles
see partial modules, as they do at runtime), over a value domain of operators, functions (with
`__name__`/`__module__`/`__wrapped__`, so `functools.wraps` and `fn.__name__ = ...` work),
constants, lists/tuples/dicts, sentinels (`infer_aten_op = object()`), and UNKNOWN for everything
else. Calls to functions defined in those modules are interpreted; calls to anything else yield
UNKNOWN, except that an unknown callable given a single function returns it (decorators such as
`out_wrapper()` wrap and keep the name). A condition that cannot be evaluated runs both branches
and is reported if an aten registration came out of it.

torch is never imported here; only `ast`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .gc_pause import paused_gc
from .model import Location, OperatorSchema, Problem, Registration

META_FILE = "torch/_meta_registrations.py"
ENTRY_MODULE = "torch._meta_registrations"
# Files a torch tree with Python meta registrations is expected to have; a missing one is reported.
EXPECTED = ("torch/_meta_registrations.py", "torch/_decomp/__init__.py",
            "torch/_decomp/decompositions.py", "torch/_refs/__init__.py")
# A module is interpreted only if it mentions one of these, or lies in one of the packages that
# register through factories (torch._refs.special has none of the names); the rest are opaque stubs.
_MARKER = re.compile(r"\bregister_(?:decomposition|meta)\b")
_READ_PACKAGES = ("torch._decomp", "torch._refs")


def _mentions_registration(text: str) -> bool:
    # substring tests first: they are ~100x faster than the regex on files that do not qualify
    return ("register_decomposition" in text or "register_meta" in text) and _MARKER.search(text) is not None


_DEFAULT_ORDER = ("meta", "post_autograd", "pre_autograd")
_TABLE_TYPES = frozenset(_DEFAULT_ORDER)
# Limits on interpretation: call depth, statements per top-level statement.
_MAX_DEPTH = 16
_MAX_STEPS = 20000


# ----------------------------------------------------------------------------- values

class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class _Sentinel:
    """An `object()`: compared by identity only."""

    __slots__ = ("where",)

    def __init__(self, where: str):
        self.where = where


@dataclass(eq=False)
class _Stub:
    """A module or attribute we do not interpret (torch, torch._prims_common.out_wrapper, ...)."""

    qualname: str


@dataclass(eq=False)
class _Module:
    name: str
    path: str  # relative to root
    env: dict = field(default_factory=dict)


@dataclass(eq=False)
class _OpsRoot:  # torch.ops
    pass


@dataclass(frozen=True)
class _OpsNS:  # torch.ops.aten
    ns: str


@dataclass(frozen=True)
class _Op:
    """An OpOverloadPacket (overload None) or an OpOverload ("" for .default)."""

    ns: str
    name: str
    overload: str | None = None

    @property
    def dunder_name(self) -> str:
        if self.overload is None:
            return self.name
        return f"{self.name}.{self.overload or 'default'}"

    def __str__(self) -> str:
        return f"{self.ns}.{self.dunder_name}"


# Attributes of OpOverloadPacket / OpOverload that are methods or properties, not overload names.
_OP_MEMBERS = frozenset({
    "py_impl", "overloads", "op_overloads", "name", "_schema", "_overloadpacket", "overloadpacket",
    "decompose", "_op", "tags", "is_view", "has_kernel_for_dispatch_key", "redispatch",
    "has_kernel_for_any_dispatch_key", "namespace", "op", "_qualified_op_name", "py_kernels",
})


_NS_MEMBERS = frozenset({"__name__", "__module__", "__file__", "__dict__", "__class__", "__doc__", "name"})


@dataclass(eq=False)
class _Func:
    """A function defined in interpreted code, as a value: its def, its closure, its attributes."""

    node: ast.AST  # FunctionDef | AsyncFunctionDef | Lambda
    module: _Module
    scope: "_Scope"
    qualname: str  # at definition: outer.<locals>.name
    defaults: list
    kw_defaults: list
    attrs: dict = field(default_factory=dict)

    @property
    def first_line(self) -> int:
        """The line Python calls the function's first (co_firstlineno): its first decorator's."""
        decs = getattr(self.node, "decorator_list", None)
        return min([d.lineno for d in decs] + [self.node.lineno]) if decs else self.node.lineno

    @property
    def where(self) -> str:
        return f"{self.module.path}:{self.first_line}"

    @property
    def full_name(self) -> str:
        return f"{self.module.name}.{self.qualname}"


@dataclass(eq=False)
class _Builtin:
    kind: str


@dataclass(eq=False)
class _Partial:
    func: object
    args: tuple
    kwargs: dict


@dataclass(frozen=True)
class _TableRef:
    """global_decomposition_table (typ None) or one of its tables."""

    typ: str | None


@dataclass(eq=False)
class _Site:
    """Where a registering decorator was made, and the module-level call that led there."""

    path: str
    line: int
    text: str  # "register_meta(aten.mm)"
    via: tuple[str, ...]  # ("_make_inplace(abs) at torch/_refs/__init__.py:6680", ...)
    conds: tuple[tuple[str, int], ...]  # unevaluated conditions around it


@dataclass(eq=False)
class _RegDecorator:
    targets: object
    table: str | None  # None: registry= routed elsewhere
    site: _Site


@dataclass(eq=False)
class _Wraps:
    wrapped: object


@dataclass
class _Entry:
    op: _Op
    fn: object
    site: _Site
    table: str


BUILTINS: dict[str, _Builtin | _TableRef | _OpsRoot] = {
    "torch._decomp.register_decomposition": _Builtin("register_decomposition"),
    "torch._meta_registrations.register_meta": _Builtin("register_meta"),
    "torch._prims_common.get_aten_op": _Builtin("get_aten_op"),
    "torch._decomp.global_decomposition_table": _TableRef(None),
    "torch._decomp.decomposition_table": _TableRef("post_autograd"),
    "torch._decomp.pre_autograd_decomposition_table": _TableRef("pre_autograd"),
    "torch._decomp.meta_table": _TableRef("meta"),
    "functools.wraps": _Builtin("wraps"),
    "functools.partial": _Builtin("partial"),
    "torch.ops": _OpsRoot(),
    "torch._ops.ops": _OpsRoot(),
}
_PY_BUILTINS = {"getattr": _Builtin("getattr"), "setattr": _Builtin("setattr"),
                "object": _Builtin("object"), "hasattr": _Builtin("hasattr"),
                "None": None, "True": True, "False": False}


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Raise(Exception):
    pass


class _OutOfBudget(Exception):
    pass


class _Scope:
    __slots__ = ("vars", "parent", "module", "nonlocals", "globals_", "prefix")

    def __init__(self, module: _Module, parent: "_Scope | None" = None, prefix: str | None = None):
        self.module = module
        self.parent = parent
        # qualname prefix of functions defined here: "" at module level, "outer.<locals>." inside
        self.prefix = prefix if prefix is not None else (parent.prefix if parent is not None else "")
        self.vars = module.env if parent is None else {}
        self.nonlocals: set[str] = set()
        self.globals_: set[str] = set()

    def lookup(self, name: str):
        s = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        return _PY_BUILTINS.get(name, UNKNOWN)

    def assign(self, name: str, value) -> None:
        if name in self.globals_:
            self.module.env[name] = value
            return
        if name in self.nonlocals:
            s = self.parent
            while s is not None and s.parent is not None:
                if name in s.vars:
                    s.vars[name] = value
                    return
                s = s.parent
        self.vars[name] = value


# ----------------------------------------------------------------------------- interpreter

class _Interpreter:
    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[str, _Module] = {}
        self.entries: list[_Entry] = []
        self.problems: list[Problem] = []
        self.trees: dict[str, ast.Module] = {}
        self.via: list[str] = []  # module-level call chain
        self.conds: list[tuple[str, int]] = []  # unevaluated conditions we are inside
        self.depth = 0
        self.steps = 0

    # -- problems
    def problem(self, path: str, line: int, entry: str, message: str, severity: str = "warning") -> None:
        self.problems.append(Problem(Location(path, line), entry, message, severity))

    # -- modules
    def module_path(self, name: str) -> str | None:
        rel = name.replace(".", "/")
        for cand in (f"{rel}/__init__.py", f"{rel}.py"):
            if (self.root / cand).is_file():
                return cand
        return None

    def import_module(self, name: str):
        """Run a module as `import name` would (once), or return a stub for one we do not read."""
        if name in self.modules:
            return self.modules[name]
        if not name.startswith("torch.") and name != "torch":
            return _Stub(name)
        if "." in name:  # Python runs the parent packages first
            self.import_module(name.rpartition(".")[0])
            if name in self.modules:
                return self.modules[name]
        path = self.module_path(name) if name != "torch" else None
        if path is None:
            return _Stub(name)
        try:
            text = (self.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return _Stub(name)
        if not (name == ENTRY_MODULE or name.startswith(_READ_PACKAGES) or _mentions_registration(text)):
            return _Stub(name)
        mod = _Module(name, path)
        self.modules[name] = mod
        mod.env["__name__"] = name
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as e:
            self.problem(path, e.lineno or 0, name, f"cannot parse: {e.msg}", "error")
            return mod
        self.trees[name] = tree
        self.run_module(mod, tree)
        return mod

    def run_module(self, mod: _Module, tree: ast.Module) -> None:
        scope = _Scope(mod)
        saved = (self.via, self.conds, self.depth)
        self.via, self.conds, self.depth = [], [], 0
        for stmt in tree.body:
            self.steps = 0
            try:
                self.exec_stmt(stmt, scope)
            except _OutOfBudget:
                self.problem(mod.path, stmt.lineno, "", "statement too costly to interpret; skipped")
            except (_Return, _Raise):
                pass
            except RecursionError:
                self.problem(mod.path, stmt.lineno, "", "recursion too deep to interpret; skipped")
            except Exception as e:  # a construct this interpreter mishandles: report, go on
                self.problem(mod.path, stmt.lineno, "", f"could not interpret ({type(e).__name__}: {e})",
                             "error")
        self.via, self.conds, self.depth = saved

    # -- statements
    def exec_body(self, body: list, scope: _Scope) -> None:
        for stmt in body:
            self.exec_stmt(stmt, scope)

    def exec_stmt(self, stmt: ast.stmt, scope: _Scope) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _OutOfBudget()
        t = type(stmt)
        if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            self.bind(scope, stmt.name, self.define(stmt, scope))
        elif t is ast.Assign:
            value = self.eval(stmt.value, scope)
            for target in stmt.targets:
                self.assign(target, value, scope)
        elif t is ast.AnnAssign:
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, scope), scope)
        elif t is ast.AugAssign:
            if isinstance(stmt.target, ast.Name):
                old = scope.lookup(stmt.target.id)
                self.assign(stmt.target, self.binop(stmt.op, old, self.eval(stmt.value, scope)), scope)
        elif t is ast.Expr:
            self.eval(stmt.value, scope)
        elif t is ast.Return:
            raise _Return(self.eval(stmt.value, scope) if stmt.value is not None else None)
        elif t is ast.If:
            test = self.truth(self.eval(stmt.test, scope))
            if test is True:
                self.exec_body(stmt.body, scope)
            elif test is False:
                self.exec_body(stmt.orelse, scope)
            else:
                self.conds.append((scope.module.path, stmt.lineno))
                try:
                    for body in (stmt.body, stmt.orelse):
                        try:
                            self.exec_body(body, scope)
                        except _Raise:
                            pass
                finally:
                    self.conds.pop()
        elif t is ast.For:
            it = self.eval(stmt.iter, scope)
            if isinstance(it, (list, tuple)):
                for item in it:
                    self.assign(stmt.target, item, scope)
                    self.exec_body(stmt.body, scope)
                self.exec_body(stmt.orelse, scope)
            elif it is UNKNOWN and _MARKER.search(ast.dump(stmt)) is not None:
                self.problem(scope.module.path, stmt.lineno, "",
                             "loop over an unevaluated iterable registers ops; skipped")
        elif t is ast.Try or t is getattr(ast, "TryStar", None):
            self.exec_body(stmt.body, scope)
            self.exec_body(stmt.orelse, scope)
            self.exec_body(stmt.finalbody, scope)
        elif t is ast.With or t is ast.AsyncWith:
            self.exec_body(stmt.body, scope)
        elif t is ast.Import:
            for alias in stmt.names:
                mod = self.import_module(alias.name)
                if alias.asname:
                    self.bind(scope, alias.asname, mod)
                else:
                    top = alias.name.split(".")[0]
                    self.bind(scope, top, self.import_module(top) if top != alias.name else mod)
        elif t is ast.ImportFrom:
            self.exec_import_from(stmt, scope)
        elif t is ast.ClassDef:
            self.bind(scope, stmt.name, UNKNOWN)
        elif t is ast.Global:
            scope.globals_.update(stmt.names)
        elif t is ast.Nonlocal:
            scope.nonlocals.update(stmt.names)
        elif t is ast.Raise:
            raise _Raise()
        elif t is ast.Delete:
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    scope.vars.pop(target.id, None)
        # While, Match, Assert, Pass, Break, Continue: nothing a registration hides behind

    def exec_import_from(self, stmt: ast.ImportFrom, scope: _Scope) -> None:
        base = stmt.module or ""
        if stmt.level:
            pkg = scope.module.name.split(".")
            if not scope.module.path.endswith("__init__.py"):
                pkg = pkg[:-1]
            pkg = pkg[: len(pkg) - (stmt.level - 1)]
            base = ".".join(pkg + ([base] if base else []))
        mod = self.import_module(base)
        for alias in stmt.names:
            if alias.name == "*":
                if isinstance(mod, _Module):
                    for k, v in list(mod.env.items()):
                        if not k.startswith("_"):
                            self.bind(scope, k, v)
                continue
            self.bind(scope, alias.asname or alias.name, self.member(mod, alias.name, importing=True))

    def member(self, mod, name: str, importing: bool = False):
        """`from mod import name`: an attribute, else a submodule (run on demand, as Python does)."""
        if isinstance(mod, _Module) and name in mod.env:
            return mod.env[name]
        qual = f"{mod.name if isinstance(mod, _Module) else mod.qualname}.{name}"
        if qual in BUILTINS:
            return BUILTINS[qual]
        if importing and (qual in self.modules or self.module_path(qual) is not None):
            return self.import_module(qual)
        return _Stub(qual)

    def bind(self, scope: _Scope, name: str, value) -> None:
        if scope.parent is None:
            override = BUILTINS.get(f"{scope.module.name}.{name}")
            if override is not None:
                value = override
        scope.assign(name, value)

    def assign(self, target: ast.expr, value, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            self.bind(scope, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (list, tuple)) and len(value) == len(target.elts) and not any(
                    isinstance(e, ast.Starred) for e in target.elts):
                for e, v in zip(target.elts, value):
                    self.assign(e, v, scope)
            else:
                for e in target.elts:
                    self.assign(e.value if isinstance(e, ast.Starred) else e, UNKNOWN, scope)
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, scope)
            if isinstance(obj, _Func):
                obj.attrs[target.attr] = value
            elif isinstance(obj, _Module):
                obj.env[target.attr] = value
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, scope)
            if isinstance(obj, _TableRef) and obj.typ is not None:
                key = self.eval(target.slice, scope)
                site = self.site(scope, target.lineno, ast.unparse(target))
                self.register(key, value, obj.typ, site)
            elif isinstance(obj, dict):
                key = self.eval(target.slice, scope)
                try:
                    obj[key] = value
                except TypeError:
                    pass

    # -- functions
    def define(self, node, scope: _Scope) -> _Func:
        dec_nodes = getattr(node, "decorator_list", ())
        decorators = [self.eval(d, scope) for d in dec_nodes]
        args = node.args
        defaults = [self.eval(d, scope) for d in args.defaults]
        kw_defaults = [self.eval(d, scope) if d is not None else _NO_DEFAULT for d in args.kw_defaults]
        name = getattr(node, "name", "<lambda>")
        qual = f"{scope.prefix}{name}"
        fn = _Func(node, scope.module, scope, qual, defaults, kw_defaults)
        fn.attrs.update(__name__=name, __qualname__=qual, __module__=scope.module.name)
        for dec in decorators:
            if isinstance(dec, _RegDecorator) and not dec.site.text.startswith("@"):
                dec.site.text = "@" + dec.site.text
        value: object = fn
        for dec, dec_node in zip(reversed(decorators), reversed(dec_nodes)):
            label = None
            if isinstance(dec, _Func) and not self.via:  # a decorator factory applied at module level
                label = _short("@" + ast.unparse(dec_node))
            value = self.call(dec, [value], {}, scope, dec_node.lineno, label=label)
        return value

    def call_func(self, fn: _Func, args: list, kwargs: dict, line: int, caller: _Scope,
                  node: ast.Call | None = None, label: str | None = None):
        if self.depth >= _MAX_DEPTH:
            self.problem(caller.module.path, line, fn.full_name, f"calls nested deeper than {_MAX_DEPTH}; "
                                                                  "result not evaluated")
            return UNKNOWN
        fdef = fn.node
        scope = _Scope(fn.module, fn.scope, prefix=f"{fn.qualname}.<locals>.")
        a = fdef.args
        positional = list(a.posonlyargs) + list(a.args)
        n_def = len(a.defaults)
        for i, p in enumerate(positional):
            if i < len(args):
                scope.vars[p.arg] = args[i]
            elif p.arg in kwargs:
                scope.vars[p.arg] = kwargs.pop(p.arg)
            elif i >= len(positional) - n_def:
                scope.vars[p.arg] = fn.defaults[i - (len(positional) - n_def)]
            else:
                scope.vars[p.arg] = UNKNOWN
        if a.vararg is not None:
            scope.vars[a.vararg.arg] = tuple(args[len(positional):])
        for p, d in zip(a.kwonlyargs, fn.kw_defaults):
            scope.vars[p.arg] = kwargs.pop(p.arg) if p.arg in kwargs else (UNKNOWN if d is _NO_DEFAULT else d)
        if a.kwarg is not None:
            scope.vars[a.kwarg.arg] = dict(kwargs)
        if label is not None:
            text = label
        elif node is not None and not self.via:  # module level: say how it was called
            text = _short(ast.unparse(node))
        else:
            text = f"{fn.attrs.get('__name__', fn.qualname)}()"
        self.via.append(f"{text} at {caller.module.path}:{line}")
        self.depth += 1
        try:
            if isinstance(fdef, ast.Lambda):
                return self.eval(fdef.body, scope)
            self.exec_body(fdef.body, scope)
            return None
        except _Return as r:
            return r.value
        except _Raise:
            return UNKNOWN
        finally:
            self.depth -= 1
            self.via.pop()

    def call(self, f, args: list, kwargs: dict, scope: _Scope, line: int, node: ast.Call | None = None,
             label: str | None = None):
        if isinstance(f, _Func):
            return self.call_func(f, args, kwargs, line, scope, node, label)
        if isinstance(f, _Builtin):
            return self.call_builtin(f.kind, args, kwargs, scope, line, node)
        if isinstance(f, _RegDecorator):
            if len(args) == 1 and not kwargs:
                if f.table is not None:
                    self.register(f.targets, args[0], f.table, f.site)
                return args[0]
            return UNKNOWN
        if isinstance(f, _Wraps):
            if len(args) == 1 and isinstance(args[0], _Func):
                w, fn = f.wrapped, args[0]
                for attr in ("__module__", "__name__", "__qualname__"):
                    fn.attrs[attr] = self.getattr(w, attr)
                fn.attrs["__wrapped__"] = w
            return args[0] if len(args) == 1 else UNKNOWN
        if isinstance(f, _Partial):
            return self.call(f.func, list(f.args) + args, {**f.kwargs, **kwargs}, scope, line, node)
        # Anything else is opaque. A decorator-shaped call (one function in) keeps the function.
        if len(args) == 1 and not kwargs and isinstance(args[0], (_Func, _Op, _Partial)):
            return args[0]
        return UNKNOWN

    def call_builtin(self, kind: str, args: list, kwargs: dict, scope: _Scope, line: int, node):
        if kind in ("register_decomposition", "register_meta"):
            text = ast.unparse(node) if node is not None else kind
        if kind == "register_decomposition":
            if not args and "aten_op" not in kwargs:
                return UNKNOWN
            targets = args[0] if args else kwargs["aten_op"]
            registry = args[1] if len(args) > 1 else kwargs.get("registry")
            typ = kwargs.get("type", "post_autograd")
            site = self.site(scope, line, text)
            if registry is not None:
                if isinstance(registry, _TableRef) and registry.typ is not None:
                    return _RegDecorator(targets, registry.typ, site)
                return _RegDecorator(targets, None, site)  # registry=...: routed elsewhere
            if typ not in _TABLE_TYPES:
                self.problem(scope.module.path, line, "", f"could not evaluate type= of {text[:80]}")
                return _RegDecorator(targets, None, site)
            return _RegDecorator(targets, typ, site)
        if kind == "register_meta":
            if len(args) != 1:
                return UNKNOWN
            return _RegDecorator(args[0], "meta", self.site(scope, line, text))
        if kind == "wraps":
            return _Wraps(args[0]) if args else UNKNOWN
        if kind == "partial":
            return _Partial(args[0], tuple(args[1:]), dict(kwargs)) if args else UNKNOWN
        if kind == "getattr":
            if len(args) >= 2 and isinstance(args[1], str):
                v = self.getattr(args[0], args[1])
                return args[2] if v is UNKNOWN and len(args) > 2 else v
            return UNKNOWN
        if kind == "hasattr":
            return UNKNOWN
        if kind == "setattr":
            if len(args) == 3 and isinstance(args[1], str) and isinstance(args[0], _Func):
                args[0].attrs[args[1]] = args[2]
            return None
        if kind == "object":
            return _Sentinel(f"{scope.module.path}:{line}")
        if kind == "get_aten_op":
            if len(args) != 2 or not isinstance(args[1], str):
                return UNKNOWN
            module = self.getattr(args[0], "__module__")
            if not isinstance(module, str) or not module.startswith("torch._refs"):
                return UNKNOWN
            module = module[len("torch._refs"):]
            if module:
                module = module[1:].replace(".", "_") + "_"
            return _Op("aten", f"{module}{args[1]}")
        return UNKNOWN

    def site(self, scope: _Scope, line: int, text: str) -> _Site:
        return _Site(scope.module.path, line, text, tuple(self.via), tuple(self.conds))

    def register(self, targets, fn, table: str, site: _Site) -> None:
        for leaf in _leaves(targets):
            if isinstance(leaf, _Op):
                self.entries.append(_Entry(leaf, fn, site, table))
            elif isinstance(leaf, _Stub) and leaf.qualname.startswith("torch._higher_order_ops."):
                continue  # a decomposition of a higher-order operator (out_dtype, ...): not an aten op
            elif isinstance(leaf, _Stub):
                self.problem(site.path, site.line, "", f"{_short(site.text)}: the op is {leaf.qualname}, "
                                                       "defined outside the modules read; skipped")
            else:
                self.problem(site.path, site.line, "", f"could not evaluate the op of {_short(site.text)}")

    # -- expressions
    def eval(self, node: ast.expr, scope: _Scope):
        t = type(node)
        if t is ast.Name:
            return scope.lookup(node.id)
        if t is ast.Constant:
            return node.value
        if t is ast.Attribute:
            return self.getattr(self.eval(node.value, scope), node.attr)
        if t is ast.Call:
            f = self.eval(node.func, scope)
            args: list = []
            for a in node.args:
                if isinstance(a, ast.Starred):
                    v = self.eval(a.value, scope)
                    if isinstance(v, (list, tuple)):
                        args.extend(v)
                    else:
                        args.append(UNKNOWN)
                else:
                    args.append(self.eval(a, scope))
            kwargs: dict = {}
            for k in node.keywords:
                v = self.eval(k.value, scope)
                if k.arg is None:
                    if isinstance(v, dict):
                        kwargs.update((kk, vv) for kk, vv in v.items() if isinstance(kk, str))
                else:
                    kwargs[k.arg] = v
            return self.call(f, args, kwargs, scope, node.lineno, node)
        if t is ast.List or t is ast.Tuple:
            out: list = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    v = self.eval(e.value, scope)
                    if not isinstance(v, (list, tuple)):
                        return UNKNOWN
                    out.extend(v)
                else:
                    out.append(self.eval(e, scope))
            return out if t is ast.List else tuple(out)
        if t is ast.Dict:
            d: dict = {}
            for k, v in zip(node.keys, node.values):
                if k is None:
                    return UNKNOWN
                key = self.eval(k, scope)
                try:
                    d[key] = self.eval(v, scope)
                except TypeError:
                    return UNKNOWN
            return d
        if t is ast.JoinedStr:
            parts = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                else:
                    x = self.eval(v.value, scope)
                    if v.conversion not in (-1, 115) or v.format_spec is not None or not isinstance(x, (str, int)):
                        return UNKNOWN
                    parts.append(str(x))
            return "".join(parts)
        if t is ast.BinOp:
            return self.binop(node.op, self.eval(node.left, scope), self.eval(node.right, scope))
        if t is ast.Compare:
            return self.compare(node, scope)
        if t is ast.BoolOp:
            return self.boolop(node, scope)
        if t is ast.UnaryOp:
            v = self.eval(node.operand, scope)
            if isinstance(node.op, ast.Not):
                b = self.truth(v)
                return UNKNOWN if b is None else not b
            return UNKNOWN
        if t is ast.IfExp:
            b = self.truth(self.eval(node.test, scope))
            if b is None:
                return UNKNOWN
            return self.eval(node.body if b else node.orelse, scope)
        if t is ast.Subscript:
            obj = self.eval(node.value, scope)
            if isinstance(obj, _TableRef) and obj.typ is None:
                key = self.eval(node.slice, scope)
                return _TableRef(key) if key in _TABLE_TYPES else UNKNOWN
            if isinstance(obj, (list, tuple, dict, str)) and not isinstance(node.slice, ast.Slice):
                key = self.eval(node.slice, scope)
                try:
                    return obj[key]
                except (KeyError, IndexError, TypeError):
                    return UNKNOWN
            return UNKNOWN
        if t is ast.Lambda:
            return self.define(node, scope)
        if t is ast.ListComp or t is ast.GeneratorExp:
            return self.comprehension(node, scope)
        return UNKNOWN

    def comprehension(self, node, scope: _Scope):
        if len(node.generators) != 1:
            return UNKNOWN
        gen = node.generators[0]
        it = self.eval(gen.iter, scope)
        if not isinstance(it, (list, tuple)):
            return UNKNOWN
        inner = _Scope(scope.module, scope)
        out = []
        for item in it:
            self.assign(gen.target, item, inner)
            keep = True
            for cond in gen.ifs:
                b = self.truth(self.eval(cond, inner))
                if b is None:
                    return UNKNOWN
                keep = keep and b
            if keep:
                out.append(self.eval(node.elt, inner))
        return out

    def binop(self, op, left, right):
        if isinstance(op, ast.Add):
            if (isinstance(left, str) and isinstance(right, str)) or (
                    isinstance(left, list) and isinstance(right, list)) or (
                    isinstance(left, tuple) and isinstance(right, tuple)):
                return left + right
        if isinstance(op, ast.Mod) and isinstance(left, str) and isinstance(right, (str, tuple)):
            try:
                return left % right
            except (TypeError, ValueError):
                return UNKNOWN
        return UNKNOWN

    def compare(self, node: ast.Compare, scope: _Scope):
        left = self.eval(node.left, scope)
        result = True
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, scope)
            if isinstance(op, (ast.Is, ast.IsNot)):
                if left is UNKNOWN or right is UNKNOWN or isinstance(left, _Stub) or isinstance(right, _Stub):
                    return UNKNOWN
                r = left is right if not isinstance(left, (_Op, _OpsNS)) else left == right
                r = r if isinstance(op, ast.Is) else not r
            elif isinstance(op, (ast.Eq, ast.NotEq)):
                if not (_plain(left) and _plain(right)):
                    return UNKNOWN
                r = (left == right) == isinstance(op, ast.Eq)
            elif isinstance(op, (ast.In, ast.NotIn)):
                if not (_plain(left) and isinstance(right, (str, list, tuple, dict)) and all(
                        _plain(x) for x in right)):
                    return UNKNOWN
                try:
                    r = (left in right) == isinstance(op, ast.In)
                except TypeError:
                    return UNKNOWN
            else:
                return UNKNOWN
            result = result and r
            left = right
        return result

    def boolop(self, node: ast.BoolOp, scope: _Scope):
        is_and = isinstance(node.op, ast.And)
        value = None
        for v in node.values:
            value = self.eval(v, scope)
            b = self.truth(value)
            if b is None:
                return UNKNOWN
            if b != is_and:
                return value
        return value

    @staticmethod
    def truth(v) -> bool | None:
        if v is None or isinstance(v, (bool, int, float, str, list, tuple, dict)):
            return bool(v)
        if isinstance(v, (_Func, _Op, _Sentinel, _Module, _Builtin)):
            return True
        return None

    def getattr(self, obj, attr: str):
        if isinstance(obj, _Module):
            if attr in obj.env:
                return obj.env[attr]
            sub = f"{obj.name}.{attr}"
            if sub in BUILTINS:
                return BUILTINS[sub]
            if sub in self.modules:
                return self.modules[sub]
            return _Stub(sub)
        if isinstance(obj, _Stub):
            sub = f"{obj.qualname}.{attr}"
            if sub in BUILTINS:
                return BUILTINS[sub]
            if sub in self.modules:
                return self.modules[sub]
            return _Stub(sub)
        if isinstance(obj, _OpsRoot):
            return _OpsNS(attr)
        if isinstance(obj, _OpsNS):
            return UNKNOWN if attr in _NS_MEMBERS else _Op(obj.ns, attr)
        if isinstance(obj, _Op):
            if attr == "__name__":
                return obj.dunder_name
            if attr == "__module__":
                return f"torch._ops.{obj.ns}"
            if obj.overload is None:
                if attr == "default":
                    return _Op(obj.ns, obj.name, "")
                if attr.startswith("__") or attr in _OP_MEMBERS:
                    return UNKNOWN
                return _Op(obj.ns, obj.name, attr)
            if attr == "overloadpacket":
                return _Op(obj.ns, obj.name)
            return UNKNOWN
        if isinstance(obj, _Func):
            if attr in obj.attrs:
                return obj.attrs[attr]
            return UNKNOWN
        return UNKNOWN


class _NoDefault:
    pass


_NO_DEFAULT = _NoDefault()


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _leaves(value):
    """The leaves of a pytree of ops, as torch.utils._pytree.tree_map_ visits them."""
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


# ----------------------------------------------------------------------------- activate_meta

@dataclass
class _Activation:
    order: tuple[str, ...] = _DEFAULT_ORDER
    skip: frozenset = frozenset()
    library_line: int = 0


def _library_line(call: ast.Call) -> int:
    """The line Python reports for a call: the attribute's line for `a.b(` split over lines."""
    f = call.func
    return f.end_lineno if isinstance(f, ast.Attribute) and f.end_lineno else call.lineno


def _read_activation(tree: ast.Module, problems: list[Problem]) -> _Activation:
    """Read activate_meta(): the table order, the names it skips, and the aten Library's line."""
    act = _Activation()
    libraries: dict[str, tuple[str, int]] = {}  # variable -> (namespace, line)
    func = None
    stack = list(tree.body)
    while stack:  # module-level statements, including those under if/try (not inside functions)
        node = stack.pop()
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, block, ()))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            call = node.value
            if isinstance(call.func, ast.Attribute) and call.func.attr == "Library" and len(call.args) >= 3 \
                    and all(isinstance(a, ast.Constant) for a in call.args[:3]):
                ns, kind, key = (a.value for a in call.args[:3])
                if kind == "IMPL" and key == "Meta":
                    libraries[node.targets[0].id] = (ns, _library_line(call))
        elif isinstance(node, ast.FunctionDef) and node.name == "activate_meta":
            func = node
    if func is None:
        problems.append(Problem(Location(META_FILE), "activate_meta", "no activate_meta() found", "error"))
        return act
    for node in ast.walk(func):
        if isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple)):
            names = [e.value for e in node.iter.elts if isinstance(e, ast.Constant)]
            if names and all(n in _TABLE_TYPES for n in names):
                act.order = tuple(names)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In) \
                and isinstance(node.comparators[0], ast.Set) and "name" in ast.unparse(node.left):
            act.skip = frozenset(e.value for e in node.comparators[0].elts if isinstance(e, ast.Constant))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "impl" \
                and isinstance(node.func.value, ast.Name) and libraries.get(node.func.value.id, ("",))[0] == "aten":
            act.library_line = libraries[node.func.value.id][1]
    if not act.library_line:
        aten = [line for ns, line in libraries.values() if ns == "aten"]
        if aten:
            act.library_line = aten[0]
        problems.append(Problem(Location(META_FILE, func.lineno), "activate_meta",
                                "no aten Library .impl call found in activate_meta()", "error"))
    return act


# ----------------------------------------------------------------------------- entry point

def _describe(fn) -> tuple[str, str, str]:
    """(kernel name, where it is defined, what it wraps) for a registered value.

    Follows __wrapped__ as inspect.unwrap does and names the innermost Python function, i.e. the
    decorated one. When the chain ends in an operator (a factory wrapped `aten.alias` itself), the
    function registered is named instead: the innermost one would be a generic helper.
    """
    cur, last, hops = fn, fn if isinstance(fn, _Func) else None, 0
    while isinstance(cur, _Func) and "__wrapped__" in cur.attrs and hops < 50:
        cur = cur.attrs["__wrapped__"]
        hops += 1
        if isinstance(cur, _Func):
            last = cur
    if isinstance(cur, _Op):
        if isinstance(fn, _Func):
            return fn.full_name, fn.where, f"wraps {cur}"
        return str(fn), "", ""
    if last is None:
        return "<unknown>", "", ""
    return last.full_name, last.where, ""


def _op_keys(ops: Mapping[str, OperatorSchema]) -> dict[str, list[str]]:
    packets: dict[str, list[str]] = {}
    for key in ops:
        ns, _, rest = key.partition("::")
        packets.setdefault(f"{ns}::{rest.split('.', 1)[0]}", []).append(key)
    return packets


def python_meta_registrations(root: Path, layout: str, ops: Mapping[str, OperatorSchema]
                              ) -> tuple[list[Registration], list[Problem]]:
    """The aten ops that get a Python Meta kernel from activate_meta(), read statically.

    layout: "package" (root holds torch/) or "checkout" (root is a PyTorch tree); the Python files
    lie at torch/ under root in both. Never raises: what cannot be read is returned as a Problem.
    """
    root = Path(root)
    problems: list[Problem] = []
    if layout not in ("package", "checkout"):
        return [], [Problem(Location(""), "", f"unknown layout {layout!r}", "error")]
    if not (root / META_FILE).is_file():  # older trees: no Python Meta kernels at all
        return [], [Problem(Location(META_FILE), "", "file missing: no Python Meta registrations read",
                            "warning")]
    for rel in EXPECTED:
        if not (root / rel).is_file():
            problems.append(Problem(Location(rel), "", "file missing: no Python registrations read from it",
                                    "warning"))

    interp = _Interpreter(root)
    with paused_gc():  # big ASTs make the cyclic GC rescan everything the caller holds: 2x the time
        try:
            interp.import_module(ENTRY_MODULE)
        except Exception as e:  # never raise: the interpreter has a bug or the tree a surprise
            problems.append(Problem(Location(META_FILE), "", f"interpretation stopped: {type(e).__name__}: {e}",
                                    "error"))
    problems.extend(interp.problems)
    tree = interp.trees.get(ENTRY_MODULE)
    if tree is None:
        return [], problems
    act = _read_activation(tree, problems)

    packets = _op_keys(ops)
    tables: dict[str, dict[str, _Entry]] = {typ: {} for typ in _TABLE_TYPES}
    for e in interp.entries:
        key = f"{e.op.ns}::{e.op.name}"
        if e.op.overload is None:
            keys = packets.get(key, [])
        else:
            k = f"{key}.{e.op.overload}" if e.op.overload else key
            keys = [k] if k in ops else []
            if not keys and e.op.ns == "aten":
                problems.append(Problem(Location(e.site.path, e.site.line), str(e.op),
                                        "no such overload in native_functions.yaml; not registered", "warning"))
        table = tables[e.table]
        for k in keys:
            if k in table:
                if table[k] is not e:
                    first = table[k].site
                    problems.append(Problem(Location(e.site.path, e.site.line), k,
                                            f"duplicate {e.table} registration (first at {first.path}:{first.line}); "
                                            "torch raises on import", "error"))
                continue
            table[k] = e

    chosen: dict[str, _Entry] = {}
    for typ in act.order:
        for k, e in tables.get(typ, {}).items():
            chosen.setdefault(k, e)

    out: list[Registration] = []
    cond_sites: dict[tuple[str, int], int] = {}
    for k in sorted(chosen):
        schema = ops[k]
        if schema.has_composite_implicit_autograd_kernel or schema.is_view or k in act.skip:
            continue
        e = chosen[k]
        kernel, where, wraps = _describe(e.fn)
        how = f"{_short(e.site.text)} [{e.table}] at {e.site.path}:{e.site.line}"
        if e.site.via:
            how = f"{e.site.via[0]} -> {how}"
        parts = [p for p in (f"{where} {kernel}" if where else kernel, wraps, f"via {how}") if p]
        if e.site.conds:
            for c in e.site.conds:
                cond_sites[c] = cond_sites.get(c, 0) + 1
            parts.append("under an unevaluated condition at " + ", ".join(f"{p}:{l}" for p, l in e.site.conds))
        out.append(Registration(op=k, key="Meta", kernel=kernel, kind="python_meta",
                                location=Location(META_FILE, act.library_line), detail="; ".join(parts)))
    for (path, line), n in sorted(cond_sites.items()):
        problems.append(Problem(Location(path, line), "", f"condition not evaluated: both branches taken, "
                                                          f"{n} Meta registration(s) depend on it", "warning"))
    return out, problems
