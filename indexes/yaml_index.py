"""native_functions.yaml, tags.yaml and derivatives.yaml, read into model facts.

The tree's own torchgen is the most faithful reader of its YAML (it knows that version's keys,
defaults and autogen rules), so it runs with the tree on sys.path (`_torchgen_extract.py`), in a
subprocess or in a process that exits right after. When that torchgen will not import (a very old
or broken tree), a tolerant fallback reads the YAML itself: fewer derived facts, but every entry keeps its file:line.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model import Argument, Derivative, DerivativeFormula, Location, OperatorSchema, Problem
from .sources import Source

_EXTRACT = Path(__file__).with_name("_torchgen_extract.py")


@dataclass
class YamlFacts:
    ops: list[OperatorSchema] = field(default_factory=list)
    derivatives: list[Derivative] = field(default_factory=list)
    autograd: dict = field(default_factory=dict)  # op -> {dispatch_key: {"node", "name"}}
    tags: list[dict] = field(default_factory=list)
    manual_autograd: dict = field(default_factory=dict)  # torchgen's MANUAL_* op name sets
    problems: list[Problem] = field(default_factory=list)
    reader: str = "torchgen"  # or "fallback"


def read_yaml(source: Source, timeout: float = 120, in_this_process: bool = False) -> YamlFacts:
    """The tree's YAML as its torchgen reads it (the fallback reader when that torchgen fails).

    `in_this_process` runs the tree's torchgen here instead of in a subprocess: only for a
    process that exits right after (the dispatch stage's), since the tree's modules stay loaded.
    """
    data = _torchgen_here(source, timeout) if in_this_process else _torchgen_subprocess(source, timeout)
    if data.get("fatal"):
        facts = read_yaml_fallback(source)
        facts.problems.insert(0, Problem(Location(source.rel("torchgen")), "",
                                         "the tree's torchgen could not read its YAML; used the tolerant "
                                         f"fallback reader ({data['fatal'].strip().splitlines()[-1][:200]})",
                                         "warning"))
        return facts
    return _from_torchgen(data)


def _torchgen_subprocess(source: Source, timeout: float) -> dict:
    """The extract script's RESULT, or {"fatal": why}."""
    try:
        proc = subprocess.run([sys.executable, str(_EXTRACT), str(source.root), source.layout],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"fatal": f"it did not finish in {timeout:.0f} s"}
    except OSError as e:
        return {"fatal": f"it could not start: {e}"}
    if proc.returncode != 0:
        return {"fatal": (proc.stderr.strip() or f"it exited with code {proc.returncode}")}
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"fatal": "it printed no JSON"}


def _torchgen_here(source: Source, timeout: float) -> dict:
    """The extract script's RESULT, run in this process, or {"fatal": why}; a watchdog alarm stands
    for the subprocess's timeout (this runs in the main thread of the dispatch stage's process)."""
    import signal

    def too_long(_signum, _frame):
        raise TimeoutError(f"it did not finish in {timeout:.0f} s")
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(_EXTRACT), str(source.root), source.layout]
    watchdog = hasattr(signal, "SIGALRM")
    if watchdog:
        previous = signal.signal(signal.SIGALRM, too_long)
        signal.alarm(max(1, int(timeout)))
    try:
        return runpy.run_path(str(_EXTRACT), run_name="_torchgen_extract")["RESULT"]
    except (Exception, SystemExit) as e:  # noqa: BLE001 - it failed or exited: the fallback reads the YAML
        return {"fatal": str(e) if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"}
    finally:
        if watchdog:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        sys.argv, sys.path[:] = saved_argv, saved_path


def _arg(d: dict) -> Argument:
    return Argument(name=d["name"], type=d["type"], default=d.get("default"), alias=d.get("alias"),
                    kwarg_only=d.get("kwarg_only", False), out=d.get("out", False))


def _from_torchgen(data: dict) -> YamlFacts:
    facts = YamlFacts()
    for p in data["problems"]:
        facts.problems.append(Problem(Location(p["path"], p["line"]), p["entry"], p["message"]))
    for o in data["ops"]:
        disp = tuple(sorted((k, v["kernel"]) for k, v in o["dispatch"].items()))
        structured_keys = tuple(sorted(k for k, v in o["dispatch"].items() if v.get("structured")))
        facts.ops.append(OperatorSchema(
            name=o["name"], overload=o["overload"], schema=o["schema"],
            arguments=tuple(_arg(a) for a in o["arguments"]), returns=tuple(_arg(a) for a in o["returns"]),
            location=Location(o["file"], o["line"]), variants=tuple(o["variants"]), dispatch=disp,
            structured=o["structured"] or bool(structured_keys), structured_keys=structured_keys,
            structured_delegate=o["structured_delegate"],
            structured_inherits=o["structured_inherits"], precomputed=o["precomputed"],
            autogen=tuple(o["autogen"]), tags=tuple(o["tags"]), python_module=o["python_module"],
            device_check=o["device_check"], device_guard=o["device_guard"],
            manual_kernel_registration=o["manual_kernel_registration"],
            manual_cpp_binding=o["manual_cpp_binding"], category_override=o["category_override"],
            cpp_no_default_args=tuple(o["cpp_no_default_args"]),
            has_composite_implicit_autograd_kernel=o["has_composite_implicit_autograd_kernel"],
            has_composite_implicit_autograd_nested_tensor_kernel=o["has_composite_implicit_autograd_nested_tensor_kernel"],
            has_composite_explicit_autograd_kernel=o["has_composite_explicit_autograd_kernel"],
            has_composite_explicit_autograd_non_functional_kernel=o["has_composite_explicit_autograd_non_functional_kernel"],
            generated=o["generated"], is_abstract=o.get("is_abstract", True),
            schema_kind=o.get("schema_kind", "functional"), is_view=o["is_view"], is_inplace_or_out=o["is_inplace_or_out"]))
    deriv_file = _derivatives_rel(data)
    for d in data["derivatives"]:
        facts.derivatives.append(Derivative(
            name=d["name"], op=d["op"], node=d["node"],
            formulas=tuple(DerivativeFormula(tuple(f["variables"]), f["formula"], f["forward"]) for f in d["formulas"]),
            output_differentiability=tuple(d["output_differentiability"]) if d["output_differentiability"] else None,
            location=Location(deriv_file, d["line"]), dispatch_key=d["dispatch_key"]))
    facts.autograd = data["autograd"]
    facts.tags = data["tags"]
    facts.manual_autograd = data["manual_autograd"]
    return facts


def _derivatives_rel(data: dict) -> str:
    tg = data.get("torchgen", "")
    return ("torchgen/packaged/autograd/derivatives.yaml" if "site-packages" in tg or "/packaged" in tg
            else "tools/autograd/derivatives.yaml") if tg else "tools/autograd/derivatives.yaml"


# ---------------------------------------------------------------------------------------------
# Tolerant fallback: PyYAML with line numbers, a schema splitter, no torchgen.

# torchgen's STRUCTURED_DISPATCH_KEYS: backends whose kernels of a structured op are structured.
_STRUCTURED_KEYS = {"CPU", "CUDA", "MPS", "XPU", "MTIA"}

_FUNC = re.compile(r"^(?P<name>[\w]+)(?:\.(?P<overload>\w+))?\((?P<args>.*)\)\s*->\s*(?P<rets>.+)$")


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse_arg(text: str, kwarg_only: bool) -> Argument:
    default = None
    if "=" in text:
        text, default = text.split("=", 1)
    parts = text.strip().rsplit(" ", 1)
    typ, name = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")
    alias = None
    m = re.search(r"\((\w[\w|]*!?)\)", typ)
    if m:
        alias = m.group(1)
    return Argument(name=name, type=typ, default=default, alias=alias, kwarg_only=kwarg_only,
                    out=bool(alias and alias.endswith("!") and kwarg_only))


def _load(path: Path, rel: str, problems: list[Problem]):
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append(Problem(Location(rel, raw[: e.start].count(b"\n") + 1), "",
                                "not UTF-8; decoded with replacement characters"))
        text = raw.decode("utf-8", errors="replace")
    try:
        return yaml.load(text, Loader=_LineLoader) or []
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problems.append(Problem(Location(rel, mark.line + 1 if mark else 0), "", f"YAML syntax error: {e}"))
        return []


def read_yaml_fallback(source: Source) -> YamlFacts:
    facts = YamlFacts(reader="fallback")
    rel = source.rel("native_functions")
    seen: dict[str, int] = {}
    for e in _load(source.path_of("native_functions"), rel, facts.problems):
        if not isinstance(e, dict) or "func" not in e:
            facts.problems.append(Problem(Location(rel, e.get("__line__", 0) if isinstance(e, dict) else 0), "",
                                          "entry has no 'func:'"))
            continue
        line, func = e["__line__"], str(e["func"])
        m = _FUNC.match(func.strip())
        if not m:
            facts.problems.append(Problem(Location(rel, line), func[:80], "cannot parse the schema"))
            continue
        short = f"{m['name']}.{m['overload']}" if m["overload"] else m["name"]
        if short in seen:
            facts.problems.append(Problem(Location(rel, line), short,
                                          f"duplicate overload (first declared at line {seen[short]}); skipped"))
            continue
        seen[short] = line
        args, kw = [], False
        for a in _split_args(m["args"]):
            if a == "*":
                kw = True
                continue
            args.append(_parse_arg(a, kw))
        rets_text = m["rets"].strip()
        rets_text = rets_text[1:-1] if rets_text.startswith("(") else rets_text
        rets = tuple(_parse_arg(r, False) for r in _split_args(rets_text) if r)
        dispatch = e.get("dispatch") or {}
        pairs = []
        for keys, kernel in dispatch.items():
            if keys == "__line__":
                continue
            for k in str(keys).split(","):
                pairs.append((k.strip(), str(kernel)))
        if not dispatch and not e.get("structured_delegate"):
            pairs.append(("CompositeImplicitAutograd", m["name"]))
        variants = tuple(v.strip() for v in str(e.get("variants", "function")).split(","))
        keys = {k for k, _ in pairs}
        facts.ops.append(OperatorSchema(
            name=m["name"], overload=m["overload"] or "", schema=func, arguments=tuple(args), returns=rets,
            location=Location(rel, line), variants=variants, dispatch=tuple(sorted(pairs)),
            structured=bool(e.get("structured")),
            structured_keys=tuple(sorted(k for k in keys if k in _STRUCTURED_KEYS)) if e.get("structured") else (),
            structured_delegate=e.get("structured_delegate"),
            structured_inherits=e.get("structured_inherits"), precomputed="precomputed" in e,
            autogen=tuple(a.strip() for a in str(e.get("autogen", "")).split(",") if a.strip()),
            tags=tuple(t.strip() for t in (e.get("tags") if isinstance(e.get("tags"), list)
                                            else str(e.get("tags", "")).split(",")) if str(t).strip()),
            python_module=e.get("python_module"), device_check=e.get("device_check"),
            device_guard=bool(e.get("device_guard", True)),
            manual_kernel_registration=bool(e.get("manual_kernel_registration")),
            manual_cpp_binding=bool(e.get("manual_cpp_binding")),
            has_composite_implicit_autograd_kernel="CompositeImplicitAutograd" in keys,
            has_composite_implicit_autograd_nested_tensor_kernel="CompositeImplicitAutogradNestedTensor" in keys,
            has_composite_explicit_autograd_kernel="CompositeExplicitAutograd" in keys,
            has_composite_explicit_autograd_non_functional_kernel="CompositeExplicitAutogradNonFunctional" in keys,
            is_abstract=bool(keys - {"CompositeImplicitAutograd", "CompositeImplicitAutogradNestedTensor"}),
            schema_kind=("out" if any(a.out for a in args) else
                         "inplace" if m["name"].endswith("_") and not m["name"].endswith("__") else "functional"),
            is_view=any(r.alias and not r.alias.endswith("!") for r in rets),
            is_inplace_or_out=any(a.alias and a.alias.endswith("!") for a in args)))
    drel = source.rel("derivatives")
    if not source.path_of("derivatives").is_file():
        facts.problems.append(Problem(Location(drel), "", "derivatives.yaml is missing: no autograd formulas"))
        return facts
    for e in _load(source.path_of("derivatives"), drel, facts.problems):
        if not isinstance(e, dict) or "name" not in e:
            continue
        name = str(e["name"])
        short = name.split("(", 1)[0]
        formulas = tuple(DerivativeFormula(tuple(v.strip() for v in str(k).split(",")), str(f))
                         for k, f in e.items() if k not in ("name", "__line__", "output_differentiability",
                                                            "dispatch", "result"))
        op = f"aten::{short}"
        facts.derivatives.append(Derivative(name=name, op=op, node=None, formulas=formulas,
                                            output_differentiability=None, location=Location(drel, e["__line__"])))
    return facts
