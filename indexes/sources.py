"""Sources: where a PyTorch source lives and what shape it has.

Three kinds share one interface: the installed torch package (site-packages `torch/` plus
`torchgen/packaged`), a directory tree (a release tarball or any checkout), a git checkout (its
commit recorded). `Source.path_of(role)` names the files torchatlas reads by their role, so a
parser never needs to know which layout it is looking at.

Finding the installed torch must not import it (1.5 s): `importlib.util.find_spec` locates the
package from its metadata alone.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import BadSource
from .model import SourceInfo

# Files read by role: (checkout layout, package layout), relative to the root.
_ROLES = {
    "native_functions": ("aten/src/ATen/native/native_functions.yaml",
                         "torchgen/packaged/ATen/native/native_functions.yaml"),
    "tags": ("aten/src/ATen/native/tags.yaml", "torchgen/packaged/ATen/native/tags.yaml"),
    "derivatives": ("tools/autograd/derivatives.yaml", "torchgen/packaged/autograd/derivatives.yaml"),
    "deprecated": ("tools/autograd/deprecated.yaml", "torchgen/packaged/autograd/deprecated.yaml"),
    "torchgen": ("torchgen", "torchgen"),
    "torch": ("torch", "torch"),
    "native_dir": ("aten/src/ATen/native", "torch/include/ATen/native"),
    "aten_src": ("aten/src/ATen", "torch/include/ATen"),
}


@dataclass(frozen=True)
class Source:
    info: SourceInfo

    @property
    def root(self) -> Path:
        return Path(self.info.root)

    @property
    def layout(self) -> str:
        return self.info.layout

    def rel(self, role: str) -> str:
        checkout, package = _ROLES[role]
        return package if self.layout == "package" else checkout

    def path_of(self, role: str) -> Path:
        return self.root / self.rel(role)

    def display(self) -> str:
        v = f"torch {self.info.version}"
        return f"{v} ({self.info.kind}: {self.info.root})"


def installed_root() -> Path | None:
    """site-packages holding torch/ and torchgen/, found without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def installed_version() -> str | None:
    """The installed torch's version as its torch/version.py says (no import), or None without torch."""
    root = installed_root()
    return None if root is None else _read_version(root, "package")


def _read_version(root: Path, layout: str) -> str:
    if layout == "package":
        vf = root / "torch" / "version.py"
        if vf.is_file():
            m = re.search(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", vf.read_text(errors="replace"), re.M)
            if m:
                return m.group(1)
        return "unknown"
    vt = root / "version.txt"
    if vt.is_file():
        return vt.read_text(errors="replace").strip().splitlines()[0] if vt.read_text().strip() else "unknown"
    return "unknown"


def _git_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def open_source(spec: str | None) -> Source:
    """Resolve `installed` (default), or a path to a checkout / release tree / site-packages dir.

    Raises BadSource (exit 2) naming what was expected and what was found.
    """
    if spec in (None, ""):
        from .settings import default_source
        spec, origin = default_source()
        if spec != "installed":
            try:
                return open_source(spec)
            except BadSource as e:
                raise BadSource(f"{e.message} (the default source, from {origin})", hint=e.hint) from None
    if spec == "installed":
        root = installed_root()
        if root is None:
            raise BadSource("no installed torch found",
                            hint="install it (pip install torch==2.13.0) or pass a PyTorch source path")
        return _package_source(root, kind="installed")
    path = Path(spec).expanduser()
    if not path.exists():
        raise BadSource(f"{spec}: no such file or directory",
                        hint="pass a PyTorch checkout, a release tree, or 'installed'")
    path = path.resolve()
    if not path.is_dir():
        raise BadSource(f"{spec}: is a file, expected a directory holding a PyTorch source tree")
    if (path / _ROLES["native_functions"][0]).is_file():
        commit = _git_commit(path)
        info = SourceInfo(kind="git" if commit else "tree", root=str(path),
                          version=_read_version(path, "checkout"), commit=commit, layout="checkout")
        return Source(info)
    if (path / _ROLES["native_functions"][1]).is_file():
        return _package_source(path, kind="tree")
    if path.name == "torch" and (path.parent / _ROLES["native_functions"][1]).is_file():
        return _package_source(path.parent, kind="installed")
    raise BadSource(
        f"{path}: not a PyTorch source tree",
        hint=(f"expected {_ROLES['native_functions'][0]} (a checkout or release tree) or "
              f"{_ROLES['native_functions'][1]} (a site-packages dir with torch installed); "
              f"found neither"))


def _package_source(root: Path, kind: str) -> Source:
    nf = root / _ROLES["native_functions"][1]
    if not nf.is_file():
        raise BadSource(f"{root}: torch is installed but {nf.relative_to(root)} is missing",
                        hint="reinstall torch; torchatlas reads the torchgen/packaged copy of the YAML")
    return Source(SourceInfo(kind=kind, root=str(root), version=_read_version(root, "package"),
                             layout="package"))
