"""A pull request's branch, made without touching the learner's own working tree or branch.

Two origins, one record (`PrBranch`):

- **a lab workspace**: the branch `<user>/lab-<id>` is created at the workspace's `starter` commit
  (the PR's base: what the lab gave, so the PR holds only the learner's change). The workspace's
  HEAD and files are never moved: the learner keeps editing where they are, and `snapshot()`
  commits the working tree onto the branch with git plumbing (a private index file, `commit-tree`,
  `update-ref`) each time the PR is pushed.
- **a checkout**: a new branch in a `git worktree` beside the repository (as `lab start` does on a
  checkout); the learner's checkout, its branch and its files stay as they were. A dirty or detached
  checkout is refused (the worktree would silently leave the uncommitted work behind).

Records live in the user state dir (`pr-state.json`): which branches exist, where, their base, and
which one is current, so `pr lint|tests|describe|submit` need no arguments.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from torchatlas.indexes.cache_dir import state_dir
from torchatlas.indexes.errors import AtlasError, NotFound

STATE = "pr-state.json"


class PrError(AtlasError):
    """Bad usage or a refusal (exit 2); nothing was changed."""


@dataclass(frozen=True)
class PrBranch:
    branch: str
    root: str  # the working tree holding the change (the lab workspace, or the worktree we made)
    kind: str  # "lab" | "checkout"
    base: str  # commit id the PR is based on
    base_branch: str  # its name on the forge ("main", or the checkout's branch)
    lab_id: str = ""
    source: str = ""  # the checkout the worktree came from
    user: str = ""
    created: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.root}::{self.branch}"

    def to_json(self) -> dict:
        return asdict(self)


# -- names ----------------------------------------------------------------------------------------------

def user_name() -> str:
    """The learner's handle for branch names: $TORCHATLAS_PR_USER, else the login, as git allows it."""
    raw = os.environ.get("TORCHATLAS_PR_USER") or _login()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.").lower()
    return name or "learner"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "learner"


def default_branch(lab_id: str = "", user: str | None = None) -> str:
    user = user or user_name()
    if lab_id:
        return f"{user}/lab-{lab_id}"
    return f"{user}/change-{time.strftime('%Y%m%d-%H%M%S')}"


def check_branch_name(git, name: str) -> None:
    try:
        git.run("check-ref-format", "--branch", name)
    except Exception:  # noqa: BLE001 - git says why in its own words; ours is enough
        raise PrError(f"{name!r} is not a valid branch name",
                      hint="use letters, digits, '-', '_', '/' (e.g. you/lab-fx-pass)") from None


# -- the state file -------------------------------------------------------------------------------------

def _state_path() -> Path:
    return state_dir() / STATE


def load_state() -> dict:
    try:
        d = json.loads(_state_path().read_text(encoding="utf-8"))
        if isinstance(d, dict) and isinstance(d.get("prs"), dict):
            return d
    except (OSError, ValueError):
        pass
    return {"version": 1, "current": "", "prs": {}}


def save_state(state: dict) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pr-state.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def record(pr: PrBranch, **extra) -> None:
    state = load_state()
    entry = state["prs"].get(pr.key, {})
    entry.update(pr.to_json())
    entry.update(extra)
    state["prs"][pr.key] = entry
    state["current"] = pr.key
    save_state(state)


def extra_of(pr: PrBranch) -> dict:
    """What later steps recorded for this branch (the forge's URL, the PR number)."""
    entry = load_state()["prs"].get(pr.key, {})
    return {k: v for k, v in entry.items() if k not in PrBranch.__dataclass_fields__}


def _from_entry(d: dict) -> PrBranch:
    return PrBranch(**{k: v for k, v in d.items() if k in PrBranch.__dataclass_fields__})


def find_pr(*, lab_id: str | None = None, repo: str | None = None, cwd: Path | None = None) -> PrBranch:
    """The PR branch the command is about: --lab, --repo, the folder we are in, else the current one."""
    state = load_state()
    prs = [_from_entry(d) for d in state["prs"].values()]
    prs = [p for p in prs if Path(p.root).is_dir()]
    if lab_id:
        mine = [p for p in prs if p.lab_id == lab_id]
        if not mine:
            raise NotFound(f"no pull-request branch for lab {lab_id!r}", hint=f"make one: torchatlas pr start --lab {lab_id}")
        return max(mine, key=lambda p: p.created)
    if repo:
        where = Path(repo).expanduser().resolve()
        mine = [p for p in prs if Path(p.root).resolve() == where or (p.source and Path(p.source).resolve() == where)]
        if not mine:
            raise NotFound(f"no pull-request branch made from {where}", hint=f"make one: torchatlas pr start --repo {where}")
        return max(mine, key=lambda p: p.created)
    here = (cwd or Path.cwd()).resolve()
    inside = [p for p in prs if here == Path(p.root).resolve() or Path(p.root).resolve() in here.parents]
    if inside:
        return max(inside, key=lambda p: p.created)
    current = state["prs"].get(state.get("current", ""))
    if current and Path(current.get("root", "")).is_dir():
        return _from_entry(current)
    raise NotFound("no pull-request branch yet",
                   hint="make one: torchatlas pr start --lab ID (a lab's change) or --repo DIR (a checkout)")


# -- starting -------------------------------------------------------------------------------------------

def start_from_workspace(ws, branch: str | None = None) -> PrBranch:
    """A branch at the workspace's starter commit; the workspace's HEAD and files stay as they are."""
    git = ws.git()
    name = branch or default_branch(ws.lab_id)
    check_branch_name(git, name)
    if git.branch_exists(name):
        raise PrError(f"branch {name} exists in the workspace {ws.root}",
                      hint=f"carry on with it (torchatlas pr submit --lab {ws.lab_id}), pick another name with "
                           f"--branch, or delete it: git -C {ws.root} branch -D {name}")
    git.run("branch", name, ws.starter)
    pr = PrBranch(branch=name, root=str(ws.root), kind="lab", base=ws.starter, base_branch="main",
                  lab_id=ws.lab_id, user=user_name(), created=time.time())
    record(pr)
    return pr


def start_from_checkout(repo: Path, branch: str | None = None, dest: Path | None = None) -> PrBranch:
    """A new branch in a worktree beside `repo`; the checkout itself is never touched."""
    from torchatlas.contrib.gitport import Git, GitError
    repo = Path(repo).expanduser().resolve()
    if not repo.is_dir():
        raise NotFound(f"{repo} does not exist")
    git = Git(repo)
    try:
        top = Path(git.run("rev-parse", "--show-toplevel").strip())
    except GitError:
        raise PrError(f"{repo} is not a git checkout",
                      hint="a PR starts from a git repository: clone PyTorch (git clone https://github.com/pytorch/pytorch) "
                           "or start from a lab: torchatlas pr start --lab ID") from None
    git = Git(top)
    if git.is_detached():
        raise PrError(f"{top} is on a detached HEAD",
                      hint="check out the branch your change starts from first (git switch main); the PR branch "
                           "is made from it in a separate worktree")
    dirty = git.dirty_tracked()
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise PrError(f"{top} has uncommitted changes ({shown})",
                      hint="commit them (git commit -a) or stash them (git stash) first: the PR branch starts from "
                           "your last commit in its own worktree, and would leave these behind")
    current = git.run("symbolic-ref", "--short", "HEAD").strip()
    name = branch or default_branch()
    check_branch_name(git, name)
    if git.branch_exists(name):
        raise PrError(f"branch {name} exists in {top}",
                      hint=f"pick another name with --branch, or delete it: git -C {top} branch -D {name}")
    dest = Path(dest) if dest else _worktree_home() / re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    if dest.exists():
        raise PrError(f"{dest} exists", hint="remove it, or pick another branch name with --branch")
    dest.parent.mkdir(parents=True, exist_ok=True)
    base = git.head()
    try:
        git.worktree_add(dest, name, base)
    except GitError as e:
        raise PrError(f"git worktree add failed: {e.stderr}") from None
    pr = PrBranch(branch=name, root=str(dest), kind="checkout", base=base, base_branch=current,
                  source=str(top), user=user_name(), created=time.time())
    record(pr)
    return pr


def _worktree_home() -> Path:
    from torchatlas.contrib.progress import labs_home
    return labs_home().parent / "pr-worktrees"


# -- the change -----------------------------------------------------------------------------------------

def _git(pr: PrBranch):
    from torchatlas.contrib.gitport import Git
    return Git(Path(pr.root))


def changed_files(pr: PrBranch) -> list[str]:
    """Files the PR changes: the working tree (new files too) against the base."""
    return _git(pr).changed_files(pr.base)


def diff_text(pr: PrBranch) -> str:
    return _git(pr).diff(pr.base)


def changed_lines(pr: PrBranch) -> dict[str, set[int]]:
    """New-side line numbers each changed file's hunks touch (for symbols and lint on changed lines)."""
    return lines_of_diff(diff_text(pr))


def lines_of_diff(text: str) -> dict[str, set[int]]:
    """Only the lines the change adds or edits (context lines are not the change); where lines were
    only deleted, the line that now stands in their place."""
    out: dict[str, set[int]] = {}
    path, new = None, 0
    for line in text.splitlines():
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else None
            if path is not None:
                out.setdefault(path, set())
        elif line.startswith("--- ") or line.startswith("diff --git"):
            continue
        elif line.startswith("@@"):
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
            new = int(m.group(1)) if m else 0
        elif path is None or not new:
            continue
        elif line.startswith("+"):
            out[path].add(new)
            new += 1
        elif line.startswith("-"):
            out[path].add(new)
        elif line.startswith(" "):
            new += 1
    return out


def snapshot(pr: PrBranch, message: str) -> tuple[str, bool]:
    """Commit the working tree onto the PR branch; (tip, True if a new commit was made).

    A lab workspace: plumbing with a private index, so the workspace's HEAD, index and files stay as
    they were. A worktree of ours: an ordinary commit there (the worktree is the PR's own)."""
    git = _git(pr)
    who = author_identity(git)
    if who:  # the learner's own name on the PR's commits (a CLA check reads the e-mail), not the lab's
        git.with_env(**who)
    if pr.kind == "checkout":
        if git.dirty_tracked() or git.run("status", "--porcelain").strip():
            git.run("add", "-A")
            git.run("commit", "-q", "--no-verify", "-m", message)
            return git.head(), True
        return git.head(), False
    tip = git.run("rev-parse", f"refs/heads/{pr.branch}").strip()
    with tempfile.TemporaryDirectory(prefix="torchatlas-pr-") as tmp:
        index = str(Path(tmp) / "index")
        from torchatlas.contrib.gitport import Git
        private = Git(Path(pr.root))
        real = Path(pr.root) / git.run("rev-parse", "--git-path", "index").strip()
        if real.is_file():  # its stat cache spares hashing every unchanged file again
            shutil.copyfile(real, index)
        private.with_env(GIT_INDEX_FILE=index)  # this object only: never the workspace's index
        private.run("add", "-A", ".")  # after this the private index is the working tree, whatever it held
        tree = private.run("write-tree").strip()
    if tree == git.run("rev-parse", f"{tip}^{{tree}}").strip():
        return tip, False
    commit = git.run("commit-tree", tree, "-p", tip, "-m", message).strip()
    git.run("update-ref", f"refs/heads/{pr.branch}", commit, tip)
    return commit, True


def author_identity(git) -> dict[str, str]:
    """user.name / user.email from git's configuration, as environment variables for one Git object
    (the git port sets a fixed lab identity in the environment, which would win over the config)."""
    from torchatlas.contrib.gitport import GitError
    try:
        name = git.run("config", "user.name").strip()
        email = git.run("config", "user.email").strip()
    except GitError:
        return {}
    if not (name and email):
        return {}
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email}


def commits(pr: PrBranch) -> list[tuple[str, str]]:
    out = _git(pr).run("log", "--format=%H%x09%s", f"{pr.base}..refs/heads/{pr.branch}")
    return [tuple(line.split("\t", 1)) for line in out.splitlines() if "\t" in line]
