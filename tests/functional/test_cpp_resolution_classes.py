"""C++ callees resolved the way the compiler would, one test per resolution class (issue 13): a
tiny C++ tree under tmp_path, indexed by the real parser and link step and read back through the
query layer (`code_queries.callees`): the right callee resolves, the wrong same-named one does not,
and where the static facts cannot decide the answer stays a ranked candidate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from torchatlas.indexes import code_queries as cq
from torchatlas.indexes import link
from torchatlas.indexes.code_index import ParsedFile, _rows
from torchatlas.indexes.cpp import parse_cpp
from torchatlas.indexes.store import Index, IndexWriter

TREE = {
    # overloads by arity: the two-parameter irange comes first in the header
    "c10/util/irange.h": """
        namespace c10 {
        template <typename I, typename J> int irange(I begin, J end) { return 0; }
        template <typename I> int irange(I end) { return 0; }
        inline int pad(int a, int b = 0, int c = 0) { return a; }
        inline int pad(const char* fmt, ...) { return 0; }
        inline void loops(int n) {
          c10::irange(n);
          c10::irange(1, n);
          pad(1, 2, 3);
        }
        }
        """,
    # same-named decoys: every method the calls below name also exists in another class
    "c10/util/decoys.h": """
        namespace c10 {
        template <typename T> class List { public: void set(int i, T v); bool empty() const; };
        template <typename T> class ArrayRef { public: const T& at(size_t i) const; };
        struct OptionalValue { bool hasUses() const; };
        struct SymFloat { bool sym_eq(int o) const; };
        }
        namespace at {
        class TensorBase {
         public:
          const char* name() const; bool defined() const; const TensorBase& zero_() const; int64_t dim() const;
        };
        class Tensor : public TensorBase {};
        inline void zero_all(const Tensor& t, const TensorBase& b) { t.zero_(); b.zero_(); t.defined(); t.dim(); }
        struct MatrixRef { bool empty() const; };
        struct Block { int outputs() const; Node* owningNode() const; };
        }
        namespace torch { namespace optim { struct SGDOptions { const double& lr() const; }; } }
        """,
    "torch/csrc/distributed/c10d/Store.hpp": """
        namespace c10d {
        class Store { public: virtual void set(const std::string& key, int v) = 0; };
        }
        """,
    "torch/csrc/distributed/c10d/StoreCollectives.hpp": """
        namespace c10d {
        class StoreCollectives {
         public:
          void barrier();
         private:
          c10::intrusive_ptr<::c10d::Store> store_;
          int rank_;
        };
        }
        """,
    "torch/csrc/distributed/c10d/StoreCollectives.cpp": """
        namespace c10d {
        void StoreCollectives::barrier() {
          store_->set("k", rank_);
        }
        }
        """,
    "torch/csrc/autograd/graph.h": """
        namespace torch { namespace autograd {
        struct Node { const char* name() const; int num_inputs() const; };
        struct Edge { std::shared_ptr<Node> function; uint32_t input_nr; };
        struct ReadyQueue { bool empty() const; };
        using NodePtr = std::shared_ptr<Node>;
        using variable_list = std::vector<at::Tensor>;
        struct GraphTask {
          std::vector<std::shared_ptr<ReadyQueue>> queues_;
          std::shared_ptr<ReadyQueue> ready_queue(int device);
          bool idle(const Edge& next, Node* func, variable_list& grads, NodePtr p);
        };
        }}
        """,
    "torch/csrc/autograd/engine.cpp": """
        namespace torch { namespace autograd {
        bool GraphTask::idle(const Edge& next, Node* func, variable_list& grads, NodePtr p) {
          next.function->name();
          for (auto& queue : queues_) {
            queue->empty();
          }
          auto& fn = *func;
          fn.num_inputs();
          auto& grad = grads[0];
          grad.defined();
          p->name();
          auto copy = p;
          copy->num_inputs();
          auto made = std::make_shared<ReadyQueue>();
          made->empty();
          auto& base = static_cast<Node&>(fn);
          base.name();
          queues_[0]->empty();
          if (auto* cond = next.function.get()) {
            cond->num_inputs();
          }
          for (auto it = queues_.begin(); it != queues_.end(); ++it) {
            it->empty();
          }
          auto rq = ready_queue(0);
          rq->empty();
          std::vector<Node*> stack;
          auto top = stack.back();
          top->num_inputs();
          auto unknown = some_factory();
          return unknown.empty();
        }
        auto GraphTask::ready_queue(int device) -> std::shared_ptr<ReadyQueue> { return queues_[device]; }
        }}
        """,
    "torch/csrc/api/include/torch/optim/rmsprop.h": """
        namespace torch { namespace optim {
        struct RMSpropOptions {
          TORCH_ARG(double, lr) = 1e-2;
          TORCH_ARG(int64_t, step) = 0;
        };
        void rmsprop_step(const RMSpropOptions& options);
        }}
        """,
    "torch/csrc/api/src/optim/rmsprop.cpp": """
        namespace torch { namespace optim {
        void rmsprop_step(const RMSpropOptions& options) {
          options.lr();
          options.step();
        }
        }}
        """,
    "torch/csrc/jit/ir/ir.h": """
        namespace torch { namespace jit {
        struct Node { Block* owningBlock() const; int outputs() const; };
        struct LoopView { explicit LoopView(Node* n); int carriedOutputs() const; };
        void mark(Node* node);
        }}
        """,
    "torch/csrc/jit/passes/dce.cpp": """
        namespace torch { namespace jit {
        struct Value { bool hasUses() const; };
        struct Block { Node* owningNode() const; int outputs() const; c10::ArrayRef<Value*> inputs() const; };
        void mark(Node* node) {
          node->owningBlock()->inputs().at(0)->hasUses();
          (*node).outputs();
          auto outer = node->owningBlock()->owningNode();
          outer->outputs();
          auto loop = LoopView(outer);
          loop.carriedOutputs();
        }
        }}
        """,
    "aten/src/ATen/native/cuda/Shape.cu": """
        namespace at { namespace native {
        static inline void shape_check(const Tensor& input) {}
        }}
        """,
    "aten/src/ATen/native/Shape.cpp": """
        namespace at {
        static inline void shape_check(const Tensor& input) {}
        namespace native {
        void slow_conv(const Tensor& input) {
          shape_check(input);
        }
        }}
        """,
    "c10/util/flat_hash_map.h": """
        namespace ska {
        namespace detailv3 {
        template <typename T, typename K> class sherwood_v3_table { public: int find(const K& key); };
        }
        template <typename K, typename V>
        class flat_hash_map : public detailv3::sherwood_v3_table<std::pair<K, V>, K> {};
        }
        namespace c10 { template <typename K, typename V> class Dict { public: int find(const K& key) const; }; }
        """,
    "aten/src/ATen/core/dispatch/OperatorEntry.h": """
        namespace c10 { namespace impl {
        class OperatorEntry {
         public:
          bool hasKernelForDispatchKey(DispatchKey k) const;
         private:
          ska::flat_hash_map<DispatchKey,
        #ifdef C10_DISPATCHER_ONE_KERNEL_PER_DISPATCH_KEY
                             std::array<AnnotatedKernel, 1>
        #else
                             std::list<AnnotatedKernel>
        #endif
                             > kernels_;
        };
        }}
        """,
    "aten/src/ATen/core/dispatch/OperatorEntry.cpp": """
        namespace c10 { namespace impl {
        bool OperatorEntry::hasKernelForDispatchKey(DispatchKey k) const {
          return kernels_.find(k);
        }
        }}
        """,
    "c10/macros/Macros.h": """
        namespace at { using namespace c10; }
        """,
    "c10/core/GradMode.h": """
        namespace c10 {
        struct GradMode { static bool is_enabled(); };
        namespace ivalue { struct Future { void wait(); }; }
        namespace impl { struct VirtualGuardImpl { int deviceCount() const; }; }
        }
        namespace at { using GradMode = c10::GradMode; }
        namespace torch { struct GradMode { static bool is_enabled(); }; }
        """,
    "torch/csrc/autograd/function.cpp": """
        namespace torch { namespace autograd {
        struct Task { c10::intrusive_ptr<at::ivalue::Future> future_; void run(); };
        static variable_list call_function(Node* fn) { return {}; }
        void Task::run() {
          future_->wait();
          bool g = at::GradMode::is_enabled();
          const auto guard = c10::impl::VirtualGuardImpl{accelerator};
          guard.deviceCount();
          auto outputs = call_function(nullptr);
          for (auto& output : outputs) {
            output.defined();
          }
        }
        }}
        """,
    "torch/csrc/api/include/torch/nn/functional/padding.h": """
        namespace torch { namespace nn { namespace functional { namespace detail {
        inline Tensor pad(const Tensor& input) { return input; }
        }}}}
        namespace at { namespace detail { inline Tensor pad(const Tensor& input) { return input; } } }
        """,
    "torch/csrc/api/src/nn/modules/padding.cpp": """
        namespace F = torch::nn::functional;
        namespace torch { namespace nn {
        Tensor forward(const Tensor& input) {
          return F::detail::pad(input);
        }
        }}
        """,
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("cpp_resolution")
    for rel, src in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(src))
    db = root / "index.sqlite"
    w = IndexWriter(db)
    for fid, rel in enumerate(sorted(TREE), 1):
        facts = parse_cpp(rel, (root / rel).read_bytes())
        parsed = ParsedFile(rel, "cpp", 0, 0, str(fid), "ok")
        parsed.defs, parsed.includes, parsed.refs, parsed.regs = _rows("cpp", facts)
        w.add_parsed(parsed, fid)
    # the dispatch stage's operators (written before the link step): zero_ has a method variant
    w.add_ops([("aten::zero_", "zero_", "", {"op": "aten::zero_", "variants": ["function", "method"]}),
               ("aten::dim", "dim", "", {"op": "aten::dim", "variants": ["method"], "manual_cpp_binding": True})])
    link.link_all(w)
    w.commit()
    idx = Index(db)
    yield idx
    idx.close()


def _callee(index: Index, function: str, written: str, nth: int = 0):
    """(status, targets, why) of the nth call written `written` in `function`."""
    hits = [r for r, _where in cq.callees(index, function) if r.name == written]
    assert len(hits) > nth, (function, written, [r.name for r, _ in cq.callees(index, function)])
    r = hits[nth]
    return r.status, r.targets, " ".join(r.why)


def _resolved(index: Index, function: str, written: str, target: str, nth: int = 0) -> str:
    status, targets, why = _callee(index, function, written, nth)
    assert (status, targets[:1]) == ("resolved", (target,)), (written, status, targets, why)
    return why


def test_a_data_member_of_the_enclosing_class_types_the_receiver(index):
    why = _resolved(index, "c10d::StoreCollectives::barrier", "store_->set", "c10d::Store::set")
    assert "data member" in why  # not c10::List::set, which a name-only answer would rank beside it


def test_a_member_chain_goes_through_each_data_member(index):
    # next.function->name(): Edge::function is a std::shared_ptr<Node>, so -> reaches Node
    _resolved(index, "torch::autograd::GraphTask::idle", "next.function->name", "torch::autograd::Node::name")


def test_range_for_copies_pointees_elements_casts_and_made_pointers_type_locals(index):
    scope = "torch::autograd::GraphTask::idle"
    _resolved(index, scope, "queue->empty", "torch::autograd::ReadyQueue::empty")  # element of a data member
    _resolved(index, scope, "fn.num_inputs", "torch::autograd::Node::num_inputs")  # *func of Node*
    _resolved(index, scope, "grad.defined", "at::TensorBase::defined")  # grads[0] of an alias of vector<Tensor>
    _resolved(index, scope, "p->name", "torch::autograd::Node::name")  # -> through the alias NodePtr
    _resolved(index, scope, "copy->num_inputs", "torch::autograd::Node::num_inputs")  # a copy of p
    _resolved(index, scope, "made->empty", "torch::autograd::ReadyQueue::empty")  # std::make_shared<T>
    _resolved(index, scope, "base.name", "torch::autograd::Node::name")  # static_cast<Node&>


def test_an_unknown_receiver_stays_a_ranked_candidate(index):
    status, targets, _why = _callee(index, "torch::autograd::GraphTask::idle", "unknown.empty")
    assert status == "candidate" and len(targets) >= 3  # never one confident guess


def test_torch_arg_writes_accessors(index):
    _resolved(index, "torch::optim::rmsprop_step", "options.lr", "torch::optim::RMSpropOptions::lr")
    _resolved(index, "torch::optim::rmsprop_step", "options.step", "torch::optim::RMSpropOptions::step")


def test_a_call_chain_initializer_is_typed_by_its_last_call(index):
    # outer = node->owningBlock()->owningNode(): a Node, not the Block its first call returns
    _resolved(index, "torch::jit::mark", "outer->outputs", "torch::jit::Node::outputs")
    _resolved(index, "torch::jit::mark", "loop.carriedOutputs", "torch::jit::LoopView::carriedOutputs")


def test_a_static_function_of_another_source_file_is_not_visible(index):
    # at::native::shape_check is static in a .cu file: the .cpp's call inside at::native is its own at::shape_check
    _resolved(index, "at::native::slow_conv", "shape_check", "at::shape_check")


def test_a_namespace_alias_is_followed(index):
    status, targets, why = _callee(index, "torch::nn::forward", "F::detail::pad")
    assert (status, targets[:1]) == ("resolved", ("torch::nn::functional::detail::pad",)), (status, targets, why)


def test_namespaces_through_directives_and_alias_qualifiers(index):
    # at::ivalue::Future is c10::ivalue::Future through `namespace at { using namespace c10; }`
    _resolved(index, "torch::autograd::Task::run", "future_->wait", "c10::ivalue::Future::wait")
    # a qualifier that is a type alias (at::GradMode = c10::GradMode), not torch::GradMode
    _resolved(index, "torch::autograd::Task::run", "at::GradMode::is_enabled", "c10::GradMode::is_enabled")


def test_brace_initializers_and_elements_of_a_returned_container_type_locals(index):
    _resolved(index, "torch::autograd::Task::run", "guard.deviceCount", "c10::impl::VirtualGuardImpl::deviceCount")
    # for (auto& output : outputs) with outputs = call_function(..), which returns a variable_list
    _resolved(index, "torch::autograd::Task::run", "output.defined", "at::TensorBase::defined")


def test_a_data_member_whose_type_an_ifdef_splits_and_a_method_of_a_template_base(index):
    # kernels_ is a ska::flat_hash_map (its type split by #ifdef); find is its base sherwood_v3_table's
    _resolved(index, "c10::impl::OperatorEntry::hasKernelForDispatchKey", "kernels_.find",
              "ska::detailv3::sherwood_v3_table::find")


def test_expression_receivers_call_chains_elements_and_pointees(index):
    # node->owningBlock()->inputs().at(0)->hasUses(): at() of the ArrayRef<Value*> inputs() returns, then ->
    _resolved(index, "torch::jit::mark", ".hasUses", "torch::jit::Value::hasUses")
    _resolved(index, "torch::jit::mark", ".outputs", "torch::jit::Node::outputs")  # (*node).outputs()
    # an element of a data member (std::vector<std::shared_ptr<ReadyQueue>> queues_[0]->empty())
    _resolved(index, "torch::autograd::GraphTask::idle", ".empty", "torch::autograd::ReadyQueue::empty")


def test_condition_and_for_initializer_locals_and_iterators(index):
    scope = "torch::autograd::GraphTask::idle"
    # if (auto* cond = next.function.get()): std::shared_ptr's get() is a library call, cond unknown
    assert _callee(index, scope, "cond->num_inputs")[0] == "candidate"
    # it = queues_.begin(): a library iterator, whose operator-> the index cannot follow: a candidate,
    # never the iterator class's own (absent) member nor one confident guess
    assert _callee(index, scope, "it->empty")[0] == "candidate"


def test_trailing_return_types_and_container_elements(index):
    scope = "torch::autograd::GraphTask::idle"
    # rq = ready_queue(0): `auto GraphTask::ready_queue(..) -> std::shared_ptr<ReadyQueue>`
    _resolved(index, scope, "rq->empty", "torch::autograd::ReadyQueue::empty")
    # top = stack.back() of a std::vector<Node*>: an element, a Node*
    _resolved(index, scope, "top->num_inputs", "torch::autograd::Node::num_inputs")


def test_a_generated_tensor_method_hides_tensorbase(index):
    # t.zero_() on an at::Tensor is torchgen's at::Tensor::zero_ (TensorBody.h), not TensorBase::zero_
    status, targets, why = _callee(index, "at::zero_all", "t.zero_")
    assert (status, targets) == ("unresolved", ("at::Tensor::zero_",)) and "TensorBody.h" in why, (status, targets, why)
    _resolved(index, "at::zero_all", "b.zero_", "at::TensorBase::zero_")  # on a TensorBase it is TensorBase's
    _resolved(index, "at::zero_all", "t.defined", "at::TensorBase::defined")  # no operator named defined
    _resolved(index, "at::zero_all", "t.dim", "at::TensorBase::dim")  # aten::dim is a manual_cpp_binding


def test_the_overload_a_call_means_is_picked_by_its_argument_count(index):
    """One qualname stands for the overload set; the place shown is the overload that takes the
    call's arguments (a default makes a range): c10::irange(n) is not the two-parameter irange."""
    calls = [(r.name, loc) for r, loc in cq.callees(index, "c10::loops")]
    assert calls == [("c10::irange", "c10/util/irange.h:4"), ("c10::irange", "c10/util/irange.h:3"),
                     ("pad", "c10/util/irange.h:5")], calls


def test_argument_counts_are_what_the_call_passes():
    facts = parse_cpp("a.cpp", b"void f(int n) {\n  g();\n  h(1, /* two */ 2,\n    f(3, 4));\n  o.m (x);\n}\n")
    assert [(r.name, r.nargs) for r in facts.references if r.kind == "call"] == [
        ("g", 0), ("h", 3), ("f", 2), ("o.m", 1)]
