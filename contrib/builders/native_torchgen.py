"""The torchgen step of the native mode: when the learner's workspace changes native_functions.yaml
or derivatives.yaml, regenerate, find the operators the change added, and cut their code out
(`native_gen.assemble`) for the overlay library.

Runs only when the workspace's YAML differs from the installed torchgen's (a lab that only
overrides kernels never pays for torchgen). The output is reused while the inputs are unchanged,
and the ATen half (~15-20 s) is kept when only derivatives.yaml changed (the autograd half is
~5 s). The pristine generation to diff against is shared with the codegen mode (user cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import codegen
from .base import Diagnostic
from .native_gen import GeneratedCode, NotGenerated, assemble

_NEW_OP = re.compile(r"^aten/ops/(?P<op>\w+)_ops\.h$")


@dataclass(frozen=True)
class Generation:
    ok: bool
    sources: tuple[str, ...] = ()  # workspace-relative
    include_dirs: tuple[str, ...] = ()  # workspace-relative
    ops: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # workspace-relative: what is compiled (the sources grouped)
    diagnostics: tuple[Diagnostic, ...] = ()
    summary: str = ""
    log: str = ""
    regenerated: bool = False


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def installed_torchgen(torch_dir: str) -> Path:
    """The torchgen installed beside torch (not whatever `torchgen` the current sys.path finds
    first: a folder holding a workspace's copy would shadow it)."""
    return Path(torch_dir).parent / "torchgen"


def yaml_changed(workspace: Path, torch_dir: str) -> bool:
    """Whether the workspace's torchgen inputs differ from the installed torchgen's."""
    mine = workspace / "torchgen"
    theirs = installed_torchgen(torch_dir)
    if not (mine / "packaged").is_dir() or not (theirs / "packaged").is_dir():
        return False
    for rel in ("packaged/ATen/native/native_functions.yaml", "packaged/autograd/derivatives.yaml"):
        if _digest(mine / rel) != _digest(theirs / rel):
            return True
    return False


def generate(workspace: Path, build_rel: str, torch_dir: str, *, include_roots: tuple[str, ...] = (),
             progress: Callable[[str], None] | None = None) -> Generation:
    say = progress or (lambda _m: None)
    build = workspace / build_rel
    out = build / "torchgen"
    gen_rel = f"{build_rel}/gen"
    layout = codegen.layout_of(workspace / "torchgen")
    keys = codegen.input_keys(layout)
    stamp_path = build / "torchgen.json"
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamp = {}
    pristine = codegen.pristine_output(installed_torchgen(torch_dir), progress=progress)
    done = stamp.get("result")
    if (stamp.get("keys") == keys and stamp.get("pristine") == str(pristine) and out.is_dir() and done
            and "units" in done and all((workspace / f).is_file() for f in done["sources"] + done["units"])):
        # nothing changed since the last cut: no diff of 7,000 files again
        return Generation(True, tuple(done["sources"]), tuple(done["include_dirs"]), tuple(done["ops"]),
                          tuple(done["keys"]), units=tuple(done["units"]), summary=done["summary"])
    regenerated = False
    log = ""
    if not (stamp.get("keys") == keys and out.is_dir()):
        try:
            stamp_path.unlink()
        except FileNotFoundError:
            pass
        prev = stamp.get("keys") or {}
        redo_aten = not (prev.get("aten") == keys.get("aten") and prev.get("torch") == keys.get("torch")
                         and (out / "aten").is_dir())
        if not redo_aten:
            say("torchgen: native_functions.yaml unchanged, keeping the ATen output")
        try:
            codegen.run_torchgen(workspace / "torchgen", out, aten=redo_aten, autograd=True, progress=progress,
                                 reuse=None if redo_aten else {"aten": out / "aten"}, workspace=workspace)
        except codegen.GenerationFailed as e:
            return Generation(False, diagnostics=e.diagnostics or (Diagnostic(
                "torchgen/packaged/ATen/native/native_functions.yaml", 0, 0, "error", e.message),),
                summary="torchgen refused the change", log=e.log)
        regenerated = True
        _write_stamp(stamp_path, {"keys": keys})
    from .gen_diff import diff_outputs

    say("torchgen: cutting the new operators out of the output")
    diff = diff_outputs(pristine, out)
    _write_stamp(stamp_path, {"keys": keys})  # the generation is good; the cut is not made yet
    ops = sorted({m["op"] for f in diff.added if (m := _NEW_OP.match(f.path))})
    if not ops:
        return Generation(False, diagnostics=(Diagnostic(
            "torchgen/packaged/ATen/native/native_functions.yaml", 0, 0, "error",
            "torchgen generated no new operator from the workspace's YAML: the new `- func:` entry is "
            "missing (or it re-declares an existing operator)"),), summary="no new operator", log=log)
    sources: list[str] = []
    units: list[str] = []
    includes: list[str] = []
    keys_out: list[str] = []
    for op in ops:
        try:
            code: GeneratedCode = assemble(pristine, out, op, workspace / gen_rel / op, include_roots, diff=diff)
        except NotGenerated as e:
            return Generation(False, diagnostics=(Diagnostic(
                "torchgen/packaged/ATen/native/native_functions.yaml", 0, 0, "error", str(e)),),
                summary=str(e), log=log)
        sources += [f"{gen_rel}/{op}/{s}" for s in code.sources]
        units += [f"{gen_rel}/{op}/{s}" for s in code.units or code.sources]
        includes.append(f"{gen_rel}/{op}/{code.include_dir}")
        keys_out += [f"aten::{op} at {k}" for k in code.keys]
    summary = (f"torchgen: new operator{'s' if len(ops) > 1 else ''} " + ", ".join(f"aten::{o}" for o in ops)
               + f" ({len(sources)} generated files: schema, at::_ops, " + ", ".join(
                   sorted({k.rsplit(' at ', 1)[1] for k in keys_out})) + ")")
    _write_stamp(stamp_path, {"keys": keys, "pristine": str(pristine), "result": {
        "sources": sources, "units": units, "include_dirs": includes, "ops": ops, "keys": keys_out,
        "summary": summary}})
    return Generation(True, tuple(sources), tuple(includes), tuple(ops), tuple(keys_out), units=tuple(units),
                      summary=summary, log=log, regenerated=regenerated)


def _write_stamp(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
