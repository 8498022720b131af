"""Public dotted names as Python resolves them, at query time: `torch.nn.Linear` is
torch.nn.modules.linear.Linear because torch/nn/__init__.py star-imports what its modules import;
`torch.nn.Linear.parameters` is Module.parameters because Linear's bases give it that member.

A learner types the name they use (`torch.nn.Linear`, `torch.optim.Adam.zero_grad`), the index
holds definitions under the module that defines them: this follows the package's module-level
imports (the `includes` rows, aliases and star imports) and a class's bases (its `bases` text,
each base looked up as its module binds it, in C3 order) from one to the other, with a few point
reads per step instead of the link step's whole-index tables.
"""

from __future__ import annotations

import re

from .store import Index


def module_file(index: Index, module: str) -> int | None:
    """The file id of a Python module (`torch.nn` -> torch/nn/__init__.py), or None."""
    base = module.replace(".", "/")
    row = index._con.execute("SELECT id FROM files WHERE path IN (?, ?) ORDER BY path LIMIT 1",
                             (base + "/__init__.py", base + ".py")).fetchone()
    return row[0] if row else None


def reexported(index: Index, dotted: str, depth: int = 6, members: bool = True) -> str | None:
    """The qualname a public dotted name stands for, following the package's module-level imports
    as Python does: `torch.nn.Linear` -> torch/nn/__init__.py's `from .modules import *` ->
    torch/nn/modules/__init__.py's `from .linear import Linear` -> torch.nn.modules.linear.Linear;
    and a class's members along its bases, as attribute lookup does: `torch.nn.Linear.to` ->
    torch.nn.modules.module.Module.to, `torch.Tensor.add` -> torch._C.TensorBase.add (the stub).
    None when neither leads to a definition (the caller then matches by shape). `members=False`:
    imports only (how a base class is found, so an MRO never needs another MRO)."""
    if _is_def(index, dotted):
        return None  # nothing to follow: the name is its own definition
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
        module = ".".join(parts[:cut])
        fid = module_file(index, module)
        if fid is None:
            continue
        name, rest = parts[cut], parts[cut + 1:]
        for target in _bound_in_module(index, fid, module, name):
            full = ".".join([target] + rest)
            if _is_def(index, full):
                return _through_alias(index, full, depth)
            found = _inherited(index, full, depth - 1) if members else None
            if found:
                return found
            if depth > 0 and full != dotted:
                found = reexported(index, full, depth - 1, members)
                if found:
                    return found
        return None
    return _inherited(index, dotted, depth - 1) if members else None


_ALIAS = re.compile(r"\s*[A-Za-z_]\w*\s*(?::[^=]*)?=\s*([A-Za-z_][\w.]*)\s*\Z")


def _through_alias(index: Index, qualname: str, depth: int) -> str:
    """A module-level variable that only names another definition (`get_worker_info =
    _utils.worker.get_worker_info`, torch/utils/data/dataloader.py) -> that definition, as the
    module's own imports take the name; anything else is its own answer."""
    row = index._con.execute(
        "SELECT d.signature, f.id, f.path FROM defs d JOIN files f ON f.id = d.file_id WHERE d.qualname = ? AND "
        "d.kind = 'variable' AND f.lang = 'python' LIMIT 1", (qualname,)).fetchone()
    m = _ALIAS.match(row[0] or "") if row and depth > 0 else None
    if m is None:
        return qualname
    from .py_parser import module_name
    signature, fid, path = row
    module = module_name(path)[0]
    if qualname.rpartition(".")[0] != module:
        return qualname  # a class attribute or a local: what it holds is not the module's to say
    head, _, tail = m.group(1).partition(".")
    for target in _bound_in_module(index, fid, module, head):
        full = f"{target}.{tail}" if tail else target
        if full == qualname:
            continue
        if _is_def(index, full):
            return _through_alias(index, full, depth - 1)
        found = reexported(index, full, depth - 1, members=False)
        if found:
            return found
    return qualname


def definition_kind(index: Index, qualname: str) -> str | None:
    """The kind of the definition named exactly `qualname` (class, function, method, ...), or None."""
    row = index._con.execute("SELECT kind FROM defs WHERE qualname = ? LIMIT 1", (qualname,)).fetchone()
    return row[0] if row else None


def _is_def(index: Index, qualname: str) -> bool:
    return definition_kind(index, qualname) is not None


def _bound_in_module(index: Index, fid: int, module: str, name: str) -> list[str]:
    """What `name` is bound to at module level of `module` (file `fid`): its own definition, else
    the last import of that name, else what its star imports may give it."""
    if _is_def(index, f"{module}.{name}"):
        return [f"{module}.{name}"]
    row = index._con.execute("SELECT target FROM includes WHERE file_id = ? AND alias = ? AND "
                             "(scope IS NULL OR scope = '') ORDER BY line DESC LIMIT 1", (fid, name)).fetchone()
    if row:
        # `import torch.overrides` binds `torch` (the package), recorded with the module it loads
        return [name if row[0].split(".", 1)[0] == name else row[0]]
    return [t[:-2] + "." + name for (t,) in index._con.execute(
        "SELECT target FROM includes WHERE file_id = ? AND alias = '*' AND (scope IS NULL OR scope = '')", (fid,))]


def _inherited(index: Index, dotted: str, depth: int) -> str | None:
    """`Class.member` where the class does not define the member: the definition its bases give
    it, in Python's method resolution order (C3), bases spelled as the class's module imports them."""
    owner, _, member = dotted.rpartition(".")
    if not owner or depth < 0 or module_file(index, owner) is not None:
        return None  # a module's name is not a class's
    cls = owner if _class_row(index, owner) else reexported(index, owner, depth)
    if not cls or not _class_row(index, cls):
        return None
    for c in _mro(index, cls, {})[1:] if cls == owner else _mro(index, cls, {}):
        if _is_def(index, f"{c}.{member}"):
            return f"{c}.{member}"
    return None


def _mro(index: Index, cls: str, memo: dict[str, list[str]], depth: int = 0) -> list[str]:
    """`cls` and its indexed ancestors in C3 order (link_python's linearization; the bases it cannot
    resolve are left out, a cycle or a chain deeper than 40 ends there)."""
    from .link_python import _c3
    if cls in memo:
        return memo[cls]
    memo[cls] = [cls]
    bases = _bases(index, cls) if depth < 40 else []
    memo[cls] = [cls] + _c3([_mro(index, b, memo, depth + 1) for b in bases] + [bases])
    return memo[cls]


def _class_row(index: Index, qualname: str) -> tuple | None:
    return index._con.execute(
        "SELECT d.bases, f.id, f.path FROM defs d JOIN files f ON f.id = d.file_id WHERE d.qualname = ? AND "
        "d.kind = 'class' AND f.lang = 'python' ORDER BY f.path LIMIT 1", (qualname,)).fetchone()


def _bases(index: Index, cls: str) -> list[str]:
    """The classes `cls` names as its bases, each resolved in its module (its own classes, its
    imports, a package's re-exports), the unresolvable ones left out."""
    from .link_python import _split_bases
    from .py_parser import module_name
    row = _class_row(index, cls)
    if row is None or not row[0]:
        return []
    bases, fid, path = row
    module = module_name(path)[0]
    out = []
    for written in _split_bases(bases):
        if written in ("object", "Generic", "Protocol", "typing.Generic", "typing.Protocol", "ABC", "abc.ABC"):
            continue
        head, _, tail = written.partition(".")
        for target in _bound_in_module(index, fid, module, head):
            full = f"{target}.{tail}" if tail else target
            real = full if _class_row(index, full) else reexported(index, full, members=False)
            if real and _class_row(index, real):
                out.append(real)
                break
    return out
