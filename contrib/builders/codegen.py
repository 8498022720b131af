"""The codegen build mode: the learner edits native_functions.yaml / derivatives.yaml, torchgen
regenerates, and the lab shows (and its checks assert on) what the change generated.

Why it is shaped this way:

* torchgen runs in a subprocess with the workspace first on PYTHONPATH, so the workspace's copy of
  torchgen (the learner's YAML, its templates, its code) is what runs, never the installed one;
  `PYTHONDONTWRITEBYTECODE` keeps `__pycache__` out of the workspace.
* The ATen generator (`python -m torchgen.gen`, ~15-20 s) and the autograd generator
  (`gen_autograd` + `gen_autograd_python`, ~5-7 s) run side by side, and the ATen output is kept
  when only derivatives.yaml changed (the ATen generator does not read it): a derivative edit costs
  the autograd generator alone.
* Output goes to a temporary folder renamed into place at the end: nothing half-written is ever
  read, and the stamp (written last) is what makes a build trustworthy for reuse.
* What changed is shown against the generation of the unmodified torchgen ("pristine"), made once
  per torch version and input hash in the user cache dir, under a lock so two processes never
  generate it twice.
* A YAML mistake comes back as a Diagnostic at the learner's file:line with torchgen's own
  message (it names the line itself: `in .../native_functions.yaml:5128:`, or PyYAML's mark);
  torchgen's errors without a line (a missing structured_delegate, a derivative that matches no
  schema) are pointed at the entry they name.

The native builder reuses `run_torchgen`, `pristine_output`, `gen_diff.diff_outputs` and `op_slice`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .base import BuildFailed, BuildResult, Diagnostic
from .gen_diff import GenDiff, diff_outputs, op_slice

# what the native builder uses (diff_outputs / op_slice re-exported from gen_diff for one import)
__all__ = ["GenDiff", "GenerationFailed", "Layout", "build", "diff_outputs", "installed_torchgen", "layout_of",
           "op_slice", "pristine_output", "run_torchgen"]

MODE = "codegen"
STAMP = "stamp.json"
STAMP_FORMAT = 2  # bump when the stamp or the summary changes shape: older stamps are not trusted
INPUTS = "inputs.json"  # inside out/: the input keys it was generated from, swapped in with it
LOG = "torchgen.log"
PARTS = ("aten", "autograd")

# gen_autograd's own main() generates the C++ only; the Python bindings (python_torch_functions...,
# where `torch.<op>` comes from) are gen_autograd_python, as PyTorch's build calls both.
_AUTOGRAD_DRIVER = """
import importlib, sys
module, native, tags, out, autograd_dir = sys.argv[1:6]
gen = importlib.import_module(module)
from torchgen.selective_build.selector import SelectiveBuilder
gen.gen_autograd(native, tags, out, autograd_dir, SelectiveBuilder.get_nop_selector())
gen.gen_autograd_python(native, tags, out, autograd_dir)
"""

Progress = Callable[[str], None] | None


class GenerationFailed(Exception):
    """torchgen refused the input: `diagnostics` point at the YAML file:line when torchgen says
    where (or names an entry we can find), `log` is torchgen's full output."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = (), log: str = ""):
        super().__init__(message)
        self.message, self.diagnostics, self.log = message, tuple(diagnostics), log


@dataclass(frozen=True)
class Layout:
    """Where torchgen's inputs are: the installed package keeps them under `torchgen/packaged/`,
    a PyTorch checkout under `aten/src/ATen/` and `tools/autograd/` (torchgen/ at its root)."""

    python_root: Path  # first on PYTHONPATH: holds torchgen/ (and tools/ in a checkout)
    aten: Path  # --source-path: native/native_functions.yaml, native/tags.yaml, templates/
    autograd: Path  # derivatives.yaml, deprecated.yaml, templates/
    autograd_module: str  # where gen_autograd lives

    @property
    def native_functions(self) -> Path:
        return self.aten / "native" / "native_functions.yaml"

    @property
    def tags(self) -> Path:
        return self.aten / "native" / "tags.yaml"

    @property
    def derivatives(self) -> Path:
        return self.autograd / "derivatives.yaml"


def layout_of(torchgen_root: Path) -> Layout:
    root = Path(os.path.abspath(torchgen_root))
    if (root / "packaged" / "ATen" / "native" / "native_functions.yaml").is_file():
        return Layout(root.parent, root / "packaged" / "ATen", root / "packaged" / "autograd",
                      "torchgen.packaged.autograd.gen_autograd")
    top = root.parent
    if (top / "aten/src/ATen/native/native_functions.yaml").is_file() and (top / "tools/autograd").is_dir():
        return Layout(top, top / "aten/src/ATen", top / "tools/autograd", "tools.autograd.gen_autograd")
    raise BuildFailed(f"{root} has no torchgen inputs: neither packaged/ATen/native/native_functions.yaml "
                      f"(an installed torchgen) nor ../aten/src/ATen and ../tools/autograd (a PyTorch checkout)",
                      hint="the workspace's torchgen/ copy is incomplete: `torchatlas lab reset` or start the lab again")


def installed_torchgen() -> Path:
    """The torchgen package beside the installed torch (found without importing it)."""
    spec = importlib.util.find_spec("torchgen")
    if spec is None or not spec.origin:
        raise BuildFailed("torchgen is not installed in this Python",
                          hint="it ships with torch: pip install torch==2.13.0")
    return Path(spec.origin).parent


def torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------- inputs


def _content(path: Path, normalize: set[Path]) -> bytes:
    """The bytes that decide what torchgen generates. In native_functions.yaml and derivatives.yaml
    whole-line comments and blank lines do not (neither uses block scalars), so a starter that only
    adds a TODO comment has the pristine keys, and its output is linked from the pristine one."""
    data = path.read_bytes()
    if path not in normalize:
        return data
    return b"\n".join(line for line in data.splitlines() if line.strip() and not line.lstrip().startswith(b"#"))


def _hash_files(files: list[Path], base: Path, normalize: set[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(base)).encode())
        h.update(b"\0")
        h.update(_content(f, normalize))
        h.update(b"\0")
    return h.hexdigest()[:20]


def _tree_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out += [Path(dirpath) / f for f in files if not f.endswith(".pyc")]
    return out


def input_keys(layout: Layout) -> dict[str, str]:
    """One hash per generated part: ATen reads torchgen's code and the ATen inputs; autograd reads
    those plus derivatives.yaml and its templates. Hashing torchgen's code too keeps a learner who
    edits it (or a different torch) from being served a stale generation."""
    code = [f for f in _tree_files(layout.python_root / "torchgen")
            if layout.autograd not in f.parents and layout.aten not in f.parents]
    aten = code + _tree_files(layout.aten / "templates") + [layout.native_functions, layout.tags]
    autograd = aten + _tree_files(layout.autograd)
    base = layout.python_root
    normalize = {layout.native_functions, layout.derivatives}
    return {"torch": torch_version(),
            "aten": _hash_files(sorted(set(aten)), base, normalize),
            "autograd": _hash_files(sorted(set(autograd)), base, normalize)}


# ---------------------------------------------------------------------------------------- errors

_LOCATED = re.compile(r"^\s*in (?P<file>\S+?\.yaml):(?P<line>\d+):\s*$")
_YAML_MARK = re.compile(r'^\s*in "(?P<file>[^"]+\.yaml)", line (?P<line>\d+), column (?P<col>\d+)\s*$')
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<msg>.*)$")
_DELEGATE = re.compile(r"^(?P<op>\S+) is marked as a structured_delegate pointing to (?P<target>\S+),")
_SCHEMA = re.compile(r"\b([a-z_][\w.]*\([^()]*\) -> [^\s,]+(?: \w+)?)")
_NO_SCHEMA = re.compile(r"could not find ATen function for schema: (?P<schema>.+?) \.")


def _relative(path: str, layout: Layout, workspace: Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        p = layout.python_root / p
    try:
        return str(Path(os.path.abspath(p)).relative_to(workspace))
    except ValueError:
        return str(p)


def _line_of(path: Path, needle: str) -> int:
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return n
    except OSError:
        pass
    return 0


def parse_errors(log: str, layout: Layout, workspace: Path) -> tuple[Diagnostic, ...]:
    """torchgen's traceback -> Diagnostics at the YAML file:line, torchgen's message kept whole."""
    lines = log.splitlines()
    found: list[Diagnostic] = []
    for i, line in enumerate(lines):
        m = _EXC.match(line)
        if not m:
            continue
        # the message runs until the next blank line or traceback line
        body = [m["msg"]]
        j = i + 1
        while j < len(lines) and lines[j].strip() and not lines[j].startswith(("Traceback", "  File ")):
            body.append(lines[j])
            j += 1
        segments: list[tuple[list[str], re.Match | None]] = [([], None)]
        for b in body:
            loc = _LOCATED.match(b) or _YAML_MARK.match(b)
            if loc:
                segments[-1] = (segments[-1][0], loc)
                segments.append(([], None))
            else:
                segments[-1][0].append(b.strip())
        marked = [(" ".join(t for t in text if t), loc) for text, loc in segments if loc is not None]
        tail = " ".join(t for t in segments[-1][0] if t)
        where = marked[-1][1] if marked else None
        if where is not None and _YAML_MARK.match(where.group(0)):
            # PyYAML: [context, its mark,] problem, its mark
            message = marked[-1][0]
            if len(marked) > 1:
                message += f" ({marked[0][0]} started at line {marked[0][1]['line']})"
        elif where is not None:  # torchgen: message, `in file:line:`, the entry it was reading
            message = marked[-1][0] + (f" (in the entry `{tail}`)" if tail else "")
        else:
            message = " ".join(t for text, _ in segments for t in text if t)
        message = message.replace(str(workspace) + os.sep, "")
        if where is not None:
            col = int(where.groupdict().get("col") or 0)
            found.append(Diagnostic(_relative(where["file"], layout, workspace), int(where["line"]), col,
                                    "error", message))
            continue
        d = _locate_unplaced(m["msg"], message, layout, workspace)
        if d is not None:
            found.append(d)
    unique = []
    for d in found:  # ATen and autograd generators report the same YAML mistake
        if d not in unique:
            unique.append(d)
    return tuple(unique)


def _locate_unplaced(first: str, message: str, layout: Layout, workspace: Path) -> Diagnostic | None:
    if m := _DELEGATE.match(first):
        path = layout.native_functions
        line = _line_of(path, f"structured_delegate: {m['target']}")
        return Diagnostic(_relative(str(path), layout, workspace), line, 0, "error", message)
    if m := _NO_SCHEMA.search(first):
        path = layout.derivatives
        line = _line_of(path, f"name: {m['schema'].strip()}")
        return Diagnostic(_relative(str(path), layout, workspace), line, 0, "error", message)
    # a message that quotes a schema: the derivatives.yaml entry naming it, else its declaration
    for schema in _SCHEMA.findall(message):
        for path, key in ((layout.derivatives, "name: "), (layout.native_functions, "func: ")):
            line = _line_of(path, key + schema)
            if line:
                return Diagnostic(_relative(str(path), layout, workspace), line, 0, "error", message)
    if "derivative" in message.lower():
        return Diagnostic(_relative(str(layout.derivatives), layout, workspace), 0, 0, "error", message)
    return None


# ---------------------------------------------------------------------------------------- running


@contextmanager
def _locked(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    from torchatlas.indexes.locking import index_lock
    with index_lock(path, on_wait):
        yield


def _env(layout: Layout) -> dict[str, str]:
    env = dict(os.environ)
    rest = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(layout.python_root) + (os.pathsep + rest if rest else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _commands(layout: Layout, tmp: Path, aten: bool, autograd: bool) -> dict[str, list[str]]:
    cmds = {}
    if aten:
        cmds["aten"] = [sys.executable, "-m", "torchgen.gen", "--source-path", str(layout.aten),
                        "--install_dir", str(tmp / "aten"), "--aoti-install-dir", str(tmp / "aten" / "aoti"),
                        "--per-operator-headers"]
    if autograd:
        cmds["autograd"] = [sys.executable, "-c", _AUTOGRAD_DRIVER, layout.autograd_module,
                            str(layout.native_functions), str(layout.tags), str(tmp / "autograd"),
                            str(layout.autograd)]
    return cmds


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def run_torchgen(torchgen_root: Path, out_dir: Path, *, autograd: bool = True, timeout: float = 300,
                 progress: Progress = None, aten: bool = True, reuse: dict[str, Path] | None = None,
                 workspace: Path | None = None, parallel: bool | None = None,
                 inputs: dict | None = None) -> None:
    """Generate into `out_dir` (`aten/` with `aten/aoti/`, `autograd/`) from `torchgen_root`'s inputs.

    `reuse`: part -> an existing folder of that part, for parts not generated now: moved in when it
    lies beside out_dir (`<out>/aten` of a previous build), else hard-linked (copied across file
    systems), as from the pristine output.
    `workspace`: what diagnostics are relative to (default: the folder holding torchgen/).
    `inputs`: written to out_dir/inputs.json in the same rename, so it always describes out_dir.
    Raises GenerationFailed (torchgen refused the input) or BuildFailed (timeout, torchgen missing);
    out_dir is then exactly as it was."""
    say = progress or (lambda _msg: None)
    layout = layout_of(torchgen_root)
    workspace = Path(os.path.abspath(workspace or layout.python_root))
    out_dir = Path(os.path.abspath(out_dir))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    cmds = _commands(layout, tmp, aten, autograd)
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    env = _env(layout)
    procs: list[subprocess.Popen] = []
    logs: dict[str, str] = {}
    try:
        order = list(cmds)
        batches = [order] if parallel else [[name] for name in order]
        deadline = time.monotonic() + timeout
        failed = []
        for batch in filter(None, batches):
            say("torchgen: generating " + " and ".join(
                {"aten": "ATen (per-operator headers, registrations; ~15-20 s)",
                 "autograd": "autograd (nodes, VariableType, Python bindings; ~5-7 s)"}[n] for n in batch))
            started = {}
            for name in batch:
                f = tempfile.TemporaryFile()
                p = subprocess.Popen(cmds[name], cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=f,
                                     stderr=subprocess.STDOUT)
                procs.append(p)
                started[name] = (p, f)
            for name, (p, f) in started.items():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _stop(procs)
                    raise BuildFailed(f"torchgen did not finish within {timeout:.0f} s",
                                      hint="the machine may be busy; try again, or raise the lab's timeout") from None
                f.seek(0)
                logs[name] = f.read().decode("utf-8", errors="replace")
                f.close()
                if p.returncode != 0:
                    failed.append(name)
        log = "\n".join(f"--- torchgen {name} ---\n{text}" for name, text in logs.items())
        if failed:
            if re.search(r"^(ModuleNotFoundError|ImportError): ", log, re.M) and "yaml" not in failed:
                missing = re.search(r"^(?:ModuleNotFoundError|ImportError): (.*)$", log, re.M)
                raise BuildFailed(f"torchgen could not start: {missing.group(1) if missing else 'import error'}",
                                  hint="torchgen needs PyYAML (pip install pyyaml) and a torchgen matching torch")
            diags = parse_errors(log, layout, workspace)
            what = " and ".join(failed)
            first = str(diags[0]) if diags else _last_error(log)
            raise GenerationFailed(f"torchgen ({what}) failed: {first}", diags, log)
        for part, src in (reuse or {}).items():
            if part not in cmds:
                _take(Path(src), tmp / part, move=out_dir.parent in Path(os.path.abspath(src)).parents)
        (tmp / LOG).write_text(log, encoding="utf-8")
        if inputs is not None:
            (tmp / INPUTS).write_text(json.dumps(inputs), encoding="utf-8")
        _swap(tmp, out_dir)
    except BaseException:
        _stop(procs)
        _rmtree(tmp)
        raise


def _take(src: Path, dst: Path, move: bool) -> None:
    if move:
        os.rename(src, dst)
        return
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:  # another file system: copy (~1-2 s for the ATen part)
        _rmtree(dst)
        shutil.copytree(src, dst)


def _last_error(log: str) -> str:
    errs = [line for line in log.splitlines() if _EXC.match(line)]
    return errs[-1] if errs else (log.strip().splitlines() or ["no output"])[-1]


def _swap(tmp: Path, out_dir: Path) -> None:
    """Put `tmp` at `out_dir`; the previous out_dir is renamed away first and deleted after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.old")
        _rmtree(old)
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        _rmtree(old)


# ---------------------------------------------------------------------------------------- pristine


def cache_root() -> Path:
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("torchatlas")) / "labs" / "torchgen"


def pristine_output(torchgen_root_of_installed: Path, *, progress: Progress = None, timeout: float = 300) -> Path:
    """The generation of the unmodified torchgen at `torchgen_root_of_installed` (the installed
    package, or a checkout's torchgen/): `<cache>/labs/torchgen/<key>/` with `aten/` and
    `autograd/`, keyed by the torch version and the inputs' hash. Made once (~20 s), under a lock:
    a second process waits for the first and reuses its result."""
    layout = layout_of(torchgen_root_of_installed)
    keys = input_keys(layout)
    key = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root() / f"{keys['torch']}-{key}"
    stamp = folder / STAMP
    if stamp.is_file():
        return folder
    say = progress or (lambda _msg: None)
    with _locked(folder, lambda: say("torchgen: waiting for another process generating the pristine output")):
        if stamp.is_file():
            return folder
        say("torchgen: generating the pristine output once for this torch (cached for later labs)")
        t0 = time.monotonic()
        try:
            run_torchgen(torchgen_root_of_installed, folder, progress=progress, timeout=timeout)
        except GenerationFailed as e:
            raise BuildFailed(f"the unmodified torchgen at {torchgen_root_of_installed} does not generate: {e.message}",
                              hint="torchgen and torch must come from the same install") from None
        _write_json(stamp, {"keys": keys, "source": str(torchgen_root_of_installed),
                            "seconds": round(time.monotonic() - t0, 1)})
    return folder


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------- build


def _pristine_source(workspace: Path) -> Path:
    """The torchgen whose generation is the pristine one: the workspace's source (`source_root`
    in .lab/workspace.json: the installed torch's site-packages, or, for a checkout workspace,
    the learner's repository, unchanged since a dirty checkout is refused); else the installed one."""
    info = _read_json(workspace / ".lab" / "workspace.json") or {}
    source = info.get("source_root")
    if source:
        candidate = Path(source) / "torchgen"
        try:
            layout_of(candidate)
            return candidate
        except BuildFailed:
            pass
    return installed_torchgen()


def _result(ok: bool, build_dir: Path, t0: float, **kw) -> BuildResult:
    return BuildResult(ok=ok, mode=MODE, build_dir=build_dir, seconds=round(time.monotonic() - t0, 2), **kw)


def build(lab, workspace: Path, *, progress: Progress = None, timeout: float = 300) -> BuildResult:
    """Regenerate the workspace's torchgen output into `.lab/build/codegen/out`, diff it against the
    pristine generation, and give the checks TORCHATLAS_LAB_GEN (the output) and
    TORCHATLAS_LAB_PRISTINE. Cached when no input changed; ATen kept when only autograd's did."""
    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    workspace = Path(os.path.abspath(workspace))
    layout = layout_of(workspace / "torchgen")
    build_dir = workspace / ".lab" / "build" / MODE
    out = build_dir / "out"
    build_dir.mkdir(parents=True, exist_ok=True)

    pristine = pristine_output(_pristine_source(workspace), progress=progress, timeout=timeout)
    keys = input_keys(layout)
    env = (("TORCHATLAS_LAB_GEN", str(out)), ("TORCHATLAS_LAB_PRISTINE", str(pristine)))

    def cached() -> BuildResult | None:
        stamp = _read_json(build_dir / STAMP)
        if (stamp and stamp.get("keys") == keys and stamp.get("pristine") == str(pristine)
                and stamp.get("format") == STAMP_FORMAT and out.is_dir()):
            return _result(True, build_dir, t0, cached=True, summary=stamp.get("summary", ""), extra_env=env)
        return None

    if (hit := cached()) is not None:
        return hit
    with _locked(build_dir / "build", lambda: say("torchgen: waiting for another build of this workspace")):
        if (hit := cached()) is not None:
            return hit
        _unlink(build_dir / STAMP)
        previous = _read_json(out / INPUTS) or {}
        made = (_read_json(pristine / STAMP) or {}).get("keys") or {}
        reuse: dict[str, Path] = {}
        for part in PARTS:
            if previous.get(part) == keys[part] and previous.get("torch") == keys["torch"] and (out / part).is_dir():
                reuse[part] = out / part
            elif made.get(part) == keys[part] and made.get("torch") == keys["torch"] and (pristine / part).is_dir():
                reuse[part] = pristine / part
        staging = build_dir / ".recalled"
        _rmtree(staging)
        for part in PARTS:
            if part not in reuse and (got := _recall(part, keys, staging)) is not None:
                reuse[part] = got
        for part, src in reuse.items():
            what = {"aten": "native_functions.yaml", "autograd": "derivatives.yaml"}[part]
            say(f"torchgen: {what} unchanged, keeping the {part} output" if src.parent == out else
                f"torchgen: {what} generates what the pristine one does (comments aside): linking its {part} output"
                if src.parent == pristine else
                f"torchgen: {what} as in a recent build: linking its {part} output")
        try:
            run_torchgen(workspace / "torchgen", out, aten="aten" not in reuse, autograd="autograd" not in reuse,
                         timeout=timeout, progress=progress, reuse=reuse, workspace=workspace, inputs=keys)
            for part in PARTS:
                if part not in reuse:
                    _remember(out / part, part, keys)
        except GenerationFailed as e:
            (build_dir / LOG).write_text(e.log, encoding="utf-8", errors="replace")
            return _result(False, build_dir, t0, diagnostics=e.diagnostics, log=e.log,
                           summary=f"torchgen refused the change: {e.diagnostics[0] if e.diagnostics else e.message}")
        finally:
            _rmtree(staging)
        say("torchgen: comparing with the pristine output")
        summary = diff_outputs(pristine, out).summary()
        _write_json(build_dir / STAMP, {"format": STAMP_FORMAT, "keys": keys, "pristine": str(pristine),
                                        "summary": summary})
        log = (out / LOG).read_text(encoding="utf-8", errors="replace") if (out / LOG).is_file() else ""
        return _result(True, build_dir, t0, summary=summary, log=log, extra_env=env)


# Recent generations, shared by the workspaces of this user: `lab dev check` (its solution and
# "without the derivatives hunk" share native_functions.yaml), a learner retrying a variant, CI
# running a lab's checks several times. Hard links only (an entry costs no disk while a build
# folder links the same files); a few per part, the least recently used go first.
RECENT_PER_PART = 3


def _recent_dir() -> Path:
    return cache_root() / "recent"


def _recall(part: str, keys: dict, staging: Path) -> Path | None:
    entry = _recent_dir() / f"{part}-{keys['torch']}-{keys[part]}"
    if not (entry / STAMP).is_file():
        return None
    try:
        with _locked(_recent_dir()):
            if not (entry / STAMP).is_file():
                return None
            staging.mkdir(parents=True, exist_ok=True)
            shutil.copytree(entry / part, staging / part, copy_function=os.link)
            os.utime(entry / STAMP)
        return staging / part
    except OSError:  # another file system, or the entry vanished: generate instead
        _rmtree(staging / part)
        return None


def _remember(src: Path, part: str, keys: dict) -> None:
    recent = _recent_dir()
    entry = recent / f"{part}-{keys['torch']}-{keys[part]}"
    try:
        recent.mkdir(parents=True, exist_ok=True)
        if recent.stat().st_dev != src.stat().st_dev:
            return  # a copy would cost 30-80 MB each time: only hard links
        with _locked(recent):
            if (entry / STAMP).is_file():
                return
            tmp = recent / f".{entry.name}.{os.getpid()}.tmp"
            _rmtree(tmp)
            shutil.copytree(src, tmp / part, copy_function=os.link)
            (tmp / STAMP).write_text(json.dumps(keys), encoding="utf-8")
            _rmtree(entry)
            os.rename(tmp, entry)
            mine = sorted((e for e in recent.iterdir() if e.name.startswith(f"{part}-") and (e / STAMP).is_file()),
                          key=lambda e: (e / STAMP).stat().st_mtime, reverse=True)
            for old in mine[RECENT_PER_PART:]:
                _rmtree(old)
    except OSError:
        _rmtree(recent / f".{entry.name}.{os.getpid()}.tmp")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
