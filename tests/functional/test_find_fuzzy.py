"""`find` is fuzzy: exact, prefix, substring, then names a typo away (closest first); the CLI says
how many there are; trace suggests callables."""

from __future__ import annotations

import pytest

from torchatlas.cli import main
from torchatlas.indexes.code_queries import find, find_counted
from torchatlas.indexes.errors import NotFound
from torchatlas.indexes.trace import trace


def test_a_typo_finds_the_operator(installed_index):
    hits = find(installed_index, "addd", limit=5)
    assert hits[0].qualname == "aten::add.Tensor", [h.qualname for h in hits]
    assert find(installed_index, "aten::addd.Tensor", limit=3)[0].qualname == "aten::add.Tensor"
    layer = [h.qualname for h in find(installed_index, "torch.nn.functional.layer_nrom", limit=5)]
    assert "torch.nn.functional.layer_norm" in layer


def test_exact_prefix_and_substring_still_come_first(installed_index):
    hits = find(installed_index, "add", limit=3)
    assert [h.qualname for h in hits][:1] == ["aten::add.Tensor"], "the main overload first"
    assert find(installed_index, "zzqqxxnothing", limit=5) == []


def test_the_cli_says_showing_n_of_m(installed_db, installed_index, capsys):
    assert main(["find", "layer_norm", "-n", "2", "--db", str(installed_db)]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 2
    _, total = find_counted(installed_index, "layer_norm", limit=2)
    assert f"showing 2 of {total}" in err and total > 2


def test_trace_suggests_callables(installed_index):
    with pytest.raises(NotFound) as e:
        trace(installed_index, "torch.ad")
    assert "did you mean torch.add" in str(e.value)
    with pytest.raises(NotFound) as e:
        trace(installed_index, "torch.mull")
    assert "torch.mul," in str(e.value)
