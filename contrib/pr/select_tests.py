"""Which tests a change affects, ranked, each with why.

From the change to names, through the index:

1. **changed symbols**: the Python definitions whose lines the diff touches (read from the changed
   file itself, so new functions count), and the C++ definitions the index places on those lines;
2. **changed operators**: entries of `native_functions.yaml` whose lines changed, operators whose
   kernel (the index's dispatch table) is a changed C++ symbol, and their Python bindings (the
   index's `binds` edges: `aten::pixel_shuffle` -> `torch.pixel_shuffle`, `F.pixel_shuffle`);
3. **changed modules**: `torch/nn/functional.py` -> `torch.nn.functional`.

Then the tests: the lab's own checks (a lab workspace); test files (under `test/`, or test modules the
index knows) that reference the changed symbols (the index's refs table when it covers them, else a
word search of the test files), import the changed module, or are named after it; and OpInfo entries
in `torch/testing/_internal/common_methods_invocations.py` for the changed operators and functions
(with the test files that run every OpInfo, filtered to the op with `-k`).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

OPINFO_FILE = "torch/testing/_internal/common_methods_invocations.py"
OPINFO_TESTS = ("test/test_ops.py", "test/test_ops_gradients.py")
OPINFO_RX = re.compile(r"^\s*(\w*(?:Info))\(\s*['\"]([\w.]+)['\"]", re.M)


@dataclass(frozen=True)
class SelectedTest:
    name: str  # what a person would call it: a file, file::-k filter, an OpInfo, a lab check
    kind: str  # lab-check | test-file | opinfo
    why: str
    score: int
    command: str  # how to run it by hand
    path: str = ""
    filter: str = ""  # -k expression

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Change:
    files: list[str]
    symbols: dict[str, str] = field(default_factory=dict)  # name -> where (path:line) it changed
    ops: dict[str, str] = field(default_factory=dict)  # aten op -> why
    callables: dict[str, str] = field(default_factory=dict)  # torch.* Python names -> why
    modules: dict[str, str] = field(default_factory=dict)  # dotted module -> path
    callers: dict[str, str] = field(default_factory=dict)  # library functions calling a changed symbol -> why


# -- from the diff to names ----------------------------------------------------------------------------

def module_of(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    mod = path[:-3].replace("/", ".")
    return mod[:-len(".__init__")] if mod.endswith(".__init__") else mod


def python_symbols(text: str, lines: set[int]) -> list[tuple[str, int]]:
    """(name, line) of the defs and classes whose body contains a changed line, outermost first."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    out: dict[str, int] = {}

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                span = set(range(child.lineno - len(child.decorator_list), (child.end_lineno or child.lineno) + 1))
                if span & lines:
                    # a function's nested helper changes the function; a class's method changes the
                    # method (naming the class would select every test that mentions, say, Module)
                    # (unless the method is a generic one: forward, __init__ stand for their class)
                    in_method = isinstance(child, ast.ClassDef) and any(
                        isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)) and c.name not in SKIP_NAMES and
                        set(range(c.lineno, (c.end_lineno or c.lineno) + 1)) & lines for c in child.body)
                    if not in_method:
                        out.setdefault(child.name, child.lineno)
                    visit(child, prefix + child.name + ".")
            elif isinstance(child, (ast.Assign, ast.AnnAssign)) and node is tree:
                span = set(range(child.lineno, (child.end_lineno or child.lineno) + 1))
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                if span & lines:
                    for t in targets:
                        if isinstance(t, ast.Name):
                            out.setdefault(t.id, child.lineno)
    visit(tree)
    return sorted(out.items(), key=lambda kv: kv[1])


def shared_state(text: str, lines: set[int], limit: int = 8) -> list[tuple[str, str]]:
    """Public methods of the same file that touch the private attributes the changed lines touch:
    a change to how `_call_impl` reads `self._forward_pre_hooks_with_kwargs` is tested through
    `register_forward_pre_hook`, which writes it."""
    src = text.splitlines()
    attrs = {m for n in lines if 0 < n <= len(src) for m in re.findall(r"self\.(_\w+)", src[n - 1])}
    attrs = {a for a in attrs if not a.startswith("__")}
    if not attrs:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    out: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            span = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            if span & lines:
                continue
            body = "\n".join(src[node.lineno - 1:node.end_lineno or node.lineno])
            hit = next((a for a in sorted(attrs) if re.search(rf"self\.{re.escape(a)}\b", body)), None)
            if hit and node.name not in SKIP_NAMES:
                out.append((node.name, hit))
    return out[:limit]


def yaml_ops(text: str, lines: set[int]) -> list[tuple[str, int]]:
    """Operators whose native_functions.yaml entry holds a changed line: (name.overload, line)."""
    entries = [(i, m.group(1)) for i, line in enumerate(text.splitlines(), 1)
               if (m := re.match(r"^- func:\s*([\w.]+)\(", line))]
    out = []
    for k, (start, name) in enumerate(entries):
        end = entries[k + 1][0] - 1 if k + 1 < len(entries) else start + 50
        if set(range(start, end + 1)) & lines:
            out.append((name, start))
    return out


SKIP_NAMES = {"__init__", "forward", "backward", "__call__", "setUp", "main", "run", "apply", "wrapper", "inner",
              "helper", "fn", "f", "_", "__all__", "Tensor"}


def analyse(root: Path, files: list[str], changed_lines: dict[str, set[int]], index=None) -> Change:
    change = Change(files=list(files))
    for path in files:
        full = root / path
        lines = changed_lines.get(path, set())
        if path.endswith(".py") and full.is_file():
            mod = module_of(path)
            if mod and not path.startswith("test/"):
                change.modules[mod] = path
            text = full.read_text(encoding="utf-8", errors="replace")
            for name, line in python_symbols(text, lines or set(range(1, text.count("\n") + 2))):
                if name not in SKIP_NAMES:
                    change.symbols.setdefault(name, f"{path}:{line}")
                    if mod and mod.startswith("torch."):
                        change.callables.setdefault(f"{mod}.{name}", f"{path}:{line}")
            for name, attr in shared_state(text, lines):
                change.callers.setdefault(name, f"shares self.{attr} with the changed lines of {path}")
        elif path.endswith("native_functions.yaml") and full.is_file():
            for name, line in yaml_ops(full.read_text(encoding="utf-8", errors="replace"), lines):
                change.ops.setdefault(f"aten::{name}", f"its entry at {path}:{line} changed")
        elif path.endswith((".cpp", ".h", ".cu", ".cuh")) and index is not None:
            for name, qual, line in _cpp_defs(index, path, lines):
                change.symbols.setdefault(name, f"{path}:{line}")
                for op in _ops_of_kernel(index, qual, name):
                    change.ops.setdefault(op, f"its kernel {qual} ({path}:{line}) changed")
    if index is not None:
        for name, where in list(change.symbols.items())[:20]:
            for caller in _callers(index, name):
                if caller not in change.symbols:
                    change.callers.setdefault(caller, f"calls {name} (changed at {where})")
        for op in list(change.ops):
            for binding in _bindings(index, op):
                change.callables.setdefault(binding, f"binds {op}")
    return change


def _callers(index, name: str, limit: int = 12) -> list[str]:
    """Library functions that call `name` (the index's refs), most calls first: a test exercising a
    changed helper usually names its public caller (`load_state_dict`, not `_load_from_state_dict`).
    A nested function's owner counts too (`Module.load_state_dict.load` -> load_state_dict, load)."""
    from collections import Counter

    from torchatlas.indexes.code_queries import callers
    counts: Counter = Counter()
    for ref in callers(index, name, limit=300):
        path = ref.location.split(":", 1)[0]
        if not ref.scope or _is_test_file(path) or "/testing/" in path or not path.endswith(".py"):
            continue
        mod = module_of(path) or ""
        rest = ref.scope[len(mod) + 1:] if ref.scope.startswith(mod + ".") else ref.scope.rsplit(".", 1)[-1]
        for part in rest.split("."):
            if part and not part[0].isupper() and part not in SKIP_NAMES and part != name and len(part) > 2:
                counts[part] += 1
    return [n for n, _c in counts.most_common(limit)]


def _cpp_defs(index, path: str, lines: set[int]):
    from torchatlas.indexes.lookups import definitions_in
    for d in definitions_in(index, path, kinds=("function", "method")):
        if set(range(d.location.line, d.end_line + 1)) & lines:
            yield d.name, d.qualname, d.location.line


def _ops_of_kernel(index, qual: str, name: str) -> list[str]:
    from torchatlas.indexes.lookups import ops_running
    return list(ops_running(index, qual, name))


def _bindings(index, op: str) -> list[str]:
    from torchatlas.indexes.lookups import callables_binding
    return list(callables_binding(index, op))


# -- from names to tests ------------------------------------------------------------------------------

def _is_test_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return path.endswith(".py") and (path.startswith("test/") and base.startswith("test_") or
                                     "/tests/" in path and base.startswith("test_"))


def test_files(root: Path, index=None) -> list[str]:
    """Test modules of the tree: `test/**/test_*.py` (a checkout), else those the index knows."""
    tdir = root / "test"
    if tdir.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(tdir):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            for f in filenames:
                if f.startswith("test_") and f.endswith(".py"):
                    out.append(os.path.relpath(os.path.join(dirpath, f), root))
        return sorted(out)
    if index is not None:
        from torchatlas.indexes.lookups import file_paths
        return [p for p in file_paths(index, lang="python") if _is_test_file(p)]
    return []


def _named_after(mod: str) -> set[str]:
    """Test module names that belong to a module: torch/nn/init.py -> test_init; a package's
    __init__ or its functional.py -> the package (torch.nn.functional -> test_nn)."""
    parts = mod.split(".")
    short = parts[-1].lstrip("_")
    names = {f"test_{short}"}
    if short in ("functional", "__init__") and len(parts) > 1:
        names.add(f"test_{parts[-2].lstrip('_')}")
    if len(parts) == 2:  # torch/<x>.py or torch/<x>/__init__.py
        names.add(f"test_{parts[1].lstrip('_')}")
    return names


def _beside(test_file: str, changed: "Iterable[str]") -> str:
    """`test/nn/` for a change under `torch/nn/` (PyTorch keeps a package's tests in test/<package>/)."""
    parts = test_file.split("/")
    for path in changed:
        p = path.split("/")
        if len(p) > 2 and p[0] == "torch" and len(parts) > 2 and parts[0] == "test" and parts[1] == p[1]:
            return f"test/{p[1]}/"
    return ""


def opinfo_entries(root: Path) -> list[tuple[str, str, int]]:
    """(kind, name, line) of every OpInfo in the tree's common_methods_invocations.py."""
    path = root / OPINFO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for m in OPINFO_RX.finditer(text):
        out.append((m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


def _word_hits(text: str, words: list[str]) -> dict[str, list[int]]:
    """Lines where each word appears as a whole identifier."""
    hits: dict[str, list[int]] = {}
    if not words:
        return hits
    rx = re.compile(r"(?<![\w])(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?![\w])")
    for n, line in enumerate(text.splitlines(), 1):
        for m in rx.finditer(line):
            hits.setdefault(m.group(1), []).append(n)
    return hits


def select(root: Path, change: Change, *, lab=None, index=None, limit: int = 25) -> list[SelectedTest]:
    root = Path(root)
    out: list[SelectedTest] = []
    py = "python"
    if lab is not None:
        for c in lab.checks:
            name = Path(c.file).stem
            out.append(SelectedTest(f"lab check {name}" + (" (hidden)" if c.hidden else ""), "lab-check",
                                    f"the lab {lab.id}'s own check: it tests exactly the files the lab changes",
                                    100, f"torchatlas lab check {lab.id}", c.file))
    # symbols the test files use; short or generic names are noise
    names = {n: w for n, w in change.symbols.items() if len(n) > 2 and not n.startswith("__")}
    leaf_callables = {c.rsplit(".", 1)[-1]: c for c in change.callables}
    for short, full in leaf_callables.items():
        if len(short) > 2:
            names.setdefault(short, change.callables[full])
    for op in change.ops:
        base = op.split("::", 1)[1].split(".", 1)[0]
        if len(base) > 2:
            names.setdefault(base, change.ops[op])
    callers_of = {n: w for n, w in change.callers.items() if n not in names}
    mods = dict(change.modules)
    files = test_files(root, index)
    by_file: dict[str, SelectedTest] = {}
    for tf in files:
        try:
            text = (root / tf).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        all_hits = _word_hits(text, list(names) + list(callers_of))
        hits = {n: v for n, v in all_hits.items() if n in names}
        indirect = {n: v for n, v in all_hits.items() if n in callers_of}
        reasons, score, ks = [], 0, []
        if hits:
            top = sorted(hits.items(), key=lambda kv: -len(kv[1]))
            for name, lines in top[:3]:
                reasons.append(f"uses {name} ({len(lines)}x, first at line {lines[0]}; changed at {names[name]})")
            score += 40 + min(sum(len(v) for v in hits.values()), 30) + 5 * len(hits)
            # -k only with names the file's test functions carry: `-k glu` keeps test_glu_*, but a
            # private helper's name matches no test and would deselect the very tests that fail
            ks = [n for n, _ in top[:3] if re.search(rf"def test\w*{re.escape(n)}", text, re.I)]
        elif indirect:
            top = sorted(indirect.items(), key=lambda kv: -len(kv[1]))
            for name, lines in top[:2]:
                reasons.append(f"uses {name} ({len(lines)}x, first at line {lines[0]}), which {callers_of[name]}")
            score += 20 + min(sum(len(v) for v in indirect.values()), 20) + 3 * len(indirect)
        for mod, path in mods.items():
            short = mod.rsplit(".", 1)[-1]
            if re.search(rf"^\s*(from\s+{re.escape(mod)}\s+import|import\s+{re.escape(mod)}\b)", text, re.M):
                reasons.append(f"imports {mod} ({path} changed)")
                score += 25
            if Path(tf).stem in _named_after(mod):
                reasons.append(f"is named after {mod}")
                score += 45
        near = _beside(tf, mods.values())
        if near and reasons:
            reasons.append(f"lives in {near}, beside the changed code")
            score += 15
        if reasons:
            cmd = f"{py} -m pytest {tf}" + (f" -k '{' or '.join(ks)}'" if ks else "")
            by_file[tf] = SelectedTest(tf + (f" -k {' or '.join(ks)}" if ks else ""), "test-file", "; ".join(reasons),
                                       score, cmd, tf, " or ".join(ks))
    out += by_file.values()
    # OpInfo entries for the changed ops and functions
    targets = {op.split("::", 1)[1].split(".", 1)[0]: why for op, why in change.ops.items()}
    for c, why in change.callables.items():
        short = c.replace("torch.nn.functional.", "nn.functional.").replace("torch.Tensor.", "").replace("torch.", "")
        targets.setdefault(short, why)
    for kind, name, line in opinfo_entries(root):
        if name in targets:
            have = [t for t in OPINFO_TESTS if (root / t).is_file()]
            k = name.replace(".", "_")
            cmd = (f"{py} -m pytest {' '.join(have)} -k '{k}'" if have else
                   f"torchatlas pr tests --run  (OpInfo samples and gradcheck of {name})")
            out.append(SelectedTest(f"OpInfo {name}", "opinfo",
                                    f"{kind}('{name}') at {OPINFO_FILE}:{line} describes it ({targets[name]}); "
                                    "test_ops runs its samples through every check", 70, cmd, OPINFO_FILE, k))
    out.sort(key=lambda t: (-t.score, t.name))
    return out[:limit]


# -- running them -------------------------------------------------------------------------------------

OPINFO_PROBE = r"""
import sys, torch
try:
    from torch.testing._internal.common_methods_invocations import op_db
except ImportError as e:  # it needs numpy (and expecttest), which a minimal environment may lack
    print(f"not run: torch.testing._internal.common_methods_invocations does not import here ({e}); "
          "pip install numpy expecttest")
    sys.exit(3)
names = sys.argv[1:]
bad = 0
for op in op_db:
    if op.name not in names or op.variant_test_name:
        continue
    n = 0
    for dtype in (torch.float64,):
        for s in op.sample_inputs("cpu", dtype, requires_grad=op.supports_autograd):
            n += 1
            if n > 12:
                break
            try:
                out = op(s.input, *s.args, **s.kwargs)
                if op.supports_autograd:
                    fn = lambda *a: op(*a, *s.args, **s.kwargs)
                    ins = (s.input,) if isinstance(s.input, torch.Tensor) else tuple(s.input)
                    torch.autograd.gradcheck(fn, ins, check_batched_grad=False, fast_mode=True)
            except Exception as e:
                bad += 1
                print(f"FAILED OpInfo {op.name} sample {n}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
                break
    print(f"OpInfo {op.name}: {n} samples" + ("" if bad else " passed (forward and gradcheck)"))
sys.exit(1 if bad else 0)
"""


@dataclass(frozen=True)
class RunResult:
    name: str
    passed: bool
    seconds: float
    output: str
    skipped: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def run_selected(tests: list[SelectedTest], root: Path, *, python_path: Path | None = None, lab=None,
                 timeout: float = 600) -> list[RunResult]:
    """Run the chosen tests: lab checks through the lab's runner, test files with pytest, OpInfos
    with their samples and gradcheck; `python_path` is where `import torch` comes from."""
    import time
    results = []
    env = dict(os.environ)
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    if lab is not None and any(t.kind == "lab-check" for t in tests):
        from torchatlas.contrib.runner import verify
        t0 = time.monotonic()
        verdict = verify(lab, python_path or root)
        failed = [r for r in verdict.results if not r.passed]
        text = "\n".join(f"{'ok' if r.passed else 'FAILED'} {r.name}" + (f": {r.message}" if r.message and not r.passed
                                                                       else "") for r in verdict.results)
        results.append(RunResult(f"lab check {lab.id}", not failed, time.monotonic() - t0, text))
    ops = [t.name.split(" ", 1)[1] for t in tests if t.kind == "opinfo"]
    if ops:
        t0 = time.monotonic()
        p = _sub([sys.executable, "-c", OPINFO_PROBE, *ops], root, env, timeout)
        results.append(RunResult("OpInfo " + ", ".join(ops), p[0] in (0, 3), time.monotonic() - t0, p[1],
                                 skipped=p[0] == 3))
    for t in tests:
        if t.kind != "test-file":
            continue
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", t.path]
        if t.filter:
            cmd += ["-k", t.filter]
        code, out = _sub(cmd, root, env, timeout)
        results.append(RunResult(t.name, code in (0, 5), time.monotonic() - t0, out))
    return results


def _sub(cmd: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr)[-4000:]
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f} s"
