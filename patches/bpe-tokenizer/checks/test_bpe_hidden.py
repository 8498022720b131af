"""bpe-tokenizer (hidden): merges equal an independent trainer's on real text, encoding equals a
reference, pairs never span two texts, decode survives a cut inside a character."""

from collections import Counter

import torch.nn as nn

from lab.bpe import decode, encode, train_bpe


def ref_train(texts, n):
    seqs = [list(t.encode()) for t in texts]
    out = []
    for k in range(n):
        c = Counter()
        for s in seqs:
            for i in range(len(s) - 1):
                c[(s[i], s[i + 1])] += 1
        best = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        if not best or best[0][1] < 2:
            break
        pair = best[0][0]
        out.append(pair)
        new = []
        for s in seqs:
            r, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    r.append(256 + k)
                    i += 2
                else:
                    r.append(s[i])
                    i += 1
            new.append(r)
        seqs = new
    return out


def test_merges_equal_reference_on_real_text():
    texts = [nn.MultiheadAttention.__doc__, nn.GRU.__doc__, nn.CrossEntropyLoss.__doc__]
    assert train_bpe(texts, 256 + 120) == ref_train(texts, 120)


def test_pairs_never_span_texts_and_early_stop():
    merges = train_bpe(["ab", "ab", "ba"], 300)
    assert (98, 98) not in merges and merges[0] == (97, 98), f"got {merges}: 'b' + 'b' across two texts is not a pair"
    assert train_bpe(["abcdef"], 300) == [], "no pair occurs twice: no merge"


def test_decode_cut_character():
    merges = train_bpe(["変換変換変換"], 260)
    ids = encode("変換", merges)
    assert decode(ids, merges) == "変換"
    raw = list("変".encode())[:2]
    assert isinstance(decode(raw, merges), str), "a cut inside a character decodes with a replacement, no exception"
