"""The index on disk: one SQLite file per source.

Writes are all-or-nothing. A full index is built into a temporary file beside the target and
moved over it with an atomic rename only once it is complete, so an interrupted or failed index
leaves the previous one exactly as it was. Readers open the file read-only.

The file says what it is (`meta.tool = torchatlas`, `meta.schema`): a foreign or corrupt SQLite
file is never read as an index, and never overwritten by one.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import BadIndex
from .model import DispatchEntry, Edge, Node, Problem, SourceInfo

TOOL = "torchatlas"
SCHEMA_VERSION = 8  # 3: includes.alias/scope, the links table (issue 13: resolution at index time);
# 4: refs.nargs (a C++ call's argument count: overloads by arity), data members and TORCH_ARG accessors as
# definitions, typed locals and receivers, torch/_C stubs (what the parsers store changed: rebuild);
# 5: links.status a number (LINK_STATUSES), links.why an id into `whys`, no row for a reference whose
# answer follows from its name and kind (link_model.default_answer), the target index only over resolved and
# candidate rows (what the link step writes in a cold build: 869k -> ~700k narrower rows on v2.6.0);
# 6: each distinct answer stored once (`answers`, one row per target), `links` a reference's answer id
# (v2.6.0: 508k links of two integers and 145k answer rows, was 738k rows of five columns);
# 7: the Python parser records more typed locals (bound to an annotated parameter, loop variables and
# elements of a named container): what it stores changed, so an index of format 6 is rebuilt (an
# incremental update would keep the unchanged files' old facts and answers);
# 8: the meta table names the parser and linker code that built the index (code_version.py): a change of
# either is caught by those from now on (a full re-parse, or the link step again), with no format bump

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ops (op TEXT PRIMARY KEY, name TEXT NOT NULL, overload TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE dispatch (op TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, registered_in TEXT,
                       kernel TEXT, defined_at TEXT, via TEXT NOT NULL, PRIMARY KEY (op, key));
CREATE TABLE derivatives (op TEXT NOT NULL, node TEXT, dispatch_key TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE nodes (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT, line INTEGER,
                    attrs TEXT, UNIQUE (kind, name));
CREATE TABLE edges (src INTEGER NOT NULL, dst INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT, line INTEGER,
                    attrs TEXT);
CREATE TABLE problems (path TEXT, line INTEGER, entry TEXT, message TEXT NOT NULL, severity TEXT NOT NULL,
                       stage TEXT NOT NULL DEFAULT 'dispatch');
CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, lang TEXT NOT NULL, size INTEGER,
                    mtime_ns INTEGER, hash TEXT, status TEXT NOT NULL, parse_errors INTEGER NOT NULL DEFAULT 0);
CREATE TABLE defs (file_id INTEGER NOT NULL, name TEXT NOT NULL, qualname TEXT NOT NULL, kind TEXT NOT NULL,
                   line INTEGER NOT NULL, end_line INTEGER NOT NULL, signature TEXT, bases TEXT);
CREATE TABLE includes (file_id INTEGER NOT NULL, target TEXT NOT NULL, line INTEGER NOT NULL, system INTEGER,
                       alias TEXT, scope TEXT);
CREATE TABLE refs (file_id INTEGER NOT NULL, name TEXT NOT NULL, base TEXT NOT NULL, line INTEGER NOT NULL,
                   scope TEXT, kind TEXT, nargs INTEGER);
CREATE TABLE code_regs (file_id INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, line INTEGER NOT NULL,
                        target TEXT, key TEXT, scope TEXT);
CREATE TABLE links (ref_id INTEGER PRIMARY KEY, answer INTEGER NOT NULL);
CREATE TABLE answers (id INTEGER NOT NULL, rank INTEGER NOT NULL, status INTEGER NOT NULL, target TEXT,
                      why TEXT NOT NULL, PRIMARY KEY (id, rank)) WITHOUT ROWID;
"""

# Created after a bulk load (faster than maintaining them row by row).
_INDEXES = """
CREATE INDEX IF NOT EXISTS ops_name ON ops(name);
CREATE INDEX IF NOT EXISTS dispatch_kernel ON dispatch(kernel);
CREATE INDEX IF NOT EXISTS derivatives_op ON derivatives(op);
CREATE INDEX IF NOT EXISTS nodes_name ON nodes(name);
CREATE INDEX IF NOT EXISTS edges_src ON edges(src, kind);
CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst, kind);
CREATE INDEX IF NOT EXISTS defs_name ON defs(name);
CREATE INDEX IF NOT EXISTS defs_qualname ON defs(qualname);
CREATE INDEX IF NOT EXISTS defs_file ON defs(file_id);
CREATE INDEX IF NOT EXISTS includes_file ON includes(file_id);
CREATE INDEX IF NOT EXISTS includes_target ON includes(target);
CREATE INDEX IF NOT EXISTS refs_base ON refs(base);
CREATE INDEX IF NOT EXISTS refs_file ON refs(file_id);
CREATE INDEX IF NOT EXISTS code_regs_name ON code_regs(name);
CREATE INDEX IF NOT EXISTS code_regs_file ON code_regs(file_id);
CREATE INDEX IF NOT EXISTS links_answer ON links(answer);
CREATE INDEX IF NOT EXISTS answers_target ON answers(target) WHERE status < 2;
"""

# answers.status: the position in this tuple (link_model.STATUSES, in the same order). Resolved and candidate
# (< 2) are the rows looked up by target (refs, callers; the partial index answers_target).
LINK_STATUSES = ("resolved", "candidate", "unresolved", "builtin", "external")
LINKED_BY_TARGET = "status < 2"  # the partial index's condition: a query by target states it as written

# The tables the dispatch stage (YAML, registrations, resolver) owns; the code stage owns the rest.
DISPATCH_TABLES = ("ops", "dispatch", "derivatives", "nodes", "edges")
CODE_TABLES = ("files", "defs", "includes", "refs", "code_regs")


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def check_index_file(path: Path, allow_old_schema: bool = False) -> dict:
    """Open `path` read-only and return its meta table; raise BadIndex if it is not our index."""
    if not path.exists():
        raise BadIndex(f"{path}: no index here", hint="run `torchatlas index` first")
    if not _is_sqlite(path):
        raise BadIndex(f"{path}: not an SQLite file (foreign or corrupt)",
                       hint="remove it, or point --db at another file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise BadIndex(f"{path}: not a torchatlas index ({e})", hint="remove it, or point --db at another file") from e
    if meta.get("tool") != TOOL:
        raise BadIndex(f"{path}: an SQLite file that is not a torchatlas index",
                       hint="torchatlas will not overwrite it; point --db at another file")
    if int(meta.get("schema", 0)) != SCHEMA_VERSION and not allow_old_schema:
        raise _format_mismatch(path, meta)
    return meta


def older_format(path: Path) -> bool:
    """True for a torchatlas index of an older format than this one reads; False for anything else."""
    try:
        return int(check_index_file(path, allow_old_schema=True).get("schema", 0) or 0) < SCHEMA_VERSION
    except (BadIndex, ValueError):
        return False


def _format_mismatch(path: Path, meta: dict) -> BadIndex:
    """An index another torchatlas wrote: say which way it differs and the command that re-indexes it."""
    found = int(meta.get("schema", 0) or 0)
    try:
        source = json.loads(meta.get("source", "{}"))
    except ValueError:
        source = {}
    root = source.get("root") or ""
    if source.get("kind") == "installed" and root:
        root = str(Path(root) / "torch")  # `index SITE-PACKAGES/torch` reads it as the installed package again
    again = f"torchatlas index {shlex.quote(root)} --db {shlex.quote(str(path))}" if root else \
        f"torchatlas index --db {shlex.quote(str(path))}"
    if found < SCHEMA_VERSION:
        return BadIndex(f"{path}: built by an older torchatlas (index format {found}; this one reads format "
                        f"{SCHEMA_VERSION}, which answers questions the old one cannot)",
                        hint=f"re-index: {again}")
    return BadIndex(f"{path}: built by a newer torchatlas (index format {found}; this one reads {SCHEMA_VERSION})",
                    hint=f"upgrade torchatlas, or re-index with this one: {again}")


_quote = json.encoder.encode_basestring_ascii  # json.dumps's own string encoder (C)


def json_of_strings(values: tuple) -> str:
    """json.dumps(list(values)), byte for byte, without its per-call set-up (~65k calls a build)."""
    try:
        return "[" + ", ".join(map(_quote, values)) + "]"
    except TypeError:  # not all strings
        return json.dumps(list(values))


def json_of_pairs(pairs: tuple) -> str:
    """json.dumps(dict(pairs)), byte for byte, for (str, str) pairs with distinct keys."""
    try:
        if len({k for k, _ in pairs}) == len(pairs):
            return "{" + ", ".join(_quote(k) + ": " + _quote(v) for k, v in pairs) + "}"
    except TypeError:
        pass
    return json.dumps(dict(pairs))


class _JsonCache(dict):
    """JSON text of hashable values (tuples), each encoded once by `encode`. Rows repeat the same
    chains and attributes."""

    def __init__(self, encode):
        super().__init__()
        self.encode = encode

    def __missing__(self, value):
        text = self[value] = self.encode(value)
        return text


class _AnswerIds(dict):
    """A link answer (status, targets, whys) -> its id in `answers`, for one writer: `add` gives a
    new answer the next id and keeps its rows in `new` until add_links writes them."""

    def __init__(self, first: int):
        super().__init__()
        self.next = first
        self.new: list[tuple] = []

    def add(self, key: tuple, rows: Iterable[tuple[int, str, str | None, str]]) -> int:
        """`rows`: (rank, status, target, why) of the answer `key`."""
        i = self[key] = self.next
        self.next += 1
        self.new.extend((i, rank, _STATUS_CODE[status], target, why) for rank, status, target, why in rows)
        return i


_STATUS_CODE = {s: i for i, s in enumerate(LINK_STATUSES)}


class _Rows:
    """Row writers shared by a full build (a new file) and an in-place update (a transaction)."""

    con: sqlite3.Connection

    def set_meta(self, **values) -> None:
        self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()])

    def index_tables(self, tables: Iterable[str]) -> None:
        """Create the indexes of `tables` now, once their rows are all in (a new file gets the rest at
        commit; in an existing index they are there already and this does nothing)."""
        wanted = {f" ON {t}(" for t in tables}
        for statement in _INDEXES.splitlines():  # execute, not executescript: that would COMMIT
            if any(w in statement for w in wanted):
                self.con.execute(statement)

    def add_ops(self, rows: Iterable[tuple[str, str, str, dict]]) -> None:
        self.con.executemany("INSERT INTO ops VALUES (?, ?, ?, ?)",
                             ((op, n, o, json.dumps(rec)) for op, n, o, rec in rows))

    def add_dispatch(self, entries: Iterable[DispatchEntry]) -> None:
        via_json = _JsonCache(json_of_strings)  # 66k entries, a few thousand distinct provenance chains
        self.con.executemany("INSERT INTO dispatch VALUES (?, ?, ?, ?, ?, ?, ?)",
                             ((e.op, e.key, e.kind, e.registered_in, e.kernel, e.defined_at, via_json[e.via])
                              for e in entries))

    def add_derivatives(self, rows: Iterable[tuple[str, str | None, str, dict]]) -> None:
        self.con.executemany("INSERT INTO derivatives VALUES (?, ?, ?, ?)",
                             ((op, node, key, json.dumps(rec)) for op, node, key, rec in rows))

    def add_graph(self, nodes: Iterable[Node], edges: Iterable[Edge]) -> int:
        attrs_json = _JsonCache(json_of_pairs)
        ids: dict[tuple[str, str], int] = {}
        first_id = (self.con.execute("SELECT MAX(id) FROM nodes").fetchone()[0] or 0) + 1
        node_rows = []
        # `_value_` is the member's plain attribute; `.value` is a property: 400k calls a build
        for n in nodes:
            key = (n.kind._value_, n.name)
            if key in ids:
                continue
            ids[key] = first_id + len(node_rows)
            node_rows.append((ids[key], key[0], n.name, n.location.path if n.location else None,
                              n.location.line if n.location else None, attrs_json[n.attrs] if n.attrs else None))
        self.con.executemany("INSERT INTO nodes (id, kind, name, path, line, attrs) VALUES (?, ?, ?, ?, ?, ?)",
                             node_rows)
        rows = []
        for e in edges:
            src = ids.get((e.src[0]._value_, e.src[1]))
            dst = ids.get((e.dst[0]._value_, e.dst[1]))
            if src is None or dst is None:
                continue
            rows.append((src, dst, e.kind._value_, e.location.path if e.location else None,
                         e.location.line if e.location else None, attrs_json[e.attrs] if e.attrs else None))
        self.con.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def add_problems(self, problems: Iterable[Problem], stage: str = "dispatch") -> None:
        self.con.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?)",
                             ((p.location.path, p.location.line, p.entry, p.message, p.severity, stage)
                              for p in problems))

    def copy_from(self, path: Path, tables: Iterable[str]) -> None:
        """Copy the rows of `tables` from another file with this schema (a ScratchWriter's), in C."""
        self.con.execute("ATTACH DATABASE ? AS scratch", (str(path),))
        try:
            for table in tables:
                if table == "links":  # with the scratch file's answers, their ids moved past this file's
                    off = self.con.execute("SELECT COALESCE(MAX(id), 0) FROM main.answers").fetchone()[0]
                    self.con.execute("INSERT INTO main.answers SELECT id + ?, rank, status, target, why "
                                     "FROM scratch.answers", (off,))
                    self.con.execute("INSERT INTO main.links SELECT ref_id, answer + ? FROM scratch.links", (off,))
                    self.__dict__.pop("_answer_ids", None)  # numbered from the new maximum when next asked
                    continue
                verb = "INSERT OR REPLACE" if table == "meta" else "INSERT"
                self.con.execute(f"{verb} INTO main.{table} SELECT * FROM scratch.{table}")
            self.con.commit()
        finally:
            self.con.execute("DETACH DATABASE scratch")

    def add_parsed(self, parsed, fid: int | None = None) -> None:
        """One file of the code index: its row in `files` (id `fid`, or the next one) and its facts."""
        cur = self.con.execute("INSERT INTO files (id, path, lang, size, mtime_ns, hash, status, parse_errors) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (fid, parsed.path, parsed.lang, parsed.size, parsed.mtime_ns, parsed.hash,
                                parsed.status, parsed.parse_errors))
        fid = cur.lastrowid
        if parsed.defs:
            self.con.executemany("INSERT INTO defs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(fid,) + d for d in parsed.defs])
        if parsed.includes:
            self.con.executemany("INSERT INTO includes VALUES (?, ?, ?, ?, ?, ?)", [(fid,) + i for i in parsed.includes])
        if parsed.refs:
            self.con.executemany("INSERT INTO refs VALUES (?, ?, ?, ?, ?, ?, ?)", [(fid,) + r for r in parsed.refs])
        if parsed.regs:
            self.con.executemany("INSERT INTO code_regs VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(fid,) + g for g in parsed.regs])
        self.add_problems(parsed.problems(), stage="code")  # a code_index.ParsedFile: no import back

    def remove_file(self, path: str) -> None:
        row = self.con.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return
        self.remove_links_of_file(row[0])
        for table in ("defs", "includes", "refs", "code_regs"):
            self.con.execute(f"DELETE FROM {table} WHERE file_id = ?", (row[0],))
        self.con.execute("DELETE FROM files WHERE id = ?", (row[0],))
        self.con.execute("DELETE FROM problems WHERE stage = 'code' AND path = ?", (path,))

    # -- links: each reference's resolution (indexes/link.py writes them) ---------------------------
    # One row per answer: `ref_id` is the reference's rowid in `refs` (stable: refs are only ever
    # inserted and deleted, never VACUUMed), `rank` 0 for the best. See link_model.Link for the statuses.

    # A reference may have no row: its answer is link_model.default_answer(lang, name, kind) (a Python
    # builtin, std::..., the C++ link context), which the readers in code_queries supply. Many
    # references share one answer (a name's in a file, a method's candidates): each distinct answer
    # is stored once, in `answers`, and a reference's row names it.

    def answer_ids(self) -> _AnswerIds:
        """The answers this writer has stored (answer -> id); link.py adds new ones, add_links writes them."""
        ids = self.__dict__.get("_answer_ids")
        if ids is None:
            first = (self.con.execute("SELECT COALESCE(MAX(id), 0) FROM answers").fetchone()[0] or 0) + 1
            ids = self.__dict__["_answer_ids"] = _AnswerIds(first)
        return ids

    def add_links(self, rows: Iterable[tuple[int, int]]) -> None:
        """(ref_id, answer id from `answer_ids()`) rows; then the answers new since the last call."""
        self.con.executemany("INSERT INTO links VALUES (?, ?)", rows)
        ids = self.answer_ids()
        if ids.new:
            self.con.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?)", ids.new)
            ids.new = []

    def clear_links(self) -> None:
        self.con.execute("DELETE FROM links")
        self.con.execute("DELETE FROM answers")
        self.__dict__.pop("_answer_ids", None)

    def remove_links(self, ref_ids: Iterable[int]) -> None:
        self.con.executemany("DELETE FROM links WHERE ref_id = ?", ((i,) for i in ref_ids))

    def remove_links_of_file(self, file_id: int) -> None:
        self.con.execute("DELETE FROM links WHERE ref_id IN (SELECT rowid FROM refs WHERE file_id = ?)", (file_id,))

    def touch_file(self, path: str, size: int, mtime_ns: int) -> None:
        self.con.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def clear_dispatch_stage(self) -> None:
        for table in DISPATCH_TABLES:
            self.con.execute(f"DELETE FROM {table}")
        self.con.execute("DELETE FROM problems WHERE stage = 'dispatch'")


class IndexWriter(_Rows):
    """Builds a new index in a temporary file; `commit()` moves it into place atomically."""

    def __init__(self, target: Path):
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            check_index_file(target, allow_old_schema=True)  # refuse to replace anything not ours
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if self.tmp.exists():
            self.tmp.unlink()
        self.con = sqlite3.connect(self.tmp)
        try:
            self.con.execute("PRAGMA journal_mode=OFF")
            self.con.execute("PRAGMA synchronous=OFF")
            self.con.executescript(_DDL)
        except BaseException:  # no room even for the schema: nothing may be left behind
            self.abort()
            raise

    def commit(self) -> None:
        self.set_meta(tool=TOOL, schema=str(SCHEMA_VERSION))
        self.con.executescript(_INDEXES)  # IF NOT EXISTS: what index_tables made is kept
        self.con.commit()
        self.con.execute("PRAGMA journal_mode=WAL")  # later in-place updates never block readers
        self.con.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        try:
            self.con.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


SQLITE_FILE_SUFFIXES = ("", "-journal", "-wal", "-shm")  # a database file and the side files SQLite keeps


def remove_scratch(path: Path) -> None:
    """Delete a scratch or temporary SQLite file and its side files, if there."""
    for suffix in SQLITE_FILE_SUFFIXES:
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


class ScratchWriter(_Rows):
    """Rows written by another process (the dispatch stage, a parse worker) into a file of their
    own, to be copied into the index being built (`copy_from`)."""

    def __init__(self, path: Path):
        self.con = sqlite3.connect(path)
        # Written once front to back and read once front to back: big pages, fewer of them.
        try:
            self.con.execute("PRAGMA page_size=65536")
            self.con.execute("PRAGMA journal_mode=OFF")
            self.con.execute("PRAGMA synchronous=OFF")
            self.con.executescript(_DDL)
        except BaseException:
            self.con.close()
            remove_scratch(path)
            raise

    def close(self) -> None:
        self.con.commit()
        self.con.close()


class IndexUpdater(_Rows):
    """Changes an existing index in place, inside one transaction: all of it lands or none."""

    def __init__(self, target: Path):
        check_index_file(target)
        self.target = target
        self.con = sqlite3.connect(target, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.con.execute("COMMIT")
        self.con.close()

    def abort(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except sqlite3.Error:  # the transaction is already gone (a failed COMMIT rolls back itself)
            pass
        finally:
            self.con.close()


@contextmanager
def writing(target: Path, in_place: bool = False) -> Iterator[_Rows]:
    """Build (or, in place, update) an index; on any exception, Ctrl-C included, nothing of it lands."""
    w = IndexUpdater(target) if in_place else IndexWriter(target)
    try:
        yield w
        w.commit()  # may fail too (no room for the indexes): then nothing lands either
    except BaseException:
        w.abort()
        raise


def _key_order(key: str) -> tuple[int, str]:
    from .dispatch_keys import DEFAULT_KEYS
    return (DEFAULT_KEYS.index(key), key) if key in DEFAULT_KEYS else (len(DEFAULT_KEYS), key)


class Index:
    """A read-only view of one index file. Its connection is private: the layers above ask the
    query modules of `indexes/` (queries, code_queries, lookups, trace), never SQL.

    `shared=True` lets another thread use the connection (the explorer's search runs in a worker
    and is interrupted from the UI thread with `interrupt()`)."""

    def __init__(self, path: Path, shared: bool = False):
        self.path = path
        self.meta = check_index_file(path)
        self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=not shared)

    def interrupt(self) -> None:
        """Stop the query running on this index's connection (from another thread): it raises
        sqlite3.OperationalError("interrupted") where it runs."""
        self._con.interrupt()

    @property
    def source(self) -> SourceInfo:
        cached = self.__dict__.get("_source")
        if cached is None:
            cached = self.__dict__["_source"] = SourceInfo(**json.loads(self.meta["source"]))
        return cached

    @property
    def linked(self) -> bool:
        """Whether the link step ran (an index built with it off, for bench_index.py only, has no
        answers: its references have no default answers either)."""
        cached = self.__dict__.get("_linked")
        if cached is None:
            try:
                cached = not json.loads(self.meta.get("counts") or "{}").get("links_skipped")
            except ValueError:
                cached = True
            self.__dict__["_linked"] = cached
        return cached

    def close(self) -> None:
        self._con.close()

    def op(self, op: str) -> dict | None:
        row = self._con.execute("SELECT record FROM ops WHERE op = ?", (op,)).fetchone()
        return json.loads(row[0]) if row else None

    def ops_named(self, name: str) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT op FROM ops WHERE name = ? ORDER BY overload", (name,))]

    def all_op_names(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT op FROM ops ORDER BY op")]

    def all_ops(self) -> Iterator[dict]:
        for (rec,) in self._con.execute("SELECT record FROM ops ORDER BY op"):
            yield json.loads(rec)

    def dispatch(self, op: str, keys: Iterable[str] | None = None) -> dict[str, DispatchEntry]:
        rows = self._con.execute("SELECT key, kind, registered_in, kernel, defined_at, via FROM dispatch "
                                "WHERE op = ?", (op,)).fetchall()
        out = {r[0]: self._with_location(DispatchEntry(op, r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5]))))
               for r in rows}
        if keys is not None:
            return {k: out[k] for k in keys if k in out}
        return {k: out[k] for k in sorted(out, key=_key_order)}

    def kernel_location(self, kernel: str | None) -> str | None:
        """Where the code index says `kernel` is defined: `path:line`, or None (generated code,
        or a source without .cpp files). Looked up at query time, so editing a kernel file moves
        it without re-resolving dispatch."""
        if not kernel:
            return None
        cache = self.__dict__.setdefault("_kernel_cache", {})
        if kernel in cache:
            return cache[kernel]
        cache[kernel] = loc = self._find_kernel(kernel)
        return loc

    def _find_kernel(self, kernel: str) -> str | None:
        q = self._con.execute
        if kernel.startswith("VariableType::"):
            return None  # generated into VariableType.cpp: not in a source tree
        if kernel.startswith("at::meta::structured_") or kernel.startswith("at::native::structured_"):
            row = q("SELECT f.path, r.line FROM code_regs r JOIN files f ON f.id = r.file_id WHERE r.target = ? "
                    "ORDER BY f.path LIMIT 1", (kernel,)).fetchone()
            return f"{row[0]}:{row[1]}" if row else None
        if kernel.startswith("ufunc_"):
            name = kernel[len("ufunc_"):].rsplit("_", 1)[0]
            row = q("SELECT f.path, d.line FROM defs d JOIN files f ON f.id = d.file_id WHERE d.name = ? AND "
                    "f.path LIKE '%/native/ufunc/%' ORDER BY d.line LIMIT 1", (name,)).fetchone()
            return f"{row[0]}:{row[1]}" if row else None
        if "." in kernel and "::" not in kernel:  # a Python function (torch/_meta_registrations.py, _refs)
            row = q("SELECT f.path, d.line FROM defs d JOIN files f ON f.id = d.file_id WHERE d.qualname = ? "
                    "LIMIT 1", (kernel,)).fetchone()
            return f"{row[0]}:{row[1]}" if row else None
        name = kernel.rsplit("::", 1)[-1]
        row = q("SELECT f.path, r.line FROM code_regs r JOIN files f ON f.id = r.file_id WHERE r.kind = "
                "'TORCH_IMPL_FUNC' AND r.name = ? ORDER BY f.path LIMIT 1", (name,)).fetchone()
        if row:
            return f"{row[0]}:{row[1]}"
        return self._kernel_body(kernel, name)

    def _kernel_body(self, kernel: str, name: str) -> str | None:
        """The body of a C++ kernel under its own qualified name, or None (see native_decls.py:
        a same-named member of another class, or a declaration, is not the kernel)."""
        from .native_decls import is_kernel_body
        rows = self._con.execute(
            "SELECT f.path, d.line, d.qualname, d.signature, d.end_line FROM defs d JOIN files f ON f.id = d.file_id "
            "WHERE d.name = ? AND d.kind IN ('function', 'method') AND f.lang = 'cpp'", (name,)).fetchall()
        want = kernel if "::" in kernel else "at::native::" + kernel  # the YAML's bare names are at::native's
        rows = [r for r in rows if is_kernel_body(want, r[2], r[0], r[3] or "", r[1], r[4] or r[1])]
        if not rows:
            return None
        best = min(rows, key=lambda r: (not r[0].endswith((".cpp", ".cu", ".mm", ".cc")), "/native/" not in r[0],
                                        r[0], r[1]))
        return f"{best[0]}:{best[1]}"

    def _with_location(self, e: DispatchEntry) -> DispatchEntry:
        """The entry with `defined_at` (the body, when this source has it) and `declared_at` (its
        at::native declaration in the installed package's ATen/ops/<op>_native.h)."""
        if not e.kernel:
            return e
        from .native_decls import declared_at
        loc = e.defined_at or self.kernel_location(e.kernel)
        decl = declared_at(self.source.root, e.op, e.kernel) if self.source.layout == "package" else None
        if loc == e.defined_at and decl is None:
            return e
        return DispatchEntry(e.op, e.key, e.kind, e.registered_in, e.kernel, loc, e.via, decl)

    def dispatch_all(self) -> Iterator[tuple[str, list[DispatchEntry]]]:
        cur = self._con.execute("SELECT op, key, kind, registered_in, kernel, defined_at, via FROM dispatch ORDER BY op")
        current, entries = None, []
        for r in cur:
            if r[0] != current:
                if current is not None:
                    yield current, sorted(entries, key=lambda e: _key_order(e.key))
                current, entries = r[0], []
            entries.append(self._with_location(DispatchEntry(r[0], r[1], r[2], r[3], r[4], r[5],
                                                             tuple(json.loads(r[6])))))
        if current is not None:
            yield current, sorted(entries, key=lambda e: _key_order(e.key))

    def derivatives(self, op: str) -> list[dict]:
        return [json.loads(r[0]) for r in self._con.execute("SELECT record FROM derivatives WHERE op = ?", (op,))]

    def problems(self) -> list[Problem]:
        from .model import Location
        return [Problem(Location(p or "", l or 0), e or "", m, s) for p, l, e, m, s in
                self._con.execute("SELECT path, line, entry, message, severity FROM problems")]

    def count(self, table: str) -> int:
        assert table in ("ops", "dispatch", "derivatives", "nodes", "edges", "problems", "files", "defs", "refs",
                         "includes", "code_regs", "links", "answers")
        return self._con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
