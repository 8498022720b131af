#!/usr/bin/env python3
"""The rehearsal server's figures (issue 14): 200 sequential PyGithub API calls (goal: under 5 s),
and 8 concurrent git pushes to 8 branches (goal: all land).

    python bench/bench_forge.py [--calls 200] [--pushes 8]

Everything goes through the one client (contrib/forge/client.py, PyGithub) and real git over
smart HTTP, against a server started in this process on a free port.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from torchatlas.contrib.forge.client import Forge
from torchatlas.contrib.forge.server import start_background

GIT_ID = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]


def git(work: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(work), *GIT_ID, *args], check=True, capture_output=True,
                          text=True).stdout


def api_requests(root: Path) -> int:
    log = root / "server.log"
    return sum(" /api/v3/" in line for line in log.read_text().splitlines()) if log.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--pushes", type=int, default=8)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "state"
        server = start_background(root)
        try:
            forge = Forge.rehearsal(server.api_url, "learner")
            repo = forge.create_repo("bench")
            work = Path(d) / "work"
            work.mkdir()
            git(work, "init", "-q", "-b", "main")
            (work / "a.py").write_text("x = 1\n")
            git(work, "add", "a.py")
            git(work, "commit", "-q", "-m", "base")
            forge.push(work, repo, "main")
            git(work, "checkout", "-q", "-b", "topic")
            (work / "a.py").write_text("x = 2\n")
            git(work, "commit", "-q", "-am", "topic")
            forge.push(work, repo, "topic")
            forge.open_pull(repo.full_name, "topic", "main", "Topic", "body")
            server.wait_idle(60)

            # 200 sequential API calls through PyGithub: a mix of what `pr rehearse` reads and writes
            gh = forge._gh  # the client's own PyGithub session (pacing off for the rehearsal server)
            r = gh.get_repo(repo.full_name)
            pr = r.get_pull(1)
            calls = [lambda: r.get_pull(1), lambda: list(pr.get_issue_comments()), lambda: list(pr.get_files()),
                     lambda: list(pr.get_commits()), lambda: list(pr.get_labels()), lambda: gh.get_user().login,
                     lambda: r.get_commit(pr.head.sha).get_combined_status(),
                     lambda: pr.create_issue_comment("looks fine"), lambda: list(pr.get_reviews()),
                     lambda: r.get_branch("main")]
            before = api_requests(root)
            t = time.perf_counter()
            for i in range(args.calls):
                calls[i % len(calls)]()
            seconds = time.perf_counter() - t
            made = api_requests(root) - before
            verdict = "ok" if seconds < 5 else "SLOW"
            ok &= seconds < 5
            print(f"{args.calls} sequential PyGithub calls ({made} HTTP requests): {seconds:.2f} s "
                  f"({1000 * seconds / args.calls:.1f} ms/call; goal < 5 s: {verdict})")

            # concurrent pushes: one workdir per pusher, each to its own branch, all at once
            branches, shas = [f"push-{i}" for i in range(args.pushes)], {}
            for b in branches:
                wd = Path(d) / b
                subprocess.run(["git", "clone", "-q", str(work), str(wd)], check=True, capture_output=True)
                (wd / f"{b}.py").write_text(f"name = {b!r}\n")
                git(wd, "add", f"{b}.py")
                git(wd, "commit", "-q", "-m", b)
                shas[b] = git(wd, "rev-parse", "HEAD").strip()
            errors: list[str] = []

            def push(b):
                try:
                    Forge.rehearsal(server.api_url, "learner").push(Path(d) / b, repo, b)
                except Exception as e:  # reported below with the branch
                    errors.append(f"{b}: {e}")
            threads = [threading.Thread(target=push, args=(b,)) for b in branches]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            seconds = time.perf_counter() - t
            landed = {b.name: b.commit.sha for b in r.get_branches()}
            good = [b for b in branches if landed.get(b) == shas[b]]
            ok &= len(good) == len(branches) and not errors
            print(f"{args.pushes} concurrent pushes to {args.pushes} branches: {len(good)} landed in {seconds:.2f} s"
                  + (f"; errors: {errors}" if errors else ""))
        finally:
            server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
