"""`torchatlas pr ...`: the presenters of the pull-request rehearsal. Each action finds the PR branch
(--lab, --repo, the folder you are in, else the last one started), calls the headless modules and
prints text or JSON (`--json`: one JSON document on stdout, errors too, as {"error", "hint", "exit_code"}).

Exit codes: 0 ok; 1 not found, lint findings, a failing selected test or check, a merge refused;
2 bad usage or a refusal that changed nothing (dirty or detached checkout, existing branch, port in
use); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from torchatlas.indexes.errors import AtlasError, NotFound

from . import start as startmod
from .actions import describe_pr, lab_of, lab_workspace, lint_pr, select_for
from .start import PrBranch


def run_pr(args: argparse.Namespace) -> int:
    action = getattr(args, "pr_command", None)
    if not action:
        raise AtlasError("`torchatlas pr` needs an action: start, lint, tests, describe, submit, rehearse or serve",
                         hint="e.g. torchatlas pr start --lab autograd-function")
    try:
        return ACTIONS[action](args)
    except AtlasError as e:
        if getattr(args, "json", False):
            print(json.dumps({"error": e.message, "hint": e.hint, "where": e.where, "exit_code": e.exit_code}))
        raise


# -- helpers ----------------------------------------------------------------------------------------

def _pr(args) -> PrBranch:
    pr = startmod.find_pr(lab_id=getattr(args, "lab", None), repo=getattr(args, "repo", None))
    if not getattr(args, "json", False):
        print(f"torchatlas: pull request branch {pr.branch} in {pr.root}", file=sys.stderr)
    return pr


def _emit(args, data: dict) -> None:
    print(json.dumps(data, indent=2, default=str))


def _say(args, msg: str) -> None:
    if not getattr(args, "json", False) and sys.stderr.isatty():
        print(f"  · {msg}", file=sys.stderr, flush=True)


# -- start ------------------------------------------------------------------------------------------

def _start(args) -> int:
    if args.lab and args.repo:
        raise AtlasError("--lab and --repo pick different origins; give one",
                         hint="--lab ID: the change you made in a lab; --repo DIR: a git checkout")
    if args.repo:
        pr = startmod.start_from_checkout(Path(args.repo), args.branch)
    else:
        lab_id = args.lab or _only_started_lab()
        _lab_obj, ws = lab_workspace(lab_id, getattr(args, "workspace", None))
        pr = startmod.start_from_workspace(ws, args.branch)
    if args.json:
        _emit(args, pr.to_json())
        return 0
    print(f"branch {pr.branch} at {pr.base[:12]} (base: {pr.base_branch})")
    if pr.kind == "lab":
        print(f"  in the lab workspace {pr.root}; its files and HEAD are untouched: keep editing there,")
        print("  each `pr submit` commits what the working tree holds onto the branch")
    else:
        print(f"  in a new worktree {pr.root}; your checkout {pr.source} and its branch are untouched")
        print(f"  edit and commit there (cd {pr.root})")
    print("next: torchatlas pr lint · pr tests · pr describe · pr submit (or pr rehearse for the whole flow)")
    return 0


def _only_started_lab() -> str:
    from torchatlas.contrib.progress import LabsProgress
    started = [(p.started, lid) for lid, p in LabsProgress().labs.items() if p.workspace and Path(p.workspace).is_dir()]
    if not started:
        raise NotFound("no lab workspace to start a PR from",
                       hint="start and solve a lab first (torchatlas lab start ID), or give --repo DIR (a checkout)")
    if len(started) > 1:
        ids = ", ".join(lid for _t, lid in sorted(started, reverse=True))
        raise AtlasError(f"several labs have workspaces ({ids}): which one?",
                         hint=f"torchatlas pr start --lab {sorted(started, reverse=True)[0][1]}")
    return started[0][1]


# -- lint -------------------------------------------------------------------------------------------

def _lint(args) -> int:
    pr = _pr(args)
    report = lint_pr(pr, args.all_lines)
    if args.json:
        _emit(args, {"branch": pr.branch, **report.to_json()})
        return 1 if report.findings else 0
    if not report.files:
        print("no changes yet: nothing to lint")
        return 0
    for f in report.findings:
        print(f)
    for t in report.tools:
        print(f"ran: {t}", file=sys.stderr)
    for n in report.notes:
        print(f"note: {n}", file=sys.stderr)
    n = len(report.findings)
    print(f"{n} finding{'s' if n != 1 else ''} in {len(report.files)} changed file(s)" if n else
          f"lint clean: {len(report.files)} changed file(s)", file=sys.stderr)
    return 1 if n else 0


# -- tests ------------------------------------------------------------------------------------------

def _python_path(pr: PrBranch) -> Path:
    if pr.kind == "lab":
        from torchatlas.contrib.workspace import check_root, open_workspace
        return check_root(open_workspace(Path(pr.root)))[0]
    return Path(pr.root) if any(Path(pr.root, "torch").glob("_C*.so")) else None


def _tests(args) -> int:
    pr = _pr(args)
    change, tests, note = select_for(pr, args, quiet=args.json)
    runs = []
    if args.run:
        from .select_tests import run_selected
        chosen = tests[:args.run_top]
        _say(args, f"running {len(chosen)} selected test(s)")
        runs = run_selected(chosen, Path(pr.root), python_path=_python_path(pr), lab=lab_of(pr))
    failed = [r for r in runs if not r.passed]
    if args.json:
        _emit(args, {"branch": pr.branch, "changed": {"files": change.files, "symbols": change.symbols,
                                                      "ops": change.ops, "callables": change.callables},
                     "tests": [t.to_json() for t in tests], "runs": [r.to_json() for r in runs], "note": note})
        return 1 if failed else 0
    if not change.files:
        print("no changes yet: no tests to select")
        return 0
    what = list(change.symbols)[:6] + list(change.ops)[:4]
    print(f"the change touches {len(change.files)} file(s)" + (f": {', '.join(what)}" if what else ""))
    if not tests:
        print("no test in this tree references what changed: say so in the test plan, and add one")
    for i, t in enumerate(tests, 1):
        print(f"{i:3}. {t.name}\n       why: {t.why}\n       run: {t.command}")
    if note:
        print(f"note: {note}", file=sys.stderr)
    for r in runs:
        print(f"{'–' if r.skipped else '✓' if r.passed else '✗'} {r.name} ({r.seconds:.1f} s)")
        if r.skipped:
            print("    " + next((ln for ln in r.output.splitlines() if ln.startswith("not run:")), "not run"))
        if not r.passed:
            print("\n".join("    " + ln for ln in r.output.strip().splitlines()[-15:]))
    if args.run:
        skipped = sum(r.skipped for r in runs)
        print(f"{len(runs) - len(failed) - skipped}/{len(runs)} passed" + (f", {skipped} not run" if skipped else ""))
    elif tests:
        print("run them: torchatlas pr tests --run", file=sys.stderr)
    return 1 if failed else 0


# -- describe ---------------------------------------------------------------------------------------

def _describe(args) -> int:
    pr = _pr(args)
    d = describe_pr(pr, args)
    if args.json:
        _emit(args, {"branch": pr.branch, **d.to_json()})
        return 0
    print(f"title: {d.title}\n")
    print(d.body)
    print("labels to add:")
    for lb in d.labels:
        print(f"  {lb.name!r}  ({lb.why})")
    return 0


# -- submit / rehearse / serve: through the forge ----------------------------------------------------

def _submit(args) -> int:
    from . import rehearse
    pr = _pr(args)
    result = rehearse.submit(pr, github=args.github, server=args.server, remote=args.remote,
                             user=args.user, say=lambda m: _say(args, m), describe=lambda: describe_pr(pr, args))
    if args.json:
        _emit(args, result)
        return 0
    print(f"{'opened' if result['opened'] else 'updated'} pull request #{result['number']}: {result['html_url']}")
    print(f"  branch {pr.branch} -> {result['repo']}:{result['base']} ({result['commit'][:12]})")
    print(f"  labels: {', '.join(result['labels']) or '(none)'}")
    return 0


def _rehearse(args) -> int:
    from . import rehearse
    narrate = None if args.json else (lambda line: print(line, flush=True))
    result = rehearse.rehearse(lab_id=args.lab, workspace=args.workspace, server=args.server, port=args.port,
                               narrate=narrate, solution=args.solution, history=args.history)
    if args.json:
        _emit(args, result)
    else:
        print(f"\n{'merged' if result.get('merged') else 'not merged'} in {result.get('seconds', 0):.1f} s; "
              f"recorded in {result.get('record', '')}")
    return 0 if result.get("merged") or args.history else 1


def _serve(args) -> int:
    from . import rehearse
    return rehearse.serve(args.root, args.port)


ACTIONS = {"start": _start, "lint": _lint, "tests": _tests, "describe": _describe, "submit": _submit,
           "rehearse": _rehearse, "serve": _serve}
