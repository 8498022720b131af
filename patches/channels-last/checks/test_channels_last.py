"""channels-last: lab/pixel_shuffle.py must give F.pixel_shuffle's values AND memory format, with
one copy of the data. Reference: the native ops (aten/src/ATen/native/PixelShuffle.cpp)."""

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from lab.pixel_shuffle import pixel_shuffle, pixel_unshuffle

torch.set_num_threads(1)  # tiny tensors: one thread beats two on a busy 2-core box

CL = torch.channels_last


class NewStorage(TorchFunctionMode):
    """Counts the elements of every new storage a torch function returns (views share their
    base's storage, so reshape-as-view and permute cost nothing; a reshape that copies,
    .contiguous(), clone, torch.empty each count their size) and records the functions called.
    A TorchFunctionMode, not a TorchDispatchMode: the first op under a dispatch mode imports
    torch._dynamo (seconds)."""

    def __init__(self, *inputs):
        super().__init__()
        self.seen = {t.untyped_storage().data_ptr() for t in inputs}
        self.keep, self.elements, self.ops, self.names = [], 0, [], set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", str(func))
        self.names.add(name)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.numel():
                ptr = t.untyped_storage().data_ptr()
                if ptr not in self.seen:
                    self.seen.add(ptr)
                    self.keep.append(t)  # keep it alive: a freed block could be reused
                    self.elements += t.numel()
                    self.ops.append(name)
        return out


def _fmt(t):
    return {
        "contiguous_format": t.is_contiguous(),
        "channels_last": t.is_contiguous(memory_format=CL),
    }


def _compare(name, got, ref, x):
    assert got.shape == ref.shape, f"{name}: shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
    assert torch.equal(got, ref), (
        f"{name}: values differ from F.{name} for input shape {tuple(x.shape)} strides "
        f"{x.stride()} (first mismatch at {(got != ref).nonzero()[0].tolist()}); check which of "
        f"(C', r, r) lands on H and which on W"
    )
    assert _fmt(got) == _fmt(ref), (
        f"{name}: input shape {tuple(x.shape)} strides {x.stride()}: the native op returns strides "
        f"{ref.stride()} ({_fmt(ref)}), yours {got.stride()} ({_fmt(got)}); the output must keep "
        f"the input's memory format"
    )


def test_contiguous_input_keeps_contiguous():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 3, 5)
    _compare("pixel_shuffle", pixel_shuffle(x, 2), F.pixel_shuffle(x, 2), x)
    y = torch.randn(2, 3, 6, 10)
    _compare("pixel_unshuffle", pixel_unshuffle(y, 2), F.pixel_unshuffle(y, 2), y)


def test_pixel_shuffle_channels_last():
    torch.manual_seed(1)
    x = torch.randn(2, 18, 4, 5).contiguous(memory_format=CL)
    out = pixel_shuffle(x, 3)
    assert out.is_contiguous(memory_format=CL), (
        f"pixel_shuffle of a channels-last input returned strides {out.stride()}, not channels-last "
        f"(expected {F.pixel_shuffle(x, 3).stride()})"
    )
    _compare("pixel_shuffle", out, F.pixel_shuffle(x, 3), x)


def test_pixel_unshuffle_channels_last():
    torch.manual_seed(2)
    x = torch.randn(2, 3, 8, 6).contiguous(memory_format=CL)
    out = pixel_unshuffle(x, 2)
    assert out.is_contiguous(memory_format=CL), (
        f"pixel_unshuffle of a channels-last input returned strides {out.stride()}, not "
        f"channels-last (expected {F.pixel_unshuffle(x, 2).stride()})"
    )
    _compare("pixel_unshuffle", out, F.pixel_unshuffle(x, 2), x)


def test_one_copy_only():
    torch.manual_seed(3)
    for name, fn, x, r in (
        ("pixel_shuffle", pixel_shuffle, torch.randn(2, 8, 4, 4).contiguous(memory_format=CL), 2),
        ("pixel_unshuffle", pixel_unshuffle, torch.randn(2, 2, 8, 8).contiguous(memory_format=CL), 2),
        ("pixel_shuffle", pixel_shuffle, torch.randn(2, 8, 4, 4), 2),
    ):
        with NewStorage(x) as mode:
            fn(x, r)
        native = mode.names & {"pixel_shuffle", "pixel_unshuffle"}
        assert not native, (
            f"{name} called the native {sorted(native)}: write it with views and one copy"
        )
        assert mode.elements <= x.numel(), (
            f"{name} on strides {x.stride()} allocated {mode.elements} elements ({mode.ops}) for "
            f"{x.numel()} input elements: more than one copy. Copy once, in the output's final "
            f"order, instead of converting afterwards with .contiguous(memory_format=...)"
        )
