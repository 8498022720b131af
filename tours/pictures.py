"""A tour step's picture: a snippet that prints a graphviz (DOT) diagram of what it built.

Why snippets: the pictures worth drawing in a tour are of live objects (the autograd graph a line
of code builds, a module tree, the dispatch key order read from the enum), so they are drawn where
torch runs, in the tour's snippet subprocess, never in the torchatlas process. The snippet may call
the helpers below (`draw_autograd`, `draw_modules`, `draw_chain`), which print DOT; torchatlas
checks that DOT came out and writes it as .dot, or renders .svg/.png with graphviz
(indexes/dot_files.py). `tours check --run` proves every picture draws.
"""

from __future__ import annotations

from pathlib import Path

from torchatlas.indexes import dot_files
from torchatlas.indexes.errors import AtlasError

from .model import Step, Tour
from .runner import Job, run_snippets

# Prepended to a picture snippet (run in the snippet subprocess: torch may be imported there).
HELPERS = r'''
def _q(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def draw_autograd(*tensors, title="autograd graph"):
    """The backward graph behind `tensors`: each Node (grad_fn) a box, AccumulateGrad with its
    leaf's shape, an edge from a node to each node its backward feeds (next_functions)."""
    lines = ["digraph autograd {", "  rankdir=TB; node [shape=box, fontname=monospace, fontsize=10];",
             f"  label={_q(title)}; labelloc=t;"]
    seen, todo = {}, [t.grad_fn for t in tensors if t.grad_fn is not None]
    for i, t in enumerate(tensors):
        lines.append(f"  out{i} [label={_q('output ' + str(tuple(t.shape)))}, shape=ellipse];")
    while todo:
        fn = todo.pop()
        if fn is None or id(fn) in seen:
            continue
        name = f"n{len(seen)}"
        seen[id(fn)] = name
        label = type(fn).__name__
        leaf = getattr(fn, "variable", None)
        if leaf is not None:
            label += "\\nleaf " + str(tuple(leaf.shape))
        lines.append(f"  {name} [label={_q(label).replace(chr(92) * 2 + 'n', chr(92) + 'n')}];")
        todo.extend(nxt for nxt, _ in fn.next_functions if nxt is not None)
    for i, t in enumerate(tensors):
        if t.grad_fn is not None:
            lines.append(f"  out{i} -> {seen[id(t.grad_fn)]};")
    stack, done = [t.grad_fn for t in tensors if t.grad_fn is not None], set()
    while stack:
        fn = stack.pop()
        if id(fn) in done:
            continue
        done.add(id(fn))
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                lines.append(f"  {seen[id(fn)]} -> {seen[id(nxt)]};")
                stack.append(nxt)
    lines.append("}")
    print("\n".join(lines))


def draw_modules(module, title=None):
    """The module tree: each submodule its qualified name, class and own parameter count."""
    lines = ["digraph modules {", "  rankdir=LR; node [shape=box, fontname=monospace, fontsize=10];",
             f"  label={_q(title or type(module).__name__)}; labelloc=t;"]
    names = {}
    for qual, m in module.named_modules():
        names[qual] = f"m{len(names)}"
        own = sum(p.numel() for p in m.parameters(recurse=False))
        bufs = sum(b.numel() for b in m.buffers(recurse=False))
        label = (qual or "(root)") + "\n" + type(m).__name__ + (f"\n{own} params" if own else "") + \
            (f", {bufs} in buffers" if bufs else "")
        lines.append(f"  {names[qual]} [label={_q(label).replace(chr(10), chr(92) + 'n')}];")
        if qual:
            parent = qual.rsplit(".", 1)[0] if "." in qual else ""
            lines.append(f"  {names[parent]} -> {names[qual]};")
    lines.append("}")
    print("\n".join(lines))


def draw_chain(names, title="", notes=None):
    """Boxes in a row, first to last (an order: dispatch keys, pipeline stages); `notes` maps a
    name to a second line."""
    notes = notes or {}
    lines = ["digraph chain {", "  rankdir=LR; node [shape=box, fontname=monospace, fontsize=10];",
             f"  label={_q(title)}; labelloc=t;"]
    for i, n in enumerate(names):
        label = str(n) + (("\n" + notes[n]) if n in notes else "")
        lines.append(f"  c{i} [label={_q(label).replace(chr(10), chr(92) + 'n')}];")
        if i:
            lines.append(f"  c{i - 1} -> c{i};")
    lines.append("}")
    print("\n".join(lines))
'''


def picture_job(tour: Tour, number: int, step: Step) -> Job:
    return Job(f"{tour.id}:{number}:picture", HELPERS + "\n" + (step.picture or ""), step.timeout)


def picture_jobs(tour: Tour, numbers: list[int] | None = None) -> list[Job]:
    return [picture_job(tour, i, s) for i, s in enumerate(tour.steps, 1)
            if s.picture and (numbers is None or i in numbers)]


def dot_of(output: str) -> str | None:
    """The DOT text a picture snippet printed (from its `digraph` line on), or None when it printed
    none: then the picture is broken and `tours check --run` says so."""
    start = output.find("digraph")
    if start < 0 or "}" not in output[start:]:
        return None
    return output[start: output.rindex("}") + 1] + "\n"


def draw(tour: Tour, number: int, out: str | Path | None = None, python: str | None = None) -> tuple[Path, str]:
    """Run step `number`'s picture snippet and write its diagram to `out` (default: the pictures
    folder, .svg when graphviz is there, else .dot). Returns the file written and a note (graphviz
    missing: DOT written instead). Raises AtlasError when the snippet drew nothing. Shared by
    `tours picture` and the player's `g`."""
    job = picture_job(tour, number, tour.steps[number - 1])
    result = run_snippets([job], python=python)[job.key]
    dot = dot_of(result.output) if result.ok else None
    if dot is None:
        last = (result.output.strip().splitlines() or ["no output"])[-1]
        raise AtlasError(f"the picture of {tour.id} step {number} drew nothing: {last[:200]}",
                         hint=f"tours check {tour.id} --run shows the whole output")
    if out is None:
        suffix = ".svg" if dot_files.dot_binary() else ".dot"
        out = dot_files.pictures_dir() / f"torchatlas-{tour.id}-step{number}{suffix}"
        out.parent.mkdir(parents=True, exist_ok=True)
    return dot_files.write_picture(dot, out)
