"""hpo-search (hidden): the journal holds the study for another reader, a search resumed in
three pieces equals an uninterrupted one, asking for fewer trials than stored adds none, and
another seed searches elsewhere."""

import os
import tempfile

import optuna
import torch
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from lab.hpo import STUDY, run_search

torch.set_num_threads(1)


def _trials(study):
    return [(t.params, t.value) for t in study.trials]


def test_three_pieces_and_a_reader():
    d = tempfile.mkdtemp(prefix="hpo-hidden-")
    whole = run_search(os.path.join(d, "whole.log"), 7, seed=2)
    path = os.path.join(d, "pieces.log")
    for n in (2, 5, 7):
        study = run_search(path, n, seed=2)
    assert _trials(study) == _trials(whole), "resumed after 2 and after 5 trials: the trials differ from one run of 7"
    assert len(run_search(path, 4, seed=2).trials) == 7, "a study that already holds 7 trials needs no more for 4"
    reader = optuna.load_study(study_name=STUDY, storage=JournalStorage(JournalFileBackend(path)))
    assert len(reader.trials) == 7 and reader.best_params == whole.best_params, (
        "another process reading the journal must see the 7 trials and the same best parameters"
    )
    other = run_search(os.path.join(d, "other.log"), 3, seed=9)
    assert _trials(other) != _trials(whole)[:3], "another seed must sample other parameters"
