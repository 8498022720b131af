"""Every shipped lab is honest (`torchatlas lab dev check`): its starter fails its checks, its
solution passes them, and the solution with any one of its hunks left out fails.

One test per lab so pytest-xdist spreads them over the cores. Every one is in the `slow_lab`
group (CI runs it after the suite; the default `-m "not slow_lab"` leaves it out on a laptop): a
dev check runs a lab's checks at least three times in fresh processes (starter, solution, each
hunk left out), 30-100 s for a python lab on 2 cores and minutes for those that compile C++, run
torchgen, need a domain library or start several processes; 32 of them would take half the
suite's 15 minutes. The lab machinery itself is tested in the suite (test_lab_cli.py,
test_lab_checks.py, test_lab_workspace.py) on a tiny lab.
"""

from __future__ import annotations

import pytest

from torchatlas.contrib.devcheck import dev_check, install_hint, missing_requirements
from torchatlas.contrib.loader import load_labs

LABS = load_labs(builtin=True).ordered()


def _param(lab):
    return pytest.param(lab, id=lab.id, marks=[pytest.mark.slow_lab])


@pytest.mark.parametrize("lab", [_param(lab) for lab in LABS])
def test_lab_is_honest(lab, installed_source, tmp_path):
    missing = missing_requirements(lab)
    if missing:
        pytest.skip(f"{lab.id} {install_hint(lab, missing)}")
    report = dev_check(lab, installed_source, workdir=tmp_path)
    problems = [f"{s.name}: {s.why()}" for s in report.stages if not s.ok]
    assert report.ok, f"{lab.id} is not honest:\n" + "\n".join(problems)
    names = [s.name for s in report.stages]
    assert names[:2] == ["starter", "solution"]


MATCHING_PYTHON = "TORCHATLAS_TEST_MATCHING_PYTHON"


@pytest.mark.slow_lab
def test_fix_a_kernel_on_a_checkout_of_the_installed_release_is_honest(tmp_path):
    """The checkout variant of fix-a-kernel, for real: on the v2.6.0 tree (a git checkout) with
    torch 2.6.0 installed (another Python: TORCHATLAS_TEST_MATCHING_PYTHON, which .ci/run makes),
    the starter's bugs in the tree's own TriangularOps.cpp fail the checks, the fix passes, each
    half of it fails; and the learner's repository is left as it was."""
    import json
    import os
    import subprocess
    from pathlib import Path

    tree, python = os.environ.get("TORCHATLAS_TEST_SOURCE"), os.environ.get(MATCHING_PYTHON)
    if not tree or not python:
        pytest.skip(f"needs TORCHATLAS_TEST_SOURCE (a git checkout of v2.6.0: ../shared/pytorch-source/fetch --git) "
                    f"and {MATCHING_PYTHON} (a Python with torch==2.6.0 and torchatlas installed; .ci/run makes one)")
    if not (Path(tree) / ".git").exists():
        pytest.skip(f"{tree} is not a git checkout (../shared/pytorch-source/fetch --git makes it one)")
    torchatlas = Path(python).parent / "torchatlas"
    assert torchatlas.is_file(), f"{MATCHING_PYTHON}={python}: no torchatlas script beside it (pip install -e .)"

    def git(*args):
        return subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True, check=True).stdout

    before = (git("rev-parse", "HEAD"), git("branch", "--list"), git("worktree", "list"), git("status", "--porcelain"))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "MAX_JOBS": "2"}
    run = subprocess.run([str(torchatlas), "lab", "dev", "check", "fix-a-kernel", "--source", tree, "--json"],
                         capture_output=True, text=True, env=env, timeout=1500)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    [report] = json.loads(run.stdout)["labs"]
    stages = {s["stage"]: s for s in report["stages"]}
    assert report["ok"], json.dumps(report, indent=1)[-4000:]
    # the starter fails for the planted bugs, not for a build that broke
    starter = {c["name"]: c["passed"] for c in stages["starter"]["checks"]}
    assert starter.get("build") is True and starter.get("test_tril::test_functional_tril") is True, starter
    assert starter.get("test_tril::test_in_place_tril_") is False, starter
    assert starter.get("test_tril::test_out_into_a_slice_of_a_bigger_buffer") is False, starter
    # the variant ran: its hunks are in the tree's own kernel file, not in the lab's copy (lab/)
    halves = [n for n in stages if n.startswith("solution without")]
    assert len(halves) == 2 and all("aten/src/ATen/native/TriangularOps.cpp" in n for n in halves), list(stages)
    after = (git("rev-parse", "HEAD"), git("branch", "--list"), git("worktree", "list"), git("status", "--porcelain"))
    assert after == before, "the dev check changed the learner's repository"
