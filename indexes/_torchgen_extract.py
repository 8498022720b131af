"""Run with a PyTorch tree's own torchgen on sys.path; its view of the YAML as JSON (`RESULT`).

Executed, never imported: as a script in a subprocess (`python _torchgen_extract.py ROOT LAYOUT`
prints RESULT as JSON), or with `runpy` inside a throwaway process (the dispatch stage of a full
build, forked for that stage alone, reads RESULT and skips a Python start-up and a JSON round
trip). The tree's torchgen is the most faithful reader of the tree's YAML, but it is the tree's
code, of the tree's version, and must not leak into a process that lives on.

Parsing is per entry, so one malformed entry becomes one problem (file:line, entry, message) and
the rest still parse. Only the standard library, PyYAML and the tree's torchgen are used here.
"""

import gc
import json
import os
from collections import defaultdict
import re
import sys
import traceback

# torchgen's load_derivatives builds ~7,000 distinct regexes (one per saved variable and pattern)
# and uses each ~25 times: with the default cache of 512 they are compiled ~180,000 times, a third
# of this script's time. A cache that holds them all keeps the output identical and saves ~0.7 s.
re._MAXCACHE = max(getattr(re, "_MAXCACHE", 512), 1 << 16)
# A one-shot script whose objects all live until it prints: the cyclic GC would only rescan them
# (torchgen's ~50k dataclasses), ~40% of the run. Reference counting still frees what dies.
gc.disable()

ROOT, LAYOUT = sys.argv[1], sys.argv[2]
sys.path.insert(0, ROOT)
for k in [m for m in sys.modules if m == "torchgen" or m.startswith("torchgen.")]:
    del sys.modules[k]

if LAYOUT == "package":
    NF = os.path.join(ROOT, "torchgen/packaged/ATen/native/native_functions.yaml")
    TAGS = os.path.join(ROOT, "torchgen/packaged/ATen/native/tags.yaml")
    DERIV = os.path.join(ROOT, "torchgen/packaged/autograd/derivatives.yaml")
    AUTOGRAD_PKG = "torchgen.packaged.autograd"
else:
    NF = os.path.join(ROOT, "aten/src/ATen/native/native_functions.yaml")
    TAGS = os.path.join(ROOT, "aten/src/ATen/native/tags.yaml")
    DERIV = os.path.join(ROOT, "tools/autograd/derivatives.yaml")
    AUTOGRAD_PKG = "tools.autograd"

problems = []


def rel(path):
    return os.path.relpath(path, ROOT)


def problem(path, line, entry, message):
    problems.append({"path": rel(path), "line": line, "entry": entry, "message": message})


def last_error_line(exc):
    text = str(exc).strip()
    return text if len(text) < 600 else text[:600] + "..."


import yaml  # noqa: E402

# Never read a tree with another version's torchgen (e.g. the one installed beside this Python).
HAS_TORCHGEN = os.path.isfile(os.path.join(ROOT, "torchgen", "gen.py"))
if HAS_TORCHGEN:
    import torchgen.gen as gen  # noqa: E402
    from torchgen.model import (  # noqa: E402
        BackendIndex, DispatchKey, Location, NativeFunction,
    )

    LineLoader = getattr(gen, "LineLoader")


def load_yaml(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        problem(path, line, "", f"not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                "decoded with replacement characters")
        text = raw.decode("utf-8", errors="replace")
    return yaml.load(text, Loader=LineLoader)


def valid_tags():
    if not os.path.exists(TAGS):
        return set()
    tags = set()
    for t in load_yaml(TAGS) or []:
        if isinstance(t, dict) and "tag" in t:
            tags.add(t["tag"])
    return tags


def tag_records():
    out = []
    if not os.path.exists(TAGS):
        return out
    for t in load_yaml(TAGS) or []:
        if isinstance(t, dict) and "tag" in t:
            out.append({"tag": t["tag"], "desc": str(t.get("desc", "")).strip(), "line": t.get("__line__", 0)})
    return out


def parse_native():
    try:
        es = load_yaml(NF)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem(NF, (mark.line + 1) if mark else 0, "", f"YAML syntax error: {e}")
        return [], {}, set()
    tags = valid_tags()
    funcs, index, seen, written = [], defaultdict(dict), {}, set()
    for e in es or []:
        if not isinstance(e, dict):
            problem(NF, 0, str(e)[:80], "entry is not a mapping")
            continue
        line = e.get("__line__", 0)
        name = str(e.get("func", ""))
        if "func" not in e:
            problem(NF, line, "", "entry has no 'func:'")
            continue
        short = name.split("(", 1)[0]
        if short in seen:
            problem(NF, line, short, f"duplicate overload (first declared at line {seen[short]}); this one is skipped")
            continue
        try:
            func, m = NativeFunction.from_yaml(dict(e), Location(NF, line), tags)
        except Exception as exc:  # torchgen raises AssertionError/ValueError/... for bad entries
            problem(NF, line, short, last_error_line(exc))
            continue
        seen[short] = line
        funcs.append(func)
        written.add(str(func.func.name))
        BackendIndex.grow_index(index, m)
    try:
        gen.error_check_native_functions(funcs)
    except Exception as exc:
        problem(NF, 0, "", f"cross-entry check failed: {last_error_line(exc)}")
    try:
        from torchgen.native_function_generation import add_generated_native_functions
        add_generated_native_functions(funcs, index)
    except Exception as exc:
        problem(NF, 0, "", f"torchgen could not generate autogen'd functions: {last_error_line(exc)}")
    _prime_torchgen_cache(funcs, index)
    return funcs, index, written


def _prime_torchgen_cache(funcs, index):
    """load_derivatives() re-parses native_functions.yaml through parse_native_yaml(); hand it
    what we parsed already (also tolerant of the entries we skipped). Saves ~0.7 s."""
    try:
        from torchgen.model import is_cuda_dispatch_key
        indices = defaultdict(lambda: BackendIndex(dispatch_key=DispatchKey.Undefined, use_out_as_primary=True,
                                                   external=False, device_guard=False, index={}))
        for k, v in index.items():
            indices[k] = BackendIndex(dispatch_key=k, use_out_as_primary=True, external=False,
                                      device_guard=is_cuda_dispatch_key(k), index=v)
        gen._GLOBAL_PARSE_NATIVE_YAML_CACHE[NF] = gen.ParsedYaml(funcs, indices)
    except Exception:  # noqa: BLE001 - an older torchgen: it will parse the file itself
        pass


def arg_record(a, out=False, kwarg_only=False):
    ann = getattr(a, "annotation", None)
    alias = None
    if ann is not None:
        alias = "|".join(ann.alias_set) + ("!" if ann.is_write else "")
    t = a.type
    return {"name": getattr(a, "name", None) or "", "type": str(t), "default": getattr(a, "default", None),
            "alias": alias, "kwarg_only": kwarg_only, "out": out}


def op_record(f, index, written):
    s = f.func
    args = []
    for a in s.arguments.flat_positional:
        args.append(arg_record(a))
    for a in s.arguments.flat_kwarg_only:
        args.append(arg_record(a, kwarg_only=True))
    for a in s.arguments.out:
        args.append(arg_record(a, out=True, kwarg_only=True))
    rets = [arg_record(r) for r in s.returns]
    dispatch = {}
    for key, bm in sorted(index.items(), key=lambda kv: str(kv[0])):
        md = bm.get(s.name)
        if md is not None:
            dispatch[str(key)] = {"kernel": md.kernel, "structured": bool(md.structured),
                                  "namespace": getattr(md, "cpp_namespace", "at::native")}
    def flag(name):
        v = getattr(f, name, False)
        return bool(v)
    return {
        "name": str(s.name.name), "overload": s.name.overload_name, "schema": str(s),
        "arguments": args, "returns": rets, "line": f.loc.line, "file": rel(f.loc.file),
        "variants": sorted(v.name for v in f.variants),
        "dispatch": dispatch,
        "structured": flag("structured"),
        "structured_delegate": str(f.structured_delegate) if f.structured_delegate else None,
        "structured_inherits": getattr(f, "structured_inherits", None),
        "precomputed": f.precomputed is not None if hasattr(f, "precomputed") else False,
        "autogen": [str(x) for x in getattr(f, "autogen", [])],
        "tags": sorted(getattr(f, "tags", []) or []),
        "python_module": f.python_module,
        "device_check": f.device_check.name if getattr(f, "device_check", None) is not None else None,
        "device_guard": bool(getattr(f, "device_guard", True)),
        "manual_kernel_registration": flag("manual_kernel_registration"),
        "manual_cpp_binding": flag("manual_cpp_binding"),
        "category_override": getattr(f, "category_override", None),
        "cpp_no_default_args": sorted(getattr(f, "cpp_no_default_args", []) or []),
        "has_composite_implicit_autograd_kernel": flag("has_composite_implicit_autograd_kernel"),
        "has_composite_implicit_autograd_nested_tensor_kernel": flag("has_composite_implicit_autograd_nested_tensor_kernel"),
        "has_composite_explicit_autograd_kernel": flag("has_composite_explicit_autograd_kernel"),
        "has_composite_explicit_autograd_non_functional_kernel": flag("has_composite_explicit_autograd_non_functional_kernel"),
        "generated": str(s.name) not in written,
        "is_abstract": bool(getattr(f, "is_abstract", True)),
        "schema_kind": schema_kind(s),
        "is_view": is_view(s),
        "is_inplace_or_out": bool(s.is_mutable) if hasattr(s, "is_mutable") else False,
    }


def schema_kind(s):
    try:
        return s.kind().name
    except Exception:  # torchgen raises for schemas it cannot classify
        return "functional"


def is_view(s):
    """OpOverload.is_view (torch/_ops.py): aliased arguments, none of them written."""
    is_write = None
    args = list(s.arguments.flat_all) + list(s.arguments.out)
    for a in args:
        ann = getattr(a, "annotation", None)
        if ann is None:
            continue
        is_write = ann.is_write if is_write is None else (ann.is_write or is_write)
    return is_write is not None and not is_write


def derivative_lines():
    """derivatives.yaml `- name:` line of each entry, keyed by the schema string as written."""
    lines = {}
    if not os.path.exists(DERIV):
        return lines
    with open(DERIV, "rb") as f:
        for i, raw in enumerate(f.read().decode("utf-8", errors="replace").splitlines(), 1):
            m = re.match(r"^- name:\s*(.+?)\s*$", raw)
            if m:
                lines.setdefault(m.group(1), i)
    return lines


def manual_autograd_ops():
    """Ops whose autograd kernel torchgen leaves to hand-written C++ (VariableTypeManual.cpp)."""
    try:
        mod = __import__(AUTOGRAD_PKG + ".gen_variable_type", fromlist=["x"])
    except Exception:
        return {}
    out = {}
    for attr in ("MANUAL_AUTOGRAD", "MANUAL_BACKEND", "MANUAL_AUTOGRAD_AND_TRACER"):
        v = getattr(mod, attr, None)
        if v:
            out[attr] = sorted(v)
    return out


def parse_derivatives(funcs):
    if not os.path.exists(DERIV):
        problem(DERIV, 0, "", "derivatives.yaml is missing: no autograd formulas or node names for this source")
        return [], {}
    lines = derivative_lines()
    try:
        ld = __import__(AUTOGRAD_PKG + ".load_derivatives", fromlist=["x"])
        from torchgen.api.autograd import match_differentiability_info
        # load_derivatives re-reads native_functions.yaml through torchgen; ours had its problems
        # reported already, so a failure here is reported once, for derivatives.yaml.
        infos = ld.load_derivatives(DERIV, NF, TAGS)
        if isinstance(infos, tuple):
            infos = infos[0]
    except Exception as exc:
        problem(DERIV, 0, "", f"torchgen could not load derivatives.yaml: {last_error_line(exc)}")
        return [], {}
    records = []
    for schema, per_key in infos.items():
        for key, info in per_key.items():
            formulas = [{"variables": list(d.var_names), "formula": d.formula, "forward": False}
                        for d in info.derivatives]
            formulas += [{"variables": list(fd.var_names), "formula": fd.formula, "forward": True}
                         for fd in info.forward_derivatives]
            od = getattr(info, "output_differentiability", None)
            spec = str(info.func.func)
            records.append({
                "name": spec, "op": op_name(info.func), "node": info.op, "formulas": formulas,
                "output_differentiability": list(od) if od else None, "dispatch_key": key,
                "line": find_line(lines, info.func),
            })
    per_op = {}
    try:
        matched = match_differentiability_info(funcs, infos)
        for m in matched:
            if m.info:
                per_op[op_name(m.func)] = {k: {"node": i.op, "name": op_name(i.func)} for k, i in m.info.items()}
    except Exception as exc:
        problem(DERIV, 0, "", f"torchgen could not match derivatives to operators: {last_error_line(exc)}")
    return records, per_op


def find_line(lines, f):
    s = str(f.func)
    if s in lines:
        return lines[s]
    short = str(f.func.name)
    for spec, line in lines.items():
        if spec.split("(", 1)[0] == short:
            return line
    return 0


def op_name(f):
    n = f.func.name
    return f"aten::{n.name}.{n.overload_name}" if n.overload_name else f"aten::{n.name}"


def extract():
    if not HAS_TORCHGEN:
        return {"fatal": f"{ROOT} has no torchgen/ (older trees kept it in tools/codegen)"}
    out = {"torchgen": getattr(gen, "__file__", ""), "ops": [], "tags": [], "derivatives": [],
           "autograd": {}, "manual_autograd": {}, "problems": problems}
    try:
        funcs, index, written = parse_native()
        for f in funcs:
            try:
                out["ops"].append(op_record(f, index, written))
            except Exception as exc:
                problem(rel(str(f.loc.file)), f.loc.line, str(f.func.name), f"could not read: {last_error_line(exc)}")
        out["tags"] = tag_records()
        out["derivatives"], out["autograd"] = parse_derivatives(funcs)
        out["manual_autograd"] = manual_autograd_ops()
    except Exception:
        out["fatal"] = traceback.format_exc()[-2000:]
    return out


RESULT = extract()
if __name__ == "__main__":
    sys.stdout.write(json.dumps(RESULT))
