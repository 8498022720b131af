"""The link step types a receiver only from what the source states (indexes/link_python.py with
indexes/python_signatures.py): parameter annotations, class-variable annotations, properties'
return annotations, module variables bound to a constructor. Each rule on a tiny package: the
call resolves to the method of the stated class (through its bases), and not to a same-named
method elsewhere; where the source states nothing usable, the call stays unresolved."""

from __future__ import annotations

import pytest

from linking import build_index, links_of
from torchatlas.indexes import python_signatures as sigs

PKG = {
    "pkg/__init__.py": "",
    "pkg/graph.py": """
        class Graph:
            def lint(self):
                pass

        class Other:
            def lint(self):
                pass
            def recompile(self):
                pass

        def lint():
            pass
        """,
    "pkg/module.py": """
        from typing import Optional
        from pkg.graph import Graph

        class Base:
            def recompile(self):
                pass

        class GraphModule(Base):
            @property
            def graph(self) -> Graph:
                return self._graph

            @graph.setter
            def graph(self, g: Graph) -> None:
                self._graph = g

        class Lazy:
            weight: "Graph"
            untyped = None

            def go(self):
                self.weight.lint()
                self.untyped.lint()
        """,
    "pkg/virtual.py": """
        from pkg.module import GraphModule

        class _V:
            @property
            def gm(self) -> GraphModule:
                pass

        V = _V()
        """,
    "pkg/user.py": """
        from typing import Optional
        from pkg import graph
        from pkg.module import GraphModule
        from pkg.virtual import V

        def typed(gm: GraphModule, maybe: Optional["GraphModule"] = None, *, union: GraphModule | None = None):
            gm.recompile()
            maybe.recompile()
            union.graph.lint()

        def shadowed(graph):
            graph.lint()

        def not_a_class(gms: list[GraphModule], g):
            gms.recompile()
            g.recompile()

        def outer(gm: GraphModule):
            def inner():
                gm.recompile()
            return inner

        def through_module_variable():
            V.gm.graph.lint()

        def at_module_level():
            graph.lint()

        def long_signature(gm: GraphModule, parameter_number_0: Optional[GraphModule] = None, parameter_number_1: Optional[GraphModule] = None, parameter_number_2: Optional[GraphModule] = None, parameter_number_3: Optional[GraphModule] = None, parameter_number_4: Optional[GraphModule] = None, parameter_number_5: Optional[GraphModule] = None, parameter_number_6: Optional[GraphModule] = None, parameter_number_7: Optional[GraphModule] = None):
            gm.recompile()

        def a_function_taking_self(self: GraphModule, other: "GraphModule", many, more, parameters, cut):
            self.recompile()
            other.recompile()
        """,
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("types"), PKG, "python")


def _one(db, scope, name):
    got = links_of(db, scope, name)
    assert len(got) == 1, got
    return got[0]


def test_parameter_annotation_types_the_receiver_through_its_bases(db):
    status, target, why = _one(db, "pkg.user.typed", "gm.recompile")
    assert (status, target) == ("resolved", "pkg.module.Base.recompile")  # inherited, not Other.recompile
    assert "parameter gm" in why


def test_optional_quoted_and_union_with_none_annotations(db):
    assert _one(db, "pkg.user.typed", "maybe.recompile")[:2] == ("resolved", "pkg.module.Base.recompile")
    # a property's return annotation types the next link of the chain (the getter, not the setter)
    assert _one(db, "pkg.user.typed", "union.graph.lint")[:2] == ("resolved", "pkg.graph.Graph.lint")


def test_a_parameter_shadows_the_module_level_name_it_spells(db):
    status, target, _why = _one(db, "pkg.user.shadowed", "graph.lint")
    assert status == "unresolved" and target is None  # not the module pkg.graph's function lint
    assert _one(db, "pkg.user.at_module_level", "graph.lint")[:2] == ("resolved", "pkg.graph.lint")


def test_a_signature_cut_at_the_stored_length_still_types_its_first_parameters(db):
    assert _one(db, "pkg.user.long_signature", "gm.recompile")[:2] == ("resolved", "pkg.module.Base.recompile")


def test_self_of_a_function_outside_a_class_is_a_parameter(db):
    assert _one(db, "pkg.user.a_function_taking_self", "self.recompile")[:2] == ("resolved", "pkg.module.Base.recompile")


def test_no_usable_annotation_stays_unresolved(db):
    assert _one(db, "pkg.user.not_a_class", "gms.recompile")[:2] == ("unresolved", None)  # list[...]
    assert _one(db, "pkg.user.not_a_class", "g.recompile")[:2] == ("unresolved", None)


def test_an_enclosing_functions_parameter_is_seen_by_a_closure(db):
    assert _one(db, "pkg.user.outer.inner", "gm.recompile")[:2] == ("resolved", "pkg.module.Base.recompile")


def test_class_variable_annotation_types_self_attribute(db):
    assert _one(db, "pkg.module.Lazy.go", "self.weight.lint")[:2] == ("resolved", "pkg.graph.Graph.lint")
    assert _one(db, "pkg.module.Lazy.go", "self.untyped.lint")[:2] == ("unresolved", None)


def test_module_variable_bound_to_a_constructor(db):
    assert _one(db, "pkg.user.through_module_variable", "V.gm.graph.lint")[:2] == ("resolved", "pkg.graph.Graph.lint")


def test_signature_text_helpers():
    assert sigs.params('def f(self, a: Dict[str, int] = {}, *args, sep: str = ",", **kw) -> X') == {
        "self": "", "a": "Dict[str, int]", "args": "", "sep": "str", "kw": ""}
    # a line cut at the stored length: the parameters before the cut (the last one may be cut)
    assert sigs.params("def f(self, a: Dict[str, int], b: Optional[Lo...") == {"self": "", "a": "Dict[str, int]"}
    assert sigs.params("x = 1") is None
    assert sigs.returns("def graph(self) -> Graph") == "Graph"
    assert sigs.variable("V = _V()") == ("call", "_V")
    assert sigs.variable("x = f()[0]") is None
    assert [sigs.type_name(t) for t in ('Optional["A"]', "A | None", "Union[None, a.B]", "list[A]", "Union[A, B]")] \
        == ["A", "A", "a.B", None, None]


LOCALS = {
    "pkg/__init__.py": "",
    "pkg/io.py": """
        class Reader:
            def read(self):
                pass

        class Writer:
            def read(self):
                pass
            def write(self):
                pass

        def open_reader() -> Reader:
            return Reader()

        def untyped():
            return Reader()
        """,
    "pkg/graph.py": """
        from pkg.io import Reader, Writer

        class Sizes:
            def hint(self):
                pass

        class Graph:
            def __init__(self, env):
                self.sizes = Sizes(env)
                self.reader: "Reader" = make(env)
                self.either = Reader()
                self.plain = env

            def use(self):
                self.sizes.hint()
                self.reader.read()
                self.plain.hint()

            def rebinds(self):
                self.either = Writer()

            def other(self):
                self.either.read()
        """,
    "pkg/user.py": """
        from pkg import io
        from pkg.io import Reader, open_reader, untyped

        def constructed(data):
            reader = Reader(data)
            reader.read()
            opened = open_reader()
            opened.read()
            made = untyped()
            made.read()

        def annotated():
            local: Optional[io.Writer] = None
            local.write()

        def two_bindings(flag):
            if flag:
                thing = Reader()
            else:
                thing = io.Writer()
            thing.read()

        def elsewhere():
            reader.read()
        """,
}


@pytest.fixture(scope="module")
def locals_db(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("locals"), LOCALS, "python")


def test_local_bound_to_a_constructor_or_an_annotated_return(locals_db):
    assert _one(locals_db, "pkg.user.constructed", "reader.read")[:2] == ("resolved", "pkg.io.Reader.read")
    assert _one(locals_db, "pkg.user.constructed", "opened.read")[:2] == ("resolved", "pkg.io.Reader.read")
    # a function without a return annotation states nothing about its result
    assert _one(locals_db, "pkg.user.constructed", "made.read")[:2] == ("unresolved", None)


def test_annotated_local(locals_db):
    assert _one(locals_db, "pkg.user.annotated", "local.write")[:2] == ("resolved", "pkg.io.Writer.write")


def test_local_bound_to_two_classes_is_not_guessed(locals_db):
    assert _one(locals_db, "pkg.user.two_bindings", "thing.read")[:2] == ("unresolved", None)


def test_a_local_is_seen_only_inside_its_function(locals_db):
    assert _one(locals_db, "pkg.user.elsewhere", "reader.read")[:2] == ("unresolved", None)


def test_instance_attribute_assigned_in_a_method(locals_db):
    assert _one(locals_db, "pkg.graph.Graph.use", "self.sizes.hint")[:2] == ("resolved", "pkg.graph.Sizes.hint")
    # the annotation states the type even though the value comes from an untyped call
    assert _one(locals_db, "pkg.graph.Graph.use", "self.reader.read")[:2] == ("resolved", "pkg.io.Reader.read")
    assert _one(locals_db, "pkg.graph.Graph.use", "self.plain.hint")[:2] == ("unresolved", None)
    # assigned a Reader in one method and a Writer in another: not one type
    assert _one(locals_db, "pkg.graph.Graph.other", "self.either.read")[:2] == ("unresolved", None)


def test_a_call_of_an_instance_attribute_is_not_a_call_of_its_assignment(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        class Holder:
            def __init__(self, fn):
                self.fn = wrap(fn)

            def run(self):
                self.fn()
        """}, "python")
    assert _one(db, "pkg.m.Holder.run", "self.fn")[:2] == ("unresolved", None)


def test_a_functions_local_is_not_an_attribute_of_the_function(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        class State:
            def get(self):
                pass

        def replicate(module):
            state = State()
            state.get()
            return replicate.state(module)
        """}, "python")
    assert _one(db, "pkg.m.replicate", "state.get")[:2] == ("resolved", "pkg.m.State.get")
    assert _one(db, "pkg.m.replicate", "replicate.state")[:2] == ("unresolved", None)  # not the local


def test_a_calls_result_typed_by_what_the_callee_states(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        from typing_extensions import Self

        class Buffer:
            def getvalue(self):
                pass

        class Config:
            def set(self, x) -> Self:
                return self
            def also(self, x) -> "Config":
                return self
            def done(self):
                pass

        class Kernel:
            def header(self) -> Buffer:
                pass
            def untyped(self):
                pass
            def render(self, cfg: Config):
                self.header().getvalue()
                self.untyped().getvalue()
                cfg.set(1).also(2).done()
                Config().set(1).done()
        """}, "python")
    assert _one(db, "pkg.m.Kernel.render", "self.header().getvalue")[:2] == ("resolved", "pkg.m.Buffer.getvalue")
    assert _one(db, "pkg.m.Kernel.render", "self.untyped().getvalue")[:2] == ("unresolved", None)
    assert _one(db, "pkg.m.Kernel.render", "cfg.set().also().done")[:2] == ("resolved", "pkg.m.Config.done")
    assert _one(db, "pkg.m.Kernel.render", "Config().set().done")[:2] == ("resolved", "pkg.m.Config.done")


def test_an_attribute_or_local_bound_to_an_annotated_parameter_has_its_type(tmp_path):
    # constructor injection (`self.base_dist = base_distribution` with `base_distribution: Distribution`)
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        from typing import Optional

        class Distribution:
            def sample(self):
                pass

        class Other:
            def sample(self):
                pass

        class Transformed:
            def __init__(self, base_distribution: Distribution, fallback: Optional["Other"] = None, plain=None):
                self.base_dist = base_distribution
                self.fallback = fallback
                self.plain = plain

            def draw(self):
                self.base_dist.sample()
                self.fallback.sample()
                self.plain.sample()

        class Twice:
            def __init__(self, a: Distribution):
                self.x = a

            def reset(self, b: Other):
                self.x = b

            def draw(self):
                self.x.sample()

        def local(d: Distribution):
            same = d
            same.sample()
        """}, "python")
    assert _one(db, "pkg.m.Transformed.draw", "self.base_dist.sample")[:2] == ("resolved", "pkg.m.Distribution.sample")
    assert _one(db, "pkg.m.Transformed.draw", "self.fallback.sample")[:2] == ("resolved", "pkg.m.Other.sample")
    assert _one(db, "pkg.m.Transformed.draw", "self.plain.sample")[:2] == ("unresolved", None)  # untyped parameter
    # bound to a Distribution in one method and an Other in another: not one type
    assert _one(db, "pkg.m.Twice.draw", "self.x.sample")[:2] == ("unresolved", None)
    assert _one(db, "pkg.m.local", "same.sample")[:2] == ("resolved", "pkg.m.Distribution.sample")
    assert sigs.variable("self.base_dist = base_distribution: Distribution") == ("param", "Distribution")


def test_a_parameter_annotation_naming_no_one_class_does_not_untype_an_attribute(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        from typing import Callable, Union

        class Module:
            def named_modules(self):
                pass

        class Tracer:
            def __init__(self):
                self.root = Module()

            def trace(self, root: Union[Module, Callable]):
                self.root = root

            def walk(self):
                self.root.named_modules()
        """}, "python")
    assert _one(db, "pkg.m.Tracer.walk", "self.root.named_modules")[:2] == ("resolved", "pkg.m.Module.named_modules")


def test_assignments_of_a_class_and_its_subclass_agree_on_the_base(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        class Tracker:
            def is_tensor(self):
                pass

        class Tuple(Tracker):
            pass

        class Other:
            def is_tensor(self):
                pass

        class Ctx:
            def __init__(self, tensors: Tracker):
                self.tensors = tensors
                self.tensors = Tuple([self.tensors])
                self.tensors.is_tensor()

        def fuse(model: Tracker, trace):
            if trace:
                fx_model = Tuple(model)
            else:
                fx_model = model
            fx_model.is_tensor()

        def unrelated(a: Tracker, b: Other, flag):
            x = a
            if flag:
                x = b
            x.is_tensor()
        """}, "python")
    assert _one(db, "pkg.m.Ctx.__init__", "self.tensors.is_tensor")[:2] == ("resolved", "pkg.m.Tracker.is_tensor")
    assert _one(db, "pkg.m.fuse", "fx_model.is_tensor")[:2] == ("resolved", "pkg.m.Tracker.is_tensor")
    assert _one(db, "pkg.m.unrelated", "x.is_tensor")[:2] == ("unresolved", None)


def test_a_loop_variable_has_the_element_type_of_its_annotated_container(tmp_path):
    db = build_index(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": """
        from typing import Generator, Iterator, List, Optional, Sequence

        class Transform:
            def inv(self):
                pass

        class Node:
            def inv(self):
                pass

        class Transformed:
            def __init__(self, transforms: List[Transform]):
                self.transforms: list[Transform] = transforms

            def log_prob(self):
                for transform in reversed(self.transforms):
                    transform.inv()
                self.transforms[0].inv()

        def over_params(nodes: Optional[Sequence["Node"]], pairs: dict[str, Node], several: tuple[Node, Transform]):
            for i, node in enumerate(nodes):
                node.inv()
            for key in pairs:
                key.inv()
            for item in several:
                item.inv()

        def outer(nodes: list[Node]):
            def inner():
                for n in nodes:
                    n.inv()
            return inner

        class Tree:
            def children(self) -> Iterator["Tree"]:
                pass

            def pairs(self) -> Iterator[tuple[str, "Tree"]]:
                pass

            def leaves(self) -> Generator[Node, None, None]:
                pass

            def train(self):
                for module in self.children():
                    module.train()
                for i, leaf in enumerate(self.leaves()):
                    leaf.inv()
                for pair in self.pairs():
                    pair.train()

        def by_index(nodes: list[Node], table: dict[str, Transform], i):
            nodes[i].inv()
            table["a"].inv()
            node = nodes[i]
            node.inv()
            entry = table["a"]
            entry.inv()
            other = Node()
            if i:
                other = table["b"]  # a dict's value: states nothing, does not untype `other`
            other.inv()
        """}, "python")
    assert _one(db, "pkg.m.Transformed.log_prob", "transform.inv")[:2] == ("resolved", "pkg.m.Transform.inv")
    assert _one(db, "pkg.m.over_params", "node.inv")[:2] == ("resolved", "pkg.m.Node.inv")
    assert _one(db, "pkg.m.outer.inner", "n.inv")[:2] == ("resolved", "pkg.m.Node.inv")
    # a dict iterates its keys, a tuple of several types has no one element type: not typed
    assert _one(db, "pkg.m.over_params", "key.inv")[:2] == ("unresolved", None)
    assert _one(db, "pkg.m.over_params", "item.inv")[:2] == ("unresolved", None)
    # an element taken by index: as a loop variable (a dict's value is not typed: dict[K, V] is no container of one type)
    assert _one(db, "pkg.m.by_index", "node.inv")[:2] == ("resolved", "pkg.m.Node.inv")
    assert _one(db, "pkg.m.by_index", "entry.inv")[:2] == ("unresolved", None)
    # a method called on an element directly (`nodes[i].inv()`, the parser's `nodes[].inv`)
    assert _one(db, "pkg.m.by_index", "nodes[].inv")[:2] == ("resolved", "pkg.m.Node.inv")
    assert _one(db, "pkg.m.by_index", "table[].inv")[:2] == ("unresolved", None)
    assert _one(db, "pkg.m.Transformed.log_prob", "self.transforms[].inv")[:2] == ("resolved", "pkg.m.Transform.inv")
    assert _one(db, "pkg.m.by_index", "other.inv")[:2] == ("resolved", "pkg.m.Node.inv")
    # a loop over what a call returns: the element type of the callee's return annotation
    assert _one(db, "pkg.m.Tree.train", "module.train")[:2] == ("resolved", "pkg.m.Tree.train")
    assert _one(db, "pkg.m.Tree.train", "leaf.inv")[:2] == ("resolved", "pkg.m.Node.inv")
    assert _one(db, "pkg.m.Tree.train", "pair.train")[:2] == ("unresolved", None)  # tuple elements
    assert sigs.element_annotation("Optional[List[Node]]") == "Node" and sigs.element_annotation("dict[str, Node]") is None
