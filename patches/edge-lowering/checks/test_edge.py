"""edge-lowering: the model lowers to an ExecuTorch program delegated to XNNPACK, the ExecuTorch
runtime gives the eager (inference) outputs, and measure() reports sizes and latencies."""

import os
import tempfile
import warnings

import pytest
import torch

from lab.edge import KeywordNet, lower, measure, run_pte

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def lowered():
    model = KeywordNet(seed=0)  # fresh: in training mode, as a model comes out of training code
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    path = os.path.join(tempfile.mkdtemp(prefix="edge-"), "kws.pte")
    size = lower(model, (x,), path)
    return model, x, path, size


def test_program_is_written_and_delegated(lowered):
    _, _, path, size = lowered
    assert os.path.isfile(path) and size == os.path.getsize(path) and size > 0, (
        f"lower must write the program to {path} and return its size"
    )
    blob = open(path, "rb").read()
    assert b"XnnpackBackend" in blob, (
        "the program delegates nothing to XNNPACK: pass partitioner=[XnnpackPartitioner()] to "
        "to_edge_transform_and_lower"
    )


def test_executorch_runtime_matches_eager(lowered):
    model, x, path, _ = lowered
    model.eval()
    with torch.no_grad():
        expected = model(x)
    got = run_pte(path, x)
    assert got.shape == expected.shape, f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    err = (got - expected).abs().max().item()
    assert err < 1e-4, (
        f"ExecuTorch and eager (eval mode) differ by {err:.3g}: was the model exported in training mode "
        f"(dropout, batch statistics)? Export for inference"
    )


def test_measure_reports_sizes_and_latencies(lowered):
    model, x, path, _ = lowered
    m = measure(model, path, x)
    params = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in m.items()})
    assert m["pte_bytes"] == os.path.getsize(path), f"pte_bytes {m['pte_bytes']} is not the file's size"
    assert m["param_bytes"] == params, f"param_bytes {m['param_bytes']}, the parameters and buffers hold {params}"
    assert params * 0.5 < m["pte_bytes"] < params + 64_000, (
        f"a {m['pte_bytes']}-byte program for {params} bytes of weights: the weights live inside the .pte"
    )
    assert m["eager_us"] > 0 and m["pte_us"] > 0, "latencies are positive medians in microseconds"
    assert 0 <= m["max_abs_diff"] < 1e-4, f"max_abs_diff {m['max_abs_diff']}"
