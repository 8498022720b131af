"""Pictures of dispatch (explorer/pictures.py), `dispatch/trace --graph`, and `explore` from the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from torchatlas.cli import main


def test_explorer_data_and_pictures_never_import_textual():
    code = ("import sys, torchatlas.explorer.pictures, torchatlas.explorer.data, torchatlas.commands; "
            "print(','.join(m for m in ('textual', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_dispatch_dot_has_every_key_and_marks_live_disagreements(installed_index):
    from torchatlas.explorer.pictures import dispatch_dot
    from torchatlas.indexes.runtime import LiveEntry
    table = installed_index.dispatch("aten::add.Tensor")
    live = {"aten::add.Tensor": {k: LiveEntry(k, e.kind, e.registered_in or "", "x:1", "kernel")
                                 for k, e in table.items() if e.kind != "none"}}
    live["aten::add.Tensor"]["ZeroTensor"] = LiveEntry("ZeroTensor", "fallback", "Z.cpp", "Z.cpp:1", "backend fallback")
    dot = dispatch_dot([("aten::add.Tensor", table)], installed_index.source, live, cuda_built=True)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for key in table:
        assert f"k0_{key} " in dot
    assert "ufunc_add_CPU" in dot and "VariableType::add" in dot
    assert 'live: fallback Z.cpp' in dot and "#dc2626" in dot
    assert dot.count("{") == dot.count("}")


def test_trace_dot_is_a_chain(installed_index):
    from torchatlas.explorer.pictures import trace_dot
    from torchatlas.indexes.trace import trace
    op, steps = trace(installed_index, "torch.add")
    dot = trace_dot("torch.add", op, "CPU", steps, installed_index.source)
    assert dot.count(" -> s") == len(steps) - 1
    assert "[python] torch.add" in dot


def test_graph_needs_a_known_suffix_and_dot_for_svg(tmp_path, monkeypatch):
    from torchatlas.indexes import dot_files as pictures
    from torchatlas.indexes.errors import AtlasError
    with pytest.raises(AtlasError, match="svg, .png or .dot"):
        pictures.write_graph("digraph x {}", tmp_path / "x.txt")
    monkeypatch.setattr(pictures, "dot_binary", lambda: None)
    with pytest.raises(AtlasError) as e:
        pictures.write_graph("digraph x {}", tmp_path / "x.svg")
    assert e.value.exit_code == 2 and "apt-get install graphviz" in e.value.hint and "brew" in e.value.hint
    assert pictures.write_graph("digraph x {}", tmp_path / "x.dot").read_text() == "digraph x {}"


def test_cli_dispatch_graph_dot_and_svg(installed_db, tmp_path, capsys):
    out = tmp_path / "add.dot"
    assert main(["dispatch", "aten::add.Tensor", "--db", str(installed_db), "--graph", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    assert "ufunc_add_CPU" in capsys.readouterr().out  # the table is still printed
    if shutil.which("dot") is None:
        pytest.skip("graphviz is not installed: .svg output not tried")
    svg = tmp_path / "add.svg"
    assert main(["dispatch", "add", "--db", str(installed_db), "--graph", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_cli_trace_graph(installed_db, tmp_path):
    out = tmp_path / "trace.dot"
    assert main(["trace", "torch.add", "--db", str(installed_db), "--graph", str(out)]) == 0
    assert "[cpp_api]" in out.read_text()


def test_cli_graph_without_dot_exits_2_with_the_install_hint(installed_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    assert main(["dispatch", "aten::mm", "--db", str(installed_db), "--graph", str(tmp_path / "mm.svg")]) == 2
    out, err = capsys.readouterr()
    assert "graphviz" in err and "apt-get install graphviz" in err
    assert "aten::mm" in out and "mm_out_cpu" in out, "the table comes first, the picture's problem after it"
    assert (tmp_path / "mm.dot").read_text().startswith("digraph") and not (tmp_path / "mm.svg").exists()
    assert f"dot -Tsvg {tmp_path / 'mm.dot'}" in err


def test_cli_explore_needs_a_terminal(installed_db):
    out = subprocess.run([sys.executable, "-m", "torchatlas.cli", "explore", "--db", str(installed_db)],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 2 and "needs a terminal" in out.stderr


def test_cli_explore_bad_source_says_so(tmp_path):
    out = subprocess.run([sys.executable, "-m", "torchatlas.cli", "explore", "--source", str(tmp_path / "gone")],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode == 2 and "no such file or directory" in out.stderr
