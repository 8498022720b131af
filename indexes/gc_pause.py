"""`paused_gc()`: no cyclic garbage collection inside a block (reference counting still runs).

Why: the index builders allocate hundreds of thousands of small objects that live until the step
ends (ASTs, facts, dispatch entries). Each time the allocation count crosses the GC threshold,
the cyclic collector rescans every live object, and a step's time can double for nothing: what
the step drops is freed by reference counting. Only for blocks that do not make garbage cycles.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
