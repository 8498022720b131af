"""The default source: --source, else TORCHATLAS_SOURCE, else `config set source`, else installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchatlas.cli import main
from torchatlas.indexes.errors import BadSource
from torchatlas.indexes.settings import BadSetting, read_settings
from torchatlas.indexes.sources import open_source


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHATLAS_CONFIG", str(tmp_path / "cfg" / "config.toml"))
    monkeypatch.delenv("TORCHATLAS_SOURCE", raising=False)
    return tmp_path / "cfg" / "config.toml"


def _tree(root: Path) -> Path:
    (root / "aten/src/ATen/native").mkdir(parents=True)
    (root / "aten/src/ATen/native/native_functions.yaml").write_text("- func: abs(Tensor self) -> Tensor\n")
    (root / "version.txt").write_text("2.6.0a0\n")
    return root


def test_precedence(cfg, tmp_path, monkeypatch, capsys, installed_source):
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert open_source(None).info.kind == "installed"
    assert main(["config", "set", "source", str(a)]) == 0
    assert 'source = "' in cfg.read_text() and read_settings()["source"] == str(a.resolve())
    assert open_source(None).info.root == str(a.resolve())
    monkeypatch.setenv("TORCHATLAS_SOURCE", str(b))
    assert open_source(None).info.root == str(b.resolve())
    assert open_source("installed").info.kind == "installed"  # an explicit --source always wins
    monkeypatch.delenv("TORCHATLAS_SOURCE")
    assert main(["config", "unset", "source"]) == 0
    assert open_source(None).info.kind == "installed"


def test_a_default_source_that_moved_says_where_it_came_from(cfg, tmp_path):
    a = _tree(tmp_path / "a")
    main(["config", "set", "source", str(a)])
    a.rename(tmp_path / "moved")
    with pytest.raises(BadSource) as e:
        open_source(None)
    assert "no such file" in str(e.value) and str(cfg) in str(e.value)


def test_bad_settings(cfg, capsys):
    assert main(["config", "set", "sorce", "x"]) == 2
    assert "did you mean source" in capsys.readouterr().err
    assert main(["config", "set", "source", "/no/such/tree"]) == 2
    assert not cfg.exists(), "a refused value must not be written"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("source = [unclosed\n")
    with pytest.raises(BadSetting) as e:
        read_settings()
    assert "not valid TOML" in str(e.value) and str(cfg) in str(e.value)
