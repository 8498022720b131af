"""The link step's Python rules on small synthetic packages: each rule of indexes/link_python.py
(imports and `as` aliases, nested functions, self/cls through the bases, super(), builtins,
ambiguity, unknown names), and the incremental re-link after a file changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from linking import build_index, links_of
from torchatlas.indexes import link
from torchatlas.indexes.code_index import ParsedFile, _rows
from torchatlas.indexes.py_parser import parse_python
from torchatlas.indexes.store import IndexUpdater

PKG = {
    "torch/__init__.py": """
        from torch.nn.modules.module import Module as _M
        """,
    "torch/nn/__init__.py": """
        from torch.nn.modules import *
        from . import functional
        """,
    "torch/nn/modules/__init__.py": """
        from .module import Module
        from .norm import LayerNorm
        """,
    "torch/nn/functional.py": """
        def layer_norm(x):
            return x

        def relu(x):
            return x
        """,
    "torch/_refs/nn/functional/__init__.py": """
        def layer_norm(x):
            return x
        """,
    "torch/nn/modules/module.py": """
        class Module:
            def children(self):
                return iter(self._modules)

            def train(self, mode=True):
                for module in self.children():
                    module.train(mode)
                return self

            @classmethod
            def make(cls):
                return cls.build()

            @classmethod
            def build(cls):
                return cls()
        """,
    "torch/nn/modules/norm.py": """
        import torch.nn.functional as F
        from torch import nn
        from .module import Module

        class Base(nn.Module):
            def reset(self):
                pass

        class LayerNorm(Base):
            def __init__(self):
                super().__init__()
                self.reset()

            def forward(self, x):
                return F.layer_norm(x)

            def helper(self, x):
                Base().reset()
                return self.weight.view(x)
        """,
    "torch/fx/graph.py": """
        def add_global(name):
            return name

        class CodeGen:
            def gen(self):
                def add_global(name):
                    return name
                def inner():
                    return add_global("x")
                add_global("y")
                return inner()
        """,
    "torch/_functorch/other.py": """
        def add_global(x):
            return x
        """,
    "torch/ambiguous.py": """
        try:
            from torch.nn.functional import relu as act
        except ImportError:
            from torch._refs.nn.functional import layer_norm as act

        import numpy as np

        def use(x, input):
            input.size()
            a = act(x)
            b = np.asarray(x)
            c = mystery(x)
            d = torch_unknown.thing(x)
            e = len(x)
            return ",".join([a, b, c, d, e])
        """,
}


def _build(root: Path, files: dict[str, str]) -> Path:
    return build_index(root, files, "python")


def _links(db: Path, scope: str, name: str) -> list[tuple[str, str | None, str]]:
    return links_of(db, scope, name)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("link"), PKG)


def test_import_alias_resolves_to_the_imported_module(db):
    [(status, target, why)] = _links(db, "torch.nn.modules.norm.LayerNorm.forward", "F.layer_norm")
    assert (status, target) == ("resolved", "torch.nn.functional.layer_norm")
    assert "torch.nn.functional" in why


def test_self_method_through_the_class_and_its_bases(db):
    [(status, target, _)] = _links(db, "torch.nn.modules.module.Module.train", "self.children")
    assert (status, target) == ("resolved", "torch.nn.modules.module.Module.children")
    # a method of a base class found through a re-export (nn.Module -> torch.nn.modules.module.Module)
    [(status, target, why)] = _links(db, "torch.nn.modules.norm.LayerNorm.__init__", "self.reset")
    assert (status, target) == ("resolved", "torch.nn.modules.norm.Base.reset")
    [(status, target, _)] = _links(db, "torch.nn.modules.norm.LayerNorm.__init__", "super().__init__")
    assert status == "unresolved"  # no __init__ in the indexed bases: not a guess elsewhere
    [(status, target, _)] = _links(db, "torch.nn.modules.module.Module.make", "cls.build")
    assert (status, target) == ("resolved", "torch.nn.modules.module.Module.build")


def test_attribute_of_an_unknown_type_is_unresolved(db):
    [(status, target, _)] = _links(db, "torch.nn.modules.module.Module.train", "module.train")
    assert (status, target) == ("unresolved", None)
    [(status, target, _)] = _links(db, "torch.nn.modules.norm.LayerNorm.helper", "self.weight.view")
    assert (status, target) == ("unresolved", None)
    # but a method on a new instance is the class's
    [(status, target, _)] = _links(db, "torch.nn.modules.norm.LayerNorm.helper", "Base().reset")
    assert (status, target) == ("resolved", "torch.nn.modules.norm.Base.reset")


def test_nested_function_is_not_sent_elsewhere(db):
    scope = "torch.fx.graph.CodeGen.gen"
    [(status, target, _)] = _links(db, scope, "add_global")
    assert (status, target) == ("resolved", scope + ".add_global")
    [(status, target, _)] = _links(db, scope + ".inner", "add_global")  # a closure sees its parent's
    assert (status, target) == ("resolved", scope + ".add_global")


def test_builtin_iter_is_a_builtin(db):
    [(status, target, _)] = _links(db, "torch.nn.modules.module.Module.children", "iter")
    assert (status, target) == ("builtin", "builtins.iter")
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "len")
    assert (status, target) == ("builtin", "builtins.len")
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "str.join")
    assert status == "builtin"
    # a parameter named like a builtin function is not the builtin
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "input.size")
    assert (status, target) == ("unresolved", None)


def test_two_imports_of_one_name_give_ranked_candidates(db):
    rows = _links(db, "torch.ambiguous.use", "act")
    assert [(s, t) for s, t, _ in rows] == [("candidate", "torch.nn.functional.relu"),
                                           ("candidate", "torch._refs.nn.functional.layer_norm")]
    assert all("2 bindings" in why for _s, _t, why in rows)


def test_unknown_and_external_names(db):
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "mystery")
    assert (status, target) == ("unresolved", None)
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "torch_unknown.thing")
    assert (status, target) == ("unresolved", None)
    [(status, target, _)] = _links(db, "torch.ambiguous.use", "np.asarray")
    assert (status, target) == ("external", "numpy.asarray")


def test_update_relinks_dependents(tmp_path):
    db = _build(tmp_path, PKG)
    # norm.py stops importing functional as F and defines its own F.layer_norm holder instead
    w = IndexUpdater(db)
    before = link.snapshot(w, ["torch/nn/functional.py"])
    w.remove_file("torch/nn/functional.py")
    src = "def relu(x):\n    return x\n\ndef layer_norm2(x):\n    return x\n"
    facts = parse_python("torch/nn/functional.py", src.encode())
    parsed = ParsedFile("torch/nn/functional.py", "python", 0, 0, "new", "ok")
    parsed.defs, parsed.includes, parsed.refs, parsed.regs = _rows("python", facts)
    w.add_parsed(parsed)
    counts = link.relink_after_update(w, before)
    w.commit()
    assert 0 < counts["relinked"] < 40
    [(status, target, _)] = _links(db, "torch.nn.modules.norm.LayerNorm.forward", "F.layer_norm")
    assert (status, target) == ("unresolved", "torch.nn.functional.layer_norm")
