"""mlops-pipeline (hidden): register on its own (the hash is the copy's, a gap in versions, a
missing model file), and evaluate on a model the check trains."""

import hashlib
import json
import tempfile
from pathlib import Path

import pytest
import torch

from lab import pipeline

torch.set_num_threads(1)


def test_register_alone():
    root = Path(tempfile.mkdtemp(prefix="mlops-hidden-"))
    model, data = root / "m.bin", root / "d.bin"
    model.write_bytes(b"weights-1")
    data.write_bytes(b"data")
    reg = root / "reg"
    (reg / "toy" / "3").mkdir(parents=True)  # versions 1 and 2 were deleted; 3 exists
    folder = pipeline.register(reg, "toy", model, {"accuracy": 0.5}, {"k": 1}, data)
    assert folder == reg / "toy" / "4", f"with version 3 present the next is 4, got {folder}"
    model.write_bytes(b"weights-changed-after-registering")
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["sha256"] == hashlib.sha256(b"weights-1").hexdigest(), "the hash must be the registered copy's"
    assert (folder / "model.pt").read_bytes() == b"weights-1", "the registry keeps a copy, not a link"
    assert meta["data_sha256"] == hashlib.sha256(b"data").hexdigest()
    with pytest.raises(FileNotFoundError):
        pipeline.register(reg, "toy", root / "missing.pt", {}, {}, data)
    leftovers = sorted(p.name for p in (reg / "toy").iterdir() if p.is_dir())
    assert leftovers in (["3", "4"], ["3", "4", "5"]), f"versions after a failed register: {leftovers}"


def test_evaluate_on_another_model():
    work = Path(tempfile.mkdtemp(prefix="mlops-eval-"))
    pipeline.prepare_data(work, seed=4)
    pipeline.train(work, seed=4, lr=0.03, steps=30)
    metrics = pipeline.evaluate(work)
    data = torch.load(work / "data.pt")
    model = pipeline.make_model()
    model.load_state_dict(torch.load(work / "model.pt"))
    with torch.no_grad():
        logits = model(data["x_test"])
    loss = torch.nn.functional.cross_entropy(logits, data["y_test"]).item()
    acc = (logits.argmax(1) == data["y_test"]).float().mean().item()
    assert abs(metrics["loss"] - loss) < 1e-6 and abs(metrics["accuracy"] - acc) < 1e-9, (
        f"evaluate gave {metrics}, the test split gives loss {loss:.6f}, accuracy {acc:.4f}"
    )
