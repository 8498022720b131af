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
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import BadIndex
from .model import DispatchEntry, Edge, Node, Problem, SourceInfo

TOOL = "torchatlas"
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ops (op TEXT PRIMARY KEY, name TEXT NOT NULL, overload TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX ops_name ON ops(name);
CREATE TABLE dispatch (op TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, registered_in TEXT,
                       kernel TEXT, defined_at TEXT, via TEXT NOT NULL, PRIMARY KEY (op, key));
CREATE TABLE derivatives (op TEXT NOT NULL, node TEXT, dispatch_key TEXT NOT NULL, record TEXT NOT NULL);
CREATE INDEX derivatives_op ON derivatives(op);
CREATE TABLE nodes (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT, line INTEGER,
                    attrs TEXT, UNIQUE (kind, name));
CREATE INDEX nodes_name ON nodes(name);
CREATE TABLE edges (src INTEGER NOT NULL, dst INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT, line INTEGER,
                    attrs TEXT);
CREATE INDEX edges_src ON edges(src, kind);
CREATE INDEX edges_dst ON edges(dst, kind);
CREATE TABLE problems (path TEXT, line INTEGER, entry TEXT, message TEXT NOT NULL, severity TEXT NOT NULL);
"""


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def check_index_file(path: Path) -> dict:
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
    if int(meta.get("schema", 0)) != SCHEMA_VERSION:
        raise BadIndex(f"{path}: index format {meta.get('schema')} (this torchatlas reads {SCHEMA_VERSION})",
                       hint="rebuild it with `torchatlas index`")
    return meta


class IndexWriter:
    """Builds a new index in a temporary file; `commit()` moves it into place atomically."""

    def __init__(self, target: Path):
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            check_index_file(target)  # refuse to replace anything that is not ours
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        if self.tmp.exists():
            self.tmp.unlink()
        self.con = sqlite3.connect(self.tmp)
        self.con.execute("PRAGMA journal_mode=OFF")
        self.con.execute("PRAGMA synchronous=OFF")
        self.con.executescript(_DDL)
        self._node_ids: dict[tuple[str, str], int] = {}

    def set_meta(self, **values) -> None:
        self.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()])

    def add_ops(self, rows: Iterable[tuple[str, str, str, dict]]) -> None:
        self.con.executemany("INSERT INTO ops VALUES (?, ?, ?, ?)",
                             ((op, n, o, json.dumps(rec)) for op, n, o, rec in rows))

    def add_dispatch(self, entries: Iterable[DispatchEntry]) -> None:
        self.con.executemany("INSERT INTO dispatch VALUES (?, ?, ?, ?, ?, ?, ?)",
                             ((e.op, e.key, e.kind, e.registered_in, e.kernel, e.defined_at, json.dumps(list(e.via)))
                              for e in entries))

    def add_derivatives(self, rows: Iterable[tuple[str, str | None, str, dict]]) -> None:
        self.con.executemany("INSERT INTO derivatives VALUES (?, ?, ?, ?)",
                             ((op, node, key, json.dumps(rec)) for op, node, key, rec in rows))

    def add_nodes(self, nodes: Iterable[Node]) -> None:
        for n in nodes:
            key = (n.kind.value, n.name)
            if key in self._node_ids:
                continue
            cur = self.con.execute("INSERT INTO nodes (kind, name, path, line, attrs) VALUES (?, ?, ?, ?, ?)",
                                   (n.kind.value, n.name, n.location.path if n.location else None,
                                    n.location.line if n.location else None,
                                    json.dumps(dict(n.attrs)) if n.attrs else None))
            self._node_ids[key] = cur.lastrowid

    def add_edges(self, edges: Iterable[Edge]) -> int:
        rows = []
        for e in edges:
            src = self._node_ids.get((e.src[0].value, e.src[1]))
            dst = self._node_ids.get((e.dst[0].value, e.dst[1]))
            if src is None or dst is None:
                continue
            rows.append((src, dst, e.kind.value, e.location.path if e.location else None,
                         e.location.line if e.location else None, json.dumps(dict(e.attrs)) if e.attrs else None))
        self.con.executemany("INSERT INTO edges VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def add_problems(self, problems: Iterable[Problem]) -> None:
        self.con.executemany("INSERT INTO problems VALUES (?, ?, ?, ?, ?)",
                             ((p.location.path, p.location.line, p.entry, p.message, p.severity) for p in problems))

    def commit(self) -> None:
        self.set_meta(tool=TOOL, schema=str(SCHEMA_VERSION))
        self.con.commit()
        self.con.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        try:
            self.con.close()
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


@contextmanager
def writing(target: Path) -> Iterator[IndexWriter]:
    """Build an index; on any exception (Ctrl-C included) the temporary file goes, the old index stays."""
    w = IndexWriter(target)
    try:
        yield w
    except BaseException:
        w.abort()
        raise
    w.commit()


def _key_order(key: str) -> tuple[int, str]:
    from .dispatch_keys import DEFAULT_KEYS
    return (DEFAULT_KEYS.index(key), key) if key in DEFAULT_KEYS else (len(DEFAULT_KEYS), key)


class Index:
    """A read-only view of one index file."""

    def __init__(self, path: Path):
        self.path = path
        self.meta = check_index_file(path)
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    @property
    def source(self) -> SourceInfo:
        return SourceInfo(**json.loads(self.meta["source"]))

    def close(self) -> None:
        self.con.close()

    def op(self, op: str) -> dict | None:
        row = self.con.execute("SELECT record FROM ops WHERE op = ?", (op,)).fetchone()
        return json.loads(row[0]) if row else None

    def ops_named(self, name: str) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT op FROM ops WHERE name = ? ORDER BY overload", (name,))]

    def all_op_names(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT op FROM ops ORDER BY op")]

    def all_ops(self) -> Iterator[dict]:
        for (rec,) in self.con.execute("SELECT record FROM ops ORDER BY op"):
            yield json.loads(rec)

    def dispatch(self, op: str, keys: Iterable[str] | None = None) -> dict[str, DispatchEntry]:
        rows = self.con.execute("SELECT key, kind, registered_in, kernel, defined_at, via FROM dispatch "
                                "WHERE op = ?", (op,)).fetchall()
        out = {r[0]: DispatchEntry(op, r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5]))) for r in rows}
        if keys is not None:
            return {k: out[k] for k in keys if k in out}
        return {k: out[k] for k in sorted(out, key=_key_order)}

    def dispatch_all(self) -> Iterator[tuple[str, list[DispatchEntry]]]:
        cur = self.con.execute("SELECT op, key, kind, registered_in, kernel, defined_at, via FROM dispatch ORDER BY op")
        current, entries = None, []
        for r in cur:
            if r[0] != current:
                if current is not None:
                    yield current, sorted(entries, key=lambda e: _key_order(e.key))
                current, entries = r[0], []
            entries.append(DispatchEntry(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6]))))
        if current is not None:
            yield current, sorted(entries, key=lambda e: _key_order(e.key))

    def derivatives(self, op: str) -> list[dict]:
        return [json.loads(r[0]) for r in self.con.execute("SELECT record FROM derivatives WHERE op = ?", (op,))]

    def problems(self) -> list[Problem]:
        from .model import Location
        return [Problem(Location(p or "", l or 0), e or "", m, s) for p, l, e, m, s in
                self.con.execute("SELECT path, line, entry, message, severity FROM problems")]

    def count(self, table: str) -> int:
        assert table in ("ops", "dispatch", "derivatives", "nodes", "edges", "problems")
        return self.con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
