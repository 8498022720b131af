"""Building an index: a pipeline of small named steps.

    open source -> read YAML (the tree's torchgen, in a subprocess)
                -> scan registrations (hand-written C++, torch's Python), kernel locations, bindings
                -> resolve every (op, key) -> assemble the graph -> write (atomically)

The YAML subprocess is started first and the in-process scans run while it works, so the
wall time is about that of the slowest step rather than their sum.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import graph
from .cpp_registrations import CORE_FALLBACKS, fallbacks_from, scan_tree
from .dispatch_keys import DEFAULT_KEYS
from .model import IndexSummary, Location, Problem, Registration
from .resolver import DispatchFacts, Resolver
from .sources import Source
from .store import writing
from .yaml_index import YamlFacts, read_yaml

Progress = Callable[[str, int, int], None]  # (step description, done, total)


def default_db_path(source: Source) -> Path:
    """One file per source in the user cache dir (XDG): kind, version and a hash of the root."""
    from platformdirs import user_cache_dir
    digest = hashlib.sha1(source.info.root.encode()).hexdigest()[:10]
    version = source.info.version.replace("+", "_").replace("/", "_")
    return Path(user_cache_dir("torchatlas")) / f"{source.info.kind}-{version}-{digest}.sqlite"


@dataclass
class Scans:
    registrations: list[Registration] = field(default_factory=list)
    fallbacks: dict = field(default_factory=dict)
    fallbacks_from: str = "table"
    kernel_locations: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def scan_cpp(source: Source, scans: Scans) -> None:
    if source.layout == "checkout":
        regs, problems = scan_tree(source.root)
        scans.registrations.extend(regs)
        scans.problems.extend(problems)
        scans.fallbacks = fallbacks_from(regs)
        scans.fallbacks_from = "scan"
        from .kernel_locations import scan as scan_kernels
        scans.kernel_locations = scan_kernels(source.root)
    else:
        scans.fallbacks = {k: (kind, file, 0) for k, (kind, file) in CORE_FALLBACKS.items()}
        scans.fallbacks_from = "table"


def scan_python(source: Source, ops: dict, scans: Scans) -> None:
    from .python_registrations import python_meta_registrations
    regs, problems = python_meta_registrations(source.root, source.layout, ops)
    scans.registrations.extend(regs)
    scans.problems.extend(problems)


def bindings_for(source: Source, yaml_facts: YamlFacts) -> tuple[list, list[Problem]]:
    from .bindings import python_bindings
    return python_bindings(yaml_facts.ops, source.root, source.layout)


def build_index(source: Source, db: Path, progress: Progress | None = None,
                keys: tuple[str, ...] = DEFAULT_KEYS) -> IndexSummary:
    t0 = time.perf_counter()
    say = progress or (lambda step, done, total: None)
    steps = 6
    say("reading native_functions.yaml and derivatives.yaml with the tree's torchgen", 0, steps)
    from concurrent.futures import ThreadPoolExecutor
    scans = Scans()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read_yaml, source)  # a subprocess: runs beside the scans below
        scan_cpp(source, scans)
        say("scanning hand-written C++ registrations", 1, steps)
        yaml_facts = pending.result()
    ops = {o.op: o for o in yaml_facts.ops}
    say("scanning torch's Python registrations and bindings", 2, steps)
    scan_python(source, ops, scans)
    bindings, binding_problems = bindings_for(source, yaml_facts)
    say("resolving every operator under every dispatch key", 3, steps)
    facts = DispatchFacts(ops=ops, autograd=yaml_facts.autograd, manual_autograd=yaml_facts.manual_autograd,
                          registrations=scans.registrations, fallbacks=scans.fallbacks,
                          fallbacks_from=scans.fallbacks_from, kernel_locations=scans.kernel_locations)
    resolver = Resolver(facts)
    all_ops = resolver.known_ops()
    entries = [resolver.resolve(op, k) for op in all_ops for k in keys]
    say("assembling the graph", 4, steps)
    problems = yaml_facts.problems + scans.problems + binding_problems
    records = graph.op_records(yaml_facts, bindings, source)
    records += graph.registration_only_records(all_ops, set(ops), scans.registrations)
    nodes, edges = graph.nodes_and_edges(yaml_facts, bindings, entries, source)
    say("writing the index", 5, steps)
    with writing(db) as w:
        w.set_meta(source=source.info.as_json(), built_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                   yaml_reader=yaml_facts.reader, keys=list(keys), fallbacks_from=scans.fallbacks_from)
        w.add_ops((r["op"], r["name"], r["overload"], r) for r in records)
        w.add_dispatch(entries)
        w.add_derivatives((d.op, d.node, d.dispatch_key, graph.derivative_record(d)) for d in yaml_facts.derivatives)
        w.add_nodes(nodes)
        n_edges = w.add_edges(edges)
        w.add_problems(problems)
        counts = {"ops": len(records), "dispatch_entries": len(entries), "derivatives": len(yaml_facts.derivatives),
                  "python_bindings": len(bindings), "registrations": len(scans.registrations),
                  "nodes": len(nodes), "edges": n_edges, "problems": len(problems)}
        w.set_meta(counts=counts)
    say("done", steps, steps)
    return IndexSummary(source=source.info, counts=counts, problems=tuple(problems),
                        seconds=time.perf_counter() - t0)


def problem_at(path: str, line: int, entry: str, message: str) -> Problem:
    return Problem(Location(path, line), entry, message)
