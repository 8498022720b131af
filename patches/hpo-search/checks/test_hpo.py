"""hpo-search: the trial's training is reproducible, the objective suggests the three
parameters, and the search is checkpointed in a journal file: a resumed search gives the same
trials as an uninterrupted one, and two searches give the same best parameters."""

import os
import tempfile

import optuna
import torch

from lab.hpo import objective, run_search, train_and_score

torch.set_num_threads(1)


def _trials(study):
    return [(t.number, t.params, t.value) for t in study.trials]


def test_training_is_reproducible():
    torch.manual_seed(123)  # whatever the global RNG did before
    a = train_and_score(0.05, 16, 1e-4, seed=3)
    torch.randn(10)
    b = train_and_score(0.05, 16, 1e-4, seed=3)
    c = train_and_score(0.05, 16, 1e-4, seed=4)
    assert a == b, (
        f"train_and_score with the same arguments gave {a!r} then {b!r}: the model's initialization "
        f"must be seeded from `seed`, not left to the global RNG"
    )
    assert a != c, "another seed must give another initialization (and another value)"


def test_objective_suggests_the_space():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: objective(t, seed=5), n_trials=2)
    dist = study.trials[0].distributions
    assert set(dist) == {"lr", "hidden", "weight_decay"}, f"suggested parameters: {sorted(dist)}"
    lr, hidden, wd = dist["lr"], dist["hidden"], dist["weight_decay"]
    assert (lr.low, lr.high, lr.log) == (1e-3, 0.3, True), f"lr: {lr}"
    assert tuple(hidden.choices) == (8, 16, 32, 64), f"hidden: {hidden}"
    assert (wd.low, wd.high, wd.log) == (1e-6, 1e-2, True), f"weight_decay: {wd}"
    t = study.trials[1]
    expected = train_and_score(t.params["lr"], t.params["hidden"], t.params["weight_decay"], seed=5 + 1)
    assert t.value == expected, "the objective trains with seed + trial.number and returns the validation loss"


def test_resume_gives_the_same_trials_and_the_same_best():
    d = tempfile.mkdtemp(prefix="hpo-")
    whole = run_search(os.path.join(d, "whole.log"), 6)
    part = os.path.join(d, "resumed.log")
    run_search(part, 3)
    assert os.path.isfile(part) and os.path.getsize(part) > 0, (
        f"no journal file at {part} after run_search: the journal file is the checkpoint, store the study in it"
    )
    resumed = run_search(part, 6)
    assert len(resumed.trials) == 6, f"the resumed study holds {len(resumed.trials)} trials, expected 6"
    assert _trials(resumed) == _trials(whole), (
        "a search stopped after 3 trials and resumed to 6 must give the trials of an uninterrupted "
        "search of 6:\nuninterrupted " + repr(_trials(whole)[3:]) + "\nresumed       " + repr(_trials(resumed)[3:])
    )
    again = run_search(os.path.join(d, "again.log"), 6)
    assert again.best_params == whole.best_params and again.best_value == whole.best_value, (
        f"two searches with the same seed found {whole.best_params} and {again.best_params}"
    )
