"""Hidden: the range of the batch symbol, the largest batch, the cond's predicate computed in the
graph, and a save/load round trip of the ExportedProgram."""

import io

import torch

from lab.gated import GatedHead, export_gated

_cache = {}


def _ep():
    if "failed" in _cache:
        raise AssertionError(_cache["failed"])
    if not _cache:
        torch.manual_seed(5)
        model = GatedHead().eval()
        try:
            _cache["model"], _cache["ep"] = model, export_gated(model, torch.randn(7, 4))
        except Exception as e:
            _cache["failed"] = f"export_gated failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}"
            raise AssertionError(_cache["failed"]) from None
    return _cache["model"], _cache["ep"]


def test_batch_range():
    _, EP = _ep()
    x = next(n for n in EP.graph.nodes if n.op == "placeholder" and n.name == "x")
    sym = x.meta["val"].shape[0].node.expr
    vr = EP.range_constraints[sym]
    assert int(vr.lower) <= 1 and int(vr.upper) >= 1024, f"the batch range is [{vr.lower}, {vr.upper}], expected to cover [1, 1024]"


def test_largest_batch_and_both_branches():
    MODEL, EP = _ep()
    run = EP.module()
    for x in (torch.randn(1024, 4) * 3, torch.full((1024, 4), -5.0), torch.full((2, 4), 5.0)):
        with torch.no_grad():
            assert torch.allclose(run(x), MODEL(x), atol=1e-6)


def test_predicate_is_computed_in_the_graph():
    _, EP = _ep()
    cond = next(n for n in EP.graph.nodes if n.op == "call_function" and n.target is torch.ops.higher_order.cond)
    pred = cond.args[0]
    assert isinstance(pred, torch.fx.Node), f"the cond's predicate is the constant {pred!r}: it must be computed from h"


def test_save_load_round_trip():
    _, EP = _ep()
    buf = io.BytesIO()
    torch.export.save(EP, buf)
    buf.seek(0)
    loaded = torch.export.load(buf)
    x = torch.randn(9, 4)
    assert torch.allclose(loaded.module()(x), EP.module()(x))
