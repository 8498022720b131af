"""The build modes, by name: each module has `build(lab, workspace, *, progress=None) -> BuildResult`.

Modules are imported only when their mode is used (the extension and native builders reach for
compilers, the codegen builder for torchgen), so listing or showing labs stays instant.
"""

from __future__ import annotations

import importlib

from .base import BuildFailed, BuildResult, Diagnostic

MODULES = {"python": "python", "extension": "extension", "codegen": "codegen", "native": "native"}

__all__ = ["BuildFailed", "BuildResult", "Diagnostic", "build", "builder_for"]


def builder_for(mode: str):
    name = MODULES.get(mode)
    if name is None:
        raise BuildFailed(f"no builder for mode {mode!r}", hint=f"known modes: {', '.join(MODULES)}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError as e:
        raise BuildFailed(f"the {mode} builder is not available: {e}") from None


def build(lab, workspace, *, progress=None) -> BuildResult:
    """Build what `lab` needs in `workspace` (its root Path) with the lab's mode."""
    return builder_for(lab.mode.value).build(lab, workspace, progress=progress)
