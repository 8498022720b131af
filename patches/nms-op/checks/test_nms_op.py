"""nms-op: box IoU, greedy NMS as the custom operator lab::nms (equal to a reference, passing
torch.library.opcheck with a data-dependent fake), and per-class NMS in one operator call."""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lab.boxes import batched_nms, box_iou, nms  # noqa: F401 (importing registers lab::nms)

torch.set_num_threads(1)


def reference_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= thr for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def random_boxes(n, seed, spread=30.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * spread
    wh = torch.rand(n, 2, generator=g) * 20 + 1
    return torch.cat([xy, xy + wh], 1).double(), torch.rand(n, generator=g).double()


def test_box_iou_known_values():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2], [5, 5, 5, 9]])
    b = torch.tensor([[0.0, 0, 2, 2], [1, 0, 3, 2], [10, 10, 11, 11]])
    got = box_iou(a, b)
    want = torch.tensor([[1.0, 1 / 3, 0], [1, 1 / 3, 0], [0, 0, 0]])
    assert got.shape == (3, 3), f"box_iou of 3 and 3 boxes should be (3, 3), got {tuple(got.shape)}"
    assert torch.allclose(got, want), (
        f"box_iou gave\n{got}\nexpected\n{want}\n(same box: 1; half-shifted: 2/6; disjoint: 0; a box of zero "
        "area: 0, never NaN)")


def test_nms_equals_the_greedy_reference():
    for seed in range(3):
        boxes, scores = random_boxes(60, seed)
        got = torch.ops.lab.nms(boxes, scores, 0.3)
        want = reference_nms(boxes.tolist(), scores.tolist(), 0.3)
        assert got.dtype == torch.int64, f"lab::nms should return int64 indices, got {got.dtype}"
        assert got.tolist() == want, (
            f"seed {seed}: kept {got.tolist()[:12]}..., expected {want[:12]}... (best score first; a box is dropped "
            "when its IoU with an already kept box is > the threshold)")


def test_opcheck_with_a_data_dependent_fake():
    boxes, scores = random_boxes(30, 7)
    result = torch.library.opcheck(torch.ops.lab.nms.default, (boxes, scores, 0.4))
    bad = {k: v for k, v in result.items() if v != "SUCCESS"}
    assert not bad, (f"torch.library.opcheck failed: {bad}. Under FakeTensor there is no data: the fake must return "
                     "an int64 vector of a NEW dynamic size (torch.library.get_ctx().new_dynamic_size())")


class OpCalls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.nms = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.name().startswith("lab::nms"):
            self.nms += 1
        return func(*args, **(kwargs or {}))


def test_batched_nms_one_call_classes_apart():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    classes = torch.tensor([0, 0, 1])
    with OpCalls() as calls:
        got = batched_nms(boxes, scores, classes, 0.5)
    assert got.tolist() == [0, 2], (
        f"kept {got.tolist()}, expected [0, 2]: box 1 overlaps box 0 of its own class and goes; box 2 overlaps "
        "box 0 too but is another class, so it stays")
    assert calls.nms == 1, f"{calls.nms} calls of lab::nms: shift each class's boxes apart and call it once"
