"""Bad input: each gets a message naming file:line and the entry, the rest still builds, the
summary counts the problems, and nothing already indexed is lost."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from torchatlas.indexes.errors import BadIndex, BadSource
from torchatlas.indexes.pipeline import build_index
from torchatlas.indexes.sources import open_source
from torchatlas.indexes.store import Index

# a tiny native_functions.yaml and derivatives.yaml shared with the code-index tests
ASSETS = Path(__file__).parent.parent / "assets" / "mini"

NF = "torchgen/packaged/ATen/native/native_functions.yaml"
DERIV = "torchgen/packaged/autograd/derivatives.yaml"

GOOD = (ASSETS / "native_functions.yaml").read_text()

DERIVATIVES = (ASSETS / "derivatives.yaml").read_text()


def _write(root: Path, nf: str, deriv: str | None = DERIVATIVES) -> None:
    (root / NF).write_text(nf)
    d = root / DERIV
    if deriv is None:
        d.unlink(missing_ok=True)
    else:
        d.write_text(deriv)


def _build(root: Path, db: Path):
    return build_index(open_source(str(root)), db)


def test_good_mini_tree_indexes(mini_package, tmp_path):
    _write(mini_package, GOOD)
    s = _build(mini_package, tmp_path / "i.sqlite")
    idx = Index(tmp_path / "i.sqlite")
    assert {"aten::add.Tensor", "aten::add.out", "aten::mm"} <= set(idx.all_op_names())
    cpu = idx.dispatch("aten::add.Tensor", ["CPU"])["CPU"]
    assert (cpu.kind, cpu.registered_in, cpu.kernel) == ("kernel", "RegisterCPU.cpp", "add_out")
    assert idx.op("aten::add.Tensor")["autograd"]["node"] == "AddBackward0"
    mm_sparse = idx.dispatch("aten::mm", ["SparseCPU"])["SparseCPU"]
    assert mm_sparse.kind == "composite_explicit"
    assert not [p for p in s.problems if p.location.path in (NF, DERIV)]


def test_malformed_entry_is_reported_and_the_rest_builds(mini_package, tmp_path):
    bad = GOOD + "\n- func: broken(Tensor self -> Tensor\n  variants: function\n"
    _write(mini_package, bad)
    s = _build(mini_package, tmp_path / "i.sqlite")
    line = bad.splitlines().index("- func: broken(Tensor self -> Tensor") + 1
    hits = [p for p in s.problems if p.location.path == NF and p.location.line == line]
    assert hits and "broken" in hits[0].entry, [str(p) for p in s.problems]
    assert s.counts["problems"] >= 1
    assert "aten::mm" in Index(tmp_path / "i.sqlite").all_op_names()


def test_unknown_dispatch_key_is_reported(mini_package, tmp_path):
    bad = GOOD + "\n- func: frob(Tensor self) -> Tensor\n  dispatch:\n    NotAKey: frob_cpu\n"
    _write(mini_package, bad)
    s = _build(mini_package, tmp_path / "i.sqlite")
    hits = [p for p in s.problems if p.entry == "frob"]
    assert hits and "NotAKey" in hits[0].message, [str(p) for p in s.problems]
    assert hits[0].location.line == bad.splitlines().index("- func: frob(Tensor self) -> Tensor") + 1


def test_duplicate_overload_is_reported(mini_package, tmp_path):
    dup = GOOD + "\n- func: mm(Tensor self, Tensor mat2) -> Tensor\n  dispatch:\n    CPU: other_mm\n"
    _write(mini_package, dup)
    s = _build(mini_package, tmp_path / "i.sqlite")
    hits = [p for p in s.problems if p.entry == "mm" and "duplicate" in p.message]
    assert hits and "line 11" in hits[0].message
    rec = Index(tmp_path / "i.sqlite").op("aten::mm")
    assert rec["dispatch"]["CPU"] == "mm_cpu"  # the first declaration wins, the second is counted


def test_non_utf8_file_is_reported_and_read(mini_package, tmp_path):
    (mini_package / NF).write_bytes(GOOD.encode() + b"\n# caf\xe9 comment\n")
    (mini_package / DERIV).write_text(DERIVATIVES)
    s = _build(mini_package, tmp_path / "i.sqlite")
    hits = [p for p in s.problems if "UTF-8" in p.message]
    assert hits and hits[0].location.path == NF and hits[0].location.line == GOOD.count("\n") + 2
    assert "aten::mm" in Index(tmp_path / "i.sqlite").all_op_names()


def test_missing_derivatives_yaml(mini_package, tmp_path):
    _write(mini_package, GOOD, deriv=None)
    s = _build(mini_package, tmp_path / "i.sqlite")
    assert any("derivatives.yaml is missing" in p.message for p in s.problems)
    assert Index(tmp_path / "i.sqlite").op("aten::add.Tensor")["autograd"] is None


def test_not_a_pytorch_tree(tmp_path):
    (tmp_path / "README").write_text("hello")
    with pytest.raises(BadSource) as e:
        open_source(str(tmp_path))
    assert "not a PyTorch source tree" in str(e.value) and "native_functions.yaml" in str(e.value)


def test_cli_bad_source_exit_code_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "index", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "not a PyTorch source tree" in r.stderr


def test_foreign_sqlite_is_refused_and_kept(mini_package, tmp_path):
    _write(mini_package, GOOD)
    db = tmp_path / "theirs.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE precious (x)")
    con.execute("INSERT INTO precious VALUES (42)")
    con.commit()
    con.close()
    with pytest.raises(BadIndex):
        _build(mini_package, db)
    assert sqlite3.connect(db).execute("SELECT x FROM precious").fetchone() == (42,)
    with pytest.raises(BadIndex):
        Index(db)


def test_corrupt_file_is_refused(mini_package, tmp_path):
    db = tmp_path / "corrupt.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00garbage" * 100)
    with pytest.raises(BadIndex):
        Index(db)
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "op", "mm", "--source", str(mini_package),
                        "--db", str(db)], capture_output=True, text=True)
    assert r.returncode == 2 and "corrupt.sqlite" in r.stderr


def test_failed_index_keeps_the_previous_one(mini_package, tmp_path, monkeypatch):
    _write(mini_package, GOOD)
    db = tmp_path / "i.sqlite"
    _build(mini_package, db)
    before = db.read_bytes()
    import torchatlas.indexes.pipeline as pipeline

    def boom(*a, **k):
        raise KeyboardInterrupt  # Ctrl-C half-way through
    monkeypatch.setattr(pipeline.graph, "nodes_and_edges", boom)
    _write(mini_package, GOOD.replace("mm_cpu", "mm_changed"))
    with pytest.raises(KeyboardInterrupt):
        _build(mini_package, db)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".i.sqlite.*.tmp"))
    assert Index(db).op("aten::mm")["dispatch"]["CPU"] == "mm_cpu"


def test_unknown_op_exit_1_with_suggestions(installed_db):
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "op", "aten::add.Tensr", "--db", str(installed_db)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "aten::add.Tensor" in r.stderr and "did you mean" in r.stderr


def test_unknown_key_exit_2(installed_db):
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "dispatch", "aten::mm", "--key", "CPUU",
                        "--db", str(installed_db)], capture_output=True, text=True)
    assert r.returncode == 2 and "CPU" in r.stderr


def test_json_contract_op_and_dispatch(installed_db):
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "op", "aten::add.Tensor", "--json", "--db",
                        str(installed_db)], capture_output=True, text=True, check=True)
    rec = json.loads(r.stdout)
    assert rec["op"] == "aten::add.Tensor" and "torch.add" in rec["python"] and "torch.Tensor.add" in rec["python"]
    assert rec["autograd"]["node"] == "AddBackward0" and rec["autograd"]["formula_at"].startswith(
        "torchgen/packaged/autograd/derivatives.yaml:")
    assert rec["defined_at"].startswith("torchgen/packaged/ATen/native/native_functions.yaml:")
    assert rec["structured_delegate"] == "add.out" and "pointwise" in rec["tags"]
    r = subprocess.run([sys.executable, "-m", "torchatlas.cli", "dispatch", "aten::mm", "--json", "--db",
                        str(installed_db)], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert out["source"]["kind"] == "installed"
    cpu = out["ops"][0]["keys"]["CPU"]
    assert out["ops"][0]["op"] == "aten::mm" and cpu["kind"] == "kernel" and cpu["registered_in"] == "RegisterCPU.cpp"
    assert set(out["ops"][0]["keys"]) >= {"CPU", "CUDA", "Meta", "AutogradCPU", "SparseCPU", "QuantizedCPU",
                                          "NestedTensorCPU", "AutogradNestedTensor"}


def _read_yaml_with_broken_torchgen(root: Path, where: str, appended: str, timeout: int = 120) -> tuple[str, int, str]:
    """read_yaml on `root` after `appended` is added to its torchgen/gen.py, in a process of its own
    (in this one the tree's torchgen would stay imported), as the dispatch stage runs it:
    (reader, number of ops, first problem)."""
    _write(root, GOOD)
    gen = root / "torchgen" / "gen.py"
    gen.write_text(gen.read_text() + appended)
    code = ("import sys\nfrom torchatlas.indexes.sources import open_source\n"
            "from torchatlas.indexes.yaml_index import read_yaml\n"
            f"f = read_yaml(open_source(sys.argv[1]), timeout={timeout}, "
            f"in_this_process={where == 'in_this_process'})\n"
            "print(f.reader, len(f.ops)); print(f.problems[0].message)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    head, message = proc.stdout.splitlines()[:2]
    reader, n_ops = head.split()
    return reader, int(n_ops), message


@pytest.mark.parametrize("where", ["subprocess", "in_this_process"])
def test_a_torchgen_that_exits_leaves_the_fallback_to_read_the_yaml(mini_package, where):
    reader, n_ops, _ = _read_yaml_with_broken_torchgen(mini_package, where, "\nimport sys\nsys.exit(3)\n")
    assert reader == "fallback" and n_ops >= 3


@pytest.mark.parametrize("where", ["subprocess", "in_this_process"])
def test_a_hanging_torchgen_is_stopped_and_the_fallback_reads_the_yaml(mini_package, where):
    reader, n_ops, message = _read_yaml_with_broken_torchgen(mini_package, where,
                                                             "\nimport time\ntime.sleep(120)\n", timeout=2)
    assert reader == "fallback" and n_ops >= 3  # add.Tensor, add.out, mm: every entry kept
    assert "did not finish in 2 s" in message and "fallback" in message
