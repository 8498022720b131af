"""How errors reach the user: one line of what and where, one of what to do, an exit code."""

from __future__ import annotations

import sys

from torchatlas.indexes.errors import AtlasError


def report(e: BaseException) -> int:
    if isinstance(e, AtlasError):
        print(f"torchatlas: {e}", file=sys.stderr)
        return e.exit_code
    raise e
