"""Building and updating an index: a pipeline of small named steps.

    discover files (stat) -> compare with the index (size+mtime, then git blob id)
      -> code stage:     parse what changed, in worker processes (C++ tree-sitter, Python)
      -> dispatch stage: read YAML with the tree's torchgen (in a subprocess, or inside the
                         stage's own process), scan registrations, bindings, resolve every (op, key)
      -> write: a first index into a new file renamed into place; an update in one transaction

A first index on several cores runs the two stages at once: the dispatch stage in a process of
its own (dispatch_process.py), started first and copied into the new file as soon as it is done,
the parse workers writing SQLite shards copied in once parsing ends (INSERT ... SELECT).

An update re-runs the dispatch stage only when one of its inputs changed (the YAML, torchgen,
the Python that registers kernels or binds ops, C++ with TORCH_LIBRARY_IMPL), so editing one
kernel file re-parses one file. Two index runs on one source take turns (a lock file).
"""

from __future__ import annotations

import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import graph, link
from .code_version import changed_parts, fingerprints
from .code_index import FileStat, ParsedFile, discover, parse_all, problems_of
from .cpp_registrations import CORE_FALLBACKS, core_registrations, fallbacks_from, scan_tree
from .dispatch_keys import DEFAULT_KEYS
from .errors import cannot_write, is_write_failure
from .gc_pause import paused_gc
from .locking import index_lock
from .model import IndexSummary, Problem, Registration
from .resolver import DispatchFacts, Resolver
from .sources import Source
from .store import CODE_TABLES, SCHEMA_VERSION, check_index_file, remove_scratch, writing
from .yaml_index import YamlFacts, read_yaml

Progress = Callable[[str, int, int], None]  # (step description, done, total)

# Files skipped for a reason that may pass without their stat changing (permissions, a race).
_RETRY_STATUSES = ("unreadable", "vanished", "parser_error")

# Python that the dispatch stage reads (registrations, bindings); any change re-runs it.
_DISPATCH_PY_PREFIXES = ("torch/_meta_registrations.py", "torch/_decomp/", "torch/_refs/", "torch/_prims_common/",
                         "torch/_prims/", "torch/nn/functional.py", "torch/functional.py", "torch/_tensor.py",
                         "torch/__init__.py", "torch/linalg/", "torch/fft/", "torch/special/", "torch/_VF.py",
                         "torchgen/", "tools/autograd/", "torch/_C/")


# Where the default index of a source lives, and whether it must be built first: in cache_dir.py,
# which a query imports without this module (yaml, torchgen's readers, the parsers: ~30 ms a
# process); importable from here as before.
from .cache_dir import default_db_path, why_build  # noqa: E402,F401


# -- the dispatch stage ----------------------------------------------------------------------------

@dataclass
class Scans:
    registrations: list[Registration] = field(default_factory=list)
    fallbacks: dict = field(default_factory=dict)
    fallbacks_from: str = "table"
    problems: list[Problem] = field(default_factory=list)


def scan_cpp(source: Source, scans: Scans) -> None:
    if source.layout == "checkout":
        regs, problems = scan_tree(source.root)
        scans.registrations.extend(regs)
        scans.problems.extend(problems)
        scans.fallbacks = fallbacks_from(regs)
        scans.fallbacks_from = "scan"
    else:
        scans.fallbacks = {k: (kind, file, 0) for k, (kind, file) in CORE_FALLBACKS.items()}
        scans.fallbacks_from = "table"
        scans.registrations.extend(core_registrations(source.root))


def scan_python(source: Source, ops: dict, scans: Scans) -> None:
    from .python_registrations import python_meta_registrations
    regs, problems = python_meta_registrations(source.root, source.layout, ops)
    scans.registrations.extend(regs)
    scans.problems.extend(problems)


@dataclass
class DispatchStage:
    yaml: YamlFacts
    scans: Scans
    bindings: list
    entries: list
    records: list
    nodes: list
    edges: list
    problems: list


def run_dispatch_stage(source: Source, yaml_facts: YamlFacts, keys: tuple[str, ...], say: Progress) -> DispatchStage:
    with paused_gc():  # ~1M objects that live until written: the cyclic GC would double the time
        return _dispatch_stage(source, yaml_facts, keys, say)


def _dispatch_stage(source: Source, yaml_facts: YamlFacts, keys: tuple[str, ...], say: Progress) -> DispatchStage:
    scans = Scans()
    scan_cpp(source, scans)
    ops = {o.op: o for o in yaml_facts.ops}
    say("scanning torch's Python registrations and bindings", 0, 0)
    scan_python(source, ops, scans)
    from .bindings import python_bindings
    bindings, binding_problems = python_bindings(yaml_facts.ops, source.root, source.layout)
    say("resolving every operator under every dispatch key", 0, 0)
    facts = DispatchFacts(ops=ops, autograd=yaml_facts.autograd, manual_autograd=yaml_facts.manual_autograd,
                          registrations=scans.registrations, fallbacks=scans.fallbacks,
                          fallbacks_from=scans.fallbacks_from)
    resolver = Resolver(facts)
    all_ops = resolver.known_ops()
    entries = [resolver.resolve(op, k) for op in all_ops for k in keys]
    records = graph.op_records(yaml_facts, bindings, source)
    records += graph.registration_only_records(all_ops, set(ops), scans.registrations)
    nodes, edges = graph.nodes_and_edges(yaml_facts, bindings, entries, source)
    problems = yaml_facts.problems + scans.problems + binding_problems
    return DispatchStage(yaml_facts, scans, bindings, entries, records, nodes, edges, problems)


def write_dispatch_stage(w, stage: DispatchStage, source: Source, keys: tuple[str, ...]) -> int:
    w.set_meta(source=source.info.as_json(), yaml_reader=stage.yaml.reader, keys=list(keys),
               fallbacks_from=stage.scans.fallbacks_from, **fingerprints("dispatch"))
    w.add_ops((r["op"], r["name"], r["overload"], r) for r in stage.records)
    w.add_dispatch(stage.entries)
    w.add_derivatives((d.op, d.node, d.dispatch_key, graph.derivative_record(d)) for d in stage.yaml.derivatives)
    n_edges = w.add_graph(stage.nodes, stage.edges)
    w.add_problems(stage.problems, stage="dispatch")
    return n_edges


# -- the code stage --------------------------------------------------------------------------------

def affects_dispatch(path: str, source: Source) -> bool:
    if path.endswith(".yaml"):
        return True
    return path.startswith(_DISPATCH_PY_PREFIXES)


def _known_files(db: Path) -> dict[str, tuple[int, int, str | None, str, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {p: (s, m, h, st, lang) for p, s, m, h, st, lang in
                con.execute("SELECT path, size, mtime_ns, hash, status, lang FROM files")}
    finally:
        con.close()


def _yaml_stats(source: Source) -> list[FileStat]:
    out = []
    for role in ("native_functions", "tags", "derivatives", "deprecated"):
        p = source.path_of(role)
        try:
            st = p.stat()
        except OSError:
            continue
        out.append(FileStat(source.rel(role), "yaml", st.st_size, st.st_mtime_ns))
    return out


def _yaml_entry(fs: FileStat) -> ParsedFile:
    return ParsedFile(fs.path, fs.lang, fs.size, fs.mtime_ns, None, "ok")


def _same_source(db: Path, source: Source, code: bool) -> bool:
    """True when `db` indexes `source` in this format, its code part parsed by this parser (an update
    keeps unchanged files' facts: another parser's would stay)."""
    try:
        meta = check_index_file(db)
    except Exception:  # noqa: BLE001 - any doubt means a full build (which refuses foreign files)
        return False
    import json
    try:
        return json.loads(meta.get("source", "{}")).get("root") == source.info.root and \
            int(meta.get("schema", 0)) == SCHEMA_VERSION and not (code and changed_parts(meta, ("parser",)))
    except ValueError:
        return False


# -- entry point -----------------------------------------------------------------------------------

def build_index(source: Source, db: Path, progress: Progress | None = None, jobs: int = 0,
                keys: tuple[str, ...] = DEFAULT_KEYS, code: bool = True,
                on_wait: Callable[[], None] | None = None) -> IndexSummary:
    """Index `source` into `db`: a full build the first time, an incremental update after."""
    say = progress or (lambda step, done, total: None)
    jobs = jobs or os.cpu_count() or 1
    try:
        with index_lock(db, on_wait=on_wait):
            if db.exists() and _same_source(db, source, code):
                return _update(source, db, say, jobs, keys, code)
            return _full(source, db, say, jobs, keys, code)
    except (sqlite3.OperationalError, OSError) as e:
        if is_write_failure(e):
            raise cannot_write(db, e) from e
        raise


def _full(source: Source, db: Path, say: Progress, jobs: int, keys: tuple[str, ...], code: bool) -> IndexSummary:
    t0 = time.perf_counter()
    problems: list[Problem] = []
    if jobs > 1 and code:
        return _full_overlapped(source, db, say, jobs, keys, problems, t0)
    say("finding files", 0, 0)
    files = discover(source, problems) if code else []
    with ThreadPoolExecutor(max_workers=1) as pool, writing(db) as w:
        pending = pool.submit(read_yaml, source)  # a subprocess: works while this process parses
        counts = _write_code(w, source, [(f, None) for f in files], [], jobs, say)
        code_problems = counts.pop("_problems")
        w.add_problems(problems, stage="discover")
        say("reading native_functions.yaml and derivatives.yaml with the tree's torchgen", 0, 0)
        stage = run_dispatch_stage(source, pending.result(), keys, say)
        say("writing the index", 0, 0)
        for fs in _yaml_stats(source):
            w.add_parsed(_yaml_entry(fs))
        n_edges = write_dispatch_stage(w, stage, source, keys)
        counts.update(dispatch_counts(stage, n_edges))
        if code:
            _link(w, say, counts, jobs)
            w.set_meta(**fingerprints("parser"))
        w.set_meta(built_at=time.strftime("%Y-%m-%dT%H:%M:%S"), counts=counts)
    return _summary(source, counts, problems + code_problems + stage.problems, t0)


def _full_overlapped(source: Source, db: Path, say: Progress, jobs: int, keys: tuple[str, ...],
                     problems: list[Problem], t0: float) -> IndexSummary:
    """A full build with the dispatch stage in its own process, started first (forked before the
    new index file is opened, so it inherits no connection) and merged as soon as it is done,
    while the workers still parse: the end of the build, when one core works alone, is shorter."""
    from .dispatch_process import BackgroundDispatchStage
    shards = [db.with_name(f".{db.name}.{os.getpid()}.shard{k}.tmp") for k in range(jobs)]
    with BackgroundDispatchStage(dispatch_stage_into, source, keys, db) as stage, writing(db) as w, _removed_after(shards):
        say("finding files", 0, 0)
        files = discover(source, problems)

        def merge_when_ready() -> None:
            if stage.ready():
                stage.merge_into(w)
        counts = _write_code(w, source, [(f, None) for f in files], [], jobs, say, shards=shards,
                             meanwhile=merge_when_ready)
        code_problems = counts.pop("_problems")
        w.add_problems(problems, stage="discover")
        for fs in _yaml_stats(source):
            w.add_parsed(_yaml_entry(fs))
        say("resolving dispatch (the tree's torchgen, registrations, every operator under every key)", 0, 0)
        stage_counts, stage_problems = stage.merge_into(w)
        counts.update(stage_counts)
        _link(w, say, counts, jobs)
        say("writing the index", 0, 0)
        w.set_meta(**fingerprints("parser"))
        w.set_meta(built_at=time.strftime("%Y-%m-%dT%H:%M:%S"), counts=counts)
    return _summary(source, counts, problems + code_problems + stage_problems, t0)


def _summary(source: Source, counts: dict, problems: list[Problem], t0: float) -> IndexSummary:
    counts["problems"] = len(problems)
    return IndexSummary(source=source.info, counts=counts, problems=tuple(problems),
                        seconds=time.perf_counter() - t0)


def dispatch_stage_into(source: Source, keys: tuple[str, ...], scratch: Path) -> tuple[dict, list[Problem]]:
    """The whole dispatch stage with its rows written into `scratch`: what the background process
    (dispatch_process.py) runs. The names are looked up at run time, so a test's monkeypatch applies."""
    from .store import ScratchWriter
    yaml_facts = read_yaml(source, in_this_process=True)  # this process ends with the stage
    stage = run_dispatch_stage(source, yaml_facts, keys, lambda *a: None)
    w = ScratchWriter(scratch)
    n_edges = write_dispatch_stage(w, stage, source, keys)
    w.close()
    return dispatch_counts(stage, n_edges), stage.problems


def dispatch_counts(stage: DispatchStage, n_edges: int) -> dict:
    return {"ops": len(stage.records), "dispatch_entries": len(stage.entries),
            "derivatives": len(stage.yaml.derivatives), "python_bindings": len(stage.bindings),
            "registrations": len(stage.scans.registrations), "nodes": len(stage.nodes), "edges": n_edges}


def _write_code(w, source: Source, todo: list[tuple[FileStat, str | None]], removed: list[str], jobs: int,
                say: Progress, shards: list[Path] | None = None, meanwhile: Callable[[], None] | None = None) -> dict:
    """Parse `todo` and store it; with `shards` (a full build), the workers store their rows in
    those files and this copies them in once all are parsed. `meanwhile` is called between
    batches of results (this process is otherwise idle while the workers parse)."""
    counts = {"files_parsed": 0, "files_unchanged": 0, "files_skipped": 0, "definitions": 0, "references": 0,
              "code_registrations": 0, "parse_errors": 0, "_problems": []}
    for path in removed:
        w.remove_file(path)
    total = len(todo)
    # The bar follows bytes, not files: the biggest files are parsed first, so a count of files
    # would crawl for the first seconds and then race.
    total_bytes = sum(fs.size for fs, _ in todo) or 1
    done_bytes = 0

    def progress(done: int, _total: int) -> None:
        say(f"parsing {total} files ({total_bytes / 2**20:.0f} MB): {done} done", done_bytes, total_bytes)
        if meanwhile is not None:
            meanwhile()
    for parsed in parse_all(source, todo, jobs, progress=progress,
                            shards=[str(p) for p in shards] if shards else None):
        done_bytes += parsed.size
        if parsed.status == "unchanged":
            w.touch_file(parsed.path, parsed.size, parsed.mtime_ns)
            counts["files_unchanged"] += 1
            continue
        if parsed.stored is None:
            w.remove_file(parsed.path)
            w.add_parsed(parsed)
        counts["files_parsed" if parsed.status == "ok" else "files_skipped"] += 1
        n_defs, n_refs, n_regs = parsed.fact_counts()
        counts["definitions"] += n_defs
        counts["references"] += n_refs
        counts["code_registrations"] += n_regs
        counts["parse_errors"] += parsed.parse_errors
        counts["_problems"].extend(problems_of(parsed))
    for shard in shards or ():
        if shard.exists():
            say("gathering the parsed files", total, total)
            w.copy_from(shard, CODE_TABLES + ("problems",))
    say(f"parsed {total} files", total, total)
    return counts


@contextmanager
def _removed_after(paths: list[Path]) -> Iterator[None]:
    """Scratch files that must not outlive the build, whatever happens."""
    try:
        yield
    finally:
        for p in paths:
            remove_scratch(p)


def _update(source: Source, db: Path, say: Progress, jobs: int, keys: tuple[str, ...], code: bool) -> IndexSummary:
    t0 = time.perf_counter()
    problems: list[Problem] = []
    say("checking what changed", 0, 0)
    known = _known_files(db)
    files = (discover(source, problems) if code else []) + _yaml_stats(source)
    current = {f.path for f in files}
    # with --no-code, the code part of the index is left as it is (neither updated nor dropped)
    removed = [p for p, k in known.items() if p not in current and (code or k[4] == "yaml")]
    todo = []
    for f in files:
        k = known.get(f.path)
        # a file that could not be read or parsed last time is tried again, changed or not
        if k is None or (k[0], k[1]) != (f.size, f.mtime_ns) or k[3] in _RETRY_STATUSES:
            todo.append((f, k[2] if k and k[3] not in _RETRY_STATUSES else None))
    yaml_changed = [f for f, _ in todo if f.lang == "yaml"]
    code_todo = [(f, h) for f, h in todo if f.lang != "yaml"]
    # torchatlas's own code changed since this index was built (a parser change made _full rebuild)
    stale = changed_parts(check_index_file(db), ("linker", "dispatch") if code else ("dispatch",))
    code_changed, relink_all = "dispatch" in stale, "linker" in stale
    if not todo and not removed and not stale:
        counts = {"files_changed": 0}
        return IndexSummary(source=source.info, counts=counts, problems=(), seconds=time.perf_counter() - t0)
    with ThreadPoolExecutor(max_workers=1) as pool, writing(db, in_place=True) as w:
        had_library = {p for p in removed + [f.path for f, _ in code_todo] if _has_library_impl(w, p)}
        before = link.snapshot(w, removed + [f.path for f, _ in code_todo])
        counts = _write_code(w, source, code_todo, removed, jobs, say)
        really_changed = _changed_paths(w, code_todo)
        needs_dispatch = code_changed or bool(yaml_changed) or bool(had_library & (set(removed) | set(really_changed))) or any(
            affects_dispatch(p, source) for p in removed) or any(
            affects_dispatch(p, source) or _has_library_impl(w, p) for p in really_changed)
        for fs in yaml_changed:
            w.remove_file(fs.path)
            w.add_parsed(_yaml_entry(fs))
        stage = None
        if needs_dispatch:
            pending = pool.submit(read_yaml, source)
            say("re-reading the YAML and re-resolving dispatch (one of their inputs changed)", 0, 0)
            stage = run_dispatch_stage(source, pending.result(), keys, say)
            w.clear_dispatch_stage()
            n_edges = write_dispatch_stage(w, stage, source, keys)
            counts.update(dispatch_counts(stage, n_edges))
        if stage is not None or relink_all:  # the C bindings Python names resolve to may have changed
            _link(w, say, counts)
        elif code_todo or removed:
            say("re-linking the references that depend on the changed files", 0, 0)
            _count_links(counts, link.relink_after_update(w, before), w)
        if code:  # the code part is this parser's and linker's (were either another, all was redone)
            w.set_meta(**fingerprints("parser", "linker"))
        w.con.execute("DELETE FROM problems WHERE stage = 'discover'")  # found afresh by each walk
        w.add_problems(problems, stage="discover")
        w.set_meta(updated_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    all_problems = problems + counts.pop("_problems") + (stage.problems if stage else [])
    counts.update({"files_changed": len(todo), "files_removed": len(removed), "dispatch_rebuilt": bool(stage),
                   "code_changed": list(stale), "relinked_all": stage is not None or relink_all})
    return _summary(source, counts, all_problems, t0)


def _link(w, say: Progress, counts: dict, jobs: int = 1) -> None:
    """The link step: every reference's resolution (indexes/link.py), once definitions, imports and
    the C bindings are all in. In parallel only in a new file (it commits before forking; an update
    is one transaction)."""
    say("resolving every reference (imports, classes, bindings)", 0, 0)
    link_counts = link.link_all(w, jobs)
    _count_links(counts, link_counts, w)
    if not link_counts.get("skipped"):
        w.set_meta(**fingerprints("linker"))


def _count_links(counts: dict, link_counts: dict, w=None) -> None:
    for k, v in link_counts.items():
        if k == "errors":
            if w is not None:  # said with the index's other problems
                from .model import Location
                w.add_problems([Problem(Location("indexes/link.py"), "", m, "error") for m in v], stage="code")
            continue
        counts[k if k in ("link_seconds", "relinked", "code_indexes_seconds") else f"links_{k}"] = v


def _changed_paths(w, todo: list[tuple[FileStat, str | None]]) -> list[str]:
    """Of the files whose stat changed, those whose content changed too (their hash differs)."""
    out = []
    for fs, old_hash in todo:
        row = w.con.execute("SELECT hash FROM files WHERE path = ?", (fs.path,)).fetchone()
        if row is None or row[0] != old_hash:
            out.append(fs.path)
    return out


def _has_library_impl(w, path: str) -> bool:
    if not path.endswith((".cpp", ".cc", ".cu", ".mm")):
        return False
    row = w.con.execute("SELECT 1 FROM code_regs r JOIN files f ON f.id = r.file_id WHERE f.path = ? AND "
                        "r.kind LIKE 'TORCH_LIBRARY%' LIMIT 1", (path,)).fetchone()
    return row is not None
