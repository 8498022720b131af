"""channels-last (hidden): odd shapes (size-1 dims, r=1), non-contiguous inputs whose strides are
still channels-last ordered (and ones that are not), other dtypes, gradients, one copy."""

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from lab.pixel_shuffle import pixel_shuffle, pixel_unshuffle

torch.set_num_threads(1)  # tiny tensors: one thread beats two on a busy 2-core box

CL = torch.channels_last


class NewStorage(TorchFunctionMode):
    def __init__(self, *inputs):
        super().__init__()
        self.seen = {t.untyped_storage().data_ptr() for t in inputs}
        self.keep, self.elements, self.names = [], 0, set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.names.add(getattr(func, "__name__", str(func)))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.numel():
                ptr = t.untyped_storage().data_ptr()
                if ptr not in self.seen:
                    self.seen.add(ptr)
                    self.keep.append(t)
                    self.elements += t.numel()
        return out


def _fmt(t):
    return (t.is_contiguous(), t.is_contiguous(memory_format=CL))


def _cases():
    g = torch.Generator().manual_seed(7)

    def cl(*shape):
        return torch.randn(*shape, generator=g).contiguous(memory_format=CL)

    big = cl(2, 8, 6, 4)
    return [
        ("N=1, 1x1 spatial", cl(1, 8, 1, 1), 2),
        ("C'=1", cl(3, 4, 2, 3), 2),
        ("H=1", cl(2, 8, 1, 5), 2),
        ("r=1", cl(2, 5, 3, 3), 1),
        ("r=3", cl(1, 27, 2, 2), 3),
        ("channels-last sliced along H (still NHWC-ordered)", big[:, :, ::2], 2),
        ("channels-last sliced along W", big[:, :, :, 1:3], 2),
        ("channels-last, first 4 channels", big[:, :4], 2),
        ("channels-last, every other channel", cl(2, 16, 3, 3)[:, ::2], 2),
        ("channels-last with H and W transposed (not NHWC-ordered)", big.transpose(2, 3), 2),
        ("NCHW sliced along W", torch.randn(2, 8, 3, 7, generator=g)[..., 1:5], 2),
        ("float64", cl(2, 8, 3, 3).double(), 2),
        ("int64", torch.arange(2 * 8 * 3 * 3).reshape(2, 8, 3, 3).contiguous(memory_format=CL), 2),
    ]


def _check(name, got, ref, what, x):
    assert torch.equal(got, ref), (
        f"{name}, {what} (shape {tuple(x.shape)}, strides {x.stride()}): values differ from F.{name}"
    )
    assert _fmt(got) == _fmt(ref), (
        f"{name}, {what} (shape {tuple(x.shape)}, strides {x.stride()}): the native op returns "
        f"strides {ref.stride()} (contiguous, channels_last = {_fmt(ref)}), yours {got.stride()} "
        f"({_fmt(got)}). The format follows the ORDER of the input's strides "
        f"(Tensor::suggest_memory_format, c10/core/MemoryFormat.h), not is_contiguous alone"
    )


def test_pixel_shuffle_odd_shapes_and_strides():
    for what, x, r in _cases():
        _check("pixel_shuffle", pixel_shuffle(x, r), F.pixel_shuffle(x, r), what, x)


def _unshuffle_cases():
    g = torch.Generator().manual_seed(8)

    def cl(*shape):
        return torch.randn(*shape, generator=g).contiguous(memory_format=CL)

    for what, x, r in _cases():  # dense, in the format the native shuffle chose
        yield what, F.pixel_shuffle(x, r), r
    yield "channels-last sliced along H (still NHWC-ordered)", cl(2, 3, 8, 4)[:, :, ::2], 2
    yield "channels-last sliced along W", cl(2, 3, 4, 6)[..., :4], 2
    yield "channels-last with H and W transposed (not NHWC-ordered)", cl(2, 3, 4, 6).transpose(2, 3), 2
    yield "NCHW with H and W transposed", torch.randn(2, 3, 6, 4, generator=g).transpose(2, 3), 2


def test_pixel_unshuffle_odd_shapes_and_strides():
    for what, y, r in _unshuffle_cases():
        _check("pixel_unshuffle", pixel_unshuffle(y, r), F.pixel_unshuffle(y, r), what, y)


def test_one_copy_on_odd_inputs():
    cases = [("pixel_shuffle", pixel_shuffle, what, x, r) for what, x, r in _cases()]
    cases += [("pixel_unshuffle", pixel_unshuffle, what, y, r) for what, y, r in _unshuffle_cases()]
    for name, fn, what, inp, r in cases:
        with NewStorage(inp) as mode:
            fn(inp, r)
        assert not mode.names & {"pixel_shuffle", "pixel_unshuffle"}, (
            f"{name}, {what}: calls the native op; write it with views and one copy"
        )
        assert mode.elements <= inp.numel(), (
            f"{name}, {what}: {mode.elements} elements allocated for {inp.numel()}: more than "
            f"one copy"
        )


def test_gradients_match_native():
    torch.manual_seed(5)
    x = torch.randn(2, 8, 3, 3).contiguous(memory_format=CL).requires_grad_()
    w = torch.randn(2, 2, 6, 6)
    (g,) = torch.autograd.grad((pixel_shuffle(x, 2) * w).sum(), x)
    (ref,) = torch.autograd.grad((F.pixel_shuffle(x, 2) * w).sum(), x)
    assert torch.equal(g, ref), "the gradient of pixel_shuffle differs from F.pixel_shuffle's"
