"""Cross-tour links: the other tours a step points to, so a learner can follow them.

Why from the text: the narratives already say "the dispatch tour" or "tour fx" where another tour
explains what they lean on, and each tour names its `prerequisites`; reading both keeps the links
in step with what the learner reads, with no second list to maintain.
"""

from __future__ import annotations

import re

from .model import Step, Tour

_NAMED = re.compile(r"\b(?:the\s+)?`?([a-z][a-z0-9_-]*)`?\s+tour\b|\btour\s+`?([a-z][a-z0-9_-]*)`?", re.I)


def linked_tours(tour: Tour, step: Step, known: set[str] | frozenset[str]) -> tuple[str, ...]:
    """Tours (known ids, other than `tour`) that the step's narrative names, in order of mention,
    then the tour's prerequisites."""
    out: list[str] = []
    for m in _NAMED.finditer(step.narrative):
        name = (m.group(1) or m.group(2) or "").lower()
        if name in known and name != tour.id and name not in out:
            out.append(name)
    for p in tour.prerequisites:
        if p in known and p != tour.id and p not in out:
            out.append(p)
    return tuple(out)
