"""bpe-tokenizer: merges learned from real text (PyTorch's own docstrings), encoding that replays
them by rank, a lossless round trip, and a shorter sequence than bytes."""

import torch.nn as nn

from lab.bpe import decode, encode, train_bpe


def corpus():
    mods = [nn.Module, nn.Linear, nn.Conv2d, nn.LSTM, nn.Transformer, nn.BatchNorm1d, nn.Embedding, nn.Dropout]
    return [m.__doc__ for m in mods if m.__doc__]


def test_first_merges_on_a_small_text():
    merges = train_bpe(["aaabdaaabac"], 259)
    assert merges == [(97, 97), (97, 98), (256, 257)], (
        f"train_bpe('aaabdaaabac', 259) gave {merges}; expected [(97, 97), (97, 98), (256, 257)]: 'aa' is the most "
        "frequent pair (4, overlaps counted) and is merged left to right (-> 256 a b d 256 a b a c); then (256, 97) "
        "and (97, 98) both occur twice and the smaller pair wins; then (256, 257)")


def test_encode_replays_merges_by_rank():
    merges = [(97, 98), (98, 99), (256, 99)]  # ab, bc, (ab)c
    assert encode("abc", merges) == [258], f"encode('abc') gave {encode('abc', merges)}: merge ab first (rank 0), then ab+c"
    assert encode("bc", merges) == [257]
    assert encode("", merges) == []


def test_round_trip_and_compression_on_real_text():
    texts = corpus()
    merges = train_bpe(texts, 256 + 200)
    assert len(merges) == 200, f"asked for 200 merges, got {len(merges)}"
    total_bytes = total_ids = 0
    for t in texts + ["unseen: résumé, naïve — 変換 ✓"]:
        ids = encode(t, merges)
        assert decode(ids, merges) == t, "decode(encode(text)) is not the text: the round trip must be lossless"
        total_bytes += len(t.encode("utf-8"))
        total_ids += len(ids)
    ratio = total_ids / total_bytes
    assert ratio < 0.6, f"200 merges shrink the text only to {ratio:.2f} of its bytes (expected < 0.6)"
