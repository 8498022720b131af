"""A picture appears whole or not at all (dot_files.write_graph writes under a scratch name, then renames)."""

from __future__ import annotations

import pytest

from torchatlas.indexes import dot_files
from torchatlas.indexes.errors import AtlasError


def test_a_failed_render_leaves_no_file_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_files, "dot_binary", lambda: "false")  # a `dot` that fails
    with pytest.raises(AtlasError):
        dot_files.write_graph("digraph g { a -> b }", tmp_path / "g.svg")
    assert list(tmp_path.iterdir()) == []


def test_dot_text_is_written_whole(tmp_path):
    out = dot_files.write_graph("digraph g { a -> b }", tmp_path / "g.dot")
    assert out.read_text() == "digraph g { a -> b }" and [p.name for p in tmp_path.iterdir()] == ["g.dot"]
