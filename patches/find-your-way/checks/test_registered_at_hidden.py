"""Hidden: registered_at on other operators and keys, exact key matching, fallthroughs, and an
operator registered in this very file with torch.library."""

import re

import pytest
import torch

from lab.answers import registered_at

_LINE = re.compile(r"^(?P<key>\w+): (?:fallthrough )?registered at (?P<file>.+):(?P<line>\d+) \[[^\]]+\]$")


def _live(op):
    out = {}
    for line in torch._C._dispatch_dump_table(op).splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m["key"]] = (m["file"], int(m["line"]))
    return out


@pytest.mark.parametrize("op", ["aten::mul.Tensor", "aten::sin", "aten::mm", "aten::relu"])
def test_every_key_of_real_operators(op):
    live = _live(op)
    assert len(live) > 5
    for key, where in live.items():
        got = registered_at(op, key)
        assert got == where, (f"registered_at({op!r}, {key!r}) = {got!r}, the live table says {where!r} "
                              "(match the key exactly: 'CPU' is not 'SparseCPU' nor 'QuantizedCPU')")


def test_fallthrough_lines():
    live = _live("aten::add.Tensor")
    got = registered_at("aten::add.Tensor", "BackendSelect")
    assert got == live["BackendSelect"], (f"registered_at('aten::add.Tensor', 'BackendSelect') = {got!r}, expected "
                                          f"{live['BackendSelect']!r}: that line reads 'fallthrough registered at'")


def test_an_operator_registered_here():
    lib = torch.library.Library("labfind", "DEF")
    lib.define("twice(Tensor x) -> Tensor")
    lib.impl("twice", lambda x: x * 2, "CPU")
    try:
        got = registered_at("labfind::twice", "CPU")
        assert got == _live("labfind::twice")["CPU"], (
            f"registered_at('labfind::twice', 'CPU') = {got!r}, the live table says {_live('labfind::twice')['CPU']!r}")
        with pytest.raises(KeyError) as info:
            registered_at("labfind::twice", "CUDA")  # only a CPU kernel, and no CUDA fallback
        assert "labfind::twice" in str(info.value) and "CUDA" in str(info.value), (
            f"the KeyError for a missing key must name the op and the key, got {info.value}")
    finally:
        lib._destroy()
