"""Helpers of the link-step tests (test_link_python.py, test_link_cpp.py): a small index built from
source snippets with the real parser and link step, and the links one reference got."""

from __future__ import annotations

import textwrap
from pathlib import Path

from torchatlas.indexes import link
from torchatlas.indexes.code_index import ParsedFile, _rows
from torchatlas.indexes.cpp import parse_cpp
from torchatlas.indexes.py_parser import parse_python
from torchatlas.indexes.code_queries import all_link_answers
from torchatlas.indexes.store import Index, IndexWriter

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


def answer_rows(db: Path) -> list[tuple[str, str, int, str, str | None, int, str, str]]:
    """Every reference's answer as (scope, name, line, status, target, rank, why, path) rows, one per
    target (one with target None when there is none), as the queries read them
    (code_queries.all_link_answers: default answers included, whatever the stored format)."""
    index = Index(db)
    try:
        out = []
        for _rid, r in all_link_answers(index):
            path, _, line = r.location.rpartition(":")
            if not r.status:
                continue
            for rank, why in enumerate(r.why or ("",)):
                out.append((r.scope, r.name, int(line), r.status,
                            r.targets[rank] if rank < len(r.targets) else None, rank, why, path))
        return out
    finally:
        index.close()


def links_of(db: Path, scope: str, name: str) -> list[tuple[str, str | None, str]]:
    """(status, target, why) of every link of the references named `name` inside `scope`."""
    rows = [r for r in answer_rows(db) if r[0] == scope and r[1] == name]  # in refs order, then by line and rank
    return [(status, target, why) for _s, _n, _l, status, target, _r, why, _p in sorted(rows, key=lambda r: (r[2], r[5]))]
