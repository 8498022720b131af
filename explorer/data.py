"""What the explorer shows, computed from the index: no Textual here.

Every view of the explorer is built from one of the models below (OpModel, SymbolModel, FileModel,
CallableModel, TraceModel). They are plain data, built in a worker thread from an `Atlas` (the
index opened once per thread: sqlite3 connections belong to the thread that made them) and handed
to the UI, so a slow query never blocks a keystroke, and the bench and the tests can build them
without a terminal.

A `Target` names a node of the graph: an operator, a Python callable, a definition, a file (at a
line), a trace. Every link the explorer shows carries one.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from torchatlas.indexes.code_queries import (KIND_RANK, Hit, Ref, callees, callers, find, private_parts, refs,
                                             resolve_symbol)
from torchatlas.indexes.dispatch_keys import ALIAS_KEYS, KEY_HELP, KIND_HELP, RUNTIME_KEYS
from torchatlas.indexes.errors import AtlasError, NotFound
from torchatlas.indexes.lookups import (bindings_of, definitions_at, definitions_in, file_lang, file_named, file_paths,
                                        includes_of, python_callables)
from torchatlas.indexes.model import DispatchEntry, SourceInfo
from torchatlas.indexes.queries import normalize, ops_bound_to, resolve_ops, suggest
from torchatlas.indexes.ranking import location_noise
from torchatlas.indexes.store import Index

# -- targets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A node the explorer can show. `line` anchors symbols and files; `key` picks a dispatch key."""

    kind: str  # home | op | callable | symbol | file | trace | tour | lab | rehearsals
    name: str = ""
    path: str = ""
    line: int = 0
    key: str = ""

    @property
    def label(self) -> str:
        if self.kind == "home":
            return "home"
        if self.kind == "file":
            base = self.name.rsplit("/", 1)[-1]
            return f"{base}:{self.line}" if self.line > 1 else base
        if self.kind == "trace":
            return f"trace {self.name} [{self.key or 'CPU'}]"
        return self.name

    @property
    def location(self) -> str | None:
        """`path:line` in the source, when the node has one."""
        if self.kind in ("symbol", "file") and (self.path or self.name):
            return f"{self.path or self.name}:{self.line or 1}"
        return None


HOME = Target("home")


def display_root(root) -> str:
    """How the home banner names the source's root (a seam the snapshot tests pin)."""
    return str(root)


def split_location(loc: str | None) -> tuple[str, int]:
    if not loc:
        return "", 0
    path, sep, line = loc.rpartition(":")
    if sep and line.isdigit():
        return path, int(line)
    return loc, 0


def target_of_hit(h: Hit) -> Target:
    path, line = split_location(h.location)
    if h.kind == "operator":
        return Target("op", h.qualname)
    if h.kind == "callable":
        return Target("callable", h.qualname)
    if h.kind == "file":
        return Target("file", path, path, 1)
    if h.kind == "tour":
        return Target("tour", h.qualname)
    if h.kind == "lab":
        return Target("lab", h.qualname)
    if h.kind == "rehearsals":
        return Target("rehearsals", h.qualname)
    if h.kind == "registration":
        return Target("file", path, path, line)
    return Target("symbol", h.qualname, path, line)


def target_of_location(loc: str | None, name: str = "") -> Target | None:
    path, line = split_location(loc)
    if not path:
        return None
    if name:
        return Target("symbol", name, path, line)
    return Target("file", path, path, line or 1)


# -- the index, per thread -------------------------------------------------------------------------

class Atlas:
    """One index, opened once per thread that asks (sqlite3 connections are per thread)."""

    def __init__(self, db: Path):
        self.db = Path(db)
        self._local = threading.local()
        first = Index(self.db)  # raises BadIndex for a missing, foreign, corrupt or old index
        self._local.index = first
        self.meta = first.meta
        self.source: SourceInfo = first.source
        self.root = Path(self.source.root)
        self.has_code = first.count("files") > 0
        self._lines: OrderedDict[str, list[str] | None] = OrderedDict()
        self._lines_lock = threading.Lock()
        self._callables: list[str] | None = None
        self._by_base: dict[str, list[str]] | None = None
        self._search_lock = threading.Lock()
        self._search_index: Index | None = None

    def index(self) -> Index:
        idx = getattr(self._local, "index", None)
        if idx is None:
            idx = self._local.index = Index(self.db)
        return idx

    @property
    def source_present(self) -> bool:
        return self.root.is_dir()

    def source_note(self) -> str | None:
        """Say so when the source this index was built from moved or vanished."""
        if self.source_present:
            return None
        return (f"the source this index was built from is gone: {self.root} (moved or deleted); "
                "dispatch and symbol facts still work, file text cannot be shown")

    def counts(self) -> dict:
        import json
        try:
            return json.loads(self.meta.get("counts", "{}"))
        except ValueError:
            return {}

    # -- source text -------------------------------------------------------------------------------

    def lines(self, path: str) -> list[str] | None:
        """The lines of a file of the source (cached, a few files); None when it is not there."""
        with self._lines_lock:
            if path in self._lines:
                self._lines.move_to_end(path)
                return self._lines[path]
        full = self.root / path
        try:
            text = full.read_text(errors="replace")
            result: list[str] | None = text.splitlines()
        except OSError:
            result = None
        with self._lines_lock:
            self._lines[path] = result
            while len(self._lines) > 24:
                self._lines.popitem(last=False)
        return result

    def full_path(self, path: str) -> Path:
        return self.root / path

    # -- search ------------------------------------------------------------------------------------

    def search_index(self) -> Index:
        """A connection only the search uses, so a stale search can be interrupted from the UI."""
        if self._search_index is None:
            self._search_index = Index(self.db, shared=True)
        return self._search_index

    def interrupt_search(self) -> None:
        if self._search_index is not None:
            self._search_index.interrupt()

    def callables(self) -> list[str]:
        if self._callables is None:
            self._callables = list(python_callables(self.index()))
        return self._callables

    def files_by_base(self) -> dict[str, list[str]]:
        """Every file of the index by its base name (resolves #include and import targets)."""
        if self._by_base is None:
            by_base: dict[str, list[str]] = {}
            for path in file_paths(self.index()):
                by_base.setdefault(path.rsplit("/", 1)[-1], []).append(path)
            self._by_base = by_base
        return self._by_base

    def warm(self) -> None:
        """Touch what the first keystrokes need (pages of the name indexes, the callables)."""
        self.callables()
        search(self, "add")
        search(self, "zq")


# -- search ----------------------------------------------------------------------------------------

# Extra result providers: (index, query, limit) -> [Hit]. Tours register one here (hits of kind
# "tour", opened as Target("tour", qualname)).
SearchProvider = Callable[[Index, str, int], list[Hit]]
PROVIDERS: dict[str, SearchProvider] = {}


def register_provider(name: str, provider: SearchProvider) -> None:
    PROVIDERS[name] = provider


def _tour_hits(index: Index, query: str, limit: int) -> list[Hit]:
    """Tours whose id, title or theme mention the query, and every tour for "tour"/"tours": opened in
    the tour player."""
    from torchatlas.tours.loader import load_catalog
    q = query.lower().strip()
    cache = _tour_hits.__dict__.setdefault("catalog", [])
    if not cache:
        cache.append(load_catalog(builtin=True, user=True))
    hits = []
    for tour in cache[0].tours.values():
        text = f"tour tours {tour.id} {tour.title} {tour.theme}".lower()
        if q and q in text:
            where = Path(tour.path).name if getattr(tour, "path", "") else f"{tour.id}.yaml"
            hits.append(Hit("tour", tour.id, tour.id, f"{where}:1", "tour",
                            f"{tour.title} ({len(tour.steps)} steps)"))
    return hits[:limit]


register_provider("tours", _tour_hits)


# The themes of the training program (../shared/docs/CURRICULUM.md) by number: a lab names only its
# number, and a learner searches for words ("autograd", "strides"), so the search and the lab
# screen say the theme's name too.
LAB_THEMES = {
    1: "philosophy and the big picture", 2: "tensors: memory, strides, channels-last",
    3: "autograd, in-place ops, hooks", 4: "C++ autograd internals and dispatch", 5: "nn.Module from scratch",
    6: "data pipelines", 7: "profiling and tuning", 8: "TorchScript, export, TorchX",
    9: "custom ops and extensions", 10: "FX", 11: "forward-mode AD, C++ frontend", 12: "optimization practice",
    13: "distributed: DDP, RPC, model parallel", 14: "FSDP and pipelines", 15: "edge deployment", 16: "ONNX",
    17: "interpretability and debugging", 18: "pipelines and MLOps", 19: "multimodal",
}


def theme_name(theme: int) -> str:
    return LAB_THEMES.get(theme, "domain deep dives and contribution" if 20 <= theme <= 28 else "")


_LAB_CATALOGS: dict[str, object] = {}
_LAB_LOCK = threading.Lock()


def lab_catalog():
    """The labs (shipped ones and TORCHATLAS_LABS_PATH's), loaded once per value of that variable:
    a search runs per keystroke, and eleven lab.yaml files take ~50 ms to read."""
    from torchatlas.contrib.loader import load_labs
    key = os.environ.get("TORCHATLAS_LABS_PATH", "")
    with _LAB_LOCK:
        cat = _LAB_CATALOGS.get(key)
        if cat is None:
            cat = _LAB_CATALOGS[key] = load_labs()
    return cat


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _lab_words_match(query: str, text: str) -> bool:
    """Every word of the query starts a word of the text ("autograd" finds autograd-function and
    autograd.Function, "channels_last" finds channels-last; "add" does not find "padding")."""
    words = _words(text)
    return all(any(t.startswith(q) for t in words) for q in _words(query))


def _lab_hits(index: Index, query: str, limit: int) -> list[Hit]:
    """Labs whose id, title or theme (its number or its words) mention the query, and every lab for
    "lab"/"labs": opened in the lab screen."""
    q = query.strip()
    if not _words(q) or (len(q) < 2 and not q.isdigit()):
        return []  # one letter would list every lab
    hits = []
    for lab in lab_catalog().ordered():
        text = f"lab labs {lab.id} {lab.title} theme {lab.theme} {theme_name(lab.theme)}"
        if _lab_words_match(q, text):
            # no file to point at: the search list shows this "location" as the hit's description
            hits.append(Hit("lab", lab.id, lab.id, f"theme {lab.theme} · {lab.mode.value} · {lab.title}", "lab",
                            lab.summary))
    return hits[:limit]


register_provider("labs", _lab_hits)


def _rehearsal_hits(index: Index, query: str, limit: int) -> list[Hit]:
    """The history of `torchatlas pr rehearse`, found by "rehearsal", "rehearse", "pr", "pull"."""
    q = query.strip().lower()
    if len(q) < 2 or not any(w.startswith(q) for w in ("rehearsals", "rehearse", "pr", "pull request", "history")):
        return []
    return [Hit("rehearsals", "PR rehearsals", "rehearsals", "the history of torchatlas pr rehearse", "pr",
                "what was done, and what the bot said")]


register_provider("rehearsals", _rehearsal_hits)


def _rank(q: str, h: Hit) -> int:
    if h.kind == "lab" and q.lower() in ("lab", "labs"):
        return 0  # "lab" lists the labs first, before symbols that happen to start with "lab"
    if h.kind == "rehearsals":
        return 0  # its provider only answers the few words that mean it
    names = {h.name, h.qualname, h.qualname.split("::", 1)[-1], h.qualname.rsplit(".", 1)[-1]}
    if h.kind == "operator":
        names.add(h.name.split(".", 1)[0])
    if q in names or q.startswith("aten::") and q == h.qualname:
        return 0
    if any(n.startswith(q) for n in names):
        return 1
    return 2


def _score(q: str, h: Hit) -> tuple:
    if h.kind == "lab":  # equal labs keep the catalog's order (by theme): the sort is stable
        return (_rank(q, h), 0.35, 0, 0, "")
    kind_rank = {"tour": 0.3, "lab": 0.35, "callable": 0.5}.get(h.kind, KIND_RANK.get(h.kind, 8))
    return (_rank(q, h), kind_rank, location_noise(h.location), private_parts(h.qualname), len(h.qualname),
            h.qualname)


def search(atlas: Atlas, query: str, limit: int = 40) -> list[Hit]:
    """`torchatlas find`'s ranking (code_queries.find), plus the Python callables the index binds
    (torch.add opens the callable: its operators and its trace) and any registered providers."""
    q = query.strip()
    if not q:
        return []
    with atlas._search_lock:
        idx = atlas.search_index()
        hits = find(idx, q, limit=limit)
        extra: list[Hit] = []
        found = {h.qualname for h in hits if h.kind == "callable"}  # find names an exact one itself
        for name in _callable_matches(atlas, q, limit):
            if name in found:
                continue
            extra.append(Hit("callable", name.rsplit(".", 1)[-1], name, "", "python", "Python callable"))
        for provider in PROVIDERS.values():
            try:
                extra.extend(provider(idx, q, limit))
            except Exception:  # noqa: BLE001 - a provider's failure must not break the search
                continue
    if not extra:
        return hits
    merged = sorted(hits + extra, key=lambda h: _score(q, h))
    return merged[:limit]


def _callable_matches(atlas: Atlas, q: str, limit: int) -> list[str]:
    out = []
    for name in atlas.callables():
        if q == name or name.endswith("." + q) or name.startswith(q) or (len(q) >= 3 and q in name):
            out.append(name)
    out.sort(key=lambda n: (0 if q in (n, n.rsplit(".", 1)[-1]) else 1 if n.startswith(q) else 2, len(n), n))
    return out[:limit]


# -- resolving what the user typed -----------------------------------------------------------------

@dataclass
class Resolved:
    target: Target | None
    note: str = ""  # said in a notification when the target differs from what was asked
    suggestions: list[str] = field(default_factory=list)


def preferred_op(ops: list[str]) -> str:
    """Of the overloads a name stands for, the one a reader means: the default, else .Tensor."""
    for o in ops:
        if "." not in o.split("::", 1)[1]:
            return o
    for o in ops:
        if o.endswith(".Tensor"):
            return o
    return ops[0]


def resolve_name(atlas: Atlas, name: str) -> Resolved:
    """What `torchatlas explore NAME` opens: an operator, a Python callable, a definition, a file."""
    idx = atlas.index()
    text = name.strip()
    if not text:
        return Resolved(HOME)
    norm = normalize(text)
    if text.startswith("torch.") and not text.startswith("torch.ops."):
        if ops_bound_to(idx, text):
            return Resolved(Target("callable", text))
    if not text.startswith("torch.") or text.startswith("torch.ops."):
        if "::" not in norm or norm.startswith("aten::"):
            try:
                ops = resolve_ops(idx, text)
                return Resolved(Target("op", preferred_op(ops)))
            except NotFound:
                pass
    hits = resolve_symbol(idx, text)
    if hits:
        h = hits[0]
        path, line = split_location(h.location)
        # a public name (torch.nn.Linear) or an inherited member (torch.nn.Linear.parameters): the
        # view's title names the definition, so say which name it was reached by
        note = f"{text} is defined as {h.qualname}" if "." in text and "::" not in text and h.qualname != text else ""
        return Resolved(Target("symbol", h.qualname, path, line), note=note)
    path = file_named(idx, text)
    if path:
        return Resolved(Target("file", path, path, 1))
    # at::native::add_out, at::add_out, at::_ops::add_out: the C++ names of an operator
    base = text.replace("::", ".").rsplit(".", 1)[-1]
    for cand in (base[:-4] + ".out" if base.endswith("_out") else None, base):
        if cand and (idx.op("aten::" + cand) or idx.ops_named(cand)):
            op = "aten::" + cand if idx.op("aten::" + cand) else preferred_op(idx.ops_named(cand))
            return Resolved(Target("op", op), note=f"{text} is not defined in this source; it names the operator "
                                                   f"{op}, shown instead")
    sugg = [h.qualname for h in find(idx, base, limit=5)] or suggest(idx, norm)
    return Resolved(None, note=f"nothing named {text!r} in this index", suggestions=sugg)


# -- the live dispatcher ---------------------------------------------------------------------------

LiveReader = Callable[[list[str]], object]  # ops -> runtime.LiveTable


def live_availability(source: SourceInfo) -> tuple[bool, str]:
    """Whether a live column makes sense: only when the installed torch is this source's version."""
    from torchatlas.indexes.sources import installed_version
    installed = installed_version()
    if installed is None:
        return False, "live column off: no torch is installed in this Python, so there is no dispatcher to ask"
    if installed.split("+")[0] != source.version.split("+")[0]:
        return False, (f"live column off: the installed torch is {installed}, this source is {source.version} "
                       "(a comparison needs the same version)")
    return True, f"live column: the dispatcher of torch {installed} (installed)"


def default_live_reader(ops: list[str]):
    from torchatlas.indexes.runtime import read_live
    return read_live(ops)


def live_mark(entry: DispatchEntry, live_entry, cuda_built: bool = True) -> tuple[str, str]:
    """(mark, text): '=' agrees, '~' expected to differ (no CUDA in the build), '!' disagrees."""
    lv = (live_entry.kind, live_entry.registered_in) if live_entry else ("none", None)
    if lv == (entry.kind, entry.registered_in):
        return "=", "agrees"
    if "CUDA" in entry.key and not cuda_built:
        return "~", f"{lv[0]} (CPU-only build)"
    return "!", f"{lv[0]} {lv[1] or ''}".rstrip()


# -- operator --------------------------------------------------------------------------------------

GENERATED_BY = {
    "Register": "torchgen/gen.py writes it from native_functions.yaml at build time",
    "VariableType": "tools/autograd/gen_variable_type.py writes it from derivatives.yaml at build time",
    "ADInplaceOrView": "tools/autograd/gen_inplace_or_view_type.py writes it at build time",
    "TraceType": "tools/autograd/gen_trace_type.py writes it at build time",
}


def generated_by(registered_in: str) -> str | None:
    if "/" in registered_in:
        return None
    for prefix, text in GENERATED_BY.items():
        if registered_in.startswith(prefix):
            return text
    return "generated at build time"


@dataclass
class YamlSnippet:
    path: str
    start: int  # 1-based line of lines[0]
    lines: list[str]
    anchor: int


@dataclass
class OpModel:
    op: str
    rec: dict
    overloads: list[str]
    related: list[str]  # in-place / out= / functional siblings under other names (add_, add.out, ...)
    entries: list[DispatchEntry]
    derivatives: list[dict]
    yaml: YamlSnippet | None
    generated: list[tuple[str, list[str], str | None]]  # (registered_in, keys, generated_by or None)
    source: SourceInfo

    @property
    def schema(self) -> str:
        return self.rec.get("schema") or self.rec.get("origin") or ""


def yaml_entry(atlas: Atlas, defined_at: str | None, context: int = 2, cap: int = 60) -> YamlSnippet | None:
    path, line = split_location(defined_at)
    if not path or not line:
        return None
    lines = atlas.lines(path)
    if lines is None or line > len(lines):
        return None
    end = line
    while end < len(lines) and end - line < cap and not lines[end].startswith("- "):
        end += 1
    start = max(1, line - context)
    stop = min(len(lines), end + 1)
    return YamlSnippet(path, start, lines[start - 1:stop], line)


def op_model(atlas: Atlas, op: str) -> OpModel:
    idx = atlas.index()
    rec = idx.op(op)
    if rec is None:
        raise NotFound(f"no operator named {op!r} in this index", suggest(idx, op))
    name = rec.get("name") or op.split("::", 1)[1].split(".", 1)[0]
    overloads = idx.ops_named(name)
    related = []
    stem = name[:-1] if name.endswith("_") else name
    for other in (stem, stem + "_"):
        if other != name:
            related.extend(idx.ops_named(other))
    entries = list(idx.dispatch(op).values())
    gen: OrderedDict[str, list[str]] = OrderedDict()
    for e in entries:
        if e.registered_in:
            gen.setdefault(e.registered_in, []).append(e.key)
    generated = [(f, keys, generated_by(f)) for f, keys in gen.items()]
    return OpModel(op=op, rec=rec, overloads=overloads, related=related, entries=entries,
                   derivatives=idx.derivatives(op), yaml=yaml_entry(atlas, rec.get("defined_at")),
                   generated=generated, source=atlas.source)


def key_explanation(key: str) -> str:
    k = RUNTIME_KEYS.get(key)
    if k is None:
        return KEY_HELP.get(key, "")
    if k.functionality == "Other":
        return {"MkldnnCPU": "tensors in oneDNN's opaque layout", "ZeroTensor": "a tensor known to be all zeros "
                "(forward-mode AD tangents)"}.get(key, "")
    if k.functionality == "Autograd":
        return f"autograd for {k.backend} tensors: runs before the backend key, records the backward graph"
    func = {"Dense": "dense (strided)", "Sparse": "sparse COO", "SparseCsr": "sparse compressed (CSR/CSC/BSR/BSC)",
            "Quantized": "quantized", "NestedTensor": "nested"}.get(k.functionality, k.functionality)
    return f"{func} tensors on {k.backend}"


def aliases_in(entry: DispatchEntry) -> list[str]:
    text = " ".join(entry.via) + " " + (entry.registered_in or "")
    return [a for a in ALIAS_KEYS if a in text and not any(b != a and a in b and b in text for b in ALIAS_KEYS)]


def kind_help(kind: str) -> str:
    return KIND_HELP.get(kind, "")


def kernel_target(atlas: Atlas, entry: DispatchEntry) -> tuple[Target | None, str]:
    """Where following a dispatch entry leads: the kernel's definition, or why there is none here."""
    if entry.kernel and entry.defined_at:
        path, line = split_location(entry.defined_at)
        return Target("symbol", entry.kernel, path, line), ""
    if entry.kind == "fallback" and entry.registered_in and "/" in entry.registered_in:
        via_loc = next((v.rsplit(": ", 1)[-1] for v in entry.via if "backend fallback" in v), "")
        path, line = split_location(via_loc)
        return Target("file", entry.registered_in, entry.registered_in, line or 1), ""
    if not entry.kernel:
        return None, f"{entry.key}: {kind_help(entry.kind) or 'no kernel'}"
    if entry.kernel.startswith("VariableType::"):
        return None, (f"{entry.kernel} is generated into VariableType.cpp by tools/autograd/gen_variable_type.py "
                      "at build time: not in this source (see the Autograd tab for its formulas)")
    hits = resolve_symbol(atlas.index(), entry.kernel) if atlas.has_code else []
    if hits:
        path, line = split_location(hits[0].location)
        return Target("symbol", hits[0].qualname, path, line), ""
    if entry.declared_at:  # no body in the package: its at::native declaration in ATen/ops/<op>_native.h
        path, line = split_location(entry.declared_at)
        return Target("file", path, path, line or 1), ""
    where = "the installed package ships headers, not .cpp files: index a checkout to see it" \
        if atlas.source.layout == "package" else "it is generated at build time"
    return None, f"{entry.kernel} has no definition in this index ({where})"


# -- Python callable -------------------------------------------------------------------------------

@dataclass
class CallableModel:
    name: str
    ops: list[tuple[str, str, str]]  # (op, schema, via)
    definitions: list[Hit]


def callable_model(atlas: Atlas, name: str) -> CallableModel:
    idx = atlas.index()
    bound = bindings_of(idx, name)
    if not bound:
        raise NotFound(f"{name!r} binds no operator in this index",
                       [h.qualname for h in search(atlas, name.rsplit(".", 1)[-1], limit=5)])
    ops = []
    for b in bound:
        rec = idx.op(b.op) or {}
        ops.append((b.op, rec.get("schema") or "", b.via))
    defs = resolve_symbol(idx, name) if atlas.has_code else []
    return CallableModel(name=name, ops=ops, definitions=defs[:10])


# -- code: symbols and files -----------------------------------------------------------------------

LEXERS = {".py": "python", ".pyi": "python", ".cpp": "cpp", ".cc": "cpp", ".h": "cpp", ".hpp": "cpp", ".cu": "cpp",
          ".cuh": "cpp", ".mm": "cpp", ".c": "c", ".yaml": "yaml", ".yml": "yaml", ".txt": "text", ".md": "markdown",
          ".cmake": "cmake", ".json": "json"}


def lexer_for(path: str) -> str:
    return LEXERS.get(os.path.splitext(path)[1], "text")


@dataclass
class CodeWindow:
    path: str
    start: int  # 1-based number of lines[0]
    lines: list[str]
    anchor: int
    total: int
    missing: str = ""  # why there is no text

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1


def code_window(atlas: Atlas, path: str, anchor: int, before: int = 20, after: int = 220,
                end_line: int | None = None) -> CodeWindow:
    lines = atlas.lines(path)
    if lines is None:
        why = atlas.source_note() or f"{path}: not found in the source ({atlas.root})"
        return CodeWindow(path, 1, [], anchor, 0, missing=why)
    anchor = max(1, min(anchor or 1, len(lines) or 1))
    start = max(1, anchor - before)
    stop = min(len(lines), max(anchor + after, (end_line or 0) + 5))
    return CodeWindow(path, start, lines[start - 1:stop], anchor, len(lines))


@dataclass
class SymbolModel:
    target: Target
    hit: Hit | None  # the definition shown
    others: list[Hit]  # other definitions of the same name
    code: CodeWindow
    end_line: int | None = None


def symbol_model(atlas: Atlas, target: Target) -> SymbolModel:
    idx = atlas.index()
    hits = resolve_symbol(idx, target.name) if target.name else []
    chosen = None
    if target.path:
        for h in hits:
            p, line = split_location(h.location)
            if p == target.path and (not target.line or line == target.line):
                chosen = h
                break
        if chosen is None:
            chosen = next((h for h in hits if split_location(h.location)[0] == target.path), None)
    if chosen is None and hits and not target.path:
        chosen = hits[0]
    if chosen is None and target.path and target.line:
        # a kernel named by its registration (ufunc_add_CPU) whose body is a definition of another name
        there = definitions_at(idx, target.path, target.line)
        if there:
            d = there[0]
            chosen = Hit(d.kind, d.name, d.qualname, f"{target.path}:{target.line}", d.lang, d.signature)
    path, line = (split_location(chosen.location) if chosen else (target.path, target.line))
    if not path:
        raise NotFound(f"no definition named {target.name!r} in this index",
                       [h.qualname for h in find(idx, target.name.replace("::", ".").rsplit(".", 1)[-1], limit=5)])
    if target.line and chosen is None:
        line = target.line
    end_line = max((d.end_line for d in definitions_at(idx, path, line)), default=None)
    others = [h for h in hits if h is not chosen][:50]
    code = code_window(atlas, path, line, before=8, after=120, end_line=min(end_line or 0, line + 400))
    return SymbolModel(target=Target("symbol", target.name, path, line), hit=chosen, others=others, code=code,
                       end_line=end_line)


@dataclass
class Uses:
    refs: list[Ref]
    callers: list[Ref]
    callees: list[tuple[Ref, str | None]]


def symbol_uses(atlas: Atlas, qualname: str) -> Uses:
    """Refs, callers and callees: the slower half of a symbol view, loaded after it is shown."""
    idx = atlas.index()
    r = refs(idx, qualname, limit=300)
    c = [x for x in r if x.kind in ("call", "dispatch")] if len(r) < 300 else callers(idx, qualname, limit=300)
    try:
        ce = callees(idx, qualname)[:300]
    except NotFound:
        ce = []
    return Uses(refs=r, callers=c, callees=ce)


def operator_callers(atlas: Atlas, op: str) -> list[Ref]:
    """Who calls an operator: the calls of its Python entry points and of its C++ API."""
    return callers(atlas.index(), op, limit=300)


@dataclass
class FileModel:
    target: Target
    lang: str
    code: CodeWindow
    symbols: list[tuple[str, str, int]]  # (kind, qualname, line)
    includes: list[tuple[str, int, str | None]]  # (target as written, line, path in the index or None)


def file_model(atlas: Atlas, target: Target) -> FileModel:
    idx = atlas.index()
    path = target.path or target.name
    indexed_as = file_lang(idx, path)
    lang = indexed_as or lexer_for(path)
    symbols: list[tuple[str, str, int]] = []
    includes: list[tuple[str, int, str | None]] = []
    if indexed_as:
        symbols = [(d.kind, d.qualname, d.location.line) for d in definitions_in(idx, path)]
        includes = [(i.target, i.location.line, _include_path(atlas, i.target, lang)) for i in includes_of(idx, path)]
    code = code_window(atlas, path, target.line or 1, before=20 if (target.line or 1) > 1 else 0, after=280)
    return FileModel(target=Target("file", path, path, target.line or 1), lang=lang, code=code, symbols=symbols,
                     includes=includes)


def _include_path(atlas: Atlas, written: str, lang: str) -> str | None:
    """The file of the index an #include or import names, when there is one."""
    by_base = atlas.files_by_base()
    if lang == "python":
        parts = written.split(".")
        for n in range(len(parts), 0, -1):
            base = "/".join(parts[:n])
            for cand in (base + ".py", base + "/__init__.py"):
                if cand in by_base.get(cand.rsplit("/", 1)[-1], ()):
                    return cand
        return None
    cands = [p for p in by_base.get(written.rsplit("/", 1)[-1], ()) if p == written or p.endswith("/" + written)]
    return min(cands, key=len) if cands else None


# -- trace -----------------------------------------------------------------------------------------

@dataclass
class TraceModel:
    start: str
    op: str
    key: str
    steps: list  # trace.TraceStep


def trace_model(atlas: Atlas, start: str, key: str = "CPU") -> TraceModel:
    from torchatlas.indexes.trace import trace
    op = None
    if start.startswith("aten::"):
        op = start
    chosen, steps = trace(atlas.index(), start, key=key or "CPU", op=op)
    return TraceModel(start=start, op=chosen, key=key or "CPU", steps=steps)


# -- one entry point for the UI --------------------------------------------------------------------

def load(atlas: Atlas, target: Target):
    """The model of a target (raises AtlasError subclasses with a hint when it cannot)."""
    if target.kind == "op":
        return op_model(atlas, target.name)
    if target.kind == "callable":
        return callable_model(atlas, target.name)
    if target.kind == "symbol":
        return symbol_model(atlas, target)
    if target.kind == "file":
        return file_model(atlas, target)
    if target.kind == "trace":
        return trace_model(atlas, target.name, target.key)
    if target.kind == "home":
        return None
    raise AtlasError(f"the explorer cannot show a {target.kind} yet", hint="tours are coming in a later version")
