#!/usr/bin/env python3
"""The code index on a full PyTorch tree: build time against ctags, memory, size, re-index and query
times. Prints figures, asserts nothing.

    python bench/bench_code_index.py [SOURCE] [--jobs N]

SOURCE defaults to $TORCHATLAS_TEST_SOURCE. The tree is never modified: the edit figures work on a
copy in a temporary directory. Figures:
  (a) a cold `torchatlas index` (no index file yet) against `ctags -R --languages=C++,Python`, both
      as whole processes, both after one pass that reads every file (so the page cache is warm for
      both alike);
  (b) peak memory of the index run with its worker processes: RSS and PSS summed over the process
      tree (sampled from /proc every 50 ms; PSS counts pages shared by forked workers once), and
      getrusage(RUSAGE_CHILDREN).ru_maxrss (the largest single process);
  (c) the index file's size;
  (d) a re-index with nothing changed (median of 3);
  (e) on a copy of the tree: a re-index after appending a comment to one C++ file, and after editing
      one Python file the dispatch stage does not read (median of 3 edits each);
  (f) `torchatlas dispatch aten::add.Tensor` and `torchatlas op aten::mm` as whole processes (median of 5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


EXE = [sys.executable, "-m", "torchatlas.cli"]
CPP_EDIT = "aten/src/ATen/native/Activation.cpp"  # a kernel file without TORCH_LIBRARY_IMPL
PY_EDIT = "torch/nn/modules/linear.py"             # not read by the dispatch stage
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- process-tree memory from /proc ----------------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the command may contain spaces and ')'
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _tree(pid: int) -> list[int]:
    kids = _children_map()
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, ()))
    return out


def _rss_pss(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
        return rss, pss
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE
    except OSError:
        return 0, 0
    return rss, rss


class TreeMemory:
    """Samples the summed RSS and PSS of a process and all its descendants until it exits."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            rss = pss = 0
            for p in pids:
                r, s = _rss_pss(p)
                rss, pss = rss + r, pss + s
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# -- helpers ---------------------------------------------------------------------------------------

def run_measured(cmd: list[str]) -> tuple[float, TreeMemory, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid) as mem:
        out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return wall, mem, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return wall, r.stdout


def warm_page_cache(root: Path) -> tuple[int, int]:
    """Read every file once (what both tools will read), so neither pays for the disk alone."""
    n = size = 0
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            try:
                with open(os.path.join(dirpath, fn), "rb") as f:
                    while chunk := f.read(1 << 20):
                        size += len(chunk)
                n += 1
            except OSError:
                pass
    return n, size


def mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def index_cmd(source: Path, db: Path, jobs: int) -> list[str]:
    return EXE + ["index", str(source), "--db", str(db), "--json", "--jobs", str(jobs)]


def reindex_after_edits(copy: Path, db: Path, rel: str, jobs: int, make_edit) -> tuple[float, list[dict]]:
    times, counts = [], []
    path = copy / rel
    for i in range(3):
        make_edit(path, i)
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + (i + 1) * 10**9))  # a distinct mtime
        wall, out = timed(index_cmd(copy, db, jobs))
        times.append(wall)
        counts.append(json.loads(out)["counts"])
    return statistics.median(times), counts


def append_comment(path: Path, i: int) -> None:
    with open(path, "a") as f:
        f.write(f"\n// bench edit {i}\n")


def edit_python(path: Path, i: int) -> None:
    with open(path, "a") as f:
        f.write(f"\n\ndef _bench_edit_{i}():\n    return {i}\n")


def summarize(c: dict) -> str:
    return (f"{c.get('files_changed')} changed, {c.get('files_parsed')} re-parsed, "
            f"{c.get('files_unchanged')} same content, dispatch re-resolved: {c.get('dispatch_rebuilt')}")


def _bare_parse(task: tuple[str, str]) -> int:
    """Parse one file with tree-sitter and nothing else (the cost below which extraction cannot go)."""
    path, lang = task
    global _PARSERS
    try:
        parsers = _PARSERS
    except NameError:
        import tree_sitter
        import tree_sitter_cpp
        import tree_sitter_python
        parsers = _PARSERS = {"cpp": tree_sitter.Parser(tree_sitter.Language(tree_sitter_cpp.language())),
                              "python": tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))}
    with open(path, "rb") as f:
        data = f.read()
    parsers[lang].parse(data)
    return len(data)


def parse_floor(source: Path | str, jobs: int) -> float:
    """Wall time of bare tree-sitter parsing of every file the index reads (`source`: a path or
    "installed"), on `jobs` processes: the cost below which no tree-sitter index can go."""
    import multiprocessing as mp
    from torchatlas.indexes.code_index import discover
    from torchatlas.indexes.sources import open_source
    src = open_source(str(source))
    files = discover(src, [])
    tasks = sorted(((str(src.root / f.path), f.lang) for f in files), key=lambda t: -os.path.getsize(t[0]))
    t = time.perf_counter()
    with mp.get_context("fork").Pool(jobs) as pool:
        sum(pool.imap_unordered(_bare_parse, tasks, chunksize=8))
    return time.perf_counter() - t


def torchgen_cpu(source: Path) -> float:
    """CPU time of the dispatch stage's first step alone: the tree's torchgen reading its YAML."""
    from torchatlas.indexes import yaml_index
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, str(yaml_index._EXTRACT), str(source), "checkout"], check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", default=os.environ.get("TORCHATLAS_TEST_SOURCE"),
                    help="a PyTorch source tree (default: $TORCHATLAS_TEST_SOURCE)")
    ap.add_argument("--jobs", "-j", type=int, default=0, help="torchatlas worker processes (default: all cores)")
    args = ap.parse_args()
    if not args.source:
        ap.error("no SOURCE given and TORCHATLAS_TEST_SOURCE is unset")
    source = Path(args.source).resolve()
    if not (source / "aten/src/ATen/native/native_functions.yaml").is_file():
        ap.error(f"{source} is not a PyTorch source tree")
    ctags = shutil.which("ctags")
    print(f"source: {source}  ({os.cpu_count()} cores, torchatlas --jobs {args.jobs or 'all'})")

    with tempfile.TemporaryDirectory(prefix="bench-code-index-") as d:
        tmp = Path(d)
        db = tmp / "index.sqlite"
        n, size = warm_page_cache(source)
        print(f"page cache warmed: read {n} files, {mb(size)}")

        # (a) + (b) + (c): a cold index (no index file) and ctags, in this same run.
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        wall, mem, r = run_measured(index_cmd(source, db, args.jobs))
        maxrss_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        c = json.loads(r.stdout)["counts"]
        print(f"(a) torchatlas index (cold, whole process): {wall:.2f} s  "
              f"[{c['files_parsed']} files parsed, {c['files_skipped']} skipped, {c['definitions']} definitions, "
              f"{c['references']} references, {c['ops']} ops, {c['problems']} problems]")
        if ctags:
            tags = tmp / "tags"
            cwall, cmem, _ = run_measured([ctags, "-R", "--languages=C++,Python", "-f", str(tags), str(source)])
            with open(tags, "rb") as f:
                ntags = sum(1 for line in f if not line.startswith(b"!_TAG_"))
            print(f"    ctags -R --languages=C++,Python (whole tree, third_party and test/ included): {cwall:.2f} s  "
                  f"[{ntags} tags, peak RSS {mb(cmem.peak_rss)}]")
            print(f"    ratio torchatlas / ctags: {wall / cwall:.2f}x")
        else:
            print("    ctags: not found on PATH; no comparison")
        workers = args.jobs or os.cpu_count() or 1
        floor = parse_floor(source, workers)
        print(f"    floor: bare tree-sitter parsing of the same files, no extraction, same workers: {floor:.2f} s"
              + (f" ({floor / cwall:.2f}x ctags)" if ctags else ""))
        yaml_cpu = torchgen_cpu(source)
        floor2 = floor + yaml_cpu / workers
        print(f"    + the tree's torchgen reading the YAML ({yaml_cpu:.2f} CPU-s, beside the parsers): {floor2:.2f} s"
              + (f" ({floor2 / cwall:.2f}x ctags)" if ctags else "")
              + "; before extracting, storing or resolving anything")
        print(f"(b) peak memory of the index run, process tree summed: RSS {mb(mem.peak_rss)}, "
              f"PSS {mb(mem.peak_pss)} (up to {mem.peak_procs} processes; 50 ms sampling)")
        print(f"    getrusage(RUSAGE_CHILDREN).ru_maxrss (largest single process): {mb(maxrss_child)}"
              + ("" if before == 0 else " (includes earlier children)"))
        wal = db.with_name(db.name + "-wal")
        print(f"(c) index file: {mb(db.stat().st_size)}"
              + (f" (+ {mb(wal.stat().st_size)} WAL)" if wal.exists() and wal.stat().st_size else ""))

        # (d) nothing changed.
        runs = []
        for _ in range(3):
            w, out = timed(index_cmd(source, db, args.jobs))
            runs.append(w)
        print(f"(d) re-index, nothing changed: median {statistics.median(runs):.2f} s of 3 "
              f"({', '.join(f'{x:.2f}' for x in runs)}); counts {json.loads(out)['counts']}")

        # (e) edits, on a copy of the tree (never the original).
        copy = tmp / "tree"
        t = time.perf_counter()
        shutil.copytree(source, copy, symlinks=True)
        copy_db = tmp / "copy.sqlite"
        w0, _ = timed(index_cmd(copy, copy_db, args.jobs))
        print(f"(e) copied the tree in {time.perf_counter() - t - w0:.1f} s and indexed the copy in {w0:.2f} s")
        med, counts = reindex_after_edits(copy, copy_db, CPP_EDIT, args.jobs, append_comment)
        print(f"    re-index after appending a comment to {CPP_EDIT}: median {med:.2f} s of 3 "
              f"({summarize(counts[-1])})")
        med, counts = reindex_after_edits(copy, copy_db, PY_EDIT, args.jobs, edit_python)
        print(f"    re-index after editing {PY_EDIT}: median {med:.2f} s of 3 ({summarize(counts[-1])})")

        # (f) queries, whole processes.
        floor = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(5))
        for q in (["dispatch", "aten::add.Tensor"], ["op", "aten::mm"]):
            times = [timed(EXE + q + ["--source", str(source), "--db", str(db)])[0] for _ in range(5)]
            print(f"(f) torchatlas {' '.join(q)}: median {statistics.median(times) * 1000:.0f} ms of 5 "
                  f"(python start-up alone: {floor * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
