"""Parsing real g++ / ld / loader output into Diagnostics at the learner's file:line.

The samples are real output of this machine's g++ 12 building lab sources against the installed
torch headers through cpp_extension + ninja (paths replaced by {ws}, {torch}, {py} placeholders):
a syntax error in a learner header, an undeclared name, a kernel signature that trips
static_asserts inside torch headers (reported at the learner's m.impl line), and a warning.
"""

from pathlib import Path

import pytest

from torchatlas.contrib.builders import compiler_messages as cm
from torchatlas.contrib.builders.base import Diagnostic

NINJA_BUILD = r"""[1/2] c++ -MMD -MF bad.o.d -DTORCH_EXTENSION_NAME=lab_ops -DTORCH_API_INCLUDE_EXTENSION_H -isystem {torch}/include -isystem {torch}/include/torch/csrc/api/include -isystem {py}/include/python3.11 -fPIC -std=c++20 -c {ws}/lab/bad.cpp -o bad.o 
FAILED: bad.o 
c++ -MMD -MF bad.o.d -DTORCH_EXTENSION_NAME=lab_ops -DTORCH_API_INCLUDE_EXTENSION_H -isystem {torch}/include -isystem {torch}/include/torch/csrc/api/include -isystem {py}/include/python3.11 -fPIC -std=c++20 -c {ws}/lab/bad.cpp -o bad.o 
In file included from {ws}/lab/bad.cpp:3:
{ws}/lab/helpers.h: In function ‘double half(double)’:
{ws}/lab/helpers.h:3:17: error: expected primary-expression before ‘;’ token
    3 |   return v / 2 +;
      |                 ^
{ws}/lab/bad.cpp: In function ‘at::Tensor bad_cpu(const at::Tensor&, float)’:
{ws}/lab/bad.cpp:7:13: error: ‘tanhh’ was not declared in this scope; did you mean ‘tanhl’?
    7 |   out.fill_(tanhh(limit));
      |             ^~~~~
      |             tanhl
In file included from {torch}/include/torch/library.h:62,
                 from {ws}/lab/bad.cpp:2:
{torch}/include/ATen/core/op_registration/infer_schema.h: In instantiation of ‘constexpr int c10::detail::infer_schema::checkStaticTypes() [with Types = {const at::Tensor&, float}]’:
{torch}/include/ATen/core/op_registration/infer_schema.h:51:28:   required from ‘c10::FunctionSchema c10::detail::infer_schema::createFunctionSchemaFromTraitsFlattenedReturns() [with FunctionTraits = c10::guts::function_traits<at::Tensor(const at::Tensor&, float)>]’
{torch}/include/ATen/core/op_registration/infer_schema.h:148:119:   required from ‘c10::FunctionSchema c10::inferFunctionSchemaFlattenedReturns() [with FuncType = at::Tensor(const at::Tensor&, float)]’
{torch}/include/ATen/core/op_registration/op_registration.h:31:89:   required from ‘std::unique_ptr<c10::FunctionSchema> c10::detail::inferFunctionSchemaFromFunctor() [with KernelFunctor = at::Tensor (*)(const at::Tensor&, float)]’
{torch}/include/torch/library.h:123:76:   required from ‘torch::CppFunction::CppFunction(Func*, std::enable_if_t<c10::guts::is_function_type<FuncType_>::value, std::nullptr_t>) [with Func = at::Tensor(const at::Tensor&, float); std::enable_if_t<c10::guts::is_function_type<FuncType_>::value, std::nullptr_t> = std::nullptr_t]’
{torch}/include/torch/library.h:695:17:   required from ‘torch::Library& torch::Library::impl(Name, Func&&, torch::_RegisterOrVerify) & [with Name = const char*; Func = at::Tensor (*)(const at::Tensor&, float)]’
{ws}/lab/bad.cpp:20:9:   required from here
{torch}/include/ATen/core/op_registration/infer_schema.h:122:66:   in ‘constexpr’ expansion of ‘c10::detail::infer_schema::createArguments<c10::guts::typelist::typelist<const at::Tensor&, float> >::call()’
{torch}/include/ATen/core/op_registration/infer_schema.h:65:60:   in ‘constexpr’ expansion of ‘c10::detail::infer_schema::createArgumentVectorFromTypes<const at::Tensor&, float, 0, 1>((std::make_index_sequence<2>(), std::make_index_sequence<2>()))’
{torch}/include/ATen/core/op_registration/infer_schema.h:41:21: error: static assertion failed: INVALID TYPE: float is not supported as an argument type, use double instead
   41 |  static_assert(std::conjunction_v<
      |                ~~~~~^~~~~~~~~~~~~~
   42 |      bool_t<!std::is_same_v<Types, float>>...
      |      ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
   43 |    >, "INVALID TYPE: float is not supported as an argument type, use double instead");
      |    ~                 
{torch}/include/ATen/core/op_registration/infer_schema.h:41:21: note: ‘std::conjunction_v<c10::detail::infer_schema::bool_t<true>, c10::detail::infer_schema::bool_t<false> >’ evaluates to false
In file included from {torch}/include/ATen/core/boxing/KernelFunction_impl.h:5,
                 from {torch}/include/ATen/core/boxing/KernelFunction.h:341,
                 from {torch}/include/ATen/core/dispatch/Dispatcher.h:5,
                 from {torch}/include/torch/library.h:64:
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h: In instantiation of ‘struct c10::impl::assert_is_valid_input_type<float, false, void>’:
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:403:5:   required from ‘static decltype(auto) c10::impl::ivalue_to_arg<T, AllowDeprecatedTypes>::call(c10::IValue&) [with T = float; bool AllowDeprecatedTypes = false]’
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:648:15:   required from ‘std::decay_t<typename c10::guts::infer_function_traits<Functor>::type::return_type> c10::impl::call_functor_with_args_from_stack_(c10::OperatorKernel*, c10::DispatchKeySet, c10::Stack*, std::index_sequence<_Idx ...>, c10::guts::typelist::typelist<ArgTypes ...>*) [with Functor = detail::WrapFunctionIntoRuntimeFunctor_<at::Tensor (*)(const at::Tensor&, float), at::Tensor, c10::guts::typelist::typelist<const at::Tensor&, float> >; bool AllowDeprecatedTypes = false; long unsigned int ...ivalue_arg_indices = {0, 1}; ArgTypes = {const at::Tensor&, float}; std::decay_t<typename c10::guts::infer_function_traits<Functor>::type::return_type> = std::decay<at::Tensor>::type; typename c10::guts::infer_function_traits<Functor>::type::return_type = at::Tensor; typename c10::guts::infer_function_traits<Functor>::type = c10::guts::function_traits<at::Tensor(const at::Tensor&, float)>; c10::Stack = std::vector<c10::IValue>; std::index_sequence<_Idx ...> = std::integer_sequence<long unsigned int, 0, 1>]’
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:666:75:   required from ‘std::decay_t<typename c10::guts::infer_function_traits<Functor>::type::return_type> c10::impl::call_functor_with_args_from_stack(c10::OperatorKernel*, c10::DispatchKeySet, c10::Stack*) [with Functor = detail::WrapFunctionIntoRuntimeFunctor_<at::Tensor (*)(const at::Tensor&, float), at::Tensor, c10::guts::typelist::typelist<const at::Tensor&, float> >; bool AllowDeprecatedTypes = false; std::decay_t<typename c10::guts::infer_function_traits<Functor>::type::return_type> = std::decay<at::Tensor>::type; typename c10::guts::infer_function_traits<Functor>::type::return_type = at::Tensor; typename c10::guts::infer_function_traits<Functor>::type = c10::guts::function_traits<at::Tensor(const at::Tensor&, float)>; c10::Stack = std::vector<c10::IValue>]’
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:783:32:   required from ‘static void c10::impl::make_boxed_from_unboxed_functor<KernelFunctor, AllowDeprecatedTypes>::call(c10::OperatorKernel*, const c10::OperatorHandle&, c10::DispatchKeySet, c10::Stack*) [with KernelFunctor = c10::impl::detail::WrapFunctionIntoRuntimeFunctor_<at::Tensor (*)(const at::Tensor&, float), at::Tensor, c10::guts::typelist::typelist<const at::Tensor&, float> >; bool AllowDeprecatedTypes = false; c10::Stack = std::vector<c10::IValue>]’
{torch}/include/ATen/core/boxing/KernelFunction_impl.h:241:7:   required from ‘static c10::KernelFunction c10::KernelFunction::makeFromUnboxedFunctor(std::unique_ptr<c10::OperatorKernel>) [with bool AllowLegacyTypes = false; KernelFunctor = c10::impl::detail::WrapFunctionIntoRuntimeFunctor_<at::Tensor (*)(const at::Tensor&, float), at::Tensor, c10::guts::typelist::typelist<const at::Tensor&, float> >]’
{torch}/include/ATen/core/boxing/KernelFunction_impl.h:300:68:   required from ‘static c10::KernelFunction c10::KernelFunction::makeFromUnboxedRuntimeFunction(FuncType*) [with bool AllowLegacyTypes = false; FuncType = at::Tensor(const at::Tensor&, float)]’
{torch}/include/torch/library.h:120:66:   required from ‘torch::CppFunction::CppFunction(Func*, std::enable_if_t<c10::guts::is_function_type<FuncType_>::value, std::nullptr_t>) [with Func = at::Tensor(const at::Tensor&, float); std::enable_if_t<c10::guts::is_function_type<FuncType_>::value, std::nullptr_t> = std::nullptr_t]’
{torch}/include/torch/library.h:695:17:   required from ‘torch::Library& torch::Library::impl(Name, Func&&, torch::_RegisterOrVerify) & [with Name = const char*; Func = at::Tensor (*)(const at::Tensor&, float)]’
{ws}/lab/bad.cpp:20:9:   required from here
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:213:25: error: static assertion failed: You tried to register a kernel with an unsupported input type: float. Please use double instead; you should use `double` in the C++ function signature and `float` in the schema string.
  213 |       guts::false_t<T>::value,
      |                         ^~~~~
{torch}/include/ATen/core/boxing/impl/make_boxed_from_unboxed_functor.h:213:25: note: ‘std::integral_constant<bool, false>::value’ evaluates to false
{ws}/lab/bad.cpp: In function ‘int no_return(int)’:
{ws}/lab/bad.cpp:13:1: warning: control reaches end of non-void function [-Wreturn-type]
   13 | }
      | ^
ninja: build stopped: subcommand failed.
"""

COLORED = ("\x1b[01m\x1b[Kc.cpp:\x1b[m\x1b[K In function \u2018\x1b[01m\x1b[Kint main()\x1b[m\x1b[K\u2019:\n"
           "\x1b[01m\x1b[Kc.cpp:2:26:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K\u2018\x1b[01m\x1b[Ktanhh"
           "\x1b[m\x1b[K\u2019 is not a member of \u2018\x1b[01m\x1b[Kstd\x1b[m\x1b[K\u2019; did you mean "
           "\u2018\x1b[01m\x1b[Ktanh\x1b[m\x1b[K\u2019?\n")

LD_UNDEFINED = """/usr/bin/ld: k.o: in function `f(double)':
k.cpp:(.text+0x17): undefined reference to `scale(double)'
collect2: error: ld returned 1 exit status
"""

LOAD_FAILED = ("TORCHATLAS-LOAD-FAILED Could not load this library: {ws}/.lab/build/extension/lab_ops.so: "
               "{ws}/.lab/build/extension/lab_ops.so: undefined symbol: _ZN6labops5scaleEd\n")


def _fill(text: str, ws: Path, torch_dir: Path) -> str:
    return text.replace("{ws}", str(ws)).replace("{torch}", str(torch_dir)).replace("{py}", "/usr")


@pytest.fixture
def ws(tmp_path):
    ws = tmp_path / "ws"
    (ws / "lab").mkdir(parents=True)
    (ws / "lab" / "bad.cpp").write_text("// the learner's file\n")
    (ws / "lab" / "helpers.h").write_text("#pragma once\n")
    torch_dir = tmp_path / "site-packages" / "torch"
    (torch_dir / "include").mkdir(parents=True)
    return ws, torch_dir


def test_errors_point_at_the_learners_lines(ws):
    root, torch_dir = ws
    diags = cm.diagnostics(_fill(NINJA_BUILD, root, torch_dir), root, cwd=root / ".lab/build/extension",
                           sources=["lab/bad.cpp"])
    where = [(d.file, d.line, d.column, d.severity) for d in diags]
    assert where == [("lab/helpers.h", 3, 17, "error"), ("lab/bad.cpp", 7, 13, "error"),
                     ("lab/bad.cpp", 20, 9, "error"), ("lab/bad.cpp", 20, 9, "error"),
                     ("lab/bad.cpp", 13, 1, "warning")]
    assert "\u2018tanhh\u2019 was not declared in this scope" in diags[1].message


def test_header_static_assert_moves_to_the_required_from_here_line(ws):
    """The error is raised in infer_schema.h, the learner's mistake is the kernel signature given to
    m.impl at bad.cpp:20: the diagnostic sits there and names the header."""
    root, torch_dir = ws
    diags = cm.diagnostics(_fill(NINJA_BUILD, root, torch_dir), root, cwd=root / ".lab/build/extension")
    d = diags[2]
    assert str(d).startswith("lab/bad.cpp:20:9: error: static assertion failed: INVALID TYPE: float is not "
                             "supported as an argument type, use double instead")
    assert d.message.endswith("[raised in ATen/core/op_registration/infer_schema.h:41]")
    assert not any("evaluates to false" in x.message for x in diags), "header notes are noise"


def test_parse_gcc_keeps_frames_and_notes(ws):
    root, torch_dir = ws
    raw = cm.parse_gcc(_fill(NINJA_BUILD, root, torch_dir))
    assert [m.severity for m in raw] == ["error", "error", "error", "note", "error", "note", "warning"]
    assert raw[0].frames == ((str(root / "lab/bad.cpp"), 3, 0),)  # In file included from
    assert (str(root / "lab/bad.cpp"), 20, 9) in raw[2].frames  # required from here
    assert raw[3].frames == raw[2].frames  # a note inherits its error's chain


def test_error_with_no_learner_frame_is_kept_with_the_headers_short_name(tmp_path):
    text = "/opt/venv/site-packages/torch/include/c10/util/Exception.h:12:3: error: boom\n"
    (d,) = cm.diagnostics(text, tmp_path)
    assert (d.file, d.line, d.severity, d.message) == ("c10/util/Exception.h", 12, "error", "boom")
    warn = "/opt/venv/site-packages/torch/include/c10/util/Exception.h:12:3: warning: meh\n"
    assert cm.diagnostics(warn, tmp_path) == ()


def test_colors_and_relative_paths(tmp_path):
    (tmp_path / "c.cpp").write_text("")
    (d,) = cm.diagnostics(COLORED, tmp_path, cwd=tmp_path)
    assert (d.file, d.line, d.column, d.severity) == ("c.cpp", 2, 26, "error")
    assert d.message == "\u2018tanhh\u2019 is not a member of \u2018std\u2019; did you mean \u2018tanh\u2019?"


def test_symlinked_headers_inside_the_workspace_are_not_the_learners(tmp_path):
    """The workspace's torch/include links to the installed headers: an error there is torch's."""
    real = tmp_path / "installed" / "include" / "ATen"
    real.mkdir(parents=True)
    (real / "x.h").write_text("")
    ws = tmp_path / "ws"
    (ws / "torch").mkdir(parents=True)
    (ws / "torch" / "include").symlink_to(tmp_path / "installed" / "include")
    (ws / "lab").mkdir()
    (ws / "lab" / "k.cpp").write_text("")
    text = (f"In file included from {ws}/lab/k.cpp:4:\n"
            f"{ws}/torch/include/ATen/x.h:9:1: error: oops\n")
    (d,) = cm.diagnostics(text, ws)
    assert (d.file, d.line, d.message) == ("lab/k.cpp", 4, "oops [raised in ATen/x.h:9]")


def test_workspace_reached_through_a_symlink(tmp_path):
    real = tmp_path / "real"
    (real / "lab").mkdir(parents=True)
    (real / "lab" / "k.cpp").write_text("")
    link = tmp_path / "link"
    link.symlink_to(real)
    (d,) = cm.diagnostics(f"{real}/lab/k.cpp:3:1: error: x\n", link)
    assert d.file == "lab/k.cpp"


def test_linker_undefined_reference_maps_to_the_source(tmp_path):
    diags = cm.diagnostics(LD_UNDEFINED, tmp_path, sources=["lab/k.cpp"])
    assert diags == (Diagnostic("lab/k.cpp", 0, 0, "error", "undefined reference to `scale(double)'"),)


def test_undefined_symbol_at_load_is_demangled_and_found_in_the_source(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "undef.cpp").write_text("namespace labops {\n\n\n\ndouble scale(double limit);\n}\n")
    (d,) = cm.diagnostics(LOAD_FAILED.replace("{ws}", str(tmp_path)), tmp_path, sources=["lab/undef.cpp"])
    assert (d.file, d.line, d.severity) == ("lab/undef.cpp", 5, "error")
    if cm.shutil.which("c++filt"):
        assert "labops::scale(double)" in d.message


def test_duplicates_are_dropped_and_the_count_is_capped(tmp_path):
    (tmp_path / "a.cpp").write_text("")
    text = "".join(f"{tmp_path}/a.cpp:{i}:1: error: e\n" for i in range(100)) * 2
    diags = cm.diagnostics(text, tmp_path)
    assert len(diags) == cm.MAX_DIAGNOSTICS and len(set(diags)) == len(diags)
