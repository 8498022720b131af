"""Helpers of the link-step tests (test_link_python.py, test_link_cpp.py): a small index built from
source snippets with the real parser and link step, and the links one reference got."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from torchatlas.indexes import link
from torchatlas.indexes.code_index import ParsedFile, _rows
from torchatlas.indexes.cpp import parse_cpp
from torchatlas.indexes.py_parser import parse_python
from torchatlas.indexes.store import IndexWriter

PARSERS = {"python": parse_python, "cpp": parse_cpp}


def build_index(root: Path, files: dict[str, str], lang: str) -> Path:
    """Parse `files` (path -> source, dedented) as `lang`, link every reference, commit; the db path."""
    db = root / "index.sqlite"
    w = IndexWriter(db)
    for fid, (path, src) in enumerate(sorted(files.items()), 1):
        facts = PARSERS[lang](path, textwrap.dedent(src).encode())
        parsed = ParsedFile(path, lang, 0, 0, str(fid), "ok")
        parsed.defs, parsed.includes, parsed.refs, parsed.regs = _rows(lang, facts)
        w.add_parsed(parsed, fid)
    link.link_all(w)
    w.commit()
    return db


def links_of(db: Path, scope: str, name: str) -> list[tuple[str, str | None, str]]:
    """(status, target, why) of every link of the references named `name` inside `scope`."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT l.status, l.target, l.why FROM refs r JOIN links l ON l.ref_id = r.rowid "
                           "WHERE r.scope = ? AND r.name = ? ORDER BY r.line, l.rank", (scope, name)).fetchall()
    finally:
        con.close()
