"""Which torchatlas code built an index: a fingerprint per part of the code that decides its answers.

An index is updated incrementally: a file whose content did not change keeps the facts it was
parsed into and the answers its references were given. That is right while torchatlas's own code
stays the same, and wrong after it changes (an upgrade, or a developer's edit): the unchanged
files keep what the old parser stored and the old resolver answered, with full confidence (seen:
a cached index still answering `self.base_dist.log_prob` unresolved after the resolver learnt
it). SCHEMA_VERSION covers changes of the tables, and used to be bumped by hand for every parser
change; these fingerprints make that automatic, and cheap where they can:

- parser: the code that turns a file into definitions, references and registrations -> every file
  is parsed again (a full build into a new file; the old index answers until it is done)
- linker: the code that resolves references -> every reference is resolved again (the link step
  alone, a few seconds)
- dispatch: the code that resolves every operator under every key -> the dispatch stage again

Each is a hash of the modules' bytes (read once per process, ~1 ms): what matters is whether the
code differs, not which version number it carries. `tests/test_code_version.py` checks that each
list holds every module its roots import, so a new module cannot be forgotten.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

_HERE = Path(__file__).parent

# Module files (relative to indexes/) whose code decides each part's stored facts.
PARTS: dict[str, tuple[str, ...]] = {
    "parser": ("code_index.py", "code_facts.py", "py_parser.py", "python_signatures.py", "cpp_parser.py",
               "gc_pause.py", "cpp/__init__.py", "cpp/blanking.py", "cpp/calls.py", "cpp/conditionals.py",
               "cpp/context.py", "cpp/definitions.py", "cpp/idioms.py", "cpp/macros.py", "cpp/parse.py",
               "cpp/registrations.py", "cpp/scopes.py", "cpp/text.py", "cpp/treesitter.py"),
    "linker": ("link.py", "link_model.py", "link_python.py", "link_cpp.py", "python_signatures.py", "ranking.py",
               "py_parser.py", "code_facts.py", "cpp/text.py", "gc_pause.py"),
    "dispatch": ("resolver.py", "cpp_registrations.py", "python_registrations.py", "yaml_index.py",
                 "dispatch_keys.py", "graph.py", "bindings.py", "_torchgen_extract.py", "model.py", "sources.py",
                 "settings.py", "errors.py", "gc_pause.py"),
}
# The modules each part starts from: the test follows their imports within indexes/ and expects
# every module it reaches in PARTS (others may be listed: what a root imports lazily, by name).
ROOTS: dict[str, tuple[str, ...]] = {
    "parser": ("py_parser.py", "cpp_parser.py"),
    "linker": ("link_python.py", "link_cpp.py"),
    "dispatch": ("resolver.py", "cpp_registrations.py", "python_registrations.py", "bindings.py", "graph.py"),
}
# The meta key each fingerprint is stored under (dispatch_code predates the others).
META_KEYS = {"parser": "parser_code", "linker": "linker_code", "dispatch": "dispatch_code"}


@functools.lru_cache(maxsize=None)
def fingerprint(part: str) -> str:
    """16 hex digits that change whenever one of `part`'s modules does."""
    h = hashlib.sha1()
    for name in PARTS[part]:
        h.update(name.encode() + b"\0")
        try:
            h.update((_HERE / name).read_bytes())
        except OSError:  # a module missing from an installation: its name alone
            pass
    return h.hexdigest()[:16]


def fingerprints(*parts: str) -> dict[str, str]:
    """{meta key: fingerprint} for `parts`, to store in an index's meta table."""
    return {META_KEYS[p]: fingerprint(p) for p in parts}


def changed_parts(meta: dict, parts: tuple[str, ...] = ("parser", "linker", "dispatch")) -> tuple[str, ...]:
    """The parts whose code differs from the code that built the index with this `meta`. A part
    without a fingerprint was not built (an index made with --no-code has no parser's or
    linker's): nothing of it can be stale. (Indexes older than the fingerprints are an older
    format, rebuilt as such.)"""
    return tuple(p for p in parts if meta.get(META_KEYS[p], fingerprint(p)) != fingerprint(p))


_WHAT = {"parser": "parser", "linker": "reference resolver", "dispatch": "dispatch resolver"}


def describe(parts: tuple[str, ...]) -> str:
    """'parser and reference resolver', for a message."""
    names = [_WHAT[p] for p in parts]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
