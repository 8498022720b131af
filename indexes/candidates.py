"""When a name a person typed stands for several definitions: every candidate, ranked, with why.

`callers add_out` names a dozen functions (at::native::add_out, at::add_out, a test's helper...).
Picking one silently is a confident guess; answering for all without saying so hides the choice.
So the presenters show the ranked list, and the reasons of the ranking, and ask for the
qualified name to choose one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .code_queries import KIND_RANK, Hit, resolve_symbol
from .ranking import location_noise
from .model import Location
from .store import Index

_NOISE_WHY = {0: "library code", 1: "testing helper or vendored code", 2: "test code"}


@dataclass(frozen=True)
class Candidate:
    qualname: str
    kind: str
    location: Location
    lang: str
    why: str  # the reasons of its rank, in words

    def as_json(self) -> dict:
        return {"qualname": self.qualname, "kind": self.kind, "location": str(self.location), "lang": self.lang,
                "why": self.why}


def _declaration(h: Hit) -> bool:
    return h.lang == "cpp" and h.kind in ("function", "method") and (h.detail or "").rstrip().endswith(";")


def _matches(h: Hit, text: str) -> tuple[int, str]:
    q = h.qualname.replace("::", ".")
    t = text.replace("::", ".")
    if q == t:
        return 0, "its qualified name is what you typed"
    if q.endswith("." + t):
        return 1, f"its qualified name ends with {text}"
    return 2, f"only its name is {h.name}"


def rank_candidates(hits: list[Hit], text: str) -> tuple[Candidate, ...]:
    """Distinct definitions (one per qualified name: its body before its declarations), best first:
    the closer the qualified name to what was typed, then bodies before declarations, library code
    before testing code, functions before types and macros."""
    best: dict[str, tuple[tuple, Hit]] = {}
    for h in hits:
        match, _ = _matches(h, text)
        key = (match, _declaration(h), location_noise(h.location), KIND_RANK.get(h.kind, 8), h.location)
        if h.qualname not in best or key < best[h.qualname][0]:
            best[h.qualname] = (key, h)
    out = []
    for key, h in sorted(best.values(), key=lambda kh: (kh[0], kh[1].qualname)):
        _, match_why = _matches(h, text)
        reasons = [match_why, "a declaration only" if key[1] else "a definition with a body",
                   _NOISE_WHY.get(key[2], "library code"), h.kind + (f" ({h.lang})" if h.lang else "")]
        out.append(Candidate(h.qualname, h.kind, Location.parse(h.location), h.lang, "; ".join(reasons)))
    return tuple(out)


def candidates_for(index: Index, text: str) -> tuple[Candidate, ...]:
    """The ranked definitions `text` names in this index (empty when it names none)."""
    return rank_candidates(resolve_symbol(index, text), text)
