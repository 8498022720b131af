"""The link step's contract types, shared by the step (indexes/link.py) and its per-language
resolvers (link_python.py, link_cpp.py): what a resolver is given (RefRow, World), what it
answers (Link and its statuses), and the default answer no row is stored for.

Why a module of its own: the step imports the resolvers and the resolvers need these types; with
the types in link.py the three modules imported each other (an import loop: one of them was
really two modules). The contract itself is documented in indexes/link.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

RESOLVED = "resolved"
CANDIDATE = "candidate"
UNRESOLVED = "unresolved"
BUILTIN = "builtin"
EXTERNAL = "external"
STATUSES = (RESOLVED, CANDIDATE, UNRESOLVED, BUILTIN, EXTERNAL)
MAX_CANDIDATES = 8

# `Link.targets` of an answer that is the reference's default_answer: not stored (see below).
DEFAULT: tuple = ("(default answer)",)
_CPP_STD = ("std::", "::std::")
# Per language, an SQL condition true of the references whose answer is default_answer by their
# kind or name alone, so the link step does not read them: C++ `local`/`receiver` facts (context
# link_cpp reads per file, never asked about) and `std::` names (GLOB: case-sensitive, as startswith).
NOT_ASKED = {"cpp": "COALESCE(r.kind, '') IN ('local', 'receiver') OR r.name GLOB 'std::*' OR r.name GLOB '::std::*'"}


def default_answer(lang: str, name: str, kind: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(status, targets, whys) of a reference that has no stored answer. Why: a fifth of the
    references get an answer that follows from their name and kind alone; storing none for them
    makes the link step write, index and read back that much less (issue 13: its share of a cold
    build). A resolver says an answer is this one (`DEFAULT`) only where it is exactly this."""
    if lang == "cpp":
        if kind == "local" or kind == "receiver":
            return UNRESOLVED, (), (f"context for typing member calls ({kind})",)
        if name.startswith(_CPP_STD):
            return EXTERNAL, (name.lstrip(":"),), ("the C++ standard library",)
    elif lang == "python":
        return BUILTIN, ("builtins." + name,), ("a Python builtin",)
    return UNRESOLVED, (), ("no answer from the resolver",)


# NamedTuples, not dataclasses: a build makes one of each per reference (~600k on a tree), and a
# tuple subclass is built from a cursor row at C speed by `partial(tuple.__new__, RefRow)`
# (`_make` checks the length in Python: a second per million). Both are immutable.

class RefRow(NamedTuple):
    """One stored reference, as a resolver receives it."""

    ref_id: int  # rowid in `refs`
    file_id: int
    path: str  # the file, relative to the source root
    name: str  # as written: self.children, F.layer_norm, at::native::add_out, std::move
    line: int
    scope: str  # qualname of the enclosing definition ("" at file level)
    kind: str  # "call" | "ref"


class Link(NamedTuple):
    """One reference's resolution (see the module docstring for the statuses)."""

    ref_id: int
    status: str
    targets: tuple[str, ...] = ()
    why: tuple[str, ...] = ()


@dataclass
class World:
    """What resolvers read: the index being written (read through `con` only), and a per-run
    cache of lookup tables built from it."""

    con: object  # sqlite3.Connection
    _cache: dict = field(default_factory=dict)

    def cached(self, key: str, build: Callable[["World"], object]) -> object:
        """`build(world)` once per link run under `key` (namespace keys by language: "py.defs")."""
        if key not in self._cache:
            self._cache[key] = build(self)
        return self._cache[key]
