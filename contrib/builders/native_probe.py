"""Before a check loads the overlay: would loading it abort the process, or fail?

Two ways an overlay library kills the process that loads it, both before any check could say why:
- it re-defines a schema the installed torch already has (`TORCH_LIBRARY(aten, m)`, or `m.def` of
  an existing `aten::` operator): the registration throws from a static initializer and the
  process aborts (exit 134) with a message naming only the registration site;
- a symbol it needs is not there (`undefined symbol: _ZN...` from dlopen).

`scan_sources` catches the first kind by reading the sources (instant, at the learner's line);
`probe_load` loads the linked library with `ctypes` in a fresh process without importing torch
(~0.5 s: libtorch_cpu's own registrations run first, then the overlay's) and turns an abort or a
dlopen error into diagnostics that say what usually causes it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .base import Diagnostic
from .compiler_messages import demangle

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_LIBRARY_ATEN = re.compile(r"\bTORCH_LIBRARY\s*\(\s*aten\s*,")
_FRAGMENT_ATEN = re.compile(r"\bTORCH_LIBRARY_FRAGMENT\s*\(\s*aten\s*,")
_DEF = re.compile(r"\.def\s*\(\s*\"(?:aten::)?(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*\(")

_DUPLICATE = re.compile(r"Tried to register an operator \((?P<op>[^)(]+)")
_REGISTERED_AT = re.compile(r"registered at (?P<file>[^\s:]+):(?P<line>\d+)")
_SINGLE_LIBRARY = re.compile(r"Only a single TORCH_LIBRARY can be used to register the namespace (?P<ns>\w+)")
_UNDEFINED = re.compile(r"undefined symbol: (?P<sym>\S+)")

_PROBE = "import ctypes, sys; ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)"

UNDEFINED_CAUSES = (
    "usually: a function declared (in your header or a torch header) but never defined in the lab's "
    "sources (a typo in its name, namespace or signature); a kernel file missing from the build; a "
    "DispatchStub whose kernel file was not compiled for every CPU capability (get_call_ptr, "
    "DEFAULT/AVX2/AVX512 members); or a libtorch symbol that is declared in the installed headers "
    "but not exported (no TORCH_API): define a small shim of it in the lab's sources")


def _blank_comments(text: str) -> str:
    """Comments replaced by spaces, newlines kept: regexes see code only, lines stay where they were."""
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def scan_sources(workspace: Path, sources: Iterable[str], aten_ops: Iterable[str]) -> tuple[Diagnostic, ...]:
    """Schema re-definitions that would abort the process at load time, at the learner's line."""
    existing = set(aten_ops)
    out: list[Diagnostic] = []
    for rel in sources:
        try:
            text = _blank_comments((workspace / rel).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for m in _LIBRARY_ATEN.finditer(text):
            out.append(Diagnostic(rel, _line_of(text, m.start()), 0, "error",
                                  "TORCH_LIBRARY(aten, m) defines the aten namespace a second time (libtorch_cpu "
                                  "already did); loading the library would abort the process. Add operators with "
                                  "TORCH_LIBRARY_FRAGMENT(aten, m), override kernels with TORCH_LIBRARY_IMPL(aten, CPU, m)"))
        if not _FRAGMENT_ATEN.search(text):
            continue
        for m in _DEF.finditer(text):
            name = m["name"]
            if name in existing:
                out.append(Diagnostic(rel, _line_of(text, m.start()), 0, "error",
                                      f"m.def of aten::{name}: the installed torch already defines this schema, and "
                                      "defining it again aborts the process when the library loads. Pick a new "
                                      "operator name (or overload name), or only m.impl the existing one"))
    return tuple(out)


@dataclass(frozen=True)
class Probe:
    ok: bool
    diagnostics: tuple[Diagnostic, ...] = ()
    overrides: tuple[str, ...] = ()  # "aten::op at CPU" kernels the library replaced (a warning, by design)
    output: str = ""


_OVERRIDE = re.compile(r"operator: (?P<op>\S+?)\(.*?dispatch key: (?P<key>\w+)", re.S)


def probe_load(library: Path, workspace: Path, sources: Iterable[str] = (), *, timeout: float = 120) -> Probe:
    """Load `library` in a fresh process (no torch import) and explain a failure."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE, str(library)], capture_output=True, text=True,
                           errors="replace", timeout=timeout, env=env, cwd=str(workspace))
    except subprocess.TimeoutExpired:
        return Probe(False, (Diagnostic(str(library.name), 0, 0, "error",
                                        f"loading the library did not finish within {timeout:.0f} s "
                                        "(a static initializer that waits or loops?)"),))
    text = (r.stdout or "") + (r.stderr or "")
    if r.returncode == 0:
        overrides = tuple(sorted({f"{m['op']} at {m['key']}" for m in _OVERRIDE.finditer(text)}))
        return Probe(True, (), overrides, text)
    return Probe(False, explain_load_failure(text, r.returncode, tuple(sources)), (), text)


def explain_load_failure(text: str, returncode: int = 1, sources: tuple[str, ...] = ()) -> tuple[Diagnostic, ...]:
    """Diagnostics for a library that aborted or failed to load; shared with checks that load it."""
    first = sources[0] if sources else "lab"
    m = _DUPLICATE.search(text)
    if m:
        site = _learner_site(text, first)
        return (Diagnostic(site[0], site[1], 0, "error",
                           f"loading the library aborted the process: it registers the schema {m['op'].strip()} "
                           "a second time (the installed torch already has it). Add new operators under a name "
                           "torch does not have; to replace a kernel, use m.impl in TORCH_LIBRARY_IMPL"),)
    m = _SINGLE_LIBRARY.search(text)
    if m:
        site = _learner_site(text, first)
        return (Diagnostic(site[0], site[1], 0, "error",
                           f"loading the library aborted the process: TORCH_LIBRARY({m['ns']}, m) is there twice "
                           f"(the installed torch has the first); use TORCH_LIBRARY_FRAGMENT({m['ns']}, m)"),)
    syms = sorted({m["sym"] for m in _UNDEFINED.finditer(text)})
    if syms:
        names = demangle(syms)
        return tuple(Diagnostic(first, 0, 0, "error", f"the library does not load: undefined symbol {n} ({s}); "
                                f"{UNDEFINED_CAUSES}") for s, n in zip(syms, names))
    tail = "\n".join(text.strip().splitlines()[-8:])
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit {returncode}"
    return (Diagnostic(first, 0, 0, "error", f"loading the library failed ({how}):\n{tail}"),)


def _learner_site(text: str, default: str) -> tuple[str, int]:
    """The registration site that is not torch's own (torch's are absolute build paths)."""
    for m in _REGISTERED_AT.finditer(text):
        f = m["file"]
        if not f.startswith("/__w/") and "/pytorch/" not in f and not f.startswith("/"):
            return f, int(m["line"])
    return default, 0
