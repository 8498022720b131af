"""Which public Python callables reach which operator overload, computed statically.

Two layers, both read from the source tree and never by importing torch:

1. The generated C bindings. torchgen's ``gen_python_functions.py`` turns every overload that
   ``should_generate_py_binding`` accepts into one entry of a Python-visible C function named
   after the overload's base name (``add`` for add.Tensor and add.out alike: out= overloads fold
   into the same name). Where it lands depends on ``python_module`` and ``variants``:

   ====================  ==================================  ===============================
   python_module         variants                            C object
   ====================  ==================================  ===============================
   (none)                function                            torch._C._VariableFunctions.X
   (none)                method                              torch._C.TensorBase.X
   nn / fft / linalg /   (ignored)                           torch._C._nn.X, torch._C._fft.X,
   special / sparse /                                        ... (name keeps its prefix:
   nested                                                    torch._C._linalg.linalg_norm)
   ====================  ==================================  ===============================

   The skip lists (``_SKIP_PYTHON_BINDINGS`` regexes over the C++ name, where out overloads get
   an ``_out`` suffix, and ``SKIP_PYTHON_BINDINGS_SIGNATURES``) are read from the tree's own
   gen_python_functions.py with ``ast``, so an old tree is judged by its own rules; a copy of the
   current lists is the fallback. deprecated.yaml only adds Python signatures to names that
   already exist (it binds no new overload), so it is only checked for dangling entries.
   Two runtime facts are modeled as well, because they decide whether the dispatcher is ever
   entered: a ``manual_cpp_binding`` overload's binding calls the hand-written C++ method
   (``Tensor::is_complex``), which does not dispatch, so it binds nothing; and for the names of
   ``should_allow_numbers_as_tensors`` (python_arg_parser.cpp; a copy for the wheel, which does
   not ship it) an overload whose signature differs from a sibling's only by Scalar where the
   sibling has Tensor is shadowed (sort_overloads tries Tensor first and it takes numbers too).
   A few bindings are written by hand in C++ (``Tensor.to``, ``Tensor.item``,
   ``torch.nonzero``, ...): they come from a small table, checked against the method table of
   python_variable_methods.cpp (a codegen template, in both layouts) and, in a checkout,
   python_torch_functions_manual.cpp.

2. The Python layer, by ``ast`` over a handful of files: torch/__init__.py (which
   _VariableFunctions names become ``torch.X``), torch/functional.py (star-imported into
   ``torch``, overriding), torch/_tensor.py (``class Tensor`` overriding TensorBase methods),
   torch/nn/functional.py, torch/{linalg,fft,special,sparse,nested}/__init__.py. A public name
   binds an overload when it is

   * an alias of a C binding: ``gelu = _add_docstr(torch._C._nn.gelu, ...)``, ``__abs__ =
     _C.TensorBase.abs`` (through ``_add_docstr``, ``cast`` and the Tensor dunder wrapper), or
   * a wrapper: a ``def`` (or ``boolean_dispatch`` of defs) whose body, following calls into
     other parsed Python functions up to a small depth, calls exactly one C binding of the same
     operator name (``relu`` calling ``torch.relu``; calls of other ops such as ``torch.relu_``
     are ignored). The module prefix is dropped for the comparison: ``torch.sparse.sum`` wraps
     ``torch._sparse_sum``. The wrapper is credited with the overloads of that binding that
     one of its call sites can reach by arity and keyword names (out= overloads only when the
     call hands on ``out=``): ``F.embedding_bag`` passes padding_idx, so it reaches
     embedding_bag.padding_idx and not embedding_bag. Argument *types* are not looked at.

Callable names: the C binding is named by its public alias when one is plain (``torch.add``,
``torch.Tensor.add``) and by its C path when the Python layer replaced the public name with
something else (``torch._C._VariableFunctions.split``, ``torch._C.TensorBase.split``); bindings
of the other modules are always named by their C path too (``torch._C._nn.gelu``), and their
public aliases (``torch.nn.functional.gelu``) come in addition.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .model import Location, OperatorSchema, Problem, PythonBinding

# --- generated-binding rules ------------------------------------------------------------------

# Fallback copies (torch 2.13's) of gen_python_functions.py's lists, used when the file is
# missing or does not parse.
_FALLBACK_SKIP = [
    "alias", "contiguous", "dim", "get_device", "is_contiguous", "is_cuda", "is_sparse",
    "is_sparse_csr", "numel", "size", "storage_offset", "stride", "sym_is_contiguous",
    "sym_size", "sym_stride", "sym_storage_offset", "sym_numel", ".*_backward",
    ".*_backward_(out|input|weight|bias)", ".*_forward", ".*_forward_out", ".*_jvp",
    "_unsafe_view", "tensor", "_?sparse_(coo|compressed|csr|csc|bsr|bsc)_tensor.*", "_range.*",
    "_sparse_add_out", "_sparse_div.*", "_sparse_mul.*", "_sparse_sub.*", "_sparse_dense_add_out",
    "index", "index_out", "unique_dim_consecutive", "_cumsum.*", "_cumprod.*", "_sum.*",
    "_prod.*", "_th_.*", "_thnn_.*", "range.*", "_solve.*", "_inverse.*", "_cholesky.*",
    "_triangular_solve.*", "_qr.*", "_svd.*", "slice", "item", "_local_scalar_dense", "to",
    "_to_copy", "_to_copy_out", "_reshape_copy", "_reshape_copy_out", "copy_sparse_to_sparse_",
    "copy_", "_foreach_copy", "numpy_T", "matrix_H", "mT", "mH", "nonzero(_(out|numpy))?",
    "set_data", ".*_overrideable", "data", "is_leaf", "output_nr", "_version", "requires_grad_",
    "retains_grad", "set_", "_fw_primal", "fake_quantize_per_tensor_affine_cachemask",
    "fake_quantize_per_channel_affine_cachemask", "_new_zeros_with_same_feature_meta",
    "_has_same_storage_numel", "_reshape_alias", "replace_", "copy", "fill.Tensor",
    "fill.Scalar", "lift.*", "normal_functional", "nbytes", "itemsize",
    "_batch_norm_with_update", "_batch_norm_with_update_out", "_batch_norm_no_update",
]
_FALLBACK_SKIP_SIGNATURES = [
    "add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "add_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)",
    "sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "sub_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)",
    "mul.Scalar(Tensor self, Scalar other) -> Tensor",
    "mul_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
    "div.Scalar(Tensor self, Scalar other) -> Tensor",
    "div_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
]
_FALLBACK_MODULES = ("nn", "fft", "linalg", "nested", "sparse", "special")
# torch/csrc/utils/python_arg_parser.cpp `should_allow_numbers_as_tensors` (not shipped in the
# wheel): for these Python names a `Tensor` parameter also takes a Python number.
_FALLBACK_NUMBERS_AS_TENSORS = frozenset({
    "add", "add_", "add_out", "div", "div_", "div_out", "divide", "divide_", "divide_out",
    "mul", "mul_", "mul_out", "multiply", "multiply_", "multiply_out", "sub", "sub_", "sub_out",
    "subtract", "subtract_", "subtract_out", "true_divide", "true_divide_", "true_divide_out",
    "to", "_to_copy", "copy_", "floor_divide", "floor_divide_", "floor_divide_out", "_conj"})

# python_module -> the C object its bindings live on.
C_MODULES = {
    "nn": "torch._C._nn",
    "fft": "torch._C._fft",
    "linalg": "torch._C._linalg",
    "special": "torch._C._special",
    "sparse": "torch._C._sparse",
    "nested": "torch._C._nested",
}
FUNCTION, METHOD = "function", "method"  # the two kinds for python_module None

# Python files, relative to the root that holds torch/ (both layouts), and the public
# namespace each defines.
_PY_MODULES = {
    "torch": "torch/__init__.py",
    "torch.functional": "torch/functional.py",
    "torch._tensor": "torch/_tensor.py",
    "torch.nn.functional": "torch/nn/functional.py",
    "torch.linalg": "torch/linalg/__init__.py",
    "torch.fft": "torch/fft/__init__.py",
    "torch.special": "torch/special/__init__.py",
    "torch.sparse": "torch/sparse/__init__.py",
    "torch.nested": "torch/nested/__init__.py",
}
_PUBLIC_NAMESPACES = ("torch.nn.functional", "torch.linalg", "torch.fft", "torch.special",
                      "torch.sparse", "torch.nested")

# Bindings written by hand in C++ (torch/csrc/autograd/python_variable_methods.cpp and
# python_torch_functions_manual.cpp), which codegen skips: (callable, C method table entry,
# operator name, overloads reached; None for all of them). Not derivable from the YAML; in a
# checkout each row is kept only when its file still lists the name.
_HAND_WRITTEN = (
    ("torch.Tensor.copy_", "python_variable_methods.cpp", "copy_", None),
    ("torch.Tensor.item", "python_variable_methods.cpp", "item", None),
    ("torch.Tensor.nonzero", "python_variable_methods.cpp", "nonzero", ("",)),
    ("torch.Tensor.set_", "python_variable_methods.cpp", "set_", None),
    ("torch.Tensor.to", "python_variable_methods.cpp", "to", ("device", "dtype")),
    ("torch.nonzero", "python_torch_functions_manual.cpp", "nonzero", ("", "out")),
    ("torch.range", "python_torch_functions_manual.cpp", "range", ("step", "out")),
    ("torch.sparse_compressed_tensor", "python_torch_functions_manual.cpp",
     "sparse_compressed_tensor", None),
)



def _hand_written_path(cpp: str, layout: str) -> str | None:
    """Where this layout keeps a hand-written binding file (the wheel ships only the template)."""
    if cpp == "python_variable_methods.cpp":  # a codegen template, shipped in both layouts
        return ("torchgen/packaged/autograd/templates/" if layout == "package"
                else "tools/autograd/templates/") + cpp
    return None if layout == "package" else f"torch/csrc/autograd/{cpp}"


# Calls that hand back (a wrapped form of) their argument: which argument is the callable.
_TRANSPARENT = {"_add_docstr": 0, "add_docstr": 0, "cast": -1,
                "_handle_torch_function_and_wrap_type_error_to_not_implemented": 0,
                "_wrap_type_error_to_not_implemented": 0}
_WRAPPER_DEPTH = 3  # calls followed from a wrapper into other Python functions
_RESOLVE_DEPTH = 16  # alias hops (name -> import -> module symbol -> ...)
_PREFIX = re.compile(r"^_?(linalg|fft|special|sparse|nested)_")
_WS = re.compile(r"\s+")


def _codegen_paths(root: Path, layout: str) -> tuple[Path, Path]:
    if layout == "package":
        base = root / "torchgen" / "packaged" / "autograd"
    else:
        base = root / "tools" / "autograd"
    return base / "gen_python_functions.py", base / "deprecated.yaml"


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _str_list(node: ast.AST) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    return None


class _CodegenRules:
    """What gen_python_functions.py of this tree skips, and which python_modules it knows."""

    def __init__(self, root: Path, layout: str, problems: list[Problem]) -> None:
        path, self.deprecated_path = _codegen_paths(root, layout)
        skip = sigs = None
        modules: set[str] = set()
        self.generated_rule = True
        self.where = _rel(path, root)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError) as e:
            problems.append(Problem(Location(self.where), "", f"cannot read the Python binding "
                                    f"rules ({type(e).__name__}); using torch 2.13's", "warning"))
            tree = None
        if tree is not None:
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and isinstance(node.targets[0], ast.Name):
                    name, value = node.targets[0].id, _str_list(node.value)
                    if value is None:
                        continue
                    if name in ("_SKIP_PYTHON_BINDINGS", "SKIP_PYTHON_BINDINGS"):
                        skip = value
                    elif name == "SKIP_PYTHON_BINDINGS_SIGNATURES":
                        sigs = value
                elif isinstance(node, ast.FunctionDef):
                    m = re.fullmatch(r"is_py_(\w+)_function", node.name)
                    if m and m.group(1) != "torch":
                        modules.add(m.group(1))
                    if node.name == "should_generate_py_binding":
                        self.generated_rule = "generated" in ast.unparse(node)
            if skip is None:
                problems.append(Problem(Location(self.where), "", "no _SKIP_PYTHON_BINDINGS list "
                                        "found; using torch 2.13's", "warning"))
        patterns = skip if skip is not None else _FALLBACK_SKIP
        self.skip = [re.compile(f"^{p}$") for p in patterns]
        self.any_skip = re.compile("^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$")
        self.skip_signatures = {_WS.sub(" ", s.strip()) for s in
                                (sigs if sigs is not None else _FALLBACK_SKIP_SIGNATURES)}
        self.modules = modules or set(_FALLBACK_MODULES)
        self.numbers_as_tensors = _FALLBACK_NUMBERS_AS_TENSORS
        if layout == "checkout":
            parser = root / "torch" / "csrc" / "utils" / "python_arg_parser.cpp"
            try:
                text = parser.read_text(encoding="utf-8", errors="replace")
                m = re.search(r"should_allow_numbers_as_tensors\([^)]*\)\s*\{(.*?)\}\s*;",
                              text, re.S)
                if m:
                    self.numbers_as_tensors = frozenset(re.findall(r'"(\w+)"', m.group(1)))
            except OSError:
                pass

    def skipped(self, op: OperatorSchema) -> str | None:
        """Why `op` gets no generated Python binding that reaches it, or None when it gets one."""
        if op.manual_cpp_binding:
            # The binding calls the hand-written C++ method (Tensor::is_complex, ::conj), which
            # does not enter the dispatcher for this operator.
            return "manual_cpp_binding"
        if self.generated_rule and ("generated" in op.tags or op.generated) \
                and "view_copy" not in op.tags:
            return "generated"
        cpp_name = op.name + ("_out" if any(a.out for a in op.arguments) else "")
        if self.any_skip.match(cpp_name):
            rx = next((rx for rx in self.skip if rx.match(cpp_name)), self.any_skip)
            return f"SKIP_PYTHON_BINDINGS {rx.pattern}"
        if _WS.sub(" ", op.schema.strip()) in self.skip_signatures:
            return "SKIP_PYTHON_BINDINGS_SIGNATURES"
        return None


_Table = dict[tuple[str, str], list[tuple[OperatorSchema, str]]]


def generated_bindings(ops: Sequence[OperatorSchema], rules: _CodegenRules,
                       problems: list[Problem]) -> _Table:
    """(kind, C name) -> [(overload, via)]; kind is "function", "method" or a python_module."""
    table: _Table = defaultdict(list)
    for op in ops:
        if rules.skipped(op):
            continue
        mod = op.python_module
        if mod is None:
            if "function" in op.variants:
                table[(FUNCTION, op.name)].append((op, "variants: function"))
            if "method" in op.variants:
                table[(METHOD, op.name)].append((op, "variants: method"))
        elif mod in rules.modules and mod in C_MODULES:
            table[(mod, op.name)].append((op, f"python_module: {mod}"))
        else:
            problems.append(Problem(op.location, op.short, f"python_module {mod!r} is not "
                                    f"bound by {rules.where}", "warning"))
    for (_kind, name), entries in table.items():
        if name in rules.numbers_as_tensors and len(entries) > 1:
            shadowed = {id(a) for a, _ in entries
                        if any(_shadows(b, a) for b, _ in entries if b is not a)}
            if shadowed:
                entries[:] = [e for e in entries if id(e[0]) not in shadowed]
    return table


def _type(t: str) -> str:
    return re.sub(r"\([^)]*\)", "", t).strip()


def _shadows(tensor_op: OperatorSchema, scalar_op: OperatorSchema) -> bool:
    """`tensor_op`'s Python signature is tried first and takes every call `scalar_op` takes.

    gen_python_functions.sort_overloads puts Tensor before Scalar; where numbers pass as
    tensors, a signature that differs only there is never chosen.
    """
    a = [x for x in scalar_op.arguments if not x.out]
    b = [x for x in tensor_op.arguments if not x.out]
    if len(a) != len(b) or any(x.out for x in scalar_op.arguments) != \
            any(x.out for x in tensor_op.arguments):
        return False
    differs = False
    for x, y in zip(a, b):
        tx, ty = _type(x.type), _type(y.type)
        if x.name != y.name or x.kwarg_only != y.kwarg_only:
            return False
        if tx == ty:
            continue
        if (tx, ty) in (("Scalar", "Tensor"), ("Scalar?", "Tensor?")):
            differs = True
        else:
            return False
    return differs


def _check_deprecated(rules: _CodegenRules, root: Path, names: set[str],
                      problems: list[Problem]) -> None:
    """deprecated.yaml entries add signatures to existing names: flag those naming nothing."""
    path = rules.deprecated_path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        problems.append(Problem(Location(_rel(path, root)), "", "deprecated.yaml not found",
                                "warning"))
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*(?:-\s*)?aten:\s*([A-Za-z0-9_]+)", line)
        if m:
            name = m.group(1)
            base = name[:-4] if name.endswith("_out") else name
            if base not in names:
                problems.append(Problem(Location(_rel(path, root), lineno), base,
                                        "deprecated signature names no bound operator",
                                        "warning"))


# --- the Python layer ------------------------------------------------------------------------


class _PyModule:
    """Top-level symbols of one parsed file: name -> (kind, node, line), last binding wins."""

    def __init__(self, dotted: str, rel: str, tree: ast.Module) -> None:
        self.dotted, self.rel = dotted, rel
        self.imports: dict[str, str] = {}
        self.symbols: dict[str, tuple[str, ast.AST, int]] = {}
        self.all: list[str] | None = None
        self.star_imports: list[tuple[str, int]] = []
        self.order: dict[str, int] = {}  # name -> line of its last top-level binding
        package = dotted if rel.endswith("__init__.py") else dotted.rpartition(".")[0]
        for node in tree.body:
            self._statement(node, package)

    def _statement(self, node: ast.stmt, package: str) -> None:
        if isinstance(node, ast.If):
            # `if TYPE_CHECKING:` declares for the type checker; the else branch is what runs
            runtime_only = "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in (node.orelse if runtime_only else node.body + node.orelse):
                self._statement(stmt, package)
        elif isinstance(node, ast.Try):
            for stmt in node.body:
                self._statement(stmt, package)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.imports[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    self.imports[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            for a in node.names:
                if a.name == "*":
                    self.star_imports.append((base, node.lineno))
                else:
                    local = a.asname or a.name
                    self.imports[local] = f"{base}.{a.name}"
                    self.symbols.pop(local, None)
                    self.order[local] = node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.symbols[node.name] = ("def", node, node.lineno)
            self.order[node.name] = node.lineno
        elif isinstance(node, ast.ClassDef):
            self.symbols[node.name] = ("class", node, node.lineno)
            self.order[node.name] = node.lineno
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    if t.id == "__all__":
                        self.all = _str_list(node.value)
                    else:
                        self.symbols[t.id] = ("expr", node.value, node.lineno)
                        self.imports.pop(t.id, None)
                        self.order[t.id] = node.lineno


@dataclass(frozen=True)
class _Site:
    """One call of a binding inside a wrapper, as far as the syntax tells."""

    npos: int | None  # positional arguments; None when one is *starred
    keywords: frozenset[str]
    more_keywords: bool  # a **kwargs splat
    bound: bool  # `input.add(...)`: self is not among the arguments
    out: bool  # out= can reach the binding (passed here and by every caller on the way)

    @classmethod
    def of(cls, call: ast.Call, bound: bool) -> "_Site":
        starred = any(isinstance(a, ast.Starred) for a in call.args)
        names = frozenset(k.arg for k in call.keywords if k.arg)
        splat = any(k.arg is None for k in call.keywords)
        return cls(None if starred else len(call.args), names, splat, bound,
                   "out" in names or splat)

    def accepts(self, op: OperatorSchema, kind: str) -> bool:
        """Whether Python's argument parser could send this call to `op`."""
        is_out = any(a.out for a in op.arguments)
        if is_out and not self.out:
            return False
        params = [a for a in op.arguments if not a.out]
        if kind == METHOD and self.bound:
            params = [a for a in params if a.name != "self"]
        if self.npos is None or self.more_keywords:
            return True
        positional = [a for a in params if not a.kwarg_only]
        if self.npos > len(positional):
            return False
        names = {("input" if a.name == "self" and kind != METHOD else a.name) for a in params}
        names |= {a.name for a in params}
        if any(a.name in ("dtype", "layout", "device") for a in params):
            names |= {"dtype", "layout", "device", "pin_memory", "requires_grad"}
        if not all(k in names or k == "out" for k in self.keywords):
            return False
        covered = {a.name for a in positional[: self.npos]} | self.keywords
        return all(a.default is not None or a.name in covered
                   or (a.name == "self" and "input" in covered) for a in params)


class _Target:
    """What an expression names: a C binding (kind, name) or a Python function."""

    __slots__ = ("kind", "name", "module", "node", "line", "owner", "sites")

    def __init__(self, kind: str, name: str, module: _PyModule | None = None,
                 node: ast.AST | None = None, line: int = 0, owner: str = "",
                 sites: tuple[_Site, ...] | None = None) -> None:
        self.kind, self.name, self.module, self.node, self.line, self.owner = \
            kind, name, module, node, line, owner
        self.sites = sites  # a wrapper's calls of this binding; None: the binding itself

    @property
    def is_binding(self) -> bool:
        return self.kind != "py"

    def key(self) -> tuple:
        return (self.kind, self.name, self.module.dotted if self.module else "", self.line)


def c_path(kind: str, name: str) -> str:
    if kind == FUNCTION:
        return f"torch._C._VariableFunctions.{name}"
    if kind == METHOD:
        return f"torch._C.TensorBase.{name}"
    return f"{C_MODULES[kind]}.{name}"


def _stem(name: str) -> str:
    return _PREFIX.sub("", name)


class _PythonLayer:
    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.modules: dict[str, _PyModule] = {}
        for dotted, rel in _PY_MODULES.items():
            path = root / rel
            try:
                tree = ast.parse(path.read_bytes(), filename=rel)
            except OSError:
                problems.append(Problem(Location(rel), "", "file not found: its Python-level "
                                        "bindings are not modeled", "warning"))
                continue
            except (SyntaxError, ValueError) as e:
                problems.append(Problem(Location(rel, getattr(e, "lineno", 0) or 0), "",
                                        f"cannot parse: {e}", "error"))
                continue
            self.modules[dotted] = _PyModule(dotted, rel, tree)
        self.tensor_body: dict[str, tuple[str, ast.AST, int]] = {}
        self.tensor_module = self.modules.get("torch._tensor")
        if self.tensor_module:
            cls = self.tensor_module.symbols.get("Tensor")
            if cls and cls[0] == "class":
                fake = _PyModule.__new__(_PyModule)
                fake.symbols, fake.imports, fake.order = {}, {}, {}
                fake.all, fake.star_imports = None, []
                for stmt in cls[1].body:  # type: ignore[attr-defined]
                    _PyModule._statement(fake, stmt, "torch")
                self.tensor_body = fake.symbols
        self._overriding: set[str] = set()
        self.torch_overrides, self.private_ops = self._torch_namespace()

    def plain_alias(self, kind: str, name: str) -> bool:
        """Whether the Python layer re-assigns torch.X / torch.Tensor.X to the very binding."""
        if kind == FUNCTION:
            targets = self.resolve_dotted(f"torch.{name}")
        elif self.tensor_module is not None and name in self.tensor_body:
            entry = self.tensor_body[name]
            if entry[0] != "expr":
                return False
            targets = self.resolve_expr(self.tensor_module, entry[1])
        else:
            return True
        return len(targets) == 1 and (targets[0].kind, targets[0].name) == (kind, name)

    # which `torch.X` are not the _VariableFunctions binding
    def _torch_namespace(self) -> tuple[dict[str, tuple[_PyModule, str]], set[str]]:
        overrides: dict[str, tuple[_PyModule, str]] = {}
        private: set[str] = set()
        init = self.modules.get("torch")
        loop_line = 0
        if init:
            ops = init.symbols.get("PRIVATE_OPS")
            if ops and ops[0] == "expr":
                private = set(_str_list(ops[1]) or [])
                loop_line = ops[2]
            for name, line in init.order.items():
                if line > loop_line and not name.startswith("__") \
                        and init.symbols.get(name, ("import",))[0] in ("def", "class", "import"):
                    overrides[name] = (init, name)
            star_sources = [m for m, line in init.star_imports if line > loop_line]
        else:
            star_sources = ["torch.functional"]
        for source in star_sources:
            mod = self.modules.get(source)
            if mod is None:
                continue
            for name in mod.all if mod.all is not None else \
                    [n for n in mod.symbols if not n.startswith("_")]:
                overrides[name] = (mod, name)
        return overrides, private

    # --- resolution -----------------------------------------------------------------------

    def dotted(self, module: _PyModule, expr: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        head = module.imports.get(expr.id)
        if head is None and expr.id == "Tensor" and module.dotted == "torch._tensor":
            head = "torch.Tensor"
        if head is None:
            if parts and expr.id in module.symbols:
                return None
            head = expr.id if expr.id == "torch" else None
        if head is None:
            return None
        return ".".join([head] + parts[::-1])

    def resolve_expr(self, module: _PyModule, expr: ast.AST, depth: int = 0) -> list[_Target]:
        if depth > _RESOLVE_DEPTH:
            return []
        if isinstance(expr, ast.Call):
            fname = expr.func.attr if isinstance(expr.func, ast.Attribute) else \
                expr.func.id if isinstance(expr.func, ast.Name) else ""
            if fname in _TRANSPARENT and expr.args:
                return self.resolve_expr(module, expr.args[_TRANSPARENT[fname]], depth + 1)
            if fname == "boolean_dispatch":
                branches = [k.value for k in expr.keywords if k.arg in ("if_true", "if_false")]
                branches += expr.args[3:5]
                out: list[_Target] = []
                for b in branches:
                    out += self.resolve_expr(module, b, depth + 1)
                return out
            return []
        if isinstance(expr, ast.Name) and expr.id in module.symbols:
            return self.resolve_symbol(module, expr.id, depth + 1)
        d = self.dotted(module, expr)
        return self.resolve_dotted(d, depth + 1) if d else []

    def resolve_symbol(self, module: _PyModule, name: str, depth: int = 0,
                       symbols: dict | None = None, owner: str = "") -> list[_Target]:
        kind, node, line = (symbols or module.symbols)[name]
        if kind == "def":
            return [_Target("py", name, module, node, line, owner)]
        if kind == "expr":
            return self.resolve_expr(module, node, depth + 1)
        return []

    def tensor_attr(self, name: str, depth: int = 0) -> list[_Target]:
        if name in self.tensor_body and self.tensor_module:
            return self.resolve_symbol(self.tensor_module, name, depth + 1, self.tensor_body,
                                       owner="Tensor")
        return [_Target(METHOD, name)]

    def resolve_dotted(self, d: str, depth: int = 0) -> list[_Target]:
        if depth > _RESOLVE_DEPTH:
            return []
        for prefix, kind in (("torch._C._VariableFunctions.", FUNCTION), ("torch._VF.", FUNCTION),
                             ("torch._C.TensorBase.", METHOD), ("torch._C._TensorBase.", METHOD)):
            if d.startswith(prefix) and "." not in d[len(prefix):]:
                return [_Target(kind, d[len(prefix):])]
        for kind, cmod in C_MODULES.items():
            if d.startswith(cmod + ".") and "." not in d[len(cmod) + 1:]:
                return [_Target(kind, d[len(cmod) + 1:])]
        for prefix in ("torch.Tensor.", "torch._tensor.Tensor.", "torch._C._TensorMeta."):
            if d.startswith(prefix) and "." not in d[len(prefix):]:
                return self.tensor_attr(d[len(prefix):], depth)
        mod_name, _, attr = d.rpartition(".")
        if mod_name == "torch":
            if attr in self.torch_overrides and attr not in self._overriding:
                # `istft = _add_docstr(torch.istft, ...)` in torch/functional.py names the
                # binding it replaces: inside, torch.X is the _VariableFunctions one again
                mod, name = self.torch_overrides[attr]
                self._overriding.add(attr)
                try:
                    if name in mod.symbols:
                        return self.resolve_symbol(mod, name, depth + 1)
                    if name in mod.imports and mod.imports[name] != d:
                        return self.resolve_dotted(mod.imports[name], depth + 1)
                    return []
                finally:
                    self._overriding.discard(attr)
            return [_Target(FUNCTION, attr)]
        mod = self.modules.get(mod_name)
        if mod is not None and mod_name != "torch":
            if attr in mod.symbols:
                return self.resolve_symbol(mod, attr, depth + 1)
            if attr in mod.imports:
                return self.resolve_dotted(mod.imports[attr], depth + 1)
        return []

    def reached(self, target: _Target, depth: int = 0,
                seen: set | None = None) -> list[_Target]:
        """The C bindings a Python function's body calls, through other parsed functions."""
        seen = seen if seen is not None else set()
        if target.key() in seen or depth > _WRAPPER_DEPTH:
            return []
        seen.add(target.key())
        node, module = target.node, target.module
        assert module is not None and node is not None
        args = node.args.posonlyargs + node.args.args  # type: ignore[attr-defined]
        first = args[0].arg if args else None
        found: list[_Target] = []
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            bound = True
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id == first:
                hits = self.tensor_attr(func.attr)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) \
                    and isinstance(func.value.func, ast.Name) and func.value.func.id == "super":
                hits = [_Target(METHOD, func.attr)]
            else:
                hits = self.resolve_expr(module, func)
                bound = False
            site = _Site.of(call, bound)
            for h in hits:
                if h.is_binding:
                    found.append(_Target(h.kind, h.name, sites=(site,)))
                    continue
                for inner in self.reached(h, depth + 1, seen):
                    # out= gets through only when this call hands it on too
                    inner.sites = tuple(replace(x, out=x.out and site.out)
                                        for x in inner.sites or ())
                    found.append(inner)
        return found

    def public(self, module: _PyModule, name: str, symbols: dict | None = None,
               owner: str = "") -> tuple[list[_Target], str]:
        """The C bindings public `name` is (alias) or wraps, with how we know."""
        kind, node, line = (symbols or module.symbols)[name]
        where = f"{module.rel}:{line}"
        if kind == "expr":
            targets = self.resolve_expr(module, node)
            if len(targets) == 1 and targets[0].is_binding:
                return targets, f"alias in {where}"
        elif kind == "def":
            targets = [_Target("py", name, module, node, line, owner)]
        else:
            return [], ""
        calls: dict[tuple[str, str], _Target] = {}
        for t in targets:
            for b in ([t] if t.is_binding else self.reached(t)):
                if b.name == name or _stem(b.name) == _stem(name):
                    if (b.kind, b.name) in calls and b.sites is not None:
                        b.sites = (calls[(b.kind, b.name)].sites or ()) + b.sites
                    calls[(b.kind, b.name)] = b
        if len(calls) == 1:
            return list(calls.values()), f"wrapper in {where}"
        return [], ""


def python_bindings(ops: Sequence[OperatorSchema], root: Path, layout: str
                    ) -> tuple[list[PythonBinding], list[Problem]]:
    """One PythonBinding per (public callable, overload); problems found on the way."""
    problems: list[Problem] = []
    root = Path(root)
    if layout not in ("package", "checkout"):
        problems.append(Problem(Location(str(root)), "", f"unknown layout {layout!r}; "
                                "reading it as a checkout", "warning"))
        layout = "checkout"
    rules = _CodegenRules(root, layout, problems)
    table = generated_bindings(ops, rules, problems)
    _check_deprecated(rules, root, {n for _, n in table}, problems)
    py = _PythonLayer(root, problems)

    out: dict[tuple[str, str], str] = {}

    def emit(callable_: str, entries: Iterable[tuple[OperatorSchema, str]],
             via: str | None = None) -> None:
        for op, op_via in entries:
            out.setdefault((callable_, op.op), via or op_via)

    # 1. the generated C bindings, under their public alias when it is plain
    for (kind, name), entries in table.items():
        if kind == FUNCTION:
            plain = not name.startswith("__") and name not in py.private_ops \
                and (name not in py.torch_overrides or py.plain_alias(kind, name))
            emit(f"torch.{name}" if plain else c_path(kind, name), entries)
        elif kind == METHOD:
            plain = name not in py.tensor_body or py.plain_alias(kind, name)
            emit(f"torch.Tensor.{name}" if plain else c_path(kind, name), entries)
        else:
            emit(c_path(kind, name), entries)

    def emit_public(callable_: str, targets: list[_Target], via: str) -> None:
        for t in targets:
            entries = [e for e in table.get((t.kind, t.name), [])
                       if t.sites is None or any(x.accepts(e[0], t.kind) for x in t.sites)]
            emit(callable_, entries, f"{via} ({c_path(t.kind, t.name)})")

    # 2. torch.X replaced by Python (torch.functional, defs in torch/__init__.py)
    for name, (mod, sym) in sorted(py.torch_overrides.items()):
        if name.startswith("_"):
            continue
        if sym in mod.symbols:
            targets, via = py.public(mod, sym)
        elif sym in mod.imports:
            targets = py.resolve_dotted(mod.imports[sym])
            targets = [t for t in targets if t.is_binding]
            via = f"alias in {mod.rel}"
        else:
            continue
        emit_public(f"torch.{name}", targets, via)

    # 3. torch.Tensor methods defined in Python
    if py.tensor_module is not None:
        for name in py.tensor_body:
            if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                continue
            targets, via = py.public(py.tensor_module, name, py.tensor_body, owner="Tensor")
            emit_public(f"torch.Tensor.{name}", targets, via)

    # 4. the public Python namespaces
    for dotted in _PUBLIC_NAMESPACES:
        mod = py.modules.get(dotted)
        if mod is None:
            continue
        for name in sorted(mod.symbols):
            if name.startswith("_"):
                continue
            targets, via = py.public(mod, name)
            emit_public(f"{dotted}.{name}", targets, via)

    # 5. hand-written C++ bindings, checked against their method tables where the tree has them
    by_name: dict[str, list[OperatorSchema]] = defaultdict(list)
    for op in ops:
        by_name[op.name].append(op)
    tables: dict[str, str | None] = {}
    for callable_, cpp, name, overloads in _HAND_WRITTEN:
        rel = _hand_written_path(cpp, layout)
        if rel is not None and rel not in tables:
            try:
                tables[rel] = (root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                tables[rel] = None
                problems.append(Problem(Location(rel), "", "file not found: hand-written "
                                        "bindings taken from torchatlas's own table", "warning"))
        text = tables.get(rel) if rel else None
        short = callable_.rsplit(".", 1)[1]
        if text is not None and not re.search(r'\{\s*"' + re.escape(short) + '"', text):
            continue
        via = f"hand-written binding ({rel or cpp})"
        emit(callable_, [(op, via) for op in by_name.get(name, [])
                         if overloads is None or op.overload in overloads])

    bindings = [PythonBinding(c, op, via) for (c, op), via in sorted(out.items())]
    return bindings, problems
