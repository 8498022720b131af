"""Public dotted names on a small synthetic package (code_queries.reexported): a package's imports
and star imports followed to the definition, and a class's members looked up along its bases in
Python's order (C3), each base spelled as its module imports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from linking import build_index
from torchatlas.indexes import code_queries as cq
from torchatlas.indexes.store import Index

PKG = {
    "torch/__init__.py": """
        from torch._tensor import Tensor
        from torch import nn
        """,
    "torch/_C/__init__.py": """
        class TensorBase:
            def add(self, other):
                return self

            def size(self):
                return ()
        """,
    "torch/_tensor.py": """
        import torch


        class Tensor(torch._C.TensorBase):
            def backward(self):
                return None
        """,
    "torch/nn/__init__.py": """
        from .modules import *
        """,
    "torch/nn/modules/__init__.py": """
        from .module import Module
        from .linear import Linear, Diamond, Loop, to_device, LeftAlias
        """,
    "torch/nn/modules/module.py": """
        class Module:
            def to(self, device):
                return self

            def parameters(self):
                return iter(())

            def reset(self):
                return None
        """,
    "torch/nn/modules/mixins.py": """
        from .module import Module as _Base


        class DeviceMixin:
            def to(self, device):
                return self


        class Left(_Base):
            pass


        class Right(_Base):
            def reset(self):
                return None
        """,
    "torch/fx/graph_module.py": """
        import torch
        import torch.overrides


        class GraphModule(torch.nn.Module):
            pass
        """,
    "torch/nn/modules/linear.py": """
        from . import mixins
        from .mixins import DeviceMixin
        from .module import Module
        from somewhere_else import Unknown


        class Linear(DeviceMixin, Module):
            def forward(self, x):
                return x


        class Diamond(mixins.Left, mixins.Right, Unknown):
            pass


        class Loop(Loop):
            pass


        to_device = mixins.DeviceMixin.to
        LeftAlias: type = mixins.Left
        """,
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    idx = Index(build_index(Path(tmp_path_factory.mktemp("public")), PKG, "python"))
    yield idx
    idx.close()


@pytest.mark.parametrize("public, real", [
    ("torch.nn.Linear", "torch.nn.modules.linear.Linear"),  # a star import, then an import
    ("torch.nn.Linear.forward", "torch.nn.modules.linear.Linear.forward"),  # its own member
    ("torch.nn.Linear.parameters", "torch.nn.modules.module.Module.parameters"),  # inherited
    ("torch.nn.Linear.to", "torch.nn.modules.mixins.DeviceMixin.to"),  # the leftmost base first
    ("torch.nn.modules.linear.Linear.to", "torch.nn.modules.mixins.DeviceMixin.to"),  # a definition's name
    # a diamond: C3 puts Right before the Module both derive from (depth first would answer Module's)
    ("torch.nn.Diamond.reset", "torch.nn.modules.mixins.Right.reset"),
    ("torch.nn.Diamond.parameters", "torch.nn.modules.module.Module.parameters"),  # past an alias (_Base)
    ("torch.Tensor.add", "torch._C.TensorBase.add"),  # a base written as a dotted name
    ("torch.Tensor.backward", "torch._tensor.Tensor.backward"),  # torch/__init__'s import, then its own
    ("torch.nn.Linear.zzqq", None),  # nowhere along the bases
    ("torch.nn.Loop.to", None),  # a class that names itself as its base ends, it does not loop
    # `torch.nn.Module` where `import torch.overrides` came last: that import binds `torch` too
    ("torch.fx.graph_module.GraphModule.to", "torch.nn.modules.module.Module.to"),
    # a module-level variable that only names another definition is that definition
    ("torch.nn.to_device", "torch.nn.modules.mixins.DeviceMixin.to"),
    ("torch.nn.LeftAlias", "torch.nn.modules.mixins.Left"),  # annotated, too
    ("torch.nn.LeftAlias.reset", "torch.nn.modules.module.Module.reset"),  # and its members
])
def test_a_public_name_reaches_its_definition(index, public, real):
    assert cq.reexported(index, public) == real
    if real:
        assert [h.qualname for h in cq.resolve_symbol(index, public)] == [real]
        assert cq.find(index, public)[0].qualname == real


def test_a_definition_s_own_name_is_not_followed(index):
    assert cq.reexported(index, "torch.nn.modules.module.Module.to") is None
    assert cq.reexported(index, "torch.nn.modules.linear.Linear.forward") is None


def test_a_class_s_own_methods_in_source_order(index):
    assert [h.name for h in cq.methods_of(index, "torch.nn.modules.module.Module")] == ["to", "parameters", "reset"]
    assert cq.methods_of(index, "torch.nn.modules.mixins.Left") == []  # `pass`: none of its own
