"""Pictures of dispatch: the dispatch table of an operator, and a trace, as graphviz diagrams.

(Writing them, as DOT or through graphviz, is indexes/dot_files.py.)

We write the DOT text ourselves (no graphviz Python package); `.dot` output always works, `.svg`
and `.png` run graphviz's `dot` (a list argv, never a shell). No Textual here: the CLI's
`dispatch --graph` and `trace --graph` use this module too.
"""

from __future__ import annotations

import textwrap

from torchatlas.indexes.errors import AtlasError


# Fill colours per kind of kernel: what runs (kernel), a default (composite), a decomposition,
# autograd, one kernel for all ops (fallback), skipped (fallthrough), nothing (none).
KIND_STYLE = {
    "kernel": ("#d1fae5", "solid"),
    "composite_explicit": ("#dbeafe", "solid"),
    "composite_explicit_nonfunctional": ("#dbeafe", "solid"),
    "composite_implicit": ("#ede9fe", "solid"),
    "composite_implicit_nested": ("#ede9fe", "solid"),
    "autograd": ("#ffedd5", "solid"),
    "fallback": ("#e5e7eb", "solid"),
    "fallthrough": ("#f3f4f6", "dashed"),
    "none": ("#fee2e2", "dashed"),
}

LAYER_STYLE = {
    "python": "#fef9c3", "binding": "#fef3c7", "cpp_api": "#e0f2fe", "operator": "#dbeafe", "dispatch": "#e0e7ff",
    "kernel": "#d1fae5", "stub": "#ccfbf1", "cpu_kernel": "#dcfce7", "loop": "#bbf7d0",
}


def q(text: str) -> str:
    """A DOT double-quoted string (labels keep their \\n line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrap(text: str, width: int = 48, max_lines: int = 4) -> str:
    lines = textwrap.wrap(text, width=width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 3] + "..."
    return "\n".join(lines)


def _header(name: str, rankdir: str) -> list[str]:
    return [f"digraph {q(name)} {{",
            f"  graph [rankdir={rankdir}, fontname=\"Helvetica\", fontsize=11, nodesep=0.25, ranksep=0.6];",
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, fillcolor=\"#ffffff\"];",
            "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#6b7280\"];"]


def dispatch_dot(ops_entries, source=None, live: dict | None = None, cuda_built: bool = True) -> str:
    """The dispatch table of one or more overloads: op -> runtime key -> what runs there.

    `ops_entries` is [(op, {key: DispatchEntry})]; `live` (optional) is {op: {key: LiveEntry}} from the
    installed torch's dispatcher, and a key where it disagrees is drawn with a red border.
    """
    ops_entries = list(ops_entries)
    if len(ops_entries) > 16:
        raise AtlasError(f"--graph draws up to 16 overloads at once, not {len(ops_entries)}",
                         hint="name one overload (aten::add.Tensor) or a short name (add)")
    title = ops_entries[0][0] if len(ops_entries) == 1 else ops_entries[0][0].split(".", 1)[0]
    out = _header(f"dispatch {title}", "LR")
    if source is not None:
        out.append(f"  label={q(f'dispatch of {title} in torch {source.version} ({source.kind})')}; labelloc=t;")
    kernels: dict[tuple, str] = {}
    for i, (op, table) in enumerate(ops_entries):
        op_id = f"op{i}"
        out.append(f"  {op_id} [label={q(op)}, shape=box, style=\"filled,bold\", fillcolor=\"#bfdbfe\", "
                   "fontsize=12, ordering=out];")
        out.append(f"  subgraph cluster_keys{i} {{ label=\"runtime dispatch keys\"; style=dashed; color=\"#9ca3af\";")
        for key in table:
            out.append(f"    k{i}_{key} [label={q(key)}, shape=box, style=\"filled\", fillcolor=\"#f9fafb\"];")
        out.append("  }")
        for key, e in table.items():
            kid = f"k{i}_{key}"
            out.append(f"  {op_id} -> {kid} [arrowhead=none, color=\"#d1d5db\"];")
            fill, style = KIND_STYLE.get(e.kind, ("#ffffff", "solid"))
            node_key = (e.kind, e.kernel, e.registered_in)
            nid = kernels.get(node_key)
            if nid is None:
                nid = kernels[node_key] = f"n{len(kernels)}"
                label = [wrap(e.kernel or ("nothing runs" if e.kind == "none" else e.kind), 60, 2)]
                if e.registered_in:
                    label.append(wrap(f"registered in {e.registered_in}", 60, 2))
                if e.defined_at:
                    label.append(wrap(f"defined at {e.defined_at}", 60, 2))
                out.append(f"  {nid} [label={q(chr(10).join(label))}, fillcolor={q(fill)}, "
                           f"style={q('rounded,filled,' + style)}];")
            attrs = [f"label={q(e.kind)}", f"tooltip={q(' <- '.join(e.via))}"]
            if live is not None:
                from .data import live_mark
                le = (live.get(op) or {}).get(key)
                mark, text = live_mark(e, le, cuda_built)
                if mark == "!":
                    out.append(f"  {kid} [color=\"#dc2626\", penwidth=2, label={q(key + chr(10) + 'live: ' + text)}];")
                elif mark == "~":
                    out.append(f"  {kid} [color=\"#9ca3af\", label={q(key + chr(10) + '(no CUDA in this build)')}];")
                else:
                    out.append(f"  {kid} [color=\"#16a34a\"];")
            if e.kind in ("fallthrough", "none"):
                attrs.append("style=dashed")
            out.append(f"  {kid} -> {nid} [{', '.join(attrs)}];")
    used = sorted({e.kind for _op, t in ops_entries for e in t.values()})
    legend = " | ".join(f"<td bgcolor=\"{KIND_STYLE.get(k, ('#ffffff', ''))[0]}\">{k}</td>" for k in used)
    out.append(f"  legend [shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"1\" "
               f"cellspacing=\"2\"><tr><td border=\"0\">kinds</td>{legend.replace(' | ', '')}</tr></table>>];")
    out.append("}")
    return "\n".join(out) + "\n"


def trace_dot(start: str, op: str, key: str, steps, source=None) -> str:
    """The walk from a Python callable (or an operator) down to the loop, one box per hop."""
    out = _header(f"trace {start}", "TB")
    title = f"{start} -> {op} under {key}"
    if source is not None:
        title += f"  (torch {source.version}, {source.kind})"
    out.append(f"  label={q(title)}; labelloc=t;")
    prev = None
    for i, s in enumerate(steps):
        lines = [f"[{s.layer}] " + wrap(s.title, 64, 3)]
        if s.location:
            lines.append(f"at {s.location}")
        if s.generated_by:
            lines.append(f"generated by {s.generated_by}" + ("" if s.location else " (not in this source)"))
        style = "rounded,filled,dashed" if s.generated_by and not s.location else "rounded,filled"
        attrs = [f"label={q(chr(10).join(lines))}", f"fillcolor={q(LAYER_STYLE.get(s.layer, '#ffffff'))}",
                 f"style={q(style)}"]
        if s.note:
            attrs.append(f"tooltip={q(s.note)}")
        out.append(f"  s{i} [{', '.join(attrs)}];")
        if prev is not None:
            out.append(f"  {prev} -> s{i};")
        prev = f"s{i}"
    out.append("}")
    return "\n".join(out) + "\n"
