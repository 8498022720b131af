"""Precompiled headers for the native mode's per-capability kernel files.

A kernel file is compiled three times (DEFAULT, AVX2, AVX512) and ~80% of each compile is parsing
the installed torch's headers (Loops.h, vec.h, TensorIterator.h): a kernel edit cost three full
compiles. Here the file's `#include <...>` lines that do not lead into the workspace (torch's
headers and the standard library's) are written into a header that is precompiled once per
capability, with exactly the flags of that capability's object (GCC refuses a .gch built with other
flags; `-Winvalid-pch` says so instead of silently parsing again). The object then compiles with
`-include` of it. Measured on fix-a-kernel's kernel (loaded VM, CPU time): bare compile 3.7 s,
with the PCH 1.2 s; building the PCH 8.5 s (~165 MB per capability).

Building a PCH costs two bare compiles, so the .gch files are shared, not made per workspace: the
user cache holds one folder per (compiler, flags, header text), built by ninja under a lock and
stamped last (`ensure`). Every workspace of a lab (and `lab dev check`'s starter, solution and
partial solutions) pays for them once per installed torch and compiler.

Correctness:
- the learner's own headers, and any header found through a workspace include dir (generated
  per-op headers), are never precompiled: they stay in the object's depfile, so editing or
  regenerating them rebuilds the objects as before;
- the header text carries the installed torch's identity (libtorch_cpu path/size/mtime), so a
  reinstalled torch rewrites the header and ninja rebuilds its .gch (torch's headers are
  `-isystem`, which `-MMD` depfiles leave out);
- a file that `#define`s or `#undef`s anything before its includes is compiled without a PCH
  (the PCH is read before the file's first line, so such a macro would no longer reach torch's
  headers);
- the .gch is a ninja output: an interrupted PCH build leaves no output and no stamp; a PCH that
  does not build (an include that does not exist) is simply not used, and the object's own
  compile reports the error at the learner's line; the objects list the .gch as an input, so a
  rebuilt one recompiles them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Sequence

CACHE_SUBDIR = ("labs", "native-pch")
STAMP = "stamp.json"

_INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
_CONDITIONAL_OPEN = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b")
_CONDITIONAL_CLOSE = re.compile(r"^\s*#\s*endif\b")
_MACRO = re.compile(r"^\s*#\s*(define|undef|pragma)\b")
_GUARD = re.compile(r"^\s*#\s*pragma\s+once\b")


class _Unsafe(Exception):
    """A macro set before the includes: precompiling them would change what they mean."""


def header_for(workspace: Path, source: str, torch_key: str, local_dirs: Sequence[str] = ()) -> str | None:
    """The text of the header to precompile for `source` (workspace-relative), or None when
    the file has nothing worth precompiling or is not safe to compile with a PCH.
    `local_dirs`: workspace-relative include dirs (generated headers): what they hold is not precompiled."""
    workspace = Path(workspace)
    found: list[str] = []
    try:
        _collect(workspace, workspace / source, found, seen=set(), depth=0)
    except (_Unsafe, OSError, UnicodeDecodeError):
        return None
    found = [h for h in found if not any((workspace / d / h).exists() for d in local_dirs)]
    if not found:
        return None
    tag = hashlib.sha256(torch_key.encode()).hexdigest()[:16]
    lines = [f"// precompiled for {source} by torchatlas's native builder; torch {tag}"] + [f"#include <{inc}>" for inc in found]
    return "\n".join(lines) + "\n"


# Macros torchgen's files set before their includes that change no header's meaning: they only
# make a header that includes every operator an error (`#error This change adds a dependency on
# all pytorch operators`), which the PCH, read first, has already passed.
GENERATED_MACROS = ("TORCH_ASSERT_ONLY_METHOD_OPERATORS", "TORCH_ASSERT_NO_OPERATORS")


def header_for_generated(workspace: Path, sources: Sequence[str], torch_key: str, roots: Sequence[str],
                         local_dirs: Sequence[str] = ()) -> tuple[str | None, tuple[str, ...]]:
    """One header to precompile for all of torchgen's slices of a new operator, and the sources
    that may use it. The slices keep the includes of the whole generated files (the VariableType
    and autograd Functions headers of every operator, RedispatchFunctions.h, Operators.h): parsing
    them is ~90% of each slice's compile, and the same for every slice and every new operator.
    The header is the ordered union of their torch includes (`<...>` or `"..."` found in `roots`,
    the installed torch's include dirs; the new operator's own headers, found through
    `local_dirs`, never). PyTorch's builds without per-operator headers compile these files with
    every operator's headers included, so the union is a set they compile with. A slice that
    sets another macro before its includes gets no PCH."""
    workspace = Path(workspace)
    found: list[str] = []
    users = []
    for src in sources:
        mine: list[str] = []
        try:
            _collect(workspace, workspace / src, mine, seen=set(), depth=0, allowed=GENERATED_MACROS,
                     roots=tuple(Path(r) for r in roots))
        except (_Unsafe, OSError, UnicodeDecodeError):
            continue
        mine = [h for h in mine if not any((workspace / d / h).exists() for d in local_dirs) and _guarded(h, roots)]
        if mine:
            users.append(src)
            found += [h for h in mine if h not in found]
    if not found:
        return None, ()
    tag = hashlib.sha256(torch_key.encode()).hexdigest()[:16]
    lines = [f"// precompiled for torchgen's generated sources by torchatlas's native builder; torch {tag}"]
    return "\n".join(lines + [f"#include <{inc}>" for inc in found]) + "\n", tuple(users)


def cache_root() -> Path:
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("torchatlas")).joinpath(*CACHE_SUBDIR)


def ensure(text: str, *, cxx: str, cflags: Sequence[str], capabilities, root: Path | None = None,
           progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """capability -> absolute path of the header to `-include` (its `.gch` beside it, built with
    `cflags` + that capability's flags), from the shared cache; {} when the PCH does not build."""
    caps = [(cap, (f"-DCPU_CAPABILITY={cap}", f"-DCPU_CAPABILITY_{cap}") + tuple(flags))
            for cap, flags in capabilities]
    return _ensure(text, cxx=cxx, cflags=cflags, caps=caps, root=root, progress=progress,
                   what="the kernel file")


def ensure_plain(text: str, *, cxx: str, cflags: Sequence[str], root: Path | None = None,
                 progress: Callable[[str], None] | None = None, what: str = "torchgen's generated sources") -> str:
    """The header to `-include` for sources compiled once with `cflags` (no capability flags:
    torchgen's slices, a checkout's own kernel file), its `.gch` beside it, from the shared cache;
    "" when it does not build."""
    return _ensure(text, cxx=cxx, cflags=cflags, caps=[(PLAIN, ())], root=root, progress=progress,
                   what=what).get(PLAIN, "")


PLAIN = "GENERATED"


def _mark_used(stamp: Path) -> None:
    """The stamp's mtime is when the set was last used: `torchatlas cache --prune` deletes sets
    nobody used for weeks (each is ~500 MB, and a new one is made whenever the headers change)."""
    try:
        os.utime(stamp)
    except OSError:
        pass


def _ensure(text: str, *, cxx: str, cflags: Sequence[str], caps, root: Path | None,
            progress: Callable[[str], None] | None, what: str) -> dict[str, str]:
    from . import native_ninja

    cflags = _without_workspace_dirs(cflags)
    compiler = shutil.which(cxx) or cxx
    try:
        st = os.stat(compiler)
        compiler_id = f"{os.path.realpath(compiler)}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        compiler_id = compiler
    key = hashlib.sha256(json.dumps([compiler_id, list(cflags), caps, text]).encode()).hexdigest()[:20]
    folder = (root or cache_root()) / key
    headers = {cap: str(folder / f"{cap}.h") for cap, _ in caps}
    if (folder / STAMP).is_file():
        _mark_used(folder / STAMP)
        return headers
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if (folder / STAMP).is_file():
                return headers
            if progress is not None:
                progress(f"native: precompiling torch's headers for {what} (once per torch and compiler; "
                         f"cached in {folder.parent})")
            for cap, _ in caps:
                native_ninja.write_if_changed(folder / f"{cap}.h", text)
            units = [native_ninja.Unit(f"{cap}.h", f"{cap}.h.gch", cap, flags, pch=f"{cap}.h")
                     for cap, flags in caps]
            native_ninja.write_if_changed(folder / native_ninja.NINJA_FILE,
                                          native_ninja.render_pch(cxx=cxx, cflags=cflags, units=units))
            run = native_ninja.run(folder, native_ninja.NINJA_FILE, progress=progress)
            if run.returncode != 0:
                (folder / "failed.log").write_text(run.output, encoding="utf-8")
                return {}
            tmp = folder / (STAMP + ".tmp")
            tmp.write_text(json.dumps({"compiler": compiler_id, "capabilities": [c for c, _ in caps]}),
                           encoding="utf-8")
            os.replace(tmp, folder / STAMP)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return headers


def _without_workspace_dirs(cflags: Sequence[str]) -> list[str]:
    """The flags minus `-I <relative dir>` (the workspace root, generated headers): nothing in the
    PCH is found through them (`header_for` leaves such headers out) and GCC does not require
    include dirs to match, so the starter and the solution of a lab share one PCH."""
    out: list[str] = []
    flags = list(cflags)
    i = 0
    while i < len(flags):
        f = flags[i]
        if f == "-I" and i + 1 < len(flags) and not os.path.isabs(flags[i + 1]):
            i += 2
            continue
        if f.startswith("-I") and len(f) > 2 and not os.path.isabs(f[2:]):
            i += 1
            continue
        out.append(f)
        i += 1
    return out


def _collect(workspace: Path, path: Path, found: list[str], *, seen: set[Path], depth: int,
             state: dict | None = None, allowed: Sequence[str] = (), roots: Sequence[Path] = ()) -> None:
    """Angle-bracket includes at the top level of `path` (not inside #if; a classic include guard
    does not count as one), in order; quoted includes that lead to a workspace file are followed
    (their own angle includes count too), quoted ones found in `roots` count as angle ones. A
    macro set before an include raises _Unsafe, unless its name is `allowed`."""
    state = {"macro": ""} if state is None else state
    path = path.resolve()
    if path in seen or depth > 4:
        return
    seen.add(path)
    nesting = 0
    lines = path.read_text(encoding="utf-8").splitlines()
    directives = [ln for ln in lines if ln.lstrip().startswith("#")]
    guard = _guard_of(directives)
    for line in lines:
        if guard and line in guard:
            continue
        if _CONDITIONAL_OPEN.match(line):
            nesting += 1
            continue
        if _CONDITIONAL_CLOSE.match(line):
            nesting = max(0, nesting - 1)
            continue
        if nesting:
            continue
        if _MACRO.match(line) and not _GUARD.match(line):
            words = line.split()
            name = words[1] if len(words) > 1 and words[0] == "#define" else ""
            if name not in allowed:
                state["macro"] = state["macro"] or f"{path}: {line.strip()}"
            continue
        m = _INCLUDE.match(line)
        if not m:
            continue
        if state["macro"]:
            raise _Unsafe(state["macro"])
        kind, name = m.group(1), m.group(2).strip()
        local = _in_workspace(workspace, path.parent, name, quoted=kind == '"')
        if local is not None:
            _collect(workspace, local, found, seen=seen, depth=depth + 1, state=state, allowed=allowed, roots=roots)
        elif name in found:
            continue
        elif kind == "<" or any((r / name).is_file() for r in roots):
            found.append(name)
        # a quoted include that is not in the workspace is left to the compile itself


def _guarded(name: str, roots: Sequence[str]) -> bool:
    """False for a header of `roots` with neither `#pragma once` nor a classic guard (torch ships
    a few, e.g. ATen/native/TriangularOpsUtils.h): precompiled, it would be defined twice when the
    file includes it again. Headers outside `roots` (the standard library's) are guarded."""
    for r in roots:
        p = Path(r) / name
        if p.is_file():
            try:
                lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return False
            directives = [ln for ln in lines if ln.lstrip().startswith("#")]
            return any(_GUARD.match(ln) for ln in directives) or bool(_guard_of(directives))
    return True


def _guard_of(directives: list[str]) -> tuple[str, ...]:
    """The three lines of a classic `#ifndef X` / `#define X` ... `#endif` guard, if the file has one."""
    if len(directives) < 3:
        return ()
    m = re.match(r"^\s*#\s*ifndef\s+(\w+)", directives[0])
    d = re.match(r"^\s*#\s*define\s+(\w+)\s*$", directives[1])
    if m and d and m.group(1) == d.group(1) and _CONDITIONAL_CLOSE.match(directives[-1]):
        return (directives[0], directives[1], directives[-1])
    return ()


def _in_workspace(workspace: Path, here: Path, name: str, *, quoted: bool) -> Path | None:
    candidates = ([here / name] if quoted else []) + [workspace / name]
    for c in candidates:
        try:
            if c.is_file() and c.resolve().is_relative_to(workspace.resolve()):
                return c
        except OSError:
            continue
    return None
