"""Lint the files a PR changes, with the tree's own configuration where it has one.

What runs, in order of preference:

- Python: `ruff` when the tree configures it (`[tool.ruff]` in pyproject.toml or ruff.toml) and it is
  installed; else `flake8` with the tree's `.flake8` when installed; else the rules built in here,
  modelled on PyTorch's `.flake8` (pyflakes' F codes, E501 at the tree's max-line-length or 120,
  W291/W293 trailing whitespace, W191 tabs, E999 syntax errors).
- C++: `clang-format --dry-run` with the tree's `.clang-format` when clang-format is installed.
- `.lintrunner.toml`: its linters are listed; those this machine can run (FLAKE8, RUFF, CLANGFORMAT)
  run as above, the rest are named in a note (lintrunner itself pulls them in with `lintrunner init`).
- `native_functions.yaml`: parsed by the tree's own torchgen in a subprocess (the checks codegen makes
  before it generates a line: schema syntax, dispatch keys, variants, structured delegates); an entry
  torchgen refuses is reported at the YAML's file:line.

Findings on files that existed at the base are kept to the lines the change touches (the tree's old
warnings are not the PR's); new files are linted whole. Each finding prints as `path:line: CODE message`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

MAX_LINE = 120  # PyTorch's .flake8 max-line-length
YAML_INSTALLED = "torchgen/packaged/ATen/native/native_functions.yaml"
YAML_CHECKOUT = "aten/src/ATen/native/native_functions.yaml"
CPP_SUFFIXES = (".cpp", ".h", ".cu", ".cuh", ".hpp", ".cc")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    code: str
    message: str
    tool: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)  # what ran, with which configuration
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"findings": [asdict(f) for f in self.findings], "tools": self.tools, "notes": self.notes,
                "files": self.files, "passed": not self.findings}


def lint(root: Path, files: list[str], changed: dict[str, set[int]] | None = None,
         new_files: set[str] | None = None) -> LintReport:
    """Lint `files` (relative to `root`); `changed` maps a file to its changed lines (None: all lines)."""
    root = Path(root)
    report = LintReport(files=list(files))
    present = [f for f in files if (root / f).is_file()]
    py = [f for f in present if f.endswith(".py")]
    cpp = [f for f in present if f.endswith(CPP_SUFFIXES)]
    yaml_files = [f for f in present if f in (YAML_INSTALLED, YAML_CHECKOUT)]
    _lintrunner_note(root, report)
    found: list[Finding] = []
    if py:
        found += _python(root, py, report)
    if cpp:
        found += _clang_format(root, cpp, report)
    for y in yaml_files:
        found += native_functions(root, y, report)
    keep = []
    for f in found:
        lines = (changed or {}).get(f.path)
        if changed is None or f.path in (new_files or set()) or lines is None or f.line in lines \
                or f.code == "E999" or f.code.startswith("TG"):
            keep.append(f)
    report.findings = sorted(set(keep), key=lambda f: (f.path, f.line, f.code))
    return report


# -- Python -------------------------------------------------------------------------------------------

def _ruff_configured(root: Path) -> bool:
    if (root / "ruff.toml").is_file() or (root / ".ruff.toml").is_file():
        return True
    pp = root / "pyproject.toml"
    try:
        return "[tool.ruff" in pp.read_text(encoding="utf-8")
    except OSError:
        return False


def _tool(name: str) -> list[str] | None:
    """How to run a linter: its module in this Python, else its executable on PATH."""
    import importlib.util
    if importlib.util.find_spec(name) is not None:
        return [sys.executable, "-m", name]
    exe = shutil.which(name)
    return [exe] if exe else None


def _python(root: Path, files: list[str], report: LintReport) -> list[Finding]:
    if _ruff_configured(root) and (cmd := _tool("ruff")):
        report.tools.append("ruff (the tree's ruff settings)")
        out = _run(cmd + ["check", "--no-fix", "--output-format=concise", *files], root)
        return _parse_colon(out, "ruff", root)
    if (root / ".flake8").is_file() and (cmd := _tool("flake8")):
        report.tools.append("flake8 (the tree's .flake8)")
        out = _run(cmd + ["--format=%(path)s:%(row)d:%(col)d: %(code)s %(text)s", *files], root)
        return _parse_colon(out, "flake8", root)
    max_line = _flake8_max_line(root) or MAX_LINE
    where = "the tree's .flake8 settings" if (root / ".flake8").is_file() else "rules modelled on PyTorch's .flake8"
    report.tools.append(f"built-in pyflakes + style checks ({where}; max line {max_line})")
    if (root / ".flake8").is_file() or _ruff_configured(root):
        report.notes.append("flake8/ruff are not installed here: `pip install flake8 ruff` runs the tree's "
                            "own configuration in full")
    out: list[Finding] = []
    for f in files:
        out += check_python_file(root / f, f, max_line)
    return out


def _flake8_max_line(root: Path) -> int | None:
    import configparser
    cfg = root / ".flake8"
    if not cfg.is_file():
        return None
    p = configparser.ConfigParser()
    try:
        p.read(cfg, encoding="utf-8")
        return int(p.get("flake8", "max-line-length", fallback=str(MAX_LINE)))
    except (configparser.Error, ValueError, OSError):
        return None


def check_python_file(path: Path, rel: str, max_line: int = MAX_LINE) -> list[Finding]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [Finding(rel, 1, "E902", str(e), "builtin")]
    out: list[Finding] = []
    try:
        compile(text, rel, "exec", dont_inherit=True, flags=0x400)  # PyCF_ONLY_AST
    except SyntaxError as e:
        return [Finding(rel, e.lineno or 1, "E999", f"SyntaxError: {e.msg}", "builtin")]
    out += _pyflakes(text, rel)
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        if len(line) > max_line and not re.match(r"^\s*#?\s*(https?://)\S+$", line):
            out.append(Finding(rel, n, "E501", f"line too long ({len(line)} > {max_line} characters)", "builtin"))
        if line != line.rstrip():
            code = "W293" if not line.strip() else "W291"
            what = "blank line contains whitespace" if code == "W293" else "trailing whitespace"
            out.append(Finding(rel, n, code, what, "builtin"))
        indent = line[:len(line) - len(line.lstrip())]
        if "\t" in indent:
            out.append(Finding(rel, n, "W191", "indentation contains tabs", "builtin"))
    if text and not text.endswith("\n"):
        out.append(Finding(rel, len(lines), "W292", "no newline at end of file", "builtin"))
    return [f for f in out if not _noqa(lines, f)]


def _noqa(lines: list[str], f: Finding) -> bool:
    if not 1 <= f.line <= len(lines):
        return False
    m = re.search(r"#\s*noqa(?::\s*([A-Z0-9, ]+))?", lines[f.line - 1])
    if not m:
        return False
    codes = m.group(1)
    return codes is None or any(f.code.startswith(c.strip()) for c in codes.split(",") if c.strip())


PYFLAKES_CODES = {"UnusedImport": "F401", "ImportStarUsed": "F403", "ImportStarUsage": "F405",
                  "UndefinedName": "F821", "UnusedVariable": "F841", "RedefinedWhileUnused": "F811",
                  "UndefinedLocal": "F823", "DuplicateArgument": "F831", "FStringMissingPlaceholders": "F541",
                  "IsLiteral": "F632", "UndefinedExport": "F822", "MultiValueRepeatedKeyLiteral": "F601",
                  "PercentFormatInvalidFormat": "F501", "RaiseNotImplemented": "F901",
                  "DefaultExceptNotLast": "F707", "ReturnOutsideFunction": "F706"}


def _pyflakes(text: str, rel: str) -> list[Finding]:
    try:
        from pyflakes import checker
    except ImportError:
        return []
    import ast
    try:
        tree = ast.parse(text, filename=rel)
    except SyntaxError:
        return []
    w = checker.Checker(tree, filename=rel)
    out = []
    for m in w.messages:
        code = PYFLAKES_CODES.get(type(m).__name__, "F999")
        out.append(Finding(rel, m.lineno, code, m.message % m.message_args, "pyflakes"))
    return out


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> str:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"::error:: {e}"
    return p.stdout + p.stderr


def _parse_colon(out: str, tool: str, root: Path) -> list[Finding]:
    found = []
    for line in out.splitlines():
        m = re.match(r"^(.+?):(\d+):(?:\d+:)?\s*([A-Z]+\d+)\s+(.*)$", line)
        if m:
            path = m.group(1)
            if os.path.isabs(path):
                path = os.path.relpath(path, root)
            found.append(Finding(path, int(m.group(2)), m.group(3), m.group(4).strip(), tool))
    return found


# -- C++ ----------------------------------------------------------------------------------------------

def _clang_format(root: Path, files: list[str], report: LintReport) -> list[Finding]:
    exe = shutil.which("clang-format")
    if not (root / ".clang-format").is_file():
        report.notes.append(f"{len(files)} C++ file(s) changed; the tree has no .clang-format, so they are not linted")
        return []
    if not exe:
        report.notes.append("the tree has a .clang-format but clang-format is not installed "
                            "(`pip install clang-format`): C++ files not checked")
        return []
    report.tools.append("clang-format (the tree's .clang-format)")
    found = []
    for f in files:
        out = _run([exe, "--dry-run", "--style=file", f], root)
        for line in out.splitlines():
            m = re.match(r"^(.+?):(\d+):\d+: (?:warning|error): (.*?)(?: \[(-W[\w-]+)\])?$", line)
            if m:
                found.append(Finding(f, int(m.group(2)), "CLANGFORMAT", m.group(3), "clang-format"))
    return found


# -- .lintrunner.toml ----------------------------------------------------------------------------------

RUNNABLE = {"FLAKE8": "flake8", "RUFF": "ruff", "CLANGFORMAT": "clang-format"}


def _lintrunner_note(root: Path, report: LintReport) -> None:
    path = root / ".lintrunner.toml"
    if not path.is_file():
        return
    import tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        report.notes.append(f".lintrunner.toml is unreadable: {e}")
        return
    codes = [ln.get("code", "?") for ln in data.get("linter", []) if isinstance(ln, dict)]
    ours = [c for c in codes if c in RUNNABLE]
    rest = [c for c in codes if c not in RUNNABLE]
    report.notes.append(f".lintrunner.toml has {len(codes)} linters; run here: {', '.join(ours) or 'none'}; the "
                        f"others ({len(rest)}: {', '.join(rest[:6])}{'...' if len(rest) > 6 else ''}) need "
                        "`pip install lintrunner && lintrunner init`")


# -- native_functions.yaml -----------------------------------------------------------------------------

TORCHGEN_PROBE = r"""
import sys, json, traceback
yaml_path, tags_path = sys.argv[1], sys.argv[2]
try:
    from torchgen.gen import parse_native_yaml
    parse_native_yaml(yaml_path, tags_path)
    print(json.dumps({"ok": True}))
except BaseException as e:
    print(json.dumps({"ok": False, "kind": type(e).__name__, "message": str(e)}))
"""


def native_functions(root: Path, rel: str, report: LintReport) -> list[Finding]:
    """Parse the YAML with the tree's torchgen (the workspace's own copy first on PYTHONPATH)."""
    yaml_path = root / rel
    tags = yaml_path.parent / "tags.yaml"
    if not (root / "torchgen").is_dir():
        report.notes.append(f"{rel} changed, but the tree has no torchgen/ to check it with")
        return []
    report.tools.append("torchgen's parse_native_yaml (the tree's own torchgen)")
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        p = subprocess.run([sys.executable, "-c", TORCHGEN_PROBE, str(yaml_path), str(tags)], cwd=root, env=env,
                           capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return [Finding(rel, 1, "TG000", "torchgen did not finish parsing in 180 s", "torchgen")]
    import json
    try:
        result = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [Finding(rel, 1, "TG000", f"torchgen crashed: {(p.stderr or p.stdout).strip()[-300:]}", "torchgen")]
    if result.get("ok"):
        return []
    return [torchgen_finding(rel, result["kind"], result["message"], yaml_path.read_text(encoding="utf-8"))]


def torchgen_finding(rel: str, kind: str, message: str, yaml_text: str = "") -> Finding:
    """torchgen wraps most errors in 'in FILE:LINE:\n  func: ...' (the innermost location is the entry);
    its cross-entry checks name operators instead ("glu is marked as a structured_delegate pointing to
    glu.outt"): the first operator named that has an entry gives the line."""
    locs = re.findall(r"in (\S*native_functions\.yaml):(\d+)", message)
    line = int(locs[-1][1]) if locs else entry_line(yaml_text, message) or 1
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), kind)
    first = re.sub(r"\s+", " ", first)[:300]
    return Finding(rel, line, "TG001", f"torchgen refuses this entry: {kind}: {first}", "torchgen")


def entry_line(yaml_text: str, message: str) -> int | None:
    """The line of the `- func:` entry of the first operator `message` names, overload included."""
    starts = {}
    for n, line in enumerate(yaml_text.splitlines(), 1):
        m = re.match(r"^- func:\s*([\w.]+)\(", line)
        if m:
            starts.setdefault(m.group(1), n)
    for word in re.findall(r"[A-Za-z_][\w]*(?:\.[\w]+)?", message):
        if word in starts:
            return starts[word]
    return None
