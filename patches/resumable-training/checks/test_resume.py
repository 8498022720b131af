"""Interrupt a run at step k, save, build a new Trainer (another seed, the global RNGs disturbed),
load, finish: the loss curve must equal the uninterrupted run's, bit for bit."""

import random

import torch

from lab.resume import Trainer

TOTAL = 16
_full = {}


def _uninterrupted():
    if "losses" not in _full:
        _full["losses"] = Trainer(seed=0).run(TOTAL)
    return _full["losses"]


def _interrupted(k, tmp_path):
    first = Trainer(seed=0)
    before = first.run(k)
    path = str(tmp_path / f"ckpt-{k}.pt")
    first.save(path)
    torch.manual_seed(12345)  # a new process would start from other RNG states
    random.seed(12345)
    second = Trainer(seed=99)
    second.load(path)
    return before + second.run(TOTAL)


def _first_difference(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i, a, b
    return len(want), None, None


def _check(k, tmp_path, where):
    want = _uninterrupted()
    got = _interrupted(k, tmp_path)
    assert len(got) == len(want), f"the resumed run took {len(got)} steps in all, expected {len(want)} (restore the step counter)"
    i, a, b = _first_difference(got, want)
    assert got == want, (
        f"interrupted at step {k} ({where}): the loss curves part at step {i} ({a!r} vs {b!r} uninterrupted). "
        "Something that decides step {i} was not saved or not restored: weights, optimizer moments, the "
        "scheduler's position, torch's or Python's RNG, or the data order (the loader's generator and the "
        "position in the epoch)".replace("{i}", str(i)))


def test_resume_mid_epoch(tmp_path):
    _check(9, tmp_path, "in the middle of the second epoch")


def test_resume_in_the_first_epoch(tmp_path):
    _check(2, tmp_path, "in the first epoch")


def test_checkpoint_loads_with_weights_only(tmp_path):
    t = Trainer(seed=0)
    t.run(3)
    path = str(tmp_path / "safe.pt")
    t.save(path)
    try:
        torch.load(path, weights_only=True)
    except Exception as e:
        raise AssertionError(
            f"torch.load({path!r}, weights_only=True) refuses the checkpoint: {str(e).splitlines()[0][:300]}. "
            "Save states (state_dict(), get_state(), getstate()), not objects") from None
