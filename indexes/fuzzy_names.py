"""Names of the index a typo away from a word: the "did you mean" of find, callers, refs, callees.

Why: difflib over every distinct definition name (60-70k) costs about a second, and a query must
stay under 0.5 s as a whole process. So a small pool of likely names is read from SQLite first and
difflib ranks only those:

1. names that start like the word, or like the word with the usual typos in its first two letters
   (those two swapped, the second one dropped or doubled, an extra first letter, the first
   letter's case): a few range scans of the name index, a few thousand names at most;
2. only when none of those is close (a typo in the first letter, a miss): names of about the
   word's length that share some of its three-letter pieces, one scan of the name index in C.

A miss (a word close to nothing) pays both, ~50 ms on the v2.6.0 tree on a quiet machine.
"""

from __future__ import annotations

import difflib

POOL_LIMIT = 20_000  # names read per prefix or for the fallback scan
MAX_PIECES = 5  # three-letter pieces of the word the fallback scan tests


def prefixes(word: str) -> list[str]:
    """Two-letter prefixes the intended name may start with, given typos in the word's first letters."""
    out = {word[:2], word[:1].swapcase() + word[1:2]}
    if len(word) >= 3:
        out |= {word[1] + word[0], word[0] + word[2], word[1:3]}
    return sorted(p for p in out if len(p) == 2)


def pieces(word: str, most: int = MAX_PIECES) -> list[str]:
    """Up to `most` distinct three-letter pieces of `word`, spread over its length."""
    grams = list(dict.fromkeys(word[i:i + 3] for i in range(len(word) - 2)))
    if len(grams) > most:
        step = len(grams) / most
        grams = [grams[int(i * step)] for i in range(most)]
    return grams


def close_names(con, word: str, n: int = 8, cutoff: float = 0.75) -> list[str]:
    """Up to `n` distinct definition names (`defs.name`) close to `word`, closest first (difflib's
    ratio >= cutoff). `con`: a connection to an index."""
    if len(word) < 3:
        return []
    pool: set[str] = set()
    for p in prefixes(word):
        pool.update(name for (name,) in con.execute(
            "SELECT DISTINCT name FROM defs WHERE name >= ? AND name < ? LIMIT ?", (p, p + "\U0010ffff", POOL_LIMIT)))
    close = difflib.get_close_matches(word, sorted(pool), n=n, cutoff=cutoff)
    if close:
        return close
    grams = pieces(word)
    need = 1 if len(grams) <= 3 else 2
    # a name at difflib's cutoff differs from the word in length by at most about a third
    spread = len(word) // 3 + 1
    shared = " + ".join("(instr(name, ?) > 0)" for _ in grams)
    rows = con.execute(f"SELECT DISTINCT name FROM defs WHERE length(name) BETWEEN ? AND ? AND ({shared}) >= ? "
                       "LIMIT ?", (len(word) - spread, len(word) + spread, *grams, need, POOL_LIMIT))
    return difflib.get_close_matches(word, [name for (name,) in rows], n=n, cutoff=cutoff)
