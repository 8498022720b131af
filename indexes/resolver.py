"""The static dispatch resolver: for each operator overload and runtime key, what runs and why.

It replays the dispatcher's own rule, `OperatorEntry::computeDispatchTableEntryWithDebug`
(aten/src/ATen/core/dispatch/OperatorEntry.cpp), over the registrations a source declares:

  1. a kernel registered directly for the key;
  2. CompositeExplicitAutogradNonFunctional, then CompositeExplicitAutograd, if they cover the key;
  3. CompositeImplicitAutogradNestedTensor, then CompositeImplicitAutograd (for autograd keys only
     when no backend kernel stands behind it);
  4. the Autograd alias kernel for autograd keys;
  5. the key's backend fallback (or fallthrough); else nothing.

Registrations come from: the YAML dispatch maps (codegen writes them to Register<Key>.cpp),
structured delegation (functional and in-place variants ride on the out= kernel; Meta and
CompositeExplicitAutogradNonFunctional are generated for every structured group), autogen,
derivatives.yaml (VariableType.cpp), torchgen's manual lists, hand-written C++
TORCH_LIBRARY_IMPL blocks, and torch's own Python (`torch/_meta_registrations.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .dispatch_keys import alias_covers, backend_keys_of_autograd
from .model import DispatchEntry, OperatorSchema, Registration

_GENERATED = "Register{key}.cpp"
VARIABLE_TYPE = "VariableType.cpp"
VARIABLE_TYPE_MANUAL = "torch/csrc/autograd/VariableTypeManual.cpp"


@dataclass(frozen=True)
class Reg:
    """One registration of one op at one (runtime or alias) key."""

    registered_in: str
    kernel: str | None
    via: tuple[str, ...]
    kind: str = "kernel"  # "kernel" | "fallthrough"


@dataclass
class DispatchFacts:
    """Everything the resolver needs, gathered by the indexer."""

    ops: dict[str, OperatorSchema]
    autograd: dict = field(default_factory=dict)  # op -> {dispatch key: {"node", "name"}}
    manual_autograd: dict = field(default_factory=dict)  # torchgen MANUAL_* sets
    registrations: list[Registration] = field(default_factory=list)  # hand-written, C++ and Python
    fallbacks: dict = field(default_factory=dict)  # key -> (kind, file, line)
    fallbacks_from: str = "scan"  # "scan" (the source's .cpp) or "table" (CORE_FALLBACKS)


def _impl_hop(kernel: str, name: str, key: str) -> str:
    """The last hop of a structured kernel: a TORCH_IMPL_FUNC, or ufunc codegen for ufunc ops."""
    if kernel.startswith("ufunc_"):
        return (f"ufunc_inner_loop: torchgen writes {kernel} into Ufunc{key}_{name}.cpp, a TensorIterator "
                f"loop over at::native::ufunc::{name} (aten/src/ATen/native/ufunc/{name}.h)")
    return f"TORCH_IMPL_FUNC({kernel})"


def meta_func_name(functional_short: str) -> str:
    """What TORCH_META_FUNC(add) / TORCH_META_FUNC2(add, Tensor) expand to: at::meta::structured_add_Tensor::meta."""
    return f"at::meta::structured_{functional_short.replace('.', '_')}::meta"


def meta_macro(functional_short: str) -> str:
    name, _, overload = functional_short.partition(".")
    return f"TORCH_META_FUNC2({name}, {overload})" if overload else f"TORCH_META_FUNC({name})"


def _op_short(op: str) -> str:
    return op.split("::", 1)[1]


def _op_from_short(short: str) -> str:
    return f"aten::{short}"


class Resolver:
    def __init__(self, facts: DispatchFacts):
        self.facts = facts
        self._direct: dict[str, dict[str, Reg]] = {}
        self._build()

    # -- registrations --------------------------------------------------------------------------

    def _add(self, op: str, key: str, reg: Reg, override: bool = False) -> None:
        table = self._direct.setdefault(op, {})
        if override or key not in table:
            table[key] = reg

    def _build(self) -> None:
        ops = self.facts.ops
        structured_out: dict[str, OperatorSchema] = {}
        for op, s in ops.items():
            if s.manual_kernel_registration:
                continue
            for key, kernel in s.dispatch:
                file = _GENERATED.format(key=key)
                via = (f"native_functions.yaml {s.short} dispatch: {key}: {kernel}",)
                if key in s.structured_keys:
                    via = (f"native_functions.yaml {s.short} (structured) dispatch: {key}: {kernel}",
                           _impl_hop(kernel, s.name, key))
                if s.generated:
                    via = (f"autogen from {', '.join(s.autogen) or 'a YAML entry'}: torchgen generates "
                           f"{s.short} with a {key} kernel",)
                self._add(op, key, Reg(file, kernel, via))
            if s.structured:
                structured_out[s.short] = s
        # Structured delegation: the group's out= kernel serves its functional and in-place variants.
        functional_of = {s.structured_delegate: s.short for s in ops.values()
                         if s.structured_delegate and s.schema_kind == "functional"}
        for op, s in ops.items():
            if s.manual_kernel_registration:
                continue
            delegate_name = s.structured_delegate
            if not delegate_name and s.structured:
                delegate_name = s.short  # the out= op itself
            if not delegate_name:
                continue
            out = structured_out.get(delegate_name)
            if out is None:
                continue
            is_out_op = op == out.op
            for key, kernel in out.dispatch:
                if key not in out.structured_keys:
                    continue  # this backend implements the out= op unstructured: no delegation
                if not is_out_op:
                    via = (f"structured_delegate: {delegate_name}",
                           f"native_functions.yaml {delegate_name} dispatch: {key}: {kernel} (structured)",
                           _impl_hop(kernel, out.name, key))
                    self._add(op, key, Reg(_GENERATED.format(key=key), kernel, via))
            functional = functional_of.get(delegate_name, out.short)
            meta_fn = meta_func_name(functional)
            meta_via = ((f"structured_delegate: {delegate_name}",) if not is_out_op else ()) + (
                f"structured kernels get a generated Meta kernel that runs only the meta function "
                f"{meta_macro(functional)} (shapes, dtypes), no computation",)
            self._add(op, "Meta", Reg(_GENERATED.format(key="Meta"), meta_fn, meta_via))
            if not is_out_op:
                nf_via = (f"structured_delegate: {delegate_name}",
                          f"codegen builds {s.short} for any backend from TORCH_META_FUNC({out.name}) and the "
                          f"out= kernel (CompositeExplicitAutogradNonFunctional)")
                self._add(op, "CompositeExplicitAutogradNonFunctional",
                          Reg(_GENERATED.format(key="CompositeExplicitAutogradNonFunctional"),
                              f"{out.name} (structured composite)", nf_via))
        # In-place ops outside structured groups: torchgen writes a shape-checking Meta kernel
        # (gen_unstructured's `inplace_meta`) unless a composite kernel serves Meta already.
        for op, s in ops.items():
            if s.manual_kernel_registration or s.schema_kind != "inplace" or len(s.returns) != 1:
                continue
            if s.has_composite_implicit_autograd_kernel or s.has_composite_explicit_autograd_kernel or \
                    s.has_composite_explicit_autograd_non_functional_kernel:
                continue
            if "Meta" in self._direct.get(op, {}) or not s.dispatch:
                continue
            self._add(op, "Meta", Reg(_GENERATED.format(key="Meta"), f"{s.name} (inplace meta)",
                                      ("in-place op with no Meta kernel: torchgen generates one in RegisterMeta.cpp "
                                       "that checks the arguments and returns self (inplace_meta in "
                                       "torchgen/dest/register_dispatch_key.py)",)))
        # Autograd: VariableType.cpp registers an autograd kernel for every op that is not a
        # CompositeImplicitAutograd decomposition (torchgen's dispatch_strategy == use_derived).
        manual = set()
        for names in self.facts.manual_autograd.values():
            manual.update(names)
        for op, s in ops.items():
            info = self.facts.autograd.get(op, {})
            if s.manual_kernel_registration:
                continue
            if s.short in self.facts.manual_autograd.get("MANUAL_AUTOGRAD_AND_TRACER", ()) or \
                    s.name in self.facts.manual_autograd.get("MANUAL_AUTOGRAD_AND_TRACER", ()):
                self._add(op, "Autograd", Reg(VARIABLE_TYPE_MANUAL, s.name,
                                              ("torchgen leaves this op's autograd kernel to hand-written C++ "
                                               "(MANUAL_AUTOGRAD_AND_TRACER in gen_variable_type.py)",)))
                continue
            default = info.get("Default")
            for dkey, dinfo in info.items():
                if dkey != "Default":  # derivatives.yaml `dispatch:` sections register at that key
                    self._add(op, dkey, Reg(VARIABLE_TYPE, f"VariableType::{s.name}",
                                            (f"derivatives.yaml dispatch: {dkey}: node {dinfo.get('node')}",)))
            # torchgen's dispatch_strategy: "use_derived" when the op is not a math kernel or has
            # a derivative formula; only then does VariableType register it.
            has_derivative = any(i.get("node") for i in info.values())
            if not s.is_abstract and not has_derivative:
                continue
            if default and default.get("node"):
                via = (f"derivatives.yaml {default['name'].split('::')[-1]}: backward node {default['node']}",)
            elif default:
                via = ("derivatives.yaml entry without differentiable inputs",)
            else:
                via = ("no derivatives.yaml formula: the generated kernel attaches a NotImplemented node, so "
                       f"backward through it raises 'derivative for {s.short} is not implemented' "
                       "(unless no output is differentiable)",)
            self._add(op, "Autograd", Reg(VARIABLE_TYPE, f"VariableType::{s.name}", via))
        # Hand-written registrations (C++ TORCH_LIBRARY_IMPL, torch's Python) override codegen's
        # for the same key: they run later at load time (Python) or are the only ones (C++).
        for r in self.facts.registrations:
            if r.op == "*" or not r.op.startswith("aten::"):
                continue
            op = r.op if r.op in ops or "." in _op_short(r.op) else r.op
            kind = "fallthrough" if r.kind == "fallthrough" else "kernel"
            via = (f"{r.kind} at {r.location}" + (f" ({r.detail})" if r.detail else ""),)
            self._add(op, r.key, Reg(r.location.path, r.kernel, via, kind), override=r.kind == "python_meta")

    # -- resolution -----------------------------------------------------------------------------

    def known_ops(self) -> list[str]:
        names = set(self.facts.ops) | set(self._direct)
        return sorted(names)

    def resolve(self, op: str, key: str) -> DispatchEntry:
        direct = self._direct.get(op, {})

        def entry(kind: str, reg: Reg, extra: tuple[str, ...] = ()) -> DispatchEntry:
            # defined_at is looked up at query time in the code index (store.Index.kernel_location)
            return DispatchEntry(op=op, key=key, kind=kind, registered_in=reg.registered_in, kernel=reg.kernel,
                                 defined_at=None, via=extra + reg.via)

        # 1. direct registration
        if key in direct:
            reg = direct[key]
            return entry("fallthrough" if reg.kind == "fallthrough" else "kernel", reg)
        # 2.1 / 2.2 default backend kernels
        for alias, kind in (("CompositeExplicitAutogradNonFunctional", "composite_explicit_nonfunctional"),
                            ("CompositeExplicitAutograd", "composite_explicit")):
            if alias_covers(alias, key) and alias in direct:
                return entry(kind, direct[alias], (f"no {key} kernel; {alias} covers {key}",))
        has_backend_kernel = any(k in direct for k in backend_keys_of_autograd(key)) or \
            "CompositeExplicitAutograd" in direct
        # 2.3 nested, then math
        if alias_covers("CompositeImplicitAutogradNestedTensor", key) and \
                "CompositeImplicitAutogradNestedTensor" in direct:
            return entry("composite_implicit_nested", direct["CompositeImplicitAutogradNestedTensor"],
                         ("CompositeImplicitAutogradNestedTensor covers " + key,))
        if alias_covers("CompositeImplicitAutograd", key) and "CompositeImplicitAutograd" in direct:
            if not has_backend_kernel:
                return entry("composite_implicit", direct["CompositeImplicitAutograd"],
                             (f"CompositeImplicitAutograd (math kernel) covers {key}",))
        # 2.4 autograd alias
        if alias_covers("Autograd", key) and "Autograd" in direct:
            return entry("autograd", direct["Autograd"], (f"the Autograd alias key covers {key}",))
        # 3. backend fallback
        fb = self.facts.fallbacks.get(key)
        if fb:
            kind, file, line = fb
            note = (f"backend fallback for every op: {file}:{line}" if line else
                    f"backend fallback for every op, registered in {file} (a .cpp file this source does not "
                    "ship; from torchatlas's table of core fallbacks)")
            return DispatchEntry(op=op, key=key, kind=kind, registered_in=file, kernel=None,
                                 via=(f"no kernel for {key} or an alias covering it", note))
        why = f"no kernel for {key}, no alias kernel covering it, and no backend fallback"
        s = self.facts.ops.get(op)
        if s is not None and s.manual_kernel_registration:
            why += "; the op has manual_kernel_registration: its kernels are registered by hand in C++"
        return DispatchEntry(op=op, key=key, kind="none", registered_in=None, kernel=None, via=(why,))

    def table(self, op: str, keys) -> dict[str, DispatchEntry]:
        return {k: self.resolve(op, k) for k in keys}
