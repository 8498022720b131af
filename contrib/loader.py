"""Read lab folders: lab.yaml -> a frozen Lab, each problem reported as file:line and the field.

One malformed lab is one error; the other labs still load. Labs come from the folders shipped in
`torchatlas/patches/` (one folder per lab), then from each folder of `TORCHATLAS_LABS_PATH`
(os.pathsep-separated; a later lab with the same id replaces an earlier one, and says so).
The YAML is read with the tours' line-aware loader (`indexes/line_yaml.py`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import yaml

from torchatlas.indexes import line_yaml as ly

from .model import DIFFICULTIES, BuildMode, BuildSpec, Check, Lab, LabError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "patches"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
THEMES = range(1, 29)  # CURRICULUM.md: 1-19, and 20-28 the domain deep dives and contribution

LAB_FIELDS = {"id", "title", "theme", "difficulty", "minutes", "mode", "summary", "task", "hints", "edits",
              "checks", "build", "requires", "extra"}
CHECK_FIELDS = {"file", "hidden", "timeout"}
BUILD_FIELDS = {"name", "sources", "per_capability", "extra_cflags"}
NEEDS_BUILD = (BuildMode.EXTENSION, BuildMode.NATIVE)
CHECKOUT_VARIANT = "checkout"  # the sub-folder holding a lab's checkout variant


class LabLoadError(Exception):
    def __init__(self, error: LabError):
        super().__init__(str(error))
        self.error = error


def _relative(path: str, line: int, fld: str) -> str:
    """A path inside the workspace or lab folder: relative, no `..`, forward slashes."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path or not p.parts:
        raise ly.Bad(line, fld, f"{path!r} must be a relative path inside the folder (no '..', not absolute)")
    return str(p)


def _checks(raw, line: int, folder: Path) -> tuple[Check, ...]:
    if not isinstance(raw, list) or not raw:
        raise ly.Bad(line, "checks", "'checks' must be a non-empty list of {file, hidden, timeout}")
    out = []
    for i, m in enumerate(raw):
        where = f"checks[{i + 1}]."
        if isinstance(m, str):
            m = ly.Map(file=m)
            m.line, m.key_lines = getattr(raw, "line", line), {}
        m = ly.mapping(m, getattr(raw, "line", line), where.rstrip("."), "a check")
        ly.unknown(m, CHECK_FIELDS, where)
        file = _relative(ly.text(m, "file", where), ly.line_of(m, "file"), f"{where}file")
        if not (folder / file).is_file():
            raise ly.Bad(ly.line_of(m, "file"), f"{where}file", f"no such check file {file!r} in {folder}")
        hidden = m.get("hidden", False)
        if not isinstance(hidden, bool):
            raise ly.Bad(ly.line_of(m, "hidden"), f"{where}hidden", "'hidden' must be true or false")
        timeout = ly.whole(m, "timeout", where, 120, minimum=1)
        out.append(Check(file=file, hidden=hidden, timeout=float(timeout), line=m.line))
    return tuple(out)


def _build(raw, line: int, mode: BuildMode) -> BuildSpec:
    if raw is None:
        if mode in NEEDS_BUILD:
            raise ly.Bad(line, "build", f"a lab of mode {mode.value!r} needs 'build' (name, sources)")
        return BuildSpec()
    m = ly.mapping(raw, line, "build", "'build'")
    ly.unknown(m, BUILD_FIELDS, "build.")
    name = ly.text(m, "name", "build.")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ly.Bad(ly.line_of(m, "name"), "build.name", f"library name {name!r} must be a C identifier")
    sources = tuple(_relative(s, ly.line_of(m, "sources"), "build.sources") for s in ly.str_list(m, "sources", "build."))
    per_cap = tuple(_relative(s, ly.line_of(m, "per_capability"), "build.per_capability")
                    for s in ly.str_list(m, "per_capability", "build."))
    if not sources and not per_cap:
        raise ly.Bad(m.line, "build.sources", "'build' needs at least one source file")
    return BuildSpec(name=name, sources=sources, per_capability=per_cap,
                     extra_cflags=ly.str_list(m, "extra_cflags", "build."), line=m.line)


def parse_lab(text: str, folder: Path, path: str, lab_id: str | None = None) -> Lab:
    """One lab from its lab.yaml text; raises LabLoadError (file:line, field) when it is malformed.
    `lab_id`: the id it must have (default: its folder's name)."""
    try:
        data = ly.load(text)
    except ly.Bad as e:
        raise LabLoadError(LabError(path, e.line, e.field, e.message)) from None
    except yaml.YAMLError as e:
        line, msg = ly.yaml_error_line(e)
        raise LabLoadError(LabError(path, line, "", f"not valid YAML: {msg}")) from None
    try:
        return _lab(data, folder, path, lab_id)
    except ly.Bad as e:
        raise LabLoadError(LabError(path, e.line, e.field, e.message)) from None


def _lab(data, folder: Path, path: str, lab_id: str | None = None) -> Lab:
    if not isinstance(data, dict):
        raise ly.Bad(getattr(data, "line", 1), "", "a lab.yaml holds one mapping (id, title, theme, mode, task, checks, ...)")
    ly.unknown(data, LAB_FIELDS, "")
    lid = ly.text(data, "id", "")
    if not ID_RE.match(lid):
        raise ly.Bad(ly.line_of(data, "id"), "id", f"id {lid!r} must be lower-case letters, digits or '-'")
    if lid != (lab_id or folder.name):
        want = lab_id or folder.name
        raise ly.Bad(ly.line_of(data, "id"), "id", f"id {lid!r} differs from its folder's name {want!r}")
    theme = ly.whole(data, "theme", "", minimum=1)
    if theme not in THEMES:
        raise ly.Bad(ly.line_of(data, "theme"), "theme", f"theme {theme} is not a theme of CURRICULUM.md (1-28)")
    difficulty = ly.text(data, "difficulty", "")
    if difficulty not in DIFFICULTIES:
        raise ly.Bad(ly.line_of(data, "difficulty"), "difficulty",
                     f"difficulty {difficulty!r} must be one of {', '.join(DIFFICULTIES)}")
    mode_text = ly.text(data, "mode", "")
    try:
        mode = BuildMode(mode_text)
    except ValueError:
        raise ly.Bad(ly.line_of(data, "mode"), "mode",
                     f"unknown mode {mode_text!r} (known: {', '.join(BuildMode.names())})") from None
    hints = ly.str_list(data, "hints", "")
    if not hints:
        raise ly.Bad(ly.line_of(data, "hints"), "hints", "a lab needs at least one hint")
    edits = tuple(_relative(e, ly.line_of(data, "edits"), "edits") for e in ly.str_list(data, "edits", ""))
    if not edits:
        raise ly.Bad(ly.line_of(data, "edits"), "edits", "name the files the learner edits")
    for name in ("starter.patch", "solution.patch"):
        if not (folder / name).is_file():
            raise ly.Bad(1, "", f"the lab folder has no {name}")
    return Lab(id=lid, title=ly.text(data, "title", ""), theme=theme, difficulty=difficulty,
               minutes=ly.whole(data, "minutes", "", minimum=1), mode=mode,
               summary=ly.text(data, "summary", "").strip(), task=ly.text(data, "task", "").rstrip() + "\n",
               hints=tuple(h.strip() for h in hints), edits=edits,
               checks=_checks(data.get("checks"), ly.line_of(data, "checks"), folder),
               folder=folder, build=_build(data.get("build"), ly.line_of(data, "build"), mode),
               requires=ly.str_list(data, "requires", ""),
               extra=(ly.text(data, "extra", "", required=False) or "").strip(), path=path)


def load_lab(folder: Path) -> Lab:
    """The lab in `folder`, with its checkout variant when the folder has `checkout/lab.yaml`: a
    whole lab of the same id (its own task, hints, patches, build and checks) that changes the
    checkout's own files, used on a checkout whose version is the installed torch's
    (`contrib/variants.py`)."""
    lab = _read_lab(folder, folder / "lab.yaml", folder.name)
    variant_yaml = folder / CHECKOUT_VARIANT / "lab.yaml"
    if variant_yaml.is_file():
        variant = replace(_read_lab(folder / CHECKOUT_VARIANT, variant_yaml, lab.id), variant=CHECKOUT_VARIANT)
        lab = replace(lab, on_checkout=variant)
    return lab


def _read_lab(folder: Path, path: Path, lab_id: str) -> Lab:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabLoadError(LabError(str(path), 0, "", f"cannot read the lab file: {e}")) from None
    return parse_lab(text, folder, str(path), lab_id)


@dataclass
class LabCatalog:
    """Every lab found, by id, and every folder that failed to load (the others still load)."""

    labs: dict[str, Lab] = field(default_factory=dict)
    errors: list[LabError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def ordered(self) -> list[Lab]:
        return sorted(self.labs.values(), key=lambda lab: (lab.theme, lab.id))


def lab_dirs(extra: list[str] | tuple[str, ...] = ()) -> list[Path]:
    env = os.environ.get("TORCHATLAS_LABS_PATH", "")
    return [BUILTIN_DIR] + [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()] + \
        [Path(p).expanduser() for p in extra]


def load_labs(extra_dirs: list[str] | tuple[str, ...] = (), builtin: bool = True) -> LabCatalog:
    cat = LabCatalog()
    roots = lab_dirs(extra_dirs) if builtin else [Path(p).expanduser() for p in extra_dirs]
    for root in roots:
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / "lab.yaml").is_file()):
            try:
                lab = load_lab(folder)
            except LabLoadError as e:
                cat.errors.append(e.error)
                continue
            if lab.id in cat.labs:
                cat.notes.append(f"{folder}: lab {lab.id!r} replaces the one in {cat.labs[lab.id].folder}")
            cat.labs[lab.id] = lab
    return cat
