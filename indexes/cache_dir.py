"""The index files in the user cache dir: what each one indexes, and which can go.

Why: one index per source is keyed by the source's path, so every new virtualenv or checkout
adds a file of 40-160 MB and nothing removes the old ones once their venv or checkout is gone.
`torchatlas cache` lists them; `--prune` deletes only what cannot be used again:

* an index whose source directory no longer exists ("source gone");
* an index of an older format, which the next query would rebuild anyway ("older format");
* scratch and temporary files of a run that was killed (`.X.sqlite.PID.tmp`, `...shardK.tmp`,
  `...dispatch.tmp`) whose process is no longer alive ("leftover").

Never touched: files that are not torchatlas indexes, indexes being built (their lock is held),
and anything outside the cache dir (indexes written with --db live where the user put them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import BadIndex
from .locking import held_elsewhere, index_lock
from .store import SCHEMA_VERSION, SQLITE_FILE_SUFFIXES, check_index_file, remove_scratch

# `.{db name}.{pid}.tmp`, `.{db name}.{pid}.shard{k}.tmp`, `.{db name}.{pid}.dispatch.tmp`
_SCRATCH = re.compile(r"^\.(?P<db>.+\.sqlite)\.(?P<pid>\d+)\.(?:shard\d+\.|dispatch\.)?tmp$")


@dataclass(frozen=True)
class CachedFile:
    path: Path
    bytes: int  # with its -wal / -shm side files
    status: str  # ok | source gone | older format | in use | not an index | leftover | leftover (running)
    kind: str = ""  # installed | tree | git
    root: str = ""
    version: str = ""
    built_at: str = ""

    @property
    def prunable(self) -> bool:
        return self.status in ("source gone", "older format", "leftover")

    def as_json(self) -> dict:
        return {"path": str(self.path), "bytes": self.bytes, "status": self.status, "kind": self.kind,
                "root": self.root, "version": self.version, "built_at": self.built_at,
                "prunable": self.prunable}


def cache_dir() -> Path:
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("torchatlas"))


def default_db_path(source) -> Path:
    """The default index of `source` (a sources.Source): one file per source in the user cache dir
    (XDG), named by its kind, version and a hash of its root."""
    digest = hashlib.sha1(source.info.root.encode()).hexdigest()[:10]
    version = source.info.version.replace("+", "_").replace("/", "_")
    return cache_dir() / f"{source.info.kind}-{version}-{digest}.sqlite"


def why_build(db: Path, code_changes: bool = True) -> str:
    """Why the cached index at `db` must be (re)built before it answers, or "" when it can answer.

    The default index is a cache torchatlas owns, so a missing one and one an older torchatlas wrote
    (a smaller index format) are both rebuilt on first use rather than refused: upgrading torchatlas
    must not leave every command failing until the user re-indexes by hand. Nor answering from
    facts its old parser stored (`stale_code`; with `code_changes`): the build is then an update
    that redoes only what the changed code decides. A newer format, a foreign or corrupt file still
    raise BadIndex when opened: rebuilding those would undo someone's work."""
    if not db.exists():
        return "no index yet"
    from .store import older_format
    if older_format(db):
        return "an older torchatlas built the index"
    return stale_code(db) if code_changes else ""


def stale_code(db: Path) -> str:
    """'the index predates this torchatlas's parser' when code that decides its answers changed since
    it was built (code_version.py), else "" (also for a file that is not a readable index: opening
    it says what is wrong)."""
    from .code_version import changed_parts, describe
    try:
        parts = changed_parts(check_index_file(db))
    except (BadIndex, ValueError):
        return ""
    return f"the index predates this torchatlas's {describe(parts)}" if parts else ""


def write_json_atomically(path: Path, data, sort_keys: bool = False) -> None:
    """JSON written to a temporary file beside `path` and moved over it: a reader (or a crash)
    never sees half a file. Raises OSError for the caller to turn into a warning."""
    import tempfile
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=sort_keys)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def state_dir() -> Path:
    """Where progress through tours and labs is kept; `TORCHATLAS_STATE_DIR` overrides it (tests,
    shared machines)."""
    env = os.environ.get("TORCHATLAS_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_state_dir("torchatlas"))


def _size(path: Path) -> int:
    total = 0
    for suffix in SQLITE_FILE_SUFFIXES:
        try:
            total += os.path.getsize(f"{path}{suffix}")
        except OSError:
            pass
    return total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _describe_index(path: Path, lock_held: bool = False) -> CachedFile:
    size = _size(path)
    try:
        meta = check_index_file(path, allow_old_schema=True)
    except BadIndex:
        return CachedFile(path, size, "not an index")
    try:
        source = json.loads(meta.get("source", "{}"))
    except (ValueError, TypeError):
        source = {}
    root = source.get("root", "")
    if not lock_held and held_elsewhere(path):
        status = "in use"
    elif str(meta.get("schema", "")) != str(SCHEMA_VERSION):
        status = "older format"
    elif not root or not Path(root).is_dir():
        status = "source gone"
    else:
        status = "ok"
    return CachedFile(path, size, status, source.get("kind", ""), root, source.get("version", ""),
                      meta.get("built_at", ""))


def list_cache(directory: Path | None = None) -> list[CachedFile]:
    """Every index and leftover scratch file in the cache dir, sorted by path."""
    directory = directory or cache_dir()
    if not directory.is_dir():
        return []
    out = []
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if not entry.is_file():
            continue
        m = _SCRATCH.match(name)
        if m:
            running = _alive(int(m.group("pid")))
            out.append(CachedFile(entry, _size(entry), "leftover (running)" if running else "leftover"))
        elif name.endswith(".sqlite"):
            out.append(_describe_index(entry))
    return out


def prune(files: list[CachedFile]) -> list[CachedFile]:
    """Delete the prunable files (an index with its side files and lock); return those deleted.
    Each index is checked again under its lock, so a run that starts meanwhile keeps its file."""
    deleted = []
    for f in files:
        if not f.prunable:
            continue
        if f.status == "leftover":
            if not _alive(int(_SCRATCH.match(f.path.name).group("pid"))):
                remove_scratch(f.path)
                deleted.append(f)
            continue
        if held_elsewhere(f.path):
            continue
        with index_lock(f.path):  # a run starting now waits for this, then builds afresh
            if not _describe_index(f.path, lock_held=True).prunable:
                continue
            remove_scratch(f.path)  # the file and its -wal / -shm / -journal
            try:
                os.unlink(f"{f.path}.lock")
            except FileNotFoundError:
                pass
        deleted.append(f)
    return deleted
