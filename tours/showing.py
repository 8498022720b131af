"""What a step shows on one source: the anchor resolution, with the step's versions, the fallback of
a checkout-only step on the installed package, and the `focus:` of its excerpt.

`anchors.resolve_step` finds where an anchor is; this module decides what the learner sees:

- a step with `since:` / `until:` is skipped on a source of another version, with the reason
  ("applies to torch >= 2.1; this source is 1.13.1"), never reported unresolved;
- a `requires: checkout` step on the installed package shows the installed file (a header, the
  Python) where one of its alternative anchors resolves there, otherwise it is skipped with a
  GitHub link to the file at the exact commit the package was built from (`torch.version.git_version`,
  read from torch/version.py without importing torch);
- `show: {focus: REGEX}` centres the excerpt on the first line matching inside the anchored
  definition (say the `kernel.template call` of a long function), not on its first line.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .anchors import SKIP_REASON, AnchorContext, resolve_anchor, resolve_step
from .model import Anchor, Resolution, Show, Step

GITHUB = "https://github.com/pytorch/pytorch"
FOCUS_REACH = 400  # lines searched after the anchor line when the definition's end is unknown


def resolve(step: Step, ctx: AnchorContext) -> Resolution:
    """The step's resolution on `ctx`, as the player and `tours check` show it."""
    why_not = step.applies_to(ctx.version)
    if why_not:
        return Resolution("skipped", why_not, anchor=step.anchors[0])
    if step.requires == "checkout" and ctx.layout == "package":
        res = _installed_fallback(step, ctx)
    else:
        res = resolve_step(step, ctx)
    return focus(res, ctx)


def _installed_fallback(step: Step, ctx: AnchorContext) -> Resolution:
    for a in step.anchors:
        try:
            r = resolve_anchor(a, ctx)
        except Exception:  # noqa: BLE001 - one bad anchor never stops a tour
            continue
        if r.status == "resolved":
            note = ("this step reads a full checkout; the installed package has no .cpp files, so this is what "
                    "it ships instead")
            return replace(r, reason=(r.reason + "; " if r.reason else "") + note)
    link = github_link(step, ctx)
    reason = SKIP_REASON + (f"; read it on GitHub: {link}" if link else "")
    return Resolution("skipped", reason, anchor=step.anchors[0], link=link)


def git_version(ctx: AnchorContext) -> str:
    """The commit the installed torch was built from (torch/version.py's git_version), or ''."""
    text = "\n".join(ctx.lines("torch/version.py") or [])
    m = re.search(r"^git_version\s*(?::\s*\w+\s*)?=\s*['\"]([0-9a-f]{7,40})['\"]", text, re.M)
    return m.group(1) if m else ""


def _anchor_path(a: Anchor) -> str:
    if a.kind == "file":
        return a.target.strip().lstrip("./")
    if a.hint and "/" in a.hint and re.search(r"\.\w+$", a.hint):
        return a.hint.strip().lstrip("./")
    return ""


def github_link(step: Step, ctx: AnchorContext) -> str:
    """The file a checkout-only step reads, on GitHub at the installed torch's commit (or, when no
    anchor names a file, a code search for its symbol there)."""
    commit = git_version(ctx)
    if not commit:
        return ""
    for a in step.anchors:
        path = _anchor_path(a)
        if path:
            return f"{GITHUB}/blob/{commit}/{path}"
    for a in step.anchors:
        if a.kind in ("cpp", "python"):
            name = re.sub(r"^TORCH_(IMPL|META)_FUNC\((.*)\)$", r"\2", a.target).replace("::", " ").split()[-1]
            return f"{GITHUB}/search?q=repo%3Apytorch%2Fpytorch+{name}&type=code"
    return ""


def focus(res: Resolution, ctx: AnchorContext) -> Resolution:
    """Move a resolved anchor's line to its `focus:` match (the excerpt is centred there)."""
    a = res.anchor
    if res.status != "resolved" or a is None or not a.show.focus or not res.path:
        return res
    lines = ctx.lines(res.path) or []
    end = res.end_line if res.end_line > res.line else min(len(lines), res.line + FOCUS_REACH)
    rx = re.compile(a.show.focus)
    for i in range(max(res.line, 1), min(end, len(lines)) + 1):
        if rx.search(lines[i - 1]):
            show = Show(before=a.show.before, after=a.show.after, whole=False, max_lines=a.show.max_lines,
                        focus=a.show.focus)
            return replace(res, line=i, end_line=i, anchor=replace(a, show=show),
                           label=(res.label + f" (at /{a.show.focus}/)").strip())
    note = f"focus /{a.show.focus}/ matches no line of {res.path}:{res.line}-{end}; showing the anchor line"
    return replace(res, reason=(res.reason + "; " if res.reason else "") + note)
