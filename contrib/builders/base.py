"""What every builder promises: build what a lab's change needs, into the workspace's build folder.

A builder never touches the installed torch or the user's checkout: it reads the workspace and
writes only under `workspace/.lab/build/<mode>/`. A build that fails or is interrupted leaves no
half-written result that a later build would trust (a stamp file is written last, on success).
Checks then run in fresh subprocesses with the environment of `BuildResult.env()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Diagnostic:
    """A compiler or generator message, pointing at the learner's file and line where it can."""

    file: str  # relative to the workspace when it is inside it
    line: int
    column: int
    severity: str  # "error" | "warning" | "note"
    message: str

    def __str__(self) -> str:
        col = f":{self.column}" if self.column else ""
        return f"{self.file}:{self.line}{col}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    mode: str
    build_dir: Path | None = None
    library: Path | None = None  # the .so the checks load (extension, native)
    cached: bool = False  # nothing changed: the previous build was reused
    seconds: float = 0.0
    diagnostics: tuple[Diagnostic, ...] = ()
    summary: str = ""  # what was built / generated, for people (codegen: the diff summary)
    log: str = ""  # the full tool output, for --verbose and for failures without diagnostics
    extra_env: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def env(self) -> dict[str, str]:
        """The variables a check reads: TORCHATLAS_LAB_BUILD (the build folder), TORCHATLAS_LAB_LIB
        (the library to `torch.ops.load_library`), plus whatever the builder adds."""
        out: dict[str, str] = {}
        if self.build_dir is not None:
            out["TORCHATLAS_LAB_BUILD"] = str(self.build_dir)
        if self.library is not None:
            out["TORCHATLAS_LAB_LIB"] = str(self.library)
        out.update(dict(self.extra_env))
        return out


class BuildFailed(Exception):
    """Raised by a builder for a failure that is not the learner's code (a missing compiler, ninja,
    torchgen that will not import). The learner's own errors come back as BuildResult(ok=False)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint
