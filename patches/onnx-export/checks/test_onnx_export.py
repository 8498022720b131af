"""onnx-export: the scorer exports with the dynamo exporter, its batch dimension stays dynamic,
and ONNX Runtime gives the eager model's outputs on rows on both sides of the gate."""

import os
import tempfile
import warnings

import numpy as np
import pytest
import torch

from lab.onnx_export import GatedScorer, export_scorer, run_onnx

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


def _mixed_rows(model, batch, seed):
    """Inputs whose rows fall on both sides of the gate (checked against the model's own proj)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.d_in, generator=g) * 3
    with torch.no_grad():
        gate = model.proj(x).mean(-1) > 0
    if batch > 1:
        assert gate.any() and not gate.all(), "test data must mix both branches (lab data problem)"
    return x


@pytest.fixture(scope="module")
def exported():
    model = GatedScorer(seed=0).eval()
    folder = tempfile.mkdtemp(prefix="onnx-export-")
    path = os.path.join(folder, "scorer.onnx")
    try:
        program = export_scorer(model, path)
    except Exception as e:  # the exporter's own error says which step failed
        pytest.fail(f"torch.onnx.export(..., dynamo=True) failed: {type(e).__name__}: "
                    f"{str(e).splitlines()[0]}\nA Python `if` on a tensor's value cannot be "
                    f"captured by torch.export: see GatedScorer.forward", pytrace=False)
    return model, path, program


def test_export_writes_an_onnx_file(exported):
    _, path, program = exported
    assert os.path.getsize(path) > 0, f"{path} is empty: call program.save(path)"
    ops = {n.op_type for n in program.model.graph}
    assert "Gemm" in ops or "MatMul" in ops, f"the graph has no matrix product: {sorted(ops)}"


def test_batch_dimension_is_dynamic(exported):
    _, path, _ = exported
    import onnx

    dim = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param and not dim.HasField("dim_value"), (
        f"the graph's input batch dimension is the constant {dim.dim_value}: the example's batch "
        f"was captured as a constant. Declare it dynamic (dynamic_shapes with torch.export.Dim)"
    )


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_onnx_runtime_matches_eager(exported, batch):
    model, path, _ = exported
    x = _mixed_rows(model, batch, seed=batch)
    with torch.no_grad():
        expected = model(x).numpy()
    try:
        got = run_onnx(path, x.numpy())
    except NotImplementedError:
        raise
    except Exception as e:
        pytest.fail(f"ONNX Runtime failed on a batch of {batch}: {str(e).splitlines()[0]}", pytrace=False)
    assert got.shape == expected.shape, f"batch {batch}: ORT gives shape {got.shape}, eager {expected.shape}"
    err = float(np.abs(got - expected).max())
    assert err < 1e-5, (
        f"batch {batch}: ORT and eager differ by {err:.3g}. Did the export keep the per-row gate "
        f"(rows with positive mean doubled, others times -0.5)?"
    )
