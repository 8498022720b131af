"""Tests of the bulk C++ parser on inline snippets modelled on PyTorch code, plus (when
TORCHATLAS_TEST_SOURCE names a PyTorch checkout) on real files of the tree."""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
from pathlib import Path

import pytest

from torchatlas.indexes.code_facts import CodeRegistration, Definition, FileFacts, Include, Reference
from torchatlas.indexes.cpp_parser import parse_cpp


def parse(src: str, path: str = "aten/src/ATen/native/Test.cpp") -> FileFacts:
    return parse_cpp(path, src.encode())


def defs_by_qualname(facts: FileFacts) -> dict[str, Definition]:
    return {d.qualname: d for d in facts.definitions}


def regs_of(facts: FileFacts, kind: str) -> list[CodeRegistration]:
    return [r for r in facts.registrations if r.kind == kind]


def line_of(src: str, needle: str) -> int:
    for i, text in enumerate(src.splitlines(), 1):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in snippet")


# ---------------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------------

BINARY_OPS_LIKE = """\
#include <ATen/native/BinaryOps.h>
#include "ATen/native/TensorIterator.h"

namespace at::native {

Tensor& add_relu_out(const Tensor& self, const Tensor& other, const Scalar& alpha,
                     Tensor& result) {
  auto iter = TensorIterator::binary_op(result, self, other);
  add_clamp_stub(iter.device_type(), iter, alpha, 0, 1);
  return result;
}

static Tensor wrapped_scalar_tensor(const Scalar& s) {
  return at::scalar_tensor(s, at::kDouble);
}

} // namespace at::native
"""


def test_function_in_cxx17_nested_namespace():
    src = BINARY_OPS_LIKE
    facts = parse(src)
    d = defs_by_qualname(facts)["at::native::add_relu_out"]
    assert (d.name, d.kind) == ("add_relu_out", "function")
    assert d.line == line_of(src, "Tensor& add_relu_out(")
    assert d.end_line == line_of(src, "return result;") + 1
    assert d.signature.startswith("Tensor& add_relu_out(const Tensor& self,")
    assert "\n" not in d.signature and "  " not in d.signature
    ns = defs_by_qualname(facts)["at::native"]
    assert (ns.kind, ns.name, ns.line, ns.end_line) == ("namespace", "native", 4, len(src.splitlines()))
    assert facts.language == "cpp" and facts.path == "aten/src/ATen/native/Test.cpp"
    assert facts.parse_errors == 0


def test_old_style_nested_namespaces_anonymous_namespace_and_classes():
    src = """\
namespace at {
namespace native {
namespace {

struct BinaryOpState : public TensorIteratorBase, private c10::intrusive_ptr_target {
  BinaryOpState() = default;
  void build(TensorIteratorConfig& config);
  int64_t numel() const { return numel_; }
  struct Inner {
    void go() {}
  };
 private:
  int64_t numel_ = 0;
};

void helper() {}

} // namespace
inline namespace CPU_CAPABILITY {
void add_kernel(TensorIteratorBase& iter) {}
} // namespace CPU_CAPABILITY
} // namespace native
} // namespace at
"""
    d = defs_by_qualname(parse(src))
    cls = d["at::native::BinaryOpState"]
    assert cls.kind == "struct" and cls.name == "BinaryOpState"
    assert cls.bases == ("TensorIteratorBase", "c10::intrusive_ptr_target")
    assert (cls.line, cls.end_line) == (5, 14)
    assert d["at::native::BinaryOpState::build"].kind == "method"  # in-class declaration
    numel = d["at::native::BinaryOpState::numel"]
    assert (numel.kind, numel.line, numel.end_line) == ("method", 8, 8)
    assert d["at::native::BinaryOpState::BinaryOpState"].kind == "method"
    assert d["at::native::BinaryOpState::Inner::go"].kind == "method"
    assert d["at::native::helper"].kind == "function"  # anonymous namespaces are transparent
    assert d["at::native::CPU_CAPABILITY::add_kernel"].kind == "function"  # inline ns kept
    # data members are "variable" definitions whose signature is the type as written (no initializer):
    # what the link step types `numel_.foo()` with
    field = d["at::native::BinaryOpState::numel_"]
    assert (field.kind, field.line, field.signature) == ("variable", 13, "int64_t numel_")


def test_out_of_class_definitions_are_qualified_as_written():
    src = """\
Tensor& at::native::add_out(const Tensor& self, const Tensor& other, Tensor& out) {
  return out;
}
namespace c10 {
TensorImpl::TensorImpl(Storage&& storage, DispatchKeySet key_set)
    : storage_(std::move(storage)) {}
TensorImpl::~TensorImpl() = default;
}
namespace at {
void TensorIteratorBase::build(TensorIteratorConfig& config) {
  populate_operands(config);
}
namespace native {
template <typename scalar_t>
void Vectorized<scalar_t>::store(void* ptr, int count) const {}
void native::helper() {}
}
}
std::ostream& operator<<(std::ostream& out, const Scalar& s) { return out; }
"""
    d = defs_by_qualname(parse(src))
    assert d["at::native::add_out"].kind == "function"
    assert d["at::native::add_out"].name == "add_out"
    assert d["c10::TensorImpl::TensorImpl"].kind == "method"
    assert d["c10::TensorImpl::~TensorImpl"].kind == "method"
    assert d["at::TensorIteratorBase::build"].kind == "method"
    store = d["at::native::Vectorized::store"]  # template arguments are dropped from qualnames
    assert store.kind == "method" and "Vectorized<scalar_t>::store" in store.signature
    assert d["at::native::helper"].kind == "function"  # `native::helper` inside at::native
    assert d["operator<<"].kind == "function"


def test_export_macros_do_not_derail_the_class():
    src = """\
namespace c10 {
class C10_API TensorImpl : public c10::intrusive_ptr_target {
 public:
  TensorImpl() = delete;
  virtual ~TensorImpl() override;
  int64_t dim() const;
  C10_ALWAYS_INLINE bool is_contiguous() const { return is_contiguous_; }
};
struct TORCH_API Tensor final : public TensorBase {
  Tensor add(const Tensor& other, const Scalar& alpha = 1) const;
};
TORCH_API void set_num_threads(int);
} // namespace c10
"""
    facts = parse(src)
    d = defs_by_qualname(facts)
    assert d["c10::TensorImpl"].kind == "class"
    assert d["c10::TensorImpl"].bases == ("c10::intrusive_ptr_target",)
    assert d["c10::TensorImpl"].signature == "class C10_API TensorImpl : public c10::intrusive_ptr_target"
    assert {"c10::TensorImpl::dim", "c10::TensorImpl::~TensorImpl", "c10::TensorImpl::is_contiguous",
            "c10::Tensor::add"} <= set(d)
    assert d["c10::Tensor"].bases == ("TensorBase",)
    assert d["c10"].end_line == 13
    assert "c10::set_num_threads" not in d  # a namespace-scope prototype is not a definition
    assert facts.parse_errors == 0


def test_enums_and_macros():
    src = """\
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#define AT_DISPATCH_CASE(enum_type, ...) \\
  case enum_type: {                     \\
    return __VA_ARGS__();               \\
  }
namespace c10 {
enum class DeviceType : int8_t {
  CPU = 0,
  CUDA = 1,
};
}
"""
    d = defs_by_qualname(parse(src))
    assert d["TORCH_ASSERT_ONLY_METHOD_OPERATORS"].kind == "macro"
    m = d["AT_DISPATCH_CASE"]
    assert (m.kind, m.line, m.end_line) == ("macro", 2, 5)
    assert m.signature == "#define AT_DISPATCH_CASE(enum_type, ...)"
    e = d["c10::DeviceType"]
    assert (e.kind, e.name, e.line, e.end_line) == ("enum", "DeviceType", 7, 10)


def test_includes():
    src = '#include <ATen/core/Tensor.h>\n#include "ATen/native/Resize.h"\n// #include <not/this.h>\n' \
          "#ifndef AT_PER_OPERATOR_HEADERS\n#  include <ATen/Functions.h>\n#endif\n"
    assert parse(src).includes == (
        Include("ATen/core/Tensor.h", 1, True),
        Include("ATen/native/Resize.h", 2, False),
        Include("ATen/Functions.h", 5, True),
    )


def test_cuda_kernels_and_launches():
    src = """\
namespace at::native {
template <typename scalar_t>
C10_LAUNCH_BOUNDS_1(num_threads())
__global__ void vectorized_elementwise_kernel(int N, scalar_t* data) {
  data[0] = compute(data[1]);
}
void launch(int N, float* data, cudaStream_t stream) {
  vectorized_elementwise_kernel<float><<<grid, num_threads(), 0, stream>>>(N, data);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}
}
"""
    facts = parse(src, "aten/src/ATen/native/cuda/Loops.cu")
    d = defs_by_qualname(facts)
    assert d["at::native::vectorized_elementwise_kernel"].line == 4
    refs = {(r.name, r.scope) for r in facts.references}
    assert ("vectorized_elementwise_kernel", "at::native::launch") in refs
    assert ("compute", "at::native::vectorized_elementwise_kernel") in refs
    assert facts.parse_errors == 0


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------


def test_calls_with_names_as_qualified_as_written_and_enclosing_scope():
    src = BINARY_OPS_LIKE + """\
namespace at {
struct Foo {
  void bar() {
    self->impl_->refresh();
    x.options().dtype();
    static_cast<int>(3);
  }
};
auto registerer = make_registerer();
}
"""
    refs = parse(src).references
    got = {(r.name, r.line, r.scope) for r in refs}
    assert ("TensorIterator::binary_op", 8, "at::native::add_relu_out") in got
    assert ("add_clamp_stub", 9, "at::native::add_relu_out") in got
    assert ("iter.device_type", 9, "at::native::add_relu_out") in got
    assert ("at::scalar_tensor", 14, "at::native::wrapped_scalar_tensor") in got
    assert ("self->impl_->refresh", 21, "at::Foo::bar") in got
    assert (".dtype", 22, "at::Foo::bar") in got  # receiver is an expression: member name only
    assert (".options" in {r.name for r in refs}) or ("x.options" in {r.name for r in refs})
    assert ("make_registerer", 26, "") in got  # file/namespace level: no scope
    assert "static_cast" not in {r.name for r in refs}
    # the context of the expression receiver, for the link step
    assert [(r.name, r.line, r.scope, r.kind) for r in refs if r.kind != "call"] == [
        ("iter = TensorIterator::binary_op(result, self, other)", 8, "at::native::add_relu_out", "local"),
        (".dtype <- x.options()", 22, "at::Foo::bar", "receiver")]
    assert [r.line for r in refs] == sorted(r.line for r in refs)


# ---------------------------------------------------------------------------------------------
# Registrations
# ---------------------------------------------------------------------------------------------

STRUCTURED = """\
namespace at::meta {
TORCH_META_FUNC2(add, Tensor) (
  const Tensor& self, const Tensor& other, const Scalar& alpha
) {
  build_borrowing_binary_op(maybe_get_output(), self, other);
}
TORCH_META_FUNC(atan2) (const Tensor& self, const Tensor& other) {
  build_borrowing_binary_float_op(maybe_get_output(), self, other);
}
TORCH_PRECOMPUTE_META_FUNC(max_pool2d_with_indices)(const Tensor& input, IntArrayRef kernel_size) {
  return TORCH_PRECOMPUTE_STRUCT(max_pool2d_with_indices)().set_kH(kH);
}
} // namespace at::meta
namespace at::native {
DEFINE_DISPATCH(add_stub);
TORCH_IMPL_FUNC(sub_out) (
  const Tensor& self, const Tensor& other, const Scalar& alpha, const Tensor& result
) {
  add_stub(device_type(), *this, -alpha);
}
} // namespace at::native
"""


def test_structured_kernel_macros_are_registrations_and_definitions():
    src = STRUCTURED
    facts = parse(src)
    meta2 = regs_of(facts, "TORCH_META_FUNC2")
    assert meta2 == [CodeRegistration("TORCH_META_FUNC2", "add.Tensor", 2,
                                      "at::meta::structured_add_Tensor::meta", "", "")]
    assert regs_of(facts, "TORCH_META_FUNC")[0].name == "atan2"
    pre = regs_of(facts, "TORCH_PRECOMPUTE_META_FUNC")[0]
    assert (pre.name, pre.line) == ("max_pool2d_with_indices", 10)
    impl = regs_of(facts, "TORCH_IMPL_FUNC")
    assert impl == [CodeRegistration("TORCH_IMPL_FUNC", "sub_out", line_of(src, "TORCH_IMPL_FUNC(sub_out)"),
                                     "at::native::structured_sub_out::impl", "", "")]
    d = defs_by_qualname(facts)
    impl_def = d["at::native::structured_sub_out::impl"]
    assert (impl_def.name, impl_def.kind) == ("impl", "method")
    assert (impl_def.line, impl_def.end_line) == (16, 20)
    assert impl_def.signature.startswith("TORCH_IMPL_FUNC(sub_out) ( const Tensor& self")
    assert d["at::meta::structured_add_Tensor::meta"].kind == "method"
    assert "at::meta::structured_max_pool2d_with_indices::meta" in d
    refs = {(r.name, r.scope) for r in facts.references}
    assert ("add_stub", "at::native::structured_sub_out::impl") in refs
    assert ("build_borrowing_binary_op", "at::meta::structured_add_Tensor::meta") in refs
    assert not any(r.name.startswith("TORCH_") and r.name.endswith("FUNC") for r in facts.references)


def test_dispatch_stub_declare_define_register_with_arch_variants():
    src = """\
#define REGISTER_DISPATCH(name, fn) REGISTER_ARCH_DISPATCH(name, CPU_CAPABILITY, fn)
namespace at::native {
using structured_binary_fn_alpha = void(*)(TensorIteratorBase&, const Scalar& alpha);
DECLARE_DISPATCH(structured_binary_fn_alpha, add_stub);
DEFINE_DISPATCH(add_clamp_stub);
// REGISTER_DISPATCH(commented_stub, &commented_kernel)
/* DEFINE_DISPATCH(block_commented_stub); */
const char* s = "REGISTER_DISPATCH(string_stub, &string_kernel)";
REGISTER_DISPATCH(add_clamp_stub, &add_clamp_kernel)
REGISTER_DISPATCH(
    shifted_chebyshev_polynomial_t_stub,
    &shifted_chebyshev_polynomial_t_kernel)
ALSO_REGISTER_AVX512_DISPATCH(atan2_stub, &atan2_kernel)
REGISTER_ARCH_DISPATCH(mul_stub, DEFAULT, &mul_kernel<float>);
REGISTER_AVX2_DISPATCH(mul_stub, &mul_kernel_avx2);
REGISTER_AVX512_DISPATCH(mul_stub, &mul_kernel_avx512);
REGISTER_ZVECTOR_DISPATCH(mul_stub, nullptr);
REGISTER_VSX_DISPATCH(mul_stub, nullptr);
REGISTER_NO_CPU_DISPATCH(lstm_cudnn_stub);
REGISTER_CUDA_DISPATCH(mul_stub, &mul_kernel_cuda);
}
"""
    facts = parse(src)
    got = [(r.kind, r.name, r.line, r.target, r.key) for r in facts.registrations]
    assert got == [
        ("DECLARE_DISPATCH", "add_stub", 4, "", ""),
        ("DEFINE_DISPATCH", "add_clamp_stub", 5, "", ""),
        ("REGISTER_DISPATCH", "add_clamp_stub", 9, "add_clamp_kernel", ""),
        ("REGISTER_DISPATCH", "shifted_chebyshev_polynomial_t_stub", 10, "shifted_chebyshev_polynomial_t_kernel", ""),
        ("ALSO_REGISTER_AVX512_DISPATCH", "atan2_stub", 13, "atan2_kernel", "AVX512"),
        ("REGISTER_ARCH_DISPATCH", "mul_stub", 14, "mul_kernel", "DEFAULT"),
        ("REGISTER_AVX2_DISPATCH", "mul_stub", 15, "mul_kernel_avx2", "AVX2"),
        ("REGISTER_AVX512_DISPATCH", "mul_stub", 16, "mul_kernel_avx512", "AVX512"),
        ("REGISTER_ZVECTOR_DISPATCH", "mul_stub", 17, "nullptr", "ZVECTOR"),
        ("REGISTER_VSX_DISPATCH", "mul_stub", 18, "nullptr", "VSX"),
        ("REGISTER_NO_CPU_DISPATCH", "lstm_cudnn_stub", 19, "", "CPU"),
        ("REGISTER_CUDA_DISPATCH", "mul_stub", 20, "mul_kernel_cuda", "CUDA"),
    ]
    assert defs_by_qualname(facts)["REGISTER_DISPATCH"].kind == "macro"  # the #define itself
    assert not any("DISPATCH" in r.name for r in facts.references)


LIBRARY = """\
#define AUTOGRAD_FALLBACK torch::CppFunction::makeFallthrough()
namespace at {
TORCH_LIBRARY(aten, m) {
  m.def("add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor");
  m.def(TORCH_SELECTIVE_SCHEMA("aten::sin(Tensor self) -> Tensor"), {at::Tag::pointwise});
  m.def("_fused_op(Tensor x) -> Tensor", TORCH_FN(fused_op_impl));
}
TORCH_LIBRARY_FRAGMENT(quantized, m) {
  m.def(TORCH_SELECTIVE_SCHEMA("quantized::linear_dynamic(Tensor X, "
                               "__torch__.torch.classes.quantized.LinearPackedParamsBase W_prepack) -> Tensor Y"));
}
TORCH_LIBRARY_IMPL(aten, CPU, m) {
  m.impl("add.Tensor", TORCH_FN(add_cpu));
  m.impl(TORCH_SELECTIVE_NAME("aten::mul.Tensor"), &at::native::mul_cpu);
  m.impl("dot", torch::CppFunction::makeFallthrough());
  m.impl("sum", torch::dispatch(c10::DispatchKey::SparseCPU, TORCH_FN(sum_sparse)));
  m.impl("bernoulli", unsupportedRandomOp<const Tensor&, std::optional<Generator>>);
  m.impl("relu", [](const Tensor& self) { return self.clamp_min(0); });
  // m.impl("commented", commented_kernel);
}
TORCH_LIBRARY_IMPL(_, Conjugate, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&conjugateFallback>());
}
TORCH_LIBRARY_IMPL(_, AutogradCPU, m) {
  m.fallback(AUTOGRAD_FALLBACK);
}
} // namespace at
"""


def test_torch_library_blocks_and_their_def_impl_fallback_calls():
    src = LIBRARY
    facts = parse(src)
    got = [(r.kind, r.name, r.line, r.target, r.key, r.scope) for r in facts.registrations]
    L = lambda needle: line_of(src, needle)  # noqa: E731
    assert got == [
        ("TORCH_LIBRARY", "aten", 3, "", "", ""),
        ("m.def", "aten::add.Tensor", 4, "", "", "aten"),
        ("m.def", "aten::sin", 5, "", "", "aten"),
        ("m.def", "aten::_fused_op", 6, "fused_op_impl", "", "aten"),
        ("TORCH_LIBRARY_FRAGMENT", "quantized", 8, "", "", ""),
        ("m.def", "quantized::linear_dynamic", 9, "", "", "quantized"),
        ("TORCH_LIBRARY_IMPL", "aten", L("(aten, CPU, m)"), "", "CPU", ""),
        ("m.impl", "aten::add.Tensor", L('"add.Tensor", TORCH_FN'), "add_cpu", "CPU", "aten, CPU"),
        ("m.impl", "aten::mul.Tensor", L("aten::mul.Tensor"), "at::native::mul_cpu", "CPU", "aten, CPU"),
        ("m.impl", "aten::dot", L('"dot"'), "fallthrough", "CPU", "aten, CPU"),
        ("m.impl", "aten::sum", L('"sum"'), "sum_sparse", "SparseCPU", "aten, CPU"),
        ("m.impl", "aten::bernoulli", L('"bernoulli"'), "unsupportedRandomOp", "CPU", "aten, CPU"),
        ("m.impl", "aten::relu", L('"relu"'), "<lambda>", "CPU", "aten, CPU"),
        ("TORCH_LIBRARY_IMPL", "_", L("(_, Conjugate, m)"), "", "Conjugate", ""),
        ("m.fallback", "_", L("conjugateFallback"), "conjugateFallback", "Conjugate", "_, Conjugate"),
        ("TORCH_LIBRARY_IMPL", "_", L("(_, AutogradCPU, m)"), "", "AutogradCPU", ""),
        ("m.fallback", "_", L("m.fallback(AUTOGRAD_FALLBACK)"), "fallthrough", "AutogradCPU", "_, AutogradCPU"),
    ]
    # library blocks are not function definitions
    assert not any(d.name.startswith("TORCH_LIBRARY") for d in facts.definitions)


def test_library_call_arguments_with_comments_and_lambdas():
    src = """\
TORCH_LIBRARY_IMPL(quantized, QuantizedCPU, m) {
  // TODO: this is kind of... blegh
  m.impl(TORCH_SELECTIVE_NAME("quantized::layer_norm"), [](
    Tensor input,
    std::vector<int64_t> normalized_shape,  // because IntArrayRef doesn't work
    double eps) {
      return quantized_layer_norm_impl(input, normalized_shape, eps, ')');
  });
  m.impl("quantized::group_norm", /* the kernel, */ &quantized_group_norm);
}
"""
    got = [(r.kind, r.name, r.line, r.target) for r in parse(src).registrations]
    assert got == [
        ("TORCH_LIBRARY_IMPL", "quantized", 1, ""),
        ("m.impl", "quantized::layer_norm", 3, "<lambda>"),
        ("m.impl", "quantized::group_norm", 9, "quantized_group_norm"),
    ]


def test_c10_registry_macros():
    src = """\
namespace c10::impl {
C10_REGISTER_GUARD_IMPL(CPU, CPUGuardImpl);
}
C10_REGISTER_CREATOR(ThreadPoolRegistry, C10, create_c10_threadpool)
C10_REGISTER_CLASS(CUDAHooksRegistry, CUDAHooks, CUDAHooks);
"""
    got = [(r.kind, r.name, r.line, r.target, r.key) for r in parse(src).registrations]
    assert got == [
        ("C10_REGISTER_GUARD_IMPL", "CPU", 2, "CPUGuardImpl", "CPU"),
        ("C10_REGISTER_CREATOR", "C10", 4, "create_c10_threadpool", "ThreadPoolRegistry"),
        ("C10_REGISTER_CLASS", "CUDAHooks", 5, "CUDAHooks", "CUDAHooksRegistry"),
    ]


def test_registrations_wrapped_in_same_file_macros_are_expanded_at_the_call_site():
    src = """\
namespace at::native {
#define CREATE_BINARY_TORCH_IMPL_FUNC(func_out, func_stub)                            \\
TORCH_IMPL_FUNC(func_out) (const Tensor& self, const Tensor& other, const Tensor& r) { \\
  func_stub(device_type(), *this);                                                   \\
}

CREATE_BINARY_TORCH_IMPL_FUNC(bitwise_and_out, bitwise_and_stub)
CREATE_BINARY_TORCH_IMPL_FUNC(fmod_out, fmod_stub)

TORCH_LIBRARY_IMPL(aten, Batched, m) {
  #define BINARY_POINTWISE(op) \\
    m.impl(#op".Tensor", binary_pointwise_batching_rule<TensorTensorType, at::op>);
  BINARY_POINTWISE(mul);
}
}
"""
    facts = parse(src)
    impls = [(r.name, r.line, r.target) for r in regs_of(facts, "TORCH_IMPL_FUNC")]
    assert impls == [
        ("bitwise_and_out", 7, "at::native::structured_bitwise_and_out::impl"),
        ("fmod_out", 8, "at::native::structured_fmod_out::impl"),
    ]
    d = defs_by_qualname(facts)["at::native::structured_bitwise_and_out::impl"]
    assert (d.line, d.end_line) == (7, 7)
    assert d.signature == "CREATE_BINARY_TORCH_IMPL_FUNC(bitwise_and_out, bitwise_and_stub)"
    assert Reference("bitwise_and_stub", 7, "at::native::structured_bitwise_and_out::impl") in facts.references
    mi = regs_of(facts, "m.impl")
    assert [(r.name, r.line, r.target, r.key) for r in mi] == [
        ("aten::mul.Tensor", 13, "binary_pointwise_batching_rule", "Batched")]


# -- definitions made by same-file macros ---------------------------------------------------------

FOREACH_UNARY_LIKE = """\
#include <ATen/native/ForeachUtils.h>

namespace at::native {

template <template <class> class Op>
std::vector<Tensor> floating_half_bfloat16(TensorList tensors) {
  return foreach_unary_op<Op>(tensors);
}

// makes the functor
#define STD_FUNCTOR(op_name, functor_name) \\
  template <typename T>                    \\
  struct functor_name {                    \\
    __device__ T operator()(T t) const {   \\
      return std::op_name(t);              \\
    }                                      \\
  };

#define OP_CUSTOM_FUNCTOR(function, op_name, functor_name)                  \\
  std::vector<Tensor> foreach_tensor_##op_name##_cuda(TensorList tensors) { \\
    check_foreach_api_restrictions(tensors);                                \\
    if (!can_use_fast_route(tensors) ||                                     \\
        has_integral_tensor(tensors, /* includeBool */ true)) {             \\
      return at::native::foreach_tensor_##op_name##_slow(tensors);          \\
    }                                                                       \\
    return function<functor_name>(tensors);                                 \\
  }                                                                         \\
  void foreach_tensor_##op_name##_cuda_(TensorList tensors) {               \\
    function##_<functor_name>(tensors);                                     \\
  }

#define OP(function, op_name, functor_name) \\
  STD_FUNCTOR(op_name, functor_name);       \\
  OP_CUSTOM_FUNCTOR(function, op_name, functor_name);

OP(floating_half_bfloat16, erfc, Erfc);
OP_CUSTOM_FUNCTOR(floating_half, sigmoid, Sigmoid)

void foreach_tensor_zero_cuda_(TensorList tensors) {
  check_foreach_api_restrictions(tensors);
}

} // namespace at::native
"""


def test_functions_defined_by_same_file_macros_are_definitions_at_the_invocation():
    src = FOREACH_UNARY_LIKE
    facts = parse(src, "aten/src/ATen/native/cuda/ForeachUnaryOp.cu")
    d = defs_by_qualname(facts)
    sig = d["at::native::foreach_tensor_sigmoid_cuda"]
    assert (sig.name, sig.kind) == ("foreach_tensor_sigmoid_cuda", "function")
    assert sig.line == sig.end_line == line_of(src, "OP_CUSTOM_FUNCTOR(floating_half, sigmoid")
    assert sig.signature == "OP_CUSTOM_FUNCTOR(floating_half, sigmoid, Sigmoid)"
    assert d["at::native::foreach_tensor_sigmoid_cuda_"].line == sig.line
    # through another macro (OP -> STD_FUNCTOR + OP_CUSTOM_FUNCTOR): the functor struct too
    erfc_line = line_of(src, "OP(floating_half_bfloat16, erfc")
    for q in ("foreach_tensor_erfc_cuda", "foreach_tensor_erfc_cuda_", "Erfc", "Erfc::operator()"):
        assert d["at::native::" + q].line == erfc_line, q
        assert d["at::native::" + q].signature == "OP(floating_half_bfloat16, erfc, Erfc)"
    assert d["at::native::Erfc"].kind == "struct" and d["at::native::Erfc::operator()"].kind == "method"
    # calls in the generated bodies, with the arguments pasted in, scoped by the generated function
    assert Reference("at::native::foreach_tensor_sigmoid_slow", sig.line,
                     "at::native::foreach_tensor_sigmoid_cuda") in facts.references
    assert Reference("floating_half_", sig.line, "at::native::foreach_tensor_sigmoid_cuda_") in facts.references
    # the `/* includeBool */` comment inside the #define no longer turns the macro into code
    assert d["OP_CUSTOM_FUNCTOR"].kind == "macro"
    assert d["at::native::foreach_tensor_zero_cuda_"].line == line_of(src, "void foreach_tensor_zero_cuda_")
    assert not [x for x in facts.definitions if "##" in x.name or "op_name" in x.name or "x7m" in x.qualname]


def test_macro_definitions_with_multi_line_invocations_and_commented_arguments():
    src = """\
namespace at { namespace native {
#define FOREACH_BINARY_OP_LIST(FUNCTION, NAME, OP, DIVISION_OP)     \\
  void foreach_tensor_##NAME##_list_kernel_cuda_(                   \\
      TensorList tensors1, TensorList tensors2) {                   \\
    if (!can_use_fast_route(tensors1, tensors2, DIVISION_OP)) {     \\
      return at::native::foreach_tensor_##NAME##_list_kernel_slow_( \\
          tensors1, tensors2);                                      \\
    }                                                               \\
    FUNCTION##_<OP>(tensors1, tensors2);                            \\
  }

FOREACH_BINARY_OP_LIST(
    all_types_complex_bool_half_bfloat16,
    mul,
    std::multiplies,
    /*division_op*/ false);
FOREACH_BINARY_OP_LIST(all_types_half_bfloat16, clamp_max, minimum, /*division_op*/ true);
}}  // namespace at::native
"""
    facts = parse(src, "aten/src/ATen/native/cuda/ForeachBinaryOpList.cu")
    d = defs_by_qualname(facts)
    mul = d["at::native::foreach_tensor_mul_list_kernel_cuda_"]
    start = line_of(src, "    mul,") - 2  # the invocation's first line
    assert (mul.line, mul.end_line) == (start, start + 4)
    assert mul.signature == ("FOREACH_BINARY_OP_LIST( all_types_complex_bool_half_bfloat16, mul, std::multiplies,"
                             " /*division_op*/ false)")
    assert d["at::native::foreach_tensor_clamp_max_list_kernel_cuda_"].line == line_of(src, "clamp_max, minimum")
    refs = {(r.name, r.scope) for r in facts.references if r.line == mul.line}
    assert ("at::native::foreach_tensor_mul_list_kernel_slow_", mul.qualname) in refs
    assert ("all_types_complex_bool_half_bfloat16_", mul.qualname) in refs


def test_torch_impl_func_made_by_macros_with_comments_and_pasted_names():
    src = """\
namespace at::native {
#define CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC(func_out, func_stub)      \\
TORCH_IMPL_FUNC(func_out) (const Tensor& self, const Tensor& result) {      \\
  if (c10::isIntegralType(self.scalar_type(), /*includeBool=*/false)) {     \\
    result.copy_(self);                                                     \\
  } else {                                                                  \\
    func_stub(device_type(), *this);                                        \\
  }                                                                         \\
}
CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC(ceil_out, ceil_stub)
CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC(floor_out, floor_stub)

#define CREATE_COMPARISON_SCALAR_TENSOR_IMPL_FUNC(func)             \\
  TORCH_IMPL_FUNC(func##_Tensor_out)                                \\
  (const Tensor& self, const Tensor& other, const Tensor& result) { \\
    func##_stub(device_type(), *this);                              \\
  }                                                                 \\
                                                                    \\
  TORCH_IMPL_FUNC(func##_Scalar_out)                                \\
  (const Tensor& self, const Scalar& other, const Tensor& result) { \\
    func##_stub(device_type(), *this);                              \\
  }

CREATE_COMPARISON_SCALAR_TENSOR_IMPL_FUNC(eq)

Tensor& not_equal_out(const Tensor& self, const Tensor& other, Tensor& result) {
  return at::ne_out(result, self, other);
}
}
"""
    facts = parse(src, "aten/src/ATen/native/UnaryOps.cpp")
    impls = [(r.name, r.line, r.target) for r in regs_of(facts, "TORCH_IMPL_FUNC")]
    eq_line = line_of(src, "CREATE_COMPARISON_SCALAR_TENSOR_IMPL_FUNC(eq)")
    assert impls == [
        ("ceil_out", 10, "at::native::structured_ceil_out::impl"),
        ("floor_out", 11, "at::native::structured_floor_out::impl"),
        ("eq_Tensor_out", eq_line, "at::native::structured_eq_Tensor_out::impl"),
        ("eq_Scalar_out", eq_line, "at::native::structured_eq_Scalar_out::impl"),
    ]
    d = defs_by_qualname(facts)
    assert d["at::native::structured_ceil_out::impl"].signature == \
        "CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC(ceil_out, ceil_stub)"
    assert d["at::native::structured_eq_Scalar_out::impl"].line == eq_line
    assert Reference("ceil_stub", 10, "at::native::structured_ceil_out::impl") in facts.references
    assert Reference("eq_stub", eq_line, "at::native::structured_eq_Tensor_out::impl") in facts.references
    assert d["CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC"].kind == "macro"
    assert "at::native::not_equal_out" in d
    # no stray definitions from the macro bodies (they were parsed as code before)
    assert not [x for x in facts.definitions if x.kind == "macro" and x.name in ("result", "func_out", "func")]


def test_macro_definitions_nested_three_levels_in_classes_and_only_at_real_call_sites():
    src = """\
namespace torch::jit {
#define LEVEL3(kind, name) \\
  Tensor name##_##kind(const Tensor& self) { return impl_##kind(self); }
#define LEVEL2(kind, name) LEVEL3(kind, name##_v2)
#define LEVEL1(kind, name) LEVEL2(kind, name)
LEVEL1(cpu, gelu)
// LEVEL1(cpu, in_a_comment)
#define NEVER_EXPANDED LEVEL1(cpu, in_a_define)

#define CREATE_ACCESSOR(Kind, method)                  \\
  Node* method##_(Symbol name, Kind##Attr::ConstructorType v) { \\
    return setAttr<Kind##Attr>(name, std::forward<Kind##Attr::ConstructorType>(v)); \\
  }                                                    \\
  const Kind##Attr::ValueType& method(Symbol name) const { \\
    return getAttr<Kind##Attr>(name);                  \\
  }

struct Node {
  CREATE_ACCESSOR(Float, f)
  void plain() {}
};
}
"""
    facts = parse(src, "torch/csrc/jit/ir/ir.h")
    d = defs_by_qualname(facts)
    gelu = d["torch::jit::gelu_v2_cpu"]
    assert (gelu.kind, gelu.line, gelu.signature) == ("function", 6, "LEVEL1(cpu, gelu)")
    assert Reference("impl_cpu", 6, "torch::jit::gelu_v2_cpu") in facts.references
    assert not [x for x in facts.definitions if "in_a_" in x.name]
    acc = line_of(src, "CREATE_ACCESSOR(Float, f)")
    assert (d["torch::jit::Node::f_"].kind, d["torch::jit::Node::f_"].line) == ("method", acc)
    assert (d["torch::jit::Node::f"].kind, d["torch::jit::Node::f"].line) == ("method", acc)
    assert d["torch::jit::Node::plain"].line == acc + 1


def test_macro_argument_with_a_multi_word_type_does_not_lose_the_file():
    src = """\
namespace at::native {
namespace {
template <typename scalar_t>
void index_select_out_cuda_impl(Tensor& out, const Tensor& self) {
#define SMALL_INDEX(TENSOR_TYPE, INDICES_TYPE, TYPE, DST_DIM)   \\
  indexSelectSmallIndex<TENSOR_TYPE, INDICES_TYPE, TYPE, DST_DIM> \\
    <<<grid, block, 0, stream>>>(outInfo, selfInfo);
  if (a) {
    SMALL_INDEX(scalar_t, index_t, unsigned int, 1);
  } else if (b) {
    SMALL_INDEX(scalar_t, index_t, unsigned int, 2);
  }
#undef SMALL_INDEX
}
} // anonymous namespace

Tensor& index_select_out_cuda(const Tensor& self, int64_t dim, const Tensor& index, Tensor& out) {
  index_select_out_cuda_impl<float>(out, self);
  return out;
}
}
"""
    facts = parse(src, "aten/src/ATen/native/cuda/Indexing.cu")
    d = defs_by_qualname(facts)
    assert d["at::native::index_select_out_cuda"].line == line_of(src, "Tensor& index_select_out_cuda(")
    assert "at::native::index_select_out_cuda_impl" in d
    assert facts.parse_errors == 0
    calls = {(r.name, r.scope) for r in facts.references}
    assert ("SMALL_INDEX", "at::native::index_select_out_cuda_impl") in calls


# ---------------------------------------------------------------------------------------------
# Robustness and purity
# ---------------------------------------------------------------------------------------------


def test_syntax_errors_still_yield_definitions_and_count_errors():
    src = """\
namespace at::native {
Tensor good_before(const Tensor& self) { return self; }
this is ) not ( valid C++ { ;;
Tensor good_after(const Tensor& self) {
  return at::relu(self);
}
TORCH_IMPL_FUNC(sub_out) (const Tensor& self, const Tensor& result) {
  sub_stub(device_type(), *this);
}
}
"""
    facts = parse(src)
    assert facts.parse_errors > 0
    d = defs_by_qualname(facts)
    assert "at::native::good_before" in d
    assert any(q.endswith("good_after") for q in d)
    assert [r.name for r in regs_of(facts, "TORCH_IMPL_FUNC")] == ["sub_out"]
    assert any(r.name == "at::relu" for r in facts.references)


def test_non_utf8_bytes_do_not_crash():
    data = (b"// caf\xe9 \xff\xfe\n"
            b'const char* s = "\xc3\x28 \xa0\xa1";\n'
            b"namespace at { void f\xe9() {} void ok() { g(); } }\n"
            b"\x00\x01 TORCH_LIBRARY_IMPL(aten, CPU, m) { m.impl(\"x\xff\", k); }\n")
    facts = parse_cpp("weird.cpp", data)
    assert "at::ok" in defs_by_qualname(facts)
    assert Reference("g", 3, "at::ok") in facts.references
    assert all(isinstance(d.qualname, str) for d in facts.definitions)


def test_empty_and_trivial_inputs():
    assert parse_cpp("empty.h", b"") == FileFacts("empty.h", "cpp")
    facts = parse_cpp("guard.h", b"#pragma once\n")
    assert facts.definitions == () and facts.parse_errors == 0


def test_results_are_deterministic_picklable_and_equal_to_plain_dataclasses():
    data = (STRUCTURED + LIBRARY + BINARY_OPS_LIKE).encode()
    a = parse_cpp("x.cpp", data)
    b = parse_cpp("x.cpp", data)
    assert a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    r = a.references[0]
    plain = Reference(r.name, r.line, r.scope, r.kind)
    assert r == plain and hash(r) == hash(plain) and type(r) is Reference
    with pytest.raises(Exception):
        r.name = "mutated"  # still frozen


# ---------------------------------------------------------------------------------------------
# Namespaces tree-sitter loses in an ERROR region (restored from the text)
# ---------------------------------------------------------------------------------------------

# Macro calls without `;` at namespace and class level (as in torch/enum.h) put the whole of
# `namespace c10 { ... }` into an ERROR node: before the textual namespace pass, TensorImpl and
# helper were recorded without `c10::`.
MACROS_BREAK_THE_NAMESPACE = """\
C10_DECLARE_bool(caffe2_keep_on_shrink);
C10_DECLARE_int64(caffe2_max_keep_on_shrink_memory);

namespace c10 {

struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
  TORCH_ENUM_PRETTY_PRINT(Conv1D)
};

struct C10_API TensorImpl : public c10::intrusive_ptr_target {
  int64_t dim() const { return 0; }
};

inline int helper(int k) {
  return k;
}

struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
};

} // namespace c10
"""


def test_namespace_swallowed_by_an_error_region_after_macro_calls_is_restored():
    src = MACROS_BREAK_THE_NAMESPACE
    facts = parse(src, "c10/core/Broken.h")
    assert facts.parse_errors > 0
    d = defs_by_qualname(facts)
    ti = d["c10::TensorImpl"]
    assert (ti.kind, ti.line, ti.bases) == ("struct", line_of(src, "struct C10_API TensorImpl"),
                                            ("c10::intrusive_ptr_target",))
    assert d["c10::TensorImpl::dim"].kind == "method"
    assert d["c10::helper"].kind == "function"
    ns = d["c10"]  # the namespace tree-sitter did not see is a Definition too
    assert (ns.name, ns.kind, ns.line, ns.end_line, ns.signature) == (
        "c10", "namespace", line_of(src, "namespace c10 {"), line_of(src, "} // namespace c10"), "namespace c10")
    assert not [x for x in facts.definitions if x.kind != "macro" and not x.qualname.startswith("c10")]


# `namespace at::native {` holding a nested namespace, an exported class with bases and
# out-of-class definitions, all after the region is derailed.
NESTED_AFTER_BREAK = """\
TORCH_DECLARE_THING(a)
TORCH_DECLARE_THING(b)

namespace at::native {

namespace detail {
Tensor helper(const Tensor& t) {
  return t;
}
struct Holder {
  int v;
};
} // namespace detail

struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
  TORCH_ENUM_PRETTY_PRINT(Conv1D)
};

class TORCH_API Foo : public Bar, private Baz {
 public:
  void run() const { go(); }
};

struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
};

} // namespace at::native
"""


def test_nested_and_cxx17_namespaces_lost_in_an_error_region():
    src = NESTED_AFTER_BREAK
    facts = parse(src)
    assert facts.parse_errors > 0
    d = defs_by_qualname(facts)
    assert d["at::native"].kind == "namespace" and d["at::native"].name == "native"
    assert d["at::native"].signature == "namespace at::native"
    inner = d["at::native::detail"]  # seen by the tree as a top-level `detail`
    assert (inner.kind, inner.line) == ("namespace", line_of(src, "namespace detail {"))
    assert d["at::native::detail::helper"].kind == "function"
    assert d["at::native::detail::Holder"].kind == "struct"
    foo = d["at::native::Foo"]
    assert foo.kind == "class" and foo.bases == ("Bar", "Baz")
    assert d["at::native::Foo::run"].kind == "method"
    # call scopes follow the requalified names
    assert Reference("go", line_of(src, "go();"), "at::native::Foo::run") in facts.references
    assert not [x for x in facts.definitions if not x.qualname.startswith("at::native")]


# A SFINAE trailing return type with a comma expression makes tree-sitter close the namespaces
# early: what follows was recorded at top level (`hash`, `Hasher`), and `dispatch_hash` lost
# `_hash_detail` (c10/util/hash.h).
NAMESPACE_CLOSED_EARLY = """\
namespace c10 {
namespace _hash_detail {

template <typename T>
auto dispatch_hash(const T& o)
    -> decltype(std::hash<T>()(o), type_if_not_enum<T, size_t>()) {
  return std::hash<T>()(o);
}

template <typename T>
auto dispatch_hash(const T& o) -> decltype(T::hash(o), size_t()) {
  return T::hash(o);
}

} // namespace _hash_detail

template <typename T>
struct hash {
  size_t operator()(const T& o) const {
    return _hash_detail::dispatch_hash(o);
  }
};

struct C10_API Hasher : public Base {
  size_t combine(size_t a) const { return a; }
};

} // namespace c10
"""


def test_namespace_closed_early_by_an_error_is_restored_with_its_end_line():
    src = NAMESPACE_CLOSED_EARLY
    facts = parse(src, "c10/util/hash.h")
    d = defs_by_qualname(facts)
    assert d["c10::hash"].kind == "struct"
    assert d["c10::hash::operator()"].kind == "method"
    assert d["c10::Hasher"].bases == ("Base",)
    assert d["c10::Hasher::combine"].kind == "method"
    assert d["c10::_hash_detail::dispatch_hash"].line == line_of(src, "dispatch_hash(const T& o) -> decltype(T::hash")
    assert d["c10"].end_line == line_of(src, "} // namespace c10")
    assert d["c10::_hash_detail"].end_line == line_of(src, "} // namespace _hash_detail")
    assert not [x for x in facts.definitions if not x.qualname.startswith("c10")]


# A macro call with a braced argument list in a class body (FORWARD_HAS_DEFAULT_ARGS in
# torch/nn/modules/pooling.h) makes tree-sitter lose `namespace torch::nn` and keep the last class
# open: FractionalMaxPool2dImpl was nested in it and the namespace-level TORCH_MODULE(...) calls
# became its "methods".
CLASS_KEPT_OPEN = """\
namespace torch::nn {

class TORCH_API MaxUnpool1dImpl : public MaxUnpoolImpl<1, MaxUnpool1dImpl> {
 public:
  using MaxUnpoolImpl<1, MaxUnpool1dImpl>::MaxUnpoolImpl;
  Tensor forward(const Tensor& input);

 protected:
  FORWARD_HAS_DEFAULT_ARGS({2, AnyValue(std::optional<std::vector<int64_t>>())})
};
TORCH_MODULE(MaxUnpool1d);

class TORCH_API MaxUnpool2dImpl : public MaxUnpoolImpl<2, MaxUnpool2dImpl> {
 public:
  using MaxUnpoolImpl<2, MaxUnpool2dImpl>::MaxUnpoolImpl;
  Tensor forward(const Tensor& input);

 protected:
  FORWARD_HAS_DEFAULT_ARGS({2, AnyValue(std::optional<std::vector<int64_t>>())})
};
TORCH_MODULE(MaxUnpool2d);

class TORCH_API FractionalMaxPool2dImpl : public Cloneable<FractionalMaxPool2dImpl> {
 public:
  void reset() override;
  Tensor forward(const Tensor& input) { return input; }
};
TORCH_MODULE(FractionalMaxPool2d);

} // namespace torch::nn
"""


def test_classes_that_the_text_closes_earlier_do_not_enclose_what_follows():
    src = CLASS_KEPT_OPEN
    facts = parse(src, "torch/csrc/api/include/torch/nn/modules/pooling.h")
    assert facts.parse_errors > 0
    d = defs_by_qualname(facts)
    assert d["torch::nn::MaxUnpool2dImpl::forward"].kind == "method"
    frac = d["torch::nn::FractionalMaxPool2dImpl"]
    assert (frac.kind, frac.line) == ("class", line_of(src, "class TORCH_API FractionalMaxPool2dImpl"))
    assert d["torch::nn::FractionalMaxPool2dImpl::reset"].kind == "method"
    assert d["torch::nn::FractionalMaxPool2dImpl::forward"].kind == "method"
    assert not [x for x in facts.definitions if "TORCH_MODULE" in x.qualname]  # prototypes: not definitions
    assert not [x for x in facts.definitions if not x.qualname.startswith("torch::nn")]


def test_recovery_keeps_conventions_and_correct_qualnames():
    # anonymous namespaces transparent, inline namespace kept, qualified declarators resolved as
    # before, definitions outside any namespace and already-correct ones unchanged
    src = """\
void before_everything() {}

namespace at { namespace native {
Tensor correct_before(const Tensor& t) { return t; }
} }

MACRO_ONE(x)
MACRO_TWO(y)
namespace at::native {
namespace {
struct TORCH_API Local : public Base {
  void f() const { g(); }
};
} // namespace
inline namespace CPU_CAPABILITY {
void kernel(TensorIteratorBase& iter) { loop(iter); }
} // namespace CPU_CAPABILITY
Tensor at::native::qualified(const Tensor& t) { return t; }
void Local::out_of_class() const {}
struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
  TORCH_ENUM_PRETTY_PRINT(Conv1D)
};
struct _compute_enum_name {
  TORCH_ENUM_PRETTY_PRINT(Linear)
};
} // namespace at::native
"""
    facts = parse(src)
    assert facts.parse_errors > 0
    d = defs_by_qualname(facts)
    assert d["before_everything"].line == 1
    assert "at::native::correct_before" in d
    assert d["at::native::Local"].kind == "struct"
    assert d["at::native::Local::f"].kind == "method"
    assert d["at::native::CPU_CAPABILITY"].signature == "inline namespace CPU_CAPABILITY"
    assert d["at::native::CPU_CAPABILITY::kernel"].kind == "function"
    assert d["at::native::qualified"].kind == "function"  # not at::native::at::native::qualified
    assert d["at::native::Local::out_of_class"].kind == "method"
    assert not [q for q in d if "at::native::at::" in q or "::::" in q]


def test_textual_namespace_spans_skip_comments_literals_directives_and_dead_branches():
    from torchatlas.indexes.cpp.scopes import _namespace_spans

    src = rb"""
// namespace commented { out
/* namespace also { not */
const char* s = "namespace str { }";
const char* r = R"x(namespace raw { ) })x";
char c = '{';
#define OPEN_NS namespace macro {
#if 0
namespace dead {
#endif
using namespace std;
namespace alias = std::chrono;
namespace a::b {
namespace /* anonymous */ {
inline namespace v1 {
#ifdef _WIN32
struct S : T {
#else
struct API S : T {
#endif
};
}
}
}
"""
    spans, braces = _namespace_spans(src)
    assert [sp[3] for sp in spans] == [("a", "b"), ("a", "b"), ("a", "b", "v1")]
    text = src.decode()
    for sp, opener in zip(spans, ("namespace a::b {", "namespace /* anonymous */ {", "inline namespace v1 {")):
        assert sp[1] == text.index(opener) + len(opener) - 1  # the '{'
    closes = [i for i, ch in enumerate(text) if ch == "}" and text[i - 1] == "\n"]
    assert [sp[2] for sp in spans] == [closes[-1], closes[-2], closes[-3]]


def test_same_file_specifier_macros_are_blanked_where_used_in_code():
    # `#define TENSORIMPL_MAYBE_VIRTUAL` / `... virtual` (c10/core/TensorImpl.h): tree-sitter reads
    # the name as a type; its uses are blanked, but not its #ifdef/defined() tests
    src = """\
#ifdef C10_DISABLE_TENSORIMPL_EXTENSIBILITY
#define TENSORIMPL_MAYBE_VIRTUAL
#else
#define TENSORIMPL_MAYBE_VIRTUAL virtual
#endif
#if defined(X) && \\
    defined(TENSORIMPL_MAYBE_VIRTUAL)
#include <a.h>
#endif
namespace c10 {
struct C10_API TensorImpl : public c10::intrusive_ptr_target {
  TENSORIMPL_MAYBE_VIRTUAL const Storage& storage() const {
    return storage_;
  }
  TENSORIMPL_MAYBE_VIRTUAL bool has_storage() const;
};
}
"""
    facts = parse(src, "c10/core/TensorImpl.h")
    assert facts.parse_errors == 0
    d = defs_by_qualname(facts)
    assert d["c10::TensorImpl::storage"].kind == "method"
    assert d["c10::TensorImpl::has_storage"].kind == "method"
    assert [i.target for i in facts.includes] == ["a.h"]


def test_conditional_branches_opening_the_same_struct_parse_as_the_first():
    # the autograd codegen's Functions.h: two openings for one closing brace
    src = """\
namespace torch::autograd::generated {

#ifdef _WIN32
struct AddBackward0 : public TraceableFunction {
  TORCH_API AddBackward0() = default;
#else
struct TORCH_API AddBackward0 : public TraceableFunction {
#endif
  using TraceableFunction::TraceableFunction;
  variable_list apply(variable_list&& grads) override;
  std::string name() const override { return "AddBackward0"; }
};

#ifdef CPU_CAPABILITY
inline namespace CPU_CAPABILITY {
#else
inline namespace DEFAULT {
#endif
void topk_impl_loop(int64_t k) { run(k); }
} // namespace CPU_CAPABILITY

} // namespace torch::autograd::generated
"""
    facts = parse(src, "torch/csrc/autograd/generated/Functions.h")
    assert facts.parse_errors == 0
    d = defs_by_qualname(facts)
    s = d["torch::autograd::generated::AddBackward0"]
    assert (s.kind, s.line, s.bases) == ("struct", 4, ("TraceableFunction",))
    assert d["torch::autograd::generated::AddBackward0::AddBackward0"].kind == "method"
    assert d["torch::autograd::generated::AddBackward0::apply"].kind == "method"
    assert d["torch::autograd::generated::CPU_CAPABILITY::topk_impl_loop"].kind == "function"
    assert not [q for q in d if "DEFAULT" in q]


# ---------------------------------------------------------------------------------------------
# Lost definitions (issue 13): each cause that made tree-sitter drop definitions
# ---------------------------------------------------------------------------------------------


def test_if_block_opened_in_each_branch_of_a_conditional_keeps_the_later_functions():
    # ProcessGroupNCCL.cpp / OperatorEntry.cpp: the branches of an #ifdef each open the same `if`
    # block; tree-sitter saw two `{` for one `}`, never closed the function, and every later
    # definition of the file (ProcessGroupNCCL::reduce, computeDispatchTableEntryWithDebug) was lost
    src = """namespace c10d {
void ProcessGroupNCCL::checkForNCCLErrors(NCCLComm* ncclComm) {
  auto err = ncclComm->checkForNcclError();
#ifdef NCCL_HAS_COMM_NONBLOCKING
  if (err != ncclSuccess && err != ncclInProgress) {
#else
  if (err != ncclSuccess) {
#endif
    report(err);
  }
}

std::pair<const AnnotatedKernel&, const char*> ProcessGroupNCCL::computeWithDebug(int key) const {
  return lookup(key);
}

c10::intrusive_ptr<Work> ProcessGroupNCCL::reduce(std::vector<at::Tensor>& tensors) {
  return collective(tensors);
}
}  // namespace c10d
"""
    facts = parse(src, "torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp")
    d = defs_by_qualname(facts)
    check = d["c10d::ProcessGroupNCCL::checkForNCCLErrors"]
    assert check.end_line == line_of(src, "report(err);") + 2
    assert d["c10d::ProcessGroupNCCL::computeWithDebug"].line == line_of(src, "computeWithDebug(int key)")
    assert d["c10d::ProcessGroupNCCL::reduce"].line == line_of(src, "ProcessGroupNCCL::reduce(")
    # the kept branch's calls still belong to the function; the later functions own theirs
    scopes = {r.name: r.scope for r in facts.references}
    assert scopes["report"] == "c10d::ProcessGroupNCCL::checkForNCCLErrors"
    assert scopes["lookup"] == "c10d::ProcessGroupNCCL::computeWithDebug"
    assert scopes["collective"] == "c10d::ProcessGroupNCCL::reduce"


def test_a_conditional_whose_branches_differ_in_balance_is_left_alone():
    src = """namespace at {
void f(int x) {
#ifdef A
  if (x) {
    g(x);
  }
#else
  h(x);
#endif
}
void k() {}
}
"""
    facts = parse(src)
    d = defs_by_qualname(facts)
    assert {"at::f", "at::k"} <= set(d)
    assert {r.name for r in facts.references} == {"g", "h"}  # both branches are read


def test_friend_functions_defined_in_a_class_are_functions_of_the_namespace():
    src = """namespace c10 { namespace detail {
template <class Key, class Value>
class DictIterator final {
 public:
  friend bool operator!=(const DictIterator& lhs, const DictIterator& rhs) {
    return lhs.entryRef_ != rhs.entryRef_;
  }
  template <typename T>
  friend void from_json(const nlohmann::json& j, T& t) { read(j, t); }
  friend class Dict;
  friend void declared_only(int);
};
}}
"""
    facts = parse(src, "aten/src/ATen/core/Dict.h")
    d = defs_by_qualname(facts)
    ne = d["c10::detail::operator!="]
    assert (ne.kind, ne.line) == ("function", line_of(src, "operator!="))
    assert d["c10::detail::from_json"].kind == "function"
    assert not [q for q in d if "declared_only" in q or q.endswith("::Dict")]
    assert [r.scope for r in facts.references if r.name == "read"] == ["c10::detail::from_json"]


def test_classes_local_to_a_function_are_walked_and_calls_keep_the_function_scope():
    src = """namespace torch::jit {
void Graph::lint() const {
  struct LintScope {
    LintScope() = default;
    bool contains(const Value* v) { return values.count(v) > 0; }
  };
  LintImpl(*this).check();
}
}
"""
    facts = parse(src, "torch/csrc/jit/ir/ir.cpp")
    d = defs_by_qualname(facts)
    assert d["torch::jit::Graph::lint::LintScope"].kind == "struct"
    contains = d["torch::jit::Graph::lint::LintScope::contains"]
    assert (contains.kind, contains.line) == ("method", line_of(src, "bool contains"))
    assert d["torch::jit::Graph::lint::LintScope::LintScope"].kind == "method"
    assert {r.scope for r in facts.references} == {"torch::jit::Graph::lint"}


def test_ubsan_attributes_and_diagnostic_pragma_macros_are_blanked():
    src = """#include <c10/util/Half.h>
C10_DIAGNOSTIC_PUSH_AND_IGNORED_IF_DEFINED("-Wnewline-eof")
#include <onnx/checker.h>
C10_DIAGNOSTIC_POP()
namespace c10 {
inline C10_HOST_DEVICE float operator/(const Half& a, const Half& b)
    __ubsan_ignore_float_divide_by_zero__ {
  return static_cast<float>(a) / static_cast<float>(b);
}
template <>
struct cast<uint8_t> {
  C10_HOST_DEVICE __ubsan_ignore_undefined__ static inline uint8_t apply(int src) {
    return narrow(src);
  }
};
}
"""
    facts = parse(src, "c10/util/Half-inl.h")
    assert facts.parse_errors == 0
    d = defs_by_qualname(facts)
    assert d["c10::operator/"].line == line_of(src, "operator/(")
    assert d["c10::cast::apply"].line == line_of(src, "static inline uint8_t apply")
    assert [i.target for i in facts.includes] == ["c10/util/Half.h", "onnx/checker.h"]


def test_gtest_blocks_with_long_names_are_definitions():
    name = "givenPtr_whenCopyConstructedAndDestructed_thenDestructsObjectAfterLastDestruction"
    src = f"""TEST(
    IntrusivePtrTest,
    {name}) {{
  EXPECT_TRUE(check());
}}
"""
    facts = parse(src, "c10/test/util/intrusive_ptr_test.cpp")
    [t] = [x for x in facts.definitions if x.kind == "function"]
    assert t.name == f"TEST(IntrusivePtrTest, {name})" and t.line == 1
    assert {r.scope for r in facts.references} == {t.qualname}


# ---------------------------------------------------------------------------------------------
# Context for the link step (issue 13): usings, registration kernels, #define conditions, aliases
# ---------------------------------------------------------------------------------------------


def test_usings_and_registration_kernels_are_references_with_their_namespace():
    src = """namespace at::native {
using namespace at::vec;
namespace {
void add_kernel(TensorIteratorBase& iter) {
  using std::max;
  max(1, 2);
}
}
REGISTER_DISPATCH(add_stub, &add_kernel);
REGISTER_AVX2_DISPATCH(mul_stub, &qmul_kernel<true>);
TORCH_LIBRARY_IMPL(aten, CPU, m) {
  m.impl("add.Tensor", TORCH_FN(wrapper_add));
  m.impl("relu", [](const Tensor& t) { return t; });
}
}
"""
    facts = parse(src, "aten/src/ATen/native/cpu/BinaryOpsKernel.cpp")
    refs = {(r.name, r.kind): r for r in facts.references}
    u = refs[("using namespace at::vec", "ref")]
    assert (u.line, u.scope) == (2, "at::native")
    assert refs[("using std::max", "ref")].scope == "at::native::add_kernel"
    k = refs[("add_kernel", "ref")]
    assert (k.line, k.scope) == (line_of(src, "REGISTER_DISPATCH"), "at::native")
    assert refs[("qmul_kernel", "ref")].line == line_of(src, "REGISTER_AVX2_DISPATCH")
    assert refs[("wrapper_add", "ref")].scope == "at::native"
    assert not [r for r in facts.references if r.kind == "ref" and "lambda" in r.name]


def test_receivers_of_member_calls_have_their_declarations_recorded():
    src = """namespace at::native {
Tensor f(const Tensor& input_r) {
  auto input = input_r;
  const auto& w = input.weight();
  Tensor out = at::empty({1});
  auto device = input.device();
  if (device.type() == kCPU) { out.add_(w); }
  int unused = 3;
  return out;
}
}
"""
    facts = parse(src)
    local = [(r.name, r.line, r.scope) for r in facts.references if r.kind == "local"]
    assert local == [("input = input_r", 3, "at::native::f"), ("out: Tensor", 5, "at::native::f"),
                     ("device = input.device()", 6, "at::native::f")]  # not w, not unused: no member calls on them


def test_defines_say_which_conditional_branch_they_are_in():
    src = """#ifdef STRIP_ERROR_MESSAGES
#define TORCH_CHECK(cond, ...) check(cond)
#else
#define TORCH_CHECK(cond, ...) check_msg(cond, __VA_ARGS__)
#endif
#if defined(USE_CUDA) && !defined(USE_ROCM)
#define HAS_CUDA 1
#endif
#define PLAIN 1
"""
    sigs = [d.signature for d in parse(src, "c10/util/Exception.h").definitions]
    assert sigs == ["#define TORCH_CHECK(cond, ...)  // under #ifdef STRIP_ERROR_MESSAGES",
                    "#define TORCH_CHECK(cond, ...)  // under #else of #ifdef STRIP_ERROR_MESSAGES",
                    "#define HAS_CUDA 1  // under #if defined(USE_CUDA) && !defined(USE_ROCM)",
                    "#define PLAIN 1"]


def test_namespace_scope_type_aliases_are_definitions():
    src = """namespace c10 {
using IntArrayRef = ArrayRef<int64_t>;
typedef ArrayRef<int64_t> IntList;
typedef struct Pair { int a; } Pair_t;
struct K { using value_type = int; };
}
"""
    d = defs_by_qualname(parse(src, "c10/util/ArrayRef.h"))
    assert (d["c10::IntArrayRef"].kind, d["c10::IntArrayRef"].signature) == ("alias", "using IntArrayRef = ArrayRef<int64_t>")
    assert d["c10::IntList"].signature == "using IntList = ArrayRef<int64_t>"
    assert d["c10::Pair"].kind == "struct" and d["c10::Pair_t"].signature == "using Pair_t = Pair"
    assert "c10::K::value_type" not in d  # member aliases are left out


# ---------------------------------------------------------------------------------------------
# Real files of a PyTorch tree (TORCHATLAS_TEST_SOURCE)
# ---------------------------------------------------------------------------------------------

SOURCE = os.environ.get("TORCHATLAS_TEST_SOURCE")
needs_source = pytest.mark.skipif(
    not SOURCE, reason="set TORCHATLAS_TEST_SOURCE to a PyTorch source checkout to run real-file tests")


def _real(rel: str) -> tuple[FileFacts, list[str]]:
    path = Path(SOURCE) / rel
    if not path.exists():
        pytest.skip(f"{rel} not in {SOURCE}")
    data = path.read_bytes()
    return parse_cpp(rel, data), data.decode("utf-8", "replace").splitlines()


@pytest.mark.source
@needs_source
def test_real_binary_ops_structured_kernels():
    facts, lines = _real("aten/src/ATen/native/BinaryOps.cpp")
    impl = {r.name: r for r in regs_of(facts, "TORCH_IMPL_FUNC")}
    sub = impl["sub_out"]
    assert "TORCH_IMPL_FUNC(sub_out)" in lines[sub.line - 1]
    assert sub.target == "at::native::structured_sub_out::impl"
    # generated through the file's CREATE_BINARY_TORCH_IMPL_FUNC macro
    assert "CREATE_BINARY_TORCH_IMPL_FUNC(bitwise_and_out" in lines[impl["bitwise_and_out"].line - 1]
    meta = {r.name: r for r in regs_of(facts, "TORCH_META_FUNC2")}
    assert "TORCH_META_FUNC2(add, Tensor)" in lines[meta["add.Tensor"].line - 1]
    assert "DEFINE_DISPATCH(add_clamp_stub)" in lines[
        next(r for r in regs_of(facts, "DEFINE_DISPATCH") if r.name == "add_clamp_stub").line - 1]
    d = defs_by_qualname(facts)
    assert d["at::native::structured_sub_out::impl"].line == sub.line
    assert d["at::meta::structured_add_Tensor::meta"].line == meta["add.Tensor"].line
    assert "at::native::true_divide_out" in d
    for r in facts.registrations:  # every registration points at a line that spells it
        text = lines[r.line - 1]
        assert r.kind in text or re.search(r"\b[A-Z][A-Z0-9_]+\s*\(", text), (r, text)


@pytest.mark.source
@needs_source
def test_real_binary_ops_kernel_register_dispatch():
    facts, lines = _real("aten/src/ATen/native/cpu/BinaryOpsKernel.cpp")
    reg = {(r.kind, r.name): r for r in facts.registrations}
    r = reg[("REGISTER_DISPATCH", "add_clamp_stub")]
    assert r.target == "add_clamp_kernel"
    assert "REGISTER_DISPATCH(add_clamp_stub, &add_clamp_kernel)" in lines[r.line - 1]
    a = reg[("ALSO_REGISTER_AVX512_DISPATCH", "atan2_stub")]
    assert (a.target, a.key) == ("atan2_kernel", "AVX512")
    multi = reg[("REGISTER_DISPATCH", "shifted_chebyshev_polynomial_t_stub")]
    assert multi.target == "shifted_chebyshev_polynomial_t_kernel"
    kernel = defs_by_qualname(facts)["at::native::add_clamp_kernel"]  # inside `namespace {`
    assert kernel.kind == "function" and "add_clamp_kernel(" in lines[kernel.line - 1]


@pytest.mark.source
@needs_source
def test_real_rnn_library_blocks():
    facts, lines = _real("aten/src/ATen/native/RNN.cpp")
    impls = {r.name: r for r in regs_of(facts, "m.impl")}
    r = impls["aten::quantized_lstm.input"]
    assert (r.target, r.key, r.scope) == ("quantized_lstm_input", "CPU", "aten, CPU")
    assert 'm.impl(TORCH_SELECTIVE_NAME("aten::quantized_lstm.input")' in lines[r.line - 1]
    assert impls["quantized::make_quantized_cell_params_fp16"].key == "CatchAll"
    defs = {r.name for r in regs_of(facts, "m.def")}
    assert "quantized::make_quantized_cell_params_dynamic" in defs
    blocks = [(r.kind, r.name, r.key) for r in facts.registrations if r.kind.startswith("TORCH_LIBRARY")]
    assert ("TORCH_LIBRARY_FRAGMENT", "aten", "") in blocks and ("TORCH_LIBRARY_IMPL", "aten", "CPU") in blocks


@pytest.mark.source
@needs_source
def test_real_fallbacks():
    facts, lines = _real("aten/src/ATen/core/VariableFallbackKernel.cpp")
    fb = {r.key: r for r in regs_of(facts, "m.fallback")}
    assert fb["AutogradCPU"].target == "fallthrough"  # via `#define AUTOGRAD_FALLBACK ...`
    assert fb["ADInplaceOrView"].target == "fallthrough"
    assert "m.fallback(" in lines[fb["AutogradCPU"].line - 1]
    facts, lines = _real("aten/src/ATen/ConjugateFallback.cpp")
    conj = regs_of(facts, "m.fallback")[0]
    assert (conj.name, conj.key, conj.target, conj.scope) == ("_", "Conjugate", "conjugateFallback", "_, Conjugate")
    assert any(r.name == "aten::copy_" and r.target == "fallthrough" for r in regs_of(facts, "m.impl"))


@pytest.mark.source
@needs_source
def test_real_dispatch_stub_header_defines_macros_not_registrations():
    facts, _ = _real("aten/src/ATen/native/DispatchStub.h")
    d = defs_by_qualname(facts)
    assert d["REGISTER_DISPATCH"].kind == "macro" and d["DECLARE_DISPATCH"].kind == "macro"
    assert d["at::native::DispatchStub"].kind == "struct"
    assert d["at::native::DispatchStubImpl::get_call_ptr"].kind == "method"
    assert not [r for r in facts.registrations if r.kind in ("REGISTER_DISPATCH", "DECLARE_DISPATCH")]


@pytest.mark.source
@needs_source
def test_real_foreach_unary_op_macro_made_kernels():
    facts, lines = _real("aten/src/ATen/native/cuda/ForeachUnaryOp.cu")
    d = defs_by_qualname(facts)
    abs_ = d["at::native::foreach_tensor_abs_cuda"]
    text = lines[abs_.line - 1]
    if "foreach_tensor_abs_cuda(" in "\n".join(lines):  # v2.6.0 writes abs out (complex inputs)
        assert "foreach_tensor_abs_cuda(" in text and abs_.signature.startswith("std::vector<Tensor>")
    else:  # made by a macro, e.g. `OP_CUSTOM_FUNCTOR(floating_half, abs, Abs)`
        assert re.match(r"\s*[A-Z_]+\(.*\babs\b", text) and abs_.signature == " ".join(text.split()).rstrip(";")
    for op in ("erfc", "sigmoid", "rsqrt", "lgamma"):  # OP(...) -> OP_CUSTOM_FUNCTOR(...), or directly
        for name in (f"foreach_tensor_{op}_cuda", f"foreach_tensor_{op}_cuda_"):
            x = d["at::native::" + name]
            text = lines[x.line - 1]
            assert x.kind == "function" and re.match(r"\s*(OP|OP_CUSTOM_FUNCTOR)\(\w+, %s, \w+\)" % op, text), (x, text)
            assert x.signature == " ".join(text.split()).rstrip(";")
    assert "at::native::foreach_tensor_zero_cuda_" in d  # after the macros: the file is not derailed


@pytest.mark.source
@needs_source
def test_real_macro_made_cuda_and_cpu_kernels_of_native_functions_are_found():
    yaml = pytest.importorskip("yaml")
    native = Path(SOURCE) / "aten/src/ATen/native"
    names: set[str] = set()
    for rel in sorted(native.glob("cuda/Foreach*.cu")) + [native / "UnaryOps.cpp", native / "BinaryOps.cpp",
                                                          native / "cuda/Indexing.cu"]:
        facts = parse_cpp(str(rel.relative_to(SOURCE)), rel.read_bytes())
        names.update(x.name for x in facts.definitions)
        names.update(r.name for r in regs_of(facts, "TORCH_IMPL_FUNC"))
    entries = yaml.load((native / "native_functions.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader",
                                                                                      yaml.SafeLoader))
    wanted = set()
    for e in entries:
        for keys, kernel in (e.get("dispatch") or {}).items():
            if {"CPU", "CUDA"} & {k.strip() for k in keys.split(",")} and (
                    kernel.startswith("foreach_tensor_") and kernel.endswith(("_cuda", "_cuda_"))
                    or kernel in ("ceil_out", "floor_out", "round_out", "trunc_out", "eq_Scalar_out",
                                  "eq_Tensor_out", "index_select_out_cuda", "masked_fill__cuda")):
                wanted.add(kernel)
    assert len(wanted) > 100
    assert sorted(wanted - names) == []


@pytest.mark.source
@needs_source
def test_real_cpu_kernel_directory_smoke():
    root = Path(SOURCE) / "aten/src/ATen/native/cpu"
    if not root.is_dir():
        pytest.skip("no aten/src/ATen/native/cpu")
    n_regs = 0
    for path in sorted(root.glob("*.cpp"))[:60]:
        data = path.read_bytes()
        facts = parse_cpp(str(path.relative_to(SOURCE)), data)
        lines = data.decode("utf-8", "replace").splitlines()
        for r in facts.registrations:
            n_regs += 1
            assert r.name, r
            text = lines[r.line - 1]
            assert r.kind in text or re.search(r"\b[A-Z][A-Z0-9_]+\s*\(", text), (path, r, text)
        for d in facts.definitions:
            assert 1 <= d.line <= d.end_line <= len(lines) + 1, (path, d)
    assert n_regs > 50


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="installed torch headers not available")
def test_installed_torch_header_tensor_body():
    spec = importlib.util.find_spec("torch")
    header = Path(spec.origin).parent / "include/ATen/core/TensorBody.h"
    if not header.exists():
        pytest.skip("torch is installed without its C++ headers")
    facts = parse_cpp("ATen/core/TensorBody.h", header.read_bytes())
    d = defs_by_qualname(facts)
    assert "TensorBase" in d["at::Tensor"].bases
    assert {x.kind for x in facts.definitions if x.qualname == "at::Tensor::add"} == {"method"}


@needs_source
def test_real_tensor_impl_keeps_namespace_c10():
    facts, lines = _real("c10/core/TensorImpl.h")
    d = defs_by_qualname(facts)
    ti = d["c10::TensorImpl"]
    assert (ti.kind, ti.line) == ("struct", 509), ti
    assert d["c10"].line == 65 and d["c10"].kind == "namespace"
    for q in ("c10::VariableVersion", "c10::PlacementDeleteContext", "c10::impl::AutogradMetaFactory",
              "c10::TensorImpl::storage", "c10::TensorImpl::has_storage"):
        assert q in d, q
    assert not [x for x in facts.definitions if x.kind != "macro" and x.line > 65 and x.line < 3266
                and not x.qualname.startswith("c10::")]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="installed torch headers not available")
def test_installed_autograd_functions_header_keeps_its_namespace():
    spec = importlib.util.find_spec("torch")
    header = Path(spec.origin).parent / "include/torch/csrc/autograd/generated/Functions.h"
    if not header.exists():
        pytest.skip("torch is installed without its C++ headers")
    facts = parse_cpp("torch/csrc/autograd/generated/Functions.h", header.read_bytes())
    d = defs_by_qualname(facts)
    assert d["torch::autograd::generated::AddBackward0"].kind == "struct"
    assert d["torch::autograd::generated::AddBackward0::apply"].kind == "method"
    assert not [x for x in facts.definitions if x.kind != "macro" and x.kind != "namespace"
                and not x.qualname.startswith("torch::autograd::generated::")]


@pytest.mark.source
@needs_source
def test_real_definitions_lost_before_issue_13_are_found():
    facts, lines = _real("aten/src/ATen/core/dispatch/OperatorEntry.cpp")
    d = defs_by_qualname(facts)
    c = d["c10::impl::OperatorEntry::computeDispatchTableEntryWithDebug"]
    assert "std::pair<const AnnotatedKernel&, const char*>" in lines[c.line - 1]
    assert c.end_line > c.line + 50
    facts, lines = _real("torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp")
    d = defs_by_qualname(facts)
    for name in ("reduce", "getNCCLComm", "getCommSplitCounter"):
        x = d[f"c10d::ProcessGroupNCCL::{name}"]
        assert f"ProcessGroupNCCL::{name}(" in lines[x.line - 1], x


def test_data_members_and_a_conditional_group_inside_a_declaration():
    # an #ifdef splitting a member's type (OperatorEntry.h's kernels_): the first branch is parsed,
    # the member keeps its name and the type that branch spells; TORCH_ARG writes an accessor and a member
    src = """
namespace c10 { namespace impl {
class OperatorEntry {
 private:
  ska::flat_hash_map<DispatchKey,
#ifdef C10_DISPATCHER_ONE_KERNEL_PER_DISPATCH_KEY
                     // On mobile, we needn't worry about Jupyter notebooks.
                     std::array<AnnotatedKernel, 1>
#else
                     std::list<AnnotatedKernel>
#endif
                     > kernels_;
  std::unique_ptr<c10::SafePyObject> report_error_callback_;
  Node *fn_ = nullptr, *other_;
  TORCH_ARG(double, lr) = 1e-2;
  void f();
};
}}
"""
    d = defs_by_qualname(parse(src))
    assert d["c10::impl::OperatorEntry::kernels_"].signature == (
        "ska::flat_hash_map<DispatchKey, std::array<AnnotatedKernel, 1> > kernels_")
    assert d["c10::impl::OperatorEntry::report_error_callback_"].signature == (
        "std::unique_ptr<c10::SafePyObject> report_error_callback_")
    assert d["c10::impl::OperatorEntry::fn_"].signature == "Node *fn_"
    assert d["c10::impl::OperatorEntry::other_"].kind == "variable"
    assert (d["c10::impl::OperatorEntry::lr"].kind, d["c10::impl::OperatorEntry::lr"].signature) == (
        "method", "const double& lr() const")
    assert d["c10::impl::OperatorEntry::lr_"].kind == "variable"
    assert "c10::impl::OperatorEntry::TORCH_ARG" not in d
    assert d["c10::impl::OperatorEntry::f"].kind == "method"  # the class after the group still parses
