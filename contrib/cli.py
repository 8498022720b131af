"""`torchatlas lab ...`: the presenters of the labs. Each action reads arguments, calls the headless
modules (loader, workspace, runner, devcheck, progress) and prints text or JSON.

Exit codes: 0 ok (check: every check passed); 1 a check failed, a patch did not apply, or an
unknown lab (with "did you mean"); 2 bad usage, a malformed lab or a workspace that cannot be
made; 130 interrupted (the workspace stays as it was).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
import time
from pathlib import Path

from torchatlas.indexes.errors import AtlasError, NotFound

from .loader import LabCatalog, load_labs
from .model import CheckResult, Lab, LabVerdict
from .progress import LabsProgress, labs_home
from .variants import for_source, for_workspace, for_workspace_path

RULE = "-" * 78
OK, FAIL = "✓", "✗"


class MalformedLab(AtlasError):
    exit_code = 2


def run_lab(args: argparse.Namespace) -> int:
    action = getattr(args, "lab_command", None)
    if not action:
        raise AtlasError("`torchatlas lab` needs an action: list, show, start, check, hint, watch, diff, reset, remove, "
                         "solution, status, build or dev", hint="e.g. torchatlas lab list")
    catalog = load_labs(getattr(args, "labs_dir", None) or ())
    for e in catalog.errors:
        print(f"torchatlas: malformed lab: {e}", file=sys.stderr)
    for n in catalog.notes:
        print(f"torchatlas: note: {n}", file=sys.stderr)
    if action == "dev":
        return _dev(args, catalog)
    return ACTIONS[action](args, catalog)


# -- helpers ----------------------------------------------------------------------------------------

def _lab(catalog: LabCatalog, lab_id: str) -> Lab:
    lab = catalog.labs.get(lab_id)
    if lab is not None:
        return lab
    bad = [e for e in catalog.errors if Path(e.path).parent.name == lab_id]
    if bad:
        raise MalformedLab(f"lab {lab_id!r} is malformed: {bad[0]}")
    close = difflib.get_close_matches(lab_id, list(catalog.labs), n=3, cutoff=0.5)
    close += [i for i in catalog.labs if lab_id in i and i not in close][:3]
    hint = f"did you mean {', '.join(close)}?" if close else "`torchatlas lab list` shows the labs"
    raise NotFound(f"no lab {lab_id!r}", hint=hint)


def _say(msg: str) -> None:
    if sys.stderr.isatty():
        print(f"  · {msg}", file=sys.stderr, flush=True)


def _workspace(args, lab: Lab, progress: LabsProgress):
    from .workspace import open_workspace
    path = getattr(args, "workspace", None) or progress.get(lab.id).workspace
    if not path:
        raise AtlasError(f"lab {lab.id!r} has no workspace yet", hint=f"start it: torchatlas lab start {lab.id}")
    ws = open_workspace(Path(path))
    if ws.lab_id != lab.id:
        raise AtlasError(f"{ws.root} is the workspace of lab {ws.lab_id!r}, not {lab.id!r}",
                         hint=f"use: torchatlas lab ... {ws.lab_id} --workspace {ws.root}")
    return ws


def _lab_and_workspace(args, catalog: LabCatalog, progress: LabsProgress | None = None):
    """The lab named by args.id as its workspace was started (the lab, or its checkout variant),
    and that workspace."""
    lab = _lab(catalog, args.id)
    ws = _workspace(args, lab, progress or LabsProgress())
    return for_workspace(lab, ws.variant), ws


def _started_variant(lab: Lab, progress: LabsProgress) -> Lab:
    """For show and hint, which need no workspace: the variant of the learner's workspace, if any."""
    return for_workspace_path(lab, progress.get(lab.id).workspace)


def _wrap(text: str, indent: str = "  ") -> str:
    """Markdown-ish text filled to 78 columns: a paragraph's lines are joined before filling, a list
    item's continuation lines join the item, code blocks, indented lines and tables stay as written."""
    out: list[str] = []
    block: list[str] = []
    lead = ""
    fence = False

    def flush():
        nonlocal block, lead
        if block:
            body = " ".join(line.strip() for line in block)
            out.append(textwrap.fill(body, 78, initial_indent=indent + lead,
                                     subsequent_indent=indent + " " * len(lead)))
        block, lead = [], ""

    for line in text.strip("\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            fence = not fence
            out.append(indent + line)
        elif fence or line.startswith(("    ", "\t", "|")) or stripped.startswith(("#", "|")):
            flush()
            out.append(indent + line)
        elif not stripped:
            flush()
            out.append("")
        elif re.match(r"^\s*([-*]|\d+[.)])\s+", line):
            flush()
            m = re.match(r"^\s*([-*]|\d+[.)])\s+", line)
            lead = m.group(0).lstrip()
            block = [line[m.end():]]
        else:
            block.append(line)
    flush()
    return "\n".join(out)


def _print_result(r: CheckResult) -> None:
    mark = OK if r.passed else FAIL
    hidden = " (hidden)" if r.hidden else ""
    print(f"  {mark} {r.name}{hidden}")
    if r.message and (not r.passed or r.name == "build"):
        for line in r.message.splitlines()[:14]:
            print(f"      {line}")


# -- list / show / status -----------------------------------------------------------------------------

def _list(args, catalog: LabCatalog) -> int:
    progress = LabsProgress()
    labs = [lab for lab in catalog.ordered() if args.theme is None or lab.theme == args.theme]
    if args.json:
        print(json.dumps([{"id": lab.id, "title": lab.title, "theme": lab.theme, "mode": lab.mode.value,
                           "difficulty": lab.difficulty, "minutes": lab.minutes, "summary": lab.summary,
                           "hints": len(lab.hints), "checks": len(lab.checks),
                           "hidden_checks": sum(c.hidden for c in lab.checks),
                           "started": bool(progress.get(lab.id).workspace), "done": progress.get(lab.id).done,
                           "on_checkout": lab.on_checkout.summary if lab.on_checkout else None}
                          for lab in labs], indent=2))
        return 0 if not catalog.errors else 2
    if not labs:
        print(f"no labs for theme {args.theme}" if args.theme is not None else "no labs found")
        return 0 if not catalog.errors else 2
    print(f"{'':2}{'ID':22} {'THEME':>5}  {'MODE':9} {'LEVEL':12} {'MIN':>4}  TITLE")
    room = None
    if sys.stdout.isatty():  # on a terminal a title fits its line; piped output keeps it whole
        import shutil
        room = max(20, shutil.get_terminal_size((100, 24)).columns - 61)
    for lab in labs:
        p = progress.get(lab.id)
        state = OK if p.done else ("…" if p.workspace else " ")
        title = lab.title if room is None or len(lab.title) <= room else lab.title[:room - 1] + "…"
        print(f"{state:2}{lab.id:22} {lab.theme:>5}  {lab.mode.value:9} {lab.difficulty:12} {lab.minutes:>4}  {title}")
    done = sum(progress.get(lab.id).done for lab in labs)
    print(f"\n{done}/{len(labs)} done.  torchatlas lab show ID · torchatlas lab start ID")
    variants = [lab.id for lab in labs if lab.on_checkout]
    if variants:
        print(f"{', '.join(variants)}: on a checkout of the installed torch's release, the lab changes the "
              "checkout's own code (torchatlas lab start ID --source CHECKOUT)")
    return 0 if not catalog.errors else 2


def _show(args, catalog: LabCatalog) -> int:
    progress = LabsProgress()
    lab = _started_variant(_lab(catalog, args.id), progress)
    p = progress.get(lab.id)
    print(f"{lab.title}\n{RULE}")
    print(f"id {lab.id} · theme {lab.theme} · {lab.difficulty} · about {lab.minutes} min · mode {lab.mode.value}")
    print(f"\n{_wrap(lab.task)}\n")
    print("files you edit:\n" + "\n".join(f"  {e}" for e in lab.edits))
    visible = [c for c in lab.checks if not c.hidden]
    print(f"\nchecks: {len(lab.checks)} files ({len(lab.checks) - len(visible)} hidden: you see their verdicts, "
          "not their code)")
    print(f"hints: {len(lab.hints)} (torchatlas lab hint {lab.id})")
    if lab.on_checkout is not None:
        print(f"on a checkout of the installed torch's version: {lab.on_checkout.summary} "
              f"(torchatlas lab start {lab.id} --source CHECKOUT)")
    if p.workspace:
        print(f"\nworkspace: {p.workspace}" + ("  (done)" if p.done else ""))
    else:
        print(f"\nstart it: torchatlas lab start {lab.id}")
    return 0


def _status(args, catalog: LabCatalog) -> int:
    progress = LabsProgress()
    rows = []
    for lab in catalog.ordered():
        p = progress.get(lab.id)
        rows.append({"id": lab.id, "theme": lab.theme, "started": bool(p.workspace), "done": p.done,
                     "checks_passed": p.checks_passed, "checks_total": p.checks_total,
                     "hints_shown": p.hints_shown, "workspace": p.workspace})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    done = sum(r["done"] for r in rows)
    width = 30
    filled = int(width * done / len(rows)) if rows else 0
    print(f"labs: [{'#' * filled}{'.' * (width - filled)}] {done}/{len(rows)} done")
    for r in rows:
        if not r["started"]:
            continue
        mark = OK if r["done"] else "…"
        checks = f"{r['checks_passed']}/{r['checks_total']} checks" if r["checks_total"] else "not checked yet"
        print(f"  {mark} {r['id']:22} {checks:18} hints {r['hints_shown']}  {r['workspace']}")
    if progress.warning:
        print(f"torchatlas: {progress.warning}", file=sys.stderr)
    if rows and done == len(rows):
        print("\nEvery lab is done. Congratulations: you changed real PyTorch code and proved it works. "
              "Next: rehearse the pull request.")
    return 0


# -- start / hint / diff / reset / solution ----------------------------------------------------------

def _start(args, catalog: LabCatalog) -> int:
    from torchatlas.indexes.sources import installed_version, open_source

    from .workspace import create_workspace, open_workspace
    lab = _lab(catalog, args.id)
    progress = LabsProgress()
    dest = Path(args.workspace).expanduser() if args.workspace else labs_home() / lab.id
    if not args.workspace and (dest / ".lab").is_dir():
        ws = open_workspace(dest)
        progress.started(lab.id, ws.root)
        progress.save()
        print(f"lab {lab.id} is already started in {ws.root}: carry on (torchatlas lab reset {lab.id} starts over)")
        return 0
    source = open_source(args.source)
    lab, note = for_source(lab, source.info.layout, source.info.version, installed_version())
    t = time.monotonic()
    ws = create_workspace(lab, source, dest, progress=_say)
    progress.started(lab.id, ws.root)
    progress.save()
    print(f"{lab.title}\n{RULE}\n{_wrap(lab.task)}\n")
    print(f"workspace: {ws.root}  ({ws.kind}, torch {ws.version}, ready in {time.monotonic() - t:.1f} s)")
    if ws.branch:
        print(f"branch:    {ws.branch} (a worktree; your own checkout is untouched)")
    if note:
        print(f"note:      {note}")
    print("edit:\n" + "\n".join(f"  {ws.root / e}" for e in lab.edits))
    print(f"\nthen: torchatlas lab check {lab.id}   (or `lab watch {lab.id}` to re-check on save; "
          f"`lab hint {lab.id}` when stuck)")
    missing = _missing_libraries(lab)
    if missing:
        print(f"\nbefore checking: this lab {missing}", file=sys.stderr)
    return 0


def _missing_libraries(lab: Lab) -> str:
    """'needs onnxruntime: pip install ...' when the lab's checks import libraries this Python lacks."""
    from .devcheck import install_hint, missing_requirements
    missing = missing_requirements(lab)
    return install_hint(lab, missing) if missing else ""


class MissingLibrary(AtlasError):
    """A lab's checks need a library (lab.yaml `requires:`) that is not installed: exit 2, with the extra."""


def _hint(args, catalog: LabCatalog) -> int:
    progress = LabsProgress()
    lab = _started_variant(_lab(catalog, args.id), progress)
    p = progress.get(lab.id)
    if args.all or p.done:
        shown = len(lab.hints)
    else:
        shown = min(p.hints_shown + 1, len(lab.hints))
    p.hints_shown = max(p.hints_shown, shown)
    progress.save()
    for i, h in enumerate(lab.hints[:shown], 1):
        print(f"hint {i}/{len(lab.hints)}:\n{_wrap(h, '  ')}\n")
    if shown < len(lab.hints):
        print(f"(run `torchatlas lab hint {lab.id}` again for the next one)")
    return 0


def _diff(args, catalog: LabCatalog) -> int:
    lab, ws = _lab_and_workspace(args, catalog)
    out = ws.git().diff(ws.starter, stat=args.stat)
    sys.stdout.write(out if out else "no changes since the starter\n")
    return 0


def _save_attempt(ws) -> Path | None:
    """Keep the learner's work as a patch before it is replaced: nothing is ever lost."""
    text = ws.git().diff(ws.starter)
    if not text.strip():
        return None
    ws.meta.mkdir(exist_ok=True)
    path = ws.meta / f"attempt-{time.strftime('%Y%m%d-%H%M%S')}.patch"
    path.write_text(text, encoding="utf-8")
    return path


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise AtlasError(f"{question} needs confirmation", hint="add --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _reset(args, catalog: LabCatalog) -> int:
    from .workspace import reset_workspace
    lab, ws = _lab_and_workspace(args, catalog)
    changed = ws.git().changed_files(ws.starter)
    if changed and not _confirm(f"discard your changes to {len(changed)} file(s) in {ws.root}?", args.yes):
        print("nothing changed")
        return 0
    saved = _save_attempt(ws)
    reset_workspace(ws)
    print(f"{ws.root} is back at the starter" + (f"; your attempt is saved as {saved}" if saved else ""))
    return 0


def _remove(args, catalog: LabCatalog) -> int:
    from .workspace import remove_workspace
    progress = LabsProgress()
    lab, ws = _lab_and_workspace(args, catalog, progress)
    what = "its worktree and branch" if ws.kind == "checkout" else "its files"
    if not _confirm(f"remove the workspace {ws.root} of lab {lab.id} ({what})?", args.yes):
        print("nothing changed")
        return 0
    text = ws.git().diff(ws.starter)
    saved = None
    if text.strip():  # nothing is lost: the attempt outlives the workspace
        saved = labs_home() / "removed" / f"{lab.id}-{time.strftime('%Y%m%d-%H%M%S')}.patch"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(text, encoding="utf-8")
    branch = remove_workspace(ws)
    p = progress.get(lab.id)
    if p.workspace and Path(p.workspace).expanduser().resolve() == ws.root:
        p.workspace = ""  # what was achieved (done, hints) stays
    progress.save()
    print(f"removed {ws.root}" + (f"; {branch}" if branch else "") +
          (f"; your change is saved as {saved}" if saved else "") + f"\nstart again: torchatlas lab start {lab.id}")
    return 0


def _solution(args, catalog: LabCatalog) -> int:
    from .workspace import apply_patch_file, reset_workspace
    lab, ws = _lab_and_workspace(args, catalog)
    if not _confirm(f"replace your work in {ws.root} with the reference solution?", args.yes):
        print("nothing changed")
        return 0
    saved = _save_attempt(ws)
    reset_workspace(ws)
    apply_patch_file(ws.root, lab.solution_patch, kind=ws.kind)
    print(f"the reference solution is applied in {ws.root}" + (f"; your attempt is saved as {saved}" if saved else ""))
    print(f"see it: torchatlas lab diff {lab.id} · verify it: torchatlas lab check {lab.id}")
    return 0


# -- check / watch / build ------------------------------------------------------------------------------

def _verdict(lab: Lab, ws, args, quiet: bool = False) -> LabVerdict:
    from .runner import verify
    from .workspace import check_root
    stream = not args.json and not quiet
    if stream:
        print(f"checking {lab.id} in {ws.root}")
    root, note = check_root(ws)
    if note and not args.json:
        print(f"torchatlas: note: {note}", file=sys.stderr)
    verdict = verify(lab, root, progress=_say if stream else None, on_result=_print_result if stream else None)
    progress = LabsProgress()
    passed = sum(r.passed for r in verdict.results)
    first = progress.record_check(lab.id, passed, len(verdict.results))
    if not progress.get(lab.id).workspace:
        progress.started(lab.id, ws.root)
    progress.save()
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    elif not quiet:
        print(f"\n{passed}/{len(verdict.results)} passed in {verdict.seconds:.1f} s")
        if verdict.passed:
            print(f"{OK} lab {lab.id} done." + ("  Well done: real PyTorch code, changed and proven." if first else ""))
        else:
            print(f"not yet: fix the first failure above; `torchatlas lab hint {lab.id}` when stuck")
    return verdict


def _check(args, catalog: LabCatalog) -> int:
    lab = _lab(catalog, args.id)
    missing = _missing_libraries(lab)
    if missing:
        raise MissingLibrary(f"lab {lab.id} cannot be checked here: it {missing}",
                             hint="the checks import it; nothing was run")
    lab, ws = _lab_and_workspace(args, catalog)
    return 0 if _verdict(lab, ws, args).passed else 1


def _watch(args, catalog: LabCatalog) -> int:
    from .watch import watch
    lab, ws = _lab_and_workspace(args, catalog)
    return watch(lab, ws, lambda: _verdict(lab, ws, args), interval=args.interval)


def _build(args, catalog: LabCatalog) -> int:
    lab, ws = _lab_and_workspace(args, catalog)
    if args.full:
        from .builders.full import describe, plan
        p = plan(ws.root, ws.kind)
        if args.json:
            print(json.dumps(p.to_json(), indent=2))
        else:
            print(describe(p))
        if args.run:
            if not p.possible:
                return 1
            from .builders.full_run import run_full
            return run_full(ws.root, p)
        return 0 if p.possible else 1
    from . import builders
    from .workspace import check_root
    result = builders.build(lab, check_root(ws)[0], progress=_say)
    if args.json:
        print(json.dumps({"lab": lab.id, "ok": result.ok, "mode": result.mode, "cached": result.cached,
                          "seconds": round(result.seconds, 2), "library": str(result.library or ""),
                          "diagnostics": [str(d) for d in result.diagnostics], "summary": result.summary}, indent=2))
    else:
        from .runner import _build_result
        _print_result(_build_result(result))
    return 0 if result.ok else 1


# -- dev check -----------------------------------------------------------------------------------------

def _dev(args, catalog: LabCatalog) -> int:
    from torchatlas.indexes.sources import installed_version, open_source

    from .devcheck import dev_check
    if getattr(args, "dev_command", None) != "check":
        raise AtlasError("`torchatlas lab dev` needs an action: check", hint="torchatlas lab dev check [ID ...]")
    labs = [_lab(catalog, i) for i in args.ids] if args.ids else catalog.ordered()
    if args.theme is not None:
        labs = [lab for lab in labs if lab.theme == args.theme]
    source = open_source(args.source)
    installed = installed_version()
    reports = []
    for lab in labs:
        lab, _note = for_source(lab, source.info.layout, source.info.version, installed)
        if not args.json:
            print(f"{lab.id} ({lab.mode.value}{', its checkout variant' if lab.variant else ''})")

        def on_stage(stage, _json=args.json):
            if not _json:
                mark = OK if stage.ok else FAIL
                took = f"{stage.verdict.seconds:5.1f} s" if stage.verdict else "      "
                want = "pass" if stage.expect_pass else "fail"
                print(f"  {mark} {took}  {stage.name}: must {want}" + (f"\n      {stage.why()}" if not stage.ok else ""))
        report = dev_check(lab, source, partial=not args.no_partial, on_stage=on_stage)
        reports.append(report)
        if not args.json:
            if report.skipped:
                print(f"  - skipped: {report.skipped}")
            else:
                print(f"  {'honest' if report.ok else 'NOT HONEST'} ({report.seconds:.1f} s)")
    if args.json:
        print(json.dumps({"ok": all(r.ok or r.skipped for r in reports) and not catalog.errors,
                          "labs": [r.to_json() for r in reports]}, indent=2))
    else:
        bad = [r.lab for r in reports if not r.ok and not r.skipped]
        skipped = [r.lab for r in reports if r.skipped]
        print(f"\n{len(reports) - len(bad) - len(skipped)}/{len(reports)} labs honest"
              + (f"; skipped: {', '.join(skipped)}" if skipped else "") + (f"; failing: {', '.join(bad)}" if bad else ""))
    return 0 if all(r.ok or r.skipped for r in reports) and not catalog.errors else 1


ACTIONS = {"list": _list, "show": _show, "status": _status, "start": _start, "hint": _hint, "diff": _diff,
           "reset": _reset, "remove": _remove, "solution": _solution, "check": _check, "watch": _watch, "build": _build}
