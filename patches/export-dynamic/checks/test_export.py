"""GatedHead: the same values in eager mode, and an ExportedProgram with a torch.cond and a
symbolic batch dimension that runs on several batch sizes and takes both branches."""

import pytest
import torch

from lab.gated import GatedHead, export_gated

_cache = {}


def _model():
    torch.manual_seed(0)
    m = GatedHead()
    with torch.no_grad():  # make the branch predictable: positive x -> mean > 0, negative x -> mean < 0
        m.proj.weight.abs_()
        m.proj.bias.zero_()
    return m.eval()


def _reference(m, x):
    """The original Python control flow, with the model's own weights."""
    h = torch.relu(m.proj(x)) - 0.5
    return torch.tanh(m.pos(h)) if h.mean() > 0 else m.neg(h) * 2


def _inputs(batch, sign):
    g = torch.Generator().manual_seed(batch)
    return sign * (torch.rand(batch, 4, generator=g) + 1.0)


def _exported():
    """(model, ExportedProgram), exported once per file; a failed export is reported by every test
    that needs it without exporting again."""
    if "failed" in _cache:
        pytest.fail(_cache["failed"])
    if "ep" not in _cache:
        m = _model()
        try:
            _cache["ep"] = (m, export_gated(m, _inputs(4, 1.0)))
        except NotImplementedError:
            raise
        except Exception as e:  # reported below, outside the except: no chained traceback
            text = str(e)
            why = ("the model branches on a tensor's value (a data-dependent `if`): use torch.cond"
                   if "data-dependent" in text.lower() or "GuardOnDataDependent" in type(e).__name__ + text
                   else "read the error above")
            _cache["failed"] = f"torch.export failed: {type(e).__name__}: {text.splitlines()[0][:300]}\n{why}"
        if "failed" in _cache:
            pytest.fail(_cache["failed"])
    return _cache["ep"]


def test_eager_values_unchanged():
    m = _model()
    for sign in (1.0, -1.0):
        x = _inputs(6, sign)
        with torch.no_grad():
            got, want = m(x), _reference(m, x)
        assert torch.allclose(got, want), (
            f"GatedHead(x) for {'positive' if sign > 0 else 'negative'} x (the {'pos' if sign > 0 else 'neg'} "
            "branch) differs from the original code: each branch of torch.cond must compute what the "
            "`if`'s branch did")


def test_graph_contains_cond():
    _, ep = _exported()
    targets = [n.target for n in ep.graph.nodes if n.op == "call_function"]
    assert torch.ops.higher_order.cond in targets, (
        "the exported graph has no torch.ops.higher_order.cond node: the choice between the heads was "
        "resolved at export time instead of being kept in the program. Use torch.cond(pred, true_fn, "
        "false_fn, (h,)).\n" + str(ep.graph)[:1500])


def test_batch_dimension_is_symbolic():
    _, ep = _exported()
    x = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x")
    shape = x.meta["val"].shape
    assert isinstance(shape[0], torch.SymInt), (
        f"the input x was exported with shape {tuple(shape)}: the batch dimension is specialized to the "
        "example's size. Pass dynamic_shapes={'x': {0: Dim('batch', ...)}} to torch.export.export")
    assert not isinstance(shape[1], torch.SymInt), f"only the batch dimension should be dynamic, x is {tuple(shape)}"


@pytest.mark.parametrize("batch", [1, 3, 17, 256])
def test_exported_program_runs_both_branches(batch):
    m, ep = _exported()
    run = ep.module()
    for sign in (1.0, -1.0):
        x = _inputs(batch, sign)
        try:
            got = run(x)
        except Exception as e:
            pytest.fail(f"the exported program refused a batch of {batch}: {str(e).splitlines()[0][:300]} "
                        "(the Dim's min and max bound the sizes it accepts)")
        with torch.no_grad():
            want = _reference(m, x)
        assert torch.allclose(got, want, atol=1e-6), (
            f"the exported program's output for a batch of {batch} ({'pos' if sign > 0 else 'neg'} branch) "
            "differs from the model's")
