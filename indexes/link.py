"""The link step: every reference's resolution, decided once at index time, per language.

Why: a reference is stored as written (`self.children`, `F.layer_norm`, `at::add`). Resolving it
at query time by its bare name sent `self.children` to a C++ header and `F.layer_norm` to
torch/_refs. Resolution needs facts only the whole index has (every definition, each file's
imports, class bases), so it runs after parsing, over the stored facts, and writes one answer per
reference (the `links` and `answers` tables: each distinct answer once; none for a default answer,
see below); callers/callees/refs read the answers through indexes/code_queries.py.

Cost (issue 13: "the cold index may not get slower by more than 10%"): what the step writes was
cut first (no row for a default answer, each distinct answer once: 869k five-column rows -> 508k
rows of two integers and 145k answer rows on v2.6.0), and what it reads (the C++ link context and
`std::` names are not read, references are read by file without a sort by line).

The per-language rules live in their own modules, each with the same entry point (the types they
share with this module, RefRow, Link, World, the statuses and default_answer, are in
indexes/link_model.py):

    link_python.resolve(refs: Iterator[RefRow], world: World) -> Iterator[Link]
    link_cpp.resolve(refs: Iterator[RefRow], world: World) -> Iterator[Link]

Contract of `resolve` (what this module relies on):

* `refs` are the references of one language (`files.lang`), ordered by file (a file's references
  together, in the order they were stored: not by line, which cost SQLite a sort of every
  reference), so a resolver may keep per-file state (imports, usings) and drop it when
  `RefRow.file_id` changes.
  They may be all of that language's references (a full build) or a subset (an update: the
  references of changed files and those that may depend on them).
* Yield exactly one `Link` per reference, with its `ref_id` (any order). A reference without an
  answer is written as `unresolved` ("no answer from the resolver"). When the answer is
  `default_answer(lang, name, kind)` (a Python builtin, `std::...`, the C++ link context), yield
  `Link(ref_id, status, DEFAULT)` instead: no row is stored for it (a fifth of a tree's
  references), and the readers answer it from the reference itself. References whose answer is
  the default by their kind or name alone (`NOT_ASKED`: the C++ link context, `std::...`) are not
  given to the resolver at all.
* Read what you need from `world.con` (the index being written: tables defs, refs, includes,
  code_regs, files, and after the dispatch stage nodes/edges; never write through it), and build
  whole-index lookup tables once per run with `world.cached(key, build)`: the same World is used
  for every batch of one link process (a parallel link's processes each build the tables of the
  languages they resolve: build them on the first batch, empty or not).
* Be pure: the answer may depend only on the index's facts, never on the order of the refs.
* Statuses (`Link.status`) and what `targets` / `why` hold:

    resolved    one target: the qualname of a definition in the index (as in `defs.qualname`), or
                for Python, the name of a C binding (a `python_binding` node: `torch.add`,
                `torch._C._nn.linear`); why: one short reason ("import F = torch.nn.functional").
    candidate   several targets the static facts cannot choose between, best first (at most
                MAX_CANDIDATES; say "+N more" in the last why); one why per target.
    unresolved  no target in the index: targets is () or, when the resolver knows the full name
                the reference denotes (`torch._C._get_tracing_state`), that one name; one why.
    builtin     a language builtin: Python's `iter` -> target "builtins.iter"; one why.
    external    a library that is not PyTorch: `std::move`, `numpy.asarray`; target the full
                name as written/expanded; one why.

  A name in one language never resolves to a definition of the other by spelling alone.

Incremental updates (`relink_after_update`) re-resolve the references of changed files and those
whose answer may have changed: references with a base name that a changed file added or removed,
references whose current target is in a changed file, and (Python) the references of files that
import a module whose imports changed. When that is most of the index, everything is re-linked.
"""

from __future__ import annotations

import os
import time
from functools import partial
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .gc_pause import paused_gc
from .link_model import DEFAULT, MAX_CANDIDATES, NOT_ASKED, STATUSES, UNRESOLVED, Link, RefRow, World
from .store import LINKED_BY_TARGET


def _resolvers() -> dict[str, Callable[[Iterator[RefRow], World], Iterable[Link]]]:
    from . import link_cpp, link_python
    return {"python": link_python.resolve, "cpp": link_cpp.resolve}


_REFS_SQL = ("SELECT r.rowid, r.file_id, f.path, r.name, r.line, r.scope, r.kind FROM refs r "
             "JOIN files f ON f.id = r.file_id WHERE f.lang = ?")


def _refs_sql(lang: str) -> str:
    """The references of `lang` a resolver is given: all but those NOT_ASKED."""
    return _REFS_SQL + (f" AND NOT ({NOT_ASKED[lang]})" if lang in NOT_ASKED else "")


def _answer_rows(status: str, targets: tuple, why: tuple) -> list[tuple[int, str, str | None, str]]:
    """(rank, status, target, why) rows of one answer: at most MAX_CANDIDATES targets, each with its
    why (the last why for targets past the whys), one row without a target when there is none."""
    if len(targets) <= 1:
        return [(0, status, targets[0] if targets else None, why[0] if why else "")]
    return [(rank, status, target, why[rank] if rank < len(why) else (why[-1] if why else ""))
            for rank, target in enumerate(targets[:MAX_CANDIDATES])]


def _answer_id(ids, key: tuple) -> int:
    """The id of the answer `key` (status, targets, whys) in `ids` (a writer's answer_ids()), a new
    one numbered there if it is not yet stored."""
    aid = ids.get(key)
    return aid if aid is not None else ids.add(key, _answer_rows(*key))


def _rows_of(links: Iterable[Link], wanted: set[int] | None, counts: dict, ids) -> Iterator[tuple]:
    """Link answers as `links` table rows (ref_id, answer id), each distinct answer numbered once by
    `ids` (the writer's answer_ids()); no row for a default answer; counts statuses; answers
    references left out. (Unpacked: ~0.5 s of a tree's link step is spent here.)"""
    seen: set[int] = set()
    add = seen.add
    per_status = dict.fromkeys(STATUSES, 0)
    get = ids.get
    for rid, status, targets, why in links:
        if rid in seen or (wanted is not None and rid not in wanted):
            continue
        add(rid)
        if status not in per_status:
            status = UNRESOLVED
        per_status[status] += 1
        if targets is DEFAULT:
            continue
        key = (status, targets, why)
        aid = get(key)  # (inline: the hit, once per reference, costs no call)
        yield (rid, aid if aid is not None else _answer_id(ids, key))
    if wanted is not None:
        key = (UNRESOLVED, (), ("no answer from the resolver",))
        for rid in wanted - seen:
            per_status[UNRESOLVED] += 1
            yield (rid, _answer_id(ids, key))
    for status, n in per_status.items():
        if n:
            counts[status] = counts.get(status, 0) + n


PARALLEL_MIN_REFS = 50_000  # fewer references: one process (forking and merging cost more)
CHUNKS_PER_JOB = 8  # ranges of files per process: a process that finishes early takes the next one
# Resolving a C++ reference costs about four times a Python one (the receiver's type, overloads,
# usings; measured on the installed torch and the v2.6.0 tree): shards are balanced by this weight.
COST = {"cpp": 4, "python": 1}
# Set to "off" by bench/bench_index.py only: a build without the link step, to measure what the
# step costs in the same run. Such an index has no links: callers/callees/refs fall back to names.
SKIP_ENV = "TORCHATLAS_LINK"


def link_all(w, jobs: int = 1) -> dict:
    """Resolve every reference of the index `w` (a store writer) and write the answers.

    With jobs > 1 (and a big index), `jobs` processes take ranges of files in turn (per language,
    CHUNKS_PER_JOB ranges a process, of about the same resolution cost, so none waits for a slow
    one), each starting on its own language (`_order`: the Python and C++ tables are built at the
    same time by two processes) and then helping with the other's: each reads the index (committed
    first; nobody writes it meanwhile), resolves into a scratch file, and the scratch files are
    copied in. Returns counts per status and the seconds it took ("link_seconds")."""
    if os.environ.get(SKIP_ENV) == "off":
        return {"skipped": 1, "link_seconds": 0.0}
    t0 = time.perf_counter()
    # a new index gets its indexes at commit: the code tables' are needed now (resolvers look facts
    # up per file and per name), and cost the same made here; the links' are made after the rows
    w.index_tables(("files", "defs", "refs", "includes", "code_regs"))
    t1 = time.perf_counter()
    w.clear_links()
    counts: dict = {"code_indexes_seconds": round(t1 - t0, 2)}  # made here instead of at commit: not new
    failures: list[tuple[str, str]] = []
    n_refs = w.con.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
    # the resolvers' tables and memos are ~1M objects that live until the step ends: the cyclic GC
    # rescanning them costs ~10% of the step (and the forked processes inherit the pause)
    with paused_gc():
        if jobs > 1 and n_refs >= PARALLEL_MIN_REFS and hasattr(os, "fork"):
            _link_parallel(w, jobs, counts, failures)
        else:
            _link_shard(w, World(w.con), None, counts, failures)
    for lang, why in failures:
        _unanswered(w, lang, None, why, counts)
    counts["link_seconds"] = round(time.perf_counter() - t1, 2)
    return counts


def file_ranges(con, parts: int, lang: str | None = None) -> list[tuple[int, int]]:
    """`parts` ranges (first, last) of file ids that together cover every file with references
    (of `lang` when given), each holding about the same resolution cost (COST per reference of its
    language). Ranges, not ids modulo `parts`: each process reads its references through the
    refs_file index alone."""
    only, args = (" WHERE f.lang = ?", (lang,)) if lang else ("", ())
    rows = con.execute("SELECT r.file_id, f.lang, COUNT(*) FROM refs r JOIN files f ON f.id = r.file_id"
                       f"{only} GROUP BY r.file_id ORDER BY r.file_id", args).fetchall()
    if not rows:
        return [(0, -1)] * parts
    total = sum(COST.get(lang, 1) * n for _fid, lang, n in rows)
    ranges, first, done = [], rows[0][0], 0
    for fid, lang, n in rows:
        done += COST.get(lang, 1) * n
        if len(ranges) < parts - 1 and done >= total * (len(ranges) + 1) / parts:
            ranges.append((first, fid))
            first = fid + 1
    ranges.append((first, rows[-1][0]))
    return ranges + [(0, -1)] * (parts - len(ranges))  # an empty range for a part left without files


def _link_ranges(writer, world: World, ranges: dict[str, list[tuple[int, int]]], turns: dict, order: list[str],
                 counts: dict, failures: list[tuple[str, str]]) -> None:
    """Take the next untaken range of each language in `order` (`turns`: a counter per language
    shared by the link processes) until none is left, resolving each into `writer`."""
    for lang in order:
        turn = turns[lang]
        while True:
            with turn.get_lock():
                i = turn.value
                turn.value += 1
            if i >= len(ranges[lang]):
                break
            if ranges[lang][i][0] <= ranges[lang][i][1]:  # not an empty range (it would build a table for nothing)
                _link_shard(writer, world, ranges[lang][i], counts, failures, (lang,))


def _link_shard(writer, world: World, shard: tuple[int, int] | None, counts: dict,
                failures: list[tuple[str, str]], langs: tuple[str, ...] | None = None) -> None:
    """Resolve into `writer` the references of `langs` (None: every language) in the files with
    ids in `shard` (first, last; None: every file). A resolver that raises is noted in `failures`
    (its answers so far are kept)."""
    where, args = (" AND r.file_id BETWEEN ? AND ?", shard) if shard else ("", ())
    for lang, resolve in _resolvers().items():
        if langs is not None and lang not in langs:
            continue
        cur = world.con.execute(_refs_sql(lang) + where + " ORDER BY r.file_id", (lang,) + tuple(args))
        try:
            writer.add_links(_rows_of(resolve(map(partial(tuple.__new__, RefRow), cur), world), None, counts,
                                      writer.answer_ids()))
        except Exception as e:  # noqa: BLE001 - a resolver bug must not stop the index (as a parser's)
            failures.append((lang, _failure(lang, e)))


def _order(k: int) -> list[str]:
    """The languages process `k` resolves, its own first: process k starts on language k (mod the
    number of languages), so each whole-index table is built by one process while another builds
    the other (in parallel, instead of all before the fork), and a process builds a second table
    only when it runs out of its own language's ranges and helps with the rest."""
    langs = list(_resolvers())
    k %= len(langs)
    return langs[k:] + langs[:k]


def _link_parallel(w, jobs: int, counts: dict, failures: list[tuple[str, str]]) -> None:
    import multiprocessing as mp
    from pathlib import Path

    from .store import ScratchWriter, remove_scratch
    w.con.commit()  # the children read the file itself
    db = next(Path(f) for _seq, name, f in w.con.execute("PRAGMA database_list") if name == "main")
    shards = [db.with_name(f"{db.name}.link{k}.tmp") for k in range(jobs)]
    ranges = {lang: file_ranges(w.con, jobs * CHUNKS_PER_JOB, lang) for lang in _resolvers()}
    ctx = mp.get_context("fork")
    turns = {lang: ctx.Value("i", 0) for lang in ranges}  # the next range of each language to take
    procs = []
    try:
        for k in range(1, jobs):
            parent_end, child_end = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_shard_worker, args=(str(db), str(shards[k]), ranges, turns, _order(k),
                                                        child_end), daemon=True)
            p.start()
            child_end.close()
            procs.append((p, parent_end))
        writer = ScratchWriter(shards[0])  # this process's share goes to a file too: the index is only read
        try:
            _link_ranges(writer, World(w.con), ranges, turns, _order(0), counts, failures)
        finally:
            writer.close()
        for k, (p, conn) in enumerate(procs, 1):
            try:
                child_counts, child_failures = conn.recv()
            except EOFError:
                child_counts, child_failures = {}, [(lang, f"link process {k} of {jobs} died; the references "
                                                          "it was resolving are unresolved") for lang in _resolvers()]
            p.join()
            for key, v in child_counts.items():
                counts[key] = counts.get(key, 0) + v
            failures.extend(f for f in child_failures if f not in failures)
        for shard in shards:
            if shard.exists():
                w.copy_from(shard, ("links",))
    finally:
        for p, conn in procs:
            if p.is_alive():
                p.kill()
            p.join()
            conn.close()
        for shard in shards:
            remove_scratch(shard)


def _shard_worker(db: str, shard: str, ranges: dict[str, list[tuple[int, int]]], turns: dict, order: list[str],
                  conn) -> None:
    """A forked link process: reads the index read-only (its own connection), builds the resolvers'
    tables it needs, writes its answers into `shard`."""
    import signal
    import sqlite3
    from pathlib import Path

    from .store import ScratchWriter
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    counts: dict = {}
    failures: list[tuple[str, str]] = []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        writer = ScratchWriter(Path(shard))
        try:
            _link_ranges(writer, World(con), ranges, turns, order, counts, failures)
        finally:
            writer.close()
            con.close()
    except Exception as e:  # noqa: BLE001 - said to the parent
        failures.append(("all", _failure("link", e)))
    conn.send((counts, failures))
    conn.close()


def _failure(lang: str, error: Exception) -> str:
    import traceback
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"the {lang} resolver failed ({type(error).__name__}: {error}{where}); re-index after fixing it"


def _unanswered(w, lang: str, only: str | None, why: str, counts: dict) -> None:
    """After a resolver failed: the answers it gave stay, the rest are unresolved, saying why (the
    references it answered with their default have no row either: they are said unresolved too)."""
    langs = tuple(_resolvers()) if lang == "all" else (lang,)
    aid = _answer_id(w.answer_ids(), (UNRESOLVED, (), (why,)))
    w.add_links(())  # writes the new answer
    for one in langs:
        cur = w.con.execute(
            "INSERT INTO links SELECT r.rowid, ? FROM refs r JOIN files f ON f.id = r.file_id "
            f"WHERE f.lang = ? {only or ''} AND r.rowid NOT IN (SELECT ref_id FROM links)", (aid, one))
        counts[UNRESOLVED] = counts.get(UNRESOLVED, 0) + max(cur.rowcount, 0)
    if why not in counts.setdefault("errors", []):
        counts["errors"].append(why)


def link_refs(w, ref_ids: Iterable[int], world: World | None = None) -> dict:
    """(Re-)resolve the given references (their old answers are removed first)."""
    ids = sorted(set(ref_ids))
    counts: dict = {}
    if not ids:
        return counts
    w.remove_links(ids)
    world = world or World(w.con)
    con = w.con
    con.execute("CREATE TEMP TABLE IF NOT EXISTS _relink (id INTEGER PRIMARY KEY)")
    con.execute("DELETE FROM _relink")
    con.executemany("INSERT INTO _relink VALUES (?)", ((i,) for i in ids))
    for lang, resolve in _resolvers().items():
        rows = con.execute(_refs_sql(lang) + " AND r.rowid IN (SELECT id FROM _relink) ORDER BY r.file_id",
                           (lang,)).fetchall()
        if rows:
            wanted = {r[0] for r in rows}
            try:
                w.add_links(_rows_of(resolve(map(partial(tuple.__new__, RefRow), rows), world), wanted, counts,
                                     w.answer_ids()))
            except Exception as e:  # noqa: BLE001 - as in link_all
                _unanswered(w, lang, "AND r.rowid IN (SELECT id FROM _relink)", _failure(lang, e), counts)
    con.execute("DELETE FROM _relink")
    return counts


# -- incremental updates -------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    """What changed files defined and imported before an update (to find who depends on them)."""

    paths: tuple[str, ...]
    quals: frozenset  # (qualname, name, kind, bases) of their definitions
    imports: frozenset  # (path, alias, target) of their module-level imports


def _facts_of(con, paths: Iterable[str]) -> tuple[set, set]:
    quals, imports = set(), set()
    for p in paths:
        quals.update(con.execute("SELECT d.qualname, d.name, d.kind, d.bases FROM defs d JOIN files f ON "
                                 "f.id = d.file_id WHERE f.path = ?", (p,)).fetchall())
        imports.update(con.execute("SELECT f.path, i.alias, i.target FROM includes i JOIN files f ON "
                                   "f.id = i.file_id WHERE f.path = ? AND f.lang = 'python' AND "
                                   "(i.scope IS NULL OR i.scope = '')", (p,)).fetchall())
    return quals, imports


def snapshot(w, paths: Iterable[str]) -> Snapshot:
    """Call before an update rewrites `paths` (changed or removed files)."""
    paths = tuple(paths)
    quals, imports = _facts_of(w.con, paths)
    return Snapshot(paths, frozenset(quals), frozenset(imports))


RELINK_ALL_SHARE = 0.4  # re-linking more than this share of the references: link everything


def relink_after_update(w, before: Snapshot) -> dict:
    """Re-resolve what an update may have changed (see the module docstring)."""
    con = w.con
    quals, imports = _facts_of(con, before.paths)
    changed = quals ^ before.quals
    ids: set[int] = set()
    # references of the changed files: theirs were deleted with the files' rows
    for p in before.paths:
        ids.update(i for (i,) in con.execute(
            "SELECT r.rowid FROM refs r JOIN files f ON f.id = r.file_id WHERE f.path = ?", (p,)))
    names = {c[1] for c in changed}
    for n in names:
        ids.update(i for (i,) in con.execute("SELECT rowid FROM refs WHERE base = ?", (n,)))
    for q in {c[0] for c in changed}:
        # by the target index, which holds resolved and candidate rows only: a changed definition's
        # name is in `names` above, so the references that named it otherwise are re-linked anyway
        ids.update(i for (i,) in con.execute("SELECT l.ref_id FROM answers a JOIN links l ON l.answer = a.id "
                                             f"WHERE a.target = ? AND a.{LINKED_BY_TARGET}", (q,)))
    if imports != before.imports:
        from .py_parser import module_name
        for path in {p for p, _a, _t in imports ^ before.imports}:
            module = module_name(path)[0]
            ids.update(i for (i,) in con.execute(
                "SELECT r.rowid FROM refs r WHERE r.file_id IN (SELECT file_id FROM includes WHERE target = ? "
                "OR target >= ? AND target < ?)", (module, module + ".", module + "/")))
    total = con.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
    if total and len(ids) > RELINK_ALL_SHARE * total:
        counts = link_all(w)
        counts["relinked"] = total
        return counts
    t0 = time.perf_counter()
    counts = link_refs(w, ids)
    counts["relinked"] = len(ids)
    counts["link_seconds"] = round(time.perf_counter() - t0, 2)
    return counts
