"""Which version of a lab runs on a source: the lab itself, or its checkout variant.

A lab such as fix-a-kernel works on the installed torch with the lab's own copy of a kernel
(`lab/`), because the installed torch has no C++ sources to change. On a checkout of the same
version as the installed torch, the real thing is possible: the variant (`checkout/lab.yaml` in
the lab's folder) plants the bug in the checkout's own file (say
`aten/src/ATen/native/TriangularOps.cpp`), and the native builder compiles that file against the
installed headers into the overlay library. Headers and generated code only match when the
versions do, so on any other checkout the lab itself runs, and the learner is told why.
"""

from __future__ import annotations

import re

from .model import Lab

CHECKOUT = "checkout"


def release(version: str) -> str:
    """'2.6.0' of '2.6.0+cu124', '2.6.0a0+git1234', '2.6.0'; '' when it names no release."""
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", version or "")
    return ".".join(m.groups()) if m else ""


def for_source(lab: Lab, layout: str, version: str, installed: str | None) -> tuple[Lab, str]:
    """The lab to start on a source of `layout` ("checkout" | "package") at `version`, with
    `installed` the installed torch's version, and a note for the learner ("" when nothing to say)."""
    variant = lab.on_checkout
    if variant is None or layout != "checkout":
        return lab, ""
    files = ", ".join(e for e in variant.edits if not e.startswith("lab/"))
    if installed and release(installed) and release(installed) == release(version):
        return variant, (f"your checkout is torch {version}, as the installed torch ({installed}): this lab changes "
                         f"the checkout's own {files} and builds it into an overlay for the installed torch")
    return lab, (f"your checkout is torch {version} and the installed torch is {installed or 'missing'}: the lab "
                 f"works on its own copy of the kernel (lab/). With torch=={release(version) or version} installed, "
                 f"it would change the checkout's own {files}")


def for_workspace(lab: Lab, variant: str) -> Lab:
    """The lab a workspace was started with (`Workspace.variant`)."""
    if variant == CHECKOUT and lab.on_checkout is not None:
        return lab.on_checkout
    return lab


def for_workspace_path(lab: Lab, path: str | None) -> Lab:
    """For what needs no workspace (show, hint, the explorer's lab screen): the variant of the
    learner's workspace at `path`, if there is one and it opens; else the lab."""
    if not path or lab.on_checkout is None:
        return lab
    from pathlib import Path

    from .workspace import WorkspaceError, open_workspace
    try:
        return for_workspace(lab, open_workspace(Path(path)).variant)
    except WorkspaceError:
        return lab
