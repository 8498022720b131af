"""Facts that the code parsers (C++ and Python) extract from one file.

A parser is a pure function `parse(path: str, data: bytes) -> FileFacts`: no I/O, no store, so it
can run in a worker process, be cached by the file's content hash, and be tested on a string.
Lines are 1-based; `end_line` is the last line of a definition's body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# slots: a parse makes ~100 of these per file (a million per tree); slotted, each costs 40% less
# to create and half the memory.


@dataclass(frozen=True, slots=True)
class Definition:
    """A named definition: function, method, class, struct, namespace, enum, macro, variable."""

    name: str  # unqualified: add_out
    qualname: str  # as qualified as the syntax says: at::native::add_out, torch.nn.Module.forward
    kind: str  # "function" | "method" | "class" | "struct" | "namespace" | "enum" | "macro" | "variable"
    line: int
    end_line: int
    signature: str = ""  # one line, for display
    bases: tuple[str, ...] = ()  # classes: base classes as written


@dataclass(frozen=True, slots=True)
class Include:
    """`#include <ATen/Tensor.h>` (C++) or `import torch.nn` / `from x import y` (Python)."""

    target: str
    line: int
    system: bool = False  # C++ <...> vs "..."; Python: False
    # Python: the local name the import binds ("F" for `import torch.nn.functional as F`, "torch"
    # for `import torch.nn`, "*" for a star import) and the qualname of the enclosing def ("" at
    # module level): what the link step (link_python) resolves names through.
    alias: str = ""
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Reference:
    """A use of a name: a call (kind "call") or another mention (kind "ref").

    `name` is as qualified as the syntax says (at::add, self.foo, torch.add); `scope` is the
    qualname of the enclosing definition ("" at file level); `nargs` the number of arguments a C++
    call passes (None when not a call or not known), which picks the overload of a resolved name
    (`c10::irange(n)` is the one-parameter `irange`).
    """

    name: str
    line: int
    scope: str = ""
    kind: str = "call"
    nargs: int | None = field(default=None, compare=False)  # a detail of the call, not its identity


@dataclass(frozen=True, slots=True)
class CodeRegistration:
    """One of PyTorch's registration idioms, as a first-class fact.

    kind: TORCH_IMPL_FUNC, TORCH_META_FUNC, TORCH_META_FUNC2, TORCH_PRECOMPUTE_META_FUNC,
    DECLARE_DISPATCH, DEFINE_DISPATCH, REGISTER_DISPATCH (and REGISTER_ARCH_DISPATCH,
    REGISTER_AVX2_DISPATCH, ...), TORCH_LIBRARY, TORCH_LIBRARY_FRAGMENT, TORCH_LIBRARY_IMPL,
    m.def, m.impl, m.fallback, C10_REGISTER_*; Python: register_decomposition, register_meta,
    torch.library.define/impl/custom_op/register_fake/register_autograd, aten_ref (torch.ops.aten.X).

    `name` is the main subject (the op, stub, or library namespace); `target` the implementation
    (kernel function, stub kernel), `key` the dispatch key where the idiom names one.
    """

    kind: str
    name: str
    line: int
    target: str = ""
    key: str = ""
    scope: str = ""  # enclosing TORCH_LIBRARY_IMPL block, e.g. "aten, CPU", or enclosing function


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: str  # relative to the source root
    language: str  # "cpp" | "python"
    definitions: tuple[Definition, ...] = ()
    includes: tuple[Include, ...] = ()
    references: tuple[Reference, ...] = ()
    registrations: tuple[CodeRegistration, ...] = ()
    parse_errors: int = 0  # syntax error nodes the parser recovered from


_new = object.__new__
_REFERENCE_FIELDS = ("name", "line", "scope", "kind", "nargs")


def _reference_factory():
    """`Reference(name, line, scope)` without the frozen-dataclass `__init__` (which goes through
    `object.__setattr__` per field and costs ~2x more; hundreds of thousands are built per tree):
    the slots are filled through their descriptors. The result is an ordinary Reference: equal,
    hashable and picklable like one built normally. Falls back to the constructor if Reference
    changes shape."""
    if tuple(getattr(Reference, "__dataclass_fields__", {})) != _REFERENCE_FIELDS or \
            tuple(getattr(Reference, "__slots__", ())) != _REFERENCE_FIELDS:
        return lambda name, line, scope, nargs=None: Reference(name, line, scope, nargs=nargs)
    set_name, set_line, set_scope, set_kind, set_nargs = (getattr(Reference, f).__set__ for f in _REFERENCE_FIELDS)

    def new_reference(name: str, line: int, scope: str, nargs: int | None = None) -> Reference:
        r = _new(Reference)
        set_name(r, name)
        set_line(r, line)
        set_scope(r, scope)
        set_kind(r, "call")
        set_nargs(r, nargs)
        return r
    return new_reference


new_reference = _reference_factory()
