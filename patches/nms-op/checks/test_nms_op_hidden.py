"""nms-op (hidden): threshold is strict (IoU equal to it stays), ties keep the lower index, empty
inputs, many classes against a per-class reference."""

import torch

from lab.boxes import batched_nms, box_iou, nms  # noqa: F401

torch.set_num_threads(1)


def test_strict_threshold_and_ties():
    boxes = torch.tensor([[0.0, 0, 2, 2], [1, 0, 3, 2], [0, 0, 2, 2]])
    scores = torch.tensor([0.5, 0.5, 0.5])
    got = torch.ops.lab.nms(boxes, scores, 1 / 3).tolist()
    iou = box_iou(boxes, boxes)[0, 1].item()
    assert got == [0, 1], (f"kept {got}: equal scores keep the lower index first (stable order); box 1 has IoU "
                           f"{iou:.4f} with box 0, not MORE than the threshold 1/3, so it stays; box 2 equals box 0")


def test_empty_inputs():
    empty = torch.zeros(0, 4)
    assert torch.ops.lab.nms(empty, torch.zeros(0), 0.5).tolist() == []
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5).tolist() == []
    assert box_iou(empty, torch.ones(3, 4)).shape == (0, 3)


def test_many_classes_match_per_class_nms():
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(80, 2, generator=g) * 20
    boxes = torch.cat([xy, xy + torch.rand(80, 2, generator=g) * 15 + 1], 1)
    scores = torch.rand(80, generator=g)
    classes = torch.randint(0, 4, (80,), generator=g)
    got = batched_nms(boxes, scores, classes, 0.4).tolist()
    want = []
    for c in range(4):
        idx = (classes == c).nonzero().flatten()
        want += idx[torch.ops.lab.nms(boxes[idx], scores[idx], 0.4)].tolist()
    want.sort(key=lambda i: -float(scores[i]))
    assert got == want, "batched_nms differs from running nms class by class (then ordering by score)"
