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
