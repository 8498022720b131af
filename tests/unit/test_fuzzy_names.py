"""indexes/fuzzy_names.py on a small index: typos anywhere in a name find it (the first letters
included, which a plain prefix scan misses), the closest first, and a miss finds nothing."""

from __future__ import annotations

import pytest

from torchatlas.indexes.fuzzy_names import close_names, pieces, prefixes
from torchatlas.indexes.store import IndexWriter

NAMES = ["layer_norm", "LayerNorm", "layer_norm_backward", "group_norm", "batch_norm", "native_layer_norm",
         "conv2d_symint", "conv1d_symint", "conv2d", "irange", "TORCH_CHECK", "TORCH_CHECK_MSG", "add_out",
         "addr_out", "computeDispatchTableEntryWithDebug", "computeDispatchTableEntry", "_foreach_add"]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    w = IndexWriter(tmp_path_factory.mktemp("fuzzy") / "names.sqlite")
    w.con.execute("INSERT INTO files VALUES (1, 'a.cpp', 'cpp', 0, 0, '', 'ok', 0)")
    w.con.executemany("INSERT INTO defs VALUES (1, ?, ?, 'function', 1, 1, '', '')", [(n, n) for n in NAMES])
    w.index_tables(("defs",))
    yield w.con
    w.abort()


@pytest.mark.parametrize("typo, meant", [
    ("layer_nrom", "layer_norm"),  # late in the name: the plain prefix
    ("lyaer_norm", "layer_norm"),  # the second and third letters swapped
    ("alyer_norm", "layer_norm"),  # the first two swapped
    ("Layer_norm", "layer_norm"),  # the first letter's case
    ("xlayer_norm", "layer_norm"),  # an extra first letter
    ("kayer_norm", "layer_norm"),  # the first letter wrong: the three-letter pieces
    ("ayer_norm", "layer_norm"),  # the first letter dropped
    ("LayreNorm", "LayerNorm"),
    ("conv2d_symnit", "conv2d_symint"),
    ("irnage", "irange"),
    ("TORHC_CHECK", "TORCH_CHECK"),
    ("computeDispatchTableEntryWithDebg", "computeDispatchTableEntryWithDebug"),
])
def test_a_typo_finds_the_name_closest_first(con, typo, meant):
    assert close_names(con, typo)[0] == meant


def test_a_miss_finds_nothing_and_short_words_are_not_guessed(con):
    assert close_names(con, "zzqqxx") == []
    assert close_names(con, "la") == []


def test_only_names_within_the_cutoff(con):
    found = close_names(con, "conv2d_symint", n=8, cutoff=0.75)
    assert found[0] == "conv2d_symint" and "conv1d_symint" in found
    assert "layer_norm" not in found and "conv2d" not in found  # too far for the cutoff (0.63)


def test_the_pools(con):
    assert prefixes("lyaer") == ["Ly", "la", "ly", "ya", "yl"]
    assert pieces("layer") == ["lay", "aye", "yer"]
    assert len(pieces("computeDispatchTableEntryWithDebg")) == 5
