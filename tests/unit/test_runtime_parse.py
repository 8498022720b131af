"""Reading the live dispatcher's dump: each line to (kind, registered_in)."""

from torchatlas.indexes.runtime import parse_dump

DUMP = """\
CPU: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCPU_0.cpp:1297 [kernel]
CUDA: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCompositeExplicitAutogradNonFunctional_0.cpp:1342 [default backend kernel]
Meta: registered at /work/venv/lib/python3.11/site-packages/torch/_meta_registrations.py:54 [kernel]
SparseCPU: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCompositeExplicitAutograd_0.cpp:9 [default backend kernel]
QuantizedCPU: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCompositeImplicitAutograd_0.cpp:10230 [math kernel]
NestedTensorCPU: registered at /__w/pytorch/pytorch/build/aten/src/ATen/RegisterCompositeImplicitAutogradNestedTensor_0.cpp:7 [nested kernel]
ADInplaceOrView: fallthrough registered at /__w/pytorch/pytorch/aten/src/ATen/core/VariableFallbackKernel.cpp:103 [backend fallback]
AutogradCPU: registered at /__w/pytorch/pytorch/torch/csrc/autograd/generated/VariableType_2.cpp:10455 [autograd kernel]
AutogradMeta: registered at /__w/pytorch/pytorch/aten/src/ATen/core/VariableFallbackKernel.cpp:96 [backend fallback]
RNN: registered at /__w/pytorch/pytorch/aten/src/ATen/native/RNN.cpp:2000 [kernel]
"""


def test_parse_dump_kinds_and_files():
    t = parse_dump(DUMP, torch_root="/work/venv/lib/python3.11/site-packages")
    got = {k: (e.kind, e.registered_in) for k, e in t.items()}
    assert got["CPU"] == ("kernel", "RegisterCPU.cpp")
    assert got["CUDA"] == ("composite_explicit_nonfunctional", "RegisterCompositeExplicitAutogradNonFunctional.cpp")
    assert got["Meta"] == ("kernel", "torch/_meta_registrations.py")
    assert got["SparseCPU"] == ("composite_explicit", "RegisterCompositeExplicitAutograd.cpp")
    assert got["QuantizedCPU"] == ("composite_implicit", "RegisterCompositeImplicitAutograd.cpp")
    assert got["NestedTensorCPU"] == ("composite_implicit_nested", "RegisterCompositeImplicitAutogradNestedTensor.cpp")
    assert got["ADInplaceOrView"] == ("fallthrough", "aten/src/ATen/core/VariableFallbackKernel.cpp")
    assert got["AutogradCPU"] == ("autograd", "VariableType.cpp")
    assert got["AutogradMeta"] == ("fallback", "aten/src/ATen/core/VariableFallbackKernel.cpp")
    assert got["RNN"] == ("kernel", "aten/src/ATen/native/RNN.cpp")
    assert t["CPU"].registered_at == "aten/src/ATen/RegisterCPU_0.cpp:1297"
