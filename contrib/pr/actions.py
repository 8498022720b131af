"""What a pull request is made of, shared by the `pr` commands and the rehearsal: the lab a branch
came from, its workspace, the lint report, the tests it selects, its description.

Why a module of its own: `pr rehearse` runs the same steps the learner runs one by one (`pr lint`,
`pr tests`, `pr describe`); keeping them here lets both the CLI and `rehearse.py` call them
without the rehearsal importing the CLI (an import loop).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchatlas.indexes.errors import AtlasError, NotFound

from . import start as startmod
from .start import PrBranch


def catalog():
    from torchatlas.contrib.loader import load_labs
    return load_labs()


def find_lab(lab_id: str):
    cat = catalog()
    lab = cat.labs.get(lab_id)
    if lab is None:
        import difflib
        close = difflib.get_close_matches(lab_id, list(cat.labs), n=3, cutoff=0.5)
        raise NotFound(f"no lab {lab_id!r}", close, hint="" if close else "`torchatlas lab list` shows the labs")
    return lab


def lab_workspace(lab_id: str, workspace: str | None = None):
    from torchatlas.contrib.progress import LabsProgress
    from torchatlas.contrib.workspace import open_workspace
    lab = find_lab(lab_id)
    path = workspace or LabsProgress().get(lab.id).workspace
    if not path:
        raise NotFound(f"lab {lab.id!r} has no workspace yet",
                       hint=f"start the lab first: torchatlas lab start {lab.id} (then solve it, and come back); or "
                            f"rehearse its reference solution: torchatlas pr rehearse --lab {lab.id} --solution")
    if not Path(path).is_dir():
        raise NotFound(f"the workspace of lab {lab.id!r} ({path}) is gone",
                       hint=f"start the lab again: torchatlas lab start {lab.id}")
    return lab, open_workspace(Path(path))


def lab_of(pr: PrBranch):
    if not pr.lab_id:
        return None
    return catalog().labs.get(pr.lab_id)


def lint_pr(pr: PrBranch, all_lines: bool = False):
    from .lint import lint
    files = startmod.changed_files(pr)
    changed = None if all_lines else startmod.changed_lines(pr)
    new = new_files(pr, files)
    return lint(Path(pr.root), files, changed, new)


def new_files(pr: PrBranch, files: list[str]) -> set[str]:
    from torchatlas.contrib.gitport import Git
    out = Git(Path(pr.root)).run("ls-tree", "-r", "--name-only", pr.base, "--", *files) if files else ""
    return set(files) - set(out.splitlines())


def index_for(pr: PrBranch, args, quiet: bool):
    """The index of the source the PR changes: the installed torch's for a lab on it, the checkout's."""
    from torchatlas.indexes.pipeline import default_db_path, why_build
    from torchatlas.indexes.sources import open_source
    from torchatlas.indexes.store import Index
    if getattr(args, "db", None):
        return Index(Path(args.db).expanduser()), ""
    spec = pr.source if pr.kind == "checkout" else "installed"
    if pr.kind == "lab":
        from torchatlas.contrib.workspace import open_workspace
        ws = open_workspace(Path(pr.root))
        spec = ws.source_root if ws.kind == "checkout" else "installed"
    source = open_source(spec)
    db = default_db_path(source)
    why = why_build(db, code_changes=spec == "installed")  # a checkout's index: the user's to rebuild (~15 s)
    if not why:
        from torchatlas.indexes.cache_dir import stale_code
        stale = stale_code(db)
        return Index(db), (f"{stale}: its answers may be out of date (update it: torchatlas index {spec})"
                           if stale else "")
    if spec == "installed":
        from torchatlas.indexes.pipeline import build_index
        if not quiet:
            print(f"torchatlas: {why} for the installed torch; building it (once) ...", file=sys.stderr)
        build_index(source, db)
        return Index(db), ""
    return None, (f"no index of {spec} yet: C++ changes are not traced to operators "
                  f"(build it once: torchatlas index {spec})")


def select_for(pr: PrBranch, args=None, quiet: bool = True):
    from .select_tests import analyse, select
    index, note = index_for(pr, args or argparse.Namespace(), quiet)
    root = Path(pr.root)
    try:
        change = analyse(root, startmod.changed_files(pr), startmod.changed_lines(pr), index)
        tests = select(root, change, lab=lab_of(pr), index=index, limit=getattr(args, "top", None) or 25)
    finally:
        if index is not None:
            index.close()
    return change, tests, note


def describe_pr(pr: PrBranch, args=None, tests=None):
    from .describe import describe
    if tests is None:
        try:
            _change, tests, _note = select_for(pr, args)
        except AtlasError:
            tests = []
    return describe(pr, fixes=getattr(args, "fixes", None), title=getattr(args, "title", None), lab=lab_of(pr),
                    tests=[t for t in tests if t.kind != "lab-check"] if pr.lab_id else tests)
