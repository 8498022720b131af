"""The store's JSON shortcuts write exactly what json.dumps writes (the explorer and --json read it back)."""

from __future__ import annotations

import json

import pytest

from torchatlas.indexes.store import json_of_pairs, json_of_strings

STRINGS = ("plain", 'quote " and \\ backslash', "tab\tnewline\n", "ünïcödé → λ", "\x00\x1f control", "", "😀")


@pytest.mark.parametrize("values", [(), STRINGS[:1], STRINGS, ("a", None), ("a", 1, 2.5), ("x", ("nested",))])
def test_json_of_strings_is_json_dumps_of_the_list(values):
    assert json_of_strings(values) == json.dumps(list(values))


@pytest.mark.parametrize("pairs", [
    (), (("key", "CPU"),), tuple(zip(STRINGS, reversed(STRINGS))),
    (("k", "first"), ("k", "second")),  # a repeated key: the last one wins, as in dict()
    (("via", None),), (("line", 3),), ((1, "int key"),),
])
def test_json_of_pairs_is_json_dumps_of_the_dict(pairs):
    assert json_of_pairs(pairs) == json.dumps(dict(pairs))
