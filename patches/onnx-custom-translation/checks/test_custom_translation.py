"""onnx-custom-translation: the model with the opaque lab::soft_clip exports once the translation
table names an onnxscript function for it, and ONNX Runtime gives the eager outputs."""

import os
import tempfile
import warnings

import numpy as np
import pytest
import torch

from lab.custom_translation import Clipper, export_clipper

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


def _ort(path, x):
    import onnxruntime as ort

    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]


def _export(model, batch=4):
    path = os.path.join(tempfile.mkdtemp(prefix="onnx-ct-"), "clipper.onnx")
    try:
        return path, export_clipper(model, path, batch=batch)
    except NotImplementedError:
        raise
    except Exception as e:
        pytest.fail(f"the export failed: {type(e).__name__}: {str(e).splitlines()[0]}\nThe "
                    f"exporter has no ONNX function for lab.soft_clip.default: pass one in "
                    f"custom_translation_table", pytrace=False)


@pytest.fixture(scope="module")
def exported():
    model = Clipper(limit=2.5, seed=0).eval()
    path, program = _export(model)
    return model, path, program


def test_graph_has_the_translation_and_no_custom_node(exported):
    _, _, program = exported
    nodes = list(program.model.graph)
    domains = {n.domain for n in nodes} - {"", "ai.onnx"}
    assert not domains, f"the graph still holds nodes of domain(s) {domains}: ORT cannot run them"
    ops = [n.op_type for n in nodes]
    assert "Tanh" in ops, f"soft_clip is limit * tanh(x / limit); the graph's ops: {ops}"


def test_outputs_match_eager_in_onnx_runtime(exported):
    model, path, _ = exported
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        expected = model(x).numpy()
    got = _ort(path, x)
    err = float(np.abs(got - expected).max())
    assert err < 1e-5, f"ORT and eager differ by {err:.3g}: the translation must compute limit * tanh(x / limit)"
