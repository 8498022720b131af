"""Git on the server's bare repositories, through the git binary (subprocess, argument lists only).

The server never checks anything out: merges are computed with `git merge-tree --write-tree`
(git >= 2.38) and committed with `commit-tree`, then the base ref moves with a compare-and-swap
`update-ref`, so a push racing a merge cannot be lost.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

BOT_IDENTITY = {"GIT_AUTHOR_NAME": "PyTorch MergeBot (rehearsal)", "GIT_AUTHOR_EMAIL": "pytorchbot@rehearsal.invalid",
                "GIT_COMMITTER_NAME": "PyTorch MergeBot (rehearsal)",
                "GIT_COMMITTER_EMAIL": "pytorchbot@rehearsal.invalid"}


class GitFailed(Exception):
    pass


def git(repo: Path, *args: str, stdin: str | None = None, env: dict | None = None, check: bool = True) -> str:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
                          env=full_env)
    if check and proc.returncode != 0:
        raise GitFailed(f"git {args[0]} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def init_bare(path: Path, default_branch: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", f"--initial-branch={default_branch}", str(path)],
                   check=True, capture_output=True)
    git(path, "config", "http.receivepack", "true")


def ref_sha(repo: Path, branch: str) -> str | None:
    out = git(repo, "rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}", check=False).strip()
    return out or None


def heads(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def merge_base(repo: Path, a: str, b: str) -> str | None:
    return git(repo, "merge-base", a, b, check=False).strip() or None


def merge_tree(repo: Path, base: str, head: str) -> str | None:
    """The merged tree's id, or None when the two conflict."""
    proc = subprocess.run(["git", "-C", str(repo), "merge-tree", "--write-tree", base, head],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return proc.stdout.split("\n", 1)[0].strip()


def commit_tree(repo: Path, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    return git(repo, *args, "-F", "-", stdin=message, env=BOT_IDENTITY).strip()


def move_ref(repo: Path, branch: str, new: str, old: str) -> bool:
    proc = subprocess.run(["git", "-C", str(repo), "update-ref", f"refs/heads/{branch}", new, old],
                          capture_output=True, text=True)
    return proc.returncode == 0


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    tree: str
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


_FORMAT = "%H%x00%P%x00%T%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e"


def _parse_commits(out: str) -> list[CommitInfo]:
    commits = []
    for record in out.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        f = record.split("\x00")
        commits.append(CommitInfo(f[0], tuple(f[1].split()), f[2], f[3], f[4], f[5], f[6], f[7], f[8],
                                  f[9].rstrip("\n")))
    return commits


def commits_between(repo: Path, base: str, head: str) -> list[CommitInfo]:
    return _parse_commits(git(repo, "log", "--reverse", f"--format={_FORMAT}", f"{base}..{head}"))


def commit(repo: Path, sha: str) -> CommitInfo | None:
    out = git(repo, "log", "-1", f"--format={_FORMAT}", sha, "--", check=False)
    found = _parse_commits(out)
    return found[0] if found else None


def resolve(repo: Path, ref: str) -> str | None:
    for candidate in (f"refs/heads/{ref}", ref):
        out = git(repo, "rev-parse", "-q", "--verify", f"{candidate}^{{commit}}", check=False).strip()
        if out:
            return out
    return None


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str
    additions: int
    deletions: int
    patch: str
    previous_filename: str | None = None


_STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied", "T": "changed"}


def changed_files(repo: Path, base: str, head: str) -> list[FileChange]:
    """Files of `base...head` (three dots: against the merge base, as GitHub shows a PR)."""
    names = git(repo, "diff", "--name-status", "-M", "-z", f"{base}...{head}").split("\x00")
    numstat = git(repo, "diff", "--numstat", "-M", "-z", f"{base}...{head}")
    counts = _numstat(numstat)
    out, i = [], 0
    while i < len(names) and names[i]:
        code = names[i][0]
        if code in "RC":
            old, new = names[i + 1], names[i + 2]
            i += 3
        else:
            old, new = None, names[i + 1]
            i += 2
        patch = git(repo, "diff", "-M", f"{base}...{head}", "--", *([old] if old else []), new)
        hunk = patch.find("\n@@")
        added, deleted = counts.get(new, (0, 0))
        out.append(FileChange(new, _STATUS.get(code, "modified"), added, deleted,
                              patch[hunk + 1:] if hunk >= 0 else "", old))
    return out


def diffstat(repo: Path, base: str, head: str) -> tuple[int, int, int]:
    """(files, additions, deletions) of `base...head`, from one `git diff --numstat`."""
    counts = _numstat(git(repo, "diff", "--numstat", "-M", "-z", f"{base}...{head}"))
    return len(counts), sum(a for a, _ in counts.values()), sum(d for _, d in counts.values())


def initial_commit(repo: Path, branch: str, files: dict[str, str], message: str) -> str:
    """A first commit made without a working tree (POST /user/repos with auto_init)."""
    entries = []
    for name, text in sorted(files.items()):
        blob = git(repo, "hash-object", "-w", "--stdin", stdin=text).strip()
        entries.append(f"100644 blob {blob}\t{name}")
    tree = git(repo, "mktree", stdin="\n".join(entries) + "\n").strip()
    sha = git(repo, "commit-tree", tree, "-F", "-", stdin=message, env=BOT_IDENTITY).strip()
    git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def _numstat(out: str) -> dict[str, tuple[int, int]]:
    counts, parts, i = {}, out.split("\x00"), 0
    while i < len(parts) and parts[i]:
        fields = parts[i].split("\t")
        a, d = (int(x) if x.isdigit() else 0 for x in fields[:2])
        if len(fields) > 2 and fields[2]:
            counts[fields[2]] = (a, d)
            i += 1
        else:  # rename: old and new follow as their own fields
            counts[parts[i + 2]] = (a, d)
            i += 3
    return counts
