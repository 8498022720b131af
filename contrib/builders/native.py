"""The native mode: the learner's aten code compiled into an overlay library for the installed torch.

A lab's `build:` names `sources` (compiled once) and `per_capability` kernel files (compiled once
per CPU capability, DEFAULT/AVX2/AVX512, as PyTorch compiles `aten/src/ATen/native/cpu/*.cpp`, so
a `DispatchStub` finds its kernels). Everything is compiled against the installed torch's headers
with its C++ standard and ABI, linked to libtorch_cpu/libc10 into `lib<name>.so`, and loaded by
the checks with `torch.ops.load_library`. Registrations at `TORCH_LIBRARY_IMPL(aten, CPU, m)`
override the installed kernels for calls through the dispatcher (direct C++ calls inside
libtorch still run the original).

Layout (`workspace/.lab/build/native/`): `build.ninja`, `obj/<source>[.<CAP>].o`, `lib<name>.so`,
`toolchain.json` (the installed torch's flags, probed once), `stamp.json` (written last: a build
that failed or was interrupted is never reused). Only changed objects are recompiled. Kernel files
compile with precompiled torch headers per capability, shared in the user cache (`native_pch`);
torchgen's slices of a new operator compile as two units (ATen, autograd: `native_gen.unity`) with
one precompiled header of their torch includes, shared the same way.

When the workspace's native_functions.yaml / derivatives.yaml differ from the installed ones (a
lab that adds an operator), torchgen runs first and the new operator's generated code joins the
sources (`native_torchgen`, `native_gen`); a lab that only overrides kernels never runs torchgen.

Before the library is handed to the checks it is checked for the two ways it could kill the
process that loads it (a re-defined schema, a missing symbol): see `native_probe`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from . import native_ninja, native_pch, native_probe, native_torchgen
from .base import BuildFailed, BuildResult, Diagnostic
from .compiler_messages import diagnostics as compiler_diagnostics
from .native_toolchain import Toolchain, toolchain

MODE = "native"
BUILD_REL = ".lab/build/native"
STAMP = "stamp.json"
LOCK = ".lock"


def build_dir(workspace: Path) -> Path:
    return Path(workspace) / BUILD_REL


def build(lab, workspace: Path, *, progress: Callable[[str], None] | None = None,
          generated: Sequence[str] = (), include_dirs: Sequence[str] = ()) -> BuildResult:
    """Build lab.build's sources into lib<name>.so; `generated` adds sources made by another step
    (workspace-relative, e.g. torchgen's slice for a new operator) and `include_dirs` their headers."""
    t0 = time.monotonic()
    workspace = Path(workspace).resolve()
    spec = lab.build
    name = spec.name or lab.id.replace("-", "_")
    out_dir = build_dir(workspace)
    out_dir.mkdir(parents=True, exist_ok=True)

    problems = _check_paths(workspace, spec, getattr(lab, "path", "") or "lab.yaml")
    if problems:
        return _failed(out_dir, t0, problems, "the lab's build list names files that are not there")
    if not (spec.sources or spec.per_capability):
        raise BuildFailed(f"lab {lab.id}: build.sources and build.per_capability are both empty")

    with _locked(out_dir):
        tc = toolchain(out_dir)
        generated, include_dirs, gen_summary = list(generated), list(include_dirs), ""
        compiled = list(generated)  # torchgen's slices are compiled grouped (native_gen.unity)
        if native_torchgen.yaml_changed(workspace, tc.torch_dir):
            gen = native_torchgen.generate(workspace, BUILD_REL, tc.torch_dir, include_roots=tc.include_dirs,
                                           progress=progress)
            if not gen.ok:
                return _failed(out_dir, t0, gen.diagnostics, gen.summary, gen.log)
            generated += gen.sources
            compiled += gen.units or gen.sources
            include_dirs += gen.include_dirs
            gen_summary = gen.summary
        sources = tuple(spec.sources) + tuple(compiled)
        every = tuple(spec.sources) + tuple(generated) + tuple(spec.per_capability)
        every += tuple(s for s in compiled if s not in every)
        scan = native_probe.scan_sources(workspace, every, tc.aten_ops)
        if scan:
            _remove_stamp(out_dir)
            return _failed(out_dir, t0, scan, "the library would abort the process that loads it")
        library_rel = f"{BUILD_REL}/lib{name}.so"
        cflags = _cflags(tc, spec.extra_cflags, include_dirs)
        pch = _pch(workspace, spec.per_capability, tc, cflags, include_dirs, progress)
        gen_pch = _generated_pch(workspace, generated, compiled, tc, cflags, include_dirs, progress)
        gen_pch.update(_checkout_source_pch(workspace, lab, tc, cflags, include_dirs, progress))
        units = native_ninja.units_for(sources, spec.per_capability, tc.capabilities, BUILD_REL, pch, gen_pch)
        text = native_ninja.render(build_rel=BUILD_REL, cxx=_compiler(), cflags=cflags,
                                   ldflags=tc.ldflags(), units=units, library=library_rel)
        stamp_before = _read_stamp(out_dir)
        stamp_now = {"library": library_rel, "toolchain": tc.key, "ninja": text}
        _remove_stamp(out_dir)
        native_ninja.write_if_changed(out_dir / native_ninja.NINJA_FILE, text)
        if progress is not None:
            progress(f"native: building lib{name}.so ({len(units)} objects, torch {tc.version})")
        run = native_ninja.run(workspace, f"{BUILD_REL}/{native_ninja.NINJA_FILE}", progress=progress)
        library = workspace / library_rel
        if run.returncode != 0:
            diags = compiler_diagnostics(run.output, workspace, cwd=workspace, sources=every)
            diags = diags + _link_notes(run.output)
            return _failed(out_dir, t0, diags, "the build failed", run.output)
        summary = ([gen_summary] if gen_summary else []) + [f"lib{name}.so: {len(units)} objects"]
        cached = not run.did_work and stamp_before == stamp_now
        if not cached:
            probe = native_probe.probe_load(library, workspace, every)
            if not probe.ok:
                return _failed(out_dir, t0, probe.diagnostics, "the library does not load", run.output + probe.output)
            if probe.overrides:
                summary.append("overrides installed kernels, e.g. " + ", ".join(probe.overrides) +
                               " (for calls through the dispatcher; direct C++ calls inside libtorch still run "
                               "the original)")
        _write_stamp(out_dir, stamp_now)
    took = time.monotonic() - t0
    return BuildResult(ok=True, mode=MODE, build_dir=out_dir, library=library, cached=cached, seconds=took,
                       summary="; ".join(summary) + (" (unchanged)" if cached else f" ({took:.1f} s)"),
                       log=run.output)


def _pch_wanted() -> bool:
    """TORCHATLAS_NATIVE_PCH=0 builds without precompiled headers (bench_native.py's before/after)."""
    return os.environ.get("TORCHATLAS_NATIVE_PCH", "1") != "0"


def _pch(workspace: Path, per_capability: Sequence[str], tc: Toolchain, cflags: Sequence[str],
         include_dirs: Sequence[str], progress) -> dict[str, dict[str, str]]:
    """Precompiled torch headers per kernel file and capability (`native_pch`, shared in the user
    cache), unless TORCHATLAS_NATIVE_PCH=0."""
    if not _pch_wanted():
        return {}
    out = {}
    local = [*include_dirs, "."]
    for src in per_capability:
        text = native_pch.header_for(workspace, src, tc.key, local)
        if text:
            headers = native_pch.ensure(text, cxx=_compiler(), cflags=cflags, capabilities=tc.capabilities,
                                        progress=progress)
            if headers:
                out[src] = headers
    return out


def _generated_pch(workspace: Path, generated: Sequence[str], compiled: Sequence[str], tc: Toolchain,
                   cflags: Sequence[str], include_dirs: Sequence[str], progress) -> dict[str, str]:
    """One precompiled header for torchgen's slices (`native_pch.header_for_generated`, read from
    the slices themselves, shared in the user cache), used by each compiled unit (a slice, or a
    group of them `#include`ing it) that holds only slices it is safe for; unless
    TORCHATLAS_NATIVE_PCH=0."""
    if not generated or not _pch_wanted():
        return {}
    text, users = native_pch.header_for_generated(workspace, generated, tc.key, tc.include_dirs,
                                                  [*include_dirs, "."])
    if not text:
        return {}
    header = native_pch.ensure_plain(text, cxx=_compiler(), cflags=cflags, progress=progress)
    if not header:
        return {}
    unsafe = [Path(s) for s in generated if s not in users]
    return {unit: header for unit in compiled
            if not any(u.parent == Path(unit).parent or Path(unit).parent in u.parents for u in unsafe)}


def _checkout_source_pch(workspace: Path, lab, tc: Toolchain, cflags: Sequence[str], include_dirs: Sequence[str],
                         progress) -> dict[str, str]:
    """A precompiled header for each of the checkout's own files the learner edits and the lab
    compiles once (a checkout variant's `aten/src/ATen/native/*.cpp`): ~80% of each compile of such
    a file is torch's headers (TriangularOps.cpp: 7.6 s bare, 2-3 s with it). Like torchgen's files,
    PyTorch's own set TORCH_ASSERT_ONLY_METHOD_OPERATORS before their includes, which the PCH, read
    first, may pass (`native_pch.header_for_generated`). The lab's own lab/ sources, compiled once
    per workspace, get none. Unless TORCHATLAS_NATIVE_PCH=0."""
    if not _pch_wanted():
        return {}
    edited = set(getattr(lab, "edits", ()))
    out = {}
    for src in lab.build.sources:
        if src not in edited or src.startswith("lab/"):
            continue
        text, users = native_pch.header_for_generated(workspace, [src], tc.key, tc.include_dirs,
                                                      [*include_dirs, "."])
        if text and users:
            header = native_pch.ensure_plain(text, cxx=_compiler(), cflags=cflags, progress=progress, what=src)
            if header:
                out[src] = header
    return out


def _cflags(tc: Toolchain, extra: Sequence[str], include_dirs: Sequence[str]) -> list[str]:
    flags = tc.cflags()
    for d in include_dirs:
        flags += ["-I", d]
    flags += ["-I", "."]  # the workspace root: #include "lab/x.h"
    return flags + list(extra)


def _compiler() -> str:
    cxx = os.environ.get("CXX") or "g++"
    found = shutil.which(cxx)
    if not found:
        raise BuildFailed(f"the C++ compiler {cxx!r} is not installed (the native mode compiles with it)",
                          hint="apt-get install g++ (or set CXX)")
    return cxx


def _check_paths(workspace: Path, spec, where: str) -> tuple[Diagnostic, ...]:
    out = []
    for rel in tuple(spec.sources) + tuple(spec.per_capability):
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            out.append(Diagnostic(where, getattr(spec, "line", 0), 0, "error",
                                  f"build source {rel!r} must be a path inside the workspace"))
            continue
        full = workspace / p
        try:
            inside = full.resolve().is_relative_to(workspace)
        except OSError:
            inside = False
        if not inside:
            out.append(Diagnostic(rel, 0, 0, "error", "this build source leads out of the workspace (a symlink?)"))
        elif not full.is_file():
            out.append(Diagnostic(rel, 0, 0, "error",
                                  "this file is missing from the workspace (deleted or renamed? `torchatlas lab reset` "
                                  "brings back the starter)"))
    return tuple(out)


def _link_notes(output: str) -> tuple[Diagnostic, ...]:
    if "undefined reference to" not in output:
        return ()
    return (Diagnostic("lab", 0, 0, "note", native_probe.UNDEFINED_CAUSES),)


def _failed(out_dir: Path, t0: float, diags, summary: str, log: str = "") -> BuildResult:
    _remove_stamp(out_dir)
    if not diags:
        tail = "\n".join(log.strip().splitlines()[-15:])
        diags = (Diagnostic("lab", 0, 0, "error", f"{summary}:\n{tail}"),)
    return BuildResult(ok=False, mode=MODE, build_dir=out_dir, seconds=time.monotonic() - t0,
                       diagnostics=tuple(diags), summary=summary, log=log)


def _read_stamp(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_stamp(out_dir: Path) -> None:
    try:
        (out_dir / STAMP).unlink()
    except FileNotFoundError:
        pass


def _write_stamp(out_dir: Path, data: dict) -> None:
    tmp = out_dir / (STAMP + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, out_dir / STAMP)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """One build of a workspace at a time (lab watch and lab check may both build)."""
    with open(out_dir / LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
