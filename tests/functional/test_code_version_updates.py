"""An index keeps what torchatlas's own code decided only while that code stays the same.

An update re-parses changed files only; after torchatlas's parser or resolvers change (an upgrade,
a developer's edit), the unchanged files would keep the old facts and answers. The index's meta
names the code that built each part (indexes/code_version.py); these tests make the stored
answers wrong and the stamp another code's, and check that the next `index` redoes exactly that part.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_code_index_bad_input import GOOD, assert_queryable, build, make_tree, snapshot

from torchatlas.indexes.code_queries import all_link_answers
from torchatlas.indexes.code_version import fingerprint
from torchatlas.indexes.store import Index


CALLS = {
    "torch/mini_calls.py": """\
from torch.mini_utils import mini_helper
from torch.nn.mini_layers import MiniLinear


def use(x):
    return mini_helper(MiniLinear().forward(x)) + len(x)
""",
    "c10/util/MiniCalls.cpp": """\
namespace c10 {
int mini_util_fn(int x);
int twice(int x) { return mini_util_fn(mini_util_fn(x)); }
} // namespace c10
""",
}


def tree_with_calls(tmp_path: Path) -> Path:
    """The mini tree, with Python and C++ calls across its files for the resolvers to answer."""
    root = make_tree(tmp_path / "pytorch")
    for rel, text in CALLS.items():
        (root / rel).write_text(text)
    return root


def answers(db: Path) -> list:
    """Every reference with its answer, by place (a rebuild numbers the references anew: parallel
    parse workers finish in any order)."""
    idx = Index(db)
    try:
        return sorted((ref for _rid, ref in all_link_answers(idx)), key=lambda r: (r.location, r.name, r.kind))
    finally:
        idx.close()


def tamper(db: Path, *sql: str, **meta: str) -> None:
    con = sqlite3.connect(db)
    for stmt in sql:
        con.execute(stmt)
    for key, value in meta.items():
        con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    con.commit()
    con.close()


def test_another_resolver_s_index_is_relinked_once(tmp_path):
    tree = tree_with_calls(tmp_path)
    db = tmp_path / "i.sqlite"
    build(tree, db)
    good = answers(db)
    resolved = {r.name: r.targets for r in good if r.status == "resolved"}
    assert {"mini_helper", "MiniLinear", "mini_util_fn"} <= set(resolved), good
    assert snapshot(db)["meta"]["linker_code"] == fingerprint("linker")
    tamper(db, "DELETE FROM links", linker_code="0123456789abcdef")  # another resolver's answers: none
    assert answers(db) != good
    c = build(tree, db).counts
    assert c["files_changed"] == 0 and c["code_changed"] == ["linker"] and c["relinked_all"], c
    assert c["dispatch_rebuilt"] is False
    assert answers(db) == good
    assert snapshot(db)["meta"]["linker_code"] == fingerprint("linker")
    assert build(tree, db).counts == {"files_changed": 0}  # stamped: once


def test_another_parser_s_index_is_parsed_again_whole(tmp_path):
    tree = tree_with_calls(tmp_path)
    db = tmp_path / "i.sqlite"
    build(tree, db)
    before = snapshot(db)
    good = answers(db)
    # the old parser found nothing in one file; its size and mtime are unchanged, so an update keeps that
    rel = "torch/mini_utils.py"
    assert rel in GOOD
    tamper(db, f"DELETE FROM defs WHERE file_id = (SELECT id FROM files WHERE path = '{rel}')",
           parser_code="0123456789abcdef")
    assert snapshot(db)["defs"] != before["defs"]
    c = build(tree, db).counts
    code_files = [f for f in before["files"] if not f[0].endswith(".yaml")]
    assert "files_changed" not in c and c["files_parsed"] == len(code_files), c
    after = snapshot(db)
    assert after["defs"] == before["defs"] and after["meta"]["parser_code"] == fingerprint("parser")
    assert answers(db) == good
    assert_queryable(db)


def test_another_dispatch_resolver_s_index_is_resolved_again(tmp_path):
    tree = tree_with_calls(tmp_path)
    db = tmp_path / "i.sqlite"
    build(tree, db)
    before = snapshot(db)
    tamper(db, "DELETE FROM dispatch", dispatch_code="0123456789abcdef")
    c = build(tree, db).counts
    assert c["code_changed"] == ["dispatch"] and c["dispatch_rebuilt"] is True, c
    assert snapshot(db)["dispatch"] == before["dispatch"] > 0
    assert build(tree, db).counts == {"files_changed": 0}
