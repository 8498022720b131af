"""The full mode: a plan for a real PyTorch build of a checkout workspace, run only when asked.

A CPU build is hours on 2 cores (measured here: generated translation units take 19-24 s and
1.3-1.8 GB each), so labs build only what changed and this module says what a whole build would
take on this machine, and the exact commands, instead of starting one by surprise.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SECONDS_PER_TU = 21.0  # measured median for a generated TU at -O2 on this machine class
GB_PER_JOB = 1.8  # peak resident memory of the heaviest TUs
DISK_GB = 18.0  # build/ of a CPU-only build with debug info off, plus ccache headroom
SKIP_DIRS = ("third_party", "test", "benchmarks", "cuda", "hip", "mps", "metal", "vulkan", "xpu", "mkldnn/xpu")


@dataclass(frozen=True)
class FullPlan:
    possible: bool
    reason: str  # why not, when not possible
    commands: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    translation_units: int
    jobs: int
    hours: float
    memory_gb: float
    disk_gb: float
    disk_free_gb: float
    ccache: bool

    def to_json(self) -> dict:
        return {"possible": self.possible, "reason": self.reason, "commands": list(self.commands),
                "env": dict(self.env), "translation_units": self.translation_units, "jobs": self.jobs,
                "estimated_hours": round(self.hours, 1), "memory_gb": self.memory_gb, "disk_gb": self.disk_gb,
                "disk_free_gb": round(self.disk_free_gb, 1), "ccache": self.ccache}


def _memory_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 8.0


def count_translation_units(root: Path) -> int:
    n = 0
    for sub in ("aten/src/ATen", "c10", "torch/csrc", "caffe2"):
        base = root / sub
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            n += sum(1 for f in filenames if f.endswith(".cpp"))
    return n + 600  # generated TUs (RegisterCPU shards, Operators_*, Functions, python bindings)


def plan(root: Path, kind: str, cores: int | None = None, debug: bool = False) -> FullPlan:
    cores = cores or os.cpu_count() or 2
    mem = _memory_gb()
    free = shutil.disk_usage(root if root.exists() else root.parent).free / 1e9
    ccache = shutil.which("ccache") is not None
    if kind != "checkout":
        return FullPlan(False, "this workspace is over the installed torch, which ships no C++ sources to build; "
                               "start the lab on a git checkout (lab start ID --source ~/src/pytorch) for a full build",
                        (), (), 0, 0, 0.0, 0.0, DISK_GB, free, ccache)
    jobs = max(1, min(cores, int(mem // GB_PER_JOB)))
    tus = count_translation_units(root)
    hours = tus * SECONDS_PER_TU / jobs / 3600 * (1.6 if debug else 1.0)
    env = [("USE_CUDA", "0"), ("USE_ROCM", "0"), ("USE_XPU", "0"), ("BUILD_TEST", "0"), ("MAX_JOBS", str(jobs))]
    env.append(("DEBUG", "1") if debug else ("REL_WITH_DEB_INFO", "0"))
    if ccache:
        env += [("CMAKE_C_COMPILER_LAUNCHER", "ccache"), ("CMAKE_CXX_COMPILER_LAUNCHER", "ccache")]
    commands = ("git submodule update --init --recursive",
                "python -m pip install -r requirements.txt",
                "python -m pip install --no-build-isolation -v -e .")
    return FullPlan(True, "", commands, tuple(env), tus, jobs, hours, round(jobs * GB_PER_JOB, 1), DISK_GB, free,
                    ccache)


def describe(p: FullPlan) -> str:
    lines = []
    if not p.possible:
        return f"full build: not possible here: {p.reason}"
    lines.append(f"full build plan ({p.translation_units} translation units, {p.jobs} parallel jobs):")
    lines.append("  environment:  " + " ".join(f"{k}={v}" for k, v in p.env))
    for c in p.commands:
        lines.append(f"  $ {c}")
    lines.append(f"  estimate on this machine: ~{p.hours:.1f} h (about {SECONDS_PER_TU:.0f} s per TU), "
                 f"peak memory ~{p.memory_gb} GB (1.3-1.8 GB per job), disk ~{p.disk_gb:.0f} GB "
                 f"({p.disk_free_gb:.0f} GB free)")
    if not p.ccache:
        lines.append("  tip: install ccache (apt-get install ccache): rebuilds after a change then take minutes")
    if p.disk_free_gb < p.disk_gb:
        lines.append(f"  warning: only {p.disk_free_gb:.0f} GB free; the build needs ~{p.disk_gb:.0f} GB")
    lines.append("  run it with: torchatlas lab build --full --run (it takes hours; Ctrl-C stops it)")
    return "\n".join(lines)
