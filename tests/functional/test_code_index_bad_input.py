"""Bad input to the code index: each bad file is skipped (or parsed with replacement) with a counted
warning naming it, the rest of the tree still indexes, and an interrupted or concurrent run never
corrupts the index already on disk.

Every test builds its own small PyTorch-shaped checkout under tmp_path. When TORCHATLAS_TEST_SOURCE
names a full tree, its native_functions.yaml, tags.yaml and derivatives.yaml are copied in (so the
dispatch stage has real work to interrupt); otherwise a tiny native_functions.yaml is written. The
mini tree has no torchgen/, so the YAML goes through the tolerant fallback reader either way.
"""

from __future__ import annotations

import builtins
import errno
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import torchatlas.indexes.code_index as code_index
import torchatlas.indexes.pipeline as pipeline
from torchatlas.indexes.pipeline import build_index
from torchatlas.indexes.sources import open_source
from torchatlas.indexes.store import Index

CLI = [sys.executable, "-m", "torchatlas.cli"]

NF = "aten/src/ATen/native/native_functions.yaml"
TAGS = "aten/src/ATen/native/tags.yaml"
DERIV = "tools/autograd/derivatives.yaml"

TINY_NF = (Path(__file__).parent.parent / "assets" / "mini" / "native_functions.yaml").read_text()

# The good files of the mini tree: (path, the definition a query must find there).
GOOD = {
    "aten/src/ATen/native/MiniAdd.cpp": ("mini_add_kernel", """\
#include <ATen/ATen.h>
namespace at { namespace native {
Tensor mini_add_kernel(const Tensor& self, const Tensor& other) {
  return self;
}
}} // namespace at::native
"""),
    "aten/src/ATen/native/MiniMm.cpp": ("mini_mm_kernel", """\
#include <ATen/ATen.h>
namespace at::native {
Tensor mini_mm_kernel(const Tensor& self, const Tensor& mat2) {
  return self;
}
} // namespace at::native
"""),
    "c10/core/MiniDevice.h": ("MiniDevice", """\
#pragma once
namespace c10 {
struct MiniDevice {
  int index() const { return 0; }
};
} // namespace c10
"""),
    "c10/util/MiniUtil.cpp": ("mini_util_fn", """\
namespace c10 {
int mini_util_fn(int x) { return x + 1; }
} // namespace c10
"""),
    "torch/csrc/MiniBinding.cpp": ("mini_binding_fn", """\
namespace torch {
void mini_binding_fn() {}
} // namespace torch
"""),
    "torch/csrc/MiniBinding.h": ("MiniBindingHolder", """\
#pragma once
namespace torch {
class MiniBindingHolder {
 public:
  void run();
};
} // namespace torch
"""),
    "torch/mini_utils.py": ("mini_helper", """\
def mini_helper(x):
    return x


class MiniThing:
    def method(self):
        return 1
"""),
    "torch/nn/mini_layers.py": ("MiniLinear", """\
class MiniLinear:
    def forward(self, x):
        return x
"""),
    "torch/utils/mini_tools.py": ("mini_tool", """\
def mini_tool():
    return None
"""),
    "tools/mini_codegen.py": ("mini_codegen_main", """\
def mini_codegen_main(argv):
    return 0
"""),
}
ADD_CPP = "aten/src/ATen/native/MiniAdd.cpp"
HELPER_PY = "torch/mini_utils.py"


# -- the mini tree and helpers ---------------------------------------------------------------------

def make_tree(root: Path) -> Path:
    """A small PyTorch-shaped checkout: C++ under aten/c10/torch/csrc, Python under torch/ and tools/."""
    for rel, (_name, text) in GOOD.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "aten/src/ATen/native").mkdir(parents=True, exist_ok=True)
    (root / "tools/autograd").mkdir(parents=True, exist_ok=True)
    full = os.environ.get("TORCHATLAS_TEST_SOURCE")
    if full and (Path(full) / NF).is_file():
        for rel in (NF, TAGS, DERIV):
            shutil.copyfile(Path(full) / rel, root / rel)
    else:
        (root / NF).write_text(TINY_NF)
    return root


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "pytorch")


def build(root: Path, db: Path, jobs: int = 2):
    return build_index(open_source(str(root)), db, jobs=jobs)


def def_paths(db: Path, name: str) -> list[str]:
    idx = Index(db)
    try:
        return [r[0] for r in idx._con.execute(
            "SELECT f.path FROM defs d JOIN files f ON f.id = d.file_id WHERE d.name = ? ORDER BY f.path", (name,))]
    finally:
        idx.close()


def file_row(db: Path, path: str):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT status, hash FROM files WHERE path = ?", (path,)).fetchone()
    finally:
        con.close()


def assert_queryable(db: Path, missing: tuple[str, ...] = ()) -> None:
    """The index opens, holds definitions, and every good file's definition is found where it is."""
    idx = Index(db)
    try:
        assert idx._con.execute("SELECT COUNT(*) FROM defs").fetchone()[0] > 0
        assert idx.count("ops") > 0 and idx.op("aten::add.Tensor") is not None
        assert idx._con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        idx.close()
    for rel, (name, _text) in GOOD.items():
        if rel in missing:
            continue
        assert def_paths(db, name) == [rel], (name, rel)


def warnings_for(summary, path: str) -> list[str]:
    return [p.message for p in summary.problems if p.location.path == path and p.severity == "warning"]


def stored_warnings(db: Path, path: str) -> list[str]:
    idx = Index(db)
    try:
        return [p.message for p in idx.problems() if p.location.path == path]
    finally:
        idx.close()


def leftovers(directory: Path) -> list[str]:
    """Temporary files an index run must not leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", "-journal")))


def snapshot(db: Path) -> dict:
    """What queries answer: every file row, every definition, the op and dispatch counts."""
    idx = Index(db)
    try:
        q = idx._con.execute
        return {"files": q("SELECT path, size, mtime_ns, hash, status FROM files ORDER BY path").fetchall(),
                "defs": q("SELECT f.path, d.qualname, d.line FROM defs d JOIN files f ON f.id = d.file_id "
                          "ORDER BY 1, 2, 3").fetchall(),
                "problems": q("SELECT path, message FROM problems ORDER BY 1, 2").fetchall(),
                "ops": idx.count("ops"), "dispatch": idx.count("dispatch"),
                "meta": {k: v for k, v in idx.meta.items()}}
    finally:
        idx.close()


def bump_mtime(path: Path, seconds: float = 10) -> None:
    st = path.stat()
    t = st.st_mtime_ns + int(seconds * 1e9)
    os.utime(path, ns=(t, t))


def interrupt_parsing_after(monkeypatch, n: int) -> list[int]:
    """Ctrl-C while the code stage is half-way through: after `n` parsed files have been written."""
    real = pipeline.parse_all
    seen = [0]

    def parse_then_interrupt(*a, **k):
        for parsed in real(*a, **k):
            yield parsed
            seen[0] += 1
            if seen[0] >= n:
                raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "parse_all", parse_then_interrupt)
    return seen


# -- bad files -------------------------------------------------------------------------------------

# Every bad file is fed both ways: into a first (full) build, and into an update of a good index.
MODES = ["full", "update"]


def index_with(tree: Path, db: Path, mode: str, add_bad) -> object:
    """Add the bad input before a first build (full) or after it (update); return the summary."""
    if mode == "update":
        build(tree, db)
    add_bad()
    return build(tree, db)


def parsed_expected(mode: str, extra: int) -> int:
    return (len(GOOD) if mode == "full" else 0) + extra


@pytest.mark.parametrize("mode", MODES)
def test_binary_file_with_cpp_name_is_skipped_and_named(tree, tmp_path, mode):
    rel = "aten/src/ATen/native/Compiled.cpp"

    def add():
        (tree / rel).write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64 + b"int not_a_def() {}\n")
    db = tmp_path / "i.sqlite"
    s = index_with(tree, db, mode, add)
    assert any("binary" in m for m in warnings_for(s, rel)), [str(p) for p in s.problems]
    assert any("binary" in m for m in stored_warnings(db, rel))
    assert s.counts["files_skipped"] == 1 and s.counts["files_parsed"] == parsed_expected(mode, 0)
    assert file_row(db, rel)[0] == "binary"
    assert def_paths(db, "not_a_def") == []
    assert_queryable(db)


@pytest.mark.parametrize("mode", MODES)
def test_non_utf8_cpp_and_py_are_parsed_counted_and_named(tree, tmp_path, mode):
    cpp, py = "aten/src/ATen/native/Latin1.cpp", "torch/latin1_mod.py"

    def add():
        (tree / cpp).write_bytes(b"// Copyright Fran\xe7ois\nnamespace at { namespace native {\n"
                                 b"int latin1_kernel(int x) { return x; }\n}}\n")
        (tree / py).write_bytes(b"# -*- coding: utf-8 -*-\n\ndef latin1_helper():\n    return 'caf\xe9'\n")
    db = tmp_path / "i.sqlite"
    s = index_with(tree, db, mode, add)
    cpp_w, py_w = warnings_for(s, cpp), warnings_for(s, py)
    assert len(cpp_w) == 1 and "not UTF-8" in cpp_w[0] and "0xe7 at line 1" in cpp_w[0], cpp_w
    assert len(py_w) == 1 and "not UTF-8" in py_w[0] and "0xe9 at line 4" in py_w[0], py_w
    assert s.counts["files_parsed"] == parsed_expected(mode, 2) and s.counts["files_skipped"] == 0
    assert s.counts["problems"] >= 2
    assert stored_warnings(db, cpp) == cpp_w and stored_warnings(db, py) == py_w
    assert def_paths(db, "latin1_kernel") == [cpp]  # parsed despite the bad byte
    assert def_paths(db, "latin1_helper") == [py]
    assert_queryable(db)


@pytest.mark.parametrize("mode", MODES)
def test_oversized_generated_cpp_is_skipped_and_named(tree, tmp_path, mode):
    rel = "torch/csrc/autograd/generated/VariableTypeEverything.cpp"
    p = tree / rel

    def add():
        p.parent.mkdir(parents=True)
        with open(p, "wb") as f:  # sparse: a real first line, then 9 MB of holes (instant to write)
            f.write(b"// @generated from a template\nint generated_fn() { return 0; }\n")
            f.truncate(9 * 2**20)
        assert p.stat().st_size > code_index.MAX_FILE_BYTES
    db = tmp_path / "i.sqlite"
    s = index_with(tree, db, mode, add)
    w = warnings_for(s, rel)
    assert len(w) == 1 and "9 MB" in w[0] and "skipped" in w[0], [str(x) for x in s.problems]
    assert s.counts["files_skipped"] == 1 and s.counts["files_parsed"] == parsed_expected(mode, 0)
    assert file_row(db, rel)[0] == "too_large"
    assert def_paths(db, "generated_fn") == []
    assert stored_warnings(db, rel) == w
    assert_queryable(db)


def test_symlink_loops_neither_hang_nor_duplicate(tree, tmp_path):
    os.symlink("..", tree / "aten/src/ATen/native/up")          # a directory pointing to its parent
    os.symlink("..", tree / "torch/csrc/loop.cpp")              # the same, with a C++ name
    os.symlink("SelfLoop.h", tree / "c10/core/SelfLoop.h")      # a file pointing to itself
    db = tmp_path / "i.sqlite"
    # In a subprocess with a timeout: a followed loop would hang (or recurse until paths overflow).
    r = subprocess.run(CLI + ["index", str(tree), "--db", str(db), "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    loop = [p for p in out["problems"] if p["at"] == "c10/core/SelfLoop.h"]
    assert len(loop) == 1 and "symlink" in loop[0]["message"] and loop[0]["severity"] == "warning", out["problems"]
    assert out["counts"]["files_parsed"] == len(GOOD)
    assert stored_warnings(db, "c10/core/SelfLoop.h") == [loop[0]["message"]]
    paths = [r[0] for r in snapshot(db)["files"]]
    assert not [p for p in paths if "/up/" in p or "loop.cpp" in p], paths
    assert len(paths) == len(set(paths))
    assert_queryable(db)


def deny_reading(monkeypatch, path: Path) -> None:
    """chmod 000 `path`; when that does not stop reads (root), make the code index's open() fail
    with EACCES for it, as chmod 000 does for a normal user."""
    path.chmod(0)
    try:
        with open(path, "rb"):
            readable_anyway = True
    except PermissionError:
        readable_anyway = False
    if readable_anyway:
        target = str(path)

        def no_access(file, *a, **k):
            if os.fspath(file) == target:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), target)
            return builtins.open(file, *a, **k)
        monkeypatch.setattr(code_index, "open", no_access, raising=False)


@pytest.mark.parametrize("mode", MODES)
def test_unreadable_file_is_skipped_and_named(tree, tmp_path, monkeypatch, mode):
    rel = "c10/util/Secret.cpp"
    p = tree / rel

    def add():
        p.write_text("namespace c10 { int secret_fn() { return 42; } }\n")
        deny_reading(monkeypatch, p)
    db = tmp_path / "i.sqlite"
    try:
        s = index_with(tree, db, mode, add)
    finally:
        p.chmod(0o644)
    w = warnings_for(s, rel)
    assert len(w) == 1 and "unreadable" in w[0] and "Permission denied" in w[0], [str(x) for x in s.problems]
    assert s.counts["files_skipped"] == 1 and s.counts["files_parsed"] == parsed_expected(mode, 0)
    assert file_row(db, rel)[0] == "unreadable"
    assert def_paths(db, "secret_fn") == []
    assert_queryable(db)


def test_unreadable_file_is_indexed_once_readable_again(tree, tmp_path, monkeypatch):
    rel = "c10/util/Secret.cpp"
    p = tree / rel
    db = tmp_path / "i.sqlite"
    build(tree, db)  # a good first index
    p.write_text("namespace c10 { int secret_fn() { return 42; } }\n")
    with monkeypatch.context() as m:
        deny_reading(m, p)
        build(tree, db)
    p.chmod(0o644)
    assert file_row(db, rel)[0] == "unreadable"  # the precondition: it was skipped
    build(tree, db)  # the permission fixed: the file should now be read
    assert file_row(db, rel)[0] == "ok"
    assert def_paths(db, "secret_fn") == [rel]


@pytest.mark.parametrize("mode", MODES)
def test_file_deleted_during_indexing_is_skipped_and_named(tree, tmp_path, monkeypatch, mode):
    rel = "torch/csrc/Ephemeral.cpp"
    real = pipeline.discover

    def discover_then_delete(source, problems):
        files = real(source, problems)
        assert rel in {f.path for f in files}  # found by discover ...
        (tree / rel).unlink()                   # ... gone before it is parsed
        return files

    def add():
        (tree / rel).write_text("namespace torch { int ephemeral_fn() { return 1; } }\n")
        monkeypatch.setattr(pipeline, "discover", discover_then_delete)
    db = tmp_path / "i.sqlite"
    s = index_with(tree, db, mode, add)
    w = warnings_for(s, rel)
    assert len(w) == 1 and "deleted while indexing" in w[0], [str(x) for x in s.problems]
    assert s.counts["files_skipped"] == 1 and s.counts["files_parsed"] == parsed_expected(mode, 0)
    assert def_paths(db, "ephemeral_fn") == []
    assert_queryable(db)
    monkeypatch.undo()
    s2 = build(tree, db)  # the next run forgets it
    assert s2.counts["files_removed"] == 1 and file_row(db, rel) is None
    assert stored_warnings(db, rel) == []


# -- interrupted and concurrent runs ---------------------------------------------------------------

def test_ctrl_c_half_way_through_a_full_build(tree, tmp_path, monkeypatch):
    db = tmp_path / "db" / "i.sqlite"
    db.parent.mkdir()
    # 1) no previous index: nothing is left behind, not even a half-built file.
    with monkeypatch.context() as m:
        seen = interrupt_parsing_after(m, 4)
        with pytest.raises(KeyboardInterrupt):
            build(tree, db)
        assert seen[0] == 4
    assert not db.exists()
    assert leftovers(db.parent) == []
    assert multiprocessing.active_children() == []  # the parse workers were stopped
    # 2) a previous index (of another checkout, so this run is a full build into a new file).
    other = make_tree(tmp_path / "other")
    build(other, db)
    before_bytes, before = db.read_bytes(), snapshot(db)
    (tree / ADD_CPP).write_text(GOOD[ADD_CPP][1].replace("mini_add_kernel", "mini_add_kernel_v2"))
    with monkeypatch.context() as m:
        seen = interrupt_parsing_after(m, 4)
        with pytest.raises(KeyboardInterrupt):
            build(tree, db)
        assert seen[0] == 4
    assert db.read_bytes() == before_bytes
    assert snapshot(db) == before
    assert json.loads(before["meta"]["source"])["root"] == str(other.resolve())
    assert leftovers(db.parent) == []
    assert def_paths(db, "mini_add_kernel_v2") == []
    assert_queryable(db)


@pytest.mark.parametrize("step", ["parsing", "dispatch"])
def test_ctrl_c_half_way_through_an_incremental_update(tree, tmp_path, monkeypatch, step):
    db = tmp_path / "db" / "i.sqlite"
    db.parent.mkdir()
    build(tree, db)
    before_bytes, before = db.read_bytes(), snapshot(db)
    # Change 8 files (so parsing is really half-way after 4 and runs on the worker pool) and, for
    # the dispatch step, the YAML too (an update re-runs the dispatch stage only when its inputs change).
    changed = list(GOOD)[:8]
    for rel in changed:
        name, text = GOOD[rel]
        (tree / rel).write_text(text.replace(name, name + "_v2"))
        bump_mtime(tree / rel)
    if step == "dispatch":
        with open(tree / NF, "a") as f:
            f.write("\n# an edit\n")
        bump_mtime(tree / NF)
    with monkeypatch.context() as m:
        if step == "parsing":
            seen = interrupt_parsing_after(m, 4)
        else:
            def boom(*a, **k):
                raise KeyboardInterrupt
            m.setattr(pipeline.graph, "nodes_and_edges", boom)
        with pytest.raises(KeyboardInterrupt):
            build(tree, db)
        if step == "parsing":
            assert seen[0] == 4
    assert multiprocessing.active_children() == []
    assert snapshot(db) == before  # none of the update landed
    assert db.read_bytes() == before_bytes
    assert leftovers(db.parent) == []
    assert_queryable(db)
    # The next run sees every change the interrupted one had started on.
    s = build(tree, db)
    assert s.counts["files_parsed"] == len(changed) and s.counts["dispatch_rebuilt"] == (step == "dispatch")
    for rel in changed:
        assert def_paths(db, GOOD[rel][0] + "_v2") == [rel]
    assert_queryable(db, missing=tuple(changed))


# The first run's dispatch stage is slowed down so the second surely finds it holding the lock.
_SLOW_FIRST = (
    "import sys, time\n"
    "import torchatlas.indexes.pipeline as p\n"
    "real = p.run_dispatch_stage\n"
    "def slow(*a, **k):\n"
    "    time.sleep(3)\n"
    "    return real(*a, **k)\n"
    "p.run_dispatch_stage = slow\n"
    "from torchatlas.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_two_index_runs_at_once_take_turns(tree, tmp_path):
    db = tmp_path / "db" / "i.sqlite"
    args = ["index", str(tree), "--db", str(db)]
    first = subprocess.Popen([sys.executable, "-c", _SLOW_FIRST] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        tmp = db.parent / f".{db.name}.{first.pid}.tmp"
        while not tmp.exists():  # the first run holds the lock and is writing its new file
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        second = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out2, err2 = second.communicate(timeout=300)
        out1, err1 = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "indexed" in out1
    assert "another index run is working on" in err2 and "waiting" in err2, err2
    assert "up to date" in out2, out2  # it ran after the first had finished, on its complete index
    assert leftovers(db.parent) == []
    snap = snapshot(db)
    paths = [r[0] for r in snap["files"]]
    assert len(paths) == len(set(paths)) and set(GOOD) <= set(paths)
    assert_queryable(db)


# -- re-indexing -----------------------------------------------------------------------------------

def test_reindex_after_editing_one_file_reparses_exactly_that_file(tree, tmp_path):
    db = tmp_path / "i.sqlite"
    build(tree, db)
    before = {r[0]: r[3] for r in snapshot(db)["files"]}
    rel = "aten/src/ATen/native/MiniMm.cpp"
    (tree / rel).write_text(GOOD[rel][1].replace("mini_mm_kernel", "mini_mm_kernel_renamed"))
    bump_mtime(tree / rel)
    s = build(tree, db)
    c = s.counts
    assert (c["files_changed"], c["files_parsed"], c["files_unchanged"], c["files_removed"]) == (1, 1, 0, 0), c
    assert c["dispatch_rebuilt"] is False
    assert def_paths(db, "mini_mm_kernel_renamed") == [rel]
    assert def_paths(db, "mini_mm_kernel") == []
    after = {r[0]: r[3] for r in snapshot(db)["files"]}
    assert {p for p in after if after[p] != before.get(p)} == {rel}
    assert_queryable(db, missing=(rel,))


def test_reindex_after_touching_without_changing_reparses_nothing(tree, tmp_path):
    db = tmp_path / "i.sqlite"
    build(tree, db)
    before = snapshot(db)
    bump_mtime(tree / ADD_CPP)
    bump_mtime(tree / HELPER_PY)
    s = build(tree, db)
    c = s.counts
    assert (c["files_changed"], c["files_parsed"], c["files_unchanged"]) == (2, 0, 2), c
    assert c["dispatch_rebuilt"] is False
    assert snapshot(db)["defs"] == before["defs"]
    s = build(tree, db)  # the new mtimes were recorded: nothing left to look at
    assert s.counts == {"files_changed": 0}
    assert_queryable(db)


def test_reindex_after_deleting_a_file_removes_its_definitions(tree, tmp_path):
    db = tmp_path / "i.sqlite"
    build(tree, db)
    rel = "torch/nn/mini_layers.py"
    assert def_paths(db, "MiniLinear") == [rel]
    (tree / rel).unlink()
    s = build(tree, db)
    c = s.counts
    assert (c["files_changed"], c["files_removed"], c["files_parsed"]) == (0, 1, 0), c
    assert def_paths(db, "MiniLinear") == [] and def_paths(db, "forward") == []
    assert file_row(db, rel) is None
    assert_queryable(db, missing=(rel,))


def test_discover_warnings_are_not_duplicated_by_updates(tree, tmp_path):
    os.symlink("SelfLoop.h", tree / "c10/core/SelfLoop.h")
    db = tmp_path / "i.sqlite"
    build(tree, db)
    assert len(stored_warnings(db, "c10/core/SelfLoop.h")) == 1
    for i in range(2):
        with open(tree / HELPER_PY, "a") as f:
            f.write(f"\n# edit {i}\n")
        bump_mtime(tree / HELPER_PY, 10 * (i + 1))
        build(tree, db)
    assert len(stored_warnings(db, "c10/core/SelfLoop.h")) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="uses RLIMIT_FSIZE to make writes fail")
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("when", ["at once", "midway"])
def test_a_disk_that_refuses_writes_gets_one_clear_error_and_keeps_the_previous_index(tree, tmp_path, jobs, when):
    """No space left (here: a file size limit): exit 3, one line naming the file, no traceback,
    nothing of the new index left behind, the previous index (of another source) byte for byte."""
    import resource
    import subprocess
    db = tmp_path / "db" / "i.sqlite"
    db.parent.mkdir()
    other = make_tree(tmp_path / "other")
    (other / "torch" / "more.py").write_text("def more():\n    return 1\n")
    build(other, db)
    before = db.read_bytes()
    # at once: not even the schema fits; midway: the new index (about as big as this one) fills up
    limit = 64 * 1024 if when == "at once" else len(before) * 2 // 3

    def limit_file_size():  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    proc = subprocess.run([sys.executable, "-m", "torchatlas.cli", "index", str(tree), "--db", str(db), "--jobs", jobs],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    assert proc.returncode == 3, proc.stderr
    assert "could not write the index" in proc.stderr and "Traceback" not in proc.stderr
    assert "hint:" in proc.stderr
    assert db.read_bytes() == before
    assert leftovers(db.parent) == []


@pytest.mark.skipif(sys.platform != "linux", reason="uses RLIMIT_FSIZE to make writes fail")
def test_an_update_the_disk_refuses_is_rolled_back(tree, tmp_path):
    import resource
    import subprocess
    db = tmp_path / "i.sqlite"
    build(tree, db)
    before = snapshot(db)
    # a big new file: its rows do not fit under the limit set below
    (tree / "torch" / "big.py").write_text("".join(f"def f{i}(x):\n    return g{i}(x) + h{i}(x)\n"
                                                   for i in range(20000)))
    limit = 512 * 1024  # the update's write-ahead log grows past this; the index file is not rewritten

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    proc = subprocess.run([sys.executable, "-m", "torchatlas.cli", "index", str(tree), "--db", str(db)],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "could not write the index" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(db) == before  # rolled back: the index answers as before
    assert leftovers(tmp_path) == []
    build(tree, db)  # and, with room again, the update goes through
    assert "torch/big.py" in [f[0] for f in snapshot(db)["files"]]
