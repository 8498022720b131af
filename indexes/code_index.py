"""The code index: every C++ and Python file of a source, parsed in parallel, cached by content.

Steps: discover (walk, stat) -> compare with what the index holds (size and mtime, then the
content hash: git's blob id, so a checkout's objects and ours agree) -> parse what changed in
worker processes -> rows for the store. Workers send back plain tuples, not dataclasses: the
parent's unpickling is on the critical path.

Bad files never stop an index: binary, too large (generated code), unreadable, vanished while
indexing, a symlink loop — each is skipped with a counted warning naming the file; a file that is
not UTF-8 is parsed with replacement characters and counted.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .model import Location, Problem
from .sources import Source

CPP_EXT = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")
PY_EXT = (".py",)
MAX_FILE_BYTES = 8 * 1024 * 1024  # larger files are generated code: skipped with a warning
SKIP_DIRS = {"__pycache__", ".git", "third_party", "node_modules", ".pytest_cache", "build"}
# torchgen output shipped in the package: 7,000 per-operator headers (12 MB) that restate
# native_functions.yaml, which the dispatch stage models already. Parsing them would double the
# C++ time of an installed-torch index for nothing a reader needs.
GENERATED_DIRS = ("torch/include/ATen/ops",)

# What to index, per layout: (directory, language).
CHECKOUT_DIRS = (("aten", "cpp"), ("c10", "cpp"), ("torch/csrc", "cpp"), ("torch", "python"),
                 ("torchgen", "python"), ("tools", "python"))
PACKAGE_DIRS = (("torch/include/ATen", "cpp"), ("torch/include/c10", "cpp"), ("torch/include/torch", "cpp"),
                ("torch", "python"), ("torchgen", "python"))


@dataclass(frozen=True)
class FileStat:
    path: str  # relative to the source root
    lang: str
    size: int
    mtime_ns: int


@dataclass
class ParsedFile:
    path: str
    lang: str
    size: int
    mtime_ns: int
    hash: str | None
    status: str  # ok | unchanged | binary | too_large | unreadable | vanished | parser_error
    message: str = ""
    parse_errors: int = 0
    non_utf8: bool = False
    defs: list = field(default_factory=list)
    includes: list = field(default_factory=list)
    refs: list = field(default_factory=list)
    regs: list = field(default_factory=list)


def blob_id(data: bytes) -> str:
    """git's object id for a blob with these bytes (git hash-object)."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


def discover(source: Source, problems: list[Problem]) -> list[FileStat]:
    """Every file to index, with its stat. Directory symlinks are not followed (no loops)."""
    root = str(source.root)
    dirs = PACKAGE_DIRS if source.layout == "package" else CHECKOUT_DIRS
    seen: set[str] = set()
    out: list[FileStat] = []
    cpp_roots = {d for d, lang in dirs if lang == "cpp"}
    for rel_dir, lang in dirs:
        exts = CPP_EXT if lang == "cpp" else PY_EXT
        base = os.path.join(root, rel_dir)
        if not os.path.isdir(base):
            continue
        # C++ directories nested in a Python one (torch/csrc in torch) belong to the C++ walk.
        skip = {os.path.join(root, d) for d in cpp_roots if lang == "python" and d.startswith(rel_dir + "/")}
        skip |= {os.path.join(root, d) for d in GENERATED_DIRS}
        stack = [base]
        while stack:
            d = stack.pop()
            try:
                entries = list(os.scandir(d))
            except OSError as e:
                problems.append(Problem(Location(os.path.relpath(d, root)), "", f"unreadable directory: {e.strerror}",
                                        "warning"))
                continue
            for ent in entries:
                name = ent.name
                try:
                    if ent.is_dir(follow_symlinks=False):
                        if name not in SKIP_DIRS and not name.startswith(".") and ent.path not in skip:
                            stack.append(ent.path)
                        continue
                    if not name.endswith(exts):
                        continue
                    rel = os.path.relpath(ent.path, root)
                    if rel in seen:
                        continue
                    st = ent.stat(follow_symlinks=True)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                except OSError as e:
                    rel = os.path.relpath(ent.path, root)
                    problems.append(Problem(Location(rel), "", f"skipped: {e.strerror or e} (a broken or looping "
                                                               "symlink?)", "warning"))
                    continue
                seen.add(rel)
                out.append(FileStat(rel, lang, st.st_size, st.st_mtime_ns))
    out.sort(key=lambda f: f.path)
    return out


def _rows(lang: str, facts) -> tuple[list, list, list, list]:
    defs = [(d.name, d.qualname, d.kind, d.line, d.end_line, d.signature, ",".join(d.bases))
            for d in facts.definitions]
    includes = [(i.target, i.line, int(i.system)) for i in facts.includes]
    sep = "::" if lang == "cpp" else "."
    refs = [(r.name, r.name.rsplit(sep, 1)[-1], r.line, r.scope, r.kind) for r in facts.references]
    regs = [(g.kind, g.name, g.line, g.target, g.key, g.scope) for g in facts.registrations]
    return defs, includes, refs, regs


def parse_file(root: str, fs: FileStat, known_hash: str | None) -> ParsedFile:
    """Worker: read, hash, and (when the content is new) parse one file."""
    out = ParsedFile(fs.path, fs.lang, fs.size, fs.mtime_ns, None, "ok")
    if fs.size > MAX_FILE_BYTES:
        out.status, out.message = "too_large", f"{fs.size / 2**20:.0f} MB: generated code? skipped"
        return out
    try:
        with open(os.path.join(root, fs.path), "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        out.status, out.message = "vanished", "deleted while indexing; skipped"
        return out
    except OSError as e:
        out.status, out.message = "unreadable", f"unreadable: {e.strerror}; skipped"
        return out
    out.size = len(data)
    if len(data) > MAX_FILE_BYTES:
        out.status, out.message = "too_large", "grew past the size limit while indexing; skipped"
        return out
    out.hash = blob_id(data)
    if known_hash is not None and out.hash == known_hash:
        out.status = "unchanged"
        return out
    if b"\x00" in data[:8192]:
        out.status, out.message = "binary", "binary content; skipped"
        return out
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        out.non_utf8 = True
        line = data.count(b"\n", 0, e.start) + 1
        out.message = f"not UTF-8 (byte 0x{data[e.start]:02x} at line {line}); parsed with replacement characters"
    try:
        if fs.lang == "cpp":
            from .cpp_parser import parse_cpp
            facts = parse_cpp(fs.path, data)
        else:
            from .py_parser import parse_python
            facts = parse_python(fs.path, data)
    except Exception as e:  # noqa: BLE001 - a parser bug on one file must not stop the index
        out.status, out.message = "parser_error", f"parser failed ({type(e).__name__}: {e}); skipped"
        return out
    out.parse_errors = facts.parse_errors
    out.defs, out.includes, out.refs, out.regs = _rows(fs.lang, facts)
    return out


def _worker(root: str, order: list, counter, conn, batch: int = 8) -> None:
    """A forked worker: claims the next batch of tasks from a shared counter, sends results back.

    No queues and no feeder threads: the parent can kill workers at any moment (Ctrl-C) without
    anything to join that might be blocked on a full pipe.
    """
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up
    try:
        while True:
            with counter.get_lock():
                start = counter.value
                counter.value = start + batch
            if start >= len(order):
                break
            conn.send([parse_file(root, fs, known) for fs, known in order[start:start + batch]])
        conn.send(None)
    finally:
        conn.close()


def parse_all(source: Source, files: list[tuple[FileStat, str | None]], jobs: int,
              progress: Callable[[int, int], None] | None = None) -> Iterator[ParsedFile]:
    """Parse files (with the hash the index has for each, or None) on `jobs` processes."""
    total = len(files)
    if not files:
        return
    order = sorted(files, key=lambda t: -t[0].size)  # big files first: no straggler at the end
    root = str(source.root)
    if jobs <= 1 or total < 8:
        for i, (fs, known) in enumerate(order, 1):
            yield parse_file(root, fs, known)
            if progress:
                progress(i, total)
        return
    import multiprocessing as mp
    from multiprocessing.connection import wait
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    procs, conns = [], []
    try:
        for _ in range(min(jobs, total)):
            parent_end, child_end = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, args=(root, order, counter, child_end), daemon=True)
            p.start()
            child_end.close()
            procs.append(p)
            conns.append(parent_end)
        done, live = 0, list(conns)
        while live:
            for conn in wait(live):
                try:
                    results = conn.recv()
                except EOFError:  # a worker died without saying goodbye
                    live.remove(conn)
                    continue
                if results is None:
                    live.remove(conn)
                    continue
                for parsed in results:
                    done += 1
                    yield parsed
                if progress:
                    progress(done, total)
        if done < total:
            raise RuntimeError(f"a parser process died: {total - done} files were not parsed")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join()
        for c in conns:
            c.close()


def problems_of(parsed: ParsedFile) -> list[Problem]:
    if parsed.status in ("ok", "unchanged") and not parsed.non_utf8:
        return []
    return [Problem(Location(parsed.path), "", parsed.message, "warning")]
