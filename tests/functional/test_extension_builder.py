"""The extension builder for real: cpp_extension + ninja in a fresh process, on a tiny operator.

What must hold: a good source builds into `.lab/build/extension/` and the library loads in a
fresh process; nothing changed answers from the stamp without starting a process; a compile
error comes back at the learner's file:line with no stamp left (and, unchanged, is replayed
without compiling again); Ctrl-C and a timeout stop the build's whole process group and leave
no stamp. Two real compiles in all, plus one stopped after a second (CI has 2 cores).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from torchatlas.contrib.builders import extension
from torchatlas.contrib.builders.base import BuildFailed
from torchatlas.contrib.model import BuildSpec

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed"),
    pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None
                       and not (Path(sys.executable).parent / "ninja").exists(),
                       reason="needs a C++ compiler and ninja"),
]

SOURCE = """\
// a tiny operator: only torch/library.h, the cheapest header that can register one
#include <torch/library.h>

at::Tensor twice_cpu(const at::Tensor& x) {
  return x.mul(2);
}

TORCH_LIBRARY(atlas_ext_test, m) {
  m.def("twice(Tensor x) -> Tensor");
}

TORCH_LIBRARY_IMPL(atlas_ext_test, CPU, m) {
  m.impl("twice", &twice_cpu);
}
"""
BROKEN_LINE = 5  # `return x.mull(2);`


@dataclass(frozen=True)
class FakeLab:
    """What the builder reads of a lab: its build spec (and a path for messages)."""

    build: BuildSpec = field(default_factory=lambda: BuildSpec(name="atlas_ext_test", sources=("lab/op.cpp",)))
    path: str = "patches/test/lab.yaml"


LAB = FakeLab()


def _workspace(root: Path, source: str = SOURCE) -> Path:
    ws = root / "ws"
    (ws / "lab").mkdir(parents=True)
    (ws / "lab" / "op.cpp").write_text(source)
    return ws


def _no_process(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the builder started a process although nothing changed")
    monkeypatch.setattr(extension.subprocess, "Popen", refuse)


# Each test below has a workspace of its own (no shared fixture): pytest-xdist may run them on
# different workers, and a shared build would then be built twice.

@pytest.mark.slow_lab  # compiles / runs torchgen for real: the slow group
def test_build_load_and_nothing_changed(tmp_path, monkeypatch):
    ws = _workspace(tmp_path)
    steps: list[str] = []
    r = extension.build(LAB, ws, progress=steps.append)
    assert r.ok, f"{r.summary}\n{r.log[-3000:]}"
    assert not r.cached and r.mode == "extension"
    assert r.build_dir == ws / ".lab" / "build" / "extension"
    assert r.library == r.build_dir / "atlas_ext_test.so" and r.library.is_file()
    assert (r.build_dir / extension.STAMP).is_file()
    assert r.env() == {"TORCHATLAS_LAB_BUILD": str(r.build_dir), "TORCHATLAS_LAB_LIB": str(r.library)}
    assert "[1/2] compiled lab/op.cpp" in steps and "[2/2] linked atlas_ext_test.so" in steps
    code = ("import os, torch; torch.ops.load_library(os.environ['TORCHATLAS_LAB_LIB']); "
            "print(torch.ops.atlas_ext_test.twice(torch.arange(3.)).tolist())")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **r.env()}, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "[0.0, 2.0, 4.0]", out.stderr[-2000:]

    _no_process(monkeypatch)  # nothing changed: the stamp answers, no process, well under 2 s
    t = time.monotonic()
    again = extension.build(LAB, ws)
    assert time.monotonic() - t < 2.0
    assert again.ok and again.cached and again.library == r.library


@pytest.mark.slow_lab  # compiles / runs torchgen for real: the slow group
def test_compile_error_at_the_learners_line_and_no_stamp(tmp_path, monkeypatch):
    ws = _workspace(tmp_path, SOURCE.replace("x.mul(2)", "x.mull(2)"))
    build_dir = ws / ".lab" / "build" / "extension"
    build_dir.mkdir(parents=True)
    (build_dir / "lock").write_text("")  # cpp_extension's baton left by a killed build: must not hang
    r = extension.build(LAB, ws, timeout=300)
    assert not r.ok, r.summary
    errors = [d for d in r.diagnostics if d.severity == "error"]
    assert errors, r.log[-3000:]
    assert (errors[0].file, errors[0].line) == ("lab/op.cpp", BROKEN_LINE)
    assert "mull" in errors[0].message and "Traceback" not in r.summary
    assert r.summary == "atlas_ext_test did not compile: 1 error"
    assert not (build_dir / extension.STAMP).exists()
    assert r.library is None and "TORCHATLAS_LAB_LIB" not in r.env()

    _no_process(monkeypatch)  # unchanged: the same errors, without compiling again
    again = extension.build(LAB, ws)
    assert not again.ok and again.cached and again.diagnostics == r.diagnostics


def test_ctrl_c_stops_the_build_and_leaves_no_stamp(tmp_path):
    ws = _workspace(tmp_path)
    build_dir = ws / ".lab" / "build" / "extension"
    pids: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*a, **k):
        p = real_popen(*a, **k)
        pids.append(p.pid)
        return p

    def interrupt(step: str) -> None:
        if step.startswith("compiling"):  # torch imported, ninja starting: Ctrl-C in the middle of g++
            time.sleep(1.0)
            raise KeyboardInterrupt

    started = time.time()
    extension.subprocess.Popen = recording_popen
    try:
        with pytest.raises(KeyboardInterrupt):
            extension.build(LAB, ws, progress=interrupt)
    finally:
        extension.subprocess.Popen = real_popen
    assert not (build_dir / extension.STAMP).exists()
    assert not [p.name for p in build_dir.iterdir() if p.suffix in (".o", ".so") and p.stat().st_mtime >= started]
    assert _group_gone(pids[0]), "the build's process group (python, ninja, the compiler) is still alive"


def _group_gone(pgid: int, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_timeout_is_a_build_failure_with_a_hint(tmp_path):
    ws = _workspace(tmp_path)
    with pytest.raises(BuildFailed) as e:
        extension.build(LAB, ws, timeout=0.5)
    assert "did not finish in" in e.value.message and e.value.hint
    assert not (ws / ".lab" / "build" / "extension" / extension.STAMP).exists()


# --- no compiler needed ------------------------------------------------------------------------

def test_missing_ninja_is_a_build_failure_with_a_hint(tmp_path, monkeypatch):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "op.cpp").write_text(SOURCE)
    real_which = shutil.which
    monkeypatch.setattr(extension.shutil, "which", lambda cmd, *a, **k: None if cmd == "ninja" else real_which(cmd, *a, **k))
    with pytest.raises(BuildFailed) as e:
        extension.build(LAB, tmp_path)
    assert "ninja" in e.value.message and "pip install ninja" in e.value.hint


def test_missing_compiler_is_a_build_failure_with_a_hint(tmp_path, monkeypatch):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "op.cpp").write_text(SOURCE)
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(BuildFailed) as e:
        extension.build(LAB, tmp_path)
    assert "no-such-compiler-xyz" in e.value.message and "CXX" in e.value.hint


def test_missing_or_escaping_sources_are_reported_not_built(tmp_path, monkeypatch):
    _no_process(monkeypatch)
    r = extension.build(LAB, tmp_path)
    assert not r.ok and r.diagnostics[0].file == "lab/op.cpp" and "not found" in r.diagnostics[0].message
    outside = tmp_path.parent / f"{tmp_path.name}-outside.cpp"
    outside.write_text(SOURCE)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "op.cpp").symlink_to(outside)
    r = extension.build(LAB, tmp_path)
    assert not r.ok and "outside the workspace" in r.diagnostics[0].message
    bad = FakeLab(build=BuildSpec(name="x", sources=("../elsewhere.cpp",)))
    assert "inside the workspace" in extension.build(bad, tmp_path).diagnostics[0].message


def test_bad_library_name_is_a_build_failure(tmp_path):
    with pytest.raises(BuildFailed) as e:
        extension.build(FakeLab(build=BuildSpec(name="lab-ops", sources=("lab/op.cpp",))), tmp_path)
    assert "lab-ops" in e.value.message


def test_local_headers_are_part_of_the_stamp(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "op.cpp").write_text('#include "util.h"\n#include <vector>\n')
    (tmp_path / "lab" / "util.h").write_text('#include "../lab/more.h"\n')
    (tmp_path / "lab" / "more.h").write_text("// more\n")
    files, problems = extension.source_closure(tmp_path, ["lab/op.cpp"])
    assert problems == () and [f for f, _ in files] == ["lab/more.h", "lab/op.cpp", "lab/util.h"]
