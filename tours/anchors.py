"""Anchors -> places in one source, through its index.

An anchor names what a step shows; this module finds where that is today: the operator's YAML
entry, the derivatives.yaml formula, the C++ or Python definition, the first line of a file that
matches a pattern. Line numbers are never stored in a tour, so line drift and file moves do not
break it. When an anchor does not resolve, the resolution carries the closest candidates.

Paths in tours are written as a checkout spells them (aten/src/ATen/..., c10/..., torch/csrc/...,
tools/autograd/...). On the installed package they are mapped to where it ships the same file
(torch/include/ATen/..., torchgen/packaged/...), and the other way round.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .model import Anchor, Resolution, Step

# (checkout prefix, package prefix): the same file in the two layouts.
PATH_MAP = (
    ("aten/src/ATen/native/native_functions.yaml", "torchgen/packaged/ATen/native/native_functions.yaml"),
    ("aten/src/ATen/native/tags.yaml", "torchgen/packaged/ATen/native/tags.yaml"),
    ("aten/src/ATen/templates/", "torchgen/packaged/ATen/templates/"),
    ("tools/autograd/", "torchgen/packaged/autograd/"),
    ("torch/library.h", "torch/include/torch/library.h"),
    ("torch/csrc/api/include/torch/", "torch/include/torch/"),
    ("aten/src/ATen/", "torch/include/ATen/"),
    ("c10/", "torch/include/c10/"),
    ("torch/csrc/", "torch/include/torch/csrc/"),
)
YAML_KINDS = ("op", "native_functions", "derivatives")
SKIP_REASON = ("needs a checkout: this code is only in a full source tree (the installed package ships the "
               "public headers and Python, not .cpp files); run the tour with --source PATH-TO-A-PYTORCH-TREE")


@dataclass
class AnchorContext:
    """One source and its index, with a cache of the files read."""

    index: object  # torchatlas.indexes.store.Index
    root: Path
    layout: str  # checkout | package
    version: str = ""
    _files: dict = field(default_factory=dict)

    @classmethod
    def of(cls, index) -> "AnchorContext":
        src = index.source
        return cls(index=index, root=Path(src.root), layout=src.layout, version=src.version)

    def lines(self, rel: str) -> list[str] | None:
        if rel not in self._files:
            try:
                self._files[rel] = (self.root / rel).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._files[rel] = None
        return self._files[rel]


def layout_paths(path: str, layout: str) -> list[str]:
    """Where a tour's path may be in this layout: as written first, then mapped."""
    path = path.strip()
    if path.startswith("./"):
        path = path[2:]
    out = [path]
    best = None  # the most specific prefix wins: torch/include/torch/csrc/ before torch/include/torch/
    for checkout, package in PATH_MAP:
        src, dst = (checkout, package) if layout == "package" else (package, checkout)
        if path.startswith(src) and (src.endswith("/") or path == src) and (best is None or len(src) > len(best[0])):
            best = (src, dst)
    if best:
        out.append(best[1] + path[len(best[0]):])
    return out


# -- resolving ------------------------------------------------------------------------------------

def resolve_step(step: Step, ctx: AnchorContext) -> Resolution:
    """The first of the step's alternative anchors that resolves; `skipped` when the step needs a
    checkout and this is the installed package."""
    if step.requires == "checkout" and ctx.layout == "package":
        return Resolution("skipped", SKIP_REASON, anchor=step.anchors[0])
    failures: list[Resolution] = []
    for a in step.anchors:
        try:
            r = resolve_anchor(a, ctx)
        except Exception as e:  # noqa: BLE001 - one bad anchor never stops a tour
            r = Resolution("unresolved", f"{a.describe()}: could not be looked up ({type(e).__name__}: {e})",
                           anchor=a)
        if r.status == "resolved":
            if failures:
                r = replace(r, reason=(r.reason + "; " if r.reason else "") +
                            f"alternative {len(failures) + 1} of {len(step.anchors)}")
            return r
        failures.append(r)
    if len(failures) == 1:
        return failures[0]
    cands: list[str] = []
    for f in failures:
        cands += [c for c in f.candidates if c not in cands]
    return Resolution("unresolved", "; ".join(f.reason for f in failures), anchor=failures[0].anchor,
                      candidates=tuple(cands[:8]))


def resolve_anchor(a: Anchor, ctx: AnchorContext) -> Resolution:
    return {"op": _op, "native_functions": _native_functions, "derivatives": _derivatives,
            "cpp": _symbol, "python": _symbol, "file": _file}[a.kind](a, ctx)


def _loc(text: str) -> tuple[str, int]:
    path, _, line = text.rpartition(":")
    return (path, int(line)) if line.isdigit() else (text, 0)


def _yaml_entry_end(ctx: AnchorContext, path: str, line: int) -> int:
    """The last line of the YAML list entry starting at `line` (up to the next `- ` at column 0)."""
    lines = ctx.lines(path) or []
    end = line
    for i in range(line, min(len(lines), line + 200)):  # lines[i] is line i + 1
        text = lines[i]
        if text.startswith("- ") or (text.strip() and not text[0].isspace() and not text.startswith("#")):
            break
        if text.strip() and not text.lstrip().startswith("#"):  # comments after an entry belong to the next
            end = i + 1
    return end


def _found_yaml(a: Anchor, ctx: AnchorContext, where: str, label: str, reason: str = "") -> Resolution:
    path, line = _loc(where)
    if ctx.lines(path) is None:
        return Resolution("unresolved", f"{a.describe()}: the index places it at {where}, which is not readable "
                                        "in this source", anchor=a)
    return Resolution("resolved", reason, anchor=a, path=path, line=line, end_line=_yaml_entry_end(ctx, path, line),
                      label=label)


def _op(a: Anchor, ctx: AnchorContext) -> Resolution:
    from torchatlas.indexes.errors import NotFound
    from torchatlas.indexes.queries import resolve_ops
    try:
        ops = resolve_ops(ctx.index, a.target)
    except NotFound as e:
        return Resolution("unresolved", f"{a.describe()}: no such operator in this index", anchor=a,
                          candidates=tuple(e.suggestions))
    rec = ctx.index.op(ops[0]) or {}
    where = rec.get("defined_at")
    if not where:
        return Resolution("unresolved", f"{a.describe()}: {ops[0]} has no source location in this index", anchor=a)
    note = "" if len(ops) == 1 else f"{len(ops)} overloads; showing {ops[0]}"
    return _found_yaml(a, ctx, where, f"operator {ops[0]}", note)


def _native_functions(a: Anchor, ctx: AnchorContext) -> Resolution:
    from torchatlas.indexes.queries import normalize, suggest
    name = normalize(a.target)
    op = name if name.startswith("aten::") else "aten::" + name
    rec = ctx.index.op(op)
    if rec is None or rec.get("generated") or not str(rec.get("defined_at", "")).split(":")[0].endswith(
            "native_functions.yaml"):
        why = ("is generated by torchgen, not written in native_functions.yaml" if rec and rec.get("generated")
               else "has no native_functions.yaml entry in this index")
        return Resolution("unresolved", f"{a.describe()}: {op} {why}", anchor=a,
                          candidates=tuple(suggest(ctx.index, op)))
    return _found_yaml(a, ctx, rec["defined_at"], f"native_functions.yaml entry {op[len('aten::'):]}")


def _derivatives(a: Anchor, ctx: AnchorContext) -> Resolution:
    from torchatlas.indexes.queries import normalize
    name = normalize(a.target)
    op = name if name.startswith("aten::") else "aten::" + name
    for rec in ctx.index.derivatives(op):
        if rec.get("defined_at"):
            node = rec.get("node") or "no node"
            return _found_yaml(a, ctx, rec["defined_at"], f"derivatives.yaml entry {op[len('aten::'):]} ({node})")
    base = op.split(".", 1)[0]
    from torchatlas.indexes.lookups import ops_with_derivatives
    rows = list(ops_with_derivatives(ctx.index))
    close = difflib.get_close_matches(op, rows, n=5, cutoff=0.6)
    close += [r for r in rows if r.split(".", 1)[0] == base and r not in close]
    return Resolution("unresolved", f"{a.describe()}: no derivatives.yaml entry for {op} in this index", anchor=a,
                      candidates=tuple(c[len("aten::"):] for c in close[:5]))


_KIND_RANK = {"function": 0, "method": 0, "class": 1, "struct": 1, "macro": 2, "enum": 2, "namespace": 3,
              "variable": 4}


def _symbol(a: Anchor, ctx: AnchorContext) -> Resolution:
    from torchatlas.indexes.code_queries import find, resolve_symbol
    from torchatlas.indexes.ranking import location_noise
    lang = "cpp" if a.kind == "cpp" else "python"
    hits = [h for h in resolve_symbol(ctx.index, a.target) if h.lang == lang]
    if not hits and lang == "python" and "." in a.target and "::" not in a.target:
        hits = _py_alias(ctx, a.target)
    if not hits:
        base = re.sub(r"^TORCH_(IMPL|META)_FUNC\((.*)\)$", r"\2", a.target)
        base = base.replace("::", ".").rsplit(".", 1)[-1]
        cands = [f"{h.qualname} ({h.location})" for h in find(ctx.index, base, limit=12)
                 if h.kind not in ("file", "operator") and (h.lang in (lang, ""))][:5]
        return Resolution("unresolved", f"{a.describe()}: no {lang.replace('cpp', 'C++').replace('python', 'Python')} "
                                        "definition with this name in this index", anchor=a, candidates=tuple(cands))
    rows = []
    for h in hits:
        path, line = _loc(h.location)
        end = _def_end(ctx, path, line, h.name, h.qualname)
        declaration = lang == "cpp" and (h.detail or "").rstrip().endswith(";") and h.kind in ("function", "method")
        hinted = bool(a.hint) and _hint_matches(a.hint, path, ctx.layout)
        exact_type = h.kind in ("class", "struct") and h.qualname.replace("::", ".") == a.target.replace("::", ".")
        shared = _shared_prefix(h.qualname, a.target)
        rows.append(((not hinted, not exact_type, -shared, declaration, _KIND_RANK.get(h.kind, 5), location_noise(h.location),
                      path, line), h, path, line, end))
    rows.sort(key=lambda r: r[0])
    _rank, h, path, line, end = rows[0]
    if ctx.lines(path) is None:
        return Resolution("unresolved", f"{a.describe()}: the index places it at {path}:{line}, which is not "
                                        "readable in this source", anchor=a)
    notes = []
    if a.hint and _rank[0]:
        notes.append(f"no definition in a path matching {a.hint!r}; showing the best other one")
    if len(hits) > 1:
        notes.append(f"{len(hits)} definitions; showing the {'declaration' if _rank[3] else 'definition'} at "
                     f"{path}:{line}")
    return Resolution("resolved", "; ".join(notes), anchor=a, path=path, line=line, end_line=end,
                      label=f"{h.kind} {h.qualname}")


def _shared_prefix(qualname: str, target: str) -> int:
    """How many leading components (:: or .) a definition's qualified name shares with the anchor."""
    n = 0
    for x, y in zip(qualname.replace("::", ".").split("."), target.replace("::", ".").split(".")):
        if x != y:
            break
        n += 1
    return n


def _py_alias(ctx: AnchorContext, target: str) -> list:
    """Python definitions a public dotted name stands for: `torch.nn.Module.__init__` is defined as
    `torch.nn.modules.module.Module.__init__`, `torch.nn.Parameter` as `torch.nn.parameter.Parameter`."""
    from torchatlas.indexes.code_queries import Hit
    from torchatlas.indexes.lookups import python_definitions_named
    parts = target.split(".")
    if len(parts) < 2:
        return []
    tail = ".".join(parts[-2:])
    package = ".".join(parts[:-1])
    out = []
    for d in python_definitions_named(ctx.index, parts[-1], parts[0]):
        module = d.qualname.rsplit(".", 1)[0]
        if d.qualname.endswith("." + tail) or (module.startswith(package + ".") and
                                               module.count(".") == package.count(".") + 1
                                               and d.kind in ("class", "function")):
            out.append(Hit(d.kind, d.name, d.qualname, str(d.location), d.lang, d.signature))
    return out


def _hint_matches(hint: str, path: str, layout: str) -> bool:
    return any(p in path for p in layout_paths(hint, layout))


def _def_end(ctx: AnchorContext, path: str, line: int, name: str, qualname: str) -> int:
    from torchatlas.indexes.lookups import definitions_at
    defs = definitions_at(ctx.index, path, line)
    if not defs:
        return line
    best = max(defs, key=lambda d: (d.qualname == qualname, d.name == name, d.end_line))
    return max(best.end_line or line, line)


def _file(a: Anchor, ctx: AnchorContext) -> Resolution:
    exact, moved = _file_candidates(a.target, ctx)
    if not exact and not moved:
        base = a.target.rstrip("/").rsplit("/", 1)[-1]
        stem = base.rsplit(".", 1)[0]
        from torchatlas.indexes.lookups import files_containing
        rows = list(files_containing(ctx.index, stem, limit=50))
        return Resolution("unresolved", f"{a.describe()}: no such file in this source", anchor=a,
                          candidates=tuple(sorted(rows, key=len)[:5]))
    if not a.pattern:
        if exact:
            path, note = exact, ""
        else:
            path, score = moved[0]
            unique = len(moved) == 1
            if score < 2 and not unique:
                return Resolution("unresolved", f"{a.describe()}: no such file in this source; files with the same "
                                                "name are elsewhere", anchor=a,
                                  candidates=tuple(p for p, _s in moved[:5]))
            note = f"moved: found at {path}"
        lines = ctx.lines(path) or []
        return Resolution("resolved", note, anchor=a, path=path, line=1, end_line=len(lines), label=f"file {path}")
    rx = re.compile(a.pattern)
    tried = [exact] if exact else [p for p, _s in moved]
    for path in tried:
        lines = ctx.lines(path) or []
        for i, text in enumerate(lines):
            if rx.search(text):
                line = i + 1
                note = "" if path == exact else f"moved: found at {path}"
                return Resolution("resolved", note, anchor=a, path=path, line=line,
                                  end_line=_enclosing_def_end(ctx, path, line), label=f"/{a.pattern}/ in {path}")
    path = tried[0]
    lines = ctx.lines(path) or []
    literal = re.sub(r"\\(.)", r"\1", a.pattern)
    close = difflib.get_close_matches(literal.strip(), [t.strip() for t in lines if t.strip()], n=3, cutoff=0.5)
    cands = []
    for c in close:
        idx = next(i for i, t in enumerate(lines) if t.strip() == c)
        cands.append(f"{path}:{idx + 1}: {c[:100]}")
    where = path if exact else f"{len(tried)} file(s) named {path.rsplit('/', 1)[-1]} (the named path is missing)"
    return Resolution("unresolved", f"{a.describe()}: the pattern matches no line of {where}", anchor=a,
                      candidates=tuple(cands))


def _file_candidates(target: str, ctx: AnchorContext) -> tuple[str | None, list[tuple[str, int]]]:
    """(the file as named, mapped to this layout, if it exists; else files with the same name elsewhere,
    a move, best first with the number of trailing path components they share with the target)."""
    for p in layout_paths(target, ctx.layout):
        if (ctx.root / p).is_file():
            return p, []
    base = target.rstrip("/").rsplit("/", 1)[-1]
    from torchatlas.indexes.lookups import files_with_base
    rows = list(files_with_base(ctx.index, base))
    wants = [p.split("/") for p in layout_paths(target, ctx.layout)]

    def common_suffix(p: str) -> int:
        best = 0
        for want in wants:
            n = 0
            for x, y in zip(reversed(p.split("/")), reversed(want)):
                if x != y:
                    break
                n += 1
            best = max(best, n)
        return best
    scored = sorted(((p, common_suffix(p)) for p in rows), key=lambda t: (-t[1], len(t[0]), t[0]))
    return None, scored


def _enclosing_def_end(ctx: AnchorContext, path: str, line: int) -> int:
    """The end of the definition that starts at (or within two lines of) `line`, else `line`."""
    from torchatlas.indexes.lookups import definitions_at
    spanning = [d for d in definitions_at(ctx.index, path, line, through=line + 2) if d.end_line > d.location.line]
    best = min(spanning, key=lambda d: (d.location.line, -d.end_line), default=None)
    return best.end_line if best else line


# -- showing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Excerpt:
    path: str
    anchor_line: int
    lines: tuple[tuple[int, str], ...]  # (line number, text)
    more: int = 0  # lines of the definition left out (past max_lines)


def excerpt(res: Resolution, ctx: AnchorContext) -> Excerpt | None:
    """The source lines a resolved step shows, around the anchor line."""
    if res.status != "resolved" or not res.path or res.anchor is None:
        return None
    lines = ctx.lines(res.path) or []
    if not lines:
        return None
    show = res.anchor.show
    line = max(1, min(res.line, len(lines)))
    whole = show.whole or res.anchor.kind in YAML_KINDS
    if whole and res.end_line > line:
        start = max(1, line - min(show.before, 2) if res.anchor.kind not in YAML_KINDS else line)
        end = min(res.end_line, len(lines))
    else:
        start = max(1, line - show.before)
        end = min(len(lines), line + show.after)
    more = 0
    cap = show.max_lines or (60 if whole else show.before + show.after + 1)
    if end - start + 1 > cap:
        more = end - (start + cap - 1)
        end = start + cap - 1
    return Excerpt(res.path, line, tuple((i, lines[i - 1]) for i in range(start, end + 1)), more)
