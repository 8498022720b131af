"""torch._C is C: its classes and functions are declared to Python only in stubs (torch/_C/*.pyi).
The index reads those stubs, and only those (indexes/code_index.py), so a call of a C-implemented
name resolves to its declaration (`torch.tensor`, `Assign` from torch._C._jit_tree_views, the
class a stub function returns); where torchgen binds the name to an operator, the binding still
wins over the stub's declaration (indexes/link_python.py)."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

from linking import build_index, links_of
from torchatlas.indexes import link
from torchatlas.indexes.code_index import discover
from torchatlas.indexes.model import SourceInfo
from torchatlas.indexes.sources import Source
from torchatlas.indexes.store import IndexUpdater

STUBS = {
    "torch/__init__.py": """
        from typing import TYPE_CHECKING
        from torch._C import *
        if TYPE_CHECKING:
            from torch._C._VariableFunctions import *
        from torch._tensor import Tensor
        """,
    "torch/_C/__init__.pyi": """
        class TensorBase:
            def view(self, *shape) -> Tensor: ...
            def to_sparse(self) -> Tensor: ...
        class Generator:
            def manual_seed(self, seed: int) -> Generator: ...
        def _jit_pass(g) -> None: ...
        """,
    "torch/_C/_VariableFunctions.pyi": """
        from torch import Tensor
        def tensor(data) -> Tensor: ...
        def add(a, b) -> Tensor: ...
        """,
    "torch/_C/_jit_tree_views.pyi": """
        class Assign:
            def lhs(self): ...
        """,
    "torch/_tensor.py": """
        import torch._C as _C

        class Tensor(_C.TensorBase):
            def detach(self):
                pass
        """,
    "torch/user.py": """
        import torch
        from torch._C._jit_tree_views import Assign

        def build(g):
            a = Assign(g)
            a.lhs()
            t = torch.tensor([1])
            t.to_sparse()
            t.view(1)
            t.detach()
            torch.add(t, t)
            rng = torch.Generator()
            rng.manual_seed(0)
            torch._C._jit_pass(g)
            torch.tensor([1]).view(1)
            torch.add(t, t).to_sparse()
            total = torch.add(t, t)
            total.view(1)
        """,
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = build_index(tmp_path_factory.mktemp("stubs"), STUBS, "python")
    # torchgen's bindings are nodes of the dispatch stage (none in a parse-only index): add two and re-link
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO nodes (kind, name) VALUES ('python_binding', ?)",
                    [("torch.add",), ("torch.Tensor.to_sparse",)])
    con.commit()
    con.close()
    w = IndexUpdater(path)
    link.link_all(w)
    w.commit()
    return path


def _one(db, scope, name):
    """The one answer every reference named `name` in `scope` got."""
    got = {link[:2] for link in links_of(db, scope, name)}
    assert len(got) == 1, got
    return got.pop()


def test_c_names_resolve_to_their_stub_declarations(db):
    assert _one(db, "torch.user.build", "Assign") == ("resolved", "torch._C._jit_tree_views.Assign")
    assert _one(db, "torch.user.build", "a.lhs") == ("resolved", "torch._C._jit_tree_views.Assign.lhs")
    assert _one(db, "torch.user.build", "torch.tensor") == ("resolved", "torch._C._VariableFunctions.tensor")
    assert _one(db, "torch.user.build", "torch._C._jit_pass") == ("resolved", "torch._C._jit_pass")
    assert _one(db, "torch.user.build", "rng.manual_seed") == ("resolved", "torch._C.Generator.manual_seed")


def test_a_stub_functions_return_annotation_types_a_local(db):
    # t = torch.tensor(...) -> Tensor: its own methods first, then TensorBase's from the stub
    assert _one(db, "torch.user.build", "t.detach") == ("resolved", "torch._tensor.Tensor.detach")
    assert _one(db, "torch.user.build", "t.view") == ("resolved", "torch._C.TensorBase.view")


def test_torchgens_binding_wins_over_the_stubs_declaration(db):
    assert _one(db, "torch.user.build", "torch.add") == ("resolved", "torch.add")  # not _VariableFunctions.add
    assert _one(db, "torch.user.build", "t.to_sparse") == ("resolved", "torch.Tensor.to_sparse")


def test_only_torch_C_stubs_are_indexed(tmp_path):
    for rel, text in {"torch/_C/__init__.pyi": "def f(): ...\n", "torch/nn/functional.pyi": "def g(): ...\n",
                      "torch/nn/functional.py": "def g():\n    pass\n"}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    found = {f.path for f in discover(Source(SourceInfo("tree", str(tmp_path), "0")), [])}
    assert "torch/_C/__init__.pyi" in found
    assert "torch/nn/functional.py" in found
    assert "torch/nn/functional.pyi" not in found  # restates the .py beside it


def test_a_local_bound_to_a_torchgen_binding_is_typed_by_its_stub(db):
    # total = torch.add(..): torch.add is torchgen's binding; its stub declaration returns Tensor
    assert _one(db, "torch.user.build", "total.view") == ("resolved", "torch._C.TensorBase.view")


def test_a_c_calls_result_typed_by_its_stub(db):
    assert _one(db, "torch.user.build", "torch.tensor().view") == ("resolved", "torch._C.TensorBase.view")
    # torch.add is torchgen's binding; what it returns is read from its stub declaration
    assert _one(db, "torch.user.build", "torch.add().to_sparse") == ("resolved", "torch.Tensor.to_sparse")
