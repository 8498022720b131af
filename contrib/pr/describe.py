"""A pull-request body in the shape PyTorch's template asks for, and the labels to add.

The shape: a summary of what changes and why, `Fixes #N` (GitHub closes the issue on merge), the
changed files, a test plan (the commands a reviewer can run: the lint and the tests `pr tests`
selects), and the checklist of PyTorch's template (CONTRIBUTING read, lint run). The wording is ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .labeler import Label, labels_for
from .start import PrBranch, changed_files, commits


@dataclass(frozen=True)
class Description:
    title: str
    body: str
    labels: tuple[Label, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {"title": self.title, "body": self.body,
                "labels": [{"name": lb.name, "why": lb.why} for lb in self.labels]}


def describe(pr: PrBranch, *, fixes: int | None = None, title: str | None = None, lab=None,
             tests: list | None = None, summary: str | None = None) -> Description:
    """`tests`: the selection of `pr tests` (objects with .command and .why), for the test plan."""
    paths = changed_files(pr)
    root = Path(pr.root)
    tree_root = Path(pr.source) if pr.source else root
    labels = tuple(labels_for(paths, tree_root if (tree_root / ".github").is_dir() else None))
    if title is None:
        log = commits(pr)
        title = (lab.title if lab is not None else "") or (log[-1][1] if log else "") or f"Change on {pr.branch}"
    lines = ["## Summary", ""]
    if summary:
        lines.append(summary.strip())
    elif lab is not None:
        first = (lab.summary or lab.title).strip()
        lines.append(f"{first[0].upper()}{first[1:]}" if first else lab.title)
        lines.append("")
        lines.append(f"(Rehearsed from the torchatlas lab `{lab.id}`.)")
    else:
        lines.append(title)
    lines += ["", f"Fixes #{fixes}" if fixes else "Fixes #ISSUE_NUMBER  <!-- the issue this closes; "
              "delete the line if there is none -->", "", "## Changes", ""]
    lines += [f"- `{p}`" for p in paths[:40]] or ["- (no changes yet)"]
    if len(paths) > 40:
        lines.append(f"- ... and {len(paths) - 40} more")
    lines += ["", "## Test plan", "", "```", "lintrunner  # or: torchatlas pr lint"]
    for t in (tests or [])[:8]:
        lines.append(t.command)
    if lab is not None:
        lines.append(f"torchatlas lab check {lab.id}")
    lines += ["```", ""]
    if tests:
        lines += ["Selected because:", ""] + [f"- `{t.name}`: {t.why}" for t in tests[:8]] + [""]
    lines += ["- [x] I am familiar with CONTRIBUTING.md",
              "- [x] I ran the linters on the changed files and fixed what they found", ""]
    return Description(title=title, body="\n".join(lines), labels=labels)
