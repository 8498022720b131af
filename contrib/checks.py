"""Run a lab's checks: each check file in a fresh pytest subprocess, each test a verdict.

Fresh subprocesses because a rebuilt C++ library cannot be loaded twice into one process (it
aborts), because a learner's bug may crash or hang the interpreter, and because the workspace's
`torch/` must be the one imported. Results come back through pytest's JUnit XML, so a check file
is plain pytest: the learner can run it by hand, and its assertion messages are the verdicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .model import Check, CheckResult, Lab

MAX_MESSAGE = 1200
# pytest, then a hard exit once its report is written: a check that touched torch._dynamo (opcheck,
# a dispatch mode) otherwise spends ~0.9 s in interpreter teardown that tells nobody anything.
_RUN_PYTEST = ("import os, sys, pytest\nrc = pytest.main(sys.argv[1:])\nsys.stdout.flush(); sys.stderr.flush()\n"
               "os._exit(int(rc))\n")
# The same, started early (WarmChecks): the imports first, then one JSON line of variables on stdin.
_WARM_PYTEST = """import json, os, sys
import pytest
try:
    import torch, torch._dynamo  # what opcheck and dispatch modes import on first use
except Exception:
    pass  # the checks will report it themselves
line = sys.stdin.readline()
if not line.strip():
    os._exit(0)
os.environ.update(json.loads(line))
rc = pytest.main(sys.argv[1:])
sys.stdout.flush(); sys.stderr.flush()
os._exit(int(rc))
"""


def check_env(lab: Lab, workspace_root: Path, build_env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("TORCHATLAS_LAB_") or k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
            del env[k]
    root = str(workspace_root)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["TORCHATLAS_LAB_WORKSPACE"] = root
    env["TORCHATLAS_LAB_DIR"] = str(lab.folder)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the learner's venv may hold slow or odd plugins
    env.setdefault("OMP_NUM_THREADS", "1")  # several checks may run at once on a 2-core laptop
    env.update(build_env or {})
    return env


def run_check(lab: Lab, check: Check, env: dict[str, str], timeout: float | None = None) -> list[CheckResult]:
    """One check file in its own process: a result per test function, or one saying why it did not run."""
    return _run(lab, (check,), env, timeout or check.timeout)


class WarmChecks:
    """A check process started before the build: it imports pytest, torch and torch._dynamo (what
    opcheck and dispatch modes load on first use, ~3 s) on the core the compiler leaves idle, then
    waits for the build's variables on stdin and runs the checks. Measured with the extension lab:
    cold build + check went from 1.6x a bare `cpp_extension.load` to about the build alone plus the
    tests' own run time. `close()` kills it when the build fails or is interrupted."""

    def __init__(self, lab: Lab, workspace_root: Path, group: tuple[Check, ...] | None = None):
        self.lab = lab
        self.group = group if group is not None else lab.checks
        self.env = check_env(lab, workspace_root)
        self._tmp = tempfile.TemporaryDirectory(prefix="torchatlas-check-")
        self.report = Path(self._tmp.name) / "report.xml"
        args = _pytest_args(lab, self.group, Path(self._tmp.name), self.report)
        self.proc = subprocess.Popen([sys.executable, "-c", _WARM_PYTEST, *args], cwd=self._tmp.name, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            _kill(self.proc)
        self._tmp.cleanup()


def _pytest_args(lab: Lab, group: tuple[Check, ...], tmp: Path, report: Path) -> list[str]:
    (tmp / "pytest.ini").write_text("[pytest]\n")
    return ["-q", "-p", "no:cacheprovider", "-c", str(tmp / "pytest.ini"),
            "--rootdir", str(lab.folder), f"--junitxml={report}", "-o", "junit_family=xunit1", "--tb=short",
            "--continue-on-collection-errors"] + [str(lab.folder / c.file) for c in group]


def _run(lab: Lab, group: tuple[Check, ...], env: dict[str, str], timeout: float,
         warm: WarmChecks | None = None) -> list[CheckResult]:
    label = Path(group[0].file).stem if len(group) == 1 else "checks"
    start = time.monotonic()
    # a warm process already has its folder; only a fresh one needs a temporary folder of its own
    folder = contextlib.nullcontext(None) if warm is not None else tempfile.TemporaryDirectory(prefix="torchatlas-check-")
    with folder as own_tmp:
        if warm is not None:
            tmp, report, proc = Path(warm._tmp.name), warm.report, warm.proc
            request = json.dumps({k: v for k, v in env.items() if warm.env.get(k) != v}) + "\n"
        else:
            tmp, report = Path(own_tmp), Path(own_tmp) / "report.xml"
            proc = subprocess.Popen([sys.executable, "-c", _RUN_PYTEST, *_pytest_args(lab, group, tmp, report)],
                                    cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
            request = None
        try:
            out, _ = proc.communicate(input=request, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return [CheckResult(label, False, f"timed out after {timeout:.0f} s (a loop that never ends? a deadlock "
                                              "in a DataLoader worker?); the check was stopped",
                                hidden=group[0].hidden, seconds=time.monotonic() - start)]
        except BaseException:
            _kill(proc)
            raise
        seconds = time.monotonic() - start
        if report.is_file() and (proc.returncode or 0) >= 0:
            results = _parse_junit(report, group, tmp, Path(env["TORCHATLAS_LAB_WORKSPACE"]), lab.edits)
            if results:
                return results
        return [CheckResult(label, False, _crash_message(proc.returncode, out), hidden=group[0].hidden,
                            seconds=seconds)]


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _crash_message(code: int, output: str) -> str:
    tail = "\n".join(output.strip().splitlines()[-12:])
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        what = f"the check process died with {name}"
        if name == "SIGABRT":
            what += " (a C++ abort: often a second TORCH_LIBRARY for a namespace, or a schema defined twice)"
        elif name == "SIGSEGV":
            what += " (a crash in C++ code: an out-of-bounds pointer in a kernel?)"
    else:
        what = f"pytest exited with code {code} and no report"
    return _trim(f"{what}\n{tail}")


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ..."


def _parse_junit(report: Path, group: tuple[Check, ...], cwd: Path, root: Path,
                 edits: tuple[str, ...] = ()) -> list[CheckResult]:
    try:
        tree = ET.parse(report)
    except ET.ParseError:
        return []
    by_stem = {Path(c.file).stem: c for c in group}
    out = []
    for case in tree.iter("testcase"):
        stem = Path(case.get("file") or "").stem or (case.get("classname") or "").rsplit(".", 1)[-1]
        check = by_stem.get(stem) or by_stem.get(case.get("name", "").rsplit(".", 1)[-1]) or group[0]
        label = Path(check.file).stem
        name = case.get("name", "?")
        seconds = float(case.get("time", 0) or 0)
        failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
        if failure is None and error is None and skipped is None:
            out.append(CheckResult(f"{label}::{name}", True, "", hidden=check.hidden, seconds=seconds))
            continue
        node = failure if failure is not None else error if error is not None else skipped
        message = _message(node.get("message", ""), node.text or "", cwd, root, edits)
        if failure is None and error is None:
            message = f"skipped: {message}" if message else "skipped"
        if error is not None and error.get("message") == "collection failure":  # the file did not even import
            name = "import"
        out.append(CheckResult(f"{label}::{name}", False, message, hidden=check.hidden, seconds=seconds))
    return out


def _message(message: str, text: str, cwd: Path, root: Path, edits: tuple[str, ...] = ()) -> str:
    """The assertion's own message, without pytest's re-statement of the expression; for errors,
    the exception line and where it was raised in the workspace (the learner's code)."""
    msg = message.strip()
    if msg == "collection failure":  # the file did not import: pytest's last `E` line says why
        errors = [ln.strip()[1:].strip() for ln in text.splitlines() if ln.strip().startswith("E ")]
        msg = errors[-1] if errors else msg
    if "\nassert " in msg:
        msg = msg.split("\nassert ", 1)[0]
    if msg.startswith("AssertionError: "):
        msg = msg[len("AssertionError: "):]
    if not msg:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else "failed"
    where = _learner_frame(text, cwd, root, edits)
    if where and where not in msg:
        msg = f"{msg}\n  at {where}"
    return _trim(msg)


FRAME_RE = re.compile(r"^(\S+\.py):(\d+)(?:: in (\S+))?")


def _learner_frame(text: str, cwd: Path, root: Path, edits: tuple[str, ...] = ()) -> str:
    """The innermost traceback line in the learner's code (under lab/, or a file the lab edits), as
    `path:line in function` relative to the workspace (pytest prints paths relative to its folder).
    The rest of the workspace's torch/ is PyTorch's code, not the learner's."""
    best = ""
    root = root.resolve()
    for line in text.splitlines():
        m = FRAME_RE.match(line.strip())
        if not m:
            continue
        path = Path(os.path.normpath(cwd / m.group(1)))
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        if not (rel.parts[:1] == ("lab",) or str(rel) in edits):
            continue
        best = f"{rel}:{m.group(2)}" + (f" in {m.group(3)}" if m.group(3) else "")
    return best


def run_checks(lab: Lab, workspace_root: Path, build_env: dict[str, str] | None = None,
               only_visible: bool = False, on_result=None, warm: WarmChecks | None = None) -> list[CheckResult]:
    """Every check file in one pytest process (one `import torch`, ~1-2 s saved per file; `warm`: a
    process started before the build); when that process crashes or hangs, each file again in its
    own process, so the verdict names the file."""
    env = check_env(lab, workspace_root, build_env)
    group = tuple(c for c in lab.checks if not (only_visible and c.hidden))
    if not group:
        return []
    results = []
    if warm is not None and warm.group == group:
        results = _run(lab, group, env, sum(c.timeout for c in group), warm=warm)
    elif len(group) > 1:
        results = _run(lab, group, env, sum(c.timeout for c in group))
    if not results or (len(results) == 1 and results[0].name == "checks"):
        results = [r for c in group for r in run_check(lab, c, env)]
    if on_result:
        for r in results:
            on_result(r)
    return results
