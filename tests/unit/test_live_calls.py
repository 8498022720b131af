"""live_calls (trace --runtime) when its subprocess cannot run: the error names what to install."""

from __future__ import annotations

import subprocess

import pytest

from torchatlas.errors import AtlasError
from torchatlas.indexes import live_calls


def _failing(stderr: str):
    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr=stderr)
    return run


def test_a_missing_module_names_it_and_the_install_command(monkeypatch):
    monkeypatch.setattr(live_calls.subprocess, "run", _failing(
        "Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'numpy'\n"))
    with pytest.raises(AtlasError) as e:
        live_calls.live_calls("aten::conv2d")
    assert "OpInfo samples of the installed torch need numpy" in str(e.value)
    assert "-m pip install numpy" in e.value.hint


def test_another_failure_says_the_last_line_and_the_static_walk(monkeypatch):
    monkeypatch.setattr(live_calls.subprocess, "run", _failing("RuntimeError: boom\n"))
    with pytest.raises(AtlasError) as e:
        live_calls.live_calls("aten::conv2d")
    assert "failed to run aten::conv2d on a sample: RuntimeError: boom" in str(e.value)
    assert "without --runtime" in e.value.hint
