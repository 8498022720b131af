"""onnx-export (hidden): run_onnx really runs the file it is given (a model exported here, not
the learner's), and another seed's scorer gives the eager outputs row by row, gate per row."""

import os
import tempfile
import warnings

import numpy as np
import torch

from lab.onnx_export import GatedScorer, export_scorer, run_onnx

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


class Affine(torch.nn.Module):
    def forward(self, x):
        return x * 3.0 - 1.0


def test_run_onnx_runs_the_given_file():
    path = os.path.join(tempfile.mkdtemp(prefix="onnx-hidden-"), "affine.onnx")
    torch.onnx.export(Affine(), (torch.randn(4, 5),), input_names=["inp"], dynamo=True, verbose=False,
                      dynamic_shapes={"x": {0: torch.export.Dim("n")}}).save(path)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    got = run_onnx(path, x)
    assert np.allclose(got, x * 3 - 1, atol=1e-6), (
        "run_onnx must run the ONNX file it is given (its input may have another name than x)"
    )


def test_gate_is_per_row_on_another_model():
    model = GatedScorer(d_in=6, d_hidden=8, seed=3).eval()
    path = os.path.join(tempfile.mkdtemp(prefix="onnx-hidden-"), "scorer.onnx")
    export_scorer(model, path)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(64, 6, generator=g) * 4
    with torch.no_grad():
        h = model.proj(x)
        ref = model.head(torch.where(h.mean(-1, keepdim=True) > 0, 2 * h, -0.5 * h)).numpy()
        eager = model(x).numpy()
    assert np.allclose(eager, ref, atol=1e-6), (
        "GatedScorer's eager output changed meaning: each row with a positive mean of proj(x) "
        "is doubled, every other row multiplied by -0.5"
    )
    got = run_onnx(path, x.numpy())
    bad = np.flatnonzero(np.abs(got - ref).reshape(64, -1).max(1) > 1e-5)
    assert not len(bad), f"rows {bad[:8].tolist()} of a batch of 64 differ between ORT and eager"
