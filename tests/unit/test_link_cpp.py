"""The link step's C++ rules on a small synthetic tree: each rule of indexes/link_cpp.py (library
names, namespaces and `using`, the enclosing class and its bases, parameter types of member calls,
unknown receivers, macros and their live #define, qualified names never sent to another namespace
by spelling, registration kernels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from linking import answer_rows, build_index, links_of

TREE = {
    "c10/util/Exception.h": """
        #ifdef STRIP_ERROR_MESSAGES
        #define TORCH_CHECK(cond, ...) C10_EXPAND(cond)
        #else
        #define TORCH_CHECK(cond, ...) if (!(cond)) { ::c10::detail::torchCheckFail(__VA_ARGS__); }
        #endif
        namespace c10 { namespace detail { void torchCheckFail(const char* msg) {} } }
        """,
    "c10/util/irange.h": """
        namespace c10 {
        template <typename I> int irange(I end) { return 0; }
        template <typename I> int irange(I begin, I end) { return 0; }
        }
        """,
    "c10/util/ArrayRef.h": """
        namespace c10 {
        template <typename T> class ArrayRef {
         public:
          size_t size() const { return 0; }
        };
        using IntArrayRef = ArrayRef<int64_t>;
        typedef std::vector<int64_t> DimVector;
        }
        namespace at { using c10::IntArrayRef; using c10::DimVector; }
        """,
    "c10/core/Device.h": """
        namespace c10 {
        struct Device { bool is_cpu() const { return true; } };
        }
        namespace at { using c10::Device; }
        """,
    "aten/src/ATen/core/TensorBase.h": """
        namespace at {
        class TensorBase {
         public:
          int64_t size(int64_t dim) const { return sizes()[dim]; }
          int64_t dim() const;
          bool defined() const;
          Device device() const;
        };
        }
        """,
    "aten/src/ATen/templates/TensorBody.h": """
        namespace at {
        class Tensor : public TensorBase {
         public:
          Tensor contiguous() const { return *this; }
        };
        }
        """,
    "aten/src/ATen/cpu/vec/sve/vec_double.h": """
        namespace at::vec {
        inline namespace CPU_CAPABILITY {
        template <> class Vectorized<double> {
         public:
          static constexpr int size() { return 4; }
        };
        }
        }
        """,
    "aten/src/ATen/native/Convolution.cpp": """
        #include <c10/util/irange.h>
        namespace at::native {
        namespace {
        int64_t helper(const Tensor& t) { return t.dim(); }
        }
        Tensor conv2d_symint(const Tensor& input, const std::vector<int64_t>& sizes, int64_t groups) {
          TORCH_CHECK(groups > 0, "non-positive groups is not supported");
          auto out = std::move(input);
          auto n = input.size(-1);
          auto k = sizes.size();
          auto x = out.size(0);
          for (auto i : c10::irange(groups)) { helper(input); }
          at::add_out(out, input, input);
          memcpy(nullptr, nullptr, 0);
          return at::native::conv2d_symint(input, sizes, groups);
        }
        Tensor _convolution(const Tensor& input_r, const Tensor& weight_r, const std::optional<Tensor>& bias_opt) {
          auto bias = bias_opt.value_or(Tensor());
          bias.defined();
          auto input = input_r;
          auto k = input.dim();
          auto w = input.contiguous();
          Tensor out = w;
          auto n = w.defined();
          auto m = out.size(0);
          auto y = mystery();
          y.dim();
          bool c = input_r.device().is_cpu();
          return out;
        }
        void pad(IntArrayRef pads, DimVector dims) {
          pads.size();
          dims.size();
        }
        void add_kernel(TensorIteratorBase& iter) {}
        template <typename F> void apply_op(const Tensor& t, F helper) { helper(t); }
        REGISTER_DISPATCH(add_stub, &add_kernel);
        }
        """,
    "aten/src/ATen/native/quantized/cpu/BinaryOps.cpp": """
        namespace at::native {
        void qmul_kernel(Tensor& out) {}
        REGISTER_DISPATCH(qmul_relu_stub, &qmul_kernel);
        }
        """,
    "aten/src/ATen/native/BinaryOps.cpp": """
        namespace at::native {
        Tensor& add_out(const Tensor& self, const Tensor& other, Tensor& out) { return out; }
        }
        """,
    "aten/src/ATen/test/basic.cpp": """
        using namespace at;
        using namespace c10;
        void TestAdd() {
          at::add_out(a, b, c);
          detail::torchCheckFail("x");
        }
        """,
    "torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp": """
        namespace c10d {
        class Backend { public: void setSequenceNumber(int n); };
        class ProcessGroupNCCL : public Backend {
         public:
          void reduce(int x);
          void collective(int x);
        };
        void run(std::shared_ptr<ProcessGroupNCCL> pg, const std::shared_ptr<ProcessGroupNCCL>& other) {
          pg->collective(1);
          other.reset();
        }
        void ProcessGroupNCCL::reduce(int x) {
          collective(x);
          setSequenceNumber(x);
          this->collective(x);
          boost::hash(x);
        }
        }
        """,
    "torch/csrc/jit/ir/ir.cpp": """
        namespace torch::jit {
        using c10::irange;
        using namespace nowhere;
        void lint() {
          irange(3);
        }
        }
        """,
}


def _build(root: Path, files: dict[str, str]) -> Path:
    return build_index(root, files, "cpp")


def _links(db: Path, scope: str, name: str) -> list[tuple[str, str | None, str]]:
    return links_of(db, scope, name)


def _one(db: Path, scope: str, name: str) -> tuple[str, str | None, str]:
    rows = _links(db, scope, name)
    assert rows, f"no link for {name} in {scope}"
    return rows[0]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("link_cpp"), TREE)


CONV = "at::native::conv2d_symint"


def test_std_and_other_libraries_are_external(db):
    assert _one(db, CONV, "std::move")[:2] == ("external", "std::move")
    assert _one(db, CONV, "memcpy")[0] == "external"
    assert _one(db, "c10d::ProcessGroupNCCL::reduce", "boost::hash")[:2] == ("external", "boost::hash")
    # a member call on a parameter of a library type
    status, target, why = _one(db, CONV, "sizes.size")
    assert (status, target) == ("external", "std::vector::size"), why


def test_member_call_on_a_parameter_goes_through_its_class_and_bases(db):
    status, target, why = _one(db, CONV, "input.size")
    assert (status, target) == ("resolved", "at::TensorBase::size"), why
    assert "input is a parameter" in why
    # never the SIMD vector's size(): an unknown receiver gets candidates, Tensor's first
    rows = _links(db, CONV, "out.size")
    assert {s for s, _, _ in rows} == {"candidate"}
    assert rows[0][1] == "at::TensorBase::size"
    assert "at::vec::CPU_CAPABILITY::Vectorized::size" in {t for _, t, _ in rows}


def test_locals_typed_by_declaration_or_initializer(db):
    scope = "at::native::_convolution"
    status, target, why = _one(db, scope, "input.dim")  # auto input = input_r (a parameter)
    assert (status, target) == ("resolved", "at::TensorBase::dim"), why
    status, target, why = _one(db, scope, "w.defined")  # auto w = input.contiguous() -> Tensor
    assert (status, target) == ("resolved", "at::TensorBase::defined"), why
    assert "returns at::Tensor" in why
    status, target, why = _one(db, scope, "out.size")  # Tensor out = w
    assert (status, target) == ("resolved", "at::TensorBase::size"), why
    assert _one(db, scope, "y.dim")[0] == "candidate"  # auto y = mystery(): unknown, not a guess
    status, target, why = _one(db, scope, "bias.defined")  # auto bias = bias_opt.value_or(Tensor())
    assert (status, target) == ("resolved", "at::TensorBase::defined"), why
    # an expression receiver: `.is_cpu` of input_r.device(), which returns a Device
    status, target, why = _one(db, scope, ".is_cpu")
    assert (status, target) == ("resolved", "c10::Device::is_cpu"), why


def test_parameter_types_through_aliases_and_header_usings(db):
    # `using IntArrayRef = ArrayRef<int64_t>` in c10, brought into at by a header's `using c10::IntArrayRef`
    status, target, why = _one(db, "at::native::pad", "pads.size")
    assert (status, target) == ("resolved", "c10::ArrayRef::size"), why
    status, target, why = _one(db, "at::native::pad", "dims.size")
    assert (status, target) == ("external", "std::vector::size"), why


def test_namespaces_anonymous_namespace_and_recursion(db):
    assert _one(db, CONV, "helper")[:2] == ("resolved", "at::native::helper")
    assert _one(db, CONV, "at::native::conv2d_symint")[:2] == ("resolved", CONV)
    assert _one(db, "at::native::helper", "t.dim")[:2] == ("resolved", "at::TensorBase::dim")


def test_a_callable_parameter_is_not_a_function_of_the_same_name(db):
    status, target, why = _one(db, "at::native::apply_op", "helper")
    assert (status, target) == ("unresolved", None) and "parameter" in why


def test_overloads_share_a_qualname(db):
    assert _one(db, CONV, "c10::irange")[:2] == ("resolved", "c10::irange")


def test_macro_resolves_to_the_define_a_default_build_sees(db):
    status, target, why = _one(db, CONV, "TORCH_CHECK")
    assert (status, target) == ("resolved", "TORCH_CHECK")
    assert "c10/util/Exception.h:5" in why and "STRIP_ERROR_MESSAGES is not defined" in why, why


def test_qualified_name_is_never_another_namespace_by_spelling(db):
    # at::add_out is generated (ATen/Functions.h): not at::native::add_out
    for scope in (CONV, "TestAdd"):
        status, target, why = _one(db, scope, "at::add_out")
        assert (status, target) == ("unresolved", "at::add_out"), why
        assert "torchgen" in why


def test_enclosing_class_and_its_bases_for_unqualified_member_calls(db):
    scope = "c10d::ProcessGroupNCCL::reduce"
    assert _one(db, scope, "collective")[:2] == ("resolved", "c10d::ProcessGroupNCCL::collective")
    assert _one(db, scope, "setSequenceNumber")[:2] == ("resolved", "c10d::Backend::setSequenceNumber")
    assert _one(db, scope, "this->collective")[:2] == ("resolved", "c10d::ProcessGroupNCCL::collective")


def test_arrow_on_a_smart_pointer_is_a_member_of_the_pointee(db):
    assert _one(db, "c10d::run", "pg->collective")[:2] == ("resolved", "c10d::ProcessGroupNCCL::collective")
    assert _one(db, "c10d::run", "other.reset")[:2] == ("external", "std::shared_ptr::reset")


def test_using_directives_and_declarations(db):
    # `using namespace c10;` at file level: detail::x is c10::detail::x
    assert _one(db, "TestAdd", "detail::torchCheckFail")[:2] == ("resolved", "c10::detail::torchCheckFail")
    assert _one(db, "torch::jit::lint", "irange")[:2] == ("resolved", "c10::irange")
    # the using itself is a reference to what it names
    assert _one(db, "torch::jit", "using c10::irange")[:2] == ("resolved", "c10::irange")
    assert _one(db, "", "using namespace at")[:2] == ("resolved", "at")
    assert _one(db, "torch::jit", "using namespace nowhere")[:2] == ("unresolved", None)


def test_register_dispatch_kernel_is_a_reference_to_that_kernel(db):
    assert _one(db, "at::native", "add_kernel")[:2] == ("resolved", "at::native::add_kernel")
    rows = answer_rows(db)
    refs_to_mul = sum(1 for r in rows if r[4] == "at::native::mul_kernel")
    qmul = [(r[2], r[7]) for r in rows if r[4] == "at::native::qmul_kernel"]
    assert refs_to_mul == 0
    assert qmul == [(4, "aten/src/ATen/native/quantized/cpu/BinaryOps.cpp")]


def test_callees_leave_out_the_link_context(db):
    # the parser's `local` / `receiver` facts type receivers for the link step; they are not calls
    from torchatlas.indexes.code_queries import callees
    from torchatlas.indexes.store import Index

    index = Index(db)
    try:
        got = callees(index, "at::native::_convolution")
    finally:
        index.close()
    names = [ref.name for ref, _where in got]
    assert "input.dim" in names and ".is_cpu" in names
    assert not [n for n in names if " = " in n or " <- " in n or ": " in n]
    assert {ref.kind for ref, _where in got} == {"call"}
