"""Every shipped lab is honest (`torchatlas lab dev check`): its starter fails its checks, its
solution passes them, and the solution with any one of its hunks left out fails.

One test per lab so pytest-xdist spreads them over the cores. Labs that take minutes are marked
`slow_lab` (CI runs them after the suite; the default `-m "not slow_lab"` leaves them out on a
laptop): those that compile C++ or run torchgen, those whose checks need a domain library (ONNX
Runtime, ExecuTorch, ...), and those whose author gave a check more than the default 120 s (labs
that start several processes: DDP, FSDP, torchrun, the profiler's timed runs).
"""

from __future__ import annotations

import pytest

from torchatlas.contrib.devcheck import dev_check, install_hint, missing_requirements
from torchatlas.contrib.loader import load_labs
from torchatlas.contrib.model import BuildMode

LABS = load_labs(builtin=True).ordered()
SLOW = (BuildMode.EXTENSION, BuildMode.NATIVE, BuildMode.CODEGEN)


def _slow(lab) -> bool:
    return lab.mode in SLOW or bool(lab.requires) or any(c.timeout > 120 for c in lab.checks)


def _param(lab):
    marks = [pytest.mark.slow_lab] if _slow(lab) else []
    return pytest.param(lab, id=lab.id, marks=marks)


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
