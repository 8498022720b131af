"""Bulk C++/CUDA parser: one file's bytes -> `FileFacts` (definitions, includes, calls, registrations).

A package of one module per job (this page is the design; each module's docstring says how its
phase works):

    parse.py          parse_cpp: runs the phases below in order, builds the frozen facts
    blanking.py       1. the copy tree-sitter parses: unknown macros blanked (same length)
    conditionals.py   1. #if/#else groups that open one construct twice: first branch only
    treesitter.py     2. parser and query, built once per process
    definitions.py    3. the structure walk: namespaces, classes, enums, functions, methods
    scopes.py         3. namespaces/classes around an offset; namespaces lost in ERROR regions
    calls.py          4. call references with their line and enclosing function
    idioms.py         names of PyTorch's registration macros (shared by 3, 4, 5, 6)
    registrations.py  5. registration macros and TORCH_LIBRARY* blocks -> CodeRegistration
    macros.py         6. same-file macro expansion of registrations and definitions
    context.py        7. what the link step needs: usings, registration kernels, #define conditions
    text.py           byte/text helpers: directive lines, parentheses, names, scope joining


`parse_cpp(path, data)` is pure: it reads nothing but its arguments, touches no store and never
imports torch, so it can run in a worker process and its (picklable, frozen) result can be cached
by the content hash of `data`. It is deterministic (same bytes -> equal FileFacts).

Approach (speed first: the whole-tree index has a budget of a few seconds)
--------------------------------------------------------------------------
1. *Blanking.* Macros tree-sitter cannot know about are overwritten with spaces of the same length
   (newlines kept), so byte offsets and line numbers are unchanged: export macros (`TORCH_API`,
   `C10_API`, `TORCH_CUDA_CPP_API`, any all-caps `*_API`, `C10_EXPORT`, `VISIBILITY_HIDDEN`),
   CUDA/cutlass qualifiers (`__global__`, `__device__`, `__host__`, `__forceinline__`,
   `__launch_bounds__(..)`, `C10_LAUNCH_BOUNDS_n(..)`, `C10_HOST_DEVICE`, `CUTLASS_DEVICE`, ...),
   `HANDLE_TH_ERRORS`/`END_HANDLE_TH_ERRORS` (a hidden try-block in ~900 torch/csrc bindings),
   and kernel-launch chevrons (`k<<<grid, block>>>(args)` becomes the call `k(args)`). Without
   this, `class TORCH_API Foo : public Bar {` derails the parse of the class and of the namespace
   around it. Candidates are found with literal-prefixed regexes (`_API`, `C10_`, `<<<`, ...),
   which CPython scans at memchr speed; preprocessor lines are left alone. Two tree-sitter-cpp
   failures that lose whole files are also avoided, in the parsed copy only: a `/* */` comment on
   a continuation line of a `#define` (the define becomes code: UnaryOps.cpp, the Foreach*.cu
   kernels) is blanked, and a multi-word builtin type as a macro argument (`F(x, unsigned int,
   1);`, cuda/Indexing.cu) is joined into one identifier (`unsigned_int`). Two causes of a whole
   namespace turning into an ERROR region are removed the same way: uses of an object-like macro
   of the same file whose every `#define` is empty or one specifier (`#define
   TENSORIMPL_MAYBE_VIRTUAL` / `... virtual`: `TENSORIMPL_MAYBE_VIRTUAL const Storage& storage()
   const {` lost `namespace c10` for all of c10/core/TensorImpl.h), and the extra branches of a
   short leaf `#ifdef/#else` group whose branches each open the same construct (`#ifdef _WIN32
   struct A : B { ... #else struct TORCH_API A : B { #endif`, the autograd Functions.h;
   `inline namespace CPU_CAPABILITY {` / `DEFAULT {`, TopKImpl.h): only the first is parsed.
2. *One tree-sitter parse* (tree-sitter-cpp, also for .cu/.cuh). Parser and query are built once
   per process, lazily.
3. *Structure walk in Python, never into function bodies*: translation unit, namespace bodies,
   class bodies, `extern "C"` blocks, template declarations, `#if/#ifdef/#else` branches and ERROR
   nodes (so definitions inside a damaged region are still found; a function of an ERROR region
   whose body holds function/namespace/template definitions is a misparse swallowing them, and
   they are walked too). It yields namespaces, classes/structs/unions (kind "struct" for struct
   and union), enums, function definitions, in-class method definitions and in-class method
   *declarations* (kind "method", `end_line` = the declaration's last line), and data members
   (kind "variable", signature = the type and declarator as written, without initializer:
   `std::shared_ptr<Node> function`; `TORCH_ARG(double, lr)` writes the method `lr` and the
   member `lr_`). Namespace-scope prototypes are not definitions and are skipped.
   *Namespace recovery.* When the walk met an ERROR node outside class bodies (~3% of files, 8% of
   the bytes), tree-sitter may have swallowed a `namespace X {` into it or closed it early, and
   the qualnames below it lack their namespaces. A textual pass (one literal-led regex over
   comments, literals, preprocessor lines, braces and `namespace` headers; of an `#if/#else`
   group the first live branch sets the brace depth, as in ctags) then finds every `namespace A
   {`, `namespace A::B {`, `inline namespace X {` and anonymous namespace with its brace range,
   and a definition whose tree namespaces are a strict subsequence of the textual ones (missing
   outer or inner ones) is requalified: the textual path replaces them, its classes and declarator
   are kept and `_join` resolves the declarator as usual, so correctly qualified definitions and
   anything the text disagrees with are left alone. The same brace matching drops the classes the
   tree wrongly nests a definition in (a class whose body the text closes before the definition;
   a "method" left outside every class becomes a function, or, without a body, a namespace-scope
   prototype and is dropped, unless the text puts it in a brace block the tree did not see).
   Namespaces the tree did not see become Definitions (kind "namespace", signature `namespace X`
   / `inline namespace X`), and a tree namespace closed early gets the textual `end_line`. Call
   scopes, structured-kernel targets and macro-expanded definitions use the requalified names.
4. *One query pass*, the only full traversal (in C), captures call callees, `#include` paths,
   `#define` names and ERROR nodes. Calls are swept in source order: `line` by counting newlines
   incrementally, `scope` = qualname of the function definition (from step 3) containing the call
   ("" at namespace/class level). `parse_errors` = number of ERROR nodes, or 1 when the only
   recoveries are MISSING tokens (a macro call without its `;`); capturing MISSING nodes too
   would cost ~8% more query time.
5. *Registrations* come from literal-prefixed regexes on the raw bytes, run only if the file
   contains one of the macro names; each hit is validated against the tree (not in a comment,
   string, `#define` name or macro body) and its arguments are split by a paren/string-aware
   scanner. This is robust to the many shapes tree-sitter gives macro calls at namespace level
   (expression statements with a MISSING `;`, function definitions, declarations, ERROR).
   TORCH_LIBRARY* bodies are located through the tree (brace matching as fallback) and scanned
   for `<var>.def/.impl/.fallback(` with the block's library variable.
6. *Same-file macro expansion of registrations and definitions* (files holding a registration
   macro name or a `##`): a function-like `#define` of this file whose body holds a registration
   macro or `.impl(`/`.def(` (e.g. BinaryOps.cpp's `CREATE_BINARY_TORCH_IMPL_FUNC(func_out,
   func_stub)`, functorch's `UNARY_POINTWISE(op)`), or a `{` with a `##` paste or a parameter
   followed by `(` (a definition with a made-up name: ForeachUnaryOp.cu's
   `OP_CUSTOM_FUNCTOR(function, op_name, functor_name)` defining `foreach_tensor_##op_name##_cuda`)
   is expanded textually (parameters, `#x`, `##`, `__VA_ARGS__`, argument comments dropped;
   macros calling such macros up to 3 levels) at each call site. The registrations of the
   expansion are registrations at the call site's line. Its definitions (functions, structured
   kernels' `structured_x::impl`, structs and their methods) are Definitions at the call site:
   line/end_line of the call, signature = the call text (`OP(floating_half_bfloat16, erfc, Erfc)`),
   qualname = the namespaces/classes around the call + the expanded qualname; the calls in their
   bodies are References at that line. Definitions are read from one tree-sitter parse per macro
   of its expansion with placeholder arguments, the arguments being put back per call site (C
   macros have no conditionals: all calls of a macro expand to the same shape), so a macro called
   100 times costs one small parse.

Measured on PyTorch v2.6.0 (aten/ c10/ torch/csrc/, 39 MB, this 2-core VM): ~62% of the throughput
of bare tree-sitter parsing; the C-level query traversal alone costs ~25% of a parse, the Python
extraction ~20%. See bench/bench_cpp_parse.py.

Conventions (choices the data model leaves open)
------------------------------------------------
* qualname = enclosing named namespaces + classes + the declarator as written, joined with `::`
  and resolved the way C++ lookup resolves a qualified declarator's first component (inside
  `namespace at`, `at::native::f` is `at::native::f`; inside `at::native`, `native::f` is too);
  anonymous namespaces are transparent; `inline namespace CPU_CAPABILITY` is kept because the
  syntax names it; template argument lists are removed from names and qualnames
  (`Vec<T>::push` -> `Vec::push`) but kept in `signature`; a leading `::` is dropped. A
  definition's `line` is the line of its name, `end_line` the line of its last byte.
* Out-of-class `A::b(...)` definitions are kind "method" when `A` is a class by the syntax of this
  file (a class defined here, `A<T>`, a constructor/destructor, a `structured_*` struct) or looks
  like a type (starts upper-case); otherwise "function" (`at::native::add_out` is a function).
* `TORCH_IMPL_FUNC(sub_out)` expands to `void structured_sub_out::impl`, so it is a Definition
  with name "impl", kind "method", qualname `<namespace>::structured_sub_out::impl` (e.g.
  `at::native::structured_sub_out::impl`), signature = the source text. Likewise
  `TORCH_META_FUNC(n)` / `TORCH_PRECOMPUTE_META_FUNC(n)` -> `<ns>::structured_n::meta` and the
  `...FUNC2(n, o)` forms -> `<ns>::structured_n_o::meta`. The CodeRegistration's `target` is that
  qualname; its `name` is `sub_out` (IMPL_FUNC) or the op `add.Tensor` (META_FUNC2(add, Tensor)).
* Other macro blocks that parse as functions (`TEST(Suite, Name) {...}`: an all-caps name, no
  return type, simple arguments) become kind "function" definitions named `TEST(Suite, Name)`, so
  calls inside get a scope. TORCH_LIBRARY* blocks are not definitions (calls inside: scope "").
* Registration fields: DECLARE_DISPATCH(fn_type, stub) name=stub; DEFINE_DISPATCH(stub);
  REGISTER_DISPATCH(stub, &k) name=stub, target=k (`&` dropped); key = the arch for the variants
  (REGISTER_AVX2_DISPATCH -> "AVX2", REGISTER_ARCH_DISPATCH(stub, arch, k) -> arch,
  REGISTER_CUDA_DISPATCH -> "CUDA", ALSO_REGISTER_AVX512_DISPATCH -> "AVX512",
  REGISTER_NO_CPU_DISPATCH(stub) -> "CPU" with target ""), "" for plain REGISTER_DISPATCH.
  TORCH_LIBRARY(ns, m) / TORCH_LIBRARY_FRAGMENT: name=ns; TORCH_LIBRARY_IMPL(ns, Key, m): name=ns,
  key=Key. Inside a block (scope "ns, Key", or "ns" for TORCH_LIBRARY*): m.def name = `ns::op.ovl`
  from the schema (TORCH_SELECTIVE_SCHEMA unwrapped, adjacent literals joined), target = kernel if
  given; m.impl name = `ns::op.ovl` (TORCH_SELECTIVE_NAME unwrapped, block ns prefixed if absent),
  target = the kernel (`TORCH_FN(k)`, `&k`, `k<T..>`, `static_cast<..>(&k)`,
  `makeFromBoxedFunction<&k>()` -> `k`; a lambda -> "<lambda>"; `makeFallthrough()` ->
  "fallthrough"), key = a `DispatchKey::X` named in the call (torch::dispatch) else the block's;
  m.fallback name = ns (usually "_"), target as for m.impl. A kernel argument that is an
  object-like macro of the same file (`#define AUTOGRAD_FALLBACK torch::CppFunction::
  makeFallthrough()`) is expanded once. C10_REGISTER_GUARD_IMPL(Dev, Impl): name=Dev, key=Dev,
  target=Impl; C10_REGISTER_{CLASS,CREATOR,TYPED_*}(Registry, key, ..., X): name=key,
  key=Registry, target=X (last argument). Other registrations' scope is the enclosing function's
  qualname ("" at namespace level).
* Call names: `foo`, `at::add` (qualified as written, templates stripped), `iter.foo` /
  `self->impl_->bar` when the receiver is a plain name chain, `.dtype` (member name only, leading
  '.') when the receiver is an expression (`x.options().dtype()`; the expression itself follows as
  a kind "receiver" reference when it is a call chain, an element or a pointee, see calls.py).
  Calls through `(*fp)(x)`, `arr[i](x)`, lambdas, casts, and the registration macros themselves
  are not references. The link step's context (kind "local": the declarations of receivers and
  of the locals they come from, range-for variables, lambda parameters; kind "ref": `using`s and
  namespace aliases) is described in context.py.

Known blind spots
-----------------
* No real preprocessing: every `#if` branch is indexed, and only same-file macros are expanded
  (step 6): macros from headers (functorch's VMAP_SUPPORT from BatchRulesHelper.h, the
  AT_DISPATCH_* family) are not, as parse_cpp reads nothing but its file; nor are definition
  macros without `##` in a file holding neither `##` nor a registration macro name, nor macro
  arguments that are themselves macro calls. Registrations and definitions written in a `#define`
  that is never called in the same file are skipped (their names are parameters).
* `#ifdef` lines splitting a declaration, and unknown attribute-like macros, still derail
  tree-sitter locally (ERROR nodes in ~30% of files); the ERROR-node walk recovers most
  definitions: 99.6% of the named functions universal-ctags finds in aten/ c10/ torch/csrc/ of
  v2.6.0 are found within two lines (bench/bench_cpp_defs.py; 98.7% before issue 13, which fixed
  #if/#else groups opening one block twice in function bodies, friend functions, classes local to
  functions, `__ubsan_ignore_*__` and the C10 diagnostic pragmas). What is left: statement macros
  that complete a construct (`try {...} CATCH_ALL_ERRORS(return)`), a conditional group whose
  other branch is long. (A short group that splits one declaration or expression - the code
  before it ends in `,` `<` `(` `=` - keeps its first branch in the parsed copy: conditionals.py.) Their namespaces are restored from the text (step 3) and classes that ended before
  them are dropped, but a class the tree did not see at all is missing from its members'
  qualnames (`PyTorchMemEffAttention::check_supported`, a method of AttentionBackwardKernel in
  kernel_backward.h). Namespaces opened by a macro are not seen, and in an `#if/#else` group
  whose branches open different namespaces only the first branch's counts.
* Constructor-style initializations (`Tensor t(x);`) are declarations, not calls; overloads are
  not resolved; out-of-class "method vs function" is a syntactic heuristic.
* Namespace-scope variables, member type aliases and enumerators are not definitions
  (namespace-scope `using X = Y` / `typedef Y X` are: kind "alias"; data members are: kind
  "variable"). A data member whose declarator is an array or a function pointer is not.
* m.def/m.impl are recognised only inside TORCH_LIBRARY* block bodies on the block's variable:
  not in helper functions taking a `torch::Library&`, not on `MAKE_TORCH_LIBRARY(...)` objects
  (tests, lazy backend), not on a chained `.impl()`; pybind11's `m.def` is never confused with it.
"""

from __future__ import annotations

from .parse import CPP_SUFFIXES, parse_cpp

__all__ = ["parse_cpp", "CPP_SUFFIXES"]
