"""The link step's own machinery (indexes/link.py), apart from the per-language rules: the file
ranges the parallel link processes take, the same answers from one process and from several, and
the switch bench/bench_index.py uses to build without the step (to measure what it costs)."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from linking import PARSERS, answer_rows
from torchatlas.indexes import link, link_model
from torchatlas.indexes.code_index import ParsedFile, _rows
from torchatlas.indexes.code_queries import all_link_answers, callees
from torchatlas.indexes.store import Index, IndexWriter

# Python and C++ files that call each other's names within their language; enough files that every
# process of a parallel link gets ranges of both languages.
FILES = {
    **{f"torch/m{i}.py": f"""
        from torch.m{(i + 1) % 6} import f{(i + 1) % 6} as g
        import torch.nn.functional as F

        def f{i}(x):
            y = g(x)
            return F.relu(len(y)) + helper{i}(y)

        def helper{i}(y):
            return iter(y)
        """ for i in range(6)},
    **{f"aten/src/ATen/native/k{i}.cpp": f"""
        namespace at {{ namespace native {{
        int k{i}(int x) {{ return std::max(x, k{(i + 1) % 6}(x)); }}
        static int local{i}(int y) {{ return k{i}(y) + undefined_{i}(y); }}
        }} }}
        """ for i in range(6)},
}


def _index(root: Path, jobs: int) -> list[tuple]:
    """A new index of FILES linked with `jobs` processes: every links row, in a stable order."""
    db = root / f"index-{jobs}.sqlite"
    w = IndexWriter(db)
    for fid, (path, src) in enumerate(sorted(FILES.items()), 1):
        lang = "python" if path.endswith(".py") else "cpp"
        parsed = ParsedFile(path, lang, 0, 0, str(fid), "ok")
        parsed.defs, parsed.includes, parsed.refs, parsed.regs = _rows(lang, PARSERS[lang](path, textwrap.dedent(src).encode()))
        w.add_parsed(parsed, fid)
    counts = link.link_all(w, jobs)
    w.commit()
    rows = sorted(answer_rows(db), key=lambda r: (r[0], r[1], r[2], r[5]))
    assert "skipped" not in counts
    return rows


def test_each_link_process_starts_on_its_own_language_then_helps_with_the_others():
    # two processes build the two languages' tables at the same time, instead of one before the fork
    assert link._order(0) == ["python", "cpp"] and link._order(1) == ["cpp", "python"]
    assert link._order(2) == link._order(0)


def test_several_processes_give_the_answers_of_one(tmp_path, monkeypatch):
    monkeypatch.setattr(link, "PARALLEL_MIN_REFS", 1)  # the parallel path on a small index
    monkeypatch.setattr(link, "CHUNKS_PER_JOB", 3)
    one = _index(tmp_path, 1)
    assert len(one) > 40
    answers = {(r[0], r[1]): (r[3], r[4]) for r in one}
    assert answers[("torch.m0.f0", "g")] == ("resolved", "torch.m1.f1")  # across files: the world is whole
    assert answers[("torch.m5.f5", "g")] == ("resolved", "torch.m0.f0")
    assert answers[("at::native::k5", "k0")] == ("resolved", "at::native::k0")
    assert answers[("at::native::k0", "std::max")] == ("external", "std::max")
    assert _index(tmp_path, 2) == one
    assert _index(tmp_path, 3) == one  # more processes than some ranges need


def test_default_answers_are_not_stored_and_shared_answers_stored_once(tmp_path, monkeypatch):
    # a builtin (`len`, `iter`) and std::max get no links row; the readers give their answer back
    monkeypatch.setattr(link, "PARALLEL_MIN_REFS", 1)
    _index(tmp_path, 2)  # the parallel path: each process numbers its answers, the copy renumbers them
    index = Index(tmp_path / "index-2.sqlite")
    try:
        got = {(r.scope, r.name): r for _rid, r in all_link_answers(index)}
        n_refs, n_links, n_answers = index.count("refs"), index.count("links"), index.count("answers")
        helper_calls = {r.name: r for r, _where in callees(index, "torch.m0.helper0")}
        kernel_calls = {r.name: r for r, _where in callees(index, "at::native::k0")}
    finally:
        index.close()
    assert (got[("torch.m0.helper0", "iter")].status, got[("torch.m0.helper0", "iter")].targets) == \
        ("builtin", ("builtins.iter",))
    assert got[("torch.m0.helper0", "iter")].why == ("a Python builtin",)
    assert got[("at::native::k0", "std::max")].why == ("the C++ standard library",)
    defaults = [r for r in got.values() if (r.status, r.targets, r.why) == link_model.default_answer(
        "python" if r.location.startswith("torch/") else "cpp", r.name, r.kind)]
    assert len(defaults) >= 12  # len and iter in 6 files, std::max in 6
    assert n_links == n_refs - sum(1 for _ in defaults) < n_refs
    assert n_answers < n_links  # answers shared by several references (`F.relu` in each file) are stored once a process
    # callees read the same answers, default ones included
    assert (helper_calls["iter"].status, helper_calls["iter"].targets) == ("builtin", ("builtins.iter",))
    assert (kernel_calls["std::max"].status, kernel_calls["std::max"].targets) == ("external", ("std::max",))
    assert kernel_calls["k1"].status == "resolved"


def test_file_ranges_cover_every_file_once_balanced_by_cost(tmp_path):
    db = tmp_path / "r.sqlite"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE files (id INTEGER PRIMARY KEY, lang TEXT);"
                      "CREATE TABLE refs (file_id INTEGER, name TEXT);")
    # ten Python files of 10 references, then ten C++ files of 10 (each costing COST["cpp"] as much)
    con.executemany("INSERT INTO files VALUES (?, ?)", [(i, "python" if i <= 10 else "cpp") for i in range(1, 21)])
    con.executemany("INSERT INTO refs VALUES (?, 'x')", [(i,) for i in range(1, 21) for _ in range(10)])
    ranges = link.file_ranges(con, 4)
    assert len(ranges) == 4
    assert ranges[0][0] == 1 and ranges[-1][1] == 20
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))  # contiguous, no file twice
    cost = [sum(link.COST["python" if i <= 10 else "cpp"] * 10 for i in range(a, b + 1)) for a, b in ranges]
    assert max(cost) <= 2 * min(cost)  # about the same cost each, not the same number of files
    assert ranges[0][1] - ranges[0][0] > ranges[-1][1] - ranges[-1][0]  # cheap Python: more files a range
    assert link.file_ranges(con, 30)[-1] == (0, -1)  # more parts than files: the rest are empty
    # one language's files (a parallel link takes each language's ranges in turn)
    cpp = link.file_ranges(con, 2, "cpp")
    assert cpp[0][0] == 11 and cpp[-1][1] == 20 and cpp[1][0] == cpp[0][1] + 1
    assert link.file_ranges(con, 3, "python") == [(1, 4), (5, 7), (8, 10)]
    con.execute("DELETE FROM refs")
    assert link.file_ranges(con, 2) == [(0, -1), (0, -1)]
    con.close()


def test_the_bench_switch_builds_without_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv(link.SKIP_ENV, "off")
    db = tmp_path / "off.sqlite"
    w = IndexWriter(db)
    path, src = "torch/a.py", "def f():\n    return len([])\n"
    parsed = ParsedFile(path, "python", 0, 0, "1", "ok")
    parsed.defs, parsed.includes, parsed.refs, parsed.regs = _rows("python", PARSERS["python"](path, src.encode()))
    w.add_parsed(parsed, 1)
    assert link.link_all(w, 1) == {"skipped": 1, "link_seconds": 0.0}
    w.commit()
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM refs").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM links").fetchone()[0] == 0
    con.close()
