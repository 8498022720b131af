"""`torchatlas tours list | show ID [--step N] [--quiz] | check [--run] | answer | exercise | grade`:
the presenters.

Exit codes: 0 ok; 1 unresolved steps (check), a failing snippet, assertion, quiz answer or
exercise (check --run), a wrong answer (answer), a failing exercise (grade), or an unknown tour
(with suggestions); 2 bad usage or a malformed tour file (the other tours still load).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from torchatlas.indexes.errors import AtlasError, NotFound

from .engine import StepReport, check_tours, play_steps, suggest_tours, summarize, version_note
from .runner import missing_modules, needs_note
from .links import linked_tours
from .loader import Catalog, load_catalog
from .model import Tour

RULE = "-" * 78


class MalformedTour(AtlasError):
    exit_code = 2


def run_tours(args: argparse.Namespace, open_index=None) -> int:
    """`open_index(args) -> Index` comes from the CLI layer (it builds a missing index with progress
    on the terminal): the tours never import the shell above them."""
    action = getattr(args, "tours_command", None)
    if not action:
        raise AtlasError("`torchatlas tours` needs an action: list, show ID or check",
                         hint="e.g. torchatlas tours list")
    catalog = load_catalog(getattr(args, "tours_dir", None) or ())
    if action == "list":
        return _list(args, catalog)
    if action == "picture":
        return _picture(args, find_tour(catalog, args.id))
    if action in ("answer", "exercise", "grade"):
        from . import learn
        return {"answer": learn.answer, "exercise": learn.exercise, "grade": learn.grade}[action](
            args, find_tour(catalog, args.id))
    if open_index is None:
        raise AtlasError("internal: `tours show/check` needs the CLI's open_index")
    return {"show": _show, "check": _check}[action](args, catalog, open_index)


def _print_errors(catalog: Catalog) -> None:
    for e in catalog.errors:
        print(f"torchatlas: malformed tour: {e}", file=sys.stderr)
    for n in catalog.notes:
        print(f"torchatlas: note: {n}", file=sys.stderr)


def find_tour(catalog: Catalog, tour_id: str) -> Tour:
    if tour_id in catalog.tours:
        return catalog.tours[tour_id]
    for e in catalog.errors:  # a tour that failed to load: say why, not "unknown"
        if tour_id and (e.path.endswith(f"/{tour_id}.yaml") or e.path.endswith(f"/{tour_id}.yml")):
            raise MalformedTour(f"tour {tour_id!r} is malformed: {e}")
    ids = list(catalog.tours)
    raise NotFound(f"no tour named {tour_id!r}", suggest_tours(tour_id, ids, {t.id: t.title for t in
                                                                               catalog.tours.values()}),
                   hint="" if ids else "no tours found")


# -- list -----------------------------------------------------------------------------------------

def _list(args: argparse.Namespace, catalog: Catalog) -> int:
    from .progress import Progress
    progress = Progress()
    tours = catalog.ordered()
    if args.json:
        print(json.dumps({"tours": [{"id": t.id, "title": t.title, "theme": t.theme, "minutes": t.minutes,
                                     "steps": len(t.steps), "questions": t.questions, "exercises": t.exercises,
                                     "prerequisites": list(t.prerequisites),
                                     "checked_on": list(t.checked_on), "path": t.path, "origin": t.origin,
                                     "progress": _progress_json(progress, t)} for t in tours],
                          "errors": [e.__dict__ for e in catalog.errors]}, indent=2))
    else:
        w = max([len(t.id) for t in tours] + [2])
        for t in tours:
            p = progress.get(t.id)
            mark = "done" if p.finished else (f"at {p.step}/{len(t.steps)}" if p.seen else "")
            origin = "" if t.origin == "builtin" else f"  [{t.path}]"
            print(f"{t.id:<{w}}  {len(t.steps):>2} steps  ~{t.minutes:>3} min  {t.title}"
                  + (f"  ({mark})" if mark else "") + origin)
            work = f"; {t.questions} questions, {t.exercises} exercise{'s' if t.exercises != 1 else ''}" \
                if t.questions or t.exercises else ""
            print(f"{'':<{w}}  theme: {t.theme}{work}" + (f"; after: {', '.join(t.prerequisites)}"
                                                          if t.prerequisites else ""))
        if not tours:
            print("no tours found")
        print("\nstart one: torchatlas tours show ID   (it resumes where you left off; --step N jumps)")
    _print_errors(catalog)
    return 2 if catalog.errors else 0


def _progress_json(progress, t: Tour) -> dict:
    p = progress.get(t.id)
    return {"next_step": p.step, "seen": p.seen, "finished": p.finished, "done": p.done_steps(t),
            "questions_right": sum(1 for v in p.quiz.values() if v.get("state") == "right"),
            "exercises_passed": sum(1 for v in p.exercises.values() if v.get("passed"))}


# -- show -----------------------------------------------------------------------------------------

def _show(args: argparse.Namespace, catalog: Catalog, open_index) -> int:
    from .anchors import AnchorContext
    from .progress import Progress
    tour = find_tour(catalog, args.id)
    progress = Progress()
    if args.restart:
        progress.reset(tour.id)
    n = len(tour.steps)
    if args.step is not None:
        if not 1 <= args.step <= n:
            raise AtlasError(f"tour {tour.id!r} has steps 1 to {n}, not {args.step}")
        numbers = list(range(args.step, n + 1)) if args.all else [args.step]
    elif args.all:
        numbers = list(range(1, n + 1))
    else:
        p = progress.get(tour.id)
        start = 1 if p.finished and p.step >= n and n in p.seen else p.step
        numbers = [min(max(start, 1), n)]
    index = open_index(args)
    ctx = AnchorContext.of(index)
    missing = missing_modules(tour.needs) if not args.no_run else ()
    if missing:
        print(f"torchatlas: note: {needs_note(tour.id, missing)}", file=sys.stderr)
    reports = play_steps(tour, numbers, ctx, run=not args.no_run and not missing)
    for r in reports:
        progress.mark_seen(tour.id, r.number, n)
    progress.save()
    quiz = bool(getattr(args, "quiz", False)) and not args.json
    if args.json:
        print(json.dumps({"tour": tour.id, "title": tour.title, "source": index.source.as_json(),
                          "version_note": version_note(tour, index.source.version) or None,
                          "steps": [{**r.as_json(), "narrative": r.step.narrative, "run_code": r.step.run,
                                     "question": r.step.check.question if r.step.check else None,
                                     "answer": r.step.check.answer if r.step.check else None,
                                     "quiz": [_question_json(q) for q in r.step.quiz],
                                     "exercise": _exercise_json(tour, r.number) if r.step.exercise else None,
                                     "excerpt": ([{"line": ln, "text": t} for ln, t in r.excerpt.lines]
                                                 if r.excerpt else None)} for r in reports]}, indent=2))
        return 0
    note = version_note(tour, index.source.version)
    if note:
        print(f"torchatlas: warning: {note}", file=sys.stderr)
    _print_header(tour, index.source)
    asker = None
    if quiz:
        from .learn import Asker
        asker = Asker(tour, progress)
        asker.prefetch([r.number for r in reports])
    known = frozenset(catalog.tours)
    for r in reports:
        _print_step(tour, r, n, quiz=quiz, links=linked_tours(tour, r.step, known))
        if asker is not None and not asker.ask_step(r.number):
            progress.save()
            print("(end of input: stopping here; your answers so far are saved)")
            return 0
    if asker is not None:
        progress.save()
    last = reports[-1].number
    print(RULE)
    if last < n:
        print(f"next: torchatlas tours show {tour.id}   (step {last + 1} of {n}: {tour.steps[last].title})")
    else:
        print(f"end of the tour {tour.id!r}. Others: torchatlas tours list")
    if progress.warning:
        print(f"torchatlas: {progress.warning}", file=sys.stderr)
    _print_errors_brief(catalog)
    return 0


def _print_errors_brief(catalog: Catalog) -> None:
    if catalog.errors:
        print(f"torchatlas: {len(catalog.errors)} other tour file(s) are malformed; `torchatlas tours list` "
              "names them", file=sys.stderr)


def _print_header(tour: Tour, source) -> None:
    print(f"{tour.title}  [{tour.id}, ~{tour.minutes} min, {len(tour.steps)} steps]")
    print(f"source: torch {source.version} ({source.kind}: {source.root})")
    if tour.prerequisites:
        print(f"after: {', '.join(tour.prerequisites)}")


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + ln if ln.strip() else "" for ln in text.rstrip().splitlines())


def _question_json(q) -> dict:
    return {"ask": q.ask, "kind": q.kind, "predict": q.predict, "choices": list(q.choices) or None,
            "expect": q.expect, "answer": q.answer, "wrong": list(q.wrong) or None, "why": q.why or None}


def _exercise_json(tour: Tour, number: int) -> dict:
    from .exercises import scratch_path
    ex = tour.steps[number - 1].exercise
    return {"file": ex.file, "task": ex.task, "scratch": str(scratch_path(tour.id, ex)), "timeout": ex.timeout}


def _print_step(tour: Tour, r: StepReport, n: int, quiz: bool = False, links: tuple[str, ...] = ()) -> None:
    s, res = r.step, r.resolution
    print(RULE)
    print(f"step {r.number} of {n}: {s.title}")
    print()
    print(_indent(textwrap.dedent(s.narrative)))
    print()
    if res.status == "resolved" and r.excerpt:
        ex = r.excerpt
        print(f"  {ex.path}:{ex.anchor_line}   ({res.label})")
        w = len(str(ex.lines[-1][0]))
        for ln, text in ex.lines:
            mark = ">" if ln == ex.anchor_line else " "
            print(f"  {mark} {ln:>{w}} | {text}")
        if ex.more:
            print(f"    {'':>{w}} | ... ({ex.more} more lines)")
        if res.reason:
            print(f"  ({res.reason})")
    elif res.status == "skipped":
        reason = res.reason.replace(f"; read it on GitHub: {res.link}", "") if res.link else res.reason
        print(f"  [{res.anchor.describe() if res.anchor else 'anchor'}: skipped here: {reason}]")
        if res.link:
            print(f"  read it on GitHub (the commit the installed torch was built from):\n    {res.link}")
    else:
        print(f"  [anchor not found on this source: {res.reason}]")
        if res.candidates:
            print("  closest:")
            for c in res.candidates:
                print(f"    {c}")
        print("  (the tour goes on)")
    if s.run:
        print()
        print("  run (installed torch):")
        print(_indent(s.run, "    | "))
        if r.run is None:
            print("  (not run: --no-run)")
        else:
            out = r.run.output.rstrip()
            print("  output:")
            print(_indent(out, "    ") if out else "    (no output)")
            if not r.run.ok and not r.run.timed_out:
                print("    (the snippet raised; its output is above, and the tour goes on)")
    if s.check:
        print()
        if s.check.question:
            print(f"  question: {s.check.question.strip()}")
            print(f"  answer:   {s.check.answer.strip()}")
        if s.check.assertion:
            print("  check (asserted on the installed torch):")
            print(_indent(s.check.assertion, "    | "))
            if r.assertion is None:
                print("  (not run: --no-run)")
            elif r.assertion.ok:
                print("    holds")
            else:
                print("    DOES NOT HOLD on this torch:")
                print(_indent(r.assertion.output, "    "))
    if s.quiz and not quiz:
        print()
        print(f"  {len(s.quiz)} checked question{'s' if len(s.quiz) > 1 else ''}: "
              f"torchatlas tours show {tour.id} --step {r.number} --quiz   (or: tours answer {tour.id} "
              f"--step {r.number} [--question K] TEXT)")
        for k, q in enumerate(s.quiz, 1):
            print(f"    {k}. {q.ask}")
            if q.predict:
                print(_indent(q.predict, "       | "))
            for i, c in enumerate(q.choices, 1):
                print(f"       {i}. {c}")
    if s.exercise:
        print()
        print("  exercise:")
        print(_indent(textwrap.dedent(s.exercise.task), "    "))
        print(f"  start it: torchatlas tours exercise {tour.id} --step {r.number}   "
              f"grade it: torchatlas tours grade {tour.id} --step {r.number}")
    if s.picture:
        print()
        print(f"  picture: torchatlas tours picture {tour.id} --step {r.number}   (draws what this step builds; "
              "--out FILE.svg|.png|.dot)")
    if links:
        print()
        print("  see also: " + " · ".join(f"the {t} tour (torchatlas tours show {t})" for t in links))


# -- picture --------------------------------------------------------------------------------------

def _picture(args: argparse.Namespace, tour: Tour) -> int:
    """Run a step's picture snippet on the installed torch and write its diagram."""
    from .pictures import draw
    with_pictures = [i for i, s in enumerate(tour.steps, 1) if s.picture]
    if not with_pictures:
        raise NotFound(f"tour {tour.id!r} has no pictures")
    number = args.step if args.step is not None else with_pictures[0]
    if number not in with_pictures:
        raise NotFound(f"step {number} of tour {tour.id!r} has no picture",
                       hint=f"steps with one: {', '.join(map(str, with_pictures))}")
    written, problem = draw(tour, number, args.out)
    if args.json:
        print(json.dumps({"tour": tour.id, "step": number, "path": str(written), "note": problem or None}))
    else:
        print(f"{tour.id} step {number}: wrote {written}")
        if problem:
            print(f"torchatlas: note: {problem}", file=sys.stderr)
    return 0


# -- check ----------------------------------------------------------------------------------------

def _check(args: argparse.Namespace, catalog: Catalog, open_index) -> int:
    from .anchors import AnchorContext
    if args.ids:
        tours = [find_tour(catalog, i) for i in args.ids]
    else:
        tours = catalog.ordered()
    index = open_index(args)
    src = index.source
    ctx = AnchorContext.of(index)
    missing = {t.id: m for t in tours if args.run and (m := missing_modules(t.needs))}
    reports = check_tours(tours, ctx, run=args.run, workers=max(1, args.jobs), not_run=frozenset(missing))
    summary = summarize(reports)
    by_tour: dict[str, list[StepReport]] = {}
    for r in reports:
        by_tour.setdefault(r.tour, []).append(r)
    if args.json:
        print(json.dumps({
            "source": src.as_json(), "summary": summary,
            "tours": [{"id": t.id, "title": t.title, "path": t.path, "checked_on": list(t.checked_on),
                       "version_note": version_note(t, src.version) or None,
                       "not_run": needs_note(t.id, missing[t.id]) if t.id in missing else None,
                       "summary": summarize(by_tour.get(t.id, [])),
                       "steps": [r.as_json() for r in by_tour.get(t.id, [])]} for t in tours],
            "errors": [e.__dict__ for e in catalog.errors]}, indent=2))
    else:
        print(f"tours check: torch {src.version} ({src.kind}: {src.root})")
        for t in tours:
            rs = by_tour.get(t.id, [])
            c = summarize(rs)
            print(f"\n{t.id}: {t.title}  ({c['steps']} steps: {c['resolved']} resolved, {c['unresolved']} "
                  f"unresolved, {c['skipped']} skipped)")
            note = version_note(t, src.version)
            if note:
                print(f"  warning: {note}")
            if t.id in missing:
                print(f"  not run: {needs_note(t.id, missing[t.id])}")
            for r in rs:
                res = r.resolution
                status = res.status.upper() if res.status == "unresolved" else res.status
                what = res.location if res.status == "resolved" else res.reason
                print(f"  {r.number:>3} {status:<10} {r.step.title[:44]:<44} {what}")
                if res.status == "resolved" and res.reason:
                    print(f"      {'':<10} ({res.reason})")
                if res.status == "unresolved" and res.candidates:
                    print(f"      {'':<10} closest: {'; '.join(res.candidates[:4])}")
                for label, rr in (("run", r.run), ("assert", r.assertion)):
                    if rr is not None and not rr.ok:
                        last = (rr.output.strip().splitlines() or ["(no output)"])[-1]
                        print(f"      {'':<10} {label} FAILED on the installed torch: {last[:120]}")
                for q in r.questions:
                    verdict = "ok" if q.ok else f"FAILED: {q.detail}"
                    print(f"      {'':<10} quiz {q.number} ({q.kind}): {verdict}")
                if r.exercise is not None:
                    ex = r.exercise
                    verdict = (f"ok (starter fails in {ex.starter.seconds:.1f} s, solution passes in "
                               f"{ex.solution.seconds:.1f} s)" if ex.ok else f"FAILED: {ex.detail}")
                    print(f"      {'':<10} exercise {r.step.exercise.file}: {verdict}")
                if r.picture is not None and not r.picture.ok:
                    last = (r.picture.output.strip().splitlines() or ["(no output)"])[-1]
                    print(f"      {'':<10} picture FAILED: {last[:120]}")
                if r.missing:
                    print(f"      {'':<10} warning: the narrative names {', '.join('`' + m + '`' for m in r.missing)}"
                          ": in the anchored definition, not in the excerpt (show: {focus: REGEX} centres it)")
        extra = ""
        if "snippets_run" in summary:
            extra = f"; {summary['snippets_run']} snippets run, {summary['snippets_failed']} failed"
        if "questions_failed" in summary:
            extra += f"; {summary['questions']} questions proved, {summary['questions_failed']} failed"
        if "exercises_failed" in summary:
            extra += f"; {summary['exercises']} exercises proved, {summary['exercises_failed']} failed"
        if "pictures_failed" in summary:
            extra += f"; {summary['pictures']} pictures drawn, {summary['pictures_failed']} failed"
        if summary["missing_identifier_warnings"]:
            extra += (f"; {summary['missing_identifier_warnings']} warnings: names the narrative discusses "
                      "outside the excerpt")
        print(f"\ntotal: {summary['steps']} steps in {len(tours)} tours: {summary['resolved']} resolved, "
              f"{summary['unresolved']} unresolved, {summary['skipped']} skipped (need a checkout); "
              f"{summary['resolved_pct']}% of the steps that apply resolve{extra}")
    _print_errors(catalog)
    if catalog.errors:
        return 2
    failed = (summary.get("snippets_failed") or summary.get("questions_failed") or summary.get("exercises_failed")
              or summary.get("pictures_failed"))
    return 1 if summary["unresolved"] or failed else 0
