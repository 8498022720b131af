"""Point lookups over the code index and the graph, for the layers above (explorer, tours, contrib).

Only `indexes/` knows the SQLite schema: a presenter that needs the files of the index, the
definitions in one file, what a Python callable binds or which operators name a kernel asks here
and gets frozen values with `Location`s back, never rows. Each function is one indexed query
(files.path, defs.file_id, defs.name, nodes.name, dispatch.kernel), a few milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .model import Location
from .store import Index


@dataclass(frozen=True)
class Definition:
    """One definition of the code index: what it is, where it starts, the line its body ends on."""

    kind: str  # function | method | class | struct | namespace | enum | macro | variable
    name: str
    qualname: str
    location: Location
    end_line: int
    signature: str = ""
    lang: str = ""


@dataclass(frozen=True)
class Include:
    """An `#include` or Python import as written in a file, and where."""

    target: str
    location: Location


@dataclass(frozen=True)
class Binding:
    """An operator overload a Python callable reaches, and how the index knows."""

    callable: str
    op: str
    via: str = ""


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- files ------------------------------------------------------------------------------------------

def file_paths(index: Index, lang: str | None = None) -> tuple[str, ...]:
    """Every indexed file's path (of one language when `lang` is given), in index order."""
    if lang is None:
        return tuple(p for (p,) in index._con.execute("SELECT path FROM files"))
    return tuple(p for (p,) in index._con.execute("SELECT path FROM files WHERE lang = ?", (lang,)))


def file_lang(index: Index, path: str) -> str | None:
    """The language the index parsed `path` as ("cpp", "python", "yaml"), or None when not indexed."""
    row = index._con.execute("SELECT lang FROM files WHERE path = ?", (path,)).fetchone()
    return row[0] if row else None


def file_named(index: Index, text: str) -> str | None:
    """The indexed file `text` names: the path itself, else the shortest path ending in `/text`."""
    row = index._con.execute("SELECT path FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\' "
                             "ORDER BY length(path) LIMIT 1", (text, "%/" + _like_escaped(text))).fetchone()
    return row[0] if row else None


def files_with_base(index: Index, base: str) -> tuple[str, ...]:
    """Files whose base name is `base` (anywhere in the tree): where a moved file went."""
    return tuple(p for (p,) in index._con.execute("SELECT path FROM files WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                                                  (base, "%/" + _like_escaped(base))))


def files_containing(index: Index, text: str, limit: int = 50) -> tuple[str, ...]:
    """Up to `limit` paths containing `text` (a file stem), for "did you mean" lists."""
    return tuple(p for (p,) in index._con.execute("SELECT path FROM files WHERE path LIKE ? ESCAPE '\\' LIMIT ?",
                                                  ("%" + _like_escaped(text) + "%", limit)))


def includes_of(index: Index, path: str, limit: int = 1000) -> tuple[Include, ...]:
    """The includes / imports of one file, in line order."""
    rows = index._con.execute("SELECT i.target, i.line FROM includes i JOIN files f ON f.id = i.file_id "
                              "WHERE f.path = ? ORDER BY i.line LIMIT ?", (path, limit)).fetchall()
    return tuple(Include(t, Location(path, line)) for t, line in rows)


# -- definitions ------------------------------------------------------------------------------------

_DEF_COLUMNS = "d.kind, d.name, d.qualname, f.path, d.line, d.end_line, d.signature, f.lang"


def _definition(row) -> Definition:
    kind, name, qual, path, line, end, sig, lang = row
    return Definition(kind, name, qual or name, Location(path, line), end or line, sig or "", lang)


def definitions_in(index: Index, path: str, kinds: tuple[str, ...] = (), limit: int = 2000
                   ) -> tuple[Definition, ...]:
    """The definitions of one file in line order (only of `kinds` when given): its outline. A
    function's local variables are left out: the parser records those (`result = torch.relu(..)`)
    to type the receivers of calls, not as symbols of the file."""
    sql = f"SELECT {_DEF_COLUMNS} FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ?"
    args: list = [path]
    if kinds:
        sql += f" AND d.kind IN ({', '.join('?' * len(kinds))})"
        args += list(kinds)
    defs = [_definition(r) for r in index._con.execute(sql + " ORDER BY d.line", args)]
    functions = {q for (q,) in index._con.execute(
        "SELECT d.qualname FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? "
        "AND d.kind IN ('function', 'method')", (path,))}
    outline = [d for d in defs if not (d.kind == "variable" and d.lang == "python"
                                       and d.qualname.rpartition(".")[0] in functions)]
    return tuple(outline[:limit])


def definitions_at(index: Index, path: str, line: int, through: int | None = None) -> tuple[Definition, ...]:
    """Definitions starting on `line` (or on `line`..`through`), functions and types first, the
    longest body first: what a `file:line` a registration or anchor names is the start of."""
    rows = index._con.execute(
        f"SELECT {_DEF_COLUMNS} FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? "
        "AND d.line BETWEEN ? AND ? ORDER BY d.line, d.kind IN ('function', 'method', 'class', 'struct') DESC, "
        "d.end_line DESC", (path, line, line if through is None else through)).fetchall()
    return tuple(_definition(r) for r in rows)


def python_definitions_named(index: Index, name: str, top_package: str) -> tuple[Definition, ...]:
    """Python definitions called `name` inside the top-level package `top_package` (torch, torchgen):
    what a public dotted name such as `torch.nn.Parameter` may be defined as."""
    rows = index._con.execute(
        f"SELECT {_DEF_COLUMNS} FROM defs d JOIN files f ON f.id = d.file_id WHERE d.name = ? "
        "AND f.lang = 'python' AND substr(d.qualname, 1, ?) = ?",
        (name, len(top_package) + 1, top_package + ".")).fetchall()
    return tuple(_definition(r) for r in rows)


# -- operators, bindings, kernels -------------------------------------------------------------------

def python_callables(index: Index) -> tuple[str, ...]:
    """Every Python callable the index binds to an operator (torch.add, torch.Tensor.add_, ...), sorted."""
    return tuple(n for (n,) in index._con.execute(
        "SELECT name FROM nodes WHERE kind = 'python_binding' ORDER BY name"))


def bindings_of(index: Index, callable_name: str) -> tuple[Binding, ...]:
    """The overloads a Python callable binds, sorted by operator, each with how the index knows."""
    rows = index._con.execute(
        "SELECT o.name, e.attrs FROM nodes b JOIN edges e ON e.src = b.id AND e.kind = 'binds' "
        "JOIN nodes o ON o.id = e.dst WHERE b.kind = 'python_binding' AND b.name = ? ORDER BY o.name",
        (callable_name,)).fetchall()
    return tuple(Binding(callable_name, op, json.loads(attrs).get("via", "") if attrs else "") for op, attrs in rows)


def callables_binding(index: Index, op: str, limit: int = 20) -> tuple[str, ...]:
    """The Python callables that reach overload `op` (aten::add.Tensor -> torch.add, torch.Tensor.add)."""
    return tuple(n for (n,) in index._con.execute(
        "SELECT b.name FROM nodes b JOIN edges e ON e.src = b.id AND e.kind = 'binds' JOIN nodes o ON o.id = e.dst "
        "WHERE b.kind = 'python_binding' AND o.name = ? ORDER BY b.name LIMIT ?", (op, limit)))


def ops_running(index: Index, qualname: str, name: str, limit: int = 20) -> tuple[str, ...]:
    """Operators whose dispatch table names this kernel (by its qualified or plain name) under some key."""
    return tuple(o for (o,) in index._con.execute(
        "SELECT DISTINCT op FROM dispatch WHERE kernel = ? OR kernel = ? OR kernel LIKE ? ESCAPE '\\' "
        "ORDER BY op LIMIT ?", (qualname, name, "%::" + _like_escaped(name), limit)))


def ops_with_derivatives(index: Index) -> tuple[str, ...]:
    """Every overload derivatives.yaml gives a formula for, sorted."""
    return tuple(o for (o,) in index._con.execute("SELECT DISTINCT op FROM derivatives ORDER BY op"))


def autograd_node_names(index: Index) -> frozenset[str]:
    """The autograd node classes (AddBackward0, ...) derivatives.yaml makes codegen generate."""
    return frozenset(n for (n,) in index._con.execute(
        "SELECT DISTINCT node FROM derivatives WHERE node IS NOT NULL"))


# -- kernels of one operator -------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelPlace:
    """A kernel native_functions.yaml names for some keys, and where this source has it: its body
    (`defined_at`, None when the source has no body) and its at::native declaration in the installed
    package's ATen/ops/<op>_native.h (`declared_at`, None on a checkout: that header is generated)."""

    keys: str  # "CPU, CUDA"
    kernel: str  # as the YAML writes it: add_out
    defined_at: Location | None
    declared_at: Location | None

    def as_json(self) -> dict:
        return {"keys": self.keys, "kernel": self.kernel,
                "defined_at": str(self.defined_at) if self.defined_at else None,
                "declared_at": str(self.declared_at) if self.declared_at else None}


def kernel_places(index: Index, rec: dict) -> tuple[KernelPlace, ...]:
    """Where each kernel of an operator record's `dispatch:` section is defined and declared."""
    from .native_decls import declared_at
    out = []
    package = index.source.layout == "package"
    for keys, kernel in (rec.get("dispatch") or {}).items():
        names = [f"at::native::{kernel}"]
        if rec.get("structured"):
            names.insert(0, f"at::native::structured_{kernel}")
        defined = next((loc for loc in map(index.kernel_location, names) if loc), None)
        declared = next((loc for n in names if package and (loc := declared_at(index.source.root, rec["op"], n))),
                        None)
        out.append(KernelPlace(keys, kernel, Location.parse(defined) if defined else None,
                               Location.parse(declared) if declared else None))
    return tuple(out)
