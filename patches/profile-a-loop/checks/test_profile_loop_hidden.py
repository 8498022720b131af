"""profile-a-loop (hidden): featurize on other shapes and dtypes (one row, one column, float64),
hotspots with k larger than the table and with a user-labelled region, one sync per epoch over
three epochs."""

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from lab.slow_loop import EPS, featurize, hotspots, train

torch.set_num_threads(1)


def _ref(x):
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        row = x[i]
        out[i] = ((row - row.mean()) / (row.std(unbiased=False) + EPS)).clamp(-3.0, 3.0)
    return out


def test_featurize_other_shapes_and_dtypes():
    g = torch.Generator().manual_seed(5)
    for x in (torch.randn(1, 9, generator=g), torch.randn(6, 1, generator=g),
              torch.randn(7, 3, generator=g, dtype=torch.float64) * 100):
        got = featurize(x)
        assert got.dtype == x.dtype and torch.allclose(got, _ref(x), atol=1e-6), (
            f"featurize on shape {tuple(x.shape)} {x.dtype} differs from the row-by-row definition"
        )


def test_hotspots_k_beyond_the_table_and_labels():
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with record_function("my_region"):
            torch.ones(3) + 1
    every = prof.key_averages()
    got = hotspots(prof, k=10_000)
    assert len(got) == len(every), f"k beyond the table: all {len(every)} rows, got {len(got)}"
    assert "my_region" in [name for name, _, _ in got], "record_function labels are rows of the table too"
    times = [t for _, _, t in got]
    assert times == sorted(times, reverse=True), "largest self CPU time first"


def test_one_sync_per_epoch():
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        means = train(epochs=3)
    counts = {e.key: e.count for e in prof.key_averages()}
    assert len(means) == 3 and all(isinstance(m, float) for m in means), "train returns one float per epoch"
    assert counts.get("aten::_local_scalar_dense", 0) <= 3, (
        f"{counts.get('aten::_local_scalar_dense')} host syncs in 3 epochs: one per epoch at most"
    )
