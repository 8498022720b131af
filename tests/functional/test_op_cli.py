"""`op` on a delegated operator shows where its backend kernels come from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torchatlas.cli import main


def test_a_delegated_op_shows_its_cpu_kernel_and_why(installed_db, capsys):
    assert main(["op", "aten::add.Tensor", "--db", str(installed_db)]) == 0
    out = capsys.readouterr().out
    cpu = [line for line in out.splitlines() if line.strip().startswith("CPU ")]
    assert cpu and "ufunc_add_CPU" in cpu[0] and "structured_delegate add.out" in cpu[0]
    # its own entries stay as the YAML writes them, without the delegate's mark
    sparse = [line for line in out.splitlines() if line.strip().startswith("SparseCPU ")]
    assert sparse and "add_sparse" in sparse[0] and "delegate" not in sparse[0]


def test_the_main_overload_comes_first(installed_db, capsys):
    import json
    assert main(["dispatch", "add", "--key", "CPU", "--db", str(installed_db), "--json"]) == 0
    ops = [o["op"] for o in json.loads(capsys.readouterr().out)["ops"]]
    assert ops[0] == "aten::add.Tensor" and ops.index("aten::add.Scalar") < ops.index("aten::add.out")


# -- where kernels are: defined_at (a body) and declared_at (ATen/ops/<op>_native.h) --------------

def _declares(root, loc: str, name: str) -> bool:
    path, _, line = loc.rpartition(":")
    text = (Path(root) / path).read_text(errors="replace").splitlines()[int(line) - 1]
    return path.endswith("_native.h") and re.search(rf"\b(structured_)?{re.escape(name)}\b", text) is not None


def test_installed_kernels_are_declared_in_their_native_header_and_defined_nowhere(installed_db):
    """The package ships no kernel bodies: no defined_at may point at a same-named method of
    another class (TensorBody.h's Tensor::add); declared_at names the kernel's line of <op>_native.h."""
    from torchatlas.indexes.native_decls import declared_name
    from torchatlas.indexes.store import Index
    idx = Index(installed_db)
    try:
        declared = true = defined = 0
        for _op, entries in idx.dispatch_all():
            for e in entries:
                if e.key not in ("CPU", "CUDA") or not e.kernel or "." in e.kernel or "::" in e.kernel:
                    continue  # the YAML's at::native kernels, written bare (add_sparse, ufunc_add_CPU)
                if e.defined_at:  # only a real body of that name (an inline kernel in a shipped header)
                    defined += 1
                    path, _, line = e.defined_at.rpartition(":")
                    lines = (Path(idx.source.root) / path).read_text(errors="replace").splitlines()
                    body = "\n".join(lines[int(line) - 1:int(line) + 30])
                    assert re.search(rf"\b{re.escape(e.kernel.rsplit('::', 1)[-1])}\b", lines[int(line) - 1]), e
                    assert 0 <= body.find("{") < (body.find(";") if ";" in body else len(body)), e
                if e.declared_at:
                    declared += 1
                    true += _declares(idx.source.root, e.declared_at, declared_name(e.kernel))
        assert declared > 1000 and true / declared >= 0.99, (true, declared)
        assert defined < declared / 10, defined  # bodies are the exception on the package
        mm = idx.dispatch("aten::mm.out", ["CPU"])["CPU"]
        assert mm.declared_at and mm.declared_at.startswith("torch/include/ATen/ops/mm_native.h:")
    finally:
        idx.close()


def test_op_shows_where_each_kernel_is_declared(installed_db, capsys):
    import json
    assert main(["op", "aten::mm.out", "--db", str(installed_db)]) == 0
    out = capsys.readouterr().out
    assert "declared at torch/include/ATen/ops/mm_native.h:" in out
    assert main(["op", "aten::mm.out", "--db", str(installed_db), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    cpu = next(k for k in rec["kernels"] if "CPU" in k["keys"].split(", "))
    assert cpu["declared_at"].startswith("torch/include/ATen/ops/mm_native.h:") and cpu["defined_at"] is None
    assert main(["dispatch", "aten::mm.out", "--key", "CPU", "--db", str(installed_db), "--json"]) == 0
    assert "declared_at" in capsys.readouterr().out


# -- bad input -----------------------------------------------------------------------------------

def test_an_index_of_an_older_format_says_to_reindex(installed_db, tmp_path, capsys):
    import shutil
    import sqlite3
    old = tmp_path / "old.sqlite"
    shutil.copy(installed_db, old)
    con = sqlite3.connect(old)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.commit()
    con.close()
    assert main(["callers", "torch.add", "--db", str(old)]) != 0
    err = capsys.readouterr().err
    assert "older torchatlas" in err and "re-index" in err and f"--db {old}" in err
    # the hint is a command that works: `index` takes the source as its argument (no --source), and
    # SITE-PACKAGES/torch reads as the installed package again, not as a release tree
    import shlex
    from torchatlas.indexes.sources import open_source
    hint = err.split("re-index: ", 1)[1].splitlines()[0]
    words = shlex.split(hint)
    assert words[:2] == ["torchatlas", "index"] and "--source" not in words, hint
    assert open_source(words[2]).info.kind == "installed", hint


def test_an_ambiguous_symbol_gets_its_candidates_ranked_with_why(installed_db, capsys):
    assert main(["callers", "layer_norm", "--db", str(installed_db)]) == 0
    err = capsys.readouterr().err
    assert "names" in err and "definitions" in err, err
    ranked = [line for line in err.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(ranked) >= 2 and all("(" in line and ";" in line for line in ranked)


def test_a_name_that_stands_for_another_definition_says_which(installed_db, capsys):
    """`callers torch.nn.Linear.parameters` lists the calls of Module.parameters, which Linear
    inherits: the answer says so, since its lines name the definition, not what was typed."""
    assert main(["callers", "torch.nn.Linear.parameters", "--db", str(installed_db)]) == 0
    out, err = capsys.readouterr()
    assert "torch.nn.Linear.parameters is torch.nn.modules.module.Module.parameters (torch/nn/modules/module.py:" in err
    assert ".parameters" in out and "torch.nn.Linear.parameters is" not in out  # stdout stays the list
    assert main(["callees", "torch.nn.modules.module.Module.parameters", "--db", str(installed_db)]) == 0
    assert " is " not in capsys.readouterr().err  # a definition's own name: nothing to say
    assert main(["callers", "torch.Tensor.add", "--db", str(installed_db)]) == 0
    assert " is " not in capsys.readouterr().err  # a C binding: its callers are its own, not its stub's


def test_a_method_s_callers_say_how_many_calls_could_not_be_typed(installed_db, installed_index, capsys):
    """`callers torch.Tensor.add` lists the calls whose receiver is known to be a Tensor (a handful);
    the ~1,300 `x.add(...)` with an untyped receiver are counted, so the list is not taken for all."""
    from torchatlas.indexes.code_queries import untyped_calls_named
    n = untyped_calls_named(installed_index, "torch.Tensor.add")
    assert n > 100
    assert main(["callers", "torch.Tensor.add", "--db", str(installed_db)]) == 0
    assert f"not listed: {n:,} calls of a method named 'add'" in capsys.readouterr().err
    assert untyped_calls_named(installed_index, "torch.nn.Linear.parameters") > 0  # inherited: Module's
    assert untyped_calls_named(installed_index, "torch.nn.functional.relu") == 0  # a function, not a method
    assert untyped_calls_named(installed_index, "at::native::add_out") == 0  # C++: receivers are not stored


def test_callees_of_a_class_point_at_its_methods(installed_db, capsys):
    assert main(["callees", "torch.nn.Linear", "--db", str(installed_db)]) == 0
    err = capsys.readouterr().err
    assert "a class: what it calls is in its methods (__init__, reset_parameters, forward, extra_repr)" in err
    assert "torchatlas callees torch.nn.modules.linear.Linear.forward" in err


@pytest.mark.parametrize("typo, meant", [("aten::addd", "aten::add.Tensor"), ("aten::add.Tensr", "aten::add.Tensor"),
                                         ("layer_nrom", "aten::layer_norm"), ("aten::conv2", "aten::conv2d")])
def test_an_operator_typo_suggests_the_operator_first(installed_index, typo, meant):
    """By name, each as its main overload: `addd` is add's typo (before: addr, addcdiv, addmv ...,
    as `addd` was matched against `add.Tensor` whole)."""
    from torchatlas.indexes.queries import suggest
    assert suggest(installed_index, typo)[0] == meant


def test_python_code_given_as_an_operator_points_at_trace(installed_db, capsys):
    assert main(["dispatch", "torch.nn.Linear", "--db", str(installed_db)]) == 1
    err = capsys.readouterr().err
    assert "torch.nn.Linear is Python code (torch.nn.modules.linear.Linear)" in err
    assert "torchatlas trace torch.nn.Linear" in err and "aten::linear" in err  # and the suggestions still


def test_an_unknown_symbol_gets_did_you_mean(installed_db, capsys):
    assert main(["callees", "torch.nn.functional.layer_nrom", "--db", str(installed_db)]) != 0
    err = capsys.readouterr().err
    assert "torch.nn.functional.layer_norm" in err, err


def test_declarations_are_read_from_the_ops_native_header(tmp_path):
    from torchatlas.indexes.native_decls import declared_at, is_kernel_body
    ops = tmp_path / "torch/include/ATen/ops"
    ops.mkdir(parents=True)
    (ops / "foo_native.h").write_text(
        "#pragma once\n"
        "namespace at {\nnamespace native {\n"
        "struct TORCH_API structured_ufunc_foo_CPU : public at::meta::structured_foo_Tensor {\n};\n"
        "TORCH_API at::Tensor & foo_out(const at::Tensor & self, at::Tensor & out);\n"
        "TORCH_API at::Tensor foo_sparse(const at::Tensor & self);\n"
        "} // namespace native\n} // namespace at\n")
    root = str(tmp_path)
    assert declared_at(root, "aten::foo.out", "at::native::foo_out") == "torch/include/ATen/ops/foo_native.h:6"
    assert declared_at(root, "aten::foo.Tensor", "ufunc_foo_CPU") == "torch/include/ATen/ops/foo_native.h:4"
    assert declared_at(root, "aten::foo", "at::native::foo_sparse") == "torch/include/ATen/ops/foo_native.h:7"
    assert declared_at(root, "aten::foo", "at::native::nothing_here") is None
    assert declared_at(root, "aten::foo", "VariableType::foo") is None
    assert declared_at(root, "aten::bar", "at::native::bar") is None  # no bar_native.h
    # a body counts only under the kernel's own qualified name, in C++, with a body
    assert is_kernel_body("at::native::add", "at::native::add", "aten/src/ATen/native/A.cpp", "Tensor add(", 5, 9)
    assert not is_kernel_body("at::native::add", "at::Tensor::add", "torch/include/ATen/core/TensorBody.h",
                              "Tensor add(", 5, 9)
    assert not is_kernel_body("at::native::add", "at::native::add", "x.h", "Tensor add(const Tensor&);", 5, 5)
