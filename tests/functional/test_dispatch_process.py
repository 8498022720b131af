"""A full build runs the dispatch stage in a process of its own while the code stage parses.

What must hold: the index is the same as a build that runs the stage in-process (jobs=1); a
failure or Ctrl-C inside that process comes back to the caller with what went wrong; and when
the caller stops (Ctrl-C while parsing), the process and everything it started (the torchgen
subprocess) are killed and no scratch file is left behind.
"""

from __future__ import annotations

import multiprocessing
import os
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import torchatlas.indexes.pipeline as pipeline
from torchatlas.indexes.dispatch_process import DispatchStageFailed

from test_code_index_bad_input import (assert_queryable, build, interrupt_parsing_after, leftovers, make_tree,
                                        snapshot)

# What the dispatch stage writes, each table in a stable order (nodes by id: the same ids or not).
_TABLES = {
    "ops": "SELECT * FROM ops ORDER BY op",
    "dispatch": "SELECT * FROM dispatch ORDER BY op, key",
    "derivatives": "SELECT * FROM derivatives ORDER BY op, dispatch_key, node",
    "nodes": "SELECT * FROM nodes ORDER BY id",
    "edges": "SELECT * FROM edges ORDER BY src, dst, kind, line",
    "problems": "SELECT * FROM problems ORDER BY stage, path, line, message",
    "meta": "SELECT * FROM meta WHERE key NOT IN ('built_at') ORDER BY key",
    # the code tables, written by the parse workers into shards in an overlapped build
    "files": "SELECT path, lang, size, mtime_ns, hash, status, parse_errors FROM files ORDER BY path",
    "defs": "SELECT f.path, d.name, d.qualname, d.kind, d.line, d.end_line, d.signature, d.bases FROM defs d "
            "JOIN files f ON f.id = d.file_id ORDER BY 1, 5, 3, 4",
    "includes": "SELECT f.path, i.target, i.line, i.system FROM includes i JOIN files f ON f.id = i.file_id "
                "ORDER BY 1, 3, 2",
    "refs": "SELECT f.path, r.name, r.base, r.line, r.scope, r.kind, r.nargs FROM refs r JOIN files f ON f.id = r.file_id "
            "ORDER BY 1, 4, 2, 5",
    "code_regs": "SELECT f.path, c.kind, c.name, c.line, c.target, c.key, c.scope FROM code_regs c "
                 "JOIN files f ON f.id = c.file_id ORDER BY 1, 4, 2, 3",
}


def dump(db: Path) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {name: con.execute(sql).fetchall() for name, sql in _TABLES.items()}
    finally:
        con.close()
    tables["meta"] = [(k, _without_timings(v) if k == "counts" else v) for k, v in tables["meta"]]
    return tables


def _without_timings(counts: str) -> dict:
    """The build's counts, less how long its steps took (link_seconds: 0.01 or 0.02 by the load)."""
    import json
    return {k: v for k, v in json.loads(counts).items() if not k.endswith("_seconds")}


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "pytorch")


def test_the_overlapped_build_writes_what_the_in_process_build_writes(tree, tmp_path, monkeypatch):
    (tree / "aten/src/ATen/native/MiniCalls.cpp").write_text(
        "namespace at { namespace native {\n"
        "DEFINE_DISPATCH(mini_stub);\n"
        "TORCH_IMPL_FUNC(mini_out) (const Tensor& self) {\n"
        "  mini_stub(self.device().type(), self);\n"
        "  at::add(self, self);\n"
        "}\n"
        "}}\n")
    (tree / "torch/mini_calls.py").write_text("import torch\n\ndef f(x):\n    return torch.add(x, x).relu()\n")
    overlapped, in_process = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shard_files = []
    real_parse_all = pipeline.parse_all

    def parse_all_noting_shards(*a, **k):
        shard_files.extend(k.get("shards") or ())
        yield from real_parse_all(*a, **k)
    monkeypatch.setattr(pipeline, "parse_all", parse_all_noting_shards)
    sa = build(tree, overlapped, jobs=2)
    assert len(shard_files) == 2  # the workers wrote shards (removed since)
    sb = build(tree, in_process, jobs=1)
    a, b = dump(overlapped), dump(in_process)
    assert a["ops"] and a["dispatch"] and a["nodes"] and a["edges"]
    assert len(a["files"]) >= 8 and a["defs"] and a["refs"] and a["code_regs"]  # enough for the worker pool
    for table in _TABLES:
        assert a[table] == b[table], table
    assert _without_timings(json.dumps(sa.counts)) == _without_timings(json.dumps(sb.counts))
    assert [str(p) for p in sa.problems] == [str(p) for p in sb.problems]
    assert leftovers(tmp_path) == []


def test_a_failing_dispatch_stage_is_reported_and_nothing_lands(tree, tmp_path, monkeypatch):
    db = tmp_path / "db" / "i.sqlite"
    db.parent.mkdir()
    build(tree, db)
    before_bytes, before = db.read_bytes(), snapshot(db)

    def broken(*a, **k):
        raise ValueError("a resolver bug on aten::frobnicate")
    monkeypatch.setattr(pipeline, "run_dispatch_stage", broken)
    db.unlink()  # so the next run is a full build (an update runs the stage in-process)
    with pytest.raises(DispatchStageFailed) as err:
        build(tree, db)
    assert "ValueError: a resolver bug on aten::frobnicate" in str(err.value)  # the child's traceback
    assert not db.exists() and leftovers(db.parent) == []
    assert multiprocessing.active_children() == []
    # A previous index is kept as it was.
    monkeypatch.undo()
    build(tree, db)
    before_bytes, before = db.read_bytes(), snapshot(db)
    other = make_tree(tmp_path / "other")  # another source: a full build over the existing file
    monkeypatch.setattr(pipeline, "run_dispatch_stage", broken)
    with pytest.raises(DispatchStageFailed):
        build(other, db)
    assert db.read_bytes() == before_bytes and snapshot(db) == before
    assert leftovers(db.parent) == []
    assert_queryable(db)


def test_ctrl_c_inside_the_dispatch_process_is_ctrl_c_for_the_caller(tree, tmp_path, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "run_dispatch_stage", interrupted)
    db = tmp_path / "i.sqlite"
    with pytest.raises(KeyboardInterrupt):
        build(tree, db)
    assert not db.exists() and leftovers(tmp_path) == []
    assert multiprocessing.active_children() == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to see that the processes are gone")
def test_ctrl_c_while_parsing_kills_the_dispatch_process_and_its_torchgen(tree, tmp_path, monkeypatch):
    pid_file = tmp_path / "torchgen.pid"

    def slow_torchgen(source, **_):  # anything the dispatch process starts (a subprocess) must die with it
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        pid_file.write_text(str(proc.pid))
        proc.wait()
    monkeypatch.setattr(pipeline, "read_yaml", slow_torchgen)
    db = tmp_path / "db" / "i.sqlite"
    db.parent.mkdir()
    real_parse_all = pipeline.parse_all

    def parse_all_once_torchgen_runs(*a, **k):
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the dispatch process never started its subprocess"
            time.sleep(0.02)
        yield from real_parse_all(*a, **k)
    monkeypatch.setattr(pipeline, "parse_all", parse_all_once_torchgen_runs)
    interrupt_parsing_after(monkeypatch, 2)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        build(tree, db)
    assert time.monotonic() - t0 < 60  # it did not wait for the 120 s subprocess
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the torchgen subprocess outlived the interrupted index"
    assert multiprocessing.active_children() == []
    assert not db.exists() and leftovers(db.parent) == []
