"""The check runner on checks that go wrong in the ways a learner's code does: a hang, a C++ abort,
a file that does not import, a failing assertion; each a verdict that says what happened."""

from __future__ import annotations

from pathlib import Path

from torchatlas.contrib.checks import run_checks
from torchatlas.contrib.model import BuildMode, Check, Lab


def _lab(tmp_path: Path, files: dict[str, str], timeout: float = 60) -> Lab:
    folder = tmp_path / "lab"
    (folder / "checks").mkdir(parents=True)
    for name, text in files.items():
        (folder / "checks" / name).write_text(text)
    checks = tuple(Check(file=f"checks/{n}", hidden=n.endswith("_hidden.py"), timeout=timeout) for n in files)
    return Lab(id="t", title="t", theme=3, difficulty="beginner", minutes=1, mode=BuildMode.PYTHON, summary="",
               task="", hints=("h",), edits=("lab/x.py",), checks=checks, folder=folder)


def _ws(tmp_path: Path, code: str) -> Path:
    ws = tmp_path / "ws"
    (ws / "lab").mkdir(parents=True)
    (ws / "lab" / "x.py").write_text(code)
    return ws


def test_a_check_that_hangs_is_stopped_and_named(tmp_path):
    lab = _lab(tmp_path, {"test_a.py": "def test_ok():\n    pass\n",
                          "test_hang.py": "import time\n\ndef test_forever():\n    time.sleep(600)\n"}, timeout=3)
    results = run_checks(lab, _ws(tmp_path, ""))
    by_name = {r.name: r for r in results}
    assert by_name["test_a::test_ok"].passed
    assert not by_name["test_hang"].passed and "timed out after 3 s" in by_name["test_hang"].message


def test_a_check_process_that_aborts_is_explained(tmp_path):
    lab = _lab(tmp_path, {"test_abort.py": "import os\n\ndef test_boom():\n    os.abort()\n"})
    [r] = run_checks(lab, _ws(tmp_path, ""))
    assert not r.passed and "SIGABRT" in r.message and "C++ abort" in r.message


def test_messages_point_at_the_learners_line(tmp_path):
    lab = _lab(tmp_path, {
        "test_msg.py": "from lab.x import f\n\ndef test_value():\n    assert f() == 2, 'f() must be 2: read the hint'\n",
        "test_err_hidden.py": "from lab.x import g\n\ndef test_g():\n    g()\n",
        "test_import.py": "import lab.nothere\n\ndef test_never():\n    pass\n"})
    ws = _ws(tmp_path, "def f():\n    return 1\n\n\ndef g():\n    raise ValueError('bad shape')\n")
    results = {r.name: r for r in run_checks(lab, ws)}
    assert results["test_msg::test_value"].message == "f() must be 2: read the hint"
    err = results["test_err_hidden::test_g"]
    assert err.hidden and "ValueError: bad shape" in err.message and "lab/x.py:6 in g" in err.message
    imp = results["test_import::import"]
    assert not imp.passed and "No module named 'lab.nothere'" in imp.message
    assert len(results) == 3
