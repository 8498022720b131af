"""The lab loader: every shipped lab loads; each kind of mistake in a lab.yaml is reported with its
file, line and field, and the other labs still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from torchatlas.contrib.loader import BUILTIN_DIR, load_labs
from torchatlas.contrib.model import BuildMode

ASSETS = Path(__file__).parent.parent / "assets" / "labs"


def test_shipped_labs_load_cleanly():
    cat = load_labs()
    assert not cat.errors, "\n".join(map(str, cat.errors))
    assert cat.labs, f"no lab found in {BUILTIN_DIR}"
    for lab in cat.labs.values():
        assert lab.hints and lab.checks and lab.edits
        assert any(c.hidden for c in lab.checks), f"{lab.id}: no hidden check"
        assert lab.starter_patch.is_file() and lab.solution_patch.is_file()
        if lab.mode in (BuildMode.EXTENSION, BuildMode.NATIVE):
            assert lab.build.sources or lab.build.per_capability


def _lab_with(tmp_path: Path, replace: tuple[str, str] | None = None, append: str = "", name: str = "square") -> Path:
    root = tmp_path / "labs"
    shutil.copytree(ASSETS / "square", root / name)
    y = root / name / "lab.yaml"
    text = y.read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    y.write_text(text + append)
    return root


@pytest.mark.parametrize("replace, append, line, field, words", [
    (("mode: python", "mode: pyton"), "", 6, "mode", "unknown mode 'pyton'"),
    (("theme: 3", "theme: 99"), "", 3, "theme", "not a theme"),
    (("difficulty: beginner", "difficulty: easy"), "", 4, "difficulty", "must be one of"),
    (None, "colour: blue\n", 16, "colour", "unknown field 'colour'"),
    (("checks/test_sq.py", "checks/test_nope.py"), "", 13, "checks[1].file", "no such check file"),
    (("checks/test_sq.py", "../../etc/passwd"), "", 13, "checks[1].file", "relative path"),
    (("id: square", "id: other"), "", 1, "id", "differs from its folder"),
    (("hints: [use x*x]", "hints: []"), "", 10, "hints", "at least one hint"),
    (("mode: python", "mode: extension"), "", 1, "build", "needs 'build'"),
    (("hints: [use x*x]", "hints: [use x*x"), "", 11, "", "not valid YAML"),
])
def test_a_bad_lab_is_reported_with_file_line_and_field(tmp_path, replace, append, line, field, words):
    root = _lab_with(tmp_path, replace, append)
    shutil.copytree(ASSETS / "square", root / "square-ok")
    (root / "square-ok" / "lab.yaml").write_text((root / "square-ok" / "lab.yaml").read_text()
                                                 .replace("id: square", "id: square-ok"))
    cat = load_labs([str(root)], builtin=False)
    assert list(cat.labs) == ["square-ok"], "the good lab must still load"
    assert len(cat.errors) == 1
    err = cat.errors[0]
    assert err.path.endswith("square/lab.yaml")
    assert words in err.message, err
    assert err.field == field, err
    if line:
        assert err.line == line, err
        # said as a tour's problem is, compiler-style, so a terminal or editor can jump to the line
        assert str(err).startswith(f"{err.path}:{line}: [{field}] " if field else f"{err.path}:{line}: "), err


def test_a_later_folder_replaces_a_lab_and_says_so(tmp_path):
    a = _lab_with(tmp_path / "a")
    b = _lab_with(tmp_path / "b", ("title: Square", "title: Squared again"))
    cat = load_labs([str(a), str(b)], builtin=False)
    assert cat.labs["square"].title.startswith("Squared again")
    assert cat.notes and "replaces" in cat.notes[0]


def test_a_missing_library_names_the_extra_to_install(tmp_path):
    from torchatlas.contrib.devcheck import dev_check, missing_requirements

    root = _lab_with(tmp_path, append="requires: [torchatlas_no_such_module]\nextra: onnx\n")
    lab = load_labs([str(root)], builtin=False).labs["square"]
    assert lab.requires == ("torchatlas_no_such_module",) and lab.extra == "onnx"
    assert missing_requirements(lab) == ["torchatlas_no_such_module"]
    report = dev_check(lab, None)
    assert not report.ok and not report.stages
    assert report.skipped == "needs torchatlas_no_such_module: pip install -e '.[onnx]'", report.skipped
    plain = load_labs([str(_lab_with(tmp_path / "b", append="requires: [torchatlas_no_such_module]\n"))],
                      builtin=False).labs["square"]
    assert plain.extra == "" and "'.[labs]'" in dev_check(plain, None).skipped


def test_each_lab_extra_exists_and_is_in_labs():
    """A lab's `extra:` names an extra of pyproject.toml, and the `labs` extra holds all of them."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip(f"no pyproject.toml at {pyproject} (an installed package, not a checkout)")
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    for lab in load_labs().labs.values():
        if not lab.requires:
            continue
        assert lab.extra, f"{lab.id} requires {lab.requires} but names no extra to install them"
        assert lab.extra in extras, f"{lab.id}: extra {lab.extra!r} is not in pyproject.toml ({sorted(extras)})"
        missing = set(extras[lab.extra]) - set(extras["labs"])
        assert not missing, f"the `labs` extra lacks {sorted(missing)} of {lab.extra!r}"
