"""Point queries over an index: look an operator up by any name a person would type.

`aten::add.Tensor`, `add.Tensor`, `add` (all overloads), `aten::mm` (the default overload),
`torch.add` / `torch.Tensor.add_` (the overloads a Python callable binds). Unknown names raise
NotFound with the closest spellings.
"""

from __future__ import annotations

import difflib

from .errors import NotFound
from .store import Index


def normalize(name: str) -> str:
    name = name.strip()
    if name.startswith("torch.ops.aten."):
        name = "aten::" + name[len("torch.ops.aten."):]
    if name.endswith(".default"):
        name = name[: -len(".default")]
    return name


def resolve_ops(index: Index, name: str) -> list[str]:
    """The overloads `name` stands for, most specific first. Raises NotFound with suggestions."""
    q = normalize(name)
    if q.startswith("aten::"):
        if index.op(q) is not None:
            return [q]
        base = q[len("aten::"):]
        if "." not in base:
            ops = index.ops_named(base)
            if ops:
                return main_overload_first(ops)
    elif "." in q and not q.startswith("torch."):
        if index.op("aten::" + q) is not None:
            return ["aten::" + q]
    elif not q.startswith("torch."):
        ops = index.ops_named(q)
        if ops:
            return main_overload_first(ops)
    bound = ops_bound_to(index, q)
    if bound:
        return main_overload_first(bound)
    suggestions = suggest(index, q)
    hint = f"did you mean {', '.join(suggestions)}? " if suggestions else ""
    if q.startswith("torch."):
        from .public_names import definition_kind, reexported
        code = q if definition_kind(index, q) else reexported(index, q)
        if code:  # torch.nn.Linear: Python code, which reaches operators through its calls
            hint += (f"{q} is Python code ({code}), not an operator: `torchatlas trace {q}` follows its calls to the "
                     "operator they reach")
    raise NotFound(f"no operator named {name!r} in this index", suggestions, hint=hint.strip())


def main_overload_first(ops: list[str]) -> list[str]:
    """The overloads a reader means first: the default one, then `.Tensor`, then the others, the
    `out=` variants last (`add` -> add.Tensor, add.Scalar, add.out, add.Scalar_out)."""
    def rank(op: str) -> tuple:
        overload = op.split(".", 1)[1] if "." in op.split("::", 1)[-1] else ""
        return (0 if overload == "" else 1 if overload == "Tensor" else 3 if overload.endswith("out") else 2, op)
    return sorted(ops, key=rank)


def ops_bound_to(index: Index, callable_name: str) -> list[str]:
    rows = index._con.execute(
        "SELECT o.name FROM nodes b JOIN edges e ON e.src = b.id AND e.kind = 'binds' "
        "JOIN nodes o ON o.id = e.dst WHERE b.kind = 'python_binding' AND b.name = ? ORDER BY o.name",
        (callable_name,)).fetchall()
    return [r[0] for r in rows]


def suggest(index: Index, q: str, limit: int = 5) -> list[str]:
    """Operators a typo away from `q`: by whole name with its overload when one is given (add.Tensr
    -> aten::add.Tensor), else by name, each name as the overload a reader means first (addd ->
    aten::add.Tensor; matching `addd` against `add.Tensor` whole missed add for addr and addmv)."""
    base = q.split("::", 1)[-1]
    if base.startswith("torch."):
        base = base.rsplit(".", 1)[-1]
    pool = index.all_op_names()
    if "." in base:
        by_short = {p.split("::", 1)[1]: p for p in pool}
        hits = difflib.get_close_matches(base, list(by_short), n=limit, cutoff=0.6)
        if hits:
            return [by_short[h] for h in hits]
        base = base.split(".", 1)[0]
    by_name: dict[str, list[str]] = {}
    for p in pool:
        by_name.setdefault(p.split("::", 1)[1].split(".", 1)[0], []).append(p)
    names = difflib.get_close_matches(base, list(by_name), n=limit, cutoff=0.6)
    if not names:
        names = sorted((n for n in by_name if n.startswith(base)), key=len)[:limit]
    return [main_overload_first(by_name[n])[0] for n in names]
