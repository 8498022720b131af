"""edge-lowering (hidden): run_pte runs the file it is given (a program lowered here without
delegation), and another model in training mode lowers to its inference outputs."""

import os
import tempfile
import warnings

import torch

from lab.edge import KeywordNet, lower, run_pte

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


class Affine(torch.nn.Module):
    def forward(self, x):
        return x * 2.0 + 1.0


def test_run_pte_runs_the_given_file():
    from executorch.exir import to_edge

    x = torch.randn(3, 5)
    path = os.path.join(tempfile.mkdtemp(prefix="edge-hidden-"), "affine.pte")
    with open(path, "wb") as f:
        f.write(to_edge(torch.export.export(Affine(), (x,))).to_executorch().buffer)
    assert torch.allclose(run_pte(path, x), x * 2 + 1), "run_pte must run the program in the file it is given"


def test_another_model_in_training_mode():
    model = KeywordNet(seed=5).train()
    with torch.no_grad():  # move BatchNorm's running statistics away from (0, 1)
        for _ in range(3):
            model(torch.randn(8, 1, 16, 16) * 3 + 1)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(6))
    path = os.path.join(tempfile.mkdtemp(prefix="edge-hidden-"), "kws5.pte")
    lower(model, (x,), path)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    err = (run_pte(path, x) - expected).abs().max().item()
    assert err < 1e-4, f"a model handed over in training mode must be lowered for inference: off by {err:.3g}"
