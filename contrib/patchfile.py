"""Unified diffs as values: which files a patch touches, its hunks, and the patch minus one hunk.

Why our own reader when git applies the patches: before anything is applied we must know every
path a patch would write (to refuse `..`, absolute paths and symlinks leading out of the
workspace), and `lab dev check` must rebuild the solution with any one hunk left out to prove
that a partial solution fails. git itself applies the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    header: str  # the @@ line
    lines: tuple[str, ...]  # the body, each line with its newline
    old_start: int
    new_start: int
    line: int  # where the @@ line is in the patch file (1-based)


@dataclass(frozen=True)
class FilePatch:
    old_path: str | None  # None for a new file
    new_path: str | None  # None for a deleted file
    preamble: tuple[str, ...]  # `diff --git`, `index`, `new file mode`, `---`, `+++` lines
    hunks: tuple[Hunk, ...]
    line: int

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass(frozen=True)
class Patch:
    files: tuple[FilePatch, ...]

    @property
    def hunk_count(self) -> int:
        return sum(len(f.hunks) for f in self.files)

    def paths(self) -> list[str]:
        out: list[str] = []
        for f in self.files:
            for p in (f.old_path, f.new_path):
                if p is not None and p not in out:
                    out.append(p)
        return out

    def hunk_labels(self) -> list[str]:
        """'path hunk k/n (@@ -a +b @@)' for each hunk, in order: how messages name a hunk."""
        out = []
        for f in self.files:
            for k, h in enumerate(f.hunks, 1):
                out.append(f"{f.path} hunk {k}/{len(f.hunks)} (line {h.old_start})")
        return out

    def without_hunk(self, index: int) -> "Patch":
        """This patch with its index-th hunk (0-based, across files) left out; a file left with no
        hunk is dropped (a new file whose only hunk is left out is not created)."""
        files, i = [], 0
        for f in self.files:
            kept = []
            for h in f.hunks:
                if i != index:
                    kept.append(h)
                i += 1
            if kept:
                files.append(FilePatch(f.old_path, f.new_path, f.preamble, tuple(_shift(kept, f.hunks)), f.line))
        return Patch(tuple(files))

    def render(self) -> str:
        out = []
        for f in self.files:
            out.extend(f.preamble)
            for h in f.hunks:
                out.append(h.header)
                out.extend(h.lines)
        return "".join(out)


def _shift(kept: list[Hunk], original: tuple[Hunk, ...]) -> list[Hunk]:
    """Renumber the new-side starts once a hunk is gone (git apply checks the @@ header's counts,
    and finds a hunk by context, so the new start only needs to stay consistent)."""
    delta_before: dict[int, int] = {}
    offset = 0
    for h in original:
        delta_before[id(h)] = offset
        adds = sum(1 for ln in h.lines if ln.startswith("+"))
        dels = sum(1 for ln in h.lines if ln.startswith("-"))
        if h not in kept:
            offset -= adds - dels
    out = []
    for h in kept:
        new_start = h.new_start + delta_before[id(h)] if h.new_start else 0
        header = HUNK_RE.sub(lambda m: _header(m, new_start), h.header, count=1)
        out.append(Hunk(header, h.lines, h.old_start, new_start, h.line))
    return out


def _header(m: re.Match, new_start: int) -> str:
    old = m.group(1) + (f",{m.group(2)}" if m.group(2) is not None else "")
    new = str(new_start) + (f",{m.group(4)}" if m.group(4) is not None else "")
    return f"@@ -{old} +{new} @@"


class PatchError(Exception):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.message, self.line = message, line


def _strip_prefix(raw: str) -> str | None:
    raw = raw.split("\t", 1)[0].rstrip("\n")
    if raw == "/dev/null":
        return None
    if raw.startswith(("a/", "b/")):
        return raw[2:]
    return raw


def parse(text: str) -> Patch:
    """Read a unified diff (git's or diff -u's). Raises PatchError with the patch's line number."""
    lines = text.splitlines(keepends=True)
    files: list[FilePatch] = []
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("diff --git ") or lines[i].startswith("--- ")):
            i += 1
            continue
        start = i
        preamble = []
        if lines[i].startswith("diff --git "):
            preamble.append(lines[i])
            i += 1
            while i < len(lines) and not lines[i].startswith(("--- ", "diff --git ")):
                preamble.append(lines[i])
                i += 1
            if i >= len(lines) or lines[i].startswith("diff --git "):
                raise PatchError("a file section without ---/+++ lines (binary or mode-only changes are not "
                                 "supported in lab patches)", start + 1)
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise PatchError("'---' without a following '+++' line", i + 1)
        old, new = _strip_prefix(lines[i][4:]), _strip_prefix(lines[i + 1][4:])
        preamble += [lines[i], lines[i + 1]]
        i += 2
        hunks = []
        while i < len(lines) and lines[i].startswith("@@"):
            m = HUNK_RE.match(lines[i])
            if not m:
                raise PatchError(f"malformed hunk header {lines[i].strip()!r}", i + 1)
            header_line = i
            old_n = int(m.group(2)) if m.group(2) is not None else 1
            new_n = int(m.group(4)) if m.group(4) is not None else 1
            i += 1
            body = []
            while i < len(lines) and (old_n > 0 or new_n > 0 or lines[i].startswith("\\")):
                ln = lines[i]
                tag = ln[:1]
                if tag == " " or ln in ("\n", "\r\n"):
                    old_n, new_n = old_n - 1, new_n - 1
                elif tag == "-":
                    old_n -= 1
                elif tag == "+":
                    new_n -= 1
                elif tag == "\\":
                    pass
                else:
                    raise PatchError(f"the hunk ends early: {ln.rstrip()!r} where a diff line was expected",
                                     i + 1)
                body.append(ln)
                i += 1
            if old_n < 0 or new_n < 0:
                raise PatchError("the hunk's line counts do not match its @@ header", header_line + 1)
            hunks.append(Hunk(lines[header_line], tuple(body), int(m.group(1)), int(m.group(3)), header_line + 1))
        if not hunks and "new file mode" not in "".join(preamble):
            raise PatchError(f"no hunks for {new or old}", start + 1)
        files.append(FilePatch(old, new, tuple(preamble), tuple(hunks), start + 1))
    if not files:
        raise PatchError("not a unified diff (no '--- a/...' / '+++ b/...' lines found)", 1)
    return Patch(tuple(files))


def unsafe_path(path: str) -> str | None:
    """Why a path in a patch may not be written (absolute, `..`, a .git folder), or None."""
    p = PurePosixPath(path)
    if p.is_absolute() or path.startswith("~"):
        return "an absolute path"
    if ".." in p.parts:
        return "a path that climbs out with '..'"
    if ".git" in p.parts or ".lab" in p.parts:
        return "a path inside the workspace's own git or .lab folder"
    return None
