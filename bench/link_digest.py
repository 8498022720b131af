#!/usr/bin/env python3
"""A sha256 over the link step's answers as the queries see them, for an index DB.

    python bench/link_digest.py INDEX.db [--dump FILE]

One line per reference: where it is (path:line), its scope, name and kind, then its status, its
targets in rank order and each one's why, as `indexes.code_queries.all_link_answers` reads them
(the same reading as refs/callers/callees, so a change of the stored format that keeps the answers
keeps the digest). The lines are sorted before hashing: a reference's rowid depends on the order
the parse workers' shards were copied in, which may differ between two builds of one source.
Also prints the count of references per status; `--dump` writes the sorted lines, to diff two builds.

Why: the link step's speed-ups must keep every answer identical; a digest over the answers (not
over the stored rows) stays comparable across a change of how they are stored.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
from pathlib import Path

from torchatlas.indexes.code_queries import all_link_answers
from torchatlas.indexes.store import Index


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db")
    ap.add_argument("--dump", help="write the sorted lines (one per reference) here")
    args = ap.parse_args()
    index = Index(Path(args.db))
    per_status: collections.Counter = collections.Counter()
    lines = []
    for _rid, r in all_link_answers(index):
        # JSON: a receiver expression may hold a tab or a newline
        lines.append(json.dumps((r.location, r.scope, r.name, r.kind, r.status, r.targets, r.why)) + "\n")
        per_status[r.status] += 1
    lines.sort()
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
    if args.dump:
        with open(args.dump, "w") as out:
            out.writelines(lines)
    print(f"{args.db}: {len(lines)} references, " + ", ".join(f"{k} {v}" for k, v in sorted(per_status.items())))
    print(f"sha256 {h.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
