"""onnx-custom-translation (hidden): the translation uses the node's own limit (not a constant
2.5), on a model the check builds, with inputs far beyond the limit where clipping shows."""

import os
import tempfile
import warnings

import numpy as np
import torch

from lab.custom_translation import export_clipper

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


class TwoClips(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.inp = torch.nn.Linear(5, 6)

    def forward(self, x):
        h = torch.ops.lab.soft_clip(self.inp(x) * 4.0, 0.7)
        return torch.ops.lab.soft_clip(h - 0.2, 0.3) + h


def test_limit_is_the_nodes_own():
    model = TwoClips().eval()
    path = os.path.join(tempfile.mkdtemp(prefix="onnx-ct-hidden-"), "two.onnx")
    export_clipper(model, path, batch=6)
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(2)) * 5
    with torch.no_grad():
        h = 0.7 * torch.tanh(model.inp(x) * 4.0 / 0.7)
        ref = (0.3 * torch.tanh((h - 0.2) / 0.3) + h).numpy()
    got = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    err = float(np.abs(got - ref).max())
    assert err < 1e-5, (
        f"with limits 0.7 and 0.3 ORT differs from limit * tanh(x / limit) by {err:.3g}: use the "
        f"`limit` argument the exporter passes to your function, not a constant"
    )
