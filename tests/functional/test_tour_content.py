"""The content of the tours that issue 15 rewrote or added: each has checked questions, a graded
exercise and a "why" (what the design rejected), and a half-done solution of each exercise fails its
test (the engine's `tours check --run` already proves that the starter fails and the solution
passes; a half-done answer is the case a learner is most likely to hand in).

The half-done solutions are written here, not in the tour files, so that the learner never sees them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torchatlas.tours.exercises import run_code
from torchatlas.tours.loader import load_file

BUILTIN = Path(__file__).resolve().parents[2] / "tours" / "builtin"
TOURS = ['tensors', 'dispatch', 'source-layout', 'nn-module', 'fx', 'autograd', 'codegen', 'custom-ops', 'forward-ad']


def _tour(tour_id):
    return load_file(BUILTIN / f"{tour_id}.yaml")


@pytest.mark.parametrize("tour_id", TOURS)
def test_tour_has_checked_questions_an_exercise_and_a_why(tour_id):
    tour = _tour(tour_id)
    questions = [q for s in tour.steps for q in s.quiz]
    assert len(questions) >= 2, f"{tour_id}: {len(questions)} checked questions"
    assert sum(s.exercise is not None for s in tour.steps) >= 1, f"{tour_id}: no exercise"
    whys = [s.title for s in tour.steps if "rejected" in s.narrative.lower()]
    assert whys, f"{tour_id}: no step says what the design rejected"


# A half-done solution per tour, and what is missing from it.
HALF_DONE = {
    # contiguous strides as a plain product of the sizes after each dimension: wrong for 0-sized dimensions
    'tensors': '''\
import math
def contiguous_strides(sizes):
    return tuple(math.prod(sizes[i + 1:]) for i in range(len(sizes)))


def channels_last_strides(sizes):
    n, c, h, w = sizes
    return (h * w * c, 1, w * c, c)
''',
    # CPU and Meta kernels but no autograd formula: AutogradCPU keeps the fallback
    'dispatch': '''\
import torch

lib = torch.library.Library("tour_dispatch", "DEF")
lib.define("scale(Tensor x, float s) -> Tensor")
lib.impl("scale", lambda x, s: x * s, "CPU")
lib.impl("scale", lambda x, s: torch.empty_like(x), "Meta")
''',
    # no case for dispatcher operators (OpOverloadPacket has no __code__)
    'source-layout': '''\
def layer_of(obj):
    return "python" if hasattr(obj, "__code__") else "c++"
''',
    # running_mean and calls as plain attributes, not buffers: state_dict and .to() miss them
    'nn-module': '''\
import torch
from torch import nn


class RunningScale(nn.Module):
    def __init__(self, features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(features))
        self.running_mean = torch.zeros(features)
        self.calls = 0

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(0))
                self.calls += 1
        return (x - self.running_mean) * self.weight
''',
    # fuses a conv whose output has a second user, which changes that use
    'fx': '''\
import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fuse_conv_bn(model: nn.Module) -> fx.GraphModule:
    gm = fx.symbolic_trace(model.eval())
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and isinstance(modules[node.target], nn.BatchNorm2d):
            conv = node.args[0]
            if conv.op == "call_module" and isinstance(modules[conv.target], nn.Conv2d):
                fused = fuse_conv_bn_eval(modules[conv.target], modules[node.target])
                parent, _, name = conv.target.rpartition(".")
                setattr(modules[parent], name, fused)
                node.replace_all_uses_with(conv)
                gm.graph.erase_node(node)
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm
''',
    # log(1 + exp(bx)) overflows to inf for large inputs
    'autograd': '''\
import torch


class SoftPlus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, beta):
        ctx.save_for_backward(x)
        ctx.beta = beta
        return torch.log(1 + torch.exp(beta * x)) / beta

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.beta * x), None


def softplus(x, beta=1.0):
    return SoftPlus.apply(x, beta)
''',
    # asks the BackendIndex about the function itself: None for structured delegates
    'codegen': '''\
import os

import torchgen
from torchgen.gen import parse_native_yaml
from torchgen.model import DispatchKey

_ROOT = os.path.join(os.path.dirname(torchgen.__file__), "packaged", "ATen", "native")
_PARSED = parse_native_yaml(os.path.join(_ROOT, "native_functions.yaml"), os.path.join(_ROOT, "tags.yaml"))


def kernel_for(name, key):
    f = next(f for f in _PARSED.native_functions if str(f.func.name) == name)
    meta = _PARSED.backend_indices[DispatchKey.parse(key)].get_kernel(f)
    return None if meta is None else meta.kernel
''',
    # no autograd formula, and a fake kernel with the input's shape instead of (N, M)
    'custom-ops': '''\
import torch
from torch import Tensor


@torch.library.custom_op("tour_ex::pairwise_sqdist", mutates_args=())
def pairwise_sqdist(x: Tensor, y: Tensor) -> Tensor:
    return (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T


@pairwise_sqdist.register_fake
def _(x, y):
    return torch.empty_like(x)
''',
    # no jvp static method: forward mode raises
    'forward-ad': '''\
import torch


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2
''',
}


# Tours with a second exercise: its half-done solution, by the exercise's scratch file name.
HALF_DONE_MORE = {
    # custom-ops, the load_inline exercise: registered, but alpha forgotten (a + b)
    ("custom-ops", "scaled_add_ext.py"): '''CPP_SOURCE = r"""
#include <ATen/core/Tensor.h>
#include <torch/library.h>

at::Tensor scaled_add(const at::Tensor& a, const at::Tensor& b, double alpha) {
  return a.add(b);
}

TORCH_LIBRARY(tourext, m) {
  m.def("scaled_add(Tensor a, Tensor b, float alpha) -> Tensor");
}
TORCH_LIBRARY_IMPL(tourext, CPU, m) {
  m.impl("scaled_add", &scaled_add);
}
"""
''',
}


@pytest.mark.parametrize("tour_id, file", [(t, None) for t in TOURS] + list(HALF_DONE_MORE))
def test_half_done_solution_fails_the_exercise(tour_id, file):
    exercises = [s.exercise for s in _tour(tour_id).steps if s.exercise is not None]
    if file is None:  # the tour's main exercise: the one HALF_DONE was written for
        exercise = next(e for e in exercises if (tour_id, e.file) not in HALF_DONE_MORE)
        run = run_code(exercise, HALF_DONE[tour_id])
    else:
        exercise = next(e for e in exercises if e.file == file)
        run = run_code(exercise, HALF_DONE_MORE[(tour_id, file)])
    assert not run.timed_out, run.output
    assert not run.passed, f"{tour_id}: a half-done solution passes the exercise's test:\n{run.output}"
    # pytest's exit code 1: tests ran and some failed (2 would be a file that cannot be collected)
    assert run.returncode == 1, run.output
