"""The dispatcher's rules, one at a time, on hand-made operators."""

from __future__ import annotations

from torchatlas.indexes.model import Location, OperatorSchema, Registration
from torchatlas.indexes.resolver import DispatchFacts, Resolver

L = Location("native_functions.yaml", 1)


def op(name, overload="", dispatch=(), **kw) -> OperatorSchema:
    return OperatorSchema(name=name, overload=overload, schema=f"{name}(...)", arguments=(), returns=(),
                          location=L, dispatch=tuple(dispatch), **kw)


def resolver(*ops, **kw) -> Resolver:
    fallbacks = kw.pop("fallbacks", {"Meta": ("fallback", "aten/src/ATen/core/MetaFallbackKernel.cpp", 24),
                                     "AutogradCPU": ("fallback", "aten/src/ATen/core/VariableFallbackKernel.cpp", 68)})
    return Resolver(DispatchFacts(ops={o.op: o for o in ops}, fallbacks=fallbacks, **kw))


def kind_in(r, o, key):
    e = r.resolve(o, key)
    return e.kind, e.registered_in


def test_direct_kernel_beats_aliases():
    r = resolver(op("mm", dispatch=[("CPU", "mm_cpu"), ("CompositeExplicitAutograd", "mm_generic")]))
    assert kind_in(r, "aten::mm", "CPU") == ("kernel", "RegisterCPU.cpp")
    assert kind_in(r, "aten::mm", "SparseCPU") == ("composite_explicit", "RegisterCompositeExplicitAutograd.cpp")
    # NestedTensor is not a backend key of CompositeExplicitAutograd
    assert kind_in(r, "aten::mm", "NestedTensorCPU") == ("none", None)


def test_math_kernel_covers_backends_and_autograd():
    r = resolver(op("linear", dispatch=[("CompositeImplicitAutograd", "linear")], is_abstract=False))
    for key in ("CPU", "SparseCPU", "QuantizedCPU", "NestedTensorCPU", "AutogradCPU", "AutogradNestedTensor"):
        assert kind_in(r, "aten::linear", key)[0] == "composite_implicit", key


def test_math_kernel_not_used_for_autograd_when_backend_kernel_exists():
    o = op("mish_backward", dispatch=[("CPU", "mish_backward"), ("CompositeImplicitAutograd", "math_mish_backward")])
    r = resolver(o)
    assert kind_in(r, "aten::mish_backward", "CPU") == ("kernel", "RegisterCPU.cpp")
    # is_abstract: VariableType registers it, and the math kernel does not cover AutogradCPU
    assert kind_in(r, "aten::mish_backward", "AutogradCPU") == ("autograd", "VariableType.cpp")
    assert kind_in(r, "aten::mish_backward", "CUDA") == ("composite_implicit", "RegisterCompositeImplicitAutograd.cpp")


def test_structured_delegate_rides_on_out_kernel_for_structured_keys_only():
    out = op("add", "out", dispatch=[("CPU", "add_out"), ("QuantizedCPU", "add_out_quantized")],
             structured=True, structured_keys=("CPU",))
    func = op("add", "Tensor", structured_delegate="add.out")
    r = resolver(out, func)
    e = r.resolve("aten::add.Tensor", "CPU")
    assert (e.kind, e.registered_in, e.kernel) == ("kernel", "RegisterCPU.cpp", "add_out")
    assert e.via[0] == "structured_delegate: add.out"
    # QuantizedCPU implements add.out unstructured: add.Tensor falls to the generated composite
    assert kind_in(r, "aten::add.Tensor", "QuantizedCPU") == (
        "composite_explicit_nonfunctional", "RegisterCompositeExplicitAutogradNonFunctional.cpp")
    # the non-functional composite does not serve sparse keys
    assert kind_in(r, "aten::add.Tensor", "SparseCPU") == ("none", None)
    # every structured group gets a Meta kernel
    assert kind_in(r, "aten::add.Tensor", "Meta") == ("kernel", "RegisterMeta.cpp")
    assert kind_in(r, "aten::add.out", "Meta") == ("kernel", "RegisterMeta.cpp")


def test_autograd_kernel_and_fallback():
    o = op("relu", dispatch=[("CPU", "relu")])
    r = resolver(o, autograd={"aten::relu": {"Default": {"node": "ReluBackward0", "name": "aten::relu"}}})
    e = r.resolve("aten::relu", "AutogradCPU")
    assert (e.kind, e.registered_in) == ("autograd", "VariableType.cpp") and "ReluBackward0" in e.via[-1]
    assert kind_in(r, "aten::relu", "Meta") == ("fallback", "aten/src/ATen/core/MetaFallbackKernel.cpp")
    assert kind_in(r, "aten::relu", "AutogradNestedTensor") == ("autograd", "VariableType.cpp")


def test_python_meta_registration_overrides_codegen():
    out = op("add", "out", dispatch=[("CPU", "add_out")], structured=True, structured_keys=("CPU",))
    reg = Registration(op="aten::add.out", key="Meta", kernel="meta_add", kind="python_meta",
                       location=Location("torch/_meta_registrations.py", 54))
    r = resolver(out, registrations=[reg])
    assert kind_in(r, "aten::add.out", "Meta") == ("kernel", "torch/_meta_registrations.py")


def test_hand_written_cpp_registration_and_fallthrough():
    reg = Registration(op="aten::quantized_lstm.input", key="CPU", kernel="TORCH_FN(quantized_lstm_input)",
                       kind="impl", location=Location("aten/src/ATen/native/RNN.cpp", 1936))
    ft = Registration(op="aten::foo", key="AutogradCPU", kernel="torch::CppFunction::makeFallthrough()",
                      kind="fallthrough", location=Location("x.cpp", 3))
    r = resolver(registrations=[reg, ft])
    assert kind_in(r, "aten::quantized_lstm.input", "CPU") == ("kernel", "aten/src/ATen/native/RNN.cpp")
    assert "aten::quantized_lstm.input" in r.known_ops()
    assert r.resolve("aten::foo", "AutogradCPU").kind == "fallthrough"


def test_nested_math_kernel_precedes_math():
    o = op("randn_like", dispatch=[("CompositeImplicitAutograd", "randn_like"),
                                   ("CompositeImplicitAutogradNestedTensor", "randn_like_nested")], is_abstract=False)
    r = resolver(o)
    assert kind_in(r, "aten::randn_like", "NestedTensorCPU")[0] == "composite_implicit_nested"
    assert kind_in(r, "aten::randn_like", "CPU")[0] == "composite_implicit"
