"""Turn g++ / ld / ninja output into `Diagnostic`s that point at the learner's own file and line.

A learner who gets a C++ error should see the compiler's own words at *their* line, not a Python
traceback from `cpp_extension` nor an error deep inside a torch header. g++ tells us where a
header error came from: the "In file included from ..." chain and the "required from here" frame of
a template instantiation. When the error itself lies outside the learner's files (a `static_assert`
in `infer_schema.h` because their kernel's signature does not fit the schema), we report it at the
learner's frame of that chain and name the header in the message.

Shared by the extension and native builders: nothing here knows about torch or ninja specifics
beyond the shapes of their messages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .base import Diagnostic

MAX_DIAGNOSTICS = 30

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# /path/file.cpp:12:5: error: message   (the column is optional: some linkers and old compilers)
_MESSAGE = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s*"
    r"(?P<sev>fatal error|error|warning|note):\s?(?P<msg>.*)$")
# /path/file.h:40:10:   required from here / required from 'X' / in 'constexpr' expansion of ...
_FRAME = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s+"
    r"(?P<what>(?:recursively )?required (?:from|by)|in '?constexpr'? expansion|in expansion of).*$")
# In file included from /a/b.h:3,      /       from /ws/lab/ops.cpp:2:
_INCLUDED = re.compile(r"^(?:In file included|\s+) from (?P<file>[^\s:][^:]*):(?P<line>\d+)(?::(?P<col>\d+))?[,:]$")
# /path/file.cpp: In function 'at::Tensor f(...)':   (scope lines: context, not messages)
_SCOPE = re.compile(r"^(?P<file>[^\s:][^:]*): (?:In |At )")
# ld: softclip.o: in function `f': softclip.cpp:(.text+0x1c): undefined reference to `g'
_LD_UNDEFINED = re.compile(r"(?P<file>[^\s:()]+):\((?P<section>[^)]*)\): (?P<msg>undefined reference to .*)$")
# OSError: /b/lab_ops.so: undefined symbol: _ZN6labops...
_UNDEFINED_SYMBOL = re.compile(r"undefined symbol: (?P<sym>\S+)")


@dataclass(frozen=True)
class RawMessage:
    """One compiler message as printed, with the frames that led to it (innermost first)."""

    file: str
    line: int
    column: int
    severity: str  # error | warning | note ("fatal error" is an error)
    message: str
    frames: tuple[tuple[str, int, int], ...] = ()  # (file, line, column) of include/instantiation context


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def parse_gcc(text: str) -> list[RawMessage]:
    """Every error, warning and note of g++ output, each with the context frames printed before it.

    Context (include chains, "In function", "required from") belongs to the next error or warning;
    a note belongs to the error before it and gets that error's frames too, so a note in a torch
    header can still be placed at the learner's line."""
    out: list[RawMessage] = []
    frames: list[tuple[str, int, int]] = []
    last_frames: tuple[tuple[str, int, int], ...] = ()
    for raw in strip_ansi(text).splitlines():
        line = raw.rstrip()
        m = _INCLUDED.match(line)
        if m:
            frames.append((m["file"], int(m["line"]), int(m["col"] or 0)))
            continue
        m = _FRAME.match(line)
        if m:
            frames.append((m["file"], int(m["line"]), int(m["col"] or 0)))
            continue
        m = _MESSAGE.match(line)
        if m:
            sev = "error" if m["sev"] == "fatal error" else m["sev"]
            if sev == "note" and not frames:
                ctx = last_frames
            else:
                ctx = tuple(frames)
                last_frames = ctx
                frames = []
            out.append(RawMessage(m["file"], int(m["line"]), int(m["col"] or 0), sev, m["msg"].strip(), ctx))
            continue
        if _SCOPE.match(line):
            continue
    return out


class PathMapper:
    """Which paths are the learner's, and how to name them (relative to the workspace).

    A path counts as the learner's when it lies inside the workspace and still does after symlinks
    are resolved: the workspace's `torch/include` links to the installed headers, and those are
    not the learner's files even though their path starts with the workspace."""

    def __init__(self, workspace: Path, cwd: Path | None = None):
        self.workspace = Path(os.path.abspath(workspace))
        self.real = Path(os.path.realpath(workspace))
        self.cwd = Path(os.path.abspath(cwd)) if cwd is not None else self.workspace

    def absolute(self, file: str) -> Path:
        return Path(os.path.normpath(file if os.path.isabs(file) else os.path.join(self.cwd, file)))

    def learner(self, file: str) -> str | None:
        """The workspace-relative path of a learner's file, or None."""
        p = self.absolute(file)
        for root in (self.workspace, self.real):
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if not os.path.realpath(p).startswith(str(self.real) + os.sep):
                return None
            return rel.as_posix()
        return None

    def short(self, file: str) -> str:
        """A readable name for a file that is not the learner's (a torch header: from its include/)."""
        p = self.absolute(file).as_posix()
        i = p.rfind("/include/")
        return p[i + len("/include/"):] if i >= 0 else p


def to_diagnostics(messages: Iterable[RawMessage], mapper: PathMapper, *,
                   limit: int = MAX_DIAGNOSTICS) -> tuple[Diagnostic, ...]:
    """Diagnostics at the learner's file:line.

    - a message in a learner file stays where it is;
    - an error or warning outside (a torch header) moves to the innermost learner frame of its chain
      ("required from here", "In file included from"), naming the header where it was raised;
    - an error with no learner frame at all is kept with the header's short name (it still explains
      the failure); notes outside the learner's files, and warnings with no learner frame, are
      dropped (header noise)."""
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    for m in messages:
        rel = mapper.learner(m.file)
        if rel is not None:
            d = Diagnostic(rel, m.line, m.column, m.severity, m.message)
        else:
            frame = next((f for f in reversed(m.frames) if mapper.learner(f[0]) is not None), None)
            where = f"{mapper.short(m.file)}:{m.line}"
            if m.severity == "note":
                continue  # a header's note ("... evaluates to false"): noise at the learner's line
            if frame is not None:
                d = Diagnostic(mapper.learner(frame[0]) or frame[0], frame[1], frame[2], m.severity,
                               f"{m.message} [raised in {where}]")
            elif m.severity == "error":
                d = Diagnostic(mapper.short(m.file), m.line, m.column, m.severity, m.message)
            else:
                continue
        key = (d.file, d.line, d.column, d.severity, d.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
        if len(out) >= limit:
            break
    return tuple(out)


def demangle(symbols: list[str]) -> list[str]:
    """C++ names for mangled symbols, with c++filt when it is there (else as they are)."""
    tool = shutil.which("c++filt")
    if not tool or not symbols:
        return list(symbols)
    try:
        out = subprocess.run([tool, *symbols], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return list(symbols)
    names = out.stdout.splitlines()
    return names if len(names) == len(symbols) else list(symbols)


def linker_diagnostics(text: str, mapper: PathMapper,
                       sources: Iterable[str] = ()) -> tuple[Diagnostic, ...]:
    """`undefined reference` at link time (ld names only the source's base name and a section
    offset: we map the base name back to the lab's source when it is unique) and `undefined symbol`
    when loading the library (the name is demangled: a declared but never defined function)."""
    by_base: dict[str, list[str]] = {}
    for s in sources:
        by_base.setdefault(os.path.basename(s), []).append(s)
    out: list[Diagnostic] = []
    for line in strip_ansi(text).splitlines():
        m = _LD_UNDEFINED.search(line)
        if m:
            cands = by_base.get(os.path.basename(m["file"]), [])
            out.append(Diagnostic(cands[0] if len(cands) == 1 else m["file"], 0, 0, "error", m["msg"]))
    syms = sorted({m["sym"] for m in _UNDEFINED_SYMBOL.finditer(strip_ansi(text))})
    for name in demangle(syms):
        file, line = _mention(name, [s for group in by_base.values() for s in group], mapper)
        out.append(Diagnostic(file, line, 0, "error",
                              f"undefined symbol when loading the library: {name} "
                              "(declared and used, but never defined in the lab's sources?)"))
    seen: set = set()
    return tuple(d for d in out if not (d in seen or seen.add(d)))


def _mention(symbol: str, sources: list[str], mapper: PathMapper) -> tuple[str, int]:
    """The first line of the lab's sources naming a missing symbol's function (its declaration,
    usually): 'labops::scale(double)' -> the first line with `scale(`."""
    short = re.sub(r"\(.*$", "", symbol).split("::")[-1].strip()
    pattern = re.compile(r"\b" + re.escape(short) + r"\s*\(") if short else None
    for src in sources:
        try:
            lines = (mapper.workspace / src).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for i, text in enumerate(lines, 1):
            if pattern is not None and pattern.search(text):
                return src, i
    return (sources[0] if sources else ""), 0


def diagnostics(text: str, workspace: Path, *, cwd: Path | None = None,
                sources: Iterable[str] = ()) -> tuple[Diagnostic, ...]:
    """All diagnostics of a build's output: compiler messages first, then linker/loader ones."""
    mapper = PathMapper(workspace, cwd)
    sources = tuple(sources)
    return to_diagnostics(parse_gcc(text), mapper) + linker_diagnostics(text, mapper, sources)
