"""Which C++ overload a call means, by its argument count, where the syntax allows.

The link step answers with a qualname, which stands for the whole overload set (`c10::irange`);
the index also keeps each overload's signature as written and each call's argument count
(`refs.nargs`), so the place a callee is shown at is the overload that can take that many
arguments: `c10::irange(n)` is `irange(Integer end)`, not the two-parameter one above it in the
header. A parameter with a default makes a range of counts, `...` (C varargs or a parameter pack)
an open one. When no overload fits (a signature cut short, a macro), nothing is decided here: the
first definition stands, as before.
"""

from __future__ import annotations

from .cpp.text import closing_paren, split_top_level, strip_templates


def parameter_range(signature: str | None, name: str) -> tuple[int, int | None] | None:
    """(fewest, most) arguments a function of this signature takes (most None: no limit), or None
    when the signature does not show its parameter list (a macro, an operator, a variable)."""
    if not signature or name.startswith("operator") or signature.startswith("#define"):
        return None
    start = _params_start(signature, name)
    if start < 0:
        return None
    end = closing_paren(signature, start)
    if end < 0:
        return None  # cut short (a signature is kept to one line of bounded length)
    inner = strip_templates(signature[start + 1:end]).strip()
    if not inner or inner == "void":
        return (0, 0)
    params = split_top_level(inner)
    if any("..." in p for p in params):
        fixed = [p for p in params if "..." not in p]
        return (sum(1 for p in fixed if "=" not in p), None)
    return (sum(1 for p in params if "=" not in p), len(params))


def _params_start(signature: str, name: str) -> int:
    """Index of the '(' that opens the parameter list: the first after the function's own name."""
    i = 0
    while True:
        i = signature.find(name, i)
        if i < 0:
            return -1
        before = signature[i - 1] if i else " "
        j = i + len(name)
        while j < len(signature) and signature[j] == " ":
            j += 1
        if not (before.isalnum() or before == "_") and j < len(signature) and signature[j] == "(":
            return j
        i += len(name)


def fits(signature: str | None, name: str, nargs: int) -> bool | None:
    """Whether a call with `nargs` arguments can call this overload (None: cannot tell)."""
    span = parameter_range(signature, name)
    if span is None:
        return None
    low, high = span
    return low <= nargs and (high is None or nargs <= high)


def pick_overload(rows: list, name: str, nargs: int | None):
    """The first row of `rows` ((..., signature) tuples, in their usual order) whose signature can
    take `nargs` arguments (a declaration and its definition both can); the first row when none
    can or the count is unknown."""
    if nargs is None or len(rows) < 2:
        return rows[0] if rows else None
    return next((r for r in rows if fits(r[-1], name, nargs)), rows[0])
