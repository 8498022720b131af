"""Bulk C++/CUDA parser: one file's bytes -> `FileFacts` (definitions, includes, calls, registrations).

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
   *declarations* (kind "method", `end_line` = the declaration's last line). Namespace-scope
   prototypes are not definitions and are skipped.
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
  '.') when the receiver is an expression (`x.options().dtype()`). Calls through `(*fp)(x)`,
  `arr[i](x)`, lambdas, casts, and the registration macros themselves are not references.

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
  definitions (about 98.6% of the named functions universal-ctags finds are found within two
  lines). Their namespaces are restored from the text (step 3) and classes that ended before
  them are dropped, but a class the tree did not see at all is missing from its members'
  qualnames (`PyTorchMemEffAttention::check_supported`, a method of AttentionBackwardKernel in
  kernel_backward.h). Namespaces opened by a macro are not seen, and in an `#if/#else` group
  whose branches open different namespaces only the first branch's counts.
* Constructor-style initializations (`Tensor t(x);`) are declarations, not calls; overloads are
  not resolved; out-of-class "method vs function" is a syntactic heuristic.
* Namespace-scope variables, typedefs/aliases, data members and enumerators are not definitions.
* m.def/m.impl are recognised only inside TORCH_LIBRARY* block bodies on the block's variable:
  not in helper functions taking a `torch::Library&`, not on `MAKE_TORCH_LIBRARY(...)` objects
  (tests, lazy backend), not on a chained `.impl()`; pybind11's `m.def` is never confused with it.
"""

from __future__ import annotations

import re
from bisect import bisect_right

try:  # the installed package layout (torchatlas.indexes.*) and a bare checkout both work
    from .code_facts import CodeRegistration, Definition, FileFacts, Include, Reference
    from .code_facts import new_reference as _new_reference
    from .gc_pause import paused_gc
except ImportError:  # pragma: no cover - imported as a top-level module
    from code_facts import CodeRegistration, Definition, FileFacts, Include, Reference  # type: ignore
    from code_facts import new_reference as _new_reference  # type: ignore
    from gc_pause import paused_gc  # type: ignore

__all__ = ["parse_cpp", "CPP_SUFFIXES"]

CPP_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")

# ---------------------------------------------------------------------------------------------
# Per-process lazily built tree-sitter objects
# ---------------------------------------------------------------------------------------------

_TS = None  # (parser, query, QueryCursor class, kind ids)

_QUERY_SRC = """
(call_expression function: (_) @call)
(preproc_include path: (_) @include)
(preproc_def name: (identifier) @macro)
(preproc_function_def name: (identifier) @fmacro)
(ERROR) @error
"""


def _ts():
    global _TS
    if _TS is None:
        import tree_sitter_cpp
        from tree_sitter import Language, Parser, Query, QueryCursor

        lang = Language(tree_sitter_cpp.language())
        ids = {
            name: lang.id_for_node_kind(name, True)
            for name in (
                "identifier",
                "qualified_identifier",
                "field_expression",
                "template_function",
                "template_method",
                "system_lib_string",
            )
        }
        _TS = (Parser(lang), Query(lang, _QUERY_SRC), QueryCursor, ids)
    return _TS


# ---------------------------------------------------------------------------------------------
# Blanking of attribute-like macros (same length, newlines kept)
# ---------------------------------------------------------------------------------------------

_API_RE = re.compile(rb"_API\b")
_C10_RE = re.compile(rb"C10_[A-Z0-9_]+")
_CUDA_RE = re.compile(rb"__(?:device|global|host|forceinline|noinline|launch_bounds)__")
_CHEVRON_RE = re.compile(rb"<<<")
# Other statement/attribute macros worth blanking: (literal present in the file, pattern, whether a
# parenthesized argument list that follows is blanked too). HANDLE_TH_ERRORS / END_HANDLE_TH_ERRORS
# open and close a hidden try-block in ~900 Python-binding functions of torch/csrc.
_OTHER_BLANK = (
    (b"VISIBILITY_HIDDEN", re.compile(rb"VISIBILITY_HIDDEN(?!\w)"), False),
    (b"PYBIND11_EXPORT", re.compile(rb"PYBIND11_EXPORT(?!\w)"), False),
    (b"HANDLE_TH_ERRORS", re.compile(rb"HANDLE_TH_ERRORS(?:_PYBIND|_RET)?(?!\w)"), True),
    (b"CUTLASS_", re.compile(rb"CUTLASS_(?:HOST_DEVICE|DEVICE|GLOBAL|PRAGMA_UNROLL|PRAGMA_NO_UNROLL)(?!\w)"), False),
    (b"CUTE_", re.compile(rb"CUTE_(?:HOST_DEVICE|DEVICE|HOST)(?!\w)"), False),
    (b"NLOHMANN_JSON_NAMESPACE_", re.compile(rb"NLOHMANN_JSON_NAMESPACE_(?:BEGIN|END)(?!\w)"), False),
)
_C10_BLANK = frozenset(
    b"C10_" + s
    for s in (
        b"EXPORT",
        b"IMPORT",
        b"HIDDEN",
        b"HOST_DEVICE",
        b"DEVICE",
        b"HOST",
        b"ALWAYS_INLINE",
        b"ALWAYS_INLINE_ATTRIBUTE",
        b"NOINLINE",
        b"NODISCARD",
        b"UNUSED",
        b"USED",
        b"DEPRECATED",
        b"HOST_CONSTEXPR_EXCEPT_WIN_CUDA",
    )
)
_C10_BLANK_CALL = frozenset(
    (b"C10_LAUNCH_BOUNDS_0", b"C10_LAUNCH_BOUNDS_1", b"C10_LAUNCH_BOUNDS_2", b"C10_DEPRECATED_MESSAGE")
)
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_UPPER_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _on_directive_line(data: bytes, pos: int) -> bool:
    ls = data.rfind(b"\n", 0, pos) + 1
    return data[ls:pos].lstrip().startswith(b"#")


def _in_directive(data: bytes, pos: int) -> bool:
    """Whether pos is on a preprocessor line or one of its backslash-continued lines."""
    ls = data.rfind(b"\n", 0, pos) + 1
    while True:
        if data[ls:pos].lstrip().startswith(b"#"):
            return True
        k = ls - 2  # the last byte of the previous line
        if k >= 0 and data[k] == 0x0D:
            k -= 1
        if k < 0 or data[k] != 0x5C:
            return False
        pos = k
        ls = data.rfind(b"\n", 0, pos) + 1


def _paren_end(data: bytes, pos: int, limit: int = 4000) -> int:
    """Index just past the ')' matching the first '(' at/after pos (skipping blanks); -1 if none."""
    n = len(data)
    i = pos
    while i < n and data[i] in b" \t\r\n":
        i += 1
    if i >= n or data[i] != 0x28:  # '('
        return -1
    depth = 0
    end = min(n, i + limit)
    while i < end:
        c = data[i]
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == 0x22 or c == 0x27:  # skip a string or character literal
            j = i + 1
            while j < end and data[j] != c:
                j += 2 if data[j] == 0x5C else 1
            i = j
        elif c == 0x2F and i + 1 < end and data[i + 1] in b"/*":  # skip a comment
            j = data.find(b"\n" if data[i + 1] == 0x2F else b"*/", i + 2, end)
            i = end if j < 0 else j
        i += 1
    return -1


def _directive_comment_spans(data: bytes) -> list:
    """Block comments that start on a continuation line of a preprocessor directive.

    tree-sitter-cpp turns `#define F(a) \\<newline>  g(/*flag=*/true, a);` into ERROR nodes: the
    #define is lost and its body is parsed as code, derailing the rest of the file (UnaryOps.cpp,
    ForeachUnaryOp.cu, ...). A comment is whitespace to the preprocessor, so it is blanked."""
    spans = []
    find = data.find
    i = find(b"/*")
    while i >= 0:
        e = find(b"*/", i + 2)
        if e < 0:
            break
        e += 2
        ls = data.rfind(b"\n", 0, i)
        if ls > 1 and (data[ls - 1] == 0x5C or (data[ls - 1] == 0x0D and data[ls - 2] == 0x5C)):
            spans.append((i, e))
        i = find(b"/*", e)
    return spans


# A multi-word builtin type as a macro argument in statement position (`SMALL_INDEX(scalar_t,
# unsigned int, 1);` in cuda/Indexing.cu) makes tree-sitter lose the enclosing functions and the
# rest of the file; as one identifier (`unsigned_int`) it parses as a call. Only the tree sees it:
# names and signatures are read from the original bytes.
_UNSIGNED_ARG_RE = re.compile(rb"unsigned (?=(?:int|long|char|short)[ \t]*[,)])")


# Object-like macros of the file that expand to nothing or to one specifier/attribute, in every
# `#define` of them: `#define TENSORIMPL_MAYBE_VIRTUAL` / `... virtual` (c10/core/TensorImpl.h).
# tree-sitter reads such a name as a type, and `TENSORIMPL_MAYBE_VIRTUAL const Storage& storage()
# const {` in the TensorImpl class body turns all of `namespace c10 { ... }` into an ERROR region.
# Their uses in code are blanked like the `*_API` macros.
_ATTR_DEFINE_RE = re.compile(
    rb"#[ \t]*define[ \t]+([A-Z_][A-Z0-9_]*)[ \t]*"
    rb"(?:(?:virtual|inline|static|constexpr|explicit|__attribute__\(\([\w ,()\"]*\)\)|\[\[[\w:]+\]\])[ \t]*)?"
    rb"(?=\r?\n|//|/\*|\Z)"
)


def _attr_macro_spans(data: bytes) -> list:
    """Spans of the code uses of the file's specifier-like object macros (see _ATTR_DEFINE_RE)."""
    counts: dict = {}
    for m in _ATTR_DEFINE_RE.finditer(data):
        name = m.group(1)
        counts[name] = counts.get(name, 0) + 1
    spans = []
    find = data.find
    for name, k in counts.items():
        uses = []
        i = find(name)
        while i >= 0:
            e = i + len(name)
            if (i == 0 or data[i - 1] not in _WORD) and (e >= len(data) or data[e] not in _WORD) \
                    and not _in_directive(data, i):
                uses.append((i, e))
            i = find(name, e)
        if uses and len(re.findall(rb"#[ \t]*define[ \t]+" + name + rb"(?!\w)", data)) == k:
            spans.extend(uses)
    return spans


# A conditional group whose branches all open the same construct differently (Functions.h of the
# autograd codegen: `#ifdef _WIN32 / struct AddBackward0 : public TraceableFunction { / TORCH_API
# AddBackward0() = default; / #else / struct TORCH_API AddBackward0 : public TraceableFunction { /
# #endif`; TopKImpl.h: `inline namespace CPU_CAPABILITY {` / `inline namespace DEFAULT {`) leaves
# tree-sitter with two openings for one closing brace and the rest of the file in an ERROR region.
# For a leaf group (no nested conditional, first branch not `#if 0`) whose branches all have the
# same positive brace balance, whose first branch opens a namespace/class/struct/union/enum and
# whose other branches are short, the parsed copy keeps the first branch only: the group's
# directive lines and the other branches' code lines are blanked (their own #include/#define lines
# are kept). _namespace_spans counts braces the same way (first live branch).
_COND_RE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")
_ELSE_RE = re.compile(rb"#el(?:se|if)")
_OPENER_RE = re.compile(rb"\b(?:namespace|struct|class|union|enum)\b")


_DIRECTIVE_WORD_RE = re.compile(rb"#[ \t]*(\w*)")
_IF_WORDS = frozenset((b"if", b"ifdef", b"ifndef"))
_COND_WORDS = frozenset((b"if", b"ifdef", b"ifndef", b"elif", b"else", b"endif"))


def _directive_at(data: bytes, s: int):
    """(line start, end of the line and its continuations, directive word) of a `#` at s that
    starts a line (after blanks), else None."""
    ls = data.rfind(b"\n", 0, s) + 1
    if ls != s and data[ls:s].strip():
        return None
    m = _DIRECTIVE_WORD_RE.match(data, s)
    le = data.find(b"\n", s)
    while le > 1 and (data[le - 1] == 0x5C or (data[le - 1] == 0x0D and data[le - 2] == 0x5C)):
        le = data.find(b"\n", le + 1)  # a continued directive line
    return ls, len(data) if le < 0 else le + 1, m.group(1)


def _is_false(cond: bytes) -> bool:
    """Whether an `#if` condition is a literal 0/false (trailing comment allowed)."""
    return cond.split(b"//", 1)[0].split(b"/*", 1)[0].strip() in (b"0", b"false")


def _branch_spans(data: bytes) -> list:
    """Spans to blank so that tree-sitter sees only the first branch of the conditional groups
    described above. Found from each `#else`/`#elif` backwards (its group's `#if` must be the
    previous conditional directive), which costs one memchr-led regex search in most files."""
    out: list = []
    done = -1
    for mm in _ELSE_RE.finditer(data):
        e = mm.start()
        if e < done or _directive_at(data, e) is None:
            continue
        # the directive before this #else/#elif: the group's #if when its first branch is a leaf
        p = max(data.rfind(b"#if", 0, e), data.rfind(b"#el", 0, e), data.rfind(b"#endif", 0, e))
        d = _directive_at(data, p) if p >= 0 else None
        if d is None or d[2] not in _COND_WORDS:  # not a directive (`# if`, in a comment): the slow way
            p = e
            while True:
                p = data.rfind(b"#", 0, p)
                if p < 0:
                    break
                d = _directive_at(data, p)
                if d is not None and d[2] in _COND_WORDS:
                    break
        if p < 0 or d[2] not in _IF_WORDS:
            continue  # a later branch, or a nested group in the first branch
        if d[2] == b"if":
            cond = data[p : d[1]]
            if _is_false(cond[cond.index(b"if") + 2 :]):
                continue  # `#if 0`: a dead first branch
        first = data[d[1] : e]
        bal = first.count(b"{") - first.count(b"}")
        if bal <= 0 or not _OPENER_RE.search(first):
            continue
        # the whole group: its directive lines, no nested group, every branch with the same balance
        g = [d[:2]]
        ok = False
        for m in _COND_RE.finditer(data, e):
            dd = _directive_at(data, m.start())
            if dd is None:
                continue
            if dd[2] in _IF_WORDS:
                break  # nested
            g.append(dd[:2])
            if dd[2] == b"endif":
                ok = True
                break
        if not ok:
            continue
        done = g[-1][1]
        for (_, b), (c, _) in zip(g[1:], g[2:]):
            t = data[b:c]
            if t.count(b"{") - t.count(b"}") != bal:
                break
        else:
            if data.count(b"\n", g[1][0], g[-1][0]) <= 12:
                out.extend(g)
                for (_, b), (c, _) in zip(g[1:], g[2:]):  # the code lines of the other branches
                    pos = b
                    while pos < c:
                        k = data.find(b"\n", pos, c)
                        k = c if k < 0 else k + 1
                        if not data[pos:k].lstrip().startswith(b"#"):
                            out.append((pos, k))
                        pos = k
    return out


def _blank(data: bytes) -> bytes:
    spans = []
    if b"_API" in data:
        for m in _API_RE.finditer(data):
            s = m.start()
            while s > 0 and data[s - 1] in _UPPER_WORD:
                s -= 1
            if s == m.start() or (s > 0 and data[s - 1] in _WORD) or not (0x41 <= data[s] <= 0x5A):
                continue
            spans.append((s, m.end()))
    if b"C10_" in data:
        for m in _C10_RE.finditer(data):
            s, e = m.span()
            if (s > 0 and data[s - 1] in _WORD) or (e < len(data) and data[e] in _WORD):
                continue
            tok = m.group()
            if tok in _C10_BLANK:
                spans.append((s, e))
            elif tok in _C10_BLANK_CALL:
                pe = _paren_end(data, e)
                spans.append((s, pe if pe > 0 else e))
    if b"__global__" in data or b"__device__" in data or b"__host__" in data or b"__forceinline__" in data \
            or b"__launch_bounds__" in data or b"__noinline__" in data:
        for m in _CUDA_RE.finditer(data):
            s, e = m.span()
            if (s > 0 and data[s - 1] in _WORD) or (e < len(data) and data[e] in _WORD):
                continue
            if data[s + 2 : s + 8] == b"launch":
                pe = _paren_end(data, e)
                e = pe if pe > 0 else e
            spans.append((s, e))
    if b"<<<" in data:
        for m in _CHEVRON_RE.finditer(data):
            s = m.start()
            e = data.find(b">>>", s + 3, s + 600)
            if e < 0 or b";" in data[s:e] or b"{" in data[s:e]:
                continue
            spans.append((s, e + 3))
    for lit, pat, parens in _OTHER_BLANK:
        if lit not in data:
            continue
        for m in pat.finditer(data):
            s, e = m.span()
            if s >= 4 and data[s - 4 : s] == b"END_":  # END_HANDLE_TH_ERRORS
                s -= 4
            if s > 0 and data[s - 1] in _WORD:
                continue
            if parens and data[e - 4 : e] == b"_RET":
                pe = _paren_end(data, e)
                e = pe if pe > 0 else e
            spans.append((s, e))
    if b"define" in data:
        spans.extend(_attr_macro_spans(data))
    cspans = _branch_spans(data)
    if b"\\\n" in data or b"\\\r\n" in data:
        cspans.extend(_directive_comment_spans(data))
    joins = []  # `, unsigned int,` (a macro argument) -> `, unsigned_int,`: see _UNSIGNED_ARG_RE
    if b"unsigned " in data:
        for m in _UNSIGNED_ARG_RE.finditer(data):
            s = m.start()
            k = s - 1
            while k >= 0 and data[k] in b" \t":
                k -= 1
            if k >= 0 and data[k] == 0x2C:  # ','
                joins.append(m.end() - 1)
    if not spans and not cspans and not joins:
        return data
    buf = bytearray(data)
    for j in joins:
        buf[j] = 0x5F  # '_'
    for s, e in cspans:  # kept: newlines and the backslashes that continue the directive
        chunk = data[s:e]
        buf[s:e] = bytes(c if c in b"\r\n" or (c == 0x5C and chunk[k + 1 : k + 2] in (b"\n", b"\r")) else 0x20
                         for k, c in enumerate(chunk))
    for s, e in spans:
        if _on_directive_line(data, s):
            continue
        chunk = data[s:e]
        if b"\n" in chunk:
            buf[s:e] = bytes(c if c in b"\r\n" else 0x20 for c in chunk)
        else:
            buf[s:e] = b" " * (e - s)
    return bytes(buf)


# ---------------------------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"\s+")


def _one_line(text: str, cap: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _strip_templates(s: str) -> str:
    """`c10::SmallVector<T, 4>::grow` -> `c10::SmallVector::grow`; keeps `operator<<` intact."""
    if "<" not in s:
        return s
    head, tail = s, ""
    i = s.find("operator")
    if i >= 0 and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
        head, tail = s[:i], s[i:]
    out = []
    depth = 0
    for ch in head:
        if ch == "<":
            depth += 1
        elif ch == ">":
            if depth:
                depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out) + tail


def _norm_name(s: str) -> str:
    """Whitespace- and template-free spelling of a (possibly qualified) name."""
    if s.isidentifier():
        return s
    if " " in s or "\n" in s or "\t" in s:
        s = _WS_RE.sub(" ", s).replace(" ::", "::").replace(":: ", "::")
        if "operator" not in s:
            s = s.replace(" ", "")
    s = _strip_templates(s)
    if s.startswith("::"):
        s = s[2:]
    return s


def _split_args(text: str) -> list[str]:
    """Split `a, f(b, c), "x,y"` at top-level commas (parens/brackets/braces/strings aware)."""
    if not any(c in text for c in "([{\"'"):
        return [a.strip() for a in text.split(",")] if text.strip() else []
    out = []
    depth = 0
    cur = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == '"' or ch == "'":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i : j + 1])
            i = j + 1
            continue
        elif ch == "/" and text[i + 1 : i + 2] in ("/", "*"):  # keep comments whole
            j = text.find("\n" if text[i + 1] == "/" else "*/", i + 2)
            j = n if j < 0 else j + (0 if text[i + 1] == "/" else 2)
            cur.append(text[i:j])
            i = j
            continue
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


def _macro_args(data: bytes, open_pos: int) -> tuple[list[str], int]:
    """Arguments of the macro call whose '(' is at/after open_pos, and the end offset."""
    end = _paren_end(data, open_pos)
    if end < 0:
        return [], -1
    start = data.index(b"(", open_pos)
    inner = data[start + 1 : end - 1].decode("utf-8", "replace")
    return [" ".join(a.split()) for a in _split_args(inner)], end


_STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DISPATCH_KEY_RE = re.compile(r"DispatchKey::(\w+)")
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_UNWRAP_RES = (
    re.compile(r"^TORCH_FN(?:_TYPE)?\s*\((.*)\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?dispatch\s*\([^,]*,(.*)\)$", re.S),
    re.compile(r"^(?:static_cast|reinterpret_cast)\s*<.*>\s*\((.*)\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?CppFunction::make\w*\s*<\s*(.*?)\s*>\s*\(\s*\)$", re.S),
    re.compile(r"^(?:torch::|c10::)?CppFunction::make\w*\s*\((.*)\)$", re.S),
    re.compile(r"^\((.*)\)$", re.S),
)
_MAKE_NOARG_RE = re.compile(r"^(?:torch::|c10::)?CppFunction::(make\w+)\s*\(\s*\)$")
_NAME_LIKE_RE = re.compile(r"[\w:~]+(?:<.*>)?(?:::[\w~]+)*", re.S)


def _kernel_of(arg: str) -> str:
    """The kernel named by an m.impl/m.fallback/m.def argument, as written (templates dropped)."""
    if "/" in arg:
        arg = _COMMENT_RE.sub(" ", arg)
    if "\\" in arg:
        arg = arg.replace("\\\n", " ").replace("\\", " ")
    a = " ".join(arg.split())
    if not a:
        return ""
    if "makeFallthrough" in a:
        return "fallthrough"
    m = _MAKE_NOARG_RE.match(a)
    if m:  # CppFunction::makeNamedNotSupported() and friends
        return m.group(1)
    for _ in range(6):  # TORCH_FN((&ns::k)), dispatch(Key, TORCH_FN(k)), static_cast<..>(&k), ...
        if a.startswith("&"):
            a = a[1:].strip()
            continue
        for pat in _UNWRAP_RES:
            m = pat.match(a)
            if m:
                a = m.group(1).strip()
                break
        else:
            break
    if a.startswith("["):
        return "<lambda>"
    if _NAME_LIKE_RE.fullmatch(a):
        return _norm_name(a)
    return _one_line(a, 120)


def _schema_name(schema: str) -> str:
    """`aten::add.Tensor(Tensor self, ...) -> Tensor` -> `aten::add.Tensor`."""
    i = schema.find("(")
    return (schema[:i] if i >= 0 else schema).strip()


# ---------------------------------------------------------------------------------------------
# Registration macros
# ---------------------------------------------------------------------------------------------

_REG_PREFILTER = (b"TORCH_IMPL_FUNC", b"META_FUNC", b"DECLARE_DISPATCH", b"DEFINE_DISPATCH", b"REGISTER_",
                  b"TORCH_LIBRARY")
# Literal-prefixed patterns (CPython scans for the literal first, which is fast), run only when the
# literal occurs in the file.
_REG_PATTERNS = (
    (b"TORCH_", re.compile(rb"TORCH_(?:IMPL_FUNC|META_FUNC2?|PRECOMPUTE_META_FUNC2?|LIBRARY_IMPL|LIBRARY_FRAGMENT"
                           rb"|LIBRARY)(?=\s*\()")),
    (b"_DISPATCH", re.compile(rb"_DISPATCH(?=\s*\()")),  # DECLARE_/DEFINE_/REGISTER_*_DISPATCH: extended left
    (b"C10_REGISTER_", re.compile(rb"C10_REGISTER_[A-Z0-9_]+(?=\s*\()")),
)
_DISPATCH_MACRO_RE = re.compile(r"(?:DECLARE|DEFINE|(?:ALSO_)?REGISTER(?:_[A-Z0-9]+)*)_DISPATCH")


def _registration_hits(data: bytes):
    """(start, end, macro) of registration macro names followed by '(' in data, in order."""
    hits = []
    for lit, pat in _REG_PATTERNS:
        if lit not in data:
            continue
        for m in pat.finditer(data):
            s, e = m.span()
            if lit == b"_DISPATCH":
                while s > 0 and data[s - 1] in _UPPER_WORD:
                    s -= 1
                macro = data[s:e].decode("ascii", "replace")
                if not _DISPATCH_MACRO_RE.fullmatch(macro):
                    continue
            else:
                macro = m.group().decode("ascii", "replace")
            if s > 0 and data[s - 1] in _WORD:
                continue
            hits.append((s, e, macro))
    hits.sort()
    return hits


_STRUCTURED_MACROS = frozenset(
    ("TORCH_IMPL_FUNC", "TORCH_META_FUNC", "TORCH_META_FUNC2", "TORCH_PRECOMPUTE_META_FUNC",
     "TORCH_PRECOMPUTE_META_FUNC2")
)
_LIBRARY_MACROS = frozenset(("TORCH_LIBRARY", "TORCH_LIBRARY_FRAGMENT", "TORCH_LIBRARY_IMPL"))
_NOT_CODE = frozenset(
    ("comment", "string_literal", "string_content", "raw_string_literal", "raw_string_content",
     "char_literal", "preproc_arg", "system_lib_string", "escape_sequence")
)
_DIRECTIVE_PARENTS = frozenset(
    ("preproc_def", "preproc_function_def", "preproc_ifdef", "preproc_defined", "preproc_call")
)
_NO_REFERENCE = frozenset(
    ("static_cast", "reinterpret_cast", "const_cast", "dynamic_cast")
) | _STRUCTURED_MACROS | _LIBRARY_MACROS | frozenset(("DECLARE_DISPATCH", "DEFINE_DISPATCH"))


def _structured_target(macro: str, args: list[str], ns: str) -> tuple[str, str, str]:
    """(registration name, struct name, method name) for TORCH_IMPL_FUNC / TORCH_META_FUNC*."""
    a0 = args[0] if args else "?"
    if macro.endswith("2"):
        a1 = args[1] if len(args) > 1 else "?"
        return f"{a0}.{a1}", f"structured_{a0}_{a1}", "meta"
    if macro == "TORCH_IMPL_FUNC":
        return a0, f"structured_{a0}", "impl"
    return a0, f"structured_{a0}", "meta"


def _join(prefix: str, name: str) -> str:
    """Qualify `name` (as written) by the enclosing scopes `prefix`, the way C++ name lookup
    resolves a qualified declarator's first component: `at::native::f` inside `namespace at` is
    `at::native::f`, `native::f` inside `at::native` is `at::native::f`, `Foo::f` is `at::Foo::f`."""
    if not prefix:
        return name
    head = name.split("::", 1)[0]
    if head and "::" in name:
        parts = prefix.split("::")
        for j in range(len(parts) - 1, -1, -1):
            if parts[j] == head:
                return "::".join(parts[:j] + [name]) if j else name
    return prefix + "::" + name


# ---------------------------------------------------------------------------------------------
# The structure walk
# ---------------------------------------------------------------------------------------------

_CONTAINERS = frozenset(
    ("preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef", "ERROR",
     "template_declaration", "declaration_list", "field_declaration_list")
)
_CLASS_TYPES = {"class_specifier": "class", "struct_specifier": "struct", "union_specifier": "struct"}
_DECL_WRAPPERS = frozenset(
    ("pointer_declarator", "reference_declarator", "attributed_declarator", "parenthesized_declarator",
     "init_declarator")
)
_SIMPLE_NAMES = frozenset(("identifier", "field_identifier", "destructor_name", "operator_name",
                           "type_identifier", "operator_cast"))
_BASE_SKIP = frozenset(("access_specifier", "virtual", "comment"))


_MACRO_ARG_RE = re.compile(r"[\w:<>&*. -]{1,80}")


def _macro_block_args_ok(args: list[str]) -> bool:
    return len(args) <= 8 and all(_MACRO_ARG_RE.fullmatch(a) for a in args)


class _Walker:
    __slots__ = ("src", "defs", "funcs", "fdef", "class_names", "pending", "ns_error")

    def __init__(self, src: bytes):
        self.src = src
        # [name, qualname, kind, line, end_line, signature, bases, name_byte, prefix, written(, body
        # start byte of a class)], where qualname == _join(prefix, written): the extra fields let
        # _fix_namespaces requalify it
        self.defs: list = []
        self.funcs: list = []  # (start_byte, end_byte, qualname)
        self.fdef: list = []  # index in defs of each funcs entry
        self.ns_error = False  # an ERROR node was walked outside class bodies
        self.class_names: set = set()
        self.pending: list = []  # (index into defs, qualifier last component) for method-vs-function

    def t(self, node) -> str:
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- containers -------------------------------------------------------------------------
    def walk(self, container, prefix: str, in_class: bool) -> None:
        in_error = container.type == "ERROR"
        if in_error and not in_class:
            self.ns_error = True
        for child in container.named_children:
            ty = child.type
            if ty == "function_definition":
                self.function(child, prefix, in_class)
                if in_error:
                    self.rescue(child, prefix)
            elif ty == "namespace_definition":
                self.namespace(child, prefix)
            elif ty in _CLASS_TYPES:
                self.klass(child, prefix, ty)
            elif ty in ("declaration", "field_declaration"):
                self.declaration(child, prefix, in_class)
            elif ty in _CONTAINERS:
                self.walk(child, prefix, in_class)
            elif ty == "enum_specifier":
                self.enum(child, prefix)
            elif ty == "linkage_specification":
                body = child.child_by_field_name("body")
                if body is not None:
                    if body.type == "declaration_list":
                        self.walk(body, prefix, in_class)
                    elif body.type == "function_definition":
                        self.function(body, prefix, in_class)
                    elif body.type == "declaration":
                        self.declaration(body, prefix, in_class)

    def rescue(self, node, prefix: str) -> None:
        """Definitions swallowed by a function misparsed inside an ERROR region.

        A statement tree-sitter cannot parse (`SMALL_INDEX(scalar_t, unsigned int, 1);`, a macro
        call with a type argument, in cuda/Indexing.cu) can turn the rest of the file into a bogus
        function whose body holds the real definitions; C++ has no nested functions, so function,
        namespace and template definitions in such a body are walked too."""
        body = node.child_by_field_name("body")
        if body is None:
            return
        for c in body.named_children:
            t = c.type
            if t == "function_definition":
                self.function(c, prefix, False)
                self.rescue(c, prefix)
            elif t == "namespace_definition":
                self.namespace(c, prefix)
            elif t == "template_declaration" or t == "linkage_specification":
                self.walk(c, prefix, False)

    def namespace(self, node, prefix: str) -> None:
        name_node = node.child_by_field_name("name")
        qual = prefix
        if name_node is not None:
            name = "".join(self.t(name_node).split())
            qual = _join(prefix, name)
            self.defs.append([name.rsplit("::", 1)[-1], qual, "namespace", name_node.start_point[0] + 1,
                              node.end_point[0] + 1, _one_line(self.src[node.start_byte:name_node.end_byte]
                                                               .decode("utf-8", "replace")), (),
                              name_node.start_byte, prefix, name])
        body = node.child_by_field_name("body")
        if body is not None:
            self.walk(body, qual, False)

    def klass(self, node, prefix: str, ty: str) -> None:
        body = node.child_by_field_name("body")
        name_node = node.child_by_field_name("name")
        if body is None or name_node is None:
            return  # forward declaration, elaborated type, or anonymous class
        name = _norm_name(self.t(name_node))
        qual = _join(prefix, name)
        short = name.rsplit("::", 1)[-1]
        self.class_names.add(short)
        bases = []
        for c in node.children:
            if c.type == "base_class_clause":
                for b in c.named_children:
                    if b.type not in _BASE_SKIP:
                        bases.append(" ".join(self.t(b).split()))
        sig = _one_line(self.src[node.start_byte:body.start_byte].decode("utf-8", "replace"))
        self.defs.append([short, qual, _CLASS_TYPES[ty], name_node.start_point[0] + 1, node.end_point[0] + 1,
                          sig, tuple(bases), name_node.start_byte, prefix, name, body.start_byte])
        self.walk(body, qual, True)

    def enum(self, node, prefix: str) -> None:
        body = node.child_by_field_name("body")
        name_node = node.child_by_field_name("name")
        if body is None or name_node is None:
            return
        name = _norm_name(self.t(name_node))
        sig = _one_line(self.src[node.start_byte:body.start_byte].decode("utf-8", "replace"))
        self.defs.append([name.rsplit("::", 1)[-1], _join(prefix, name), "enum", name_node.start_point[0] + 1,
                          node.end_point[0] + 1, sig, (), name_node.start_byte, prefix, name])

    def declaration(self, node, prefix: str, in_class: bool) -> None:
        typ = node.child_by_field_name("type")
        if typ is not None:
            tt = typ.type
            if tt in _CLASS_TYPES:
                self.klass(typ, prefix, tt)
            elif tt == "enum_specifier":
                self.enum(typ, prefix)
        if not in_class:
            return  # namespace-scope prototypes and variables are not definitions
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in _DECL_WRAPPERS:
            decl = decl.child_by_field_name("declarator") or (decl.named_children or [None])[-1]
        if decl is None:
            return
        if decl.type == "function_declarator":
            inner = decl.child_by_field_name("declarator")
            if inner is None or inner.type not in _SIMPLE_NAMES:
                return
            name_node = inner
        elif decl.type == "operator_cast":
            name_node = decl
        else:
            return  # a data member
        name = _norm_name(self.t(name_node))
        if decl.type == "operator_cast":
            name = name.split("(", 1)[0].strip()
        self.defs.append([name, _join(prefix, name), "method", name_node.start_point[0] + 1,
                          node.end_point[0] + 1, _one_line(self.t(node)), (), name_node.start_byte, prefix, name])

    def function(self, node, prefix: str, in_class: bool) -> None:
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type in _DECL_WRAPPERS:
            decl = decl.child_by_field_name("declarator") or (decl.named_children or [None])[-1]
        if decl is None:
            return
        fstart = node.start_byte
        fend = node.end_byte
        sig_end = decl.end_byte
        kind = "method" if in_class else "function"
        if decl.type == "operator_cast":
            name_node = decl
            full = self.t(decl).split("(", 1)[0].strip()
        elif decl.type == "function_declarator":
            name_node = decl.child_by_field_name("declarator")
            if name_node is None:
                return
            nt = name_node.type
            if nt == "function_declarator":  # MACRO(args)(params) { ... }
                mac = name_node.child_by_field_name("declarator")
                macro = self.t(mac) if mac is not None else ""
                params = name_node.child_by_field_name("parameters")
                args = _split_args(self.t(params)[1:-1]) if params is not None else []
                args = [" ".join(a.split()) for a in args]
                if macro in _STRUCTURED_MACROS:
                    _, struct, meth = _structured_target(macro, args, prefix)
                    written = struct + "::" + meth
                    qual = _join(prefix, written)
                    self.fdef.append(len(self.defs))
                    self.defs.append([meth, qual, "method", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                      _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                      name_node.start_byte, prefix, written])
                    self.funcs.append((fstart, fend, qual))
                    return
                if not _macro_block_args_ok(args):
                    return
                full = f"{macro}({', '.join(args)})"
                name = full
                qual = _join(prefix, full)
                self.fdef.append(len(self.defs))
                self.defs.append([name, qual, "function", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                  _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                  name_node.start_byte, prefix, full])
                self.funcs.append((fstart, fend, qual))
                return
            full = self.t(name_node)
            if nt == "identifier" and node.child_by_field_name("type") is None and not in_class:
                stripped = full.strip()
                if stripped.isupper():
                    if stripped in _LIBRARY_MACROS:
                        return  # TORCH_LIBRARY* blocks: registrations, not definitions
                    params = decl.child_by_field_name("parameters")
                    args = _split_args(self.t(params)[1:-1]) if params is not None else []
                    args = [" ".join(a.split()) for a in args]
                    if not _macro_block_args_ok(args):
                        return  # most likely a misparse, not `TEST(Suite, Name) { ... }`
                    full = f"{stripped}({', '.join(args)})"
                    qual = _join(prefix, full)
                    self.fdef.append(len(self.defs))
                    self.defs.append([full, qual, "function", name_node.start_point[0] + 1, node.end_point[0] + 1,
                                      _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                                      name_node.start_byte, prefix, full])
                    self.funcs.append((fstart, fend, qual))
                    return
        else:
            return
        has_tpl = "<" in full and "operator" not in full
        full = _norm_name(full)
        if "::" in full and not full.startswith("operator"):
            qualifier, name = full.rsplit("::", 1)
        else:
            qualifier, name = "", full
        if not in_class and qualifier:
            q_last = qualifier.rsplit("::", 1)[-1]
            if has_tpl or q_last[:1].isupper() or q_last == name or name.startswith("~") \
                    or q_last.startswith("structured_"):
                kind = "method"
            else:
                self.pending.append((len(self.defs), q_last))
        qual = _join(prefix, full)
        self.fdef.append(len(self.defs))
        self.defs.append([name, qual, kind, name_node.start_point[0] + 1, node.end_point[0] + 1,
                          _one_line(self.src[fstart:sig_end].decode("utf-8", "replace")), (),
                          name_node.start_byte, prefix, full])
        self.funcs.append((fstart, fend, qual))


# ---------------------------------------------------------------------------------------------
# Namespace ranges from the text (a fallback for namespaces tree-sitter put in an ERROR region)
# ---------------------------------------------------------------------------------------------

# One token per comment, string/char/raw-string literal, preprocessor line (continuations
# included), brace, and `namespace <name>? {` header (comments allowed around the name); code in
# between is skipped by the regex engine, so Python sees ~1 token per 100 bytes. Every alternative
# starts with a literal character (`\{|\}`, not `[{}]`): sre then skips to the next candidate by
# a character set check, twice as fast.
_NS_TOKEN_RE = re.compile(
    rb"//[^\n]*"
    rb"|/\*.*?(?:\*/|\Z)"
    rb"|R\"([^()\\\s\"]{0,16})\(.*?\)\1\""
    rb"|\"(?:[^\"\\\n]|\\.)*\""
    rb"|'(?:[^'\\\n]|\\.){1,8}'"
    rb"|\#[ \t]*(\w*)(?:[^\n\\]|\\.)*"
    rb"|\{|\}"
    rb"|namespace(?:\s|/\*.*?\*/)*((?:inline\s+)?[A-Za-z_]\w*(?:\s*::\s*(?:inline\s+)?[A-Za-z_]\w*)*)?"
    rb"(?:\s|/\*.*?\*/)*\{",
    re.S,
)
_IF_DIRECTIVES = frozenset((b"if", b"ifdef", b"ifndef"))
_ELSE_DIRECTIVES = frozenset((b"else", b"elif", b"elifdef", b"elifndef"))


def _namespace_spans(data: bytes) -> tuple[list, dict]:
    """`namespace X {` blocks found by brace matching on the text, whatever tree-sitter made of them.

    Returns ([(name_byte, open_byte, close_byte, path, keyword_byte)] sorted by open_byte, {open
    byte: close byte} of the other braces), where path is the tuple of enclosing named namespaces
    including this one's components (`namespace a::b {` adds two; an anonymous namespace adds none:
    it is transparent; name_byte == keyword_byte for it). Comments, literals and preprocessor lines
    are skipped. Of the branches of an `#if`/`#ifdef` group the first live one
    (not `#if 0`) sets the brace depth after `#endif`, as in universal-ctags: `#ifdef _WIN32 struct
    A : B { ... #else struct API A : B { #endif` opens one brace, not two."""
    stack: list = []  # per open brace: its offset, or [name_byte, open_byte, path, keyword_byte]
    frames: list = []  # per open #if group: [stack at #if, stack after the first live branch, live]
    found: dict = {}
    braces: dict = {}
    for m in _NS_TOKEN_RE.finditer(data):
        s = m.start()
        c = data[s]
        if c == 0x7B:  # '{'
            stack.append(s)
        elif c == 0x7D:  # '}'
            if stack:
                e = stack.pop()
                if e.__class__ is int:
                    braces.setdefault(e, s)
                else:
                    found.setdefault(e[1], (e[0], e[1], s, e[2], e[3]))
        elif c == 0x6E:  # `namespace ... {`
            if s and data[s - 1] in _WORD:
                stack.append(m.end() - 1)  # `my_namespace {`: an ordinary brace
                continue
            path = ()
            for e in reversed(stack):
                if e.__class__ is not int:
                    path = e[2]
                    break
            name = m.group(3)
            if name:
                path = path + tuple(p.split()[-1].decode("utf-8", "replace") for p in name.split(b"::"))
                stack.append([m.start(3), m.end() - 1, path, s])
            else:
                stack.append([s, m.end() - 1, path, s])
        elif c == 0x23:  # '#'
            d = m.group(2)
            if d in _IF_DIRECTIVES:
                live = not (d == b"if" and _is_false(data[m.end(2) : m.end()]))
                frames.append([stack[:], None, live])
            elif d in _ELSE_DIRECTIVES:
                if frames:
                    f = frames[-1]
                    if f[2] and f[1] is None:
                        f[1] = stack
                    stack = f[0][:]
                    f[2] = True
            elif d == b"endif" and frames:
                f = frames.pop()
                if f[1] is not None:
                    stack = f[1]
                elif not f[2]:
                    stack = f[0]
    n = len(data)
    for e in stack:  # unclosed at the end of the file
        if e.__class__ is not int:
            found.setdefault(e[1], (e[0], e[1], n, e[2], e[3]))
    return sorted(found.values(), key=_second), braces


def _second(t: tuple):
    return t[1]


def _is_subsequence(short: list, long: tuple) -> bool:
    it = iter(long)
    return all(x in it for x in short)


def _ns_parts(prefix: str, ns_quals) -> tuple[list, str]:
    """Split a walker prefix into (its leading namespace components, the rest: classes)."""
    if not prefix:
        return [], ""
    comps = prefix.split("::")
    k = 0
    for j in range(len(comps), 0, -1):
        if "::".join(comps[:j]) in ns_quals:
            k = j
            break
    return comps[:k], "::".join(comps[k:])


def _requalify(ns: list, rest: str, path: tuple):
    """The prefix to use instead of ns + rest when the text says the namespaces are `path`, or None
    to keep it: only namespaces the tree lost are added (the tree's are a subsequence of path)."""
    if len(ns) >= len(path) or not _is_subsequence(ns, path):
        return None
    p = "::".join(path)
    return p + "::" + rest if rest else p


def _path_at(spans: list, pos: int) -> tuple:
    """Namespace path (from _namespace_spans) enclosing byte offset pos."""
    best = ()
    for sp in spans:
        if sp[1] >= pos:
            break
        if pos < sp[2]:
            best = sp[3]
    return best


def _fix_namespaces(data: bytes, defs: list, spans: list, braces: dict, bodies) -> bool:
    """Requalify the walker's definitions whose namespaces tree-sitter lost (by the text's
    namespace ranges) or whose enclosing classes it got wrong (a class whose body the text closes
    before the definition does not enclose it), and add the namespaces it did not see. A "method"
    left outside any class the tree saw is still a method when the innermost brace pair around it
    is not a namespace (a class the tree lost); else it is a function if it has a body (its index
    is in bodies) or a namespace-scope prototype, marked for removal with kind "". True if anything
    changed."""
    ns_quals = set()
    tree_ns = {}
    classes: dict = {}  # tree qualname of a class -> [(name byte, body '{' byte)]
    for d in defs:
        k = d[2]
        if k == "namespace":
            ns_quals.add(d[1])
            tree_ns[d[7]] = d
        elif len(d) > 10:
            classes.setdefault(d[1], []).append((d[7], d[10]))
    changed = False
    innermost = None
    # sweep the definitions in source order against the (properly nested) spans
    order = sorted(range(len(defs)), key=lambda i: defs[i][7])
    active: list = []
    si = 0
    nsp = len(spans)
    for i in order:
        d = defs[i]
        pos = d[7]
        while si < nsp and spans[si][1] < pos:
            sp = spans[si]
            si += 1
            while active and active[-1][2] <= sp[1]:
                active.pop()
            active.append(sp)
        while active and active[-1][2] <= pos:
            active.pop()
        path = active[-1][3] if active else ()
        if not path and not d[8]:
            continue
        ns, rest = _ns_parts(d[8], ns_quals)
        new_rest = rest
        if rest and classes:
            kept = []
            q = "::".join(ns)
            for c in rest.split("::"):
                q = q + "::" + c if q else c
                if _encloses(classes.get(q), pos, braces):
                    kept.append(c)
            if len(kept) != rest.count("::") + 1:
                new_rest = "::".join(kept)
                if not kept and d[2] == "method" and "::" not in d[9]:
                    if innermost is None:
                        innermost = _innermost_brace(spans, braces)
                    if innermost(pos):
                        d[2] = "function" if i in bodies else ""
                        changed = True
        new = _requalify(ns, new_rest, path) if path else None
        if new is None:
            if new_rest is rest:
                continue
            new = "::".join(ns + [new_rest]) if new_rest else "::".join(ns)
        qual = _join(new, d[9])
        if qual != d[1]:
            d[1] = qual
            changed = True
    line = 1
    prev = 0
    for name_pos, _, close, path, kw in spans:
        if not path or name_pos == kw:
            continue  # anonymous
        d = tree_ns.get(name_pos)
        if d is not None:  # seen by the tree, which may have closed it early
            end_line = d[3] + data.count(b"\n", name_pos, close)
            if end_line != d[4]:
                d[4] = end_line
                changed = True
            continue
        line += data.count(b"\n", prev, name_pos)
        prev = name_pos
        head = data.rfind(b"\n", 0, kw) + 1
        pre = data[head:kw].rstrip()
        start = head + len(pre) - 6 if pre.endswith(b"inline") and (len(pre) == 6 or pre[-7] not in _WORD) else kw
        sig = data[start : data.find(b"{", name_pos)].decode("utf-8", "replace")
        if "/" in sig:
            sig = _COMMENT_RE.sub(" ", sig)
        sig = _one_line(sig)
        end_line = line + data.count(b"\n", name_pos, close)
        q = "::".join(path)
        defs.append([path[-1], q, "namespace", line, end_line, sig, (), name_pos, "", q])
        changed = True
    return changed


def _innermost_brace(spans: list, braces: dict):
    """A function telling whether the innermost brace pair around a byte offset is a namespace's
    (or there is none), from the textual brace pairs."""
    pairs = sorted([(o, c, False) for o, c in braces.items()] + [(sp[1], sp[2], True) for sp in spans])
    opens = [p[0] for p in pairs]
    parent = []
    stack: list = []
    for k, (o, c, _) in enumerate(pairs):
        while stack and pairs[stack[-1]][1] < o:
            stack.pop()
        parent.append(stack[-1] if stack else -1)
        stack.append(k)

    def at_namespace_level(pos: int) -> bool:
        j = bisect_right(opens, pos) - 1
        while j >= 0 and pairs[j][1] < pos:
            j = parent[j]
        return j < 0 or pairs[j][2]

    return at_namespace_level


def _encloses(cands, pos: int, braces: dict) -> bool:
    """Whether the class (one of cands: (name byte, body '{' byte), the nearest before pos) encloses
    pos by the text's brace matching; True when unknown."""
    if not cands:
        return True
    best = None
    for c in cands:
        if c[0] < pos and (best is None or c[0] > best[0]):
            best = c
    if best is None:
        return True
    close = braces.get(best[1])
    return close is None or pos < close


def _scope_fixed(root, pos: int, src: bytes, spans) -> tuple[str, bool]:
    """_scope_at, with the namespaces tree-sitter lost restored from spans (when given)."""
    if spans is None:
        return _scope_at(root, pos, src)
    prefix, in_class, ns_part = _scope_at(root, pos, src, True)
    path = _path_at(spans, pos)
    if path and prefix.startswith(ns_part):
        new = _requalify(ns_part.split("::") if ns_part else [], prefix[len(ns_part) + 2 :] if ns_part else prefix,
                         path)
        if new is not None:
            return new, in_class
    return prefix, in_class


# ---------------------------------------------------------------------------------------------
# parse_cpp
# ---------------------------------------------------------------------------------------------


def _end_line(node) -> int:
    """1-based last line; a node ending right after a newline (preprocessor lines) ends before it."""
    row, col = node.end_point
    if col == 0 and row > node.start_point[0]:
        return row
    return row + 1


def parse_cpp(path: str, data: bytes) -> FileFacts:
    """Extract definitions, includes, calls and registrations from one C++/CUDA file."""
    # The extraction allocates many small acyclic objects; the cyclic GC would otherwise rescan
    # every live object of the caller (e.g. an indexer holding thousands of FileFacts) each time.
    with paused_gc():
        return _parse_cpp(path, data)


def _parse_cpp(path: str, data: bytes) -> FileFacts:
    parser, query, QueryCursor, ids = _ts()
    src = _blank(data)
    tree = parser.parse(src)
    root = tree.root_node

    # 1. structure
    walker = _Walker(data)
    walker.walk(root, "", False)
    if walker.pending:
        for idx, q_last in walker.pending:
            if q_last in walker.class_names:
                walker.defs[idx][2] = "method"
    # namespaces lost in an ERROR region at namespace level: restored from the text's brace ranges
    spans = None
    if walker.ns_error:
        spans, braces = _namespace_spans(data)
        if _fix_namespaces(data, walker.defs, spans, braces, frozenset(walker.fdef)):
            walker.funcs = [(f[0], f[1], walker.defs[i][1]) for f, i in zip(walker.funcs, walker.fdef)]
            walker.defs = [d for d in walker.defs if d[2]]
        if not spans:
            spans = None
    funcs = walker.funcs
    funcs.sort()
    f_starts = [f[0] for f in funcs]

    def scope_of(pos: int) -> str:
        i = bisect_right(f_starts, pos) - 1
        if i >= 0 and pos < funcs[i][1]:
            return funcs[i][2]
        return ""

    # 2. one query pass
    caps = QueryCursor(query).captures(root)

    includes = []
    system_id = ids["system_lib_string"]
    for node in caps.get("include", ()):
        raw = data[node.start_byte : node.end_byte].decode("utf-8", "replace").strip()
        is_sys = node.kind_id == system_id
        if raw[:1] in "<\"" and len(raw) >= 2:
            raw = raw[1:-1]
        includes.append(Include(raw.strip(), node.start_point[0] + 1, is_sys))
    if len(includes) > 1:
        includes.sort(key=_include_line)  # query captures are not strictly in source order

    defs = walker.defs
    macro_values: dict[str, object] = {}
    for cap, fn_like in (("macro", False), ("fmacro", True)):
        for node in caps.get(cap, ()):
            d = node.parent
            name = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
            if fn_like:
                params = d.child_by_field_name("parameters")
                sig = "#define " + name + (data[params.start_byte:params.end_byte].decode("utf-8", "replace")
                                           if params is not None else "")
            else:
                value = d.child_by_field_name("value")
                sig = "#define " + name
                if value is not None:
                    macro_values.setdefault(name, value)
                    sig += " " + data[value.start_byte:value.end_byte].decode("utf-8", "replace")
            defs.append([name, name, "macro", node.start_point[0] + 1, _end_line(d), _one_line(sig, 200), ()])

    # ERROR nodes; a file whose only recoveries are MISSING tokens (a macro call without its `;`)
    # counts 1. (Capturing MISSING nodes too would cost ~8% more query time.)
    parse_errors = len(caps.get("error", ())) or (1 if root.has_error else 0)

    # 3. calls: one sweep in source order; scope and line advance monotonically
    id_ident = ids["identifier"]
    id_qual = ids["qualified_identifier"]
    id_field = ids["field_expression"]
    id_tfunc = ids["template_function"]
    refs = []
    call_nodes = caps.get("call")
    if call_nodes:
        call_nodes.sort(key=_source_order)
        names: dict[bytes, str] = {}  # callee text -> reference name ("" = not a reference)
        count = data.count
        line = 1
        prev = 0
        fi = 0
        nf = len(funcs)
        cur_end, cur_scope = -1, ""
        for node in call_nodes:
            pos = node.start_byte
            raw = data[pos : node.end_byte]
            name = names.get(raw)
            if name is None:
                name = names[raw] = _callee(node, raw, data, id_ident, id_qual, id_tfunc, id_field)
            if not name:
                continue
            line += count(b"\n", prev, pos)
            prev = pos
            while fi < nf and funcs[fi][0] <= pos:
                _, cur_end, cur_scope = funcs[fi]
                fi += 1
            refs.append(_new_reference(name, line, cur_scope if pos < cur_end else ""))

    # 4. registrations; 5. same-file macro expansion (registrations and definitions)
    regs = []
    blocks: list = []
    with_regs = any(tok in data for tok in _REG_PREFILTER)
    if with_regs:
        regs, blocks = _registrations(data, root, scope_of, macro_values, spans)
    fmacros = caps.get("fmacro")
    if fmacros and (with_regs or b"##" in data):
        xdefs: list = []
        xrefs: list = []
        _expand_macros(data, root, scope_of, macro_values, fmacros, blocks, regs, xdefs, xrefs,
                       walker.class_names, with_regs, spans)
        if xdefs:
            defs.extend(xdefs)
        if xrefs:
            refs.extend(xrefs)
            refs.sort(key=_ref_line)
    if len(regs) > 1:
        regs.sort(key=_reg_line)

    defs.sort(key=_def_line)
    definitions = tuple(Definition(d[0], d[1], d[2], d[3], d[4], d[5], d[6]) for d in defs)
    return FileFacts(
        path=path,
        language="cpp",
        definitions=definitions,
        includes=tuple(includes),
        references=tuple(refs),
        registrations=tuple(regs),
        parse_errors=parse_errors,
    )


def _callee(node, raw: bytes, data: bytes, id_ident, id_qual, id_tfunc, id_field) -> str:
    """The reference name for a call's callee node ("" when it is not a reference)."""
    k = node.kind_id
    if k == id_ident:
        text = raw.decode("utf-8", "replace")
        if text in _NO_REFERENCE or (text.endswith("DISPATCH") and text.isupper()) or text.startswith("C10_REGISTER_"):
            return ""  # registration macros are CodeRegistrations, not calls
        return text
    if k == id_qual or k == id_tfunc:
        text = _norm_name(raw.decode("utf-8", "replace"))
        return "" if text in _NO_REFERENCE else text
    if k != id_field:
        return ""  # (*fp)(x), arr[i](x), [](){}(), ...
    if len(raw) > 160 or b"(" in raw or b"[" in raw or b'"' in raw or b"*" in raw or b"&" in raw:
        # the receiver is an expression: keep the member name only
        fld = node.child_by_field_name("field")
        if fld is None:
            return ""
        ftext = data[fld.start_byte : fld.end_byte].decode("utf-8", "replace")
        return "." + _norm_name(ftext.replace("template ", " "))
    text = raw.decode("utf-8", "replace")
    if "<" in text or " " in text or "\n" in text or "\t" in text:
        text = _norm_name(text.replace("template ", " "))
    return text


def _include_line(inc: Include) -> int:
    return inc.line


def _def_line(d: list) -> int:
    return d[3]


def _ref_line(ref: Reference) -> int:
    return ref.line


def _source_order(node) -> int:
    """Sort key: start, then end (nested callees like `f()()` can share a start byte)."""
    return (node.start_byte << 32) | node.end_byte


def _scope_at(root, pos: int, src: bytes, with_ns: bool = False):
    """(qualified namespace/class prefix enclosing byte offset pos, whether the innermost of them
    is a class), plus, if with_ns, the namespace part of the prefix."""
    node = root.descendant_for_byte_range(pos, pos)
    parts = []
    ns_parts = []
    in_class = None
    while node is not None:
        ty = node.type
        if ty == "namespace_definition":
            n = node.child_by_field_name("name")
            if n is not None:
                parts.append("".join(src[n.start_byte:n.end_byte].decode("utf-8", "replace").split()))
                ns_parts.append(parts[-1])
            if in_class is None:
                in_class = False
        elif ty in _CLASS_TYPES:
            n = node.child_by_field_name("name")
            if n is not None and node.child_by_field_name("body") is not None:
                parts.append(_norm_name(src[n.start_byte:n.end_byte].decode("utf-8", "replace")))
                if in_class is None:
                    in_class = True
        node = node.parent
    if with_ns:
        return "::".join(reversed(parts)), bool(in_class), "::".join(reversed(ns_parts))
    return "::".join(reversed(parts)), bool(in_class)


def _simple_registration(macro: str, args: list[str], line: int, scope: str, ns: str):
    """CodeRegistration for a non-library registration macro call (ns: enclosing namespace)."""
    a = args + ["", "", ""]
    if macro in _STRUCTURED_MACROS:
        name, struct, meth = _structured_target(macro, args, ns)
        return CodeRegistration(macro, name, line, _join(ns, f"{struct}::{meth}"), "", "")
    if macro == "DECLARE_DISPATCH":
        return CodeRegistration(macro, a[1], line, "", "", scope)
    if macro == "DEFINE_DISPATCH":
        return CodeRegistration(macro, a[0], line, "", "", scope)
    if macro.endswith("DISPATCH"):  # REGISTER_*DISPATCH, ALSO_REGISTER_*
        arch = macro[macro.index("REGISTER_") + 9 : -len("DISPATCH")].rstrip("_")
        if macro == "REGISTER_ARCH_DISPATCH":
            key, target = a[1], a[2]
        elif arch == "NO_CPU":
            key, target = "CPU", ""
        else:
            key, target = arch, a[1]
        target = target.strip()
        if target.startswith("&"):
            target = target[1:].strip()
        return CodeRegistration(macro, a[0], line, _norm_name(target) if target else "", key, scope)
    if macro.startswith("C10_REGISTER_"):
        if macro == "C10_REGISTER_GUARD_IMPL" or len(args) < 3:
            return CodeRegistration(macro, a[0], line, a[1] if len(args) > 1 else "", a[0], scope)
        return CodeRegistration(macro, a[1].strip('#"'), line, args[-1], a[0], scope)
    return None


def _library_calls(text: bytes, lo: int, hi: int, var: str, root, ns: str, key: str, line_of, macro_values,
                   data: bytes) -> list:
    """m.def / m.impl / m.fallback calls on `var` in text[lo:hi]."""
    out = []
    if not var or not var.isidentifier():
        return out
    pat = re.compile(rb"(?<![\w.>])" + re.escape(var.encode()) + rb"\s*\.\s*(def|impl|fallback)(?=\s*\()")
    for m in pat.finditer(text, lo, hi):
        s = m.start()
        line = line_of(s)
        if line is None:
            continue
        args, end = _macro_args(text, m.end())
        if end < 0:
            continue
        out.append(_library_call("m." + m.group(1).decode(), args, ns, key, line, macro_values, data))
    return out


def _registrations(data: bytes, root, scope_of, macro_values, spans=None) -> tuple[list, list]:
    """(registrations, TORCH_LIBRARY* blocks as (body_start, body_end, ns, key, var)) of one file."""
    regs = []
    blocks = []  # (body_start, body_end, ns, key, var)
    for s, e, macro in _registration_hits(data):
        node = root.descendant_for_byte_range(s, e)
        if node is None or node.type in _NOT_CODE:
            continue
        parent = node.parent
        if parent is not None and parent.type in _DIRECTIVE_PARENTS:
            continue
        if _on_directive_line(data, s):
            continue
        args, end = _macro_args(data, e)
        if end < 0:
            continue
        line = node.start_point[0] + 1
        if macro in _LIBRARY_MACROS:
            a = args + ["", "", ""]
            if macro == "TORCH_LIBRARY_IMPL":
                ns, key, var = a[0], a[1], a[2]
            else:
                ns, key, var = a[0], "", a[1]
            regs.append(CodeRegistration(macro, ns, line, "", key, ""))
            body = _library_body(root, data, s, e, end)
            if body is not None:
                blocks.append((body[0], body[1], ns, key, var))
            continue
        ns = _scope_fixed(root, s, data, spans)[0] if macro in _STRUCTURED_MACROS else ""
        reg = _simple_registration(macro, args, line, scope_of(s), ns)
        if reg is not None:
            regs.append(reg)

    def line_in_file(pos: int):
        node = root.descendant_for_byte_range(pos, pos + 1)
        if node is None or node.type in _NOT_CODE:
            return None
        return node.start_point[0] + 1

    for body_start, body_end, ns, key, var in blocks:
        regs.extend(_library_calls(data, body_start, body_end, var, root, ns, key, line_in_file, macro_values, data))

    return regs, blocks


# -- one-level expansion of same-file macros that wrap registrations -----------------------------

_PARAM_SPLIT_RE = re.compile(r"[\s,()]+")
_LIB_CALL_HINT = (b".impl", b".def", b".fallback")


_TEMPLATE_RE = re.compile(r"\s*##\s*|(?<!#)#\s*[A-Za-z_]\w*|[A-Za-z_]\w*")


def _template(body: str, params: list[str]) -> tuple:
    """A macro body compiled for repeated substitution: (pieces, number of named parameters,
    variadic), pieces being literal strings, argument indexes (int) and stringized argument
    indexes (-1 - index). `##` and the blanks around it are dropped (token pasting); `#p`
    stringizes parameter p; the line continuations become blanks."""
    body = body.replace("\\\r\n", " ").replace("\\\n", " ")
    variadic = bool(params) and params[-1] == "..."
    named = params[:-1] if variadic else params
    index = {p: i for i, p in enumerate(named)}
    if variadic:
        index["__VA_ARGS__"] = len(named)
    pieces: list = []
    lit: list = []
    last = 0
    for m in _TEMPLATE_RE.finditer(body):
        tok = m.group()
        c = tok[0]
        if c == "#" or c.isspace():
            if "##" in tok:
                lit.append(body[last : m.start()])
                last = m.end()
                continue
            if c != "#":
                continue
            i = index.get(tok[1:].strip())
            if i is None:
                continue
            i = -1 - i
        else:
            i = index.get(tok)
            if i is None:
                continue
        lit.append(body[last : m.start()])
        pieces.append("".join(lit))
        pieces.append(i)
        lit = []
        last = m.end()
    lit.append(body[last:])
    pieces.append("".join(lit))
    return tuple(pieces), len(named), variadic


def _substitute(body: str, params: list[str], args: list[str], template: tuple | None = None) -> str:
    """The body of a function-like macro with `args` substituted (see `_template`)."""
    pieces, n, variadic = template or _template(body, params)
    vals = [args[i] if i < len(args) else "" for i in range(n)]
    if variadic:
        vals.append(", ".join(args[n:]))
    out = []
    for p in pieces:
        if p.__class__ is str:
            out.append(p)
        elif p >= 0:
            out.append(vals[p])
        else:
            out.append('"%s"' % vals[-1 - p])
    return "".join(out)


def _expand_macros(data, root, scope_of, macro_values, fmacros, blocks, regs, xdefs, xrefs, class_names,
                   with_regs, spans=None) -> None:
    """Registrations and definitions written inside a function-like macro of this file, at the
    macro's call sites.

    Selected macros: those whose body holds a registration macro or `.impl(`/`.def(` (only when the
    file has registrations at all), those whose body holds a `{` and a `##` paste or a parameter
    followed by `(` (likely a definition with a pasted or parameter name), and macros calling
    selected macros (three levels). Each call site outside a `#define`/comment/string is expanded
    textually (parameters, `#x`, `##`, `__VA_ARGS__`; nested calls rescanned up to three levels,
    argument comments dropped), then:
    * registration macros in the expansion are registrations at the call site's line
      (`CREATE_BINARY_TORCH_IMPL_FUNC(bitwise_and_out, bitwise_and_stub)` -> TORCH_IMPL_FUNC
      bitwise_and_out); `m.impl(#op, ...)` in a macro called within a TORCH_LIBRARY* block yields
      m.impl facts;
    * an expansion holding a `{` is parsed and structure-walked like a file: its definitions
      (functions, the structured-kernel `structured_x::impl` methods, structs and their methods)
      are Definitions at the call site (line and end_line of the call, signature = the call text,
      qualname = the namespaces/classes enclosing the call site + the expanded qualname), and the
      calls inside them References at the call site's line, scoped by those qualnames
      (`OP_CUSTOM_FUNCTOR(floating_half, sigmoid, Sigmoid)` -> `foreach_tensor_sigmoid_cuda`).
    """
    candidates = {}
    for name_node in fmacros:
        d = name_node.parent
        value = d.child_by_field_name("value")
        params = d.child_by_field_name("parameters")
        if value is None or params is None:
            continue
        vb = data[value.start_byte : value.end_byte]
        name = data[name_node.start_byte : name_node.end_byte].decode("utf-8", "replace")
        ptext = data[params.start_byte : params.end_byte].decode("utf-8", "replace")
        plist = [p for p in _PARAM_SPLIT_RE.split(ptext) if p]
        candidates[name] = (plist, vb.decode("utf-8", "replace"), d.start_byte, d.end_byte, vb)
    macros = {}
    for name, c in candidates.items():
        vb = c[4]
        if with_regs and (any(tok in vb for tok in _REG_PREFILTER) or any(tok in vb for tok in _LIB_CALL_HINT)):
            pass
        elif b"{" not in vb or not (b"##" in vb or _param_called(c[0], c[1])):
            continue
        if _registration_hits(name.encode() + b"("):
            continue  # a (re)definition of a registration macro itself, e.g. REGISTER_DISPATCH
        macros[name] = c[:4]
    if not macros:
        return
    called: dict = {}  # candidate -> the names it calls (computed when needed)
    for _ in range(3):  # macros that call selected macros of this file are expanded too
        grew = False
        for name, c in candidates.items():
            if name in macros:
                continue
            names = called.get(name)
            if names is None:
                names = called[name] = set(_CALLED_NAME_RE.findall(c[1]))
            if not names.isdisjoint(macros) and not _registration_hits(name.encode() + b"("):
                macros[name] = c[:4]
                grew = True
        if not grew:
            break
    bnames = [n.encode() for n in macros]
    parser, query, QueryCursor, ids = _ts()

    templates: dict = {}

    def expand(name: str, args: list, depth: int) -> bytes:
        t = templates.get(name)
        if t is None:
            plist, body = macros[name][:2]
            t = templates[name] = _template(body, plist)
        tb = _substitute("", [], args, t).encode("utf-8", "replace")
        if depth >= 3:
            return tb
        out = []
        last = 0
        for cs, ce, cname in _find_calls(tb, bnames):
            if cs < last:
                continue
            a, end = _macro_args(tb, ce)
            if end < 0:
                continue
            out.append(tb[last:cs])
            out.append(expand(cname.decode(), _clean_args(a), depth + 1))
            last = end
        if not out:
            return tb
        out.append(tb[last:])
        return b"".join(out)

    # Definitions and calls are read from one parse per macro (and argument count) of its expansion
    # with placeholder arguments (`_MARK`), the placeholders being replaced at each call site:
    # C macros have no conditionals, so every call of a macro expands to the same shape.
    tcache: dict = {}

    def template_facts(name: str, nargs: int, in_class: bool) -> tuple[list, list]:
        key = (name, nargs, in_class)
        got = tcache.get(key)
        if got is not None:
            return got
        tdefs: list = []
        trefs: list = []
        tcache[key] = (tdefs, trefs)
        tb = expand(name, [_MARK % k for k in range(nargs)], 1)
        if b"{" not in tb:
            return tdefs, trefs
        sub = parser.parse(_blank(tb)).root_node
        w = _Walker(tb)
        w.walk(sub, "", in_class)
        for idx, q_last in w.pending:
            if q_last in w.class_names or q_last in class_names:
                w.defs[idx][2] = "method"
        kept = set()
        for d in w.defs:
            if d[2] == "namespace" or ("(" in d[0] and not d[0].startswith("operator")):
                continue  # namespaces, and unexpanded macro blocks (`OTHER_MACRO(x) {...}`)
            qualifier = d[1].rsplit("::", 1)[0] if "::" in d[1] else ""
            tdefs.append((d[0], d[1], d[2], d[6], "x7m" in qualifier))
            kept.add(d[1])
        funcs = sorted(f for f in w.funcs if f[2] in kept)
        if funcs:
            for cn in sorted(QueryCursor(query).captures(sub).get("call", ()), key=_source_order):
                pos = cn.start_byte
                scope = ""
                for fs, fe, fq in funcs:  # innermost function of the expansion holding the call
                    if fs <= pos < fe:
                        scope = fq
                if not scope:
                    continue
                cname = _callee(cn, tb[pos : cn.end_byte], tb, ids["identifier"], ids["qualified_identifier"],
                                ids["template_function"], ids["field_expression"])
                if cname:
                    trefs.append((cname, scope))
        return tdefs, trefs

    for s, e, bname in _find_calls(data, bnames):
        node = root.descendant_for_byte_range(s, e)
        if node is None or node.type in _NOT_CODE or _on_directive_line(data, s):
            continue
        parent = node.parent
        if parent is not None and parent.type in _DIRECTIVE_PARENTS:
            continue
        name = bname.decode()
        dstart, dend = macros[name][2:4]
        if dstart <= s < dend:
            continue
        args, end = _macro_args(data, e)
        if end < 0:
            continue
        args = _clean_args(args)
        line = node.start_point[0] + 1
        end_line = line + data.count(b"\n", s, end)
        site = _one_line(data[s:end].decode("utf-8", "replace"))
        ns, in_class = _scope_fixed(root, s, data, spans)
        structured = []  # (qualname, macro, args) of the structured kernels registered by the expansion
        if with_regs:
            tb = expand(name, args, 1)
            for s2, e2, macro in _registration_hits(tb):
                a2, end2 = _macro_args(tb, e2)
                if end2 < 0 or macro in _LIBRARY_MACROS:
                    continue
                if macro in _STRUCTURED_MACROS:
                    reg = _simple_registration(macro, a2, line, "", ns)
                    structured.append((reg.target, macro, a2))
                else:
                    reg = _simple_registration(macro, a2, line, scope_of(s), "")
                if reg is not None:
                    regs.append(reg)
            for b in blocks:  # m.def / m.impl when the call site is inside a TORCH_LIBRARY* block
                if b[0] <= s < b[1]:
                    regs.extend(_library_calls(tb, 0, len(tb), b[4], root, b[2], b[3], lambda _p: line,
                                               macro_values, data))
                    break
        tdefs, trefs = template_facts(name, len(args), in_class)
        if not tdefs and not structured:
            continue
        subst = [(_MARK % k, a) for k, a in enumerate(args)]
        made = set()
        for dname, dqual, kind, bases, qual_marked in tdefs:
            dname = _unmark(dname, subst)
            qual = _join(ns, _unmark(dqual, subst))
            if qual_marked and kind == "function":  # method or function, now that the class is known
                q_last = qual.rsplit("::", 2)[-2] if "::" in qual else ""
                if q_last[:1].isupper() or q_last in class_names or q_last == dname:
                    kind = "method"
            made.add(qual)
            xdefs.append([dname, qual, kind, line, end_line, site, bases])
        for qual, macro, a2 in structured:  # safety net: the expansion did not parse as a function
            if qual not in made:
                _, struct, meth = _structured_target(macro, a2, ns)
                xdefs.append([meth, qual, "method", line, end_line, site, ()])
        for cname, scope in trefs:
            xrefs.append(_new_reference(_unmark(cname, subst), line, _join(ns, _unmark(scope, subst))))


_MARK = "x7m%dm7x"  # a placeholder argument: an identifier that pastes into identifiers


def _unmark(text: str, subst: list) -> str:
    """`text` of a placeholder expansion with the real arguments put back."""
    if "x7m" not in text:
        return text
    for mark, arg in subst:
        text = text.replace(mark, arg)
    if " " in text or "<" in text:
        text = _norm_name(text)
    return text


_COMMENT_IN_ARG_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _clean_args(args: list) -> list:
    """Macro arguments without comments (`/*division_op*/ true` -> `true`)."""
    return [" ".join(_COMMENT_IN_ARG_RE.sub(" ", a).split()) if "/" in a else a for a in args]


_CALLED_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")


def _find_calls(buf: bytes, names: list) -> list:
    """(start, end of name, name) of `name(` for the given names in buf, in order: substring
    searches (no per-file regex to compile); the name is a whole word not after `.`/`->`."""
    hits = []
    n = len(buf)
    find = buf.find
    for name in names:
        i = find(name)
        while i >= 0:
            j = i + len(name)
            if (i == 0 or (buf[i - 1] not in _WORD and buf[i - 1] not in b".>")) and (j >= n or buf[j] not in _WORD):
                k = j
                while k < n and buf[k] in b" \t\r\n":
                    k += 1
                if k < n and buf[k] == 0x28:  # '('
                    hits.append((i, j, name))
            i = find(name, j)
    hits.sort()
    return hits


def _param_called(params: list, body: str) -> bool:
    """Whether a named parameter is followed by `(` in a macro body (`Tensor name(...) {`)."""
    if "(" not in body:
        return False
    named = {p for p in params if p != "..." and p.isidentifier()}
    return bool(named) and not named.isdisjoint(_CALLED_NAME_RE.findall(body))


def _reg_line(reg: CodeRegistration) -> int:
    return reg.line


def _library_body(root, data: bytes, s: int, e: int, args_end: int):
    """Byte range of the `{ ... }` body of a TORCH_LIBRARY* block."""
    node = root.descendant_for_byte_range(s, e)
    for _ in range(4):
        if node is None:
            break
        if node.type == "function_definition":
            body = node.child_by_field_name("body")
            if body is not None:
                return body.start_byte, body.end_byte
            break
        node = node.parent
    # Fallback: brace matching on the raw bytes.
    i = args_end
    n = len(data)
    while i < n and data[i] in b" \t\r\n":
        i += 1
    if i >= n or data[i] != 0x7B:
        return None
    depth = 0
    j = i
    while j < n:
        c = data[j]
        if c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return i, j + 1
        j += 1
    return i, n


def _unwrap_selective(arg: str) -> str:
    """The string an op-name/schema argument spells: `TORCH_SELECTIVE_SCHEMA("a" "b")` -> `ab`."""
    parts = _STRING_RE.findall(arg)
    return "".join(parts) if parts else " ".join(arg.split())


def _library_call(kind: str, args: list[str], ns: str, key: str, line: int, macro_values, data: bytes):
    scope = f"{ns}, {key}" if key else ns
    # The kernel is everything after the name/schema (for m.fallback: everything), re-joined,
    # since top-level commas also separate template arguments: `k<const Tensor&, double>`.
    rest = args[1:] if kind != "m.fallback" else args
    while rest and rest[-1].lstrip().startswith("{"):  # m.def(schema, [kernel,] {tags})
        rest = rest[:-1]
    ka = ", ".join(a.strip() for a in rest).strip()
    if ka in macro_values:  # one level of an object-like macro defined in this file
        v = macro_values[ka]
        ka = data[v.start_byte : v.end_byte].decode("utf-8", "replace").strip()
    target = ""
    call_key = key
    if ka:
        km = _DISPATCH_KEY_RE.search(ka)
        if km:
            call_key = km.group(1)
        target = _kernel_of(ka)
    if kind == "m.fallback":
        return CodeRegistration(kind, ns, line, target, call_key, scope)
    first = args[0] if args else ""
    text = _unwrap_selective(first)
    name = _schema_name(text) if kind == "m.def" else text.strip()
    if name and "::" not in name and ns and ns != "_":
        name = f"{ns}::{name}"
    return CodeRegistration(kind, name, line, target, call_key, scope)
