"""The git port: the few git operations labs need, through GitPython (real git underneath).

Imported lazily (GitPython starts a git process per call and costs ~50 ms to import), and kept
small so a workspace can be driven by a fake in unit tests. Commits made here carry a fixed
torchatlas identity unless the repository has its own: a lab must work on a machine where the
learner never ran `git config user.name`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "torchatlas lab", "GIT_AUTHOR_EMAIL": "lab@torchatlas.invalid",
            "GIT_COMMITTER_NAME": "torchatlas lab", "GIT_COMMITTER_EMAIL": "lab@torchatlas.invalid"}


class GitError(Exception):
    def __init__(self, message: str, stderr: str = ""):
        super().__init__(message)
        self.message, self.stderr = message, stderr


def _env(root: Path | None = None) -> dict[str, str]:
    """No prompts; the torchatlas identity only where neither the environment nor the repository's
    git config (`user.name`/`user.email`, global included) names one: a commit the learner will push
    carries their own name."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if root is not None and _configured_identity(root):
        return env
    env.update({k: v for k, v in IDENTITY.items() if k not in os.environ})
    return env


@functools.lru_cache(maxsize=64)
def _configured_identity(root: Path) -> bool:
    """Asked once per repository and process (two git processes): a workspace makes many Git objects."""
    import subprocess
    try:
        out = [subprocess.run(["git", "-C", str(root), "config", "--get", key], capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip() for key in ("user.name", "user.email")]
    except (OSError, subprocess.SubprocessError):
        return False
    return all(out)


def _clean(stderr) -> str:
    """GitPython quotes stderr as "stderr: '...'"; give git's own words back."""
    text = str(stderr or "").strip()
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '"):-1]
    return text.strip()


def _text_stream(text: str):
    """A real file for git's stdin (GitPython passes `istream` to Popen as is)."""
    import tempfile
    f = tempfile.TemporaryFile()
    f.write(text.encode("utf-8"))
    f.seek(0)
    return f


class Git:
    """One repository (or worktree) at `root`."""

    def __init__(self, root: Path):
        import git  # GitPython
        self.root = Path(root)
        self._git = git.Git(str(self.root))
        self._git.update_environment(**_env(self.root if (self.root / ".git").exists() else None))

    def with_env(self, **env: str) -> "Git":
        """This repository with extra variables for every later call of this object only (a private
        GIT_INDEX_FILE, an author identity); other Git objects on the same folder are unaffected."""
        self._git.update_environment(**env)
        return self

    def run(self, *args: str, stdin: str | None = None) -> str:
        import git
        try:
            if stdin is not None:
                return self._git.execute(["git", *args], istream=_text_stream(stdin), stdout_as_string=True,
                                         strip_newline_in_stdout=False)
            return self._git.execute(["git", *args], stdout_as_string=True, strip_newline_in_stdout=False)
        except git.GitCommandError as e:
            raise GitError(f"git {' '.join(args[:2])} failed", stderr=_clean(e.stderr)) from None

    # -- the operations ------------------------------------------------------------------------------
    @classmethod
    def init(cls, root: Path) -> "Git":
        g = cls(root)
        g.run("init", "-q", "-b", "main")
        return g

    def commit_all(self, message: str) -> str:
        self.run("add", "-A")
        self.run("commit", "-q", "--no-verify", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").strip()

    def check_patch(self, patch_text: str) -> None:
        self.run("apply", "--check", "--whitespace=nowarn", "-", stdin=patch_text)

    def apply(self, patch_text: str) -> None:
        self.run("apply", "--whitespace=nowarn", "-", stdin=patch_text)

    def reset_hard(self, commit: str) -> None:
        self.run("reset", "-q", "--hard", commit)
        self.run("clean", "-q", "-fd")

    def diff(self, commit: str, *, stat: bool = False) -> str:
        """The working tree (untracked files included) against `commit`."""
        self.run("add", "-A", "--intent-to-add")
        args = ["diff", "--no-color", "--no-ext-diff"] + (["--stat"] if stat else []) + [commit]
        return self.run(*args)

    def changed_files(self, commit: str) -> list[str]:
        self.run("add", "-A", "--intent-to-add")
        return [p for p in self.run("diff", "--name-only", commit).splitlines() if p]

    def dirty_tracked(self) -> list[str]:
        out = self.run("status", "--porcelain", "--untracked-files=no")
        return [ln[3:] for ln in out.splitlines() if ln.strip()]

    def is_detached(self) -> bool:
        try:
            self.run("symbolic-ref", "-q", "HEAD")
            return False
        except GitError:
            return True

    def branch_exists(self, name: str) -> bool:
        try:
            self.run("rev-parse", "--verify", "--quiet", f"refs/heads/{name}")
            return True
        except GitError:
            return False

    def worktree_add(self, path: Path, branch: str, start: str = "HEAD") -> None:
        self.run("worktree", "add", "-q", "-b", branch, str(path), start)

    def worktree_remove(self, path: Path) -> None:
        self.run("worktree", "remove", "--force", str(path))
