"""Questions over the code index: find, refs, callers, callees, path, trace.

Every answer carries `path:line`. Lookups go through SQLite's indexes (name, qualname, base
name of a reference, scope); `path` is a breadth-first walk over the neighbourhood it explores,
never the whole graph.
"""

from __future__ import annotations

import re

from collections import deque
from dataclasses import asdict, dataclass

from .errors import NotFound, check_name
from .fuzzy_names import close_names
from .overloads import pick_overload
from .public_names import reexported
from .queries import main_overload_first, ops_bound_to
from .ranking import location_noise
from .link_model import default_answer
from .lookups import callables_binding
from .store import LINK_STATUSES, LINKED_BY_TARGET, Index, _key_order

KIND_RANK = {"operator": 0, "callable": 0, "function": 1, "method": 2, "class": 3, "struct": 3, "macro": 4,
             "namespace": 5, "enum": 5, "variable": 6, "file": 7}


@dataclass(frozen=True)
class Hit:
    kind: str  # operator | callable | function | method | class | struct | namespace | enum | macro | variable | file
    name: str
    qualname: str
    location: str  # path:line
    lang: str = ""
    detail: str = ""

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Ref:
    name: str  # as written at the use site
    location: str
    scope: str  # the enclosing definition
    kind: str  # call | ref | registration
    # the link step's answer (indexes/link.py): resolved | candidate | unresolved | builtin |
    # external; "" for a registration or a name with no definition in the index (matched by name)
    status: str = ""
    targets: tuple[str, ...] = ()  # resolved: one; candidate: ranked, best first
    why: tuple[str, ...] = ()  # one reason per target, or one overall
    # callees only: the aten operator a call of the at:: C++ API reaches (`at::convolution_symint`:
    # aten::convolution): torchgen generates that API, so a source tree has no definition of it
    operator: str = ""


# -- find -----------------------------------------------------------------------------------------

def find(index: Index, query: str, limit: int = 30) -> list[Hit]:
    """Ranked: exact name, then prefix, then substring, then fuzzy (a typo away); across ops,
    C++/Python symbols, files."""
    return find_counted(index, query, limit)[0]


FUZZY_CUTOFF = 0.75  # difflib ratio: `addd` ~ `add` (0.86), `layer_nrom` ~ `layer_norm` (0.9)
# a qualified name is compared whole, and must be closer: `torch.add` is not a typo of `torch._refs.add` (0.75)
QUALIFIED_CUTOFF = 0.85


def find_counted(index: Index, query: str, limit: int = 30) -> tuple[list[Hit], int]:
    """The first `limit` hits of `find`, and how many there are in all (capped at a few hundred),
    so a presenter can say "showing 30 of 42"."""
    q = query.strip()
    if not q:
        return [], 0
    hits: dict[tuple, tuple] = {}

    uses: dict[str, int] = {}

    def used(h: Hit) -> int:
        """How many references the link step resolved to an exact hit: of same-named definitions a
        learner means the much-used one (`Module`: torch.nn's, not torch.jit.annotations')."""
        if h.qualname not in uses:
            uses[h.qualname] = con.execute(
                "SELECT count(*) FROM answers a JOIN links l ON l.answer = a.id WHERE a.target = ? AND "
                f"a.{LINKED_BY_TARGET}", (h.qualname,)).fetchone()[0]
        return uses[h.qualname]

    def add(rank: float, h: Hit) -> None:
        # a namespace is reopened in hundreds of files: one hit for it, not one per block
        key = (h.kind, h.qualname, "" if h.kind == "namespace" else h.location)
        score = (rank, _kind_rank(h), location_noise(h.location), private_parts(h.qualname), _overload_rank(h),
                 -_uses_bucket(used(h)) if rank == 0 and h.kind in USED_KINDS else 0, len(h.qualname), h.qualname)
        if key not in hits or score < hits[key][0]:
            hits[key] = (score, h)

    con = index._con
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # operators
    op_q = q[len("aten::"):] if q.startswith("aten::") else q
    for op, name, rec in con.execute(
            "SELECT op, name, json_extract(record, '$.defined_at') FROM ops WHERE name = ? OR op = ? OR op = ? "
            "OR name LIKE ? ESCAPE '\\' LIMIT 400", (op_q, q, "aten::" + op_q, f"%{like}%")):
        short = op.split("::", 1)[1]
        rank = 0 if op_q in (name, short) or q == op else 1 if name.startswith(op_q) else 2
        add(rank, Hit("operator", short, op, rec or "", "yaml"))
    # a Python callable torchgen binds to operators (torch.add, torch.Tensor.add): what `trace` starts
    # from, and on a checkout, whose .pyi stubs are generated at build time, the only definition
    bound = ops_bound_to(index, q) if "." in q and "::" not in q else []
    if bound:
        ops = main_overload_first(bound)
        at = (index.op(ops[0]) or {}).get("defined_at") or ""
        add(0, Hit("callable", q.rsplit(".", 1)[-1], q, at, "python", "binds " + ", ".join(ops)))
    # definitions: exact, then prefix (index range scans), then substring (a scan, capped)
    col = "qualname" if ("::" in q or "." in q) else "name"
    sql = ("SELECT d.kind, d.name, d.qualname, f.path, d.line, f.lang, d.signature FROM defs d "
           "JOIN files f ON f.id = d.file_id WHERE ")
    for rank, where, args in ((0, f"d.{col} = ?", (q,)),
                              (1, f"d.{col} >= ? AND d.{col} < ?", (q, q + "\U0010ffff")),
                              (2, f"d.{col} LIKE ? ESCAPE '\\'", (f"%{like}%",))):
        for kind, name, qual, path, line, lang, sig in con.execute(sql + where + " LIMIT 300", args):
            if kind == "method" and not qual:
                continue
            # LIKE ignores case: `addd` in `getPointWiseAddDescriptor` ranks after a typo's fix
            r = 4 if rank == 2 and q not in (qual or "") and q not in name else rank
            if r == 2 and kind == "variable":
                r = 3.5  # `addd` in a local `paddded_ratio` comes after `add`, the typo's fix
            add(r, Hit(kind, name, qual, f"{path}:{line}", lang, sig or ""))
        if len(hits) >= limit * 3 and rank >= 1:
            break
    # public aliases: torch.nn.Module.__call__ is defined as torch.nn.modules.module.Module.__call__
    if "." in q and "::" not in q and not any(s[0] == 0 and h.kind not in ("operator", "callable")
                                              for s, h in hits.values()):
        real = reexported(index, q)  # where the package's own imports take the name, when they do
        for h in resolve_symbol(index, real) if real else ():
            add(0, h)
    if "." in q and "::" not in q and not any(h.kind not in ("operator", "callable") for _s, h in hits.values()):
        matches = _alias_matches(index, q)
        best = _in_order(q.split("."), matches[0].qualname.split(".")) if matches else 0
        for h in matches:  # the best-shaped matches first
            add(0 if _in_order(q.split("."), h.qualname.split(".")) == best else 1, h)
    # registration idioms: TORCH_IMPL_FUNC(add_out), REGISTER_DISPATCH(add_stub, ...)
    for kind, name, path, line, target in con.execute(
            "SELECT r.kind, r.name, f.path, r.line, r.target FROM code_regs r JOIN files f ON f.id = r.file_id "
            "WHERE r.name = ? AND r.kind NOT IN ('aten_ref', 'op_ref') LIMIT 50", (q,)):
        add(0, Hit("registration", f"{kind}({name})", target or name, f"{path}:{line}", "cpp", kind))
    # files
    for (path,) in con.execute("SELECT path FROM files WHERE path LIKE ? ESCAPE '\\' LIMIT 100", (f"%{like}%",)):
        base = path.rsplit("/", 1)[-1]
        rank = 0 if base in (q, q + ".cpp", q + ".h", q + ".py") else 1 if base.startswith(q) else 2
        add(rank, Hit("file", base, path, f"{path}:1"))
    if not any(score[0] == 0 for score, _h in hits.values()):
        for rank_hit in _fuzzy(index, q, op_q):
            add(*rank_hit)
    ranked = sorted(hits.values(), key=lambda t: t[0])
    return [h for _s, h in ranked[:limit]], len(ranked)


def _fuzzy(index: Index, q: str, op_q: str) -> list[tuple[float, Hit]]:
    """Names a typo away from the query (rank 3 to 3.25, closest first): operators by difflib over all their names (a few
    thousand), definitions by fuzzy_names.close_names (a pool read through the name index, so a
    miss stays fast)."""
    import difflib
    out: list[tuple[float, Hit]] = []
    con = index._con
    rows = con.execute("SELECT op, name, json_extract(record, '$.defined_at') FROM ops").fetchall()
    if "." in op_q:  # an overload named: match `add.Tensor`-style names
        pool = {op.split("::", 1)[1]: [(op, rec)] for op, _name, rec in rows}
    else:  # a base name: every overload of the names that are close
        pool = {}
        for op, name, rec in rows:
            pool.setdefault(name, []).append((op, rec))
    def closeness(a: str, b: str) -> float:  # 3.0 for a perfect match, up to 3.25 at the cutoff
        return 3 + round(1 - difflib.SequenceMatcher(None, a, b).ratio(), 3)

    for name in difflib.get_close_matches(op_q, list(pool), n=6, cutoff=FUZZY_CUTOFF):
        for op, rec in pool[name]:
            out.append((closeness(op_q, name), Hit("operator", op.split("::", 1)[1], op, rec or "", "yaml")))
    if q.startswith("aten::"):
        return out
    leaf = re.split(r"::|\.", q)[-1]
    if len(leaf) >= 3:
        for name in close_names(con, leaf, n=8, cutoff=FUZZY_CUTOFF):
            # ordered, so the answer never depends on the order an index happened to be written in
            for kind, n, qual, path, line, lang, sig in con.execute(
                    "SELECT d.kind, d.name, d.qualname, f.path, d.line, f.lang, d.signature FROM defs d "
                    "JOIN files f ON f.id = d.file_id WHERE d.name = ? ORDER BY d.qualname, f.path, d.line "
                    f"LIMIT {200 if leaf != q else 20}", (name,)):
                if kind == "method" and not qual:
                    continue
                if leaf != q:  # a qualified query: the whole name must be close, not just its last part
                    score = closeness(q, qual or n)
                    if score > 3 + (1 - QUALIFIED_CUTOFF):
                        continue
                else:
                    score = closeness(leaf, name)
                out.append((score, Hit(kind, n, qual, f"{path}:{line}", lang, sig or "")))
    return out


def _alias_matches(index: Index, dotted: str) -> list[Hit]:
    """Definitions a public dotted name may stand for: same first component, same last two."""
    parts = dotted.split(".")
    if len(parts) < 2:
        return []
    tail = ".".join(parts[-2:])
    rows = index._con.execute(
        "SELECT d.kind, d.name, d.qualname, f.path, d.line, f.lang, d.signature FROM defs d JOIN files f "
        "ON f.id = d.file_id WHERE d.name = ? AND f.lang = 'python' AND (d.qualname LIKE ? OR d.qualname = ?) "
        "LIMIT 200", (parts[-1], f"{parts[0]}.%.{tail}", tail)).fetchall()
    hits = [Hit(k, n, qn, f"{p}:{line}", lang, sig or "") for k, n, qn, p, line, lang, sig in rows]
    # most of the query's components in order (torch.nn.Module -> torch.nn.modules.module.Module
    # before torch.jit.annotations.Module), then library before tests, then the shortest path
    return sorted(hits, key=lambda h: (-_in_order(parts, h.qualname.split(".")), location_noise(h.location),
                                       len(h.qualname)))


def _in_order(wanted: list[str], have: list[str]) -> int:
    """How many of `wanted` appear in `have` in the same order (a greedy subsequence match)."""
    i = 0
    for part in have:
        if i < len(wanted) and part == wanted[i]:
            i += 1
    return i


USED_KINDS = frozenset(("class", "struct", "function", "method"))


def _uses_bucket(n: int) -> int:
    """Resolved uses in orders of magnitude from 5: a few uses more is noise (C++ type mentions are
    seldom resolved), ten times more is a signal."""
    return 0 if n < 5 else 1 if n < 50 else 2 if n < 500 else 3


def _kind_rank(h: Hit) -> float:
    """KIND_RANK, with a C++ constructor after its class (`TensorIteratorConfig` means the class)."""
    if h.kind == "method" and h.qualname.endswith(f"{h.name}::{h.name}"):
        return KIND_RANK["class"] + 0.5
    return KIND_RANK.get(h.kind, 8)


def private_parts(qualname: str) -> int:
    """How many of the enclosing modules or namespaces are private (`torch._refs`, `_decomp`,
    `c10::detail`): of two same-named definitions a learner means the public one first
    (`softmax`: torch.nn.functional.softmax before torch._refs.softmax)."""
    parts = qualname.replace("::", ".").split(".")[:-1]
    return sum(1 for p in parts if (p.startswith("_") and not p.startswith("__")) or p in ("detail", "internal"))


def _overload_rank(h: Hit) -> int:
    """Among an operator's overloads: the default one, then .Tensor, then the rest."""
    if h.kind != "operator" or "." not in h.name:
        return 0
    return 1 if h.name.endswith(".Tensor") else 2


# -- symbols --------------------------------------------------------------------------------------

def resolve_symbol(index: Index, text: str) -> list[Hit]:
    """Definitions a name denotes: exact qualname, then exact name, then TORCH_IMPL_FUNC(x)."""
    t = text.strip()
    if t.startswith(("TORCH_IMPL_FUNC(", "TORCH_META_FUNC(")) and t.endswith(")"):
        kind, inner = t[:-1].split("(", 1)
        rows = index._con.execute(
            "SELECT f.path, r.line, r.target FROM code_regs r JOIN files f ON f.id = r.file_id "
            "WHERE r.kind = ? AND r.name = ?", (kind, inner.strip())).fetchall()
        return [Hit("function", t, target, f"{p}:{line}", "cpp") for p, line, target in rows]
    sql = ("SELECT d.kind, d.name, d.qualname, f.path, d.line, f.lang, d.signature FROM defs d JOIN files f "
           "ON f.id = d.file_id WHERE d.{} = ? ORDER BY f.path, d.line LIMIT 200")
    rows = index._con.execute(sql.format("qualname"), (t,)).fetchall()
    if not rows and ("::" in t or "." in t):
        base = t.replace("::", ".").rsplit(".", 1)[-1]
        rows = [r for r in index._con.execute(sql.format("name"), (base,)).fetchall()
                if r[2].replace("::", ".").endswith(t.replace("::", "."))]
    if not rows:
        rows = index._con.execute(sql.format("name"), (t,)).fetchall()
    hits = [Hit(k, n, q, f"{p}:{line}", lang, sig or "") for k, n, q, p, line, lang, sig in rows]
    dotted = "." in t and "::" not in t  # a Python name: never answer it with C++ of the same base name
    if dotted:
        hits = [h for h in hits if h.lang == "python"]
        if not hits:  # a public name (torch.nn.Linear): where the package's imports take it, else by shape
            real = reexported(index, t)
            hits = resolve_symbol(index, real) if real else _alias_matches(index, t)
    hits.sort(key=_definition_order)
    return hits


def _definition_order(h: Hit) -> tuple:
    """Functions before classes before the rest, library before tests, then by file; within a .py file
    the last definition first: it is the one a name is bound to when the module has run (the
    `@overload` stubs of torch.compile come before its body, line 2609). A stub (.pyi) only declares:
    its overloads keep their order."""
    path, _, line = h.location.rpartition(":")
    n = int(line) if line.isdigit() else 0
    return (KIND_RANK.get(h.kind, 8), location_noise(h.location), path, -n if path.endswith(".py") else n)


def require_symbol(index: Index, text: str) -> list[Hit]:
    """The definitions `text` names; NotFound says what it is instead when it is an operator or a C
    binding (neither has a body in the code index), else suggests names."""
    text = check_name(text)
    hits = resolve_symbol(index, text)
    if not hits:
        if is_operator(index, text):
            raise NotFound(f"{text} is an operator, not a definition: what runs is the kernel its dispatch "
                           "table names for each key",
                           hint=f"torchatlas dispatch {text} lists them; torchatlas trace {text} walks to one")
        bound = ops_bound_to(index, text)
        if bound:
            raise _c_function(text, bound, "it has no Python body")
        raise NotFound(f"no definition named {text!r} in this index",
                       similar_names(index, text.split("::")[-1].split(".")[-1], exclude=text))
    return hits


def methods_of(index: Index, cls: str, lang: str = "") -> list[Hit]:
    """The functions a class (Python or C++) defines in its own body, in the order of its source.
    `lang`: the class's, when its name does not say (a C++ class of the global namespace)."""
    sep = "::" if "::" in cls or lang == "cpp" else "."
    rows = index._con.execute(
        "SELECT d.kind, d.name, d.qualname, f.path, d.line, f.lang, d.signature FROM defs d JOIN files f "
        "ON f.id = d.file_id WHERE d.qualname >= ? AND d.qualname < ? AND d.kind IN ('method', 'function') "
        "ORDER BY f.path, d.line LIMIT 500", (cls + sep, cls + sep + "\U0010ffff")).fetchall()
    return [Hit(k, n, q, f"{p}:{line}", lang, sig or "") for k, n, q, p, line, lang, sig in rows
            if sep not in q[len(cls) + len(sep):]]


def is_operator(index: Index, text: str) -> bool:
    """`aten::add.Tensor`, or `aten::add`: every overload of a name (no operator is named that)."""
    return text.startswith("aten::") and (index.op(text) is not None or bool(index.ops_named(text[len("aten::"):])))


def _c_function(text: str, bound: list[str], why: str) -> NotFound:
    """What `callees` and friends say of a name torchgen binds to C (torch.add): no Python body."""
    what = f"bound to {', '.join(sorted(bound)[:3])}" if bound else "implemented in C++"
    return NotFound(f"{text} is a C function ({what}): {why}",
                    hint=f"torchatlas trace {text} follows it into C++; torchatlas callers {text} lists its calls")


def similar_names(index: Index, text: str, limit: int = 5, exclude: str = "") -> list[str]:
    """Qualnames `find` ranks best for `text`, each once (a C++ name is declared and defined: two
    hits), for a "did you mean"."""
    names = dict.fromkeys(h.qualname for h in find(index, text, limit=limit * 2))
    return [n for n in names if n != exclude][:limit]


# The refs table has no index on scope (building it cost a third of the whole index's SQLite
# time): the references made inside a definition are read from the files that define it.
IN_SCOPE = "r.file_id IN (SELECT file_id FROM defs WHERE qualname = ?1) AND r.scope = ?1"


def _base(name: str) -> str:
    return name.replace("::", ".").rsplit(".", 1)[-1]


def _link_targets(index: Index, symbol: str) -> set[str]:
    """The qualnames (and, for Python, the C binding name) that references to `symbol` resolve to."""
    hits = resolve_symbol(index, symbol)
    targets = {h.qualname for h in hits if h.qualname}
    if "." in symbol and "::" not in symbol:  # a C binding (torch.add): calls resolve to its name
        row = index._con.execute("SELECT 1 FROM nodes WHERE kind = 'python_binding' AND name = ? LIMIT 1",
                                 (symbol,)).fetchone()
        if row:
            targets.add(symbol)
    return targets


# The link step's answers (indexes/store.py): `links` names each reference's answer, `answers` holds
# each distinct answer once (one row per target, by rank; status a number: LINK_STATUSES), and a
# reference with no links row has link_model.default_answer (read back by `_default` below).
_LINKED = ("SELECT r.name, f.path, r.line, r.scope, r.kind, a.status, a.target, a.why, l.ref_id FROM answers a "
           "JOIN links l ON l.answer = a.id JOIN refs r ON r.rowid = l.ref_id JOIN files f ON f.id = r.file_id "
           f"WHERE a.target = ? AND a.{LINKED_BY_TARGET} ORDER BY a.status, f.path, r.line LIMIT ?")
# (ordered as `refs` shows them, resolved first: a much-used name's first `limit` uses by place, the
# same whatever order the link processes wrote them in)
_ANSWER_OF = "LEFT JOIN links l ON l.ref_id = r.rowid LEFT JOIN answers a ON a.id = l.answer"


def _answers(index: Index, ref_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rows = index._con.execute("SELECT a.target, a.why FROM links l JOIN answers a ON a.id = l.answer "
                              "WHERE l.ref_id = ? ORDER BY a.rank", (ref_id,)).fetchall()
    return tuple(t for t, _w in rows if t), tuple(w or "" for _t, w in rows)


def _default(index: Index, lang: str, name: str, kind: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The answer of a reference with no links row: link_model.default_answer, in an index that was linked
    (one built with the link step off, for bench_index.py only, has no answers: "", (), ())."""
    return default_answer(lang, name, kind or "") if index.linked else ("", (), ())


def all_link_answers(index: Index):
    """Every reference with its answer, in refs order: (ref_id, Ref), as refs/callers/callees read
    them (bench/link_digest.py hashes these to prove that a change of the link step or of its
    stored format kept every answer)."""
    cur = index._con.execute("SELECT r.rowid, r.name, f.path, r.line, r.scope, r.kind, f.lang, a.status, a.target, "
                             f"a.why FROM refs r JOIN files f ON f.id = r.file_id {_ANSWER_OF} ORDER BY r.rowid, a.rank")
    current, ref, status, targets, whys = None, None, "", [], []
    for rid, name, path, line, scope, kind, lang, code, target, why in cur:
        if rid != current:
            if current is not None:
                yield current, Ref(*ref, status, tuple(targets), tuple(whys))
            current, ref, targets, whys = rid, (name, f"{path}:{line}", scope or "", kind or ""), [], []
            if code is None:
                status, t, w = _default(index, lang, name, kind)
                targets.extend(t)
                whys.extend(w)
                continue
            status = LINK_STATUSES[code]
        if target:
            targets.append(target)
        whys.append(why or "")
    if current is not None:
        yield current, Ref(*ref, status, tuple(targets), tuple(whys))


def refs(index: Index, symbol: str, limit: int = 500, calls_only: bool = False) -> list[Ref]:
    """Every use that the link step resolved to `symbol` (calls and mentions), the candidates marked
    `status="candidate"`, then its registrations. A symbol with no definition in the index (a macro
    argument, a stub) is matched by name as written, with status "" (not linked). An operator
    (`aten::layer_norm`) has no definition: its uses are the calls of its Python bindings and of
    torchgen's C++ API for it (`operator_refs`)."""
    symbol = check_name(symbol)
    if is_operator(index, symbol):
        return operator_refs(index, symbol, limit, calls_only)
    targets = _link_targets(index, symbol)
    out: list[Ref] = []
    seen: set[int] = set()
    for target in sorted(targets):
        for name, path, line, scope, kind, code, _t, why, rid in index._con.execute(_LINKED, (target, limit * 2)):
            if rid in seen or (calls_only and (kind or "call") != "call"):
                continue
            seen.add(rid)
            status = LINK_STATUSES[code]
            targets_, whys = _answers(index, rid) if status == "candidate" else ((target,), (why or "",))
            out.append(Ref(name, f"{path}:{line}", scope or "", kind or "call", status, targets_, whys))
    out.sort(key=lambda r: (r.status != "resolved", _loc_key(r.location)))
    if not targets:  # a structured kernel's name (at::native::add_out), a stub declared by a macro, ...
        out = _refs_by_name(index, symbol, limit * 4)
        if calls_only:
            out = [r for r in out if r.kind == "call"]
    out = dispatch_refs(index, targets or {symbol}) + out
    if not calls_only:
        base = _base(symbol)
        for kind, name, path, line in index._con.execute(
                "SELECT r.kind, r.name, f.path, r.line FROM code_regs r JOIN files f ON f.id = r.file_id "
                "WHERE r.name = ? OR r.target = ? OR r.target LIKE ? LIMIT 200", (base, symbol, f"%{base}")):
            out.append(Ref(f"{kind}({name})", f"{path}:{line}", "", "registration"))
    return out[:limit]


_STRUCTURED_IMPL = re.compile(r"(?:at::native::)?structured_(\w+)::impl\Z").match


def dispatch_refs(index: Index, qualnames: set[str]) -> list[Ref]:
    """A kernel's calls by the dispatcher: one Ref per operator whose dispatch entries name it (at the
    operator's YAML entry), with the keys. A kernel is seldom called by name: without these, `callers
    at::native::layer_norm_cpu` would say nothing calls it."""
    out = []
    for q in sorted(qualnames):
        names = (q, q[len("at::native::"):]) if q.startswith("at::native::") else (q,)
        structured = _STRUCTURED_IMPL(q)  # TORCH_IMPL_FUNC(mul_out): the dispatch entries name mul_out
        if structured:
            names += (structured.group(1),)
        by_op: dict[str, list[tuple[str, str]]] = {}
        for op, key, registered_in in index._con.execute(
                f"SELECT op, key, registered_in FROM dispatch WHERE kernel IN ({','.join('?' * len(names))})", names):
            by_op.setdefault(op, []).append((key, registered_in or ""))
        for op, entries in sorted(by_op.items()):
            keys = sorted({k for k, _ in entries}, key=_key_order)
            where = sorted({r for _, r in entries if r})
            rec = index.op(op) or {}
            shown = ", ".join(keys[:4]) + (f", +{len(keys) - 4}" if len(keys) > 4 else "")
            out.append(Ref(f"dispatch of {op} [{shown}]", rec.get("defined_at") or "", "", "dispatch", "resolved", (q,),
                           (f"the dispatcher calls it for {op} under {', '.join(keys)}"
                            + (f" (registered in {', '.join(where)})" if where else ""),), op))
    return out


def operator_refs(index: Index, op: str, limit: int = 500, calls_only: bool = False) -> list[Ref]:
    """The uses of operator `op`: Python references resolved to one of its Python entry points
    (`torch.layer_norm`, `F.layer_norm`, a Tensor method), C++ calls of the at:: API torchgen generates
    for it (`at::layer_norm`, `at::layer_norm_symint`, `_out`/`_outf`), then its registrations.
    `aten::add` (a name without its overload, which no operator has) means every overload. One
    at:: function serves every overload of a name and C++ picks by argument types, so for one
    overload of several the C++ calls are candidates."""
    name, _, overload = op[len("aten::"):].partition(".")
    family = index.op(op) is None  # aten::add: every overload of add
    overloads = index.ops_named(name)
    ops = [op] if not family else overloads
    bindings = sorted({b for o in ops for b in callables_binding(index, o, limit=1000)})
    out: list[Ref] = []
    seen: set[int] = set()
    for binding in bindings:
        # the overloads a call of it may reach (torch.sum: sum, sum.dim_IntList, ...; out= ones apart)
        bound = [op] if family else _asked_first(op, [o for o in set(ops_bound_to(index, binding))
                                                      if _is_out(o) == _is_out(op)])
        for written, path, line, scope, kind, code, _t, _why, rid in index._con.execute(_LINKED, (binding, limit * 2)):
            if rid in seen or (calls_only and (kind or "call") != "call"):
                continue
            seen.add(rid)
            status, targets, why = LINK_STATUSES[code], (op,), f"{binding}: a Python entry point of {op}"
            if len(bound) > 1 and status == "resolved":  # torch.sum: its argument parser picks the overload
                status, targets = "candidate", tuple(bound)
                why = f"{binding} binds {len(bound)} overloads: its argument parser picks one by the arguments"
            out.append(Ref(written, f"{path}:{line}", scope or "", kind or "call", status, targets, (why,), op))
    api = (name, f"{name}_symint", f"{name}_out", f"{name}_outf", f"{name}_symint_out")
    for written, path, line, scope, kind in index._con.execute(
            "SELECT r.name, f.path, r.line, r.scope, r.kind FROM refs r JOIN files f ON f.id = r.file_id "
            f"WHERE r.base IN ({','.join('?' * len(api))}) AND r.name LIKE 'at::%' ORDER BY f.path, r.line",
            api):
        reached = op_of_cpp_api(index, written)
        if reached is None or reached.partition(".")[0] != f"aten::{name}" or \
                (calls_only and (kind or "call") != "call"):
            continue
        # at::add serves add.Tensor and add.Scalar alike; at::add_out the out= overloads
        served = [o for o in overloads if _is_out(o) == written.removesuffix("_symint").endswith(("_out", "_outf"))]
        status, targets, why = "resolved", (op,), f"torchgen's C++ API of {op}"
        if not family and op not in served:
            continue
        if not family and len(served) > 1:
            status, targets = "candidate", tuple(_asked_first(op, served))
            why = f"{written} serves {len(served)} overloads of aten::{name}: C++ picks one by the argument types"
        out.append(Ref(written, f"{path}:{line}", scope or "", kind or "call", status, targets, (why,), op))
    out.sort(key=lambda r: (r.status != "resolved", location_noise(r.location), _loc_key(r.location)))
    if not calls_only:
        for kind, reg, path, line in index._con.execute(
                "SELECT r.kind, r.name, f.path, r.line FROM code_regs r JOIN files f ON f.id = r.file_id "
                "WHERE r.name IN (?, ?) LIMIT 200", (name, op[len("aten::"):])):
            out.append(Ref(f"{kind}({reg})", f"{path}:{line}", "", "registration"))
    return out[:limit]


def _asked_first(op: str, overloads: list[str]) -> list[str]:
    """The candidate overloads of a call, the one asked about first, then the rest by name."""
    return [op] + sorted(o for o in overloads if o != op)


def _is_out(op: str) -> bool:
    """aten::add.out, aten::add.Scalar_out: an overload that writes into `out=`."""
    overload = op.partition(".")[2]
    return overload == "out" or overload.endswith("_out")


def _loc_key(location: str) -> tuple[str, int]:
    path, _, line = location.rpartition(":")
    return path, int(line) if line.isdigit() else 0


def _refs_by_name(index: Index, symbol: str, cap: int) -> list[Ref]:
    """Uses of a name with no definition in the index, matched as written (qualified where the use is)."""
    base = _base(symbol)
    qualified = "::" in symbol or "." in symbol
    tail = symbol.replace("::", ".")
    out = []
    for name, path, line, scope, kind in index._con.execute(
            "SELECT r.name, f.path, r.line, r.scope, r.kind FROM refs r JOIN files f ON f.id = r.file_id "
            "WHERE r.base = ? ORDER BY f.path, r.line LIMIT ?", (base, cap)):
        written = name.replace("::", ".")
        if qualified and "." in written and not (tail.endswith(written) or written.endswith(tail)):
            continue
        out.append(Ref(name, f"{path}:{line}", scope or "", kind or "call"))
    return out


def callers(index: Index, symbol: str, limit: int = 300) -> list[Ref]:
    """The calls resolved to `symbol`, then those where it is one of the candidates (marked)."""
    return refs(index, symbol, limit, calls_only=True)


def untyped_calls_named(index: Index, symbol: str) -> int:
    """How many Python calls of a method of `symbol`'s name (`x.add(...)`) the link step left
    unresolved because it could not type the receiver: they may call `symbol` too, and `callers`
    cannot list them (said beside its answer, so a short list is not taken for all). 0 for what is
    not a Python method (C++ member calls are stored by the member's name alone, receiver unsaid)."""
    if "." not in symbol or "::" in symbol:
        return 0
    if not (symbol.startswith("torch.Tensor.") and ops_bound_to(index, symbol)) and \
            not any(h.kind == "method" for h in resolve_symbol(index, symbol)):
        return 0
    base = symbol.rsplit(".", 1)[-1]
    row = index._con.execute(
        "SELECT count(*) FROM refs r JOIN files f ON f.id = r.file_id JOIN links l ON l.ref_id = r.rowid "
        "JOIN answers a ON a.id = l.answer WHERE r.base = ? AND r.kind = 'call' AND f.lang = 'python' "
        "AND a.status = ? AND r.name LIKE ?", (base, LINK_STATUSES.index("unresolved"), f"%.{base}")).fetchone()
    return row[0]


def callees(index: Index, symbol: str) -> list[tuple[Ref, str | None]]:
    """What the definition(s) of `symbol` call, each with the link step's answer in the Ref (status,
    targets, why) and where the target is defined when it is resolved to a definition."""
    defs = require_symbol(index, symbol)
    if all(d.location.split(":", 1)[0].endswith(".pyi") for d in defs):  # torch.add: declared, in C
        bound = ops_bound_to(index, symbol) or ops_bound_to(index, defs[0].qualname)
        raise _c_function(symbol, bound, f"{defs[0].location} only declares it")
    out = []
    seen = set()
    for d in defs[:5]:
        rows = index._con.execute(
            "SELECT r.name, f.path, r.line, r.kind, a.status, a.target, a.why, r.nargs FROM refs r "
            f"JOIN files f ON f.id = r.file_id {_ANSWER_OF} "
            f"WHERE {IN_SCOPE} AND r.kind NOT IN ('local', 'receiver') "  # C++ link context, not calls
            "ORDER BY r.line, r.rowid, a.rank", (d.qualname,)).fetchall()
        grouped: dict[tuple, list] = {}
        nargs_of = {}
        for name, path, line, kind, code, target, why, nargs in rows:
            answers = grouped.setdefault((name, path, line, kind), [])
            if code is None:  # no row: the default answer (one target at most, one why)
                status, targets, whys = _default(index, d.lang, name, kind)
                if whys:
                    answers.append((status, targets[0] if targets else None, whys[0]))
                else:  # an index without answers (built with the link step off)
                    answers.append((None, None, None))
            else:
                answers.append((LINK_STATUSES[code], target, why))
            nargs_of[(name, path, line, kind)] = nargs
        for (name, path, line, kind), answers in grouped.items():
            key = (name, path, line)
            if key in seen:
                continue
            seen.add(key)
            status = answers[0][0] or ""
            targets = tuple(t for _s, t, _w in answers if t)
            whys = tuple(w or "" for _s, _t, w in answers)
            where = _location_of(index, targets[0], d.lang, nargs_of[(name, path, line, kind)]) \
                if status == "resolved" and targets else None
            op = (op_of_cpp_api(index, name) or "") if d.lang == "cpp" else ""
            out.append((Ref(name, f"{path}:{line}", d.qualname, kind or "call", status, targets, whys, op), where))
    return out


def _location_of(index: Index, qualname: str, lang: str, nargs: int | None = None) -> str | None:
    """`path:line` of the definition of a resolved target (None for a C binding): of the overload
    that takes `nargs` arguments when the signatures single one out (indexes/overloads.py)."""
    cache = index.__dict__.setdefault("_loccache", {})
    if qualname not in cache:
        cache[qualname] = index._con.execute(
            "SELECT f.path, d.line, d.signature FROM defs d JOIN files f ON f.id = d.file_id "
            "WHERE d.qualname = ? AND f.lang = ? ORDER BY f.path, d.line LIMIT 50",
            (qualname, lang or "python")).fetchall()
    row = pick_overload(cache[qualname], qualname.rsplit("::", 1)[-1], nargs if lang == "cpp" else None)
    return f"{row[0]}:{row[1]}" if row else None


def definition_of(index: Index, name: str) -> str | None:
    """Where a called name is defined, when the index can tell: the exact qualname, else the best of
    the definitions with that base name (library code before tests, .cpp/.h of ATen first).
    By name only: callees uses the link step's answers instead."""
    cache = index.__dict__.setdefault("_defcache", {})
    if name in cache:
        return cache[name]
    rows = index._con.execute(
        "SELECT f.path, d.line, d.qualname = ? FROM defs d JOIN files f ON f.id = d.file_id WHERE "
        "(d.qualname = ? OR d.name = ?) AND d.kind IN ('function', 'method', 'class', 'struct', 'macro') LIMIT 50",
        (name, name, _base(name))).fetchall()
    best = min(rows, key=lambda r: (location_noise(r[0]), not r[2], "/ATen/" not in r[0], r[0], r[1]), default=None)
    cache[name] = f"{best[0]}:{best[1]}" if best else None
    return cache[name]


# -- path -----------------------------------------------------------------------------------------

def _neighbours(index: Index, node: str) -> list[tuple[str, str]]:
    """Typed out-edges of a node: ('calls', qualname), ('binds', op), ('dispatches_to', kernel), ..."""
    out: list[tuple[str, str]] = []
    con = index._con
    if node.startswith("aten::"):
        rows = con.execute("SELECT key, kernel FROM dispatch WHERE op = ? AND kernel IS NOT NULL", (node,)).fetchall()
        for key, kernel in sorted(rows, key=lambda r: _key_order(r[0])):
            out.append((f"dispatches_to[{key}]", qualified_kernel(kernel)))
        return out
    for (op,) in con.execute("SELECT o.name FROM nodes b JOIN edges e ON e.src = b.id AND e.kind = 'binds' "
                             "JOIN nodes o ON o.id = e.dst WHERE b.kind = 'python_binding' AND b.name = ?", (node,)):
        out.append(("binds", op))
    # TORCH_IMPL_FUNC(x): the kernel name x is implemented by at::native::structured_x::impl
    for (target,) in con.execute("SELECT target FROM code_regs WHERE kind = 'TORCH_IMPL_FUNC' AND name = ?",
                                 (_base(node),)):
        if target != node:
            out.append(("implemented_by", target))
    # a stub is registered to kernels
    for (target,) in con.execute("SELECT target FROM code_regs WHERE kind LIKE '%REGISTER%DISPATCH' AND name = ?",
                                 (_base(node),)):
        out.append(("registered_kernel", _qualify(index, target)))
    # the link step's answers: resolved calls, then each candidate (marked in the edge kind); then
    # the unresolved calls, as edges by the name as written (a dispatch stub declared by a macro,
    # `mul_stub`, has no definition but its registrations lead on), marked as such. One read of the
    # definition's calls (refs by file, then links by ref): a `l.target IS NULL` test let SQLite
    # walk the links' target index over every unresolved reference of the tree (0.25 s a node).
    answered: dict[tuple[str, str], tuple[int, int]] = {}
    unresolved: dict[str, None] = {}
    called: dict[str, None] = {}  # every name called, in order
    # (a reference with no row has a default answer: never resolved, candidate, nor unresolved by name)
    for i, (name, code, target, rank) in enumerate(con.execute(
            "SELECT r.name, a.status, a.target, a.rank FROM refs r JOIN links l ON l.ref_id = r.rowid "
            f"JOIN answers a ON a.id = l.answer WHERE {IN_SCOPE} AND r.kind = 'call' ORDER BY r.line, r.rowid, a.rank",
            (node,))):
        called.setdefault(name)
        status = LINK_STATUSES[code]
        if status in ("resolved", "candidate") and target is not None:
            key = (status, target)  # each target once, at its best rank (then first in the body)
            answered[key] = min(answered.get(key, (rank, i)), (rank, i))
        elif status == "unresolved" and target is None:
            unresolved.setdefault(name)
    for status, target in sorted(answered, key=lambda k: (k[0] != "resolved", answered[k])):
        out.append(("calls" if status == "resolved" else "may_call", target))
    # a C++ body's calls of the at:: API lead to operators (a composite kernel's decomposition); the
    # API is generated (Functions.h), so not in a source tree, but its operator is
    for name in [n for n in called if n.startswith("at::")]:
        op = op_of_cpp_api(index, name)
        if op is not None:
            unresolved.pop(name, None)
            if ("calls_op", op) not in out:
                out.append(("calls_op", op))
    out.extend(("calls_unresolved", name) for name in unresolved)
    return out


_BARE = re.compile(r"\w+\Z").match


def qualified_kernel(kernel: str) -> str:
    """A dispatch entry's kernel as the code index names it: the YAML writes at::native kernels bare
    (`layer_norm_cpu`); other entries name theirs whole (`VariableType::add`, a Python function)."""
    return "at::native::" + kernel if _BARE(kernel) else kernel


def ops_called_by(index: Index, kernel: str) -> list[tuple[str, str, str]]:
    """The at:: operators a kernel's body calls, in line order: (op, the name as written, path:line)."""
    rows = index._con.execute(
        "SELECT r.name, f.path, r.line FROM refs r JOIN files f ON f.id = r.file_id "
        f"WHERE {IN_SCOPE} ORDER BY r.line", (qualified_kernel(kernel),)).fetchall()
    out = []
    for written, path, line in rows:
        op = op_of_cpp_api(index, written)
        if op is not None:
            out.append((op, written, f"{path}:{line}"))
    return out


def op_of_cpp_api(index: Index, written: str) -> str | None:
    """The operator a call of the at:: C++ API names, or None: `at::convolution_symint` ->
    aten::convolution (torchgen's C++ API adds _symint and _out/_outf to the operator's name),
    `at::add_out` -> aten::add.out; an at:: name that is no operator (at::isComplexType) is None."""
    if not written.startswith("at::") or written.startswith(("at::native::", "at::meta::", "at::_ops::")):
        return None
    name = written[len("at::"):]
    if "::" in name:
        return None
    memo = index.__dict__.setdefault("_op_of_cpp_api", {})  # a path walk asks for the same names often
    if name in memo:
        return memo[name]
    found = None
    for cand, overload in ((name, None), (name.removesuffix("_symint"), None),
                           (name.removesuffix("_symint").removesuffix("_outf").removesuffix("_out"), "out")):
        ops = index.ops_named(cand)
        if ops:
            if overload == "out" and cand != name.removesuffix("_symint"):
                outs = [o for o in ops if o.endswith(".out")] or [o for o in ops if "out" in o.split(".", 1)[-1]]
                ops = outs or ops
            found = main_overload_first(ops)[0]
            break
    memo[name] = found
    return found


def _qualify(index: Index, name: str) -> str:
    row = index._con.execute("SELECT qualname FROM defs WHERE qualname = ? LIMIT 1", (name,)).fetchone()
    if row:
        return row[0]
    rows = index._con.execute("SELECT DISTINCT qualname FROM defs WHERE name = ? AND kind IN ('function', 'method') "
                             "LIMIT 2", (_base(name),)).fetchall()
    return rows[0][0] if len(rows) == 1 else name


def _meets(node: str, dst: str) -> bool:
    """Whether a walk that reached `node` has found `dst`: the same name, or `dst` qualified less (a
    bare name meets any node of that base name; `native::layer_norm_cpu` meets at::native::...)."""
    if node == dst:
        return True
    if "::" not in dst and "." not in dst:
        return _base(node) == dst
    return node.endswith(("::" + dst, "." + dst))


def python_node(index: Index, name: str) -> str:
    """The graph's node for a Python name: a binding torchgen generates is its own node (it binds
    operators; its stub has no edges), a public name is its definition (torch.nn.Linear.forward ->
    torch.nn.modules.linear.Linear.forward)."""
    if ops_bound_to(index, name):
        return name
    return reexported(index, name) or name


def path(index: Index, src: str, dst: str, max_depth: int = 12, max_nodes: int = 20000) -> list[tuple[str, str, str]]:
    """Shortest typed path src -> dst: a list of (from, edge kind, to). Raises NotFound if none."""
    src, dst = check_name(src), check_name(dst)
    start = _qualify(index, src) if not src.startswith(("aten::", "torch.")) else python_node(index, src)
    dst = python_node(index, dst) if dst.startswith("torch.") else dst
    if _meets(start, dst) or _meets(src, dst):
        return []
    hops, seen, kernels = walk(index, start, lambda node: _meets(node, dst), max_depth, max_nodes)
    if hops is None:
        hint = ""
        if kernels and index.source.layout == "package":
            hint = (f"the walk reached {len(kernels)} kernel(s) (e.g. {min(kernels)}) but an installed torch ships "
                    "headers, not their bodies, so it stops there: index a PyTorch checkout to follow kernels "
                    "into what they call (torchatlas index PATH; then --source PATH)")
        raise NotFound(f"no path from {src} to {dst} within {max_depth} steps "
                       f"({seen} node{'s' if seen != 1 else ''} explored)", hint=hint)
    return hops


def walk(index: Index, start: str, meets, max_depth: int = 12, max_nodes: int = 20000,
         kinds: frozenset[str] | None = None,
         accepted: list[str] | None = None) -> tuple[list[tuple[str, str, str]] | None, int, set[str]]:
    """The shortest typed path from `start` to the first node `meets(node)` accepts, over the edges
    of `kinds` (default: all): (its hops, or None; how many nodes were explored; the kernels reached
    through dispatch entries). With `accepted`, the walk goes on past the first and lists there
    every node `meets` accepts, nearest first.

    A breadth-first walk that keeps, for each node, the hop it was first reached by (so the path
    is a shortest one, and among those the one through the first-ordered edges: CPU before CUDA);
    no graph library: importing networkx was most of this command's time."""
    frontier = deque([(start, 0)])
    seen = {start}
    reached_by: dict[str, tuple[str, str]] = {}  # node -> (the node it was first reached from, edge kind)
    kernels: set[str] = set()  # reached through a dispatch entry: where a package's index has no body
    found = None
    while frontier and len(seen) < max_nodes:
        node, depth = frontier.popleft()
        if depth >= max_depth:
            continue
        for kind, nxt in _neighbours(index, node):
            if kinds is not None and kind not in kinds:
                continue
            if kind.startswith("dispatches_to"):
                kernels.add(nxt)
            if nxt != start and nxt not in reached_by:
                reached_by[nxt] = (node, kind)
            if (accepted is None or nxt not in seen) and meets(nxt):
                found = found or nxt
                if accepted is None:
                    break
                accepted.append(nxt)
            if nxt not in seen:
                seen.add(nxt)
                frontier.append((nxt, depth + 1))
        if found and accepted is None:
            break
    if not found:
        return None, len(seen), kernels
    hops = []
    node = found
    while node != start and node in reached_by:
        prev, kind = reached_by[node]
        hops.append((prev, kind, node))
        node = prev
    return hops[::-1], len(seen), kernels
