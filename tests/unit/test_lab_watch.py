"""`lab watch`: checks once, then again after each save; a lab that already passed is not re-checked
until a file changes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

from torchatlas.contrib.watch import watch


class Verdict:
    def __init__(self, passed: bool):
        self.passed = passed


def _setup(tmp_path: Path, monkeypatch, done: bool):
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(tmp_path / "state"))
    from torchatlas.contrib.progress import LabsProgress
    p = LabsProgress()
    if done:
        p.record_check("demo", 1, 1)
    p.save()
    root = tmp_path / "ws"
    (root / "lab").mkdir(parents=True)
    (root / "lab" / "x.py").write_text("x = 1\n")
    lab = SimpleNamespace(id="demo", edits=("lab/x.py",), hints=("one", "two"))
    return lab, SimpleNamespace(root=root)


def _save_later(path: Path, delay: float) -> threading.Thread:
    def go():
        time.sleep(delay)
        path.write_text("x = 2  # saved\n")
    t = threading.Thread(target=go)
    t.start()
    return t


def test_checks_now_and_after_a_save(tmp_path, monkeypatch, capsys):
    lab, ws = _setup(tmp_path, monkeypatch, done=False)
    calls = []

    def check():
        calls.append(time.monotonic())
        return Verdict(len(calls) > 1)
    t = _save_later(ws.root / "lab" / "x.py", 0.6)
    code = watch(lab, ws, check, interval=0.1, max_seconds=2.0)
    t.join()
    assert len(calls) == 2 and code == 0


def test_a_passed_lab_is_not_rechecked_until_a_file_changes(tmp_path, monkeypatch, capsys):
    lab, ws = _setup(tmp_path, monkeypatch, done=True)
    calls = []
    assert watch(lab, ws, lambda: calls.append(1) or Verdict(True), interval=0.1, max_seconds=0.6) == 0
    assert calls == [] and "already passed" in capsys.readouterr().out
    t = _save_later(ws.root / "lab" / "new_helper.py", 0.3)
    watch(lab, ws, lambda: calls.append(1) or Verdict(True), interval=0.1, max_seconds=1.2)
    t.join()
    assert calls == [1]
