"""The focused TORCH_LIBRARY_IMPL scan, and the core fallback table it vouches for."""

from torchatlas.indexes.cpp_registrations import CORE_FALLBACKS, fallbacks_from, scan_file, scan_tree

SRC = b"""
namespace at {
// TORCH_LIBRARY_IMPL(aten, CPU, m) { m.impl("commented_out", f); }
TORCH_LIBRARY_IMPL(aten, CPU, m) {
  m.impl("quantized_lstm.input", TORCH_FN(quantized_lstm_input));
  m.impl(TORCH_SELECTIVE_NAME("aten::quantized_gru.data"),
         TORCH_FN(quantized_gru_data));
}
TORCH_LIBRARY_IMPL(_, AutogradCPU, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&autograd_fallback>());
}
TORCH_LIBRARY_IMPL(_, ADInplaceOrView, m) {
  m.fallback(torch::CppFunction::makeFallthrough());
}
}
"""


def test_scan_file_finds_impls_and_fallbacks_with_lines():
    regs = scan_file("aten/src/ATen/native/RNN.cpp", SRC)
    by_op = {(r.op, r.key): r for r in regs}
    lines = SRC.decode().splitlines()
    r = by_op[("aten::quantized_lstm.input", "CPU")]
    assert "quantized_lstm.input" in lines[r.location.line - 1]
    assert ("aten::quantized_gru.data", "CPU") in by_op
    assert ("aten::commented_out", "CPU") not in by_op
    fb = fallbacks_from(regs)
    assert fb["AutogradCPU"][0] == "fallback" and fb["ADInplaceOrView"][0] == "fallthrough"


def test_core_fallback_table_matches_the_real_tree(source_tree):
    regs, problems = scan_tree(source_tree)
    fb = fallbacks_from(regs)
    for key, (kind, file) in CORE_FALLBACKS.items():
        assert fb[key][:2] == (kind, file), key
    assert "CPU" not in fb and "AutogradNestedTensor" not in fb


def test_registration_macros_are_expanded_on_their_line():
    from torchatlas.indexes.cpp_registrations import read_macros
    header = (b'#define TORCH_VIEW_FNS(m) \\\n  m.impl("t", torch::CppFunction::makeFallthrough()); \\\n'
              b'  m.impl("view_as", torch::CppFunction::makeFallthrough());\n')
    macros = read_macros(header)
    assert list(macros) == [b"TORCH_VIEW_FNS"]
    body = (b'TORCH_LIBRARY_IMPL(aten, Conjugate, m) {\n  m.impl("clone", torch::CppFunction::makeFallthrough());\n'
            b"  TORCH_VIEW_FNS(m)\n}\n")
    regs = {r.op: r for r in scan_file("x.cpp", body, macros)}
    assert set(regs) == {"aten::clone", "aten::t", "aten::view_as"}
    assert regs["aten::t"].kind == "fallthrough" and regs["aten::t"].location.line == 3


def test_core_blocks_match_the_real_tree(source_tree, installed_source):
    """The installed package's stand-in for ZeroTensorFallback.cpp says what the tree's file says."""
    from torchatlas.indexes.cpp_registrations import core_registrations
    regs, _ = scan_tree(source_tree)
    tree = {(r.op, r.key, r.kind) for r in regs if r.location.path == "aten/src/ATen/ZeroTensorFallback.cpp"
            and r.op != "*"}
    table = {(r.op, r.key, r.kind) for r in core_registrations(source_tree)}
    assert tree and tree == table
