"""Graphviz files: DOT text written as .dot, or rendered to .svg/.png by graphviz's `dot`.

Shared by every picture torchatlas draws (the CLI's `--graph`, the explorer's `g`, the tours'
pictures), so it lives in the lowest layer. We write DOT ourselves (no graphviz Python package);
`dot` runs with a list argv, never a shell; without it, `.dot` still works and write_picture falls
back to DOT text beside the asked-for file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import AtlasError

FORMATS = {".svg": "svg", ".png": "png", ".dot": None, ".gv": None}


def graph_format(path: str | Path) -> str | None:
    """The graphviz format an output file asks for (None: DOT text). Raises AtlasError (exit 2)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AtlasError(f"{path}: --graph writes .svg, .png or .dot, not {suffix or 'a file without a suffix'}",
                         hint="e.g. --graph add.svg")
    fmt = FORMATS[suffix]
    if fmt and dot_binary() is None:
        raise AtlasError(f"writing {path} needs graphviz's `dot`, which is not on PATH",
                         hint="install graphviz (apt-get install graphviz, or brew install graphviz), "
                              "or write DOT text with --graph out.dot")
    return fmt


def dot_binary() -> str | None:
    return shutil.which("dot")


def write_picture(dot_text: str, path: str | Path) -> tuple[Path, str]:
    """Like write_graph, but a missing graphviz is not the end: the DOT text is written beside the
    asked-for file (add.svg -> add.dot) and the second value says so, for the caller to report
    after its main output. Other problems (a bad suffix, a missing folder) still raise."""
    path = Path(path)
    if FORMATS.get(path.suffix.lower()) and dot_binary() is None:
        fallback = path.with_suffix(".dot")
        written = write_graph(dot_text, fallback)
        return written, (f"{path} needs graphviz's `dot`, which is not on PATH: wrote the DOT text to {written} "
                         f"instead; after installing graphviz (apt-get install graphviz, or brew install graphviz): "
                         f"dot -T{path.suffix.lower()[1:]} {written} -o {path}")
    return write_graph(dot_text, path), ""


def write_graph(dot_text: str, path: str | Path) -> Path:
    """Write `dot_text` to `path` as DOT, SVG or PNG (by its suffix). Raises AtlasError (exit 2).

    Written beside it under a scratch name, then renamed: `path` appears whole or not at all (graphviz
    writes its output as it goes; a failed or killed `dot` used to leave a half-written picture, and
    a reader could find the file while it was still empty)."""
    path = Path(path)
    fmt = graph_format(path)
    if path.parent and not path.parent.exists():
        raise AtlasError(f"{path}: the directory {path.parent} does not exist")
    scratch = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        if fmt is None:
            scratch.write_text(dot_text)
        else:
            _render(dot_text, fmt, scratch)
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path


def _render(dot_text: str, fmt: str, out: Path) -> None:
    try:
        proc = subprocess.run([dot_binary() or "dot", f"-T{fmt}", "-o", str(out)], input=dot_text.encode(),
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AtlasError(f"graphviz `dot` failed: {e}", hint="write DOT text with --graph out.dot instead") from e
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise AtlasError(f"graphviz `dot` failed: {last}", hint="write DOT text with --graph out.dot instead")


def pictures_dir() -> Path:
    """Where pictures go unless a path is given (the explorer's `g`, `tours picture`):
    `TORCHATLAS_PICTURES_DIR`, else the user's pictures folder (~/Pictures/torchatlas), never the
    current directory by surprise."""
    env = os.environ.get("TORCHATLAS_PICTURES_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_pictures_dir()) / "torchatlas"


def safe_stem(text: str) -> str:
    """A file name from an operator or a trace: `aten::layer_norm` -> `aten_layer_norm` (no colons,
    slashes or spaces, which some file systems and shells trip on)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "picture"
