"""indexes/bindings.py against what the installed torch really does.

The static side: `python_bindings` over the OperatorSchema list that torchgen builds from the
wheel's own native_functions.yaml (the adapter below; swap it for the project's YAML parser when
that lands). The runtime side: a subprocess that imports torch (static code never does) and runs
this file as a script.

Unit of comparison: (callable, overload) pairs, e.g. ("torch.Tensor.add", "aten::add.Tensor").
Callables are named as bindings.py names them: ``torch.X`` / ``torch.Tensor.X`` when that
attribute is the C binding itself (or a Python function), the C path
(``torch._C._VariableFunctions.X``, ``torch._C.TensorBase.X``) when Python put something else
under the public name, ``torch._C._nn.X`` / ``_fft`` / ``_linalg`` / ``_special`` / ``_sparse`` /
``_nested`` always, and public names of torch.nn.functional, torch.linalg, torch.fft,
torch.special, torch.sparse, torch.nested.

"Reaches" (the runtime truth for one pair): calling the callable with arguments synthesized from
the overload's runtime schema (``torch.ops.aten.<name>.<overload>._schema``) makes the dispatcher
enter exactly that overload. A TorchDispatchMode watches, with the Autograd and ADInplaceOrView
keys excluded so a CompositeImplicitAutograd overload is seen before it decomposes; it stops the
call when the overload shows up. Several spellings of the call are tried (first argument
positional and the rest by keyword; all positional; optionals None or concrete; 2-d and 4-d meta
tensors for Python wrappers), so a pair counts when any of them gets there.

* T (truth): every callable found at runtime in those namespaces, paired with every overload of
  each aten operator named like it (its attribute name, its ``__name__``, and for a namespace
  the prefixed forms linalg_X, fft_X, special_X, sparse_X / _sparse_X, nested_X), kept when the
  probe reaches it.
* S: the pairs python_bindings returns.
* recall    = |S ∩ T| / |T|
* precision = |{(c, o) in S : c exists at runtime and the probe of (c, o) reaches o}| / |S|

Precision thus checks every static pair whatever its name; recall only covers same-name pairs
(F.cross_entropy reaching aten::cross_entropy_loss is outside T). A probe is one sample of
inputs, so an overload that a Python wrapper reaches only for other inputs (torch.norm on a
sparse tensor -> aten::norm) counts against precision.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

if __name__ != "__main__":
    import pytest

    from torchatlas.indexes.bindings import python_bindings
    from torchatlas.indexes.model import Argument, Location, OperatorSchema

    pytestmark = pytest.mark.live

THRESHOLD = 0.99


# --- the static side -------------------------------------------------------------------------


def operator_schemas_from_torchgen(site: Path) -> list["OperatorSchema"]:
    """OperatorSchema for every native function (autogen'd ones included), via torchgen."""
    from torchgen.gen import parse_native_yaml

    native = site / "torchgen" / "packaged" / "ATen" / "native"
    parsed = parse_native_yaml(str(native / "native_functions.yaml"), str(native / "tags.yaml"))
    ops = []
    for f in parsed.native_functions:
        func = f.func
        outs = {id(a) for a in func.arguments.out}
        kwonly = {id(a) for a in func.arguments.flat_kwarg_only} | outs
        args = tuple(Argument(a.name, str(a.type), a.default,
                              str(a.annotation) if a.annotation else None,
                              id(a) in kwonly, id(a) in outs)
                     for a in func.arguments.flat_all)
        rets = tuple(Argument(r.name or "", str(r.type), None,
                              str(r.annotation) if r.annotation else None)
                     for r in func.returns)
        writes = any(a.annotation is not None and a.annotation.is_write
                     for a in func.arguments.flat_all)
        try:
            loc = Location(Path(f.loc.file).relative_to(site).as_posix(), f.loc.line)
        except ValueError:
            loc = Location(str(f.loc.file), f.loc.line)
        ops.append(OperatorSchema(
            name=str(func.name.name), overload=func.name.overload_name, schema=str(func),
            arguments=args, returns=rets, location=loc,
            variants=tuple(sorted(v.name for v in f.variants)),
            structured=f.structured,
            structured_delegate=str(f.structured_delegate) if f.structured_delegate else None,
            structured_inherits=f.structured_inherits, precomputed=f.precomputed is not None,
            autogen=tuple(str(a) for a in f.autogen), tags=tuple(sorted(f.tags)),
            python_module=f.python_module, device_check=f.device_check.name,
            device_guard=f.device_guard, manual_kernel_registration=f.manual_kernel_registration,
            manual_cpp_binding=f.manual_cpp_binding, category_override=f.category_override,
            cpp_no_default_args=tuple(sorted(f.cpp_no_default_args)),
            has_composite_implicit_autograd_kernel=f.has_composite_implicit_autograd_kernel,
            has_composite_implicit_autograd_nested_tensor_kernel=(
                f.has_composite_implicit_autograd_nested_tensor_kernel),
            has_composite_explicit_autograd_kernel=f.has_composite_explicit_autograd_kernel,
            has_composite_explicit_autograd_non_functional_kernel=(
                f.has_composite_explicit_autograd_non_functional_kernel),
            generated="generated" in f.tags, is_inplace_or_out=writes,
            is_view=not writes and any(a.annotation is not None for a in func.arguments.flat_all)))
    return ops


def _site_packages() -> Path | None:
    spec = importlib.util.find_spec("torch")  # locates, does not import
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).parent.parent
    return site if (site / "torchgen" / "packaged").is_dir() else None


if __name__ != "__main__":

    @pytest.fixture(scope="module")
    def site() -> Path:
        site = _site_packages()
        if site is None:
            pytest.skip("torch (with torchgen alongside) is not installed")
        try:
            import torchgen.gen  # noqa: F401
        except ImportError as e:
            pytest.skip(f"torchgen is not importable: {e}")
        return site

    @pytest.fixture(scope="module")
    def operator_schemas(site: Path) -> list[OperatorSchema]:
        return operator_schemas_from_torchgen(site)

    @pytest.fixture(scope="module")
    def static(site, operator_schemas):
        return python_bindings(operator_schemas, site, "package")

    @pytest.fixture(scope="module")
    def runtime(static, tmp_path_factory) -> dict:
        work = tmp_path_factory.mktemp("bindings_live")
        (work / "static.json").write_text(json.dumps([[b.callable, b.op] for b in static[0]]))
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--oracle", str(work / "static.json"),
             str(work / "runtime.json")], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            if "No module named 'torch'" in proc.stderr or "ImportError" in proc.stderr:
                pytest.skip(f"torch is not importable: {proc.stderr.strip().splitlines()[-1]}")
            pytest.fail(f"runtime oracle failed:\n{proc.stderr[-3000:]}")
        return json.loads((work / "runtime.json").read_text())


def _fmt(pairs) -> str:
    pairs = sorted(pairs)
    lines = [f"  {c}  {o}" for c, o in pairs[:30]]
    more = f"\n  ... and {len(pairs) - 30} more" if len(pairs) > 30 else ""
    return "\n".join(lines) + more


def test_precision_and_recall_against_runtime(static, runtime):
    bindings, _problems = static
    s = {(b.callable, b.op) for b in bindings}
    truth = {tuple(p) for p in runtime["truth"]}
    confirmed = {tuple(p) for p in runtime["confirmed"]}
    # a probe that stopped working would make recall vacuous
    assert len(truth) > 2000 and runtime["callables"] > 1500, runtime["callables"]
    recall = len(s & truth) / len(truth)
    precision = len(confirmed & s) / len(s)
    report = (f"precision {precision:.4f} ({len(confirmed & s)}/{len(s)}), "
              f"recall {recall:.4f} ({len(s & truth)}/{len(truth)}) over "
              f"{runtime['callables']} runtime callables, {runtime['candidates']} probes")
    print(report)
    assert recall >= THRESHOLD, f"{report}\nmissed (first 30):\n{_fmt(truth - s)}"
    assert precision >= THRESHOLD, (f"{report}\nnot reached at runtime (first 30):\n"
                                    f"{_fmt(s - confirmed)}")


def test_examples(static):
    pairs = {(b.callable, b.op) for b in static[0]}
    for expected in [
        ("torch.add", "aten::add.Tensor"), ("torch.Tensor.add", "aten::add.Tensor"),
        ("torch.add", "aten::add.out"), ("torch.Tensor.add_", "aten::add_.Tensor"),
        ("torch._C._nn.gelu", "aten::gelu"), ("torch.nn.functional.gelu", "aten::gelu"),
        ("torch.linalg.vector_norm", "aten::linalg_vector_norm"),
        ("torch.fft.fft", "aten::fft_fft"), ("torch.special.erf", "aten::special_erf"),
        ("torch.nn.functional.relu", "aten::relu"),
    ]:
        assert expected in pairs, expected
    for unexpected in [
        ("torch.add", "aten::add.Scalar"),  # SKIP_PYTHON_BINDINGS_SIGNATURES
        ("torch.add_", "aten::add_.Tensor"),  # method-only variant
        ("torch.Tensor.add", "aten::add.out"),  # out= is a function-only variant
        ("torch.nn.functional.relu", "aten::relu_"),  # a different op the wrapper also calls
    ]:
        assert unexpected not in pairs, unexpected
    assert not any(b.op.startswith("aten::convolution_backward") for b in static[0])


# --- the runtime side: `python test_bindings_live.py --oracle static.json out.json` ----------


def _oracle(static_path: str, out_path: str) -> None:  # noqa: C901 - one self-contained probe
    import inspect
    import re
    import types
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torchgen.model import FunctionSchema, ListType, OptionalType

    builtin_types = (types.BuiltinFunctionType, types.BuiltinMethodType,
                     type(torch._C.TensorBase.add))
    c_modules = {f"torch._C.{m}": getattr(torch._C, m)
                 for m in ("_nn", "_linalg", "_fft", "_special", "_sparse", "_nested")}
    namespaces = {"torch.nn.functional": "", "torch.linalg": "linalg_", "torch.fft": "fft_",
                  "torch.special": "special_", "torch.sparse": "sparse_", "torch.nested": "nested_"}

    def callables() -> dict:
        """public name -> (object, is_method, candidate aten operator names)"""
        out: dict = {}
        seen_builtins = set()
        vf = torch._C._VariableFunctions
        for n in dir(vf):
            obj = getattr(vf, n)
            if isinstance(obj, builtin_types):
                seen_builtins.add(id(obj))
                plain = not n.startswith("__") and getattr(torch, n, None) is obj
                name = f"torch.{n}" if plain else f"torch._C._VariableFunctions.{n}"
                out[name] = (obj, False, {n})
        for n, obj in vars(torch._C.TensorBase).items():
            if isinstance(obj, builtin_types):
                seen_builtins.add(id(obj))
                plain = getattr(torch.Tensor, n, None) is obj
                out[f"torch.Tensor.{n}" if plain else f"torch._C.TensorBase.{n}"] = (obj, True, {n})
        for mname, mod in c_modules.items():
            for n in dir(mod):
                obj = getattr(mod, n)
                if isinstance(obj, builtin_types):
                    seen_builtins.add(id(obj))
                    out[f"{mname}.{n}"] = (obj, False, {n})
        for n in dir(torch):
            obj = getattr(torch, n)
            if not n.startswith("_") and f"torch.{n}" not in out and inspect.isfunction(obj) \
                    and obj.__module__ in ("torch.functional", "torch"):
                out[f"torch.{n}"] = (obj, False, {n, obj.__name__})
        for n, obj in vars(torch.Tensor).items():
            if (n.startswith("_") and not n.endswith("__")) or f"torch.Tensor.{n}" in out:
                continue
            if isinstance(obj, builtin_types) or inspect.isfunction(obj):
                out[f"torch.Tensor.{n}"] = (obj, True, {n, getattr(obj, "__name__", n)})
        import importlib

        for modname, prefix in namespaces.items():
            mod = importlib.import_module(modname)
            for n in dir(mod):
                obj = getattr(mod, n)
                if n.startswith("_") or not (
                        (isinstance(obj, builtin_types) and id(obj) in seen_builtins)
                        or (inspect.isfunction(obj) and obj.__module__ == modname)):
                    continue
                names = {n, obj.__name__}
                if prefix:
                    names |= {prefix + n, "_" + prefix + n}
                out[f"{modname}.{n}"] = (obj, False, names)
        return out

    def overloads(name: str) -> list[str]:
        if not hasattr(torch.ops.aten, name):
            return []
        try:
            ovs = getattr(torch.ops.aten, name).overloads()
        except Exception:
            return []
        return [f"aten::{name}" + ("" if ov == "default" else f".{ov}") for ov in ovs]

    schemas: dict = {}

    def schema(op: str):
        if op not in schemas:
            base, _, ov = op[len("aten::"):].partition(".")
            try:
                text = str(getattr(getattr(torch.ops.aten, base), ov or "default")._schema)
                text = re.sub(r"=\[([^\]]*)\]", lambda m: "=[" + m.group(1).replace(" ", "") + "]",
                              text)
                schemas[op] = FunctionSchema.parse(text.split("::", 1)[1])
            except Exception:
                schemas[op] = None
        return schemas[op]

    strings = {"reduce": "sum", "rounding_mode": "floor", "padding": "valid", "approximate": "none",
               "mode": "constant", "indexing": "ij", "equation": "i->i", "side": "left",
               "interpolation": "linear", "UPLO": "L", "uplo": "L", "pad_mode": "reflect",
               "compute_mode": "use_mm_for_euclid_dist_if_necessary", "norm": "backward",
               "ord": "fro"}
    simple = {
        "int": lambda: 1, "SymInt": lambda: 1, "float": lambda: 0.5, "Scalar": lambda: 0.5,
        "bool": lambda: False, "SymBool": lambda: False, "ScalarType": lambda: torch.float32,
        "Layout": lambda: torch.strided, "Device": lambda: torch.device("meta"),
        "MemoryFormat": lambda: torch.contiguous_format, "Generator": torch.Generator,
        "Dimname": lambda: "N", "QScheme": lambda: torch.per_tensor_affine,
        "Storage": lambda: torch.UntypedStorage(0, device="meta"),
        "Stream": lambda: torch.Stream("cpu"), "DeviceIndex": lambda: 0, "complex": lambda: 0.5j,
    }

    def value(arg, t, tensor, concrete):
        if isinstance(t, OptionalType):
            if arg.default == "None" and not concrete:
                return None
            return value(arg, t.elem, tensor, concrete)
        if isinstance(t, ListType):
            e = t.elem.elem if isinstance(t.elem, OptionalType) else t.elem
            if str(e) == "Tensor":
                return [tensor(), tensor()]
            return [value(arg, e, tensor, concrete)] * (t.size or 1)
        b = str(t)
        if b == "Tensor":
            return tensor()
        if b == "str":
            return strings.get(arg.name, "x")
        return simple[b]()

    def values(s, shape=(2, 2), concrete=False):
        def tensor():
            return torch.empty(*shape, device="meta")
        return {a.name: value(a, a.type, tensor, concrete) for a in s.arguments.flat_all}

    def out_kwargs(vals, outs):
        if not outs:
            return {}
        return {outs[0]: vals[outs[0]]} if len(outs) == 1 else {"out": tuple(vals[o] for o in outs)}

    def builtin_calls(vals, rest, head, out_kw, kwonly, is_method):
        pos, kw = list(head), {}
        for i, a in enumerate(rest):  # first argument positional, the rest by keyword
            if i == 0 and not is_method and a.name not in kwonly:
                pos.append(vals[a.name])
            else:
                kw["input" if a.name == "self" else a.name] = vals[a.name]
        yield pos, {**kw, **out_kw}
        pos = list(head) + [vals[a.name] for a in rest if a.name not in kwonly]  # all positional
        yield pos, {**{a.name: vals[a.name] for a in rest if a.name in kwonly}, **out_kw}

    def python_calls(params, vals, rest, head, out_kw, kwonly):
        by_name = {("input" if a.name == "self" else a.name): a.name for a in rest}
        by_name.update({a.name: a.name for a in rest})
        for required_only in (True, False):
            pos, kw = list(head), {}
            left = [a.name for a in rest]
            by_keyword, ok = False, True
            for p in params:
                if p.kind == p.VAR_KEYWORD:
                    continue
                if p.kind == p.VAR_POSITIONAL:
                    taken = [vals[n] for n in left if n not in kwonly]
                    left = [n for n in left if n in kwonly]
                    pos += taken[0] if len(taken) == 1 and isinstance(taken[0], list) else taken
                    by_keyword = True
                    continue
                if p.name == "out" and out_kw:
                    kw["out"] = next(iter(out_kw.values()))
                    by_keyword = True
                    continue
                src = by_name.get(p.name)
                if src is not None and src not in left:
                    src = None
                if p.default is not p.empty and (required_only or src is None):
                    by_keyword = True
                    continue
                if src is None:
                    if not left:
                        ok = False
                        break
                    src = left[0]
                left.remove(src)
                if p.kind == p.KEYWORD_ONLY or by_keyword:
                    kw[p.name] = vals[src]
                else:
                    pos.append(vals[src])
            if ok:
                yield pos, kw

    def calls(obj, is_method, s):
        args = s.arguments
        outs = [a.name for a in args.out]
        rest = [a for a in args.flat_all if a.name not in outs]
        kwonly = {a.name for a in args.flat_kwarg_only}
        if is_method:
            if not any(a.name == "self" for a in rest):
                return
            rest = [a for a in rest if a.name != "self"]
        if isinstance(obj, builtin_types) or isinstance(inspect.unwrap(obj), builtin_types):
            for concrete in (False, True):
                vals = values(s, concrete=concrete)
                head = [vals["self"]] if is_method else []
                yield from builtin_calls(vals, rest, head, out_kwargs(vals, outs), kwonly,
                                         is_method)
            return
        try:
            params = list(inspect.signature(obj).parameters.values())
        except (TypeError, ValueError):
            return
        if is_method:
            params = params[1:]
        for shape in ((2, 2), (2, 2, 2, 2)):
            vals = values(s, shape)
            head = [vals["self"]] if is_method else []
            yield from python_calls(params, vals, rest, head, out_kwargs(vals, outs), kwonly)

    class Reached(Exception):
        pass

    class Watch(TorchDispatchMode):
        def __init__(self, target):
            super().__init__()
            self.target = target

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            s = func._schema
            if s.name + (f".{s.overload_name}" if s.overload_name else "") == self.target:
                raise Reached
            return func(*args, **(kwargs or {}))

    below = torch._C.DispatchKeySet(torch._C.DispatchKey.ADInplaceOrView)

    def probe(obj, is_method, op) -> bool:
        s = schema(op)
        if s is None:
            return False
        try:
            attempts = list(calls(obj, is_method, s))
        except Exception:
            return False
        for pos, kw in attempts:
            for _ in range(4):  # drop keywords a hand-written binding does not take
                try:
                    with torch._C._AutoDispatchBelowAutograd(), \
                            torch._C._ExcludeDispatchKeyGuard(below), Watch(op):
                        obj(*pos, **kw)
                except Reached:
                    return True
                except Exception as e:
                    m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
                    if isinstance(e, TypeError) and m and m.group(1) in kw:
                        kw = {k: v for k, v in kw.items() if k != m.group(1)}
                        continue
                break
        return False

    found = callables()
    truth, probes = set(), 0
    for name, (obj, is_method, names) in sorted(found.items()):
        for n in sorted(names):
            for op in overloads(n):
                probes += 1
                if probe(obj, is_method, op):
                    truth.add((name, op))
    confirmed = set()
    for name, op in json.loads(Path(static_path).read_text()):
        if name in found and ((name, op) in truth or probe(found[name][0], found[name][1], op)):
            confirmed.add((name, op))
    Path(out_path).write_text(json.dumps({
        "truth": sorted(truth), "confirmed": sorted(confirmed), "callables": len(found),
        "candidates": probes}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--oracle":
        _oracle(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: test_bindings_live.py --oracle STATIC_JSON OUT_JSON")
