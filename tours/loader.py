"""Read tour files: YAML -> frozen Tour values, each problem reported as file:line and the field.

One malformed file is one error: the other tours still load. Where tours come from, in order
(a later folder's tour replaces an earlier one with the same id, and says so):

1. the built-in tours shipped in `torchatlas/tours/builtin/`
2. the user's tour folder: `<user data dir>/torchatlas/tours`
3. `./.torchatlas/tours` in the current directory
4. each folder of `TORCHATLAS_TOURS_PATH` (os.pathsep-separated), then each `--tours-dir`
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model import (ANCHOR_KINDS, QUESTION_KINDS, REQUIRES, Anchor, Check, Exercise, Question, Show, Step, Tour,
                    TourError, _release)

BUILTIN_DIR = Path(__file__).parent / "builtin"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

TOUR_FIELDS = {"id", "title", "theme", "minutes", "prerequisites", "checked_on", "steps", "summary", "needs"}
STEP_FIELDS = {"title", "narrative", "anchor", "requires", "run", "check", "timeout", "quiz", "exercise", "picture", "since",
               "until"}
ANCHOR_FIELDS = set(ANCHOR_KINDS) | {"pattern", "in", "show"}
SHOW_FIELDS = {"before", "after", "whole", "max_lines", "focus"}
CHECK_FIELDS = {"question", "answer", "assert"}
QUESTION_FIELDS = {"ask", "answer", "why", "predict", "choices", "expect", "setup", "wrong"}
EXERCISE_FIELDS = {"file", "task", "starter", "solution", "test", "timeout"}
MODULE_FILE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")  # a tour's needs: onnxscript


from torchatlas.indexes.line_yaml import Bad as _Bad  # the shared line-aware YAML
from torchatlas.indexes.line_yaml import Loader as _Loader
from torchatlas.indexes.line_yaml import line_of as _line_of
from torchatlas.indexes.line_yaml import mapping as _mapping
from torchatlas.indexes.line_yaml import str_list as _str_list
from torchatlas.indexes.line_yaml import text as _str
from torchatlas.indexes.line_yaml import unknown as _unknown
from torchatlas.indexes.line_yaml import whole as _int


def _show(v, line: int, where: str) -> Show:
    if v is None:
        return Show()
    if v == "whole":
        return Show(whole=True)
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return Show(after=v)
    if isinstance(v, dict):
        _unknown(v, SHOW_FIELDS, where)
        whole = v.get("whole", False)
        if not isinstance(whole, bool):
            raise _Bad(_line_of(v, "whole"), f"{where}whole", "'whole' must be true or false")
        d = Show()
        max_lines = _int(v, "max_lines", where, 0, minimum=1) if v.get("max_lines") is not None else None
        focus = _regex(v, "focus", where)
        return Show(before=_int(v, "before", where, d.before), after=_int(v, "after", where, d.after),
                    whole=whole, max_lines=max_lines, focus=focus)
    raise _Bad(line, where.rstrip("."), "'show' must be 'whole', a number of lines, or {before, after, whole}")


def _regex(m, key: str, where: str) -> str | None:
    value = _str(m, key, where, required=False)
    if value is not None:
        try:
            re.compile(value)
        except re.error as e:
            raise _Bad(_line_of(m, key), f"{where}{key}", f"not a valid regular expression: {e}") from e
    return value


def _python(m, key: str, where: str, mode: str = "exec", required: bool = False) -> str | None:
    """A field holding Python code, compiled here so that a typo is reported at its line."""
    code = _str(m, key, where, required=required, empty_ok=not required)
    if code is not None:
        try:
            compile(code, f"<{key}>", mode)
        except SyntaxError as e:
            what = "an expression" if mode == "eval" else "Python"
            raise _Bad(_line_of(m, key) + (e.lineno or 1) - (1 if mode == "eval" else 0), f"{where}{key}",
                       f"{key!r} is not valid {what}: {e.msg}") from e
    return code


def _question(m, line: int, where: str) -> Question:
    m = _mapping(m, line, where.rstrip("."), "a quiz question")
    _unknown(m, QUESTION_FIELDS, where)
    ask = _str(m, "ask", where)
    kinds = [k for k in QUESTION_KINDS if m.get(k) is not None]
    if len(kinds) != 1:
        raise _Bad(_line_of(m, kinds[1]) if kinds else m.line, where.rstrip("."),
                   "a question has exactly one of 'predict' (the learner predicts what it prints), 'choices' or "
                   f"'expect' (a check expression); this one has {' and '.join(kinds) if kinds else 'none'}")
    kind = kinds[0]
    answer = _str(m, "answer", where)
    answer = answer.strip()
    why = (_str(m, "why", where, required=False) or "").strip()
    for key in ("setup", "wrong"):
        if m.get(key) is not None and kind != "expect":
            raise _Bad(_line_of(m, key), f"{where}{key}", f"{key!r} goes with an 'expect' question only")
    predict = _python(m, "predict", where, required=kind == "predict") if kind == "predict" else None
    choices: tuple[str, ...] = ()
    if kind == "choices":
        raw = m["choices"]
        if not isinstance(raw, list):
            raise _Bad(_line_of(m, "choices"), f"{where}choices", "'choices' must be a list of at least 2 texts")
        choices = _str_list(m, "choices", where)
        choices = tuple(c.strip() for c in choices)
        if len(choices) < 2:
            raise _Bad(_line_of(m, "choices"), f"{where}choices", "'choices' must list at least 2 answers")
        dup = next((c for i, c in enumerate(choices) if c in choices[:i]), None)
        if dup is not None:
            raise _Bad(_line_of(m, "choices"), f"{where}choices", f"choice {dup!r} is listed twice")
        if answer not in choices:
            raise _Bad(_line_of(m, "answer"), f"{where}answer",
                       f"answer {answer!r} is not one of the choices ({'; '.join(choices)}); write one of them "
                       "exactly")
    expect = setup = None
    wrong: tuple[str, ...] = ()
    if kind == "expect":
        expect = _python(m, "expect", where, mode="eval", required=True).strip()
        setup = _python(m, "setup", where)
        if m.get("wrong") is not None and not isinstance(m["wrong"], list):
            raise _Bad(_line_of(m, "wrong"), f"{where}wrong", "'wrong' must be a list of answers the check rejects")
        wrong = _str_list(m, "wrong", where)
        if answer in wrong:
            raise _Bad(_line_of(m, "wrong"), f"{where}wrong", f"{answer!r} is both the answer and a wrong answer")
    return Question(ask=ask.strip(), kind=kind, answer=answer, predict=predict, choices=choices, expect=expect,
                    setup=setup, wrong=wrong, why=why, line=m.line)


def _quiz(v, line: int, where: str) -> tuple[Question, ...]:
    if isinstance(v, dict):  # one question written without the list
        v = [v]
    if not isinstance(v, list) or not v:
        raise _Bad(line, where.rstrip("."), "'quiz' must be a non-empty list of questions (ask, answer, and one of "
                                            "predict, choices, expect)")
    return tuple(_question(q, getattr(v, "line", line), f"{where}[{k}].") for k, q in enumerate(v, 1))


def _exercise(m, line: int, where: str) -> Exercise:
    m = _mapping(m, line, where.rstrip("."), "'exercise'")
    _unknown(m, EXERCISE_FIELDS, where)
    name = _str(m, "file", where).strip()
    if not MODULE_FILE_RE.match(name):
        raise _Bad(_line_of(m, "file"), f"{where}file",
                   f"{name!r} must be a plain Python file name that imports as a module (softplus_fn.py)")
    task = _str(m, "task", where)
    test = _python(m, "test", where, required=True)
    solution = _python(m, "solution", where, required=True)
    starter = _python(m, "starter", where) or ""
    timeout = _int(m, "timeout", where, 120, minimum=1)
    return Exercise(file=name, task=task.rstrip() + "\n", test=test, starter=starter, solution=solution,
                    timeout=float(timeout), line=m.line)


def _version(m, key: str, where: str) -> str | None:
    if isinstance(m.get(key), float):  # 2.10 would read as 2.1
        raise _Bad(_line_of(m, key), f"{where}{key}", f"write the version in quotes: {key}: \"{m[key]}\"")
    v = _str(m, key, where, required=False)
    if v is not None:
        v = v.strip()
        if not _release(v) or not re.match(r"^\d+(\.\d+){0,2}$", v):
            raise _Bad(_line_of(m, key), f"{where}{key}", f"{key!r} must be a torch version like \"2.1\", not {v!r}")
    return v


def _anchor(m, line: int, where: str) -> Anchor:
    m = _mapping(m, line, where.rstrip("."), "an anchor")
    kinds = [k for k in m if k in ANCHOR_KINDS]
    others = [k for k in m if k not in ANCHOR_FIELDS]
    if not kinds:
        if others:
            k = others[0]
            raise _Bad(_line_of(m, k), f"{where}{k}",
                       f"unknown anchor kind {k!r} (known: {', '.join(ANCHOR_KINDS)})")
        raise _Bad(m.line, where.rstrip("."), f"the anchor names nothing: give one of {', '.join(ANCHOR_KINDS)}")
    if len(kinds) > 1:
        raise _Bad(_line_of(m, kinds[1]), f"{where}{kinds[1]}",
                   f"an anchor has one kind, this one has {len(kinds)} ({', '.join(kinds)}); "
                   "list alternatives as a list of anchors instead")
    _unknown(m, ANCHOR_FIELDS, where)
    kind = kinds[0]
    target = _str(m, kind, where)
    pattern = _str(m, "pattern", where, required=False)
    if pattern is not None:
        if kind != "file":
            raise _Bad(_line_of(m, "pattern"), f"{where}pattern", "'pattern' goes with a 'file' anchor only")
        try:
            re.compile(pattern)
        except re.error as e:
            raise _Bad(_line_of(m, "pattern"), f"{where}pattern", f"not a valid regular expression: {e}") from e
    hint = _str(m, "in", where, required=False)
    if hint is not None and kind not in ("cpp", "python"):
        raise _Bad(_line_of(m, "in"), f"{where}in", "'in' (a path hint) goes with 'cpp' and 'python' anchors only")
    show = _show(m.get("show"), _line_of(m, "show"), f"{where}show.")
    if kind == "op" and not target.startswith("aten::") and "::" not in target:
        pass  # `add.Tensor` is accepted and normalised by the resolver
    return Anchor(kind=kind, target=target.strip(), pattern=pattern, hint=hint, show=show, line=m.line)


def _check(m, line: int, where: str) -> Check:
    m = _mapping(m, line, where.rstrip("."), "'check'")
    _unknown(m, CHECK_FIELDS, where)
    q = _str(m, "question", where, required=False)
    a = _str(m, "answer", where, required=False)
    code = _str(m, "assert", where, required=False)
    if q is None and code is None:
        raise _Bad(m.line, where.rstrip("."), "'check' needs a 'question' (with an 'answer') or an 'assert'")
    if q is not None and a is None:
        raise _Bad(_line_of(m, "question"), f"{where}answer", "a 'question' needs an 'answer'")
    if code is not None:
        try:
            compile(code, "<assert>", "exec")
        except SyntaxError as e:
            raise _Bad(_line_of(m, "assert") + (e.lineno or 1), f"{where}assert",
                       f"the assertion is not valid Python: {e.msg}") from e
    return Check(question=q, answer=a, assertion=code)


def _step(m, line: int, i: int) -> Step:
    where = f"steps[{i}]."
    m = _mapping(m, line, where.rstrip("."), f"step {i}")
    _unknown(m, STEP_FIELDS, where)
    title = _str(m, "title", where)
    narrative = _str(m, "narrative", where)
    if "anchor" not in m or m["anchor"] is None:
        raise _Bad(m.line, f"{where}anchor", "missing required field 'anchor' (what the step shows)")
    raw = m["anchor"]
    if isinstance(raw, list):
        if not raw:
            raise _Bad(_line_of(m, "anchor"), f"{where}anchor", "an empty list of anchors")
        anchors = tuple(_anchor(a, getattr(raw, "line", 0), f"{where}anchor[{j}].") for j, a in enumerate(raw))
    else:
        anchors = (_anchor(raw, _line_of(m, "anchor"), f"{where}anchor."),)
    requires = _str(m, "requires", where, required=False)
    if requires is not None and requires not in REQUIRES:
        raise _Bad(_line_of(m, "requires"), f"{where}requires",
                   f"unknown requirement {requires!r} (known: {', '.join(REQUIRES)})")
    run = _str(m, "run", where, required=False)
    picture = _python(m, "picture", where)
    check = _check(m["check"], _line_of(m, "check"), f"{where}check.") if m.get("check") is not None else None
    timeout = _int(m, "timeout", where, 60, minimum=1)
    quiz = _quiz(m["quiz"], _line_of(m, "quiz"), f"{where}quiz") if m.get("quiz") is not None else ()
    exercise = (_exercise(m["exercise"], _line_of(m, "exercise"), f"{where}exercise.")
                if m.get("exercise") is not None else None)
    since, until = _version(m, "since", where), _version(m, "until", where)
    if since and until and _release(since) > _release(until):
        raise _Bad(_line_of(m, "until"), f"{where}until", f"'until' ({until}) is before 'since' ({since})")
    return Step(title=title, narrative=narrative.rstrip() + "\n", anchors=anchors, requires=requires, run=run,
                check=check, timeout=float(timeout), line=m.line, quiz=quiz, exercise=exercise, since=since,
                until=until, picture=picture)


def parse_tour(text: str, path: str, origin: str = "builtin") -> Tour:
    """One tour from YAML text; raises TourLoadError (file:line, field) when it is malformed."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _Bad as e:
        raise TourLoadError(TourError(path, e.line, e.field, e.message)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else 0
        msg = getattr(e, "problem", None) or str(e)
        raise TourLoadError(TourError(path, line, "", f"not valid YAML: {msg}")) from None
    try:
        return _tour(data, path, origin)
    except _Bad as e:
        raise TourLoadError(TourError(path, e.line, e.field, e.message)) from None


def _tour(data, path: str, origin: str) -> Tour:
    if not isinstance(data, dict):
        raise _Bad(getattr(data, "line", 1), "", "a tour file holds one mapping (id, title, theme, minutes, steps)")
    _unknown(data, TOUR_FIELDS, "")
    tid = _str(data, "id", "")
    if not ID_RE.match(tid):
        raise _Bad(_line_of(data, "id"), "id", f"id {tid!r} must be lower-case letters, digits, '-' or '_'")
    title = _str(data, "title", "")
    theme = _str(data, "theme", "")
    minutes = _int(data, "minutes", "", minimum=1)
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise _Bad(_line_of(data, "steps"), "steps", "'steps' must be a non-empty list of steps")
    steps = tuple(_step(s, getattr(steps_raw, "line", 0), i + 1) for i, s in enumerate(steps_raw))
    files: dict[str, int] = {}
    for i, s in enumerate(steps, 1):
        if s.exercise is not None:
            if s.exercise.file in files:
                raise _Bad(s.exercise.line, f"steps[{i}].exercise.file",
                           f"{s.exercise.file!r} is also the scratch file of step {files[s.exercise.file]}; "
                           "give each exercise its own file")
            files[s.exercise.file] = i
    needs = _str_list(data, "needs", "")
    for module in needs:
        if not MODULE_RE.match(module):
            raise _Bad(_line_of(data, "needs"), "needs",
                       f"{module!r} is not a Python module name (needs: lists the modules the snippets import, "
                       "such as onnxscript)")
    return Tour(id=tid, title=title, theme=theme, minutes=minutes, steps=steps,
                prerequisites=_str_list(data, "prerequisites", ""), checked_on=_str_list(data, "checked_on", ""),
                summary=(_str(data, "summary", "", required=False) or "").strip(), path=path, origin=origin,
                needs=tuple(needs))


class TourLoadError(Exception):
    def __init__(self, error: TourError):
        super().__init__(str(error))
        self.error = error


# -- discovery ------------------------------------------------------------------------------------

def user_tour_dirs(extra: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The user's tour folders, in order of precedence (later wins)."""
    import platformdirs
    dirs = [Path(platformdirs.user_data_dir("torchatlas")) / "tours", Path.cwd() / ".torchatlas" / "tours"]
    env = os.environ.get("TORCHATLAS_TOURS_PATH", "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p).expanduser() for p in extra]
    return dirs


@dataclass
class Catalog:
    """Every tour found, by id, and every file that failed to load (the others still load)."""

    tours: dict[str, Tour] = field(default_factory=dict)
    errors: list[TourError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # overrides of one tour by another

    def ordered(self) -> list[Tour]:
        return list(self.tours.values())


BUILTIN_ORDER = ("source-layout", "tensors", "dispatch", "autograd", "codegen", "nn-module", "fx")


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_file(path: Path, origin: str = "user") -> Tour:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TourLoadError(TourError(str(path), 0, "", f"cannot read the tour file: {e}")) from None
    return parse_tour(text, str(path), origin)


def load_catalog(extra_dirs: list[str] | tuple[str, ...] = (), builtin: bool = True,
                 user: bool = True) -> Catalog:
    cat = Catalog()
    folders: list[tuple[Path, str]] = [(BUILTIN_DIR, "builtin")] if builtin else []
    if user:
        seen = set()
        for d in user_tour_dirs(extra_dirs):
            key = d.resolve() if d.exists() else d
            if key in seen:
                continue
            seen.add(key)
            folders.append((d, "user"))
    else:
        folders += [(Path(p).expanduser(), "user") for p in extra_dirs]
    for folder, origin in folders:
        in_folder: dict[str, str] = {}
        for path in _files(folder):
            try:
                tour = load_file(path, origin)
            except TourLoadError as e:
                cat.errors.append(e.error)
                continue
            if tour.id in in_folder:
                cat.errors.append(TourError(str(path), 1, "id", f"tour id {tour.id!r} is also used by "
                                                                 f"{in_folder[tour.id]}; this file is ignored"))
                continue
            in_folder[tour.id] = str(path)
            if tour.id in cat.tours:
                cat.notes.append(f"{path}: tour {tour.id!r} replaces the one in {cat.tours[tour.id].path}")
            cat.tours[tour.id] = tour
    order = {tid: i for i, tid in enumerate(BUILTIN_ORDER)}
    cat.tours = dict(sorted(cat.tours.items(), key=lambda kv: (kv[1].origin != "builtin",
                                                               order.get(kv[0], len(order)), kv[0])))
    return cat
