"""What the query speed work (issue 13: every query under 0.5 s as a whole process, measured by
bench/bench_queries.py) must not change, on the installed torch's index: "did you mean" finds
names with typos in their first letters too (the pool read through the name index), a miss still
says nothing matches, and `path` follows resolved calls and bindings (its calls read once per node).
No timings here: bench/bench_queries.py measures them."""

from __future__ import annotations

import pytest

from torchatlas.indexes import code_queries as cq
from torchatlas.indexes.errors import NotFound


@pytest.mark.parametrize("typo", ["layer_nrom", "lyaer_norm", "alyer_norm", "kayer_norm"])
def test_find_suggests_the_python_function_for_a_typo(installed_index, typo):
    quals = [h.qualname for h in cq.find(installed_index, typo, limit=10)]
    assert "torch.nn.functional.layer_norm" in quals


def test_a_qualified_typo_suggests_the_qualified_name_first(installed_index):
    hits = cq.find(installed_index, "torch.nn.functional.lyaer_norm", limit=5)
    assert hits and hits[0].qualname == "torch.nn.functional.layer_norm"
    with pytest.raises(NotFound) as e:
        cq.require_symbol(installed_index, "torch.nn.functional.lyaer_norm")
    assert "torch.nn.functional.layer_norm" in e.value.suggestions


def test_a_miss_matches_nothing(installed_index):
    assert cq.find(installed_index, "zzqqxx") == []


def test_path_follows_resolved_calls_and_bindings(installed_index):
    hops = cq.path(installed_index, "torch.nn.modules.normalization.LayerNorm.forward", "aten::layer_norm")
    assert hops == [("torch.nn.modules.normalization.LayerNorm.forward", "calls", "torch.nn.functional.layer_norm"),
                    ("torch.nn.functional.layer_norm", "binds", "aten::layer_norm")]
    with pytest.raises(NotFound, match="no path"):
        cq.path(installed_index, "torch.add", "zzqqxx_kernel", max_depth=3)


def test_a_path_into_kernel_bodies_on_the_installed_torch_says_why_it_stops(installed_index):
    """The package ships headers, not kernel bodies: the walk reaches the kernel and says so."""
    with pytest.raises(NotFound) as e:
        cq.path(installed_index, "torch.nn.modules.normalization.LayerNorm.forward", "layer_norm_cpu")
    assert "at::native::layer_norm_symint" in e.value.hint and "checkout" in e.value.hint


@pytest.mark.parametrize("written, op", [("at::convolution_symint", "aten::convolution"),
                                         ("at::add_out", "aten::add.out"), ("at::mm", "aten::mm"),
                                         ("at::isComplexType", None), ("at::native::add_out", None),
                                         ("c10::irange", None)])
def test_a_call_of_the_cpp_api_names_its_operator(installed_index, written, op):
    assert cq.op_of_cpp_api(installed_index, written) == op


def test_callers_of_an_operator_are_the_calls_of_its_entry_points(installed_index):
    """An operator has no definition: its callers call one of its Python entry points (or, in C++,
    torchgen's at:: API for it); where one entry point serves several overloads, a call is a candidate."""
    callers = cq.callers(installed_index, "aten::layer_norm")
    by_scope = {r.scope: r for r in callers}
    call = by_scope["torch.nn.functional.layer_norm"]
    assert (call.name, call.status, call.targets, call.operator) == (
        "torch.layer_norm", "resolved", ("aten::layer_norm",), "aten::layer_norm")
    assert "torch.layer_norm" in call.why[0]
    assert not any(r.scope.startswith("torch.onnx") for r in callers)  # an ONNX symbolic's own layer_norm
    one = [r for r in cq.callers(installed_index, "aten::sum.dim_IntList") if r.name == "torch.sum"]
    assert one and all(r.status == "candidate" and "overloads" in r.why[0] for r in one)  # torch.sum(x), sum(x, 1)
    # the overloads it may be, the one asked about first: the CLI says "candidate 1 of 2"
    assert all(r.targets[0] == "aten::sum.dim_IntList" and "aten::sum" in r.targets for r in one)
    every = [r for r in cq.callers(installed_index, "aten::sum") if r.name == "torch.sum"]
    assert {r.location for r in every} == {r.location for r in one}  # aten::sum, the overload without a name
    assert all(r.status == "candidate" for r in every)
    family = [r for r in cq.callers(installed_index, "aten::add") if r.name == "torch.add"]  # no such overload
    assert family and all(r.status == "resolved" for r in family)


def test_an_installed_kernel_s_caller_is_the_dispatcher(installed_index):
    calls = cq.callers(installed_index, "layer_norm_cpu")
    assert [(r.kind, r.operator) for r in calls] == [("dispatch", "aten::native_layer_norm")]


def test_a_qualified_destination_is_met_only_by_that_name(installed_index):
    """`path torch.add torch.add` is no hop; a dotted TO is not any node of the same base name."""
    assert cq.path(installed_index, "torch.add", "torch.add") == []
    hops = cq.path(installed_index, "torch.add", "torch._refs.add")
    assert hops[-1][2] == "torch._refs.add"
    with pytest.raises(NotFound):
        cq.path(installed_index, "torch.add", "torch.zzqq.add", max_depth=4)
    hops = cq.path(installed_index, "torch.add", "ufunc_add_CPU")  # a bare name: any node of that base name
    assert hops[-1] == ("aten::add.Tensor", "dispatches_to[CPU]", "at::native::ufunc_add_CPU")


def test_callers_of_an_unknown_operator_suggest_operators(installed_db, capsys):
    from torchatlas.cli import main
    assert main(["callers", "aten::add.Tensr", "--db", str(installed_db)]) == 1
    err = capsys.readouterr().err
    assert "no operator named 'aten::add.Tensr'" in err and "aten::add.Tensor" in err


@pytest.mark.parametrize("symbol, says", [("aten::add.Tensor", "is an operator, not a definition"),
                                          ("aten::add", "is an operator, not a definition"),
                                          ("torch.add", "is a C function (bound to aten::add.Tensor")])
def test_callees_of_what_has_no_body_say_what_it_is(installed_index, symbol, says):
    with pytest.raises(NotFound) as e:
        cq.callees(installed_index, symbol)
    assert says in e.value.message and "torchatlas trace" in e.value.hint


def test_did_you_mean_names_each_definition_once(installed_index):
    with pytest.raises(NotFound) as e:
        cq.callees(installed_index, "aten::zzqq.Tensor")
    assert e.value.suggestions and len(e.value.suggestions) == len(set(e.value.suggestions))


@pytest.mark.parametrize("public, real", [
    ("torch.nn.Linear", "torch.nn.modules.linear.Linear"),  # from .modules import *, then from .linear import Linear
    ("torch.nn.Linear.forward", "torch.nn.modules.linear.Linear.forward"),
    ("torch.optim.Adam.step", "torch.optim.adam.Adam.step"),
    ("torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"),
    # inherited members, found along the bases (before: "nothing matches")
    ("torch.nn.Linear.parameters", "torch.nn.modules.module.Module.parameters"),
    ("torch.optim.Adam.zero_grad", "torch.optim.optimizer.Optimizer.zero_grad"),
    ("torch.nn.Conv2d.extra_repr", "torch.nn.modules.conv._ConvNd.extra_repr"),
    ("torch.nn.zzqq", None), ("torch.nn.Linear.zzqq", None)])
def test_a_public_name_is_followed_through_the_package_s_imports(installed_index, public, real):
    assert cq.reexported(installed_index, public) == real
    if real:
        assert [h.qualname for h in cq.resolve_symbol(installed_index, public)] == [real]
        assert cq.find(installed_index, public)[0].qualname == real


def test_the_public_name_of_a_class_answers_like_its_definition(installed_index):
    by_name = {r.name: r for r, _ in cq.callees(installed_index, "torch.nn.Linear.forward")}
    assert by_name["F.linear"].targets == ("torch.nn.functional.linear",)
    uses = cq.refs(installed_index, "torch.nn.Linear")
    assert uses and all(r.status in ("resolved", "candidate") for r in uses if r.kind != "registration")


def test_a_bound_callable_is_found_before_its_stub_and_the_stub_after(installed_index):
    """`find torch.Tensor.add`: the callable torchgen binds (what trace starts from), then its .pyi
    declaration on TensorBase, which torch.Tensor inherits (before: nothing matched)."""
    hits = cq.find(installed_index, "torch.Tensor.add", limit=5)
    assert (hits[0].kind, hits[0].qualname) == ("callable", "torch.Tensor.add")
    assert "aten::add.Tensor" in hits[0].detail and "native_functions.yaml:" in hits[0].location
    assert [h.qualname for h in hits[1:]] == ["torch._C.TensorBase.add"]
    hits = cq.find(installed_index, "torch.add", limit=10)
    assert hits[0].kind == "callable" and "torch._C._VariableFunctions.add" in [h.qualname for h in hits]


@pytest.mark.source
def test_on_a_checkout_a_bound_callable_is_found_though_its_stub_is_not_there(tree_db):
    """A checkout has no generated .pyi: before, `find torch.add` there answered with a benchmark
    example's FauxTorch.add alone."""
    from torchatlas.indexes.store import Index
    index = Index(tree_db)
    try:
        hits = cq.find(index, "torch.add", limit=5)
        assert (hits[0].kind, hits[0].qualname) == ("callable", "torch.add")
        assert hits[0].location.startswith("aten/src/ATen/native/native_functions.yaml:")
        assert cq.find(index, "torch.nn.Linear.parameters")[0].qualname == "torch.nn.modules.module.Module.parameters"
    finally:
        index.close()


def test_path_starts_and_ends_at_a_public_name_s_definition(installed_index):
    """`path torch.nn.Linear.forward aten::linear`: before, the public name was no node of the graph
    ("no path ... 1 node explored"); a bound callable stays its own node (its stub has no edges)."""
    hops = cq.path(installed_index, "torch.nn.Linear.forward", "aten::linear")
    assert hops == [("torch.nn.modules.linear.Linear.forward", "calls", "torch.nn.functional.linear"),
                    ("torch.nn.functional.linear", "binds", "aten::linear")]
    hops = cq.path(installed_index, "torch.nn.modules.conv.Conv2d.forward", "torch.nn.Conv2d._conv_forward")
    assert hops[-1][2] == "torch.nn.modules.conv.Conv2d._conv_forward"
    assert cq.path(installed_index, "torch.add", "aten::add.Tensor") == [("torch.add", "binds", "aten::add.Tensor")]


@pytest.mark.parametrize("name, public, private", [
    ("softmax", "torch.nn.functional.softmax", "torch._refs.softmax"),
    ("dropout", "torch.nn.functional.dropout", "torch._decomp.decompositions.dropout"),
    ("cross_entropy", "torch::nn::functional::cross_entropy", "torch::nn::functional::detail::cross_entropy"),
])
def test_of_same_named_definitions_the_public_one_ranks_first(installed_index, name, public, private):
    """A learner searching `softmax` means torch.nn.functional's, not the reference implementation in
    torch._refs (before: _refs's first, as the shorter name)."""
    quals = [h.qualname for h in cq.find(installed_index, name, limit=40)]
    assert public in quals and private in quals and quals.index(public) < quals.index(private), quals[:10]


def test_a_class_ranks_before_its_constructors(installed_index):
    """`find TensorIteratorConfig` means the class; its constructors share its name (they came first,
    as methods rank before classes)."""
    hits = cq.find(installed_index, "TensorIteratorConfig", limit=5)
    assert (hits[0].kind, hits[0].qualname) == ("class", "at::TensorIteratorConfig")
    assert hits[1].qualname == "at::TensorIteratorConfig::TensorIteratorConfig"


def test_of_same_named_classes_the_much_used_one_ranks_first(installed_index):
    """`find Module`: torch.nn's (tens of resolved uses), not torch.jit.annotations' (two), which came
    first as the shorter name."""
    hits = cq.find(installed_index, "Module", limit=5)
    assert hits[0].qualname == "torch.nn.modules.module.Module", [h.qualname for h in hits]


def test_a_name_answers_with_what_python_binds_it_to(installed_index):
    """The last of a .py file's same-named definitions is the one the name is bound to (torch.compile's
    body after its two @overload stubs), and a module-level alias is what it names
    (`get_worker_info = _utils.worker.get_worker_info` in dataloader.py). Checked against inspect."""
    import inspect

    import torch.utils.data
    hits = cq.resolve_symbol(installed_index, "torch.compile")
    assert len(hits) == 3
    assert int(hits[0].location.rsplit(":", 1)[1]) == inspect.getsourcelines(torch.compile)[1]
    hits = cq.resolve_symbol(installed_index, "torch.utils.data.get_worker_info")
    assert hits[0].qualname == "torch.utils.data._utils.worker.get_worker_info"
    assert hits[0].location == "torch/utils/data/_utils/worker.py:%d" % inspect.getsourcelines(
        torch.utils.data.get_worker_info)[1]
