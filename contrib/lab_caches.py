"""What the labs keep in the user cache, and which of it can go: for `torchatlas cache`.

Why: the codegen and native builders share expensive results between workspaces in
`<cache>/labs/`: torchgen's pristine output of an installed torch (~110 MB, `labs/torchgen/`) and
precompiled torch headers for kernel files (~470 MB a set, `labs/native-pch/`). Both are keyed by
the installed torch they were made for, so every new virtualenv adds a set and nothing removed the
old ones: a few CI clones or venvs left gigabytes behind. Listed here beside the index files;
`--prune` deletes only what cannot be used again:

* an entry made for a torch that is no longer there ("torch gone": the torchgen it ran, or the
  include dirs its headers were precompiled from);
* an entry a killed run left without its stamp ("unfinished"): the builders never use one, they
  build it again;
* a precompiled-header set no build used for 30 days ("unused"; the native builder marks a set's
  stamp at each use): a new set is made whenever a kernel file's includes change, and each is
  ~500 MB.

Never touched: an entry whose lock another process holds (it is being built or used), the
`recent` folder of the codegen builder (it keeps itself to a few entries), anything else.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

STAMP = "stamp.json"  # both builders stamp a finished entry last, with this name
UNUSED_DAYS = 30
_ISYSTEM = re.compile(r"-isystem\s+((?:\$ |\S)+)")  # a ninja file escapes a space as "$ "


@dataclass(frozen=True)
class LabCache:
    path: Path
    what: str  # "torchgen output" | "precompiled headers"
    bytes: int
    status: str  # ok | torch gone | unfinished | unused | in use
    torch: str = ""  # what it was made from: the torchgen folder, or torch's include dir

    @property
    def prunable(self) -> bool:
        return self.status in ("torch gone", "unfinished", "unused")

    def as_json(self) -> dict:
        return {"path": str(self.path), "what": self.what, "bytes": self.bytes, "status": self.status,
                "torch": self.torch, "prunable": self.prunable}


def labs_cache_root(cache: Path) -> Path:
    return cache / "labs"


def list_lab_caches(cache: Path) -> list[LabCache]:
    """Every torchgen output and precompiled-header set under `<cache>/labs`, sorted by path."""
    root = labs_cache_root(cache)
    out: list[LabCache] = []
    for folder in _entries(root / "torchgen"):
        if folder.name == "recent":
            continue
        out.append(_describe(folder, "torchgen output", _lock_of_torchgen(folder), _torchgen_source))
    for folder in _entries(root / "native-pch"):
        entry = _describe(folder, "precompiled headers", folder / ".lock", _pch_include_dir)
        out.append(_unused_if_stale(entry))
    return out


def prune_lab_caches(entries: list[LabCache]) -> list[LabCache]:
    """Delete the prunable entries, each checked again under its lock; return those deleted."""
    deleted = []
    for entry in entries:
        if not entry.prunable:
            continue
        lock = _lock_of_torchgen(entry.path) if entry.what == "torchgen output" else entry.path / ".lock"
        with _try_lock(lock) as got:
            if not got:
                continue
            again = _describe(entry.path, entry.what, None,
                              _torchgen_source if entry.what == "torchgen output" else _pch_include_dir)
            if entry.what == "precompiled headers":
                again = _unused_if_stale(again)
            if not again.prunable:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
        if lock.parent != entry.path:
            _unlink(lock)
        deleted.append(entry)
    return deleted


# -- reading an entry ------------------------------------------------------------------------------

def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _lock_of_torchgen(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


def _describe(folder: Path, what: str, lock: Path | None, made_from) -> LabCache:
    size = _size(folder)
    if lock is not None:
        with _try_lock(lock) as got:
            if not got:
                return LabCache(folder, what, size, "in use")
    if not (folder / STAMP).is_file():
        return LabCache(folder, what, size, "unfinished")
    torch = made_from(folder)
    status = "torch gone" if torch and not Path(torch).exists() else "ok"
    return LabCache(folder, what, size, status, torch)


def _unused_if_stale(entry: LabCache) -> LabCache:
    if entry.status != "ok":
        return entry
    try:
        idle = time.time() - (entry.path / STAMP).stat().st_mtime
    except OSError:
        return entry
    if idle < UNUSED_DAYS * 86400:
        return entry
    return LabCache(entry.path, entry.what, entry.bytes, "unused", entry.torch)


def _torchgen_source(folder: Path) -> str:
    try:
        return str(json.loads((folder / STAMP).read_text(encoding="utf-8")).get("source") or "")
    except (OSError, ValueError):
        return ""


def _pch_include_dir(folder: Path) -> str:
    """The first `-isystem` dir of the set's ninja file: torch's include dir it was built against."""
    try:
        text = (folder / "build.ninja").read_text(encoding="utf-8")
    except OSError:
        return ""
    m = _ISYSTEM.search(text)
    return m.group(1).replace("$ ", " ") if m else ""


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class _try_lock:
    """`with _try_lock(path) as got:` -- the builders' flock taken without waiting; got is False
    when another process holds it. A lock file that cannot be opened counts as held."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self) -> bool:
        try:
            self.fh = open(self.path, "a")
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if self.fh is not None:
                self.fh.close()
                self.fh = None
            return False

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
