"""Assembling facts into the records and the typed graph the store keeps.

Op records are the `torchatlas op --json` contract; nodes and edges are the graph other views
walk (operator -> overload -> kernel -> file; derivative -> autograd node; binding -> overload).
"""

from __future__ import annotations

from collections import defaultdict

from .model import Derivative, DispatchEntry, Edge, EdgeKind, Location, Node, NodeKind, PythonBinding
from .sources import Source
from .yaml_index import YamlFacts


def derivative_record(d: Derivative) -> dict:
    return {"name": d.name, "op": d.op, "node": d.node, "dispatch_key": d.dispatch_key,
            "formulas": [{"variables": list(f.variables), "formula": f.formula, "forward": f.forward}
                         for f in d.formulas],
            "output_differentiability": list(d.output_differentiability) if d.output_differentiability else None,
            "defined_at": str(d.location)}


def _autograd_of(yaml_facts: YamlFacts) -> dict[str, dict]:
    where = {(d.op, d.dispatch_key): str(d.location) for d in yaml_facts.derivatives}
    out: dict[str, dict] = {}
    for op, per_key in yaml_facts.autograd.items():
        info = per_key.get("Default") or next(iter(per_key.values()), None)
        if not info or not info.get("node"):
            continue
        key = "Default" if "Default" in per_key else next(iter(per_key))
        out[op] = {"node": info["node"], "formula_at": where.get((info["name"], key)), "from": info["name"]}
    return out


def op_records(yaml_facts: YamlFacts, bindings: list[PythonBinding], source: Source) -> list[dict]:
    py = defaultdict(list)
    for b in bindings:
        py[b.op].append(b.callable)
    autograd = _autograd_of(yaml_facts)
    records = []
    for s in yaml_facts.ops:
        records.append({
            "op": s.op, "name": s.name, "overload": s.overload, "schema": s.schema,
            "arguments": [a.__dict__ for a in s.arguments], "returns": [a.__dict__ for a in s.returns],
            "variants": list(s.variants), "python": sorted(set(py.get(s.op, []))),
            "dispatch": dict(s.dispatch), "structured": s.structured, "structured_keys": list(s.structured_keys),
            "structured_delegate": s.structured_delegate, "structured_inherits": s.structured_inherits,
            "precomputed": s.precomputed, "autogen": list(s.autogen), "tags": list(s.tags),
            "python_module": s.python_module, "device_check": s.device_check, "device_guard": s.device_guard,
            "manual_kernel_registration": s.manual_kernel_registration, "manual_cpp_binding": s.manual_cpp_binding,
            "category_override": s.category_override, "generated": s.generated,
            "is_view": s.is_view, "defined_at": str(s.location),
            "autograd": ({"node": autograd[s.op]["node"], "formula_at": autograd[s.op]["formula_at"]}
                         if s.op in autograd else None),
        })
    return records


def registration_only_records(known_ops: list[str], yaml_ops: set[str], registrations) -> list[dict]:
    """Ops the source registers in C++ (TORCH_LIBRARY_FRAGMENT / m.impl) but never declares in YAML."""
    first = {}
    for r in registrations:
        if r.op in known_ops and r.op not in yaml_ops:
            first.setdefault(r.op, r)
    records = []
    for op, r in sorted(first.items()):
        name, _, overload = op.split("::", 1)[1].partition(".")
        records.append({
            "op": op, "name": name, "overload": overload, "schema": None, "arguments": [], "returns": [],
            "variants": [], "python": [], "dispatch": {}, "structured": False, "structured_keys": [],
            "structured_delegate": None, "structured_inherits": None, "precomputed": False, "autogen": [],
            "tags": [], "python_module": None, "device_check": None, "device_guard": True,
            "manual_kernel_registration": False, "manual_cpp_binding": False, "category_override": None,
            "generated": False, "is_view": False, "defined_at": str(r.location), "autograd": None,
            "origin": f"registered by hand in C++ ({r.location.path}), not declared in native_functions.yaml",
        })
    return records


def nodes_and_edges(yaml_facts: YamlFacts, bindings: list[PythonBinding], entries: list[DispatchEntry],
                    source: Source) -> tuple[list[Node], list[Edge]]:
    N, E = NodeKind, EdgeKind
    nodes = _DistinctNodes()
    edges: list[Edge] = []
    nf_file = source.rel("native_functions")
    nodes.add(N.SOURCE_FILE, nf_file, Location(nf_file))
    tags_file = source.rel("tags")
    for t in yaml_facts.tags:  # before the ops, so each tag node keeps its tags.yaml location
        nodes.add(N.TAG, t["tag"], Location(tags_file, t.get("line", 0)), (("desc", t.get("desc", "")),))
    for s in yaml_facts.ops:
        base = f"aten::{s.name}"
        nodes.add(N.OPERATOR, base)
        nodes.add(N.OVERLOAD, s.op, s.location, (("schema", s.schema),))
        edges.append(Edge(E.HAS_OVERLOAD, (N.OPERATOR, base), (N.OVERLOAD, s.op)))
        entry = f"native_functions: {s.short}"
        nodes.add(N.YAML_ENTRY, entry, s.location)
        edges.append(Edge(E.DECLARES, (N.YAML_ENTRY, entry), (N.OVERLOAD, s.op), s.location))
        edges.append(Edge(E.DEFINED_IN, (N.YAML_ENTRY, entry), (N.SOURCE_FILE, nf_file), s.location))
        if s.structured_delegate:
            edges.append(Edge(E.DELEGATES_TO, (N.OVERLOAD, s.op), (N.OVERLOAD, f"aten::{s.structured_delegate}"),
                              s.location))
        for t in s.tags:
            nodes.add(N.TAG, t)
            edges.append(Edge(E.TAGGED, (N.OVERLOAD, s.op), (N.TAG, t)))
    for d in yaml_facts.derivatives:
        name = f"derivatives: {d.name.split('(', 1)[0]}" + ("" if d.dispatch_key == "Default" else f" [{d.dispatch_key}]")
        nodes.add(N.DERIVATIVE, name, d.location)
        edges.append(Edge(E.DIFFERENTIATES, (N.DERIVATIVE, name), (N.OVERLOAD, d.op), d.location))
        if d.node:
            nodes.add(N.AUTOGRAD_NODE, d.node)
            edges.append(Edge(E.AUTOGRAD_NODE_OF, (N.DERIVATIVE, name), (N.AUTOGRAD_NODE, d.node), d.location))
    for b in bindings:
        nodes.add(N.PYTHON_BINDING, b.callable)
        edges.append(Edge(E.BINDS, (N.PYTHON_BINDING, b.callable), (N.OVERLOAD, b.op), attrs=(("via", b.via),)))
    for e in entries:
        if e.kind == "none":
            continue
        nodes.add(N.DISPATCH_KEY, e.key)
        if e.registered_in:
            nodes.add(N.GENERATED_FILE if "/" not in e.registered_in else N.SOURCE_FILE, e.registered_in)
        attrs = (("key", e.key), ("kind", e.kind))
        if e.kernel:
            if (N.KERNEL, e.kernel) not in nodes:  # parse the location once per kernel
                nodes.add(N.KERNEL, e.kernel, Location.parse(e.defined_at) if e.defined_at else None)
            edges.append(Edge(E.DISPATCHES_TO, (N.OVERLOAD, e.op), (N.KERNEL, e.kernel), attrs=attrs))
        if e.registered_in and e.kind in ("kernel", "autograd"):
            kind = N.GENERATED_FILE if "/" not in e.registered_in else N.SOURCE_FILE
            edges.append(Edge(E.GENERATED_INTO if kind is N.GENERATED_FILE else E.REGISTERS,
                              (N.OVERLOAD, e.op), (kind, e.registered_in), attrs=attrs))
    return list(nodes.values()), edges


class _DistinctNodes(dict):
    """Nodes by (kind, name), the first one added winning (it carries the location): 65k dispatch
    entries name only ~16k distinct nodes, so most additions are repeats, dropped before a Node
    is even built."""

    def add(self, kind: NodeKind, name: str, location: Location | None = None,
            attrs: tuple[tuple[str, str], ...] = ()) -> None:
        if (kind, name) not in self:
            self[kind, name] = Node(kind, name, location, attrs)
