"""How much a place is worth when names tie: the library before test helpers, vendored code and tests.

Shared by the queries (find, callers, defined_at) and the link step (which of two same-named C++
definitions a call most likely means): one rule, so an answer ranks places the same way everywhere.
"""

from __future__ import annotations


def location_noise(location) -> int:
    """0 for library code, 1 for testing helpers or vendored code, 2 for tests. `location` is a
    path or `path:line` (a `Location` prints as one)."""
    path = str(location).split(":", 1)[0]
    base = path.rsplit("/", 1)[-1]
    if "/test" in path or path.startswith("test") or base.startswith("test_") or "_test." in base:
        return 2
    if "/testing/" in path or "/_vendor/" in path:
        return 1
    return 0
