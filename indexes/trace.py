"""`trace torch.add`: the whole walk from a Python callable down to the loop that computes.

    torch.add (Python) -> generated Python binding -> at::add (C++ API) -> aten::add.Tensor (operator)
      -> kernel for the key -> TORCH_IMPL_FUNC / kernel body -> add_stub (DispatchStub)
      -> REGISTER_DISPATCH(add_stub, &add_kernel) in native/cpu -> the vectorized loop

Each hop is a TraceStep with `path:line` where the source has it. Where a hop is generated code
that a source tree does not contain (a release tree has no build/), the step says so and names
the generator instead of pretending.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from .code_queries import IN_SCOPE, _base, callees, definition_of, ops_called_by, python_node, walk
from .errors import NotFound, check_name
from .native_decls import root_name
from .public_names import definition_kind, module_file
from .queries import ops_bound_to, resolve_ops
from .store import Index

_LOOP_HELPERS = ("cpu_kernel_vec", "cpu_kernel", "cpu_serial_kernel", "gpu_kernel", "gpu_kernel_with_scalars",
                 "opmath_symmetric_gpu_kernel_with_scalars", "vectorized_loop", "basic_loop", "binary_kernel_reduce_vec",
                 "VectorizedLoop2d", "cpu_kernel_multiple_outputs", "parallel_for")


@dataclass(frozen=True)
class TraceStep:
    layer: str  # python | binding | cpp_api | operator | dispatch | kernel | stub | cpu_kernel | loop
    title: str
    location: str | None  # path:line in this source, or None
    generated_by: str | None = None  # when the hop is generated code not in the source
    note: str = ""

    def as_json(self) -> dict:
        return asdict(self)


def _binding_via(index: Index, callable_name: str, op: str) -> str:
    row = index._con.execute(
        "SELECT e.attrs FROM nodes b JOIN edges e ON e.src = b.id AND e.kind = 'binds' JOIN nodes o ON o.id = e.dst "
        "WHERE b.kind = 'python_binding' AND b.name = ? AND o.name = ?", (callable_name, op)).fetchone()
    if not row or not row[0]:
        return ""
    import json
    return json.loads(row[0]).get("via", "")


def close_callables(index: Index, name: str, limit: int = 5) -> list[str]:
    """Python callables that bind an operator and look like `name`: completions first (torch.ad ->
    torch.add), then names a typo away (torch.mull -> torch.mul)."""
    import difflib
    names = [n for (n,) in index._con.execute("SELECT DISTINCT name FROM nodes WHERE kind = 'python_binding'")]
    prefix = sorted((n for n in names if n.startswith(name)), key=lambda n: (len(n), n))[:limit]
    fuzzy = [n for n in difflib.get_close_matches(name, names, n=limit, cutoff=0.8) if n not in prefix]
    return (prefix + fuzzy)[:limit]


def trace(index: Index, start: str, key: str = "CPU", op: str | None = None,
          runtime: bool = False) -> tuple[str, list[TraceStep]]:
    """The walk from `start` (a Python callable, or an operator name) for dispatch key `key`.
    `runtime`: where the source has no body for a CompositeImplicitAutograd kernel (the installed
    package), ask the installed torch which operators it calls (live_calls.py, a subprocess)."""
    start = check_name(start)
    steps: list[TraceStep] = []
    layout = index.source.layout
    if start.startswith("torch.") and not start.startswith("torch.ops."):
        ops = ops_bound_to(index, start)
        if not ops:  # Python code (torch.nn.Linear, F.softmax's wrapper): its calls, to a binding
            lead, bound = _python_lead(index, start)
            if bound is None:
                close = close_callables(index, start)
                raise NotFound(f"{start!r} binds no operator in this index" + _lead_miss(index, start),
                               hint=(f"did you mean {', '.join(close)}? " if close else "") +
                                    "`torchatlas find NAME` searches every name; an operator (aten::add.Tensor) "
                                    "traces too")
            steps.extend(lead)
            start, ops = bound, ops_bound_to(index, bound)
        chosen = op or _preferred(ops, start)
        via = _binding_via(index, start, chosen)
        module = start.rsplit(".", 1)[0]
        py_loc = None
        if "wrapper in " in via:
            where = via.split("wrapper in ", 1)[1].split(" ", 1)[0]
            py_loc = where if ":" in where else None
        steps.append(TraceStep("python", f"{start}  (binds {', '.join(ops[:6])}{' ...' if len(ops) > 6 else ''})",
                               py_loc, note=via or f"a builtin of {module}"))
        rec = index.op(chosen)
        if rec is None:
            raise NotFound(f"no operator {chosen!r} in this index")
        steps.append(_binding_step(index, start, rec, layout))
    else:
        chosen = op or resolve_ops(index, start)[0]
    rec = index.op(chosen)
    if rec is None:
        raise NotFound(f"no operator {chosen!r} in this index")
    steps.append(_cpp_api_step(index, rec, layout, via_method=start.startswith("torch.Tensor.")))
    steps.append(TraceStep("operator", f"{chosen}: {rec.get('schema') or ''}", rec.get("defined_at"),
                           note="declared in native_functions.yaml; the dispatcher looks up its kernel per key"))
    entries = index.dispatch(chosen, [key])
    if key not in entries:
        raise NotFound(f"{chosen} has no dispatch entry for {key}")
    e = entries[key]
    steps.append(_dispatch_step(key, e))
    seen = {chosen}
    while e.kind == "composite_implicit" and e.kernel and len(seen) <= MAX_HOPS:
        hop = _decomposition_hop(index, chosen, e, key, seen, runtime)
        steps.extend(hop.steps)
        if hop.op is None:
            return chosen, steps
        chosen, e = hop.op, hop.entry
        seen.add(chosen)
    if e.kernel:
        steps.extend(_kernel_steps(index, e.kernel, e.defined_at, key))
    return chosen, steps


MAX_HOPS = 8  # CompositeImplicitAutograd chains are short (conv2d -> convolution: one hop)
PYTHON_CALLS = 6  # how deep Python code is followed to the first callable that binds an operator


def _entry_points(index: Index, node: str) -> list[str]:
    """Where the Python code of `node` (a name's definition: python_node) starts: the definition;
    for a class, what calling an instance runs (`forward` for an nn.Module, else `__call__`),
    inherited ones included."""
    kind = definition_kind(index, node)
    if kind != "class":
        return [] if kind is None else [node]
    members = (python_node(index, f"{node}.{member}") for member in ("forward", "__call__"))
    return [q for q in members if definition_kind(index, q) is not None]


def _python_lead(index: Index, name: str) -> tuple[list[TraceStep], str | None]:
    """The Python hops from `name` to the nearest callable that binds an operator, by resolved calls
    (the shortest chain, the first call in the body first): torch.nn.Linear -> Linear.forward ->
    torch.nn.functional.linear. ([], None) when none is reached within PYTHON_CALLS calls."""
    node = python_node(index, name)
    for entry in _entry_points(index, node):
        reached: list[str] = []  # every callable binding an operator the code reaches, nearest first
        hops, _seen, _k = walk(index, entry, lambda n: bool(ops_bound_to(index, n)), PYTHON_CALLS,
                               max_nodes=2000, kinds=frozenset({"calls"}), accepted=reached)
        if hops is None:
            continue
        steps = []
        if entry != name:
            if entry == node:
                what = f"defined as {entry}"
            elif entry.endswith(".forward"):
                what = f"an nn.Module: calling it runs {entry}, through Module.__call__"
            else:
                what = f"a class: calling an instance runs {entry}"
            steps.append(TraceStep("python", f"{name}  ({what})", definition_of(index, entry),
                                   note="Python code: followed by its resolved calls to a callable that binds "
                                        "an operator"))
        others = [n for n in reached if n != hops[-1][2]]
        for i, (caller, _kind, callee) in enumerate(hops):
            note = f"a resolved call (torchatlas callees {caller})"
            if i == len(hops) - 1 and others:
                note += (f"; the nearest of {len(reached)} callables binding operators that this code reaches "
                         f"within {PYTHON_CALLS} calls: the others are {', '.join(others[:8])}"
                         f"{' ...' if len(others) > 8 else ''} (trace one of them by its name)")
            steps.append(TraceStep("python", f"{caller}  calls {callee}", _call_site(index, caller, callee)
                                   or definition_of(index, caller), note=note))
        return steps, hops[-1][2]
    return [], None


def _call_site(index: Index, caller: str, callee: str) -> str | None:
    try:
        return next((r.location for r, _d in callees(index, caller) if callee in r.targets), None)
    except NotFound:
        return None


def _lead_miss(index: Index, name: str) -> str:
    """Why a Python definition led to no operator: said after "binds no operator"."""
    if module_file(index, name) is not None:
        return f"; {name} is a module: trace one of its functions or classes (torchatlas find {name}.)"
    entries = _entry_points(index, python_node(index, name))
    if not entries:
        return ""
    return (f"; its Python code ({entries[0]}) reaches no callable that binds one within {PYTHON_CALLS} resolved "
            f"calls (torchatlas callees {entries[0]})")


def _dispatch_step(key: str, e) -> TraceStep:
    return TraceStep("dispatch", f"{key}: {e.kind} -> {e.kernel or '-'} (registered in {e.registered_in or '-'})",
                     None, generated_by=("torchgen/gen.py" if e.registered_in and "/" not in e.registered_in else None),
                     note=" <- ".join(reversed(e.via)))


@dataclass(frozen=True)
class _Hop:
    steps: tuple[TraceStep, ...]
    op: str | None = None  # the operator the walk continues into; None: it stops here
    entry: object = None


def _decomposition_hop(index: Index, op: str, e, key: str, seen: set[str], runtime: bool = False) -> _Hop:
    """One CompositeImplicitAutograd hop: the kernel's body, and the first operator it calls that
    the walk has not seen, with its dispatch entry for `key`."""
    body = e.defined_at
    kernel_step = TraceStep("kernel", f"{e.kernel}", body or e.declared_at,
                            note=f"{op} is CompositeImplicitAutograd: no backend registers a kernel for it, so {key} "
                                 "runs this decomposition, whose body calls other operators (each dispatched again)"
                                 + ("" if body or not e.declared_at else
                                    "; declared here, its body is not in this source"))
    if not body and runtime:
        return _live_hop(index, op, e, key, seen, kernel_step)
    if not body:
        return _Hop((kernel_step, TraceStep(
            "decomposes", f"{e.kernel}: the walk stops here", None,
            note="this source has no body for it (the installed package ships headers, not the .cpp files): "
                 "index a checkout (torchatlas index TREE) to follow the operators it calls, or add "
                 "--runtime to ask the installed torch")),)
    called = ops_called_by(index, e.kernel)
    fresh = [c for c in called if c[0] not in seen]
    if not fresh:
        why = ("it calls no at:: operator" if not called else
               f"the operators it calls were traced already ({', '.join(dict.fromkeys(c[0] for c in called))})")
        return _Hop((kernel_step, TraceStep("decomposes", f"{e.kernel}: the walk stops here", None, note=why)),)
    nxt, written, where = fresh[0]
    others = list(dict.fromkeys(c[0] for c in fresh[1:]))
    rec = index.op(nxt) or {}
    entry = index.dispatch(nxt, [key]).get(key)
    hop = TraceStep("decomposes", f"{e.kernel} calls {written}(...) -> {nxt}", where,
                    note=f"{op} has no {key} kernel of its own; the walk continues into the first operator its "
                         "decomposition calls" + (f" (it also calls {', '.join(others[:6])})" if others else ""))
    steps = [kernel_step, hop, TraceStep("operator", f"{nxt}: {rec.get('schema') or ''}", rec.get("defined_at"),
                                         note="dispatched again: at::" + written[len('at::'):] +
                                              " goes through the dispatcher like any C++ API call")]
    if entry is None:
        steps.append(TraceStep("dispatch", f"{key}: no entry for {nxt}", None))
        return _Hop(tuple(steps))
    steps.append(_dispatch_step(key, entry))
    return _Hop(tuple(steps), nxt, entry)


def _live_hop(index: Index, op: str, e, key: str, seen: set[str], kernel_step: TraceStep) -> _Hop:
    """The hop as the installed torch shows it: the operators the decomposition dispatched when
    run on an OpInfo sample (live_calls.py)."""
    from .live_calls import live_calls
    lc = live_calls(op)
    fresh = [c for c in lc.calls if c not in seen and index.op(c) is not None]
    if not fresh:
        why = (f"the installed torch ran it on the OpInfo sample {lc.sample} and it dispatched no other operator"
               if lc.sample else "no OpInfo sample of the installed torch fits this overload"
               + (f" ({lc.errors[0]})" if lc.errors else ""))
        return _Hop((kernel_step, TraceStep("decomposes", f"{e.kernel}: the walk stops here", None, note=why)),)
    nxt = fresh[0]
    rec = index.op(nxt) or {}
    entry = index.dispatch(nxt, [key]).get(key)
    others = fresh[1:]
    hop = TraceStep("decomposes", f"{e.kernel} dispatches {nxt} (seen live)", None,
                    note=f"{op} has no {key} kernel of its own; the installed torch ran it on the OpInfo sample "
                         f"{lc.sample} under a dispatch mode, and its decomposition dispatched {nxt}"
                         + (f" (then {', '.join(others[:6])})" if others else "") + ": the walk continues there")
    steps = [kernel_step, hop, TraceStep("operator", f"{nxt}: {rec.get('schema') or ''}", rec.get("defined_at"),
                                         note="dispatched again, like any C++ API call")]
    if entry is None:
        steps.append(TraceStep("dispatch", f"{key}: no entry for {nxt}", None))
        return _Hop(tuple(steps))
    steps.append(_dispatch_step(key, entry))
    return _Hop(tuple(steps), nxt, entry)


def _preferred(ops: list[str], callable_name: str) -> str:
    """torch.add binds add.Tensor, add.Scalar, add.out, ...: trace the functional Tensor overload."""
    for suffix in (".Tensor", ""):
        for o in ops:
            base = o.split("::", 1)[1]
            if "." not in base and suffix == "":
                return o
            if base.endswith(suffix) and suffix:
                return o
    return ops[0]


# python_module -> the generated binding file (tools/autograd/gen_python_functions.py writes one per
# module; an op without python_module is a torch.* function bound in python_torch_functions.cpp)
BINDING_FILES = {None: "python_torch_functions.cpp", "nn": "python_nn_functions.cpp",
                 "linalg": "python_linalg_functions.cpp", "fft": "python_fft_functions.cpp",
                 "special": "python_special_functions.cpp", "sparse": "python_sparse_functions.cpp",
                 "nested": "python_nested_functions.cpp"}


@dataclass(frozen=True)
class CppNames:
    """What torchgen calls one overload in C++ (torchgen/model.py OperatorName.unambiguous_name,
    torchgen/api/cpp.py name): the `at::_ops::` struct, the `at::` function (None for a method-only
    op), the `Tensor::` method (None for a function-only op), and the per-op header's root."""

    ops_struct: str  # at::_ops::conv2d (default overload), at::_ops::add_Tensor, at::_ops::add__Tensor
    function: str | None  # at::add, at::add_out
    method: str | None  # at::Tensor::add_
    root: str  # add (ATen/ops/add.h, add_ops.h, add_native.h)


def cpp_names(rec: dict) -> CppNames:
    """torchgen's names of one overload, from its native_functions.yaml record."""
    name, overload = rec["name"], rec.get("overload") or ""
    struct = f"at::_ops::{name}_{overload}" if overload else f"at::_ops::{name}"
    is_out = any(a.get("out") for a in rec.get("arguments") or ())
    cpp = name + ("_out" if is_out else "")
    variants = rec.get("variants") or ["function"]
    return CppNames(struct, f"at::{cpp}" if "function" in variants else None,
                    f"at::Tensor::{cpp}" if "method" in variants else None, root_name(name))


def binding_file(callable_name: str, rec: dict) -> str:
    """The generated file that binds `callable_name` to `rec`: methods in python_variable_methods.cpp,
    functions in the file of the op's python_module (none: python_torch_functions.cpp)."""
    if callable_name.startswith("torch.Tensor."):
        return "python_variable_methods.cpp"
    return BINDING_FILES.get(rec.get("python_module"), f"python_{rec.get('python_module')}_functions.cpp")


def _binding_step(index: Index, callable_name: str, rec: dict, layout: str) -> TraceStep:
    template = binding_file(callable_name, rec)
    name = rec["name"]
    wrapper = callable_name.rsplit(".", 1)[-1] != name
    target = f"THPVariable_{name} ({template})"
    tpl = f"tools/autograd/templates/{template}" if layout == "checkout" else \
        f"torchgen/packaged/autograd/templates/{template}"
    gen = ("tools/autograd/gen_python_functions.py" if layout == "checkout"
           else "torchgen/packaged/autograd/gen_python_functions.py")
    module = rec.get("python_module")
    why = (f"{template}: python_module: {module} in native_functions.yaml; "
           if module and template != "python_variable_methods.cpp" else "")
    return TraceStep("binding", f"generated Python binding {target}: parses the arguments, picks the overload, "
                                f"releases the GIL and calls the C++ API"
                                + (f" ({callable_name} is a Python wrapper that calls it)" if wrapper else ""),
                     f"{tpl}:1" if os.path.exists(os.path.join(index.source.root, tpl)) else None,
                     generated_by=gen, note=f"{why}torch/csrc/autograd/generated/ is written at build time; the "
                                            "template is what it is generated from")


def _cpp_api_step(index: Index, rec: dict, layout: str, via_method: bool = False) -> TraceStep:
    names = cpp_names(rec)
    api = names.method if (via_method and names.method) or not names.function else names.function
    header = (f"torch/include/ATen/ops/{names.root}.h" if api == names.function else "torch/include/ATen/core/TensorBody.h"
              ) if layout == "package" else None
    loc = None
    if header:
        short = api.rsplit("::", 1)[-1]
        full = os.path.join(index.source.root, header)
        try:
            with open(full, "rb") as f:
                for i, line in enumerate(f, 1):
                    if f" {short}(".encode() in line and (b"inline" in line or b"TORCH_API" in line):
                        loc = f"{header}:{i}"
                        break
        except OSError:
            loc = None
    only = (" (a method-only op: no at:: function)" if not names.function else
            " (a function-only op: no Tensor method)" if not names.method else "")
    return TraceStep("cpp_api", f"{api}(...) -> {names.ops_struct}::call(...): finds the operator handle once, then "
                                f"Dispatcher::call{only}",
                     loc, generated_by="torchgen/gen.py (ATen/ops/<op>.h, Operators.cpp)",
                     note="the C++ API the binding calls; its body asks the dispatcher for the kernel of the "
                          "highest-priority key in the arguments' DispatchKeySet")


def _kernel_steps(index: Index, kernel: str, defined_at: str | None, key: str) -> list[TraceStep]:
    steps = []
    con = index._con
    if kernel.startswith("VariableType::"):
        steps.append(TraceStep("kernel", f"{kernel}: records the autograd graph, then redispatches below "
                                         "autograd (ADInplaceOrView, then the backend key)", None,
                               generated_by="tools/autograd/gen_variable_type.py"))
        return steps
    if kernel.startswith("ufunc_"):
        opname = kernel[len("ufunc_"):].rsplit("_", 1)[0]
        steps.append(TraceStep("kernel", f"{kernel}: TORCH_IMPL_FUNC generated for a ufunc op; it calls "
                                         f"{opname}_stub", None, generated_by="torchgen/dest/ufunc.py "
                                                                              f"(Ufunc{key}_{opname}.cpp)"))
        steps.extend(_stub_steps(index, f"{opname}_stub", generated_kernel=True))
        if defined_at:
            steps.append(TraceStep("loop", f"the scalar and Vectorized<T> loops of at::native::ufunc::{opname}",
                                   defined_at, note="ufunc_inner_loop: written once, instantiated per dtype"))
        return steps
    steps.append(TraceStep("kernel", f"{kernel}", defined_at,
                           note="" if defined_at else "the index has no body for it (the installed package ships "
                                                      "no .cpp files: index a checkout to see it)"))
    # the impl's body: which stubs it calls
    impl = con.execute("SELECT target FROM code_regs WHERE kind = 'TORCH_IMPL_FUNC' AND name = ? LIMIT 1",
                       (_base(kernel),)).fetchone()
    scopes = [impl[0]] if impl else [r[0] for r in con.execute(
        "SELECT DISTINCT qualname FROM defs WHERE name = ? AND kind IN ('function', 'method')", (_base(kernel),))]
    stubs = []
    for scope in scopes:  # the stubs it calls: names a DECLARE_DISPATCH declares (add_stub, GeluKernel, ...)
        for (name,) in con.execute(
                f"SELECT r.base FROM refs r WHERE {IN_SCOPE} AND EXISTS (SELECT 1 FROM code_regs c WHERE "
                "c.kind = 'DECLARE_DISPATCH' AND c.name = r.base) ORDER BY r.line", (scope,)):
            stubs.append(name)
    for stub in dict.fromkeys(stubs):
        steps.extend(_stub_steps(index, stub))
    return steps


def _stub_steps(index: Index, stub: str, generated_kernel: bool = False) -> list[TraceStep]:
    con = index._con
    steps = []
    decl = con.execute("SELECT f.path, r.line FROM code_regs r JOIN files f ON f.id = r.file_id "
                       "WHERE r.kind = 'DECLARE_DISPATCH' AND r.name = ? LIMIT 1", (stub,)).fetchone()
    steps.append(TraceStep("stub", f"{stub}: a DispatchStub, picks the kernel for the device type and CPU "
                                   "capability (DEFAULT, AVX2, AVX512) at run time",
                           f"{decl[0]}:{decl[1]}" if decl else None))
    regs = con.execute("SELECT f.path, r.line, r.target, r.kind FROM code_regs r JOIN files f ON f.id = r.file_id "
                       "WHERE r.kind LIKE '%REGISTER%DISPATCH' AND r.name = ? ORDER BY f.path LIKE '%/cpu/%' DESC, "
                       "f.path", (stub,)).fetchall()
    if not regs:
        steps.append(TraceStep("cpu_kernel", f"REGISTER_DISPATCH({stub}, ...)", None,
                               generated_by="torchgen/dest/ufunc.py (UfuncCPUKernel_<op>.cpp)" if generated_kernel
                               else None, note="no REGISTER_DISPATCH for it in this source"))
        return steps
    for path, line, target, kind in regs[:3]:
        steps.append(TraceStep("cpu_kernel", f"{kind}({stub}, &{target})", f"{path}:{line}"))
        body = definition_of(index, target) or _def_in_file(index, target, path)
        if body:
            steps.append(TraceStep("kernel", f"{target}", body))
            steps.extend(_loop_steps(index, target, path))
        break
    return steps


def _def_in_file(index: Index, name: str, path: str) -> str | None:
    row = index._con.execute("SELECT d.line FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? AND "
                            "d.name = ? ORDER BY d.line LIMIT 1", (path, _base(name))).fetchone()
    return f"{path}:{row[0]}" if row else None


def _loop_steps(index: Index, kernel: str, path: str) -> list[TraceStep]:
    rows = index._con.execute(
        "SELECT r.base, r.line FROM refs r JOIN files f ON f.id = r.file_id WHERE f.path = ? AND "
        "r.scope LIKE ? ORDER BY r.line", (path, f"%{_base(kernel)}")).fetchall()
    found: dict[str, int] = {}
    for base, line in rows:
        if base in _LOOP_HELPERS and base not in found:
            found[base] = line
    steps = []
    for base, line in found.items():
        helper = definition_of(index, base)
        vec = "with a Vectorized<T> lambda: one SIMD vector per step" if base.endswith("_vec") else \
            "a scalar lambda the compiler may auto-vectorize"
        steps.append(TraceStep("loop", f"{base}(...): the TensorIterator loop, {vec}", f"{path}:{line}",
                               note=f"{base} is defined at {helper}" if helper else ""))
    return steps
