"""data-pipeline (hidden): no global RNG, drop_last, seeds, tiny datasets, pad_collate on
features / other dtypes / empty batches, and two epochs through a 2-worker DataLoader."""

import torch
from torch.utils.data import DataLoader

from lab.buckets import BucketBatchSampler, VarLenDataset, pad_collate

torch.set_num_threads(1)

LENGTHS = torch.randint(0, 40, (50,), generator=torch.Generator().manual_seed(3)).tolist()


def test_independent_of_the_global_rng():
    torch.manual_seed(1)
    a = list(BucketBatchSampler(LENGTHS, 4, seed=5))
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = list(BucketBatchSampler(LENGTHS, 4, seed=5))
    assert a == b, (
        "the batches changed with torch.manual_seed: draw from a torch.Generator seeded from "
        "(seed, epoch), never the global RNG (DataLoader workers and the training loop use it too)"
    )
    assert torch.equal(state, torch.get_rng_state()), (
        "drawing the batches advanced the global RNG: use your own torch.Generator"
    )


def test_seeds_differ():
    a = list(BucketBatchSampler(LENGTHS, 4, seed=0))
    b = list(BucketBatchSampler(LENGTHS, 4, seed=1))
    assert a != b, "different seeds must give different batches"


def test_drop_last():
    for bs, pools in ((4, 4), (3, 2), (7, 1), (8, 4)):
        s = BucketBatchSampler(LENGTHS, bs, pool_batches=pools, drop_last=True, seed=2)
        batches = list(s)
        flat = [i for b in batches for i in b]
        pool = bs * pools
        expected = sum(min(pool, len(LENGTHS) - st) // bs for st in range(0, len(LENGTHS), pool))
        assert all(len(b) == bs for b in batches), (
            f"drop_last=True, batch_size={bs}: batch sizes {[len(b) for b in batches]}, all must be {bs}"
        )
        assert len(flat) == len(set(flat)), f"drop_last=True, batch_size={bs}: an index appears twice"
        assert len(batches) == expected == len(s), (
            f"drop_last=True, batch_size={bs}, pool_batches={pools}: {len(batches)} batches, "
            f"len() says {len(s)}, expected {expected} (each pool drops only its own short batch)"
        )


def test_len_without_drop_last_and_tiny_datasets():
    for lengths, bs, pools in ((LENGTHS, 4, 4), (LENGTHS, 6, 3), ([5], 4, 2), ([1, 2, 3], 8, 1),
                               (LENGTHS, 1, 1), ([3] * 10, 5, 2)):
        s = BucketBatchSampler(lengths, bs, pool_batches=pools, seed=1)
        batches = list(s)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths))), (
            f"{len(lengths)} items, batch_size={bs}, pool_batches={pools}: not every index once"
        )
        assert len(s) == len(batches), (
            f"{len(lengths)} items, batch_size={bs}, pool_batches={pools}: len() {len(s)}, "
            f"yielded {len(batches)}"
        )


def test_shuffle_false_ignores_the_epoch():
    s = BucketBatchSampler(LENGTHS, 4, shuffle=False)
    first = list(s)
    s.set_epoch(3)
    assert list(s) == first, "shuffle=False: the batches must not depend on the epoch"


def test_pad_collate_features_dtypes_pad_value():
    ds = VarLenDataset([2, 4, 1], feature_shape=(3,), dtype=torch.float32)
    out = pad_collate([ds[1], ds[0], ds[2]], pad_value=-1.0)
    t = out["tokens"]
    assert t.shape == (3, 4, 3) and t.dtype == torch.float32, (
        f"items of shape (L, 3): tokens must be (B, T, 3) float32, got {tuple(t.shape)} {t.dtype}"
    )
    assert torch.equal(t[1, :2], ds[0]["tokens"]) and (t[1, 2:] == -1).all(), (
        "padding goes at the end of each sequence, filled with pad_value, feature dims kept"
    )
    assert out["mask"].shape == (3, 4) and out["mask"].sum().item() == 7, (
        f"mask must be (B, T) with one entry per position, got {tuple(out['mask'].shape)}"
    )
    assert out["index"].tolist() == [1, 0, 2], "index keeps the batch order"
    i32 = VarLenDataset([2, 3], dtype=torch.int32)
    assert pad_collate([i32[0], i32[1]])["tokens"].dtype == torch.int32, "keep the items' dtype"


def test_pad_collate_single_and_empty():
    ds = VarLenDataset([0, 0, 6])
    one = pad_collate([ds[2]])
    assert one["tokens"].shape == (1, 6) and one["mask"].all(), "a batch of one needs no padding"
    empty = pad_collate([ds[0], ds[1]])
    assert empty["tokens"].shape == (2, 0) and empty["mask"].shape == (2, 0), (
        f"all items empty: tokens and mask of shape (2, 0), got {tuple(empty['tokens'].shape)}, "
        f"{tuple(empty['mask'].shape)}"
    )
    assert empty["lengths"].tolist() == [0, 0] and empty["lengths"].dtype == torch.int64


def test_two_epochs_through_two_workers():
    lengths = LENGTHS[:30]
    ds = VarLenDataset(lengths)
    s0 = BucketBatchSampler(lengths, 4, seed=9)
    s2 = BucketBatchSampler(lengths, 4, seed=9)
    l0 = DataLoader(ds, batch_sampler=s0, collate_fn=pad_collate, num_workers=0)
    l2 = DataLoader(ds, batch_sampler=s2, collate_fn=pad_collate, num_workers=2,
                    persistent_workers=True)
    assert len(l2) == len(s2), f"len(DataLoader) {len(l2)} != len(sampler) {len(s2)}"
    epochs = []
    for epoch in range(2):
        s0.set_epoch(epoch)
        s2.set_epoch(epoch)
        a, b = list(l0), list(l2)
        assert [x["index"].tolist() for x in a] == [x["index"].tolist() for x in b], (
            f"epoch {epoch}: 2 workers (persistent) gave other batches than 0 workers"
        )
        assert all(torch.equal(x["tokens"], y["tokens"]) for x, y in zip(a, b))
        epochs.append([x["index"].tolist() for x in a])
    assert epochs[0] != epochs[1], "set_epoch(1) must reshuffle, also with persistent workers"
