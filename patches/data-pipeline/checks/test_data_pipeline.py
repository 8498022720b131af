"""data-pipeline: BucketBatchSampler covers every index once per epoch, buckets by length, is
deterministic for (seed, epoch) and reshuffles with set_epoch; pad_collate pads and masks; a real
DataLoader gives the same batches with 0, 1 and 2 workers."""

import torch
from torch.utils.data import DataLoader

from lab.buckets import BucketBatchSampler, VarLenDataset, pad_collate

torch.set_num_threads(1)

LENGTHS = torch.randint(1, 65, (90,), generator=torch.Generator().manual_seed(0)).tolist()
BS, POOL = 8, 4  # pools of 32 indices: 32, 32, 26


def _sampler(**kw):
    kw = {"pool_batches": POOL, "seed": 0, **kw}
    return BucketBatchSampler(LENGTHS, BS, **kw)


def _padded(batches, lengths=LENGTHS):
    return sum(max(lengths[i] for i in b) * len(b) for b in batches)


def test_shuffle_false_gives_the_sorted_pools():
    expected = []
    for start in range(0, len(LENGTHS), BS * POOL):
        pool = sorted(range(start, min(start + BS * POOL, len(LENGTHS))), key=LENGTHS.__getitem__)
        expected += [pool[i:i + BS] for i in range(0, len(pool), BS)]
    got = list(_sampler(shuffle=False))
    assert got == expected, (
        f"with shuffle=False the pools are 0..31, 32..63, 64..89; each sorted by length (stable), cut "
        f"into batches of {BS}.\nexpected {expected[:4]} ...\ngot      {got[:4]} ..."
    )


def test_every_index_exactly_once_per_epoch():
    s = _sampler()
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(LENGTHS))), (
            f"epoch {epoch}: every index must appear exactly once; missing "
            f"{sorted(set(range(len(LENGTHS))) - set(flat))}, repeated "
            f"{sorted({i for i in flat if flat.count(i) > 1})}"
        )
        assert all(1 <= len(b) <= BS for b in batches), f"batch sizes {[len(b) for b in batches]}"
        assert len(s) == len(batches), f"len(sampler) is {len(s)} but it yielded {len(batches)} batches"


def test_same_seed_same_batches_and_set_epoch_reshuffles():
    a, b = _sampler(), _sampler()
    assert list(a) == list(b), "two samplers with the same seed and epoch must yield the same batches"
    first = list(a)
    a.set_epoch(1)
    second = list(a)
    assert {frozenset(x) for x in first} != {frozenset(x) for x in second}, (
        "set_epoch(1) must give other batches (other contents, not only another order): seed "
        "the generator from the seed AND the epoch, and shuffle before pooling"
    )
    a.set_epoch(0)
    assert list(a) == first, "set_epoch(0) again must give epoch 0's batches again"


def test_bucketing_cuts_the_padding():
    s = _sampler()
    bucketed = _padded(list(s))
    g = torch.Generator().manual_seed(1)
    random = []
    for _ in range(20):
        perm = torch.randperm(len(LENGTHS), generator=g).tolist()
        random.append(_padded([perm[i:i + BS] for i in range(0, len(perm), BS)]))
    mean_random = sum(random) / len(random)
    assert bucketed <= 0.85 * mean_random, (
        f"padded size {bucketed} with bucketing vs {mean_random:.0f} for random batches: the "
        f"batches are not grouped by length (sort each pool by length before cutting it)"
    )


def test_pad_collate_pads_and_masks():
    ds = VarLenDataset([3, 0, 5])
    out = pad_collate([ds[0], ds[1], ds[2]])
    assert set(out) >= {"tokens", "mask", "lengths", "index"}, f"keys: {sorted(out)}"
    assert out["tokens"].shape == (3, 5) and out["tokens"].dtype == torch.int64, (
        f"tokens: expected shape (3, 5) int64, got {tuple(out['tokens'].shape)} {out['tokens'].dtype}"
    )
    expected_mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert out["mask"].dtype == torch.bool and torch.equal(out["mask"], expected_mask), (
        f"mask: expected\n{expected_mask}\ngot\n{out['mask']}"
    )
    assert torch.equal(out["tokens"][0, :3], ds[0]["tokens"]) and torch.equal(out["tokens"][2], ds[2]["tokens"])
    assert (out["tokens"][~out["mask"]] == 0).all(), "padding must be pad_value (0 by default)"
    assert out["lengths"].tolist() == [3, 0, 5] and out["index"].tolist() == [0, 1, 2], (
        f"lengths {out['lengths'].tolist()}, index {out['index'].tolist()}"
    )


def _load(sampler, workers):
    loader = DataLoader(VarLenDataset(LENGTHS), batch_sampler=sampler, collate_fn=pad_collate,
                        num_workers=workers)
    return list(loader)


def test_dataloader_same_batches_with_0_1_2_workers():
    runs = {k: _load(_sampler(), k) for k in (0, 1, 2)}
    ref = runs[0]
    seen = sorted(i for b in ref for i in b["index"].tolist())
    assert seen == list(range(len(LENGTHS))), "through the DataLoader, every index once per epoch"
    for k in (1, 2):
        assert len(runs[k]) == len(ref), f"{k} workers: {len(runs[k])} batches, 0 workers: {len(ref)}"
        for i, (a, b) in enumerate(zip(ref, runs[k])):
            same = all(torch.equal(a[key], b[key]) for key in ("tokens", "mask", "index"))
            assert same, (
                f"batch {i} differs between num_workers=0 and num_workers={k}: indices "
                f"{a['index'].tolist()} vs {b['index'].tolist()}; the sampler runs in the main "
                f"process, so nothing may depend on worker state or a global RNG"
            )
