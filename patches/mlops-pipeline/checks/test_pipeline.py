"""mlops-pipeline: torchrun runs the four steps end to end; the log shows each step started and
done under the elastic agent; the registry holds the model with a hash that matches, metrics
that reproduce, and a second run adds version 2 without touching version 1."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from lab import pipeline

torch.set_num_threads(1)
STEPS = ["data", "train", "evaluate", "register"]


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run():
    root = Path(tempfile.mkdtemp(prefix="mlops-"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
           "-m", "lab.pipeline", "--workdir", str(root / "work"), "--registry", str(root / "registry")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return root, proc


def test_torchrun_runs_the_pipeline(run):
    root, proc = run
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    assert proc.returncode == 0, "torchrun ... -m lab.pipeline failed:\n" + "\n".join(tail)
    assert (root / "registry" / pipeline.NAME / "1" / "model.pt").is_file(), (
        "after a run the registry must hold registry/spirals/1/model.pt: main must evaluate and register"
    )


def test_every_step_is_logged_under_the_agent(run):
    root, _ = run
    log = root / "work" / "pipeline.log"
    assert log.is_file(), "no work/pipeline.log: run each step inside `with step(log, name)`"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    events = [(e["step"], e["event"]) for e in lines]
    expected = [(s, ev) for s in STEPS for ev in ("start", "done")]
    assert events == expected, f"the log's steps and events:\n{events}\nexpected\n{expected}"
    assert all(e["run_id"] and e["rank"] == 0 and e["world_size"] == 1 for e in lines), (
        "each line carries rank 0 of 1 and torchrun's run id (TORCHELASTIC_RUN_ID)"
    )


def test_registry_metadata_matches(run):
    root, _ = run
    folder = root / "registry" / pipeline.NAME / "1"
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["name"] == pipeline.NAME and meta["version"] == 1
    assert meta["sha256"] == _sha(folder / "model.pt"), "metadata sha256 is not the registered model file's"
    assert meta["data_sha256"] == _sha(root / "work" / "data.pt"), "data_sha256 is not work/data.pt's"
    assert meta["params"] == {"seed": 0, "lr": 0.03, "steps": 300}, f"params: {meta['params']}"
    assert meta["torch"] == torch.__version__
    data = torch.load(root / "work" / "data.pt")
    model = pipeline.make_model()
    model.load_state_dict(torch.load(folder / "model.pt"))
    with torch.no_grad():
        acc = (model(data["x_test"]).argmax(1) == data["y_test"]).float().mean().item()
    assert abs(meta["metrics"]["accuracy"] - acc) < 1e-9, (
        f"the registered accuracy {meta['metrics']['accuracy']} is not what the registered model scores "
        f"on the test split ({acc})"
    )
    assert acc > 0.85, f"the registered model scores {acc:.3f} on the test split: the pipeline should reach ~0.96"
    assert json.loads((root / "work" / "metrics.json").read_text()) == meta["metrics"]
    assert (root / "registry" / pipeline.NAME / "latest").read_text().strip() == "1"


def test_a_second_run_adds_a_version(run):
    root, _ = run
    v1 = root / "registry" / pipeline.NAME / "1" / "metadata.json"
    before = v1.read_bytes()
    assert pipeline.main(["--workdir", str(root / "work2"), "--registry", str(root / "registry"),
                          "--seed", "1", "--steps", "100"]) == 0
    meta = json.loads((root / "registry" / pipeline.NAME / "2" / "metadata.json").read_text())
    assert meta["version"] == 2 and meta["params"]["seed"] == 1, f"the second run's metadata: {meta}"
    assert v1.read_bytes() == before, "version 1 changed when version 2 was registered"
    assert (root / "registry" / pipeline.NAME / "latest").read_text().strip() == "2"
