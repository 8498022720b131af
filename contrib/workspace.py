"""Workspaces: a git repository where a learner changes real PyTorch code, never the real thing.

Two kinds, one interface:

- **installed**: a folder holding a copy of the installed `torch/` package's `.py` files (with
  their `__pycache__`, so `import torch` stays ~0.8 s) and symlinks to everything else (`lib/`,
  `include/`, the `.so` files), plus a copy of `torchgen/` (the YAML and templates codegen labs
  edit). Checks put the workspace first on `PYTHONPATH`, so the patched files are the ones Python
  imports; site-packages is never written.
- **checkout**: a new branch `torchatlas/lab/<id>` in a `git worktree` of the learner's repository.
  Their working tree and branch are never touched; a checkout with uncommitted changes is refused.

Either way the repository has two commits of ours: `pristine` (the source as it was) and `starter`
(the lab's starter patch applied). `lab reset` returns to `starter`, `lab diff` shows the change
against it. `.lab/` inside the workspace (ignored by git) holds the build folders, the visible
checks and `workspace.json`. A workspace is built beside its destination and moved into place at
the end, so an interrupted or failed start leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from torchatlas.indexes.errors import AtlasError

from . import patchfile
from .model import Lab

META = ".lab"
INFO = "workspace.json"
# Paths in lab patches are written for the installed layout; a checkout keeps the same files here.
CHECKOUT_PATHS = (("torchgen/packaged/ATen/", "aten/src/ATen/"), ("torchgen/packaged/autograd/", "tools/autograd/"))
EXCLUDE = "__pycache__/\n*.pyc\n/.lab/\n"


class WorkspaceError(AtlasError):
    """A workspace cannot be made, opened or changed (exit 2); nothing was modified."""


class PatchDoesNotApply(WorkspaceError):
    """A patch failed; `where` names the patch file, the message the file and hunk."""

    exit_code = 1


@dataclass(frozen=True)
class Workspace:
    root: Path
    lab_id: str
    kind: str  # "installed" | "checkout"
    source_root: str  # site-packages of the installed torch, or the learner's repository
    version: str
    pristine: str  # commit ids
    starter: str
    branch: str = ""  # checkout: the worktree's branch
    created: float = 0.0
    variant: str = ""  # the lab's variant it was started with ("checkout": contrib/variants.py)
    # checkout files the checks' overlay always holds (the variant's build sources outside lab/),
    # changed or not: a kernel fixed back to the pristine text must still be compiled from there
    sync: tuple[str, ...] = ()

    @property
    def meta(self) -> Path:
        return self.root / META

    def build_dir(self, mode: str) -> Path:
        return self.meta / "build" / mode

    def git(self):
        from .gitport import Git
        return Git(self.root)

    def to_json(self) -> dict:
        d = asdict(self)
        d["root"] = str(self.root)
        return d


def open_workspace(root: Path) -> Workspace:
    root = Path(root).expanduser()
    info = root / META / INFO
    try:
        d = json.loads(info.read_text(encoding="utf-8"))
        d["root"] = root.resolve()
        d["sync"] = tuple(d.get("sync", ()))
        return Workspace(**d)
    except FileNotFoundError:
        raise WorkspaceError(f"{root} is not a lab workspace (no {META}/{INFO})",
                             hint="start one with: torchatlas lab start ID [--workspace DIR]") from None
    except (OSError, ValueError, TypeError) as e:
        raise WorkspaceError(f"{info} is unreadable: {e}",
                             hint="start the lab again in a new folder: torchatlas lab start ID --workspace DIR") from None


# -- making one -------------------------------------------------------------------------------------

def create_workspace(lab: Lab, source, dest: Path, progress=None, branch: str | None = None) -> Workspace:
    """A new workspace for `lab` at `dest` over `source` (an indexes.sources.Source); on a checkout,
    on a new branch (default `torchatlas/lab/<id>`)."""
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise WorkspaceError(f"{dest} exists and is not empty",
                             hint="pick another --workspace, or reset the lab there: torchatlas lab reset "
                                  f"{lab.id} --workspace {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    if source.info.layout == "checkout":
        return _create_on_checkout(lab, source, dest, say, branch or f"torchatlas/lab/{lab.id}")
    partial = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        say("copying the installed torch's Python files")
        _copy_package(Path(source.info.root) / "torch", partial / "torch")
        _copy_tree(Path(source.info.root) / "torchgen", partial / "torchgen")
        from .gitport import Git
        git = Git.init(partial)
        (partial / ".git" / "info").mkdir(parents=True, exist_ok=True)
        (partial / ".git" / "info" / "exclude").write_text(EXCLUDE)
        say("recording the pristine source (git)")
        pristine = git.commit_all("pristine: torch " + source.info.version)
        _write_meta(partial, lab)
        say("applying the starter patch")
        apply_patch_file(partial, lab.starter_patch, kind="installed")
        starter = git.commit_all(f"starter: lab {lab.id}")
        ws = Workspace(root=dest, lab_id=lab.id, kind="installed", source_root=source.info.root,
                       version=source.info.version, pristine=pristine, starter=starter, created=time.time())
        _save(partial, ws)
        if dest.exists():
            dest.rmdir()
        os.replace(partial, dest)
        return ws
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _create_on_checkout(lab: Lab, source, dest: Path, say, branch: str) -> Workspace:
    from .gitport import Git, GitError
    repo = Path(source.info.root)
    if source.info.kind != "git":
        raise WorkspaceError(f"{repo} is a PyTorch tree but not a git checkout",
                             hint="a lab on a tree needs git (it works on a branch of your repository): "
                                  "`git init` it, or start the lab on the installed torch (--source installed)")
    git = Git(repo)
    dirty = git.dirty_tracked()
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise WorkspaceError(f"{repo} has uncommitted changes ({shown})",
                             hint="commit or stash them first (`git stash`); the lab works on a new branch in a "
                                  "worktree and never touches your working tree, but starts from a clean commit")
    if git.branch_exists(branch):
        raise WorkspaceError(f"branch {branch} exists in {repo}",
                             hint=f"a previous start of this lab made it: carry on there (--workspace DIR), or "
                                  f"`torchatlas lab remove {lab.id}` (or `git branch -D {branch}`) and start again")
    say(f"adding a worktree on a new branch {branch}")
    try:
        git.worktree_add(dest, branch)
    except GitError as e:
        raise WorkspaceError(f"git worktree add failed: {e.stderr}") from None
    wt = Git(dest)
    try:
        pristine = wt.head()
        _write_meta(dest, lab)
        say("applying the starter patch")
        apply_patch_file(dest, lab.starter_patch, kind="checkout")
        starter = wt.commit_all(f"starter: lab {lab.id}")
        ws = Workspace(root=dest, lab_id=lab.id, kind="checkout", source_root=str(repo), version=source.info.version,
                       pristine=pristine, starter=starter, branch=branch, created=time.time(), variant=lab.variant,
                       sync=_always_synced(lab))
        _save(dest, ws)
        return ws
    except BaseException:
        remove_checkout_workspace(repo, dest, branch)
        raise


def remove_checkout_workspace(repo: Path, root: Path, branch: str) -> None:
    """The worktree and its branch gone from the learner's repository, as if never made."""
    from .gitport import Git, GitError
    git = Git(repo)
    for step in (lambda: git.worktree_remove(root), lambda: git.run("worktree", "prune"),
                 lambda: git.run("branch", "-D", branch)):
        try:
            step()
        except GitError:
            pass
    shutil.rmtree(root, ignore_errors=True)


def _always_synced(lab: Lab) -> tuple[str, ...]:
    """A checkout variant compiles checkout files (not only lab/): the overlay always holds them."""
    if not lab.variant:
        return ()
    return tuple(p for p in (*lab.build.sources, *lab.build.per_capability) if not p.startswith("lab/"))


def _write_meta(root: Path, lab: Lab) -> None:
    meta = root / META
    (meta / "checks").mkdir(parents=True, exist_ok=True)
    (meta / ".gitignore").write_text("*\n")  # the folder ignores itself, in any repository
    for check in lab.checks:
        if not check.hidden:
            shutil.copy2(lab.folder / check.file, meta / "checks" / Path(check.file).name)


def _save(root: Path, ws: Workspace) -> None:
    d = ws.to_json()
    d.pop("root")
    (root / META / INFO).write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")


def _copy_package(src: Path, dst: Path) -> None:
    """.py files and __pycache__ copied (mtimes kept, so the cached bytecode stays valid); everything
    else symlinked; a folder with no Python file below it symlinked whole (include/, lib/, share/)."""
    has_py: dict[str, bool] = {}
    for dirpath, dirnames, filenames in os.walk(src, topdown=False):
        has_py[dirpath] = any(f.endswith(".py") for f in filenames) or \
            any(has_py.get(os.path.join(dirpath, d), False) for d in dirnames)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = dst / rel if rel != "." else dst
        out.mkdir(parents=True, exist_ok=True)
        keep = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if d == "__pycache__":
                shutil.copytree(full, out / d, copy_function=shutil.copy2)
            elif has_py.get(full, False) and not os.path.islink(full):
                keep.append(d)
            else:
                os.symlink(full, out / d)
        dirnames[:] = keep
        for f in filenames:
            full = os.path.join(dirpath, f)
            if f.endswith(".py"):
                shutil.copy2(full, out / f)
            else:
                os.symlink(full, out / f)


def _copy_tree(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=shutil.copy2, ignore=shutil.ignore_patterns("__pycache__"))


# -- patches ------------------------------------------------------------------------------------------

def for_checkout(text: str) -> str:
    """A patch written for the installed layout, with its paths moved to where a checkout keeps them."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("diff --git ", "--- ", "+++ ")):
            for a, b in CHECKOUT_PATHS:
                line = line.replace(f"a/{a}", f"a/{b}").replace(f"b/{a}", f"b/{b}")
        out.append(line)
    return "".join(out)


def apply_patch_file(root: Path, patch_file: Path, kind: str = "installed") -> None:
    try:
        text = patch_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WorkspaceError(f"cannot read {patch_file}: {e}") from None
    apply_patch(root, text, str(patch_file), kind=kind)


def apply_patch(root: Path, text: str, name: str, kind: str = "installed") -> None:
    """Apply a unified diff to the workspace at `root`, all of it or nothing.

    Refused before anything is written: paths that are absolute, climb out with `..`, or pass
    through a symlink (in an installed workspace every symlink leads into site-packages). A patch
    that does not apply is reported by file and hunk, and the workspace is left as it was."""
    if kind == "checkout":
        text = for_checkout(text)
    try:
        patch = patchfile.parse(text)
    except patchfile.PatchError as e:
        raise WorkspaceError(f"not a valid patch: {e.message}", where=f"{name}:{e.line}") from None
    root = Path(root)
    for f in patch.files:
        for p in (f.old_path, f.new_path):
            if p is None:
                continue
            why = patchfile.unsafe_path(p) or _through_symlink(root, p)
            if why:
                raise WorkspaceError(f"refused: {p} is {why}", where=f"{name}:{f.line}",
                                     hint="a lab patch may only change files inside its workspace")
    from .gitport import GitError
    git = _git(root)
    try:
        git.check_patch(text)
    except GitError as e:
        raise PatchDoesNotApply(_which_hunk(patch, e.stderr), where=name,
                                hint="the workspace was left as it was; "
                                     "if you changed the files the patch touches, `torchatlas lab reset` first") from None
    git.apply(text)


def _git(root: Path):
    from .gitport import Git
    return Git(root)


def _through_symlink(root: Path, rel: str) -> str | None:
    cur = root
    parts = Path(rel).parts
    for i, part in enumerate(parts):
        cur = cur / part
        if cur.is_symlink():
            target = os.readlink(cur)
            return f"a path through a symlink ({'/'.join(parts[:i + 1])} -> {target})"
        if not cur.exists():
            return None
    return None


def _which_hunk(patch: patchfile.Patch, stderr: str) -> str:
    """git says 'patch failed: FILE:LINE'; name the hunk of ours that starts there."""
    import re
    m = re.search(r"patch failed: (.+?):(\d+)", stderr)
    if m:
        path, line = m.group(1), int(m.group(2))
        for f in patch.files:
            if f.path == path or f.old_path == path:
                for k, h in enumerate(f.hunks, 1):
                    if h.old_start == line:
                        return (f"{path}: hunk {k} of {len(f.hunks)} (at line {line}, written at line {h.line} of "
                                f"the patch) does not apply: the file differs from what the patch expects")
        return f"{path}: the hunk at line {line} does not apply: the file differs from what the patch expects"
    m = re.search(r"error: (.+?): (already exists in working directory|does not exist in index|No such file.*)",
                  stderr)
    if m:
        return f"{m.group(1)}: {m.group(2)}"
    return f"the patch does not apply: {stderr.strip() or 'git gave no reason'}"


# -- where checks run ---------------------------------------------------------------------------------

def check_root(ws: Workspace, installed_root: Path | None = None) -> tuple[Path, str]:
    """The folder the builders and checks use, and a note for the learner (or "").

    An installed workspace is its own check root. A checkout's torch is not built, so its checks run
    on an overlay (`.lab/overlay/`): a workspace over the installed torch into which the files the
    learner changed on the branch (lab/, torch/, and the YAML codegen reads, moved back to the
    installed layout) are synced before each check. When the checkout's version is not the installed
    one, changed torch/ files then run on top of another version, and the note says so."""
    if ws.kind == "installed":
        return ws.root, ""
    from torchatlas.indexes.sources import installed_root as find_installed, open_source
    site = installed_root or find_installed()
    if site is None:
        raise WorkspaceError("checks of a checkout workspace run on the installed torch, and none is installed",
                             hint="pip install torch (the version of your checkout) into this Python")
    overlay = ws.meta / "overlay"
    if not (overlay / "torch" / "__init__.py").is_file():
        partial = ws.meta / f".overlay.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _copy_package(site / "torch", partial / "torch")
            _copy_tree(site / "torchgen", partial / "torchgen")
            shutil.rmtree(overlay, ignore_errors=True)
            os.replace(partial, overlay)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    changed = [p for p in ws.git().changed_files(ws.pristine) if _overlay_path(p)]
    changed += [p for p in ws.sync if p not in changed and (ws.root / p).is_file()]
    synced_file = ws.meta / "overlay-synced.json"
    try:
        before = set(json.loads(synced_file.read_text()))
    except (OSError, ValueError):
        before = set()
    for rel in sorted(before - set(changed)):  # no longer changed: back to the installed file
        _restore(overlay, site, _overlay_path(rel))
    for rel in changed:
        src, dst = ws.root / rel, overlay / _overlay_path(rel)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    synced_file.write_text(json.dumps(changed))
    installed_version = open_source(str(site)).info.version
    note = ""
    if _base(installed_version) != _base(ws.version) and any(p.startswith("torch/") for p in changed):
        note = (f"your checkout is torch {ws.version}, the installed torch is {installed_version}: your changed "
                "torch/ files run on top of the installed version; a full build of the checkout "
                "(`torchatlas lab build ID --full`) runs them on their own")
    return overlay, note


def _overlay_path(rel: str) -> str | None:
    """Where a changed checkout file goes in the overlay: the YAML and templates torchgen reads
    where the installed torch keeps them, lab/, torch/ and torchgen/ as they are, aten/ sources
    (a checkout variant's kernel files) as they are, so compiler messages name the checkout's path;
    None for what the checks never read."""
    for installed, checkout in CHECKOUT_PATHS:
        if rel.startswith(checkout):
            rest = rel[len(checkout):]
            if checkout == "aten/src/ATen/" and not (rest.endswith(".yaml") or rest.startswith("templates/")):
                return rel if rel.endswith((".cpp", ".h")) else None
            return installed + rest
    if rel.startswith(("lab/", "torch/", "torchgen/")):
        return rel
    return None


def _restore(overlay: Path, site: Path, rel: str | None) -> None:
    if rel is None:
        return
    dst, src = overlay / rel, site / rel
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst) if rel.endswith(".py") or rel.startswith("torchgen/") else os.symlink(src, dst)


def _base(version: str) -> str:
    import re
    m = re.match(r"(\d+\.\d+)", version)
    return m.group(1) if m else version


# -- removing ------------------------------------------------------------------------------------------

def remove_workspace(ws: Workspace) -> str:
    """The workspace gone; on a checkout, its worktree too, and its branch unless it holds commits
    of the learner's beyond the starter (work they may have pushed for a pull request). Returns
    what happened to the branch ("" for an installed workspace)."""
    if ws.kind != "checkout":
        shutil.rmtree(ws.root)
        return ""
    from .gitport import Git, GitError
    try:
        own = Git(ws.root).run("rev-list", "--count", f"{ws.starter}..HEAD").strip()
    except GitError:
        own = "0"
    if own not in ("", "0"):
        Git(Path(ws.source_root)).worktree_remove(ws.root)
        return (f"kept branch {ws.branch}: it has {own} commit(s) of yours (`git -C {ws.source_root} branch -D "
                f"{ws.branch}` deletes it)")
    remove_checkout_workspace(Path(ws.source_root), ws.root, ws.branch)
    return f"deleted branch {ws.branch} (it held only the lab's starter)"


# -- resetting -----------------------------------------------------------------------------------------

def reset_workspace(ws: Workspace) -> None:
    """Back to the starter commit: the learner's changes and new files are gone, builds stay cached
    (they are keyed by content, so a reset never reuses a stale build)."""
    ws.git().reset_hard(ws.starter)
