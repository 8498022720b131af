"""The graph model: typed nodes and edges, each with a Location.

Every fact torchatlas knows is one of these frozen values. Parsers produce them, the store keeps
them, queries and presenters read them. Keeping them immutable and free of I/O means a parser can
run in a worker process and hand its facts back by pickling, and a test can build them by hand.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    """A place in the source: a path relative to the source root, and a 1-based line (0: unknown)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    @classmethod
    def parse(cls, text: str) -> "Location":
        path, sep, line = text.rpartition(":")
        if sep and line.isdigit():
            return cls(path, int(line))
        return cls(text, 0)


class NodeKind(str, enum.Enum):
    """What a node stands for. The value is what the store and `--json` spell."""

    OPERATOR = "operator"  # aten::add (all overloads)
    OVERLOAD = "overload"  # aten::add.Tensor
    DISPATCH_KEY = "dispatch_key"
    KERNEL = "kernel"  # a C++ function a dispatch entry names (at::native::add_out)
    YAML_ENTRY = "yaml_entry"  # one entry of native_functions.yaml / derivatives.yaml / tags.yaml
    DERIVATIVE = "derivative"  # one formula of derivatives.yaml
    AUTOGRAD_NODE = "autograd_node"  # AddBackward0
    PYTHON_BINDING = "python_binding"  # torch.add, torch.Tensor.add
    GENERATED_FILE = "generated_file"  # RegisterCPU.cpp, VariableType.cpp
    SOURCE_FILE = "source_file"
    CPP_SYMBOL = "cpp_symbol"
    PY_SYMBOL = "py_symbol"
    TAG = "tag"


class EdgeKind(str, enum.Enum):
    """How two nodes relate. `dispatches_to` carries the dispatch key in its attributes."""

    DECLARES = "declares"  # yaml entry -> overload
    DISPATCHES_TO = "dispatches_to"  # overload -> kernel, attrs: key
    DELEGATES_TO = "delegates_to"  # add.Tensor -> add.out (structured_delegate)
    IMPLEMENTED_BY = "implemented_by"  # kernel -> cpp symbol
    DEFINED_IN = "defined_in"  # symbol -> source file
    DIFFERENTIATES = "differentiates"  # derivative -> overload
    BINDS = "binds"  # python binding -> overload
    GENERATED_INTO = "generated_into"  # overload -> generated file
    REGISTERS = "registers"  # file -> overload, attrs: key
    HAS_OVERLOAD = "has_overload"  # operator -> overload
    TAGGED = "tagged"  # overload -> tag
    AUTOGRAD_NODE_OF = "autograd_node_of"  # derivative -> autograd node


@dataclass(frozen=True)
class Node:
    kind: NodeKind
    name: str
    location: Location | None = None
    attrs: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.kind.value} {self.name}{where}"


@dataclass(frozen=True)
class Edge:
    kind: EdgeKind
    src: tuple[NodeKind, str]
    dst: tuple[NodeKind, str]
    location: Location | None = None
    attrs: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.src[1]} -{self.kind.value}-> {self.dst[1]}"


@dataclass(frozen=True)
class Problem:
    """Bad input found while indexing: where, which entry, what is wrong. Counted, never fatal."""

    location: Location
    entry: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        entry = f" [{self.entry}]" if self.entry else ""
        return f"{self.location}{entry}: {self.message}"


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    default: str | None = None
    alias: str | None = None  # "a!", "a", ...; None when the type has no alias annotation
    kwarg_only: bool = False
    out: bool = False


@dataclass(frozen=True)
class OperatorSchema:
    """One overload of one operator as native_functions.yaml declares it."""

    name: str  # "add"
    overload: str  # "Tensor", "" for the default overload
    schema: str  # the full `func:` string
    arguments: tuple[Argument, ...]
    returns: tuple[Argument, ...]
    location: Location
    variants: tuple[str, ...] = ("function",)
    dispatch: tuple[tuple[str, str], ...] = ()  # (key, kernel), as the YAML says
    structured: bool = False
    structured_keys: tuple[str, ...] = ()  # dispatch keys whose kernel is structured (TORCH_IMPL_FUNC)
    structured_delegate: str | None = None
    structured_inherits: str | None = None
    precomputed: bool = False
    autogen: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    python_module: str | None = None
    device_check: str | None = None
    device_guard: bool = True
    manual_kernel_registration: bool = False
    manual_cpp_binding: bool = False
    category_override: str | None = None
    cpp_no_default_args: tuple[str, ...] = ()
    has_composite_implicit_autograd_kernel: bool = False
    has_composite_implicit_autograd_nested_tensor_kernel: bool = False
    has_composite_explicit_autograd_kernel: bool = False
    has_composite_explicit_autograd_non_functional_kernel: bool = False
    schema_kind: str = "functional"  # torchgen SchemaKind: functional, inplace, out, mutable, scratch
    is_abstract: bool = True  # torchgen: has a dispatch section beyond CompositeImplicitAutograd
    generated: bool = False  # created by autogen / functionalization, not written in the YAML
    is_view: bool = False  # aliased arguments, none written (OpOverload.is_view in torch/_ops.py)
    is_inplace_or_out: bool = False  # mutates an argument

    @property
    def op(self) -> str:
        """The dispatcher's spelling: aten::add.Tensor, aten::mm for the default overload."""
        return f"aten::{self.name}.{self.overload}" if self.overload else f"aten::{self.name}"

    @property
    def short(self) -> str:
        return f"{self.name}.{self.overload}" if self.overload else self.name

    def kernel_for(self, key: str) -> str | None:
        for k, v in self.dispatch:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class DerivativeFormula:
    """One input's (or output's, for forward mode) formula in a derivatives.yaml entry."""

    variables: tuple[str, ...]  # the names it differentiates, e.g. ("self", "other")
    formula: str
    forward: bool = False


@dataclass(frozen=True)
class Derivative:
    """One derivatives.yaml entry, and the autograd node codegen makes of it."""

    name: str  # schema string the entry matches, e.g. "add.Tensor(Tensor self, ...)"
    op: str  # dispatcher spelling of the overload it covers: aten::add.Tensor
    node: str | None  # AddBackward0, or None when no backward node is generated
    formulas: tuple[DerivativeFormula, ...]
    output_differentiability: tuple[bool, ...] | None
    location: Location
    dispatch_key: str = "Default"  # "Default" or "AutogradNestedTensor" for dispatch: sections


@dataclass(frozen=True)
class DispatchEntry:
    """What the dispatcher runs for one (overload, runtime key), and why.

    kind is one of KINDS. `via` is the provenance chain, human-readable, first hop first.
    `defined_at` is the kernel's body when the source has it; `declared_at` its at::native
    declaration in the installed package's ATen/ops/<op>_native.h (see indexes/native_decls.py).
    """

    op: str
    key: str
    kind: str
    registered_in: str | None
    kernel: str | None
    defined_at: str | None = None
    via: tuple[str, ...] = ()
    declared_at: str | None = None

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "registered_in": self.registered_in,
            "kernel": self.kernel,
            "defined_at": self.defined_at,
            "declared_at": self.declared_at,
            "via": list(self.via),
        }


KINDS = (
    "kernel",
    "composite_explicit",
    "composite_explicit_nonfunctional",
    "composite_implicit",
    "composite_implicit_nested",
    "autograd",
    "fallback",
    "fallthrough",
    "none",
)


@dataclass(frozen=True)
class SourceInfo:
    """Which source an index was built from."""

    kind: str  # "installed" | "tree" | "git"
    root: str
    version: str
    commit: str | None = None
    layout: str = "checkout"  # "checkout" (aten/src/...) or "package" (site-packages torch + torchgen)

    def as_json(self) -> dict:
        return {"kind": self.kind, "root": self.root, "version": self.version,
                "commit": self.commit, "layout": self.layout}


@dataclass(frozen=True)
class PythonBinding:
    """A public Python callable that reaches an operator overload."""

    callable: str  # torch.add, torch.Tensor.add, torch.nn.functional.gelu
    op: str  # aten::add.Tensor
    via: str = ""  # how we know: "variants: function", "python_module: nn", "wrapper in torch/nn/functional.py"


@dataclass(frozen=True)
class Registration:
    """A hand-written registration found outside codegen (C++ TORCH_LIBRARY_IMPL, Python torch.library)."""

    op: str  # aten::lstm.input, or "*" for a fallback
    key: str  # dispatch key or alias key
    kernel: str  # C++ function or Python function name
    kind: str  # "impl" | "fallback" | "fallthrough" | "python_meta" | "python_impl"
    location: Location
    detail: str = ""


@dataclass(frozen=True)
class IndexSummary:
    source: SourceInfo
    counts: dict = field(default_factory=dict, hash=False, compare=False)
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0
