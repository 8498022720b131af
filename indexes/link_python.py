"""Python resolution rules for the link step (the contract of `resolve` is in indexes/link.py).

A reference is resolved the way Python looks a name up, using only the stored facts (every
definition's qualname, kind, bases and signature; every import with its local name and scope):

1. `super().m`: m in the method resolution order of the enclosing class, after that class.
2. `self.m` / `cls.m` inside a class: m in the class's MRO (C3 over the bases the index can
   resolve). `self.a.b` (an attribute's attribute) is unresolved: its type is unknown.
3. The head of a dotted name (`F` in `F.layer_norm`) is looked up in the enclosing functions,
   innermost first (imports made there, nested definitions: closures), skipping class bodies as
   Python does (a method does not see its class's names unqualified), then at module level
   (definitions, then imports: `import torch.nn.functional as F`, `from .x import y as z`,
   relative imports already made absolute by the parser, star imports), then builtins.
4. The absolute name it expands to (`torch.nn.functional.layer_norm`) is looked up among the
   definitions; failing that, through the modules on its way (a package's `__init__` re-exports:
   `torch.nn.Module` -> torch.nn.modules.module.Module), and a class prefix's MRO
   (`Module.children` inherited). A name torchgen binds to C (`torch.add`, `torch._C._nn.linear`:
   `python_binding` nodes of the dispatch stage) resolves to that binding.
5. Receivers typed by what the source states (indexes/python_signatures.py reads the stored
   one-line signatures): a parameter's annotation (`gm: Optional["GraphModule"]`; a parameter
   shadows the module-level name it spells, and `self` of a function outside a class is one); a
   local or instance attribute the parser recorded (`x = C(...)`, `x: T`, `self.x = C(...)` in a
   method, `self.x = p` with `p: T` a parameter, `for x in xs` / `enumerate(xs)` / `x = xs[i]`
   with `xs: list[T]` (a parameter, a declared local, an annotated attribute), `for m in
   self.children()` with `-> Iterator["Module"]`, and `xs[i].m` directly; an annotation states
   the type, else every assignment must name the same class, or a class and its subclasses: the
   base); a
   module or class variable (`V = _V()`, `weight: Tensor`); a property's return annotation
   (`gm.graph.lint`); `f(...)` with `-> T`, a torchgen binding by its stub's (`out = torch.empty(..)`
   is a Tensor). Then the member along that class's MRO; a Tensor's
   method is torchgen's binding when the class only has TensorBase's stub declaration of it. A
   call of an instance attribute (`self.fn = fn; self.fn()`) is not a call of that line.
6. torch._C is C: its stubs (torch/_C/*.pyi, indexed for that) declare its names, so
   `torch.tensor` resolves to `torch._C._VariableFunctions.tensor`; where torchgen binds the name,
   the binding wins over the stub (`torch.add`). A stub's star export is what it defines, not what
   it imports (PEP 484): `torch.Generator` is torch._C's class.
7. What is left: a builtin (`iter` -> builtins.iter); a module the index does not hold (external:
   `numpy.asarray`); a name under an indexed package that has no definition (unresolved, with the
   full name: `torch._C._get_tracing_state`); a receiver that is an expression (`f().g`,
   `x[0].view`) or whose type the source does not state (unresolved).

Where two imports bind the same name to different definitions (`try: from a import f` /
`except ImportError: from b import f`), or two star imports both provide it, the answer is every
one of them as a candidate, in import order. A Python name never resolves to C++.

Known limits: no flow: a parameter reassigned in the body keeps its annotation's type, `with`
targets and loops over anything but a named, annotated container are untyped, a variable bound to
two unrelated classes in one function is untyped everywhere in it, and an assignment the parser
does not record (`x = f()[0]`) does not count against one it does; union types other than `X | None` are not typed; an assignment that
rebinds a module-level name (`F = something_else`) is taken as the variable definition, not
followed; `import a.b` and `from a import a` are told apart by the names only.
"""

from __future__ import annotations

import builtins
import re
from functools import partial
from typing import Iterable, Iterator

from .link_model import BUILTIN, CANDIDATE, DEFAULT, EXTERNAL, MAX_CANDIDATES, RESOLVED, UNRESOLVED, Link, RefRow, World
from .py_parser import module_name
from .python_signatures import element_annotation, params as sigs_params, returns as sig_returns, type_name, variable as sig_variable

_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("__")) | {"__import__", "__build_class__"}
_KIND_PRIORITY = {"class": 0, "function": 1, "method": 1, "variable": 2}
_BUILTIN_TYPES = frozenset(n for n in _BUILTINS if isinstance(getattr(builtins, n, None), type))
_SCOPED_HEADS = frozenset(("self", "cls", "super()"))
_SELF_CLS = frozenset(("self", "cls"))
_SELF_TYPES = frozenset(("Self", "typing.Self", "typing_extensions.Self"))
_PARAM_NAME = re.compile(r"[(,]\s*\**\s*([A-Za-z_]\w*)").findall  # names that may be parameters  # heads whose meaning depends on the enclosing class
_BUILTIN_RECEIVERS = frozenset(("str", "list", "dict", "set", "tuple"))  # literal receivers: "a".join


def _split_bases(text: str) -> list[str]:
    """`Protocol,Generic[P, RV]` -> ["Protocol", "Generic"]: commas at bracket depth 0, subscripts dropped."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [b.split("[", 1)[0].strip() for b in out if b.strip()]


class _Facts:
    """The whole index's Python facts, as lookup tables (built once per link run)."""

    def __init__(self, world: World):
        con = world.con
        self.kind: dict[str, str] = {}
        self.bases: dict[str, list[str]] = {}
        self.def_module: dict[str, str] = {}  # class qualname -> its module (to resolve its bases)
        self.modules: set[str] = set()
        self.stubs: set[str] = set()  # modules known from a stub only (torch._C): their names are C
        for path in (p for (p,) in con.execute("SELECT path FROM files WHERE lang = 'python'")):
            self.modules.add(module_name(path)[0])
            if path.endswith(".pyi"):
                self.stubs.add(module_name(path)[0])
        mod_of_path: dict[str, str] = {}
        self.own: dict[str, set[str]] = {}  # module -> the names it defines or imports at module level
        # module -> names bound below module level (nested defs, methods, local imports): only a
        # reference whose head is one of these depends on its scope
        self.scoped: dict[str, set[str]] = {}
        # qualname -> the signatures of the definitions by that name (a property's getter and
        # setter share one): where parameter, variable and return annotations are read from
        self.sigs: dict[str, list[str]] = {}
        sigs = self.sigs
        self.funcs: dict[str, list[str]] = {}  # module -> its functions and methods
        for qual, name, kind, bases, path, sig in con.execute(
                "SELECT d.qualname, d.name, d.kind, d.bases, f.path, d.signature FROM defs d JOIN files f "
                "ON f.id = d.file_id WHERE f.lang = 'python'"):
            if sig and kind != "class":
                got = sigs.get(qual)
                if got is None:
                    sigs[qual] = [sig]
                else:
                    got.append(sig)
            old = self.kind.get(qual)
            if old is None or _KIND_PRIORITY.get(kind, 3) < _KIND_PRIORITY.get(old, 3):
                self.kind[qual] = kind
            mod = mod_of_path.get(path)
            if mod is None:
                mod = mod_of_path[path] = module_name(path)[0]
            if kind in ("function", "method"):
                self.funcs.setdefault(mod, []).append(qual)
            if qual == (mod + "." + name if mod else name):
                self.own.setdefault(mod, set()).add(name)
            else:
                self.scoped.setdefault(mod, set()).add(name)
            if kind == "class" and qual not in self.bases:
                self.bases[qual] = _split_bases(bases or "")
                self.def_module[qual] = mod
        self.top_packages = {m.split(".", 1)[0] for m in self.modules}
        # imports: module -> scope -> alias -> [targets in line order]; star imports per module
        self.imports: dict[str, dict[str, dict[str, list[str]]]] = {}
        self.stars: dict[str, list[str]] = {}
        for path, alias, target, scope in con.execute(
                "SELECT f.path, i.alias, i.target, i.scope FROM includes i JOIN files f ON f.id = i.file_id "
                "WHERE f.lang = 'python' ORDER BY i.file_id, i.line"):
            mod = mod_of_path.get(path)
            if mod is None:
                mod = mod_of_path[path] = module_name(path)[0]
            if not alias:
                continue
            if alias == "*":
                if not scope:
                    self.stars.setdefault(mod, []).append(target[:-2] if target.endswith(".*") else target)
                continue
            if target == alias or target.startswith(alias + "."):
                target = alias  # `import a.b` binds `a`
            if not scope:
                self.own.setdefault(mod, set()).add(alias)
            else:
                self.scoped.setdefault(mod, set()).add(alias)
            lst = self.imports.setdefault(mod, {}).setdefault(scope or "", {}).setdefault(alias, [])
            if target not in lst:
                lst.append(target)
        self.bindings: set[str] = {n for (n,) in con.execute("SELECT name FROM nodes WHERE kind = 'python_binding'")}
        self._stars: dict[str, dict[str, str]] = {}
        self._mro: dict[str, tuple[list[str], bool]] = {}
        self._abs: dict[str, tuple | None] = {}
        self._params: dict[str, dict[str, str]] = {}
        self._param_names: dict[str, frozenset[str]] = {}
        self._types: dict[tuple, str | None] = {}
        self._attr_types: dict[tuple[str, str], str | None] = {}
        self._var_types: dict[str, str | None] = {}

    # -- static types (annotations, constructors; indexes/python_signatures.py reads the text) --
    def params(self, func: str) -> dict[str, str]:
        """{parameter: annotation} of a function or method (its first complete signature)."""
        got = self._params.get(func)
        if got is None:
            got = {}
            for sig in self.sigs.get(func, ()):
                p = sigs_params(sig)
                if p is not None:
                    got = p
                    break
            self._params[func] = got
        return got

    def param_names(self, module: str) -> frozenset[str]:
        """Every parameter name of the module's functions but self/cls (their heads depend on the
        scope), and a few more: a name after `(` or `,` anywhere in a signature (`Dict[str, int]`
        gives int), found by one regex over them all; `binder` then reads the signatures exactly."""
        got = self._param_names.get(module)
        if got is None:
            sigs = self.sigs
            text = "\n".join(s for f in self.funcs.get(module, ()) for s in sigs.get(f, ()))
            got = self._param_names[module] = frozenset(_PARAM_NAME(text)) - _SCOPED_HEADS
        return got

    def binder(self, scope: str, module: str, head: str) -> str | None:
        """The innermost function enclosing `scope` (itself included) that has a parameter `head`."""
        s = scope
        while s and s != module:
            if self.kind.get(s) in ("function", "method") and head in self.params(s):
                return s
            s = s.rpartition(".")[0]
        return None

    def type_of(self, ann: str, module: str, scope: str) -> str | None:
        """The indexed class an annotation written at `scope` of `module` denotes, else None."""
        key = (ann, module, scope)
        if key in self._types:
            return self._types[key]
        self._types[key] = None
        t = type_name(ann)
        cls = None
        if t is not None:
            ans = self.lookup(t, module, scope, in_class_body=True)
            if ans is not None and ans[0] == RESOLVED and self.kind.get(ans[1][0]) == "class":
                cls = ans[1][0]
        self._types[key] = cls
        return cls

    def returned(self, func: str, element: bool = False) -> str | None:
        """The class a function's return annotation names (with `element`: the class of its
        elements, `-> Iterator["Module"]`, `-> list[Node]`), every signature of it agreeing, else None."""
        found = None
        for sig in self.sigs.get(func, ()):
            ret = sig_returns(sig)
            if ret and element:
                ret = element_annotation(ret)
            if not ret:
                return None
            cls = self.type_of(ret, self.module_of(func), func.rpartition(".")[0])
            if cls is None or (found is not None and cls != found):
                return None
            found = cls
        return found

    def result_of(self, target: str, receiver: str | None) -> str | None:
        """The class of what calling `target` gives: an instance of the class called, or what the
        function's return annotation names (`Self`: the receiver's class); for a C binding, what
        the torch._C stub of the same name returns."""
        kind = self.kind.get(target)
        if kind == "class":
            return target
        if kind is None:  # a torchgen binding: its declaration in the stub
            last = target.rpartition(".")[2]
            for stub in ("torch._C._VariableFunctions." + last, "torch._C.TensorBase." + last,
                         target.replace("torch.Tensor.", "torch._C.TensorBase.", 1)):
                if self.kind.get(stub) in ("function", "method"):
                    target, kind = stub, "method"
                    break
            else:
                return None
        if kind not in ("function", "method"):
            return None
        sigs = self.sigs.get(target, ())
        if receiver is not None and sigs and all(sig_returns(s) in _SELF_TYPES for s in sigs):
            return receiver
        return self.returned(target)

    def is_local(self, qual: str) -> bool:
        """A variable bound inside a function (the parser records the typed ones): reached only
        from inside that function, never as an attribute of it."""
        return self.kind.get(qual) == "variable" and self.kind.get(qual.rpartition(".")[0]) in ("function", "method")

    def _through_local(self, local: str, suffix: str) -> tuple:
        """`x` / `x.a.m` where x is a local variable `local` of an enclosing function."""
        where = local.rpartition(".")[0].rpartition(".")[2]
        if not suffix:
            return RESOLVED, (local,), (f"a local variable of {where}",)
        cls = self.variable_type(local)
        ans = self.on_instance(cls, suffix[1:].split("."), f"local {local.rpartition('.')[2]}") if cls else None
        if ans is not None:
            return ans
        return UNRESOLVED, (), (f"{local.rpartition('.')[2]} is a local variable of {where} whose type the source "
                                "does not state (or that lacks the member)",)

    def in_stub(self, qual: str) -> bool:
        """Whether a definition was read from a stub (a declaration of something C implements)."""
        return self.module_of(qual) in self.stubs

    def tensor_binding(self, q: str, m: str) -> str | None:
        """`torch.Tensor.m` when torchgen binds it and `q` (Tensor's m found along its MRO) is only
        TensorBase's declaration in the stub: the binding is tied to its operator."""
        if q is None or self.in_stub(q):
            for b in ("torch.Tensor." + m, "torch._C.TensorBase." + m):
                if b in self.bindings:
                    return b
        return None

    def module_of(self, qual: str) -> str:
        """The module a qualname is defined in (the longest indexed module prefix)."""
        m = qual
        while m and m not in self.modules:
            m = m.rpartition(".")[0]
        return m

    def variable_type(self, var: str) -> str | None:
        """The class of the value a variable holds, when its line says so: `x: T`, `x = T(...)`,
        `x = f(...)` with `f` annotated `-> T`."""
        if var in self._var_types:
            return self._var_types[var]
        self._var_types[var] = None  # a cycle (x = f() where f returns x's class via x) ends here
        found = self._var_types[var] = self._variable_type(var)
        return found

    def _variable_type(self, var: str) -> str | None:
        facts = [sig_variable(s) for s in self.sigs.get(var, ())]
        annotated = [f for f in facts if f is not None and f[0] == "annotation"]
        found = None
        for got in annotated or facts:  # an annotation states the type; else every assignment must agree
            if got is None:
                return None
            t = self._stated_type(got, var)
            if t is None and got[0] in ("param", "element", "element_call"):
                # bound to a parameter (or an element of a container) whose annotation names no
                # one class (a Union, a Callable, a dict, none): it states nothing, like an
                # assignment the parser does not record
                continue
            if t is None:
                return None
            if found is not None and t != found:
                # agree on a base: `self.x = x` (x: VariableTracker) then `self.x = TupleVariable(..)`
                # is a VariableTracker, as a type checker declares it; unrelated classes: no type
                if found in self.mro(t)[0]:
                    continue
                if t not in self.mro(found)[0]:
                    return None
            found = t
        return found

    def _stated_type(self, got: tuple[str, str], var: str) -> str | None:
        """The class one variable line states: its annotation, or the class its callee builds or returns."""
        scope = var.rpartition(".")[0]
        module = self.module_of(var)
        if got[0] == "annotation" or got[0] == "param":  # declared, or bound to an annotated parameter
            return self.type_of(got[1], module, scope)
        if got[0] == "element":  # a loop variable: the element type of its container's annotation
            typed = self.element_type(got[1], scope, module)
            return typed[0] if typed else None
        if got[0] == "element_call":  # a loop over a call: the element type of what the callee returns
            ans = _resolve_one(self, got[1], scope, module)
            return self.returned(ans[1][0], element=True) if ans[0] == RESOLVED else None
        ans = self.lookup(got[1], module, scope, in_class_body=True)
        if ans is None or ans[0] != RESOLVED:
            return None
        target = ans[1][0]
        kind = self.kind.get(target)
        if kind == "class":
            return target
        if kind in ("function", "method"):
            return self.returned(target)
        if kind is None and target in self.bindings:  # `out = torch.empty(..)`: the stub's `-> Tensor`
            return self.result_of(target, None)
        return None

    def element_type(self, container: str, func: str, module: str) -> tuple[str, str] | None:
        """(class, as written) of the elements of the container named `container` in `func` (`xs`,
        `self.items`), from its annotation (`list[Node]`: the class Node names, "Node"), else None."""
        found = self._container_annotation(container, func, module)
        elem = element_annotation(found[0]) if found else None
        cls = self.type_of(elem, module, found[1]) if elem else None
        return (cls, elem) if cls else None

    def _container_annotation(self, name: str, func: str, module: str) -> tuple[str, str] | None:
        """(annotation as written, the scope it is written at) of the container a loop in `func`
        iterates: a parameter of `func` or of an enclosing function, a local of `func` declared
        `xs: list[T]`, or `self.xs` with the attribute annotated (in the class or one of its
        methods); None when the source does not state it."""
        head, _, rest = name.partition(".")
        if not rest:
            binder = self.binder(func, module, head)
            if binder is not None:
                ann = self.params(binder).get(head, "")
                return (ann, binder.rpartition(".")[0]) if ann else None
            var = f"{func}.{head}"
        elif head == "self" and "." not in rest:
            cls = _enclosing_class(self, func, module)
            var = self.member(cls, rest)[0] if cls is not None else None
            if var is None:
                return None
        else:
            return None
        for sig in self.sigs.get(var, ()):
            got = sig_variable(sig)
            if got is not None and got[0] == "annotation":
                return got[1], var.rpartition(".")[0]
        return None

    def attr_type(self, cls: str, attr: str) -> str | None:
        """The class of `obj.attr` for an instance of `cls`: an annotated or constructed class
        variable, or a property (a method taking only self, read without a call) with a return
        annotation; None when the facts do not say."""
        key = (cls, attr)
        if key in self._attr_types:
            return self._attr_types[key]
        self._attr_types[key] = None
        q, _owner, _complete = self.member(cls, attr)
        t = None
        if q is not None:
            kind = self.kind.get(q)
            if kind == "variable":
                t = self.variable_type(q)
            elif kind == "method":
                t = self._getter_type(q)
        self._attr_types[key] = t
        return t

    def _getter_type(self, q: str) -> str | None:
        """A property with a setter: the getter's (the signature without parameters besides self)."""
        getters = [s for s in self.sigs.get(q, ()) if list(sigs_params(s) or {"?": ""}) == ["self"]]
        if len(getters) != 1:
            return None
        ret = sig_returns(getters[0])
        return self.type_of(ret, self.module_of(q), q.rpartition(".")[0]) if ret else None

    def on_instance(self, cls: str, attrs: list[str], why: str) -> tuple | None:
        """`obj.a.b.m` for an instance `obj` of `cls`: each attribute typed in turn, then m looked up
        along the MRO of the last class; None when a link of the chain is untyped."""
        for a in attrs[:-1]:
            nxt = self.attr_type(cls, a)
            if nxt is None:
                return None
            cls = nxt
        m = attrs[-1]
        q, owner, _complete = self.member(cls, m)
        if q is not None and self.instance_attribute(q):
            return None
        if cls == "torch._tensor.Tensor" or q is not None and q.startswith("torch._C.TensorBase."):
            b = self.tensor_binding(q, m)
            if b is not None:
                return RESOLVED, (b,), (f"{why}: a Tensor method bound to C by torchgen",)
        if q is not None:
            return RESOLVED, (q,), (f"{why}: {m} of {owner}",)
        return None

    def star_source(self, module: str, stack: tuple = ()) -> dict[str, str]:
        """Public names `module` gets from its star imports -> the module that binds each (the last
        star import wins, as in Python; the module's own names are looked up before this). A stub
        (.pyi) exports what it defines, not what it imports (PEP 484): torch/__init__ star-imports
        torch._C._VariableFunctions, whose `from torch import Generator` is no re-export, so
        `torch.Generator` stays torch._C's class."""
        got = self._stars.get(module)
        if got is not None:
            return got
        if module in stack or len(stack) > 30:
            return {}
        out: dict[str, str] = {}
        for star in self.stars.get(module, ()):
            for name, where in self.star_source(star, stack + (module,)).items():
                out[name] = where
            stub = star in self.stubs
            for name in self.own.get(star, ()):
                if not name.startswith("_") and (not stub or f"{star}.{name}" in self.kind):
                    out[name] = star
        self._stars[module] = out
        return out

    # -- classes ---------------------------------------------------------------------------------
    def mro(self, cls: str, depth: int = 0) -> tuple[list[str], bool]:
        """(the class's MRO among indexed classes, whether every base could be resolved)."""
        got = self._mro.get(cls)
        if got is not None:
            return got
        self._mro[cls] = ([cls], False)  # a cycle (or a deep chain) ends here
        complete = True
        linearizations = []
        direct = []
        if depth < 40:
            for b in self.bases.get(cls, ()):
                if b in ("object", "Generic", "Protocol", "typing.Generic", "typing.Protocol", "ABC", "abc.ABC"):
                    continue
                target = self.resolve_in_module(b, self.def_module.get(cls, ""), cls.rpartition(".")[0])
                if target is None or self.kind.get(target) != "class":
                    complete = False
                    continue
                sub, sub_complete = self.mro(target, depth + 1)
                complete = complete and sub_complete
                linearizations.append(list(sub))
                direct.append(target)
        result = [cls] + _c3(linearizations + [direct])
        self._mro[cls] = (result, complete)
        return result, complete

    def instance_attribute(self, q: str) -> bool:
        """A variable only ever assigned as `self.x = ...` in methods: what it holds comes from elsewhere
        (`self.fn = fn`), so a call of it is not a call of that line."""
        sigs = self.sigs.get(q)
        return bool(sigs) and self.kind.get(q) == "variable" and all(s.startswith("self.") for s in sigs)

    def member(self, cls: str, name: str, skip_first: bool = False) -> tuple[str | None, str, bool]:
        """(qualname of `name` found along the MRO of `cls`, the class it came from, MRO complete)."""
        order, complete = self.mro(cls)
        for c in order[1:] if skip_first else order:
            q = c + "." + name
            if q in self.kind:
                return q, c, complete
        return None, "", complete

    # -- names -----------------------------------------------------------------------------------
    def resolve_in_module(self, dotted: str, module: str, scope: str = "") -> str | None:
        """A name as written at module level of `module` (a base class, say) -> a qualname or None."""
        ans = self.lookup(dotted, module, scope, in_class_body=True)
        return ans[1][0] if ans is not None and ans[0] == RESOLVED else None

    def absolute(self, dotted: str, depth: int = 0) -> tuple | None:
        """An absolute dotted name -> (status, targets, why) or None when the index cannot tell.

        Follows definitions, then the modules on the way (their imports and star imports), then a
        class's MRO; ends at a C binding when torchgen binds the name."""
        got = self._abs.get(dotted, False)
        if got is not False:
            return got
        self._abs[dotted] = None  # cycles (a package re-exporting itself) end here
        ans = self._absolute(dotted, depth)
        if dotted in self.bindings and (ans is None or self.stubs and ans[0] == RESOLVED and self.in_stub(ans[1][0])):
            # torchgen's binding (tied to its operator) rather than the stub's declaration of it
            ans = (RESOLVED, (dotted,), ("a C binding generated by torchgen",))
        self._abs[dotted] = ans
        return ans

    def _absolute(self, dotted: str, depth: int) -> tuple | None:
        if dotted in self.kind:
            if self.is_local(dotted):
                return None  # a function's local is no attribute of the function (`f.x`)
            return RESOLVED, (dotted,), ("definition",)
        if depth > 12:
            return None
        parts = dotted.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            rest = parts[i:]
            kind = self.kind.get(prefix)
            if kind is not None:
                if kind == "variable":  # `V.graph.sizevars.m` with `V = _V()`: through the types
                    if self.is_local(prefix):
                        return None
                    cls = self.variable_type(prefix)
                    return None if cls is None else self.on_instance(cls, rest, prefix.rpartition(".")[2])
                if kind == "class" and len(rest) == 1:
                    q, owner, _complete = self.member(prefix, rest[0])
                    if prefix == "torch._tensor.Tensor" or q is not None and q.startswith("torch._C.TensorBase."):
                        # TensorBase is C: its methods are bindings
                        b = self.tensor_binding(q, rest[0])
                        if b is not None:
                            return RESOLVED, (b,), ("a Tensor method bound to C by torchgen",)
                    if q is not None:
                        return RESOLVED, (q,), (f"inherited from {owner}" if owner != prefix else "definition",)
                return None
            if prefix in self.modules:
                head, tail = rest[0], rest[1:]
                suffix = ("." + ".".join(tail)) if tail else ""
                answers = []
                for target in self.imports.get(prefix, {}).get("", {}).get(head, ()):
                    if target != dotted and target + suffix != dotted:
                        ans = self.absolute(target + suffix, depth + 1)
                        if ans is not None:
                            answers.append(ans)
                if not answers:
                    star = self.star_source(prefix).get(head)
                    if star is not None:
                        ans = self.absolute(star + "." + ".".join(rest), depth + 1)
                        if ans is not None:
                            answers.append(ans)
                return _merge(answers, "re-exported by " + prefix)
        return None

    def lookup(self, name: str, module: str, scope: str, in_class_body: bool) -> tuple | None:
        """A dotted name as written at `scope` of `module` -> (status, targets, why), or None."""
        head, _, rest = name.partition(".")
        suffix = "." + rest if rest else ""
        # enclosing definitions, innermost first; class bodies only when the name is written there
        imports = self.imports.get(module, {})
        s = scope if head in self.scoped.get(module, ()) else ""
        first = True
        while s and s != module and s.startswith(module + "."):
            if first and in_class_body or self.kind.get(s) != "class":
                bound = imports.get(s, {}).get(head)
                if bound:
                    return self._through_imports(bound, suffix, f"imported in {s.rpartition('.')[2]}")
                local = s + "." + head
                if local in self.kind:
                    if self.is_local(local):
                        return self._through_local(local, suffix)
                    ans = self.absolute(local + suffix)
                    if ans is not None:
                        return ans[0], ans[1], (f"defined in {s.rpartition('.')[2]}",) * len(ans[1])
                    return UNRESOLVED, (), (f"an attribute of {local}, a {self.kind[local]}",)
            first = False
            s = s.rpartition(".")[0]
        # module level: definitions, imports, star imports
        top = (module + "." + head) if module else head
        if top in self.kind:
            ans = self.absolute(top + suffix)
            if ans is not None:
                return ans
            return UNRESOLVED, (), (f"an attribute of {top}, a {self.kind[top]}",)
        bound = imports.get("", {}).get(head)
        if bound:
            return self._through_imports(bound, suffix, "import")
        star = self.star_source(module).get(head)
        if star is not None:
            ans = self.absolute(star + "." + name)
            if ans is not None:
                return ans[0], ans[1], (f"star import from {star}",) * len(ans[1])
        if head in _BUILTINS and (not rest or head in _BUILTIN_TYPES):
            return BUILTIN, ("builtins." + name,), ("a Python builtin",)
        return None  # `input.size()`: a parameter named like a builtin function, not the builtin

    def _through_imports(self, bound: list[str], suffix: str, why: str) -> tuple:
        answers = []
        for target in bound:
            full = target + suffix
            ans = self.absolute(full)
            if ans is None:
                ans = self._outside(full)
            answers.append(ans)
        if len(answers) == 1:
            st, targets, whys = answers[0]
            if st == RESOLVED:
                return st, targets, (f"{why} {bound[0]}",)
            return answers[0]
        return _merge(answers, why)

    def _outside(self, full: str) -> tuple:
        """A name with no definition in the index: under an indexed package, or a library."""
        top = full.split(".", 1)[0]
        if top in self.top_packages:
            return UNRESOLVED, (full,), (f"{full} has no Python definition in the index (implemented in C?)",)
        if top in _BUILTINS and top not in self.modules:
            return BUILTIN, ("builtins." + full,), ("a Python builtin",)
        return EXTERNAL, (full,), (f"module {top} is not part of this index",)


def _merge(answers: list[tuple], why: str) -> tuple | None:
    """Several possible answers for one name: the same single target -> resolved, else candidates."""
    if not answers:
        return None
    if len(answers) == 1:
        return answers[0]
    seen: list[str] = []
    for st, targets, _w in answers:
        if st in (RESOLVED, CANDIDATE):
            for t in targets:
                if t not in seen:
                    seen.append(t)
    if not seen:
        return answers[0]
    if len(seen) == 1:
        return RESOLVED, (seen[0],), (why,)
    shown = tuple(seen[:MAX_CANDIDATES])
    return CANDIDATE, shown, tuple(f"{why}: {len(seen)} bindings of the name, #{i + 1}" for i in range(len(shown)))


def _c3(seqs: list[list[str]]) -> list[str]:
    """C3 linearization of `seqs`; on a conflict, the remaining classes in depth-first order."""
    seqs = [list(s) for s in seqs if s]
    out: list[str] = []
    while seqs:
        for s in seqs:
            head = s[0]
            if not any(head in t[1:] for t in seqs):
                break
        else:  # inconsistent: fall back to depth-first, first occurrence
            for s in seqs:
                for c in s:
                    if c not in out:
                        out.append(c)
            return out
        out.append(head)
        seqs = [[c for c in s if c != head] for s in seqs]
        seqs = [s for s in seqs if s]
    return out


def _enclosing_class(facts: _Facts, scope: str, module: str) -> str | None:
    """The class whose method (or a function nested in one) `scope` is."""
    s = scope
    while s and s != module:
        parent = s.rpartition(".")[0]
        if facts.kind.get(parent) == "class":
            return parent
        s = parent
    return None


_SUBSCRIPT_RECEIVER = re.compile(r"([A-Za-z_][\w.]*)\[\]\.([A-Za-z_][\w.]*)\Z")


def _element_member(facts: _Facts, name: str, scope: str, module: str) -> tuple | None:
    """`xs[].m` / `xs[].a.m` (the parser's form of `xs[i].m`) with xs a container whose annotation
    states one element type (`xs: list[Tensor]`, a parameter, a declared local, an annotated
    attribute): m on that type; None when it is not stated."""
    m = _SUBSCRIPT_RECEIVER.match(name)
    if m is None:
        return None
    typed = facts.element_type(m.group(1), scope, module)
    return facts.on_instance(typed[0], m.group(2).split("."), f"an element of {m.group(1)}: {typed[1]}") if typed else None


def _resolve_one(facts: _Facts, name: str, scope: str, module: str) -> tuple:
    if name.startswith("super()."):
        member = name[len("super()."):]
        cls = _enclosing_class(facts, scope, module)
        if cls is None or "." in member or "(" in member:
            return UNRESOLVED, (), ("super() outside a method, or a chained attribute",)
        q, owner, complete = facts.member(cls, member, skip_first=True)
        if q is not None:
            return RESOLVED, (q,), (f"super(): found in {owner}",)
        return UNRESOLVED, (), (f"super().{member}: not in the indexed bases of {cls}"
                                + ("" if complete else " (some bases are outside the index)"),)
    head, _, rest = name.partition(".")
    if "(" in name or "[" in name:
        if head in _BUILTIN_RECEIVERS and rest and "(" not in rest and "[" not in rest:
            return BUILTIN, ("builtins." + name,), ("a method of a builtin type",)
        ctor, sep, member = name.partition("().")
        if sep and "(" not in ctor and "[" not in ctor and member.isidentifier():  # `Foo().m`: an instance of Foo
            ans = facts.lookup(ctor, module, scope, in_class_body=facts.kind.get(scope) == "class")
            if ans is not None and ans[0] == RESOLVED and facts.kind.get(ans[1][0]) == "class":
                q, owner, _complete = facts.member(ans[1][0], member)
                if q is not None:
                    return RESOLVED, (q,), (f"a method of {owner} on a new {ctor}",)
        ans = (_chain(facts, name, lambda first: _resolve_one(facts, first, scope, module))
               or _element_member(facts, name, scope, module))
        if ans is not None:
            return ans
        return UNRESOLVED, (), ("the receiver is an expression (a call's result, a subscript)",)
    if head in ("self", "cls") and rest:
        cls = _enclosing_class(facts, scope, module) if facts.kind.get(scope) != "class" else None
        if cls is not None:
            if "." in rest:
                ans = facts.on_instance(cls, rest.split("."), "self") if head == "self" else None
                if ans is not None:
                    return ans
                return UNRESOLVED, (), (f"{head}.{rest.partition('.')[0]} is an attribute whose type is unknown",)
            q, owner, complete = facts.member(cls, rest)
            if q is not None and facts.instance_attribute(q):
                return UNRESOLVED, (), (f"{head}.{rest} is an instance attribute ({q}): what it holds is not static",)
            if cls == "torch._tensor.Tensor" or q is not None and q.startswith("torch._C.TensorBase."):
                b = facts.tensor_binding(q, rest)
                if b is not None:
                    return RESOLVED, (b,), ("self: a Tensor method bound to C by torchgen",)
            if q is not None:
                return RESOLVED, (q,), (f"{head}: method of {owner}" if owner == cls else
                                        f"{head}: inherited from {owner}",)
            return UNRESOLVED, (), (f"{head}.{rest}: not defined on {cls} or its indexed bases"
                                    + ("" if complete else " (some bases are outside the index)")
                                    + "; an instance attribute?",)
    ans = facts.lookup(name, module, scope, in_class_body=facts.kind.get(scope) == "class")
    if ans is not None:
        return ans
    return UNRESOLVED, (), (f"{head}: a local variable, a parameter, or a name the index does not define",)


def _chain(facts: _Facts, name: str, first_call) -> tuple | None:
    """`f(...).m`, `x.f(...).g(...).m`: each call's result typed by what the callee states (a class
    called, a return annotation, `-> Self`, a stub's `-> Tensor`), then m on the last type; None
    when a link is not stated. `first_call(text)` resolves the first callee where the name is."""
    if "[" in name or "(...)" in name:
        return None
    parts = name.split("().")
    if len(parts) < 2 or any("(" in p or not p for p in parts):
        return None
    ans = first_call(parts[0])
    if ans is None or ans[0] != RESOLVED:
        return None
    first = ans[1][0]
    owner = first.rpartition(".")[0]  # `-> Self` of the first call: the class the method is defined on
    cls = facts.result_of(first, owner if facts.kind.get(owner) == "class" else None)
    for mid in parts[1:-1]:
        attrs = mid.split(".")
        for a in attrs[:-1]:
            cls = facts.attr_type(cls, a) if cls else None
        if cls is None:
            return None
        q, _owner, _complete = facts.member(cls, attrs[-1])
        cls = facts.result_of(q, cls) if q is not None else None
    if cls is None:
        return None
    return facts.on_instance(cls, parts[-1].split("."), f"{parts[-2].rpartition('.')[2]}(...) returns a "
                                                        f"{cls.rpartition('.')[2]}")


def _resolve_param(facts: _Facts, name: str, binder: str, module: str) -> tuple:
    """A name whose head is a parameter of `binder` (the innermost function that has it): typed by
    its annotation, or unresolved (a parameter shadows every module-level name it spells)."""
    head, _, rest = name.partition(".")
    where = binder.rpartition(".")[2]
    if "(" in name or "[" in name:
        ans = (_chain(facts, name, lambda first: _resolve_param(facts, first, binder, module))
               or _element_member(facts, name, binder, module))
        if ans is not None:
            return ans
        return UNRESOLVED, (), ("the receiver is an expression (a call's result, a subscript)",)
    if not rest:
        return UNRESOLVED, (), (f"{head} is a parameter of {where}: what it holds depends on the caller",)
    ann = facts.params(binder).get(head, "")
    cls = facts.type_of(ann, module, binder.rpartition(".")[0]) if ann else None
    if cls is None:
        return UNRESOLVED, (), (f"{head} is a parameter of {where} without an annotation naming an indexed class",)
    ans = facts.on_instance(cls, rest.split("."), f"parameter {head}: {ann}")
    if ans is not None:
        return ans
    return UNRESOLVED, (), (f"{head}: {ann}, but {rest} is not found on {cls} (or an attribute's type is unknown)",)


def _param_answer(facts: _Facts, binders: dict, by_param: dict, name: str, head: str, scope: str,
                  module: str) -> tuple | None:
    """The answer for a name whose head may be a parameter of an enclosing function (None if it is
    not one), memoised per (scope, head) for the binder and per (binder, name) for the answer."""
    b = binders.get((scope, head), False)
    if b is False:
        b = binders[(scope, head)] = facts.binder(scope, module, head)
    if b is None:
        return None
    ans = by_param.get((b, name))
    if ans is None:
        ans = by_param[(b, name)] = _resolve_param(facts, name, b, module)
    return ans


_DEFAULT_ANSWER = (BUILTIN, DEFAULT, ())  # link_model.default_answer's: no row is stored
_DEFAULT_WHY = ("a Python builtin",)


def _or_default(ans: tuple | None, name: str) -> tuple | None:
    """`ans`, or the marker of link_model.default_answer when it is exactly that (memoized with it)."""
    if ans is not None and ans[0] == BUILTIN and ans[2] == _DEFAULT_WHY and ans[1] == ("builtins." + name,):
        return _DEFAULT_ANSWER
    return ans


def resolve(refs: Iterator[RefRow], world: World) -> Iterable[Link]:
    """One Link per Python reference (the contract is in indexes/link.py)."""
    facts: _Facts = world.cached("py.facts", _Facts)
    current_file = None
    module = ""
    local: set[str] = set()
    scoped: set[str] = set()
    by_scope: dict[tuple, tuple] = {}  # answers that depend on the enclosing scope (or class)
    by_name: dict[str, tuple] = {}  # answers that do not (most): one lookup per name and file
    classes: dict[str, tuple] = {}  # scope -> (is a class body, enclosing class)
    params: frozenset[str] = frozenset()  # the file's parameter names
    binders: dict[tuple[str, str], str | None] = {}  # (scope, head) -> the function whose parameter it is
    by_param: dict[tuple[str, str], tuple] = {}  # (that function, name) -> answer
    param_of: dict[tuple[str, str], tuple | None] = {}  # (scope, name) -> that answer, None: not a parameter
    make = partial(tuple.__new__, Link)  # Link._make without its Python-level length check
    for rid, file_id, path, name, _line, scope, _kind in refs:  # unpacked: cheaper than attributes
        if file_id != current_file:
            current_file = file_id
            module = module_name(path)[0]
            local = facts.scoped.get(module, set())
            scoped = local | _SCOPED_HEADS
            params = facts.param_names(module)
            by_scope, by_name, classes, binders, by_param, param_of = {}, {}, {}, {}, {}, {}
        scope = scope or ""
        head = name.partition(".")[0]
        if head[-2:] == "[]":  # `xs[i].m`: what it is depends on xs, a parameter or local perhaps
            head = head[:-2]
        if head in params and scope:
            ans = param_of.get((scope, name), False)
            if ans is False:
                ans = param_of[(scope, name)] = _or_default(
                    _param_answer(facts, binders, by_param, name, head, scope, module), name)
            if ans is not None:
                yield make((rid,) + ans)
                continue
        if head in scoped:
            if head in _SCOPED_HEADS and head not in local:  # self/cls/super(): only the class matters
                cls = classes.get(scope)
                if cls is None:
                    cls = classes[scope] = (facts.kind.get(scope) == "class", _enclosing_class(facts, scope, module))
                if cls[1] is None and not cls[0] and scope and head in _SELF_CLS:
                    # `def f(self: Tensor)` outside a class: a parameter like any other
                    ans = _or_default(_param_answer(facts, binders, by_param, name, head, scope, module), name)
                    if ans is not None:
                        yield make((rid,) + ans)
                        continue
                key = (cls, name)
            else:
                key = (scope, name)
            ans = by_scope.get(key)
            if ans is None:
                ans = by_scope[key] = _or_default(_resolve_one(facts, name, scope, module), name)
        else:
            ans = by_name.get(name)
            if ans is None:
                ans = by_name[name] = _or_default(_resolve_one(facts, name, scope, module), name)
        yield make((rid,) + ans)
