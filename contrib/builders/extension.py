"""The extension build mode: a lab's C++ operators built with `torch.utils.cpp_extension` and ninja.

Why it is shaped this way (measured on torch 2.13, g++ 12, 2 cores):
- The build runs `cpp_extension.load(..., is_python_module=False)` in a fresh Python process,
  never in torchatlas's: torchatlas must not import torch (1.5 s), and loading a rebuilt library
  into a process that already loaded the old one aborts it ("Only a single TORCH_LIBRARY can be
  used to register the namespace"). The build process does load the new library once, so a
  library that cannot load (an undefined symbol, a schema that does not parse) fails the build
  with a message instead of failing every check.
- The build folder `workspace/.lab/build/extension/` is kept between builds, so ninja recompiles
  only what changed (one file: ~8 s, of which ~1.5 s is `import torch`).
- A stamp (a hash of the sources, the local headers they include, the flags and the Python) is
  written last, on success, and removed before a build starts: a failed or interrupted build is
  never trusted. When nothing changed the stamp answers without starting any process (~ms).
- Compiler errors come back as `Diagnostic`s at the learner's file:line (compiler_messages), not as
  the traceback `cpp_extension` raises.
- Templates include `ATen/ATen.h` and `torch/library.h`, never `torch/extension.h` (14.8 s of
  header parsing against 2.5 s).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from . import compiler_messages
from .base import BuildFailed, BuildResult, Diagnostic

MODE = "extension"
DEFAULT_TIMEOUT = 600.0  # seconds: a cold build is ~8-20 s here; a busy machine can take minutes
STAMP = "stamp.json"
FAILED = "failed.json"  # the learner's last compile error, replayed while the sources stay the same
LOG = "build.log"
_STAMP_VERSION = 1
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUOTED_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")
_MARK = "TORCHATLAS-"

# Runs in the build process. Prints markers the parent reads; cpp_extension's verbose output (the
# ninja commands and the compiler's messages) goes to the same pipe.
_SCRIPT = r"""
import json, os, sys
args = json.loads(sys.argv[1])
try:
    import torch
    from torch.utils import cpp_extension
except Exception as e:
    print("TORCHATLAS-NO-TORCH " + repr(e), flush=True)
    sys.exit(3)
vf = os.path.join(os.path.dirname(torch.__file__), "version.py")
print("TORCHATLAS-TORCH " + json.dumps({"version": torch.__version__, "version_file": vf}), flush=True)
if not cpp_extension.is_ninja_available():
    print("TORCHATLAS-NO-NINJA", flush=True)
    sys.exit(4)
try:
    lib = cpp_extension.load(name=args["name"], sources=args["sources"], extra_cflags=args["cflags"],
                             build_directory=args["build_dir"], is_python_module=False, verbose=True)
except OSError as e:  # torch.ops.load_library: the library was built but does not load
    why = str(e) + (": " + str(e.__cause__) if e.__cause__ else "")
    print("TORCHATLAS-LOAD-FAILED " + why.replace("\n", " "), flush=True)
    sys.exit(5)
except Exception as e:
    print("TORCHATLAS-BUILD-FAILED " + (str(e).splitlines() or [repr(e)])[0], flush=True)
    sys.exit(6)
print("TORCHATLAS-LIBRARY " + str(lib), flush=True)
"""


def build(lab, workspace: Path, *, progress: Callable[[str], None] | None = None,
          timeout: float = DEFAULT_TIMEOUT, python: str | None = None) -> BuildResult:
    """Build `lab.build` (name, sources relative to the workspace) into `.lab/build/extension/`.

    Returns BuildResult(ok=True, library=...) on success (cached=True when nothing changed),
    BuildResult(ok=False, diagnostics=...) when the learner's code does not compile or load.
    Raises BuildFailed for what is not the learner's doing (no compiler, no ninja, no torch, a
    timeout) and re-raises KeyboardInterrupt after stopping the build (no stamp is left)."""
    t0 = time.monotonic()
    workspace = Path(os.path.abspath(workspace))
    spec = lab.build
    name = spec.name
    if not name or not _NAME.match(name):
        raise BuildFailed(f"{_where(lab)}: build.name {name!r} is not a valid library name",
                          hint="use letters, digits and '_' (the library is <name>.so)")
    if not spec.sources:
        raise BuildFailed(f"{_where(lab)}: build.sources is empty", hint="list the lab's .cpp files")
    build_dir = workspace / ".lab" / "build" / MODE
    python = python or sys.executable
    say = progress or (lambda _msg: None)

    files, problems = source_closure(workspace, spec.sources)
    if problems:
        return _result(False, build_dir, t0, diagnostics=problems,
                       summary=f"{name}: {problems[0].file}: {problems[0].message}")
    flags = list(spec.extra_cflags)
    key = _key(name, flags, python, files)
    cached = _cached(build_dir, key, t0, name) or _replayed_failure(build_dir, key, t0)
    if cached is not None:
        return cached

    env = _build_env(python)
    _check_tools(env)
    build_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(build_dir):
        cached = _cached(build_dir, key, t0, name)  # another build of this workspace just finished
        if cached is not None:
            return cached
        _unlink(build_dir / STAMP)
        _unlink(build_dir / FAILED)
        _unlink(build_dir / "lock")  # cpp_extension's baton, left by a killed build: it would wait forever
        say(f"building {name}: {', '.join(spec.sources)}")
        args = {"name": name, "sources": [str(workspace / s) for s in spec.sources], "cflags": flags,
                "build_dir": str(build_dir)}
        started = time.time()
        rc, output = _run([python, "-c", _SCRIPT, json.dumps(args)], build_dir, env, timeout, say,
                          workspace, started)
        (build_dir / LOG).write_text(output, encoding="utf-8", errors="replace")
        return _finish(rc, output, build_dir, workspace, spec, key, t0)


def source_closure(workspace: Path, sources) -> tuple[list[tuple[str, bytes]], tuple[Diagnostic, ...]]:
    """The sources and the workspace headers they include with `#include "..."`, as
    (workspace-relative path, content), sorted: what the stamp's hash covers. Torch's own headers
    (angle brackets, or outside the workspace) are covered by the torch version in the stamp."""
    real_ws = os.path.realpath(workspace)
    found: dict[str, bytes] = {}
    problems: list[Diagnostic] = []
    todo = []
    for rel in sources:
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm.startswith(".."):
            problems.append(Diagnostic(rel, 0, 0, "error", "a build source must be a path inside the workspace"))
            continue
        todo.append(norm)
    while todo:
        rel = todo.pop()
        if rel in found:
            continue
        path = os.path.join(workspace, rel)
        if not os.path.realpath(path).startswith(real_ws + os.sep):
            problems.append(Diagnostic(rel, 0, 0, "error", "is a link leading outside the workspace"))
            continue
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            problems.append(Diagnostic(rel, 0, 0, "error", "file not found (named in the lab's build.sources)"))
            continue
        except OSError as e:
            problems.append(Diagnostic(rel, 0, 0, "error", f"cannot be read: {e.strerror}"))
            continue
        found[rel] = data
        for m in _QUOTED_INCLUDE.finditer(data):
            inc = os.path.normpath(os.path.join(os.path.dirname(rel), m.group(1).decode(errors="replace")))
            if not inc.startswith("..") and not os.path.isabs(inc) and os.path.isfile(os.path.join(workspace, inc)):
                todo.append(inc)
    return sorted(found.items()), tuple(problems)


# --- the stamp ---------------------------------------------------------------------------------

def _key(name: str, flags: list[str], python: str, files: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([_STAMP_VERSION, name, flags, os.path.abspath(python), os.environ.get("CXX", "")]).encode())
    for rel, data in files:
        h.update(b"\0" + rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _file_sha(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _cached(build_dir: Path, key: str, t0: float, name: str) -> BuildResult | None:
    """The previous build's result when the stamp matches: same sources and flags, the same torch
    (its version.py), and the library still the file that build wrote."""
    try:
        stamp = json.loads((build_dir / STAMP).read_text())
        lib = Path(stamp["library"])
        st = lib.stat()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (stamp.get("key") != key or stamp.get("library_size") != st.st_size
            or stamp.get("library_mtime_ns") != st.st_mtime_ns
            or _file_sha(stamp.get("torch_version_file", "")) != stamp.get("torch_version_sha")):
        return None
    return _result(True, build_dir, t0, library=lib, cached=True,
                   summary=f"nothing changed since the last build: {lib.name} reused")


def _replayed_failure(build_dir: Path, key: str, t0: float) -> BuildResult | None:
    """The same compile errors as last time when the sources did not change since: running the
    check again without an edit should not cost another compile (`lab watch`, a second `check`)."""
    try:
        rec = json.loads((build_dir / FAILED).read_text())
        if rec.get("key") != key or _file_sha(rec.get("torch_version_file", "")) != rec.get("torch_version_sha"):
            return None
        diags = tuple(Diagnostic(**d) for d in rec["diagnostics"])
        log = (build_dir / LOG).read_text(errors="replace")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _result(False, build_dir, t0, diagnostics=diags, cached=True, log=log,
                   summary=rec.get("summary", "") + " (unchanged since the last build)")


def _record_failure(build_dir: Path, key: str, diags, summary: str, torch_info: dict) -> None:
    vf = torch_info.get("version_file", "")
    data = {"key": key, "summary": summary, "torch_version_file": vf, "torch_version_sha": _file_sha(vf),
            "diagnostics": [{"file": d.file, "line": d.line, "column": d.column, "severity": d.severity,
                             "message": d.message} for d in diags]}
    tmp = build_dir / (FAILED + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, build_dir / FAILED)


def _write_stamp(build_dir: Path, key: str, library: Path, torch_info: dict) -> None:
    st = library.stat()
    vf = torch_info.get("version_file", "")
    data = {"version": _STAMP_VERSION, "key": key, "library": str(library), "library_size": st.st_size,
            "library_mtime_ns": st.st_mtime_ns, "torch": torch_info.get("version", ""),
            "torch_version_file": vf, "torch_version_sha": _file_sha(vf)}
    tmp = build_dir / (STAMP + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, build_dir / STAMP)


# --- running the build process -----------------------------------------------------------------

def _build_env(python: str) -> dict[str, str]:
    env = dict(os.environ)
    # a venv's pip-installed ninja lives beside its python, which need not be on PATH
    env["PATH"] = os.pathsep.join([os.path.dirname(os.path.abspath(python)), env.get("PATH", "")])
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # the compiler's messages in English: their shape is what compiler_messages reads
    env["LC_MESSAGES"] = "C"
    env.pop("LANGUAGE", None)
    return env


def _check_tools(env: dict[str, str]) -> None:
    path = env.get("PATH", "")
    if shutil.which("ninja", path=path) is None:
        raise BuildFailed("ninja was not found: torch.utils.cpp_extension builds with ninja",
                          hint="pip install ninja (into the environment of torch), or apt-get install ninja-build")
    cxx = env.get("CXX", "c++")
    if shutil.which(cxx, path=path) is None:
        raise BuildFailed(f"the C++ compiler {cxx!r} was not found",
                          hint="install g++ (apt-get install g++) or set CXX to your compiler")


@contextmanager
def _exclusive(build_dir: Path) -> Iterator[None]:
    """One build of a workspace at a time (`lab watch` and `lab check` may overlap). flock is
    released by the kernel when the holder dies, so a killed build never blocks the next."""
    with open(build_dir / ".torchatlas.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, say: Callable[[str], None],
         workspace: Path, started: float) -> tuple[int, str]:
    """Run the build in its own process group; stream its output; stop the whole group (ninja and
    the compilers) on a timeout or Ctrl-C and drop what it was writing."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        done = False
        while not done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _stop(proc, cwd, started)
                raise BuildFailed(f"the build did not finish in {timeout:.0f} s; it was stopped",
                                  hint="the machine may be busy (other compiles?); try again, "
                                       "or see the log in " + str(cwd / LOG))
            try:
                line = lines.get(timeout=min(0.2, remaining))
            except queue.Empty:
                continue
            if line is None:
                done = True
                continue
            out.append(line)
            step = _describe_step(line.rstrip("\n"), workspace)
            if step:
                say(step)
        rc = proc.wait()
    except KeyboardInterrupt:
        _stop(proc, cwd, started)
        raise
    return rc, "".join(out)


def _stop(proc: subprocess.Popen, build_dir: Path, started: float) -> None:
    """Kill the build's process group and delete objects it may have half-written (ninja's log
    would also catch most, but a half-written file must never be linked)."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for p in build_dir.iterdir():
        try:
            if p.suffix in (".o", ".so") and p.stat().st_mtime >= started - 1:
                p.unlink()
        except OSError:
            pass
    _unlink(build_dir / STAMP)
    _unlink(build_dir / "lock")


def _describe_step(line: str, workspace: Path) -> str:
    """'[1/2] c++ -MMD ... -c /ws/lab/ops.cpp -o ops.o' -> '[1/2] compiled lab/ops.cpp'.

    Past tense: ninja prints a step's line when the step ends (its output is not a terminal)."""
    if line.startswith(_MARK + "TORCH "):
        return "compiling (ninja)"
    if line.startswith(_MARK + "LIBRARY "):
        return f"loaded {os.path.basename(line.split(' ', 1)[1])}: its registrations ran"
    m = _NINJA_STEP.match(line)
    if not m:
        return ""
    cmd = m.group(3).split()
    what = "linked"
    if "-c" in cmd and cmd.index("-c") + 1 < len(cmd):
        src = cmd[cmd.index("-c") + 1]
        try:
            src = Path(src).relative_to(workspace).as_posix()
        except ValueError:
            pass
        what = f"compiled {src}"
    elif "-o" in cmd and cmd.index("-o") + 1 < len(cmd):
        what = f"linked {os.path.basename(cmd[cmd.index('-o') + 1])}"
    return f"[{m.group(1)}/{m.group(2)}] {what}"


# --- reading the outcome -------------------------------------------------------------------------

def _markers(output: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in output.splitlines():
        if line.startswith(_MARK):
            word, _, rest = line[len(_MARK):].partition(" ")
            found[word] = rest.strip()
    return found


def _finish(rc: int, output: str, build_dir: Path, workspace: Path, spec, key: str, t0: float) -> BuildResult:
    marks = _markers(output)
    if "NO-TORCH" in marks:
        raise BuildFailed(f"the build's Python cannot import torch: {marks['NO-TORCH']}",
                          hint="run torchatlas from the environment where torch is installed")
    if "NO-NINJA" in marks:
        raise BuildFailed("ninja was not found by torch.utils.cpp_extension",
                          hint="pip install ninja (into the environment of torch)")
    sources = list(spec.sources)
    if rc == 0 and "LIBRARY" in marks:
        library = Path(marks["LIBRARY"])
        _write_stamp(build_dir, key, library, _torch_info(marks))  # last: only a good build is stamped
        warnings = compiler_messages.diagnostics(output, workspace, cwd=build_dir, sources=sources)
        return _result(True, build_dir, t0, library=library, diagnostics=warnings, log=output,
                       summary=f"built {library.name} from {', '.join(sources)}")
    diags = compiler_messages.diagnostics(output, workspace, cwd=build_dir, sources=sources)
    torch_info = _torch_info(marks)
    if "LOAD-FAILED" in marks:
        summary = f"{spec.name} compiled, but the library does not load: {marks['LOAD-FAILED']}"
        if not diags:
            diags = (Diagnostic(sources[0], 0, 0, "error", marks["LOAD-FAILED"]),)
    elif "BUILD-FAILED" in marks:
        n = sum(d.severity == "error" for d in diags)
        summary = (f"{spec.name} did not compile: {n} error{'s' if n != 1 else ''}" if n
                   else f"{spec.name} did not build: {_tail(output)}")
    elif rc < 0 or "terminate called" in output:
        what = _what(output)
        summary = (f"{spec.name} was built, but loading it crashed the build process"
                   f" ({_signal_name(rc)}){': ' + what if what else ''}")
        diags = diags or (_crash_diagnostic(what, workspace, build_dir, sources),)
    else:
        summary = f"{spec.name}: the build process exited with code {rc}: {_tail(output)}"
    mapper = compiler_messages.PathMapper(workspace, build_dir)
    if torch_info and any(d.severity == "error" and d.line and mapper.learner(str(workspace / d.file))
                          for d in diags):
        _record_failure(build_dir, key, diags, summary, torch_info)  # the learner's error, not the machine's
    return _result(False, build_dir, t0, diagnostics=diags, log=output, summary=summary)


def _torch_info(marks: dict[str, str]) -> dict:
    try:
        info = json.loads(marks.get("TORCH", "{}"))
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _what(output: str) -> str:
    m = re.search(r"what\(\):\s*(.*)", output)
    return m.group(1).strip() if m else ""


def _crash_diagnostic(what: str, workspace: Path, build_dir: Path, sources: list[str]) -> Diagnostic:
    """A registration that aborts at load time (a schema defined twice, a namespace registered by
    two TORCH_LIBRARY blocks): c10's message often names the learner's file:line."""
    mapper = compiler_messages.PathMapper(workspace, build_dir)
    for m in re.finditer(r"(/[^\s:()]+):(\d+)", what):
        rel = mapper.learner(m.group(1))
        if rel:
            return Diagnostic(rel, int(m.group(2)), 0, "error", what)
    return Diagnostic(sources[0], 0, 0, "error", what or "loading the library aborted the process")


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name if rc < 0 else f"exit code {rc}"
    except ValueError:
        return f"signal {-rc}"


def _tail(output: str, n: int = 3) -> str:
    keep = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith(_MARK)
            and not ln.startswith(("Traceback", "  File ", "    "))]
    return " | ".join(keep[-n:])


def _result(ok: bool, build_dir: Path, t0: float, **kw) -> BuildResult:
    return BuildResult(ok=ok, mode=MODE, build_dir=build_dir, seconds=time.monotonic() - t0, **kw)


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _where(lab) -> str:
    path = getattr(lab, "path", "") or "lab.yaml"
    line = getattr(lab.build, "line", 0)
    return f"{path}:{line}" if line else path
