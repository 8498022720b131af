"""Which labels a PR needs, from the paths it changes.

PyTorch's merge bot refuses a PR without a `release notes: <area>` or `topic: ...` label. Where the
tree has `.github/labeler.yml` (label -> path globs, as actions/labeler reads it), its rules are
used as written; the release-notes area comes from the rules below, modelled on how PyTorch sorts
its release notes by the part of the tree a change touches. Our own wording and mapping, not a copy.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

# (path prefix or glob, release-notes area); first match wins, most specific first
AREAS: tuple[tuple[str, str], ...] = (
    ("torch/utils/data/", "dataloader"),
    ("torch/nn/", "nn"),
    ("torch/optim/", "optim"),
    ("torch/autograd/", "autograd"),
    ("torch/csrc/autograd/", "autograd"),
    ("tools/autograd/", "autograd"),
    ("torchgen/packaged/autograd/", "autograd"),
    ("torch/fx/", "fx"),
    ("torch/_dynamo/", "dynamo"),
    ("torch/_inductor/", "inductor"),
    ("torch/export/", "export"),
    ("torch/_export/", "export"),
    ("torch/ao/", "quantization"),
    ("torch/distributed/", "distributed"),
    ("torch/onnx/", "onnx"),
    ("torch/jit/", "jit"),
    ("torch/csrc/jit/", "jit"),
    ("torch/sparse/", "sparse"),
    ("torch/linalg/", "linalg_frontend"),
    ("torch/fft/", "fft"),
    ("torch/utils/cpp_extension.py", "cpp_extension"),
    ("torch/library.py", "composability"),
    ("torch/_library/", "composability"),
    ("torch/_ops.py", "composability"),
    ("torch/_subclasses/", "composability"),
    ("torch/_prims/", "composability"),
    ("torch/_refs/", "composability"),
    ("torch/_decomp/", "composability"),
    ("torch/_meta_registrations.py", "composability"),
    ("aten/src/ATen/native/native_functions.yaml", "python_frontend"),
    ("torchgen/packaged/ATen/native/native_functions.yaml", "python_frontend"),
    ("aten/src/ATen/native/cpu/", "cpu"),
    ("aten/src/ATen/native/cuda/", "cuda"),
    ("aten/", "python_frontend"),
    ("c10/", "python_frontend"),
    ("torch/", "python_frontend"),
)
# paths no user sees: tests, CI, docs, tools, the lab's own scaffolding
NOT_USER_FACING = ("test/", ".github/", ".ci/", "docs/", "benchmarks/", "scripts/", "tools/linter/", "lab/",
                   "torch/testing/", ".lintrunner.toml", ".flake8", "CODEOWNERS", "README.md", "CONTRIBUTING.md")


@dataclass(frozen=True)
class Label:
    name: str
    why: str


def release_area(path: str) -> str | None:
    for prefix, area in AREAS:
        if path == prefix or path.startswith(prefix) or fnmatch.fnmatch(path, prefix):
            return area
    return None


def user_facing(path: str) -> bool:
    return not any(path == p or path.startswith(p) for p in NOT_USER_FACING) and not path.endswith(".md")


def tree_rules(root: Path) -> dict[str, list[str]]:
    """`.github/labeler.yml` of the tree: {label: [globs]} (both the v4 list form and v5's any-glob)."""
    path = Path(root) / ".github" / "labeler.yml"
    if not path.is_file():
        return {}
    import yaml
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    rules: dict[str, list[str]] = {}
    for label, spec in data.items() if isinstance(data, dict) else ():
        rules[str(label)] = [g for g in _globs(spec)]
    return rules


def _globs(spec):
    if isinstance(spec, str):
        yield spec
    elif isinstance(spec, list):
        for s in spec:
            yield from _globs(s)
    elif isinstance(spec, dict):
        for v in spec.values():
            yield from _globs(v)


def glob_match(path: str, pattern: str) -> bool:
    """actions/labeler's minimatch, near enough: `**` any depth, `*` within a segment."""
    rx = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    rx = rx.replace(r"\?", "[^/]")
    return re.fullmatch(rx, path) is not None or (not pattern.endswith("*") and path.startswith(pattern.rstrip("/") + "/"))


def labels_for(paths: list[str], root: Path | None = None) -> list[Label]:
    """The labels to add: the tree's labeler labels, and exactly one release-notes area or the topic."""
    out: list[Label] = []
    if root is not None:
        for label, globs in tree_rules(root).items():
            hits = [p for p in paths if any(glob_match(p, g) for g in globs)]
            if hits:
                out.append(Label(label, f"the tree's .github/labeler.yml: {hits[0]}"))
    facing = [p for p in paths if user_facing(p)]
    areas: dict[str, str] = {}
    for p in facing:
        area = release_area(p)
        if area:
            areas.setdefault(area, p)
    if areas:
        # the area of most changed files; PyTorch wants one release-notes label
        counts = {a: sum(release_area(p) == a for p in facing) for a in areas}
        best = max(counts, key=lambda a: (counts[a], a == "python_frontend" and -1 or 0))
        out.append(Label(f"release notes: {best}", f"{areas[best]} is user-facing code of {best}"))
    elif paths:
        out.append(Label("topic: not user facing", "only tests, docs, CI or lab scaffolding change: " + paths[0]))
    return out
