"""Where a kernel is declared and defined, on sources that have the body and on those that do not.

The installed package ships headers, not the .cpp files the kernels live in. What it does ship,
per operator, is torchgen's `torch/include/ATen/ops/<op>_native.h`: the at::native declaration
of every kernel of that operator (`TORCH_API at::Tensor mkldnn_add(...)`, `struct TORCH_API
structured_ufunc_add_CPU`). So a kernel gets:

- `defined_at`: its body, only when the index has one under the kernel's own qualified name
  (`at::native::add_out` in a .cpp of a checkout); never a same-named method of another class
  (`at::Tensor::add` in TensorBody.h) nor a bare declaration;
- `declared_at`: its line in `<op>_native.h`, read at query time with one regex pass over that
  one small header (a few KB; cached per process). The 7,000 per-op headers stay out of the
  bulk code index (they restate native_functions.yaml, and would cost a third more build time).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

_DECL = re.compile(r"^\s*(?:TORCH_API\s+)?(?:struct\s+TORCH_API\s+(\w+)\b|(?!struct\b)[^(;]*?\b(\w+)\s*\()")

# file extensions whose definitions are bodies a reader can open
_BODY_FILES = (".cpp", ".cc", ".cu", ".mm", ".h", ".cuh", ".hpp")


@lru_cache(maxsize=1024)
def _declarations(path: str) -> dict[str, int] | None:
    """{declared name: first line} of one `<op>_native.h`, or None when there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    out: dict[str, int] = {}
    for i, text in enumerate(lines, 1):
        if "TORCH_API" not in text:
            continue
        m = _DECL.match(text)
        if m:
            out.setdefault(m.group(1) or m.group(2), i)
    return out


AUGMENTED_ASSIGNMENT_NAMES = ("add", "sub", "mul", "div", "mod", "pow", "lshift", "rshift", "and", "xor", "or")


def root_name(name: str) -> str:
    """torchgen's root name of an operator (BaseOperatorName.parse's `base`, what the per-op headers
    are named after): add_ -> add, __iand__ -> and, __lshift__ -> lshift, foo_functional -> foo."""
    m = re.match(r"^__([^_]+)__$", name)
    if m:
        base = m.group(1)
        return base[1:] if base.startswith("i") and base[1:] in AUGMENTED_ASSIGNMENT_NAMES else base
    base = name[:-1] if name.endswith("_") else name
    return base[:-len("_functional")] if base.endswith("_functional") else base


def native_header(op: str) -> str:
    """`aten::add_.Tensor` -> `torch/include/ATen/ops/add_native.h` (relative to a package root)."""
    return f"torch/include/ATen/ops/{root_name(op.split('::', 1)[-1].split('.', 1)[0])}_native.h"


def declared_name(kernel: str) -> str | None:
    """The name `<op>_native.h` declares a dispatch table's kernel under, or None when it is not an
    at::native kernel (VariableType::, Python functions, fallbacks)."""
    if "::" not in kernel:
        if kernel.startswith("ufunc_"):  # ufunc_add_CPU: a structured kernel torchgen generates
            return "structured_" + kernel
        if "." in kernel:  # a Python function (torch._meta_registrations.meta_mm)
            return None
        return kernel  # native_functions.yaml writes at::native kernels bare: add_sparse
    if not (kernel.startswith("at::native::") or kernel.startswith("native::")):
        return None
    return kernel.rsplit("::", 1)[-1]


def declared_at(root: str, op: str, kernel: str | None) -> str | None:
    """`path:line` of `kernel`'s declaration in its operator's `<op>_native.h`, or None (a checkout
    has no generated headers; a kernel not declared there)."""
    if not kernel:
        return None
    name = declared_name(kernel)
    if name is None:
        return None
    rel = native_header(op)
    decls = _declarations(os.path.join(root, rel))
    if not decls:
        return None
    for n in (name, "structured_" + name):  # a structured kernel is declared as its struct
        if n in decls:
            return f"{rel}:{decls[n]}"
    return None


def is_kernel_body(kernel: str, qualname: str, path: str, signature: str, line: int, end_line: int) -> bool:
    """Whether a definition row of the code index is `kernel`'s body: the same qualified name (a
    kernel is registered by its at::native name, so a same-named member of another class or
    namespace is something else), in a C++ file, with a body (not a `;`-terminated declaration)."""
    if qualname != kernel and "at::" + qualname != kernel:
        return False
    if not path.endswith(_BODY_FILES):
        return False
    return end_line > line or not signature.rstrip().endswith(";")
