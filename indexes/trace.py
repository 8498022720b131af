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

from .code_queries import IN_SCOPE, _base, definition_of
from .errors import NotFound
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
    row = index.con.execute(
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
    names = [n for (n,) in index.con.execute("SELECT DISTINCT name FROM nodes WHERE kind = 'python_binding'")]
    prefix = sorted((n for n in names if n.startswith(name)), key=lambda n: (len(n), n))[:limit]
    fuzzy = [n for n in difflib.get_close_matches(name, names, n=limit, cutoff=0.8) if n not in prefix]
    return (prefix + fuzzy)[:limit]


def trace(index: Index, start: str, key: str = "CPU", op: str | None = None) -> tuple[str, list[TraceStep]]:
    """The walk from `start` (a Python callable, or an operator name) for dispatch key `key`."""
    steps: list[TraceStep] = []
    layout = index.source.layout
    if start.startswith("torch.") and not start.startswith("torch.ops."):
        ops = ops_bound_to(index, start)
        if not ops:
            close = close_callables(index, start)
            raise NotFound(f"{start!r} binds no operator in this index",
                           hint=(f"did you mean {', '.join(close)}? " if close else "") +
                                "`torchatlas find NAME` searches every name; an operator (aten::add.Tensor) traces too")
        chosen = op or _preferred(ops, start)
        via = _binding_via(index, start, chosen)
        module = start.rsplit(".", 1)[0]
        py_loc = None
        if "wrapper in " in via:
            where = via.split("wrapper in ", 1)[1].split(" ", 1)[0]
            py_loc = where if ":" in where else None
        steps.append(TraceStep("python", f"{start}  (binds {', '.join(ops[:6])}{' ...' if len(ops) > 6 else ''})",
                               py_loc, note=via or f"a builtin of {module}"))
        steps.append(_binding_step(index, start, chosen, layout))
    else:
        chosen = op or resolve_ops(index, start)[0]
    rec = index.op(chosen)
    if rec is None:
        raise NotFound(f"no operator {chosen!r} in this index")
    steps.append(_cpp_api_step(index, rec, layout))
    steps.append(TraceStep("operator", f"{chosen}: {rec.get('schema') or ''}", rec.get("defined_at"),
                           note="declared in native_functions.yaml; the dispatcher looks up its kernel per key"))
    entries = index.dispatch(chosen, [key])
    if key not in entries:
        raise NotFound(f"{chosen} has no dispatch entry for {key}")
    e = entries[key]
    steps.append(TraceStep("dispatch", f"{key}: {e.kind} -> {e.kernel or '-'} (registered in {e.registered_in or '-'})",
                           None, generated_by=("torchgen/gen.py" if e.registered_in and "/" not in e.registered_in
                                               else None),
                           note=" <- ".join(reversed(e.via))))
    if e.kernel:
        steps.extend(_kernel_steps(index, e.kernel, e.defined_at, key))
    return chosen, steps


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


def _binding_step(index: Index, callable_name: str, op: str, layout: str) -> TraceStep:
    name = callable_name.rsplit(".", 1)[-1]
    if ".Tensor." in callable_name:
        target, template = f"THPVariable_{name} (python_variable_methods.cpp)", "python_variable_methods.cpp"
    elif ".nn.functional." in callable_name or "._C._nn." in callable_name:
        target, template = f"THPVariable_{name} (python_nn_functions.cpp)", "python_nn_functions.cpp"
    else:
        target, template = f"THPVariable_{name} (python_torch_functions.cpp)", "python_torch_functions.cpp"
    tpl = f"tools/autograd/templates/{template}" if layout == "checkout" else \
        f"torchgen/packaged/autograd/templates/{template}"
    gen = ("tools/autograd/gen_python_functions.py" if layout == "checkout"
           else "torchgen/packaged/autograd/gen_python_functions.py")
    return TraceStep("binding", f"generated Python binding {target}: parses the arguments, picks the overload, "
                                f"releases the GIL and calls the C++ API",
                     f"{tpl}:1" if os.path.exists(os.path.join(index.source.root, tpl)) else None,
                     generated_by=gen, note="torch/csrc/autograd/generated/ is written at build time; "
                                            "the template is what it is generated from")


def _cpp_api_step(index: Index, rec: dict, layout: str) -> TraceStep:
    name = rec["name"]
    header = f"torch/include/ATen/ops/{name}.h" if layout == "package" else None
    loc = None
    if header:
        full = os.path.join(index.source.root, header)
        try:
            with open(full, "rb") as f:
                for i, line in enumerate(f, 1):
                    if f" {name}(".encode() in line and b"inline" in line:
                        loc = f"{header}:{i}"
                        break
        except OSError:
            loc = None
    return TraceStep("cpp_api", f"at::{name}(...) -> at::_ops::{name}_{rec['overload'] or ''}::call(...): "
                                "finds the operator handle once, then Dispatcher::call",
                     loc, generated_by="torchgen/gen.py (ATen/ops/<op>.h, Operators.cpp)",
                     note="the C++ API the binding calls; its body asks the dispatcher for the kernel of the "
                          "highest-priority key in the arguments' DispatchKeySet")


def _kernel_steps(index: Index, kernel: str, defined_at: str | None, key: str) -> list[TraceStep]:
    steps = []
    con = index.con
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
    con = index.con
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
    row = index.con.execute("SELECT d.line FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? AND "
                            "d.name = ? ORDER BY d.line LIMIT 1", (path, _base(name))).fetchone()
    return f"{path}:{row[0]}" if row else None


def _loop_steps(index: Index, kernel: str, path: str) -> list[TraceStep]:
    rows = index.con.execute(
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
