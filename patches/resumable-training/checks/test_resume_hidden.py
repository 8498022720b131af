"""Hidden: resuming at step 0, at the last batch of an epoch, and several times in a row; a saved
file is enough (nothing kept in memory); the other batch size keeps working."""

import random

import torch

from lab.resume import Trainer

TOTAL = 14


def _chain(stops, tmp_path, batch_size=8):
    losses, seed = [], 0
    trainer = Trainer(seed=0, batch_size=batch_size)
    for n, stop in enumerate(stops):
        losses += trainer.run(stop)
        path = str(tmp_path / f"c{n}.pt")
        trainer.save(path)
        del trainer
        torch.manual_seed(1000 + n)
        random.seed(1000 + n)
        torch.randn(17)
        random.random()
        trainer = Trainer(seed=50 + n, batch_size=batch_size)
        trainer.load(path)
    return losses + trainer.run(TOTAL)


def test_resume_at_step_zero(tmp_path):
    assert _chain([0], tmp_path) == Trainer(seed=0).run(TOTAL), "resuming before the first step changes the run"


def test_resume_at_epoch_boundary(tmp_path):
    # 44 samples in batches of 8: 6 batches per epoch, so step 6 ends the first epoch
    assert _chain([6], tmp_path) == Trainer(seed=0).run(TOTAL), "resuming at the end of an epoch changes the run"


def test_resume_several_times(tmp_path):
    assert _chain([3, 7, 8, 12], tmp_path) == Trainer(seed=0).run(TOTAL), "resuming four times changes the run"


def test_other_batch_size(tmp_path):
    assert _chain([5], tmp_path, batch_size=5) == Trainer(seed=0, batch_size=5).run(TOTAL)


def test_parameters_equal_after_resume(tmp_path):
    a = Trainer(seed=0)
    a.run(TOTAL)
    b = Trainer(seed=0)
    b.run(4)
    b.save(str(tmp_path / "p.pt"))
    c = Trainer(seed=3)
    c.load(str(tmp_path / "p.pt"))
    c.run(TOTAL)
    for (name, p), q in zip(a.model.named_parameters(), c.model.parameters()):
        assert torch.equal(p, q), f"{name} differs at the end of the resumed run"
