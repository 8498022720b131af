"""A tiny git checkout of a PyTorch-shaped tree, for the tests of labs on a checkout (workspaces,
`lab start --source`, `lab remove`): what `open_source` needs to call it a checkout, one commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "me", "GIT_AUTHOR_EMAIL": "me@x",
                               "GIT_COMMITTER_NAME": "me", "GIT_COMMITTER_EMAIL": "me@x"}).stdout


def make_checkout(repo: Path) -> Path:
    (repo / "aten/src/ATen/native").mkdir(parents=True)
    (repo / "aten/src/ATen/native/native_functions.yaml").write_text("- func: abs(Tensor self) -> Tensor\n")
    (repo / "torch").mkdir()
    (repo / "torch/__init__.py").write_text("")
    (repo / "version.txt").write_text("2.13.0a0\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo
