"""The native builder's build graph: one ninja file, one object per (source, CPU capability).

ninja gives what the promise of a 1-4 s rebuild after a kernel edit needs: only the objects whose
source, headers (`-MMD` depfiles) or command line changed are rebuilt, and an interrupted build
leaves no half-written object behind (ninja deletes the outputs of the commands it interrupted).
ninja runs with the workspace as its working directory and every path in the file relative to
it, so compiler messages and `__FILE__` (which the dispatcher prints as "registered at ...") name
the learner's files as `lab/...`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .base import BuildFailed

NINJA_FILE = "build.ninja"
_STATUS = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")


@dataclass(frozen=True)
class Unit:
    """One compile: a source (workspace-relative) to an object, with the capability it is built for."""

    source: str
    obj: str  # workspace-relative
    capability: str = ""  # "" for ordinary sources; DEFAULT / AVX2 / AVX512 for kernel files
    flags: tuple[str, ...] = ()  # the capability's flags
    pch: str = ""  # workspace-relative header whose `.gch` (built with exactly these flags) is -include'd


@dataclass(frozen=True)
class NinjaRun:
    returncode: int
    output: str
    did_work: bool
    interrupted: bool = False


def escape_path(p: str) -> str:
    """A path as ninja reads it in a build line: `$`, space and `:` escaped."""
    return p.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")


def _cmd(args: Sequence[str]) -> str:
    """Shell words for a ninja command line (ninja runs it with /bin/sh; `$` is ninja's escape)."""
    return " ".join(shlex.quote(a) for a in args).replace("$", "$$")


def units_for(sources: Sequence[str], per_capability: Sequence[str], capabilities, build_rel: str,
              pch: dict[str, dict[str, str]] | None = None, source_pch: dict[str, str] | None = None) -> list[Unit]:
    """`pch`: per-capability source -> {capability: header to -include} (`native_pch.ensure`;
    its .gch was built with exactly that capability's flags); `source_pch`: source -> header to
    -include (`native_pch.ensure_plain`, built with the ordinary flags)."""
    out = [Unit(s, f"{build_rel}/obj/{s}.o", pch=(source_pch or {}).get(s, "")) for s in sources]
    for s in per_capability:
        for cap, flags in capabilities:
            defines = (f"-DCPU_CAPABILITY={cap}", f"-DCPU_CAPABILITY_{cap}")
            header = ((pch or {}).get(s) or {}).get(cap, "")
            out.append(Unit(s, f"{build_rel}/obj/{s}.{cap}.o", cap, defines + tuple(flags), header))
    return out


def render(*, build_rel: str, cxx: str, cflags: Sequence[str], ldflags: Sequence[str],
           units: Sequence[Unit], library: str) -> str:
    """The ninja file's text (deterministic: rewriting it with the same inputs changes nothing)."""
    lines = [
        "# written by torchatlas's native builder; regenerated on every build",
        "ninja_required_version = 1.5",
        f"builddir = {escape_path(build_rel)}",
        f"cxx = {_cmd([cxx])}",
        f"cflags = {_cmd(cflags)}",
        f"ldflags = {_cmd(ldflags)}",
        "",
        "rule cxx",
        "  command = $cxx -MMD -MF $out.d $cflags $capflags $pchflags -c $in -o $out",
        "  depfile = $out.d",
        "  deps = gcc",
        "  description = CXX $in$capdesc",
        "",
        "rule link",
        "  command = $cxx -o $out $in $ldflags",
        "  description = LINK $out",
        "",
    ]
    for u in units:
        if u.pch:  # the .gch is built beforehand (native_pch.ensure); a newer one recompiles the object
            lines.append(f"build {escape_path(u.obj)}: cxx {escape_path(u.source)} | {escape_path(u.pch)}.gch")
            lines.append(f"  pchflags = {_cmd(['-Winvalid-pch', '-include', u.pch])}")
        else:
            lines.append(f"build {escape_path(u.obj)}: cxx {escape_path(u.source)}")
        if u.capability:
            lines.append(f"  capflags = {_cmd(u.flags)}")
            lines.append(f"  capdesc = $ [{u.capability}]")
    objs = " ".join(escape_path(u.obj) for u in units)
    lines += ["", f"build {escape_path(library)}: link {objs}", f"default {escape_path(library)}", ""]
    return "\n".join(lines)


def render_pch(*, cxx: str, cflags: Sequence[str], units: Sequence[Unit]) -> str:
    """A ninja file precompiling each unit's header (`source`) into `obj` with `cflags` and the
    unit's capability flags: exactly the flags of the objects that will -include it (GCC ignores,
    and with -Winvalid-pch warns about, a .gch built with other flags)."""
    lines = [
        "# written by torchatlas's native builder: precompiled headers",
        "ninja_required_version = 1.5",
        f"cxx = {_cmd([cxx])}",
        f"cflags = {_cmd(cflags)}",
        "",
        "rule pch",
        "  command = $cxx $cflags $capflags -x c++-header $in -o $out",
        "  description = PCH $in",
        "",
    ]
    for u in units:
        lines += [f"build {escape_path(u.obj)}: pch {escape_path(u.source)}", f"  capflags = {_cmd(u.flags)}"]
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def ninja_binary() -> str:
    exe = shutil.which("ninja")
    if exe:
        return exe
    try:  # the `ninja` PyPI package puts its binary beside the module
        import ninja  # type: ignore

        cand = Path(ninja.BIN_DIR) / "ninja"
        if cand.exists():
            return str(cand)
    except (ImportError, AttributeError):
        pass
    raise BuildFailed("ninja is not installed (the native mode builds with it)",
                      hint="apt-get install ninja-build, or pip install ninja")


def jobs() -> int:
    """MAX_JOBS as PyTorch's own build reads it, else the CPU count (at most 8)."""
    env = os.environ.get("MAX_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, os.cpu_count() or 1))


def run(workspace: Path, ninja_file: str, *, progress: Callable[[str], None] | None = None) -> NinjaRun:
    """Run ninja in the workspace. Ctrl-C stops ninja and every compiler it started (they run in a
    session of their own, so the signal goes to exactly that process group), then re-raises."""
    cmd = [ninja_binary(), "-f", ninja_file, "-j", str(jobs())]
    env = dict(os.environ, NINJA_STATUS="[%f/%t] ")
    proc = subprocess.Popen(cmd, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", env=env, start_new_session=True)
    lines: list[str] = []
    did_work = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = _STATUS.match(line.rstrip("\n"))
            if m:
                did_work = True
                if progress is not None:
                    progress(f"[{m[1]}/{m[2]}] {m[3]}")
        rc = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    return NinjaRun(rc, "".join(lines), did_work)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to ninja (it forwards it to each compiler's process group and removes their partial
    outputs); SIGKILL if it has not ended within 10 s. Then whatever is left of the session ninja
    was started in (compilers of a killed ninja) is killed by pid."""
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in _session_members(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _session_members(sid: int) -> list[int]:
    """Processes of session `sid` (Linux /proc; elsewhere none are found)."""
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for e in entries:
        if not e.isdigit():
            continue
        try:
            stat = Path("/proc", e, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session
        if len(fields) > 3 and fields[3] == str(sid):
            out.append(int(e))
    return out
