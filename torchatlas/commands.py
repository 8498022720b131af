"""The commands behind the CLI: open the source and its index, ask, present as text or JSON."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from torchatlas.indexes.dispatch_keys import DEFAULT_KEYS, KIND_HELP, is_runtime_key
from torchatlas.indexes.errors import AtlasError
from torchatlas.indexes.model import IndexSummary
from torchatlas.indexes.sources import Source, open_source


def run(args: argparse.Namespace) -> int:
    """Each subcommand NAME is served by the function cmd_NAME below."""
    fn = globals().get(f"cmd_{args.command}")
    if fn is None:
        raise AtlasError(f"unknown command {args.command!r}")
    return fn(args)


# -- index ---------------------------------------------------------------------------------------

class _StepPrinter:
    """Progress on stderr: a rich bar on a terminal, nothing when piped or with --json."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            self._progress = Progress(TextColumn("[bold]indexing[/]"), BarColumn(), TextColumn("{task.description}"),
                                      TimeElapsedColumn(), transient=True, console=_stderr_console())
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=6)
        return self

    def __call__(self, step: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=step, completed=done, total=total)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True)


def db_path_for(source: Source, db: str | None) -> Path:
    from torchatlas.indexes.cache_dir import default_db_path
    return Path(db).expanduser() if db else default_db_path(source)


def build(source: Source, db: Path, quiet: bool, jobs: int = 0, code: bool = True) -> IndexSummary:
    from torchatlas.indexes.pipeline import build_index

    def waiting():
        if not quiet:
            print(f"torchatlas: another index run is working on {db}; waiting for it ...", file=sys.stderr)
    with _StepPrinter(enabled=not quiet) as progress:
        return build_index(source, db, progress=progress, jobs=jobs, on_wait=waiting, code=code)


def cmd_index(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise AtlasError(f"--jobs must be 0 (all cores) or more, not {args.jobs}")
    source = open_source(args.path)
    db = db_path_for(source, args.db)
    summary = build(source, db, quiet=args.json, jobs=args.jobs, code=not args.no_code)
    if args.json:
        print(json.dumps({"source": source.info.as_json(), "db": str(db), "seconds": round(summary.seconds, 2),
                          "counts": summary.counts,
                          "problems": [{"at": str(p.location), "entry": p.entry, "message": p.message,
                                        "severity": p.severity} for p in summary.problems]}, indent=2))
        return 0
    c = summary.counts
    if "files_changed" in c:
        if not c["files_changed"] and not c.get("files_removed") and not c.get("code_changed"):
            print(f"up to date: {source.display()} ({summary.seconds:.2f} s) -> {db}")
            _hint_prunable(db)
            return 0
        print(f"updated {source.display()} in {summary.seconds:.1f} s -> {db}")
        print(f"  {c['files_changed']} changed and {c.get('files_removed', 0)} removed files: "
              f"{c['files_parsed']} re-parsed, {c['files_unchanged']} same content; dispatch "
              + ("re-resolved (one of its inputs changed)" if c.get("dispatch_rebuilt") else "unchanged"))
        if c.get("code_changed"):
            from torchatlas.indexes.code_version import describe
            print(f"  the index predates this torchatlas's {describe(tuple(c['code_changed']))}: "
                  "every reference re-resolved")
    else:
        print(f"indexed {source.display()} in {summary.seconds:.1f} s -> {db}")
        print(f"  {c['ops']} operator overloads, {c['dispatch_entries']} dispatch entries, {c['derivatives']} "
              f"derivative formulas, {c['python_bindings']} Python bindings, {c['registrations']} hand-written "
              "registrations")
        if args.no_code:
            print("  no code index (--no-code): find, refs, callers, callees, path and trace need one")
        else:
            print(f"  {c['files_parsed']} files parsed: {c['definitions']} definitions, {c['references']} references, "
                  f"{c['code_registrations']} registration idioms ({c['files_skipped']} files skipped)")
    _print_problems(summary.problems)
    _hint_prunable(db)
    return 0


def _hint_prunable(db: Path) -> None:
    """One line when the cache dir this index lives in holds indexes that cannot be used again."""
    from torchatlas.indexes.cache_dir import cache_dir, list_cache
    directory = cache_dir()
    if db.parent.resolve() != directory.resolve():
        return  # an index written elsewhere with --db: its directory is the user's business
    stale = [f for f in list_cache(directory) if f.prunable]
    if stale:
        print(f"  {_files(len(stale))} in {directory} ({_mb(sum(f.bytes for f in stale))}) cannot be used again "
              "(source gone, older format, killed runs): torchatlas cache --prune")


def cmd_cache(args: argparse.Namespace) -> int:
    from torchatlas.contrib.lab_caches import list_lab_caches, prune_lab_caches
    from torchatlas.indexes.cache_dir import cache_dir, list_cache, prune
    directory = cache_dir()
    files = list_cache(directory)
    labs = list_lab_caches(directory)
    deleted = prune(files) if args.prune else []
    deleted_labs = prune_lab_caches(labs) if args.prune else []
    files = [f for f in files if f not in deleted]
    labs = [e for e in labs if e not in deleted_labs]
    if args.json:
        print(json.dumps({"dir": str(directory), "files": [f.as_json() for f in files],
                          "deleted": [f.as_json() for f in deleted],
                          "lab_caches": [e.as_json() for e in labs],
                          "deleted_lab_caches": [e.as_json() for e in deleted_labs]}, indent=2))
        return 0
    if deleted or deleted_labs:
        print(f"deleted {_files(len(deleted) + len(deleted_labs))} "
              f"({_mb(sum(f.bytes for f in deleted) + sum(e.bytes for e in deleted_labs))}):")
        for f in deleted:
            print(f"  {f.status:<18} {_mb(f.bytes):>8}  {_what(f)}")
        for e in deleted_labs:
            print(f"  {e.status:<18} {_mb(e.bytes):>8}  {_what_lab(e)}")
    if args.prune and not (deleted or deleted_labs):
        print("nothing to prune: every index and lab cache here can still be used")
    if not files:
        print(f"no index files in {directory}" if not deleted else f"no other index files in {directory}")
    else:
        print(f"{_files(len(files))} in {directory} ({_mb(sum(f.bytes for f in files))}):")
        print(f"  {'STATE':<18} {'SIZE':>8}  SOURCE")
        for f in files:
            print(f"  {f.status:<18} {_mb(f.bytes):>8}  {_what(f)}")
    if labs:
        print(f"lab caches in {directory / 'labs'} ({_mb(sum(e.bytes for e in labs))}; the builders make "
              "them again when needed):")
        for e in labs:
            print(f"  {e.status:<18} {_mb(e.bytes):>8}  {_what_lab(e)}")
    prunable = [f.bytes for f in files if f.prunable] + [e.bytes for e in labs if e.prunable]
    if prunable:
        print(f"{len(prunable)} of them ({_mb(sum(prunable))}) cannot be used again: "
              "torchatlas cache --prune deletes them")
    return 0


def _what_lab(e) -> str:
    made = f" for {e.torch}" if e.torch else ""
    return f"{e.what}{made} ({e.path.name})"


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def _what(f) -> str:
    if f.status.startswith("leftover"):
        return f"{f.path.name} (scratch of a run that " + ("is still running)" if "running" in f.status
                                                          else "was killed)")
    if f.status == "not an index":
        return f"{f.path.name} (not a torchatlas index: left alone)"
    built = f", built {f.built_at.replace('T', ' ')[:16]}" if f.built_at else ""
    return f"{f.kind} torch {f.version}: {f.root}{built}"


def _print_problems(problems, limit: int = 20) -> None:
    if not problems:
        return
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"  {len(problems)} problems ({errors} errors, {len(problems) - errors} warnings); "
          "the rest of the index was built:", file=sys.stderr)
    for p in list(problems)[:limit]:
        print(f"    {p}", file=sys.stderr)
    if len(problems) > limit:
        print(f"    ... and {len(problems) - limit} more (torchatlas index --json lists them all)", file=sys.stderr)


def open_index(args: argparse.Namespace):
    """The index for --source/--db; built on first use (with progress on a terminal)."""
    from torchatlas.indexes.cache_dir import why_build
    from torchatlas.indexes.store import Index
    source = open_source(args.source)
    db = db_path_for(source, args.db)
    # a --db the user named is theirs: only a missing one is built; the default one is our cache
    why = why_build(db) if not args.db else ("" if db.exists() else "no index yet")
    if args.db and not why:  # the user's file: said, not rebuilt behind their back
        from torchatlas.indexes.cache_dir import stale_code
        stale = stale_code(db)
        if stale:
            again = " ".join(shlex.quote(a) for a in ["torchatlas", "index"] + ([args.source] if args.source else [])
                             + ["--db", str(db)])
            print(f"torchatlas: {stale}: its answers may be out of date (update it: {again})", file=sys.stderr)
    if why:
        if not args.json:
            doing = "updating it" if why.startswith("the index predates") else "building it (once)"
            print(f"torchatlas: {why} for {source.display()}; {doing} ...", file=sys.stderr)
        summary = build(source, db, quiet=args.json)
        if not args.json:
            _print_problems(summary.problems, limit=5)
    return Index(db)


# -- op ------------------------------------------------------------------------------------------

def cmd_op(args: argparse.Namespace) -> int:
    from torchatlas.indexes.lookups import kernel_places
    from torchatlas.indexes.queries import resolve_ops
    _require_name_or_all(args, "op")
    index = open_index(args)
    if args.all:
        records = list(index.all_ops())
    else:
        records = [index.op(op) for op in resolve_ops(index, args.name)]
        # where each kernel of the dispatch: section is defined (body) and declared (<op>_native.h)
        records = [{**rec, "kernels": [p.as_json() for p in kernel_places(index, rec)]} for rec in records]
    if args.json:
        payload = records if args.all or len(records) > 1 else records[0]
        print(json.dumps(payload, indent=2))
        return 0
    for i, rec in enumerate(records):
        if i:
            print()
        delegate = None
        if rec.get("structured_delegate"):
            delegate = index.op(f"aten::{rec['structured_delegate']}")
        _print_op(rec, delegate)
    return 0


def _print_op(rec: dict, delegate: dict | None = None) -> None:
    """One operator as its YAML entry says; a structured_delegate's kernels are shown with the keys
    they fill (`add.Tensor` has no CPU line of its own: CPU comes from `add.out`)."""
    print(f"{rec['op']}    {rec['defined_at']}")
    if rec.get("origin"):
        print(f"  origin     {rec['origin']}")
        return
    print(f"  schema     {rec['schema']}")
    print(f"  variants   {', '.join(rec['variants'])}" + (f"   python_module: {rec['python_module']}"
                                                          if rec.get("python_module") else ""))
    if rec["python"]:
        print(f"  python     {', '.join(rec['python'])}")
    if rec["structured_delegate"]:
        print(f"  structured_delegate  {rec['structured_delegate']}")
    if rec["structured"]:
        inh = f" (inherits {rec['structured_inherits']})" if rec.get("structured_inherits") else ""
        print(f"  structured kernel{inh} for: {', '.join(rec.get('structured_keys') or []) or '-'}")
    inherited = {}
    if delegate and delegate.get("dispatch"):
        own = {k.strip() for keys in (rec.get("dispatch") or {}) for k in keys.split(",")}
        for keys, kernel in delegate["dispatch"].items():
            left = [k.strip() for k in keys.split(",") if k.strip() not in own]
            if left:
                inherited[", ".join(left)] = kernel
    if rec["dispatch"] or inherited:
        print("  dispatch")
        for key, kernel in inherited.items():
            print(f"    {key:<40} {kernel}   <- structured_delegate {rec['structured_delegate']}")
        places = {p["keys"]: p for p in rec.get("kernels") or ()}
        for key, kernel in (rec["dispatch"] or {}).items():
            print(f"    {key:<40} {kernel}")
            place = places.get(key) or {}
            if place.get("defined_at"):
                print(f"    {'':<40}   defined at  {place['defined_at']}")
            if place.get("declared_at"):
                print(f"    {'':<40}   declared at {place['declared_at']}")
    if rec["autogen"]:
        print(f"  autogen    {', '.join(rec['autogen'])}")
    if rec["generated"]:
        print("  generated  by torchgen (autogen / functionalization), not written in the YAML")
    if rec["tags"]:
        print(f"  tags       {', '.join(rec['tags'])}")
    ag = rec.get("autograd")
    print(f"  autograd   {ag['node']}  (formula at {ag['formula_at']})" if ag else
          "  autograd   no derivatives.yaml formula")


def _require_name_or_all(args: argparse.Namespace, cmd: str) -> None:
    if not args.name and not args.all:
        raise AtlasError(f"`torchatlas {cmd}` needs an operator name or --all",
                         hint=f"e.g. torchatlas {cmd} aten::add.Tensor")


# -- dispatch ------------------------------------------------------------------------------------

def cmd_dispatch(args: argparse.Namespace) -> int:
    from torchatlas.indexes.queries import resolve_ops
    _require_name_or_all(args, "dispatch")
    keys = _check_keys(args.key) if args.key else None
    index = open_index(args)
    src = index.source
    if args.all:
        ops_entries = [(op, {e.key: e for e in entries}) for op, entries in index.dispatch_all()]
    else:
        ops_entries = [(op, index.dispatch(op)) for op in resolve_ops(index, args.name)]
    if keys:
        ops_entries = [(op, {k: t[k] for k in keys if k in t}) for op, t in ops_entries]
    live, live_note, cuda_built = None, None, True
    if args.runtime:
        live, live_note, cuda_built = _read_live_for(src, [op for op, _ in ops_entries])
    picture_problem = ""
    if getattr(args, "graph", None):  # --graph: a picture of the table as well (explorer/pictures.py)
        from torchatlas.explorer.pictures import dispatch_dot
        from torchatlas.indexes.dot_files import write_picture
        written, picture_problem = write_picture(dispatch_dot(ops_entries, src, live, cuda_built), args.graph)
        if not picture_problem:
            print(f"wrote {written}", file=sys.stderr)
    code = _present_dispatch(args, src, ops_entries, keys, live, live_note, cuda_built)
    if picture_problem:  # after the table: the answer first, then what is missing for the picture
        raise AtlasError(picture_problem)
    return code


def _present_dispatch(args, src, ops_entries, keys, live, live_note, cuda_built) -> int:
    if args.json:
        out = {"source": src.as_json(), "ops": []}
        if args.runtime:
            out["runtime"] = {"compared": live is not None, "note": live_note, "cuda_built": cuda_built}
        for op, table in ops_entries:
            keys_out = {}
            for k, e in table.items():
                d = e.as_json()
                if live is not None:
                    le = (live.get(op) or {}).get(k)
                    d["live"] = ({"kind": le.kind, "registered_in": le.registered_in, "registered_at": le.registered_at}
                                 if le else {"kind": "none", "registered_in": None, "registered_at": None})
                    d["agrees"] = (d["live"]["kind"], d["live"]["registered_in"]) == (e.kind, e.registered_in)
                keys_out[k] = d
            out["ops"].append({"op": op, "keys": keys_out})
        print(json.dumps(out, indent=2))
        return 0
    for i, (op, table) in enumerate(ops_entries):
        if i:
            print()
        _print_dispatch(op, table, src, live, args.why or bool(keys), cuda_built)
    if args.runtime and live_note:
        print(f"\n{live_note}")
    return 0


def _check_keys(keys: list[str], runtime_only: bool = False) -> list[str]:
    """Keys as the user typed them -> runtime keys. Case does not matter (`cpu` is CPU); an alias
    key (CompositeImplicitAutograd, Autograd, ...) is explained and stands for the runtime keys it
    fills among the usual ones."""
    from torchatlas.indexes.dispatch_keys import ALIAS_KEYS, RUNTIME_KEYS, alias_covers
    by_lower = {k.lower(): k for k in list(RUNTIME_KEYS) + list(ALIAS_KEYS)}
    out: list[str] = []
    for typed in keys:
        k = by_lower.get(typed.lower(), typed)
        if k in ALIAS_KEYS:
            covered = [r for r in DEFAULT_KEYS if alias_covers(k, r)]
            if runtime_only or not covered:
                raise AtlasError(f"{k} is an alias key: it fills {', '.join(covered) or 'no usual key'} rather than "
                                 "being one a call dispatches on", hint="give a runtime key, e.g. --key CPU")
            print(f"torchatlas: {k} is an alias key: it fills {', '.join(covered)}; showing those",
                  file=sys.stderr)
            out += [c for c in covered if c not in out]
            continue
        if not is_runtime_key(k):
            import difflib
            sugg = [by_lower[m] for m in difflib.get_close_matches(k.lower(), list(by_lower), n=3, cutoff=0.5)]
            raise AtlasError(f"unknown runtime dispatch key {typed!r}",
                             hint=("did you mean " + ", ".join(sugg) + "? " if sugg else "") +
                                  "known keys: " + ", ".join(DEFAULT_KEYS))
        if k not in out:
            out.append(k)
    return out


def _read_live_for(src, ops: list[str]):
    from torchatlas.indexes.runtime import read_live
    from torchatlas.indexes.sources import installed_version
    installed = installed_version()
    if installed is None:
        return None, "runtime: no installed torch in this Python; nothing to compare with", True
    if installed.split("+")[0] != src.version.split("+")[0]:
        return None, (f"runtime: the installed torch is {installed} but this source is {src.version}; "
                      "a live comparison would compare different versions, so it is skipped"), True
    table = read_live(ops)
    note = f"runtime: compared with the live dispatcher of torch {table.version}"
    if not table.cuda_built:
        note += ("; it is a CPU-only build, so it registers no CUDA kernels and CUDA keys are expected "
                 "to differ from the source")
    return table.ops, note, table.cuda_built


def _print_dispatch(op: str, table: dict, src, live, why: bool, cuda_built: bool = True) -> None:
    print(f"{op}    (torch {src.version}, {src.kind})")
    rows = [("KEY", "KIND", "KERNEL", "REGISTERED IN", "LIVE" if live is not None else "")]
    disagreements = unbuilt = 0
    for k, e in table.items():
        mark = ""
        if live is not None:
            le = (live.get(op) or {}).get(k)
            lv = (le.kind, le.registered_in) if le else ("none", None)
            if lv == (e.kind, e.registered_in):
                mark = "= agrees"
            elif "CUDA" in k and not cuda_built:
                unbuilt += 1
                mark = f"~ {lv[0]} (CPU-only build)"
            else:
                disagreements += 1
                mark = f"! live: {lv[0]} {lv[1] or ''}".rstrip()
        rows.append((k, e.kind, e.kernel or "-", e.registered_in or "-", mark))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + ("  " + r[4] if r[4] else ""))
        if i and why:
            e = table[r[0]]
            pad = " " * (widths[0] + 4)
            if e.defined_at:
                print(f"{pad}defined at {e.defined_at}")
            if e.declared_at:
                print(f"{pad}declared at {e.declared_at}")
            for hop in e.via:
                print(f"{pad}<- {hop}")
    if live is not None:
        extra = f" ({unbuilt} CUDA key(s) differ because the live build has no CUDA)" if unbuilt else ""
        print(f"  {disagreements} disagreement(s) with the live dispatcher{extra}" if disagreements else
              f"  static and live agree on every key shown{extra}")
    if why:
        for kind in sorted({e.kind for e in table.values()}):
            print(f"  {kind}: {KIND_HELP.get(kind, '')}")


# -- code queries --------------------------------------------------------------------------------

def _require_code(index) -> None:
    if index.count("files") == 0:
        raise AtlasError("this index has no code index (it was built without it)",
                         hint="rebuild it: torchatlas index")


def cmd_find(args: argparse.Namespace) -> int:
    from torchatlas.indexes.code_queries import find_counted
    from torchatlas.indexes.errors import NotFound
    index = open_index(args)
    hits, total = find_counted(index, args.query, limit=args.limit)
    if args.json:
        print(json.dumps([h.as_json() for h in hits], indent=2))
    else:
        w = max([len(h.kind) for h in hits] + [4])
        for h in hits:
            print(f"{h.kind:<{w}}  {h.qualname:<60} {h.location}")
        if total > len(hits):
            print(f"showing {len(hits)} of {total}{'+' if total >= 300 else ''}; -n N for more", file=sys.stderr)
    if not hits:
        raise NotFound(f"nothing matches {args.query!r}")
    return 0


def cmd_refs(args: argparse.Namespace, only_calls: bool = False) -> int:
    from torchatlas.indexes.code_queries import callers, refs
    from torchatlas.indexes.errors import NotFound
    index = open_index(args)
    _require_code(index)
    if args.symbol.startswith("aten::"):  # an operator: a typo gets operators to choose from
        from torchatlas.indexes.queries import resolve_ops
        resolve_ops(index, args.symbol)
    found = (callers if only_calls else refs)(index, args.symbol, limit=args.limit)
    if found and not args.json:
        _say_candidates(index, args.symbol)
    if not found:
        from torchatlas.indexes.code_queries import similar_names
        what = f"no {'callers' if only_calls else 'references'} of {args.symbol!r}"
        suggestions = similar_names(index, args.symbol, exclude=args.symbol)
        if index.source.layout == "package":
            raise NotFound(what + " in this index", hint="the installed package ships headers and Python, not .cpp "
                           "files: index a checkout (torchatlas index PATH) to see uses in C++ sources"
                           + (f"; similar names: {', '.join(suggestions)}" if suggestions else ""))
        raise NotFound(what, suggestions)
    if args.json:
        print(json.dumps([r.__dict__ for r in found], indent=2))
        return 0
    for r in found:
        scope = f"  in {r.scope}" if r.scope else ""
        mark = ""
        if r.status == "candidate":  # one of several possible targets: say so, and why
            want = _wanted(r, args.symbol)
            i = r.targets.index(want) if want in r.targets else 0
            mark = f"  [candidate {i + 1} of {len(r.targets)}: {r.why[i] if i < len(r.why) else ''}]"
        elif r.kind == "dispatch":
            mark = f"  [{r.why[0]}]" if r.why else ""
        elif not r.status and r.kind != "registration":  # no definition to resolve to: a match by spelling
            mark = "  [by name]"
        print(f"{r.location:<70} {r.name}{scope}{mark}")
    if any(not r.status and r.kind not in ("registration", "dispatch") for r in found):
        print(f"torchatlas: {args.symbol!r} has no definition in this index: [by name] uses are matched by how "
              "they are written, not resolved", file=sys.stderr)
    _say_untyped(index, args.symbol)
    return 0


def _say_untyped(index, symbol: str) -> None:
    """A method's callers are the calls whose receiver the link step could type: say how many
    others there are, so a short list is not taken for all of them."""
    from torchatlas.indexes.code_queries import untyped_calls_named
    n = untyped_calls_named(index, symbol)
    if n:
        base = symbol.rsplit(".", 1)[-1]  # a Python name: untyped_calls_named counts no other
        print(f"torchatlas: not listed: {n:,} call{'s' if n != 1 else ''} of a method named {base!r} whose receiver's "
              "type the index cannot tell (a parameter without annotation, a call's result): some may call this "
              "one", file=sys.stderr)


def _wanted(r, symbol: str) -> str:
    """Of a candidate reference's targets, the one the user asked about (else the first)."""
    for t in r.targets:
        if t == symbol or t.endswith(("." + symbol, "::" + symbol)):
            return t
    return r.targets[0] if r.targets else ""


def _answer(r, where: str | None) -> str:
    """A callee's resolution, for a person: the target, the candidates with why, or the status."""
    if r.operator:  # a call of the generated at:: API: what it reaches is an operator
        at = f"; declared at {where}" if where else ""
        return f"-> operator {r.operator} (torchgen's C++ API for it{at}: `torchatlas dispatch {r.operator}`)"
    if r.status == "resolved" and r.targets:
        return f"-> {r.targets[0]}" + (f" ({where})" if where else f" ({r.why[0]})" if r.why and r.why[0] else "")
    if r.status == "candidate":
        return f"candidates: {', '.join(r.targets)} ({r.why[0] if r.why else 'same name'})"
    if r.status in ("builtin", "external"):
        return f"{r.status}: {r.targets[0] if r.targets else r.name}"
    if r.status == "unresolved":
        return "unresolved" + (f" ({r.why[0]})" if r.why and r.why[0] else "")
    return ""


def _say_candidates(index, symbol: str, limit: int = 8) -> None:
    """On stderr, when `symbol` names several definitions: every one, ranked, with why; the answer
    covers them all, and the qualified name chooses one. When it names one by another name: which."""
    from torchatlas.indexes.candidates import candidates_for
    from torchatlas.indexes.queries import ops_bound_to
    cands = candidates_for(index, symbol)
    if (len(cands) == 1 and "." in symbol and "::" not in symbol and cands[0].qualname != symbol
            and not ops_bound_to(index, symbol)):  # a C binding is its own answer, not its stub's
        # a public name (torch.nn.Linear) or an inherited member (torch.nn.Linear.parameters): say
        # whose answer this is, since the lines below name the definition, not what was typed
        print(f"torchatlas: {symbol} is {cands[0].qualname} ({cands[0].location})", file=sys.stderr)
    if len(cands) < 2:
        return
    print(f"torchatlas: {symbol!r} names {len(cands)} definitions; the answer covers them all "
          "(give a qualified name from this list to choose one):", file=sys.stderr)
    for i, c in enumerate(cands[:limit], 1):
        print(f"  {i}. {c.qualname:<50} {c.location}  ({c.why})", file=sys.stderr)
    if len(cands) > limit:
        print(f"  ... and {len(cands) - limit} more", file=sys.stderr)


def cmd_callers(args: argparse.Namespace) -> int:
    return cmd_refs(args, only_calls=True)


def cmd_callees(args: argparse.Namespace) -> int:
    from torchatlas.indexes.code_queries import callees
    index = open_index(args)
    _require_code(index)
    found = callees(index, args.symbol)[: args.limit]
    if not args.json:
        _say_candidates(index, args.symbol)
    if args.json:
        print(json.dumps([{**r.__dict__, "defined_at": d} for r, d in found], indent=2))
        return 0
    for r, d in found:
        print(f"{r.location:<70} {r.name:<40} {_answer(r, d)}")
    if not found:
        print(f"{args.symbol}: its definition calls nothing the index recorded", file=sys.stderr)
        _say_methods(index, args.symbol)
    return 0


def _say_methods(index, symbol: str) -> None:
    """A class's own body seldom calls anything: its methods do. Name them, and the command."""
    from torchatlas.indexes.code_queries import methods_of, require_symbol
    classes = [h for h in require_symbol(index, symbol) if h.kind in ("class", "struct")]
    if not classes:
        return
    methods = methods_of(index, classes[0].qualname, classes[0].lang)
    if methods:
        names = list(dict.fromkeys(m.name for m in methods))
        shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        print(f"  hint: a class: what it calls is in its methods ({shown}); "
              f"torchatlas callees {_main_method(methods).qualname}", file=sys.stderr)


def _main_method(methods):
    """The method a learner most likely means: forward (an nn.Module), __call__, __init__, else the first."""
    by_name = {m.name: m for m in reversed(methods)}  # each name's first definition
    return next((by_name[n] for n in ("forward", "__call__", "__init__") if n in by_name), methods[0])


def cmd_path(args: argparse.Namespace) -> int:
    from torchatlas.indexes.code_queries import path
    index = open_index(args)
    _require_code(index)
    hops = path(index, args.src, args.dst, max_depth=args.max_depth)
    if args.json:
        print(json.dumps([{"from": a, "edge": k, "to": b} for a, k, b in hops], indent=2))
        return 0
    if not hops:
        print(f"{args.src}  (FROM is TO: no hop)")
        return 0
    print(hops[0][0])
    for _a, kind, b in hops:
        print(f"  -{kind}-> {b}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from torchatlas.indexes.trace import trace
    args.key = _check_keys([args.key], runtime_only=True)[0]
    index = open_index(args)
    op, steps = trace(index, args.start, key=args.key, op=args.op, runtime=getattr(args, "runtime", False))
    picture_problem = ""
    if getattr(args, "graph", None):  # --graph: a picture of the path as well (explorer/pictures.py)
        from torchatlas.explorer.pictures import trace_dot
        from torchatlas.indexes.dot_files import write_picture
        written, picture_problem = write_picture(trace_dot(args.start, op, args.key, steps, index.source), args.graph)
        if not picture_problem:
            print(f"wrote {written}", file=sys.stderr)
    code = _present_trace(args, index, op, steps)
    if picture_problem:
        raise AtlasError(picture_problem)
    return code


def _present_trace(args, index, op, steps) -> int:
    if args.json:
        print(json.dumps({"source": index.source.as_json(), "start": args.start, "op": op, "key": args.key,
                          "steps": [s.as_json() for s in steps]}, indent=2))
        return 0
    print(f"{args.start} -> {op} under {args.key}   (torch {index.source.version}, {index.source.kind})")
    for i, s in enumerate(steps, 1):
        print(f"{i:2d}. [{s.layer}] {s.title}")
        if s.location:
            print(f"      at {s.location}")
        if s.generated_by:
            print(f"      generated by {s.generated_by}" + ("" if s.location else " (not in this source)"))
        if s.note:
            print(f"      {s.note}")
    return 0


def cmd_precise(args: argparse.Namespace) -> int:
    from torchatlas.indexes.precise import precise
    index = open_index(args)
    _require_code(index)
    a = precise(index, args.symbol)
    if args.json:
        print(json.dumps(a.as_json(), indent=2))
        return 0
    print(f"{a.symbol}    {a.location}    [{a.engine}]")
    if a.signature:
        print(f"  signature  {a.signature}")
    for o in a.overloads:
        print(f"  overload   {o}")
    for m in dict.fromkeys(a.macros):
        print(f"  macro      {m}")
    for c in a.callees:
        times = f" x{c.count}" if c.count > 1 else ""
        print(f"  calls      {c.name + times:<50} {c.signature:<40} "
              f"{('declared at ' + c.declared_at) if c.declared_at else ''}")
    if a.note:
        print(f"  note: {a.note}")
    return 0


# -- tours ---------------------------------------------------------------------------------------

def cmd_tours(args: argparse.Namespace) -> int:
    """`torchatlas tours list|show|check`: see torchatlas.tours.cli."""
    from torchatlas.tours.cli import run_tours
    return run_tours(args, open_index)


def cmd_config(args: argparse.Namespace) -> int:
    """`torchatlas config list|get|set|unset|path`: see torchatlas.indexes.settings."""
    from torchatlas.indexes.settings import KEYS, config_path, default_source, read_settings, write_setting
    if args.action == "path":
        print(config_path())
        return 0
    if args.action in ("get", "set", "unset") and not args.key:
        raise AtlasError(f"`config {args.action}` needs a KEY", hint=f"known: {', '.join(KEYS)}")
    if args.action == "set":
        if args.value is None:
            raise AtlasError("`config set` needs a KEY and a VALUE", hint="torchatlas config set source ~/src/pytorch")
        value = args.value
        if args.key == "source" and value != "installed":
            value = str(Path(value).expanduser().resolve())
            open_source(value)  # refuse what is not a PyTorch source, with the usual message
        path = write_setting(args.key, value)
        print(f"{args.key} = {value}  ({path})")
        return 0
    if args.action == "unset":
        path = write_setting(args.key, None)
        print(f"{args.key} unset ({path})")
        return 0
    settings = read_settings()
    spec, origin = default_source()
    if args.action == "get":
        if args.key not in KEYS:
            write_setting(args.key, settings.get(args.key))  # raises the unknown-key error with a suggestion
        value = settings.get(args.key)
        if value is None:
            return 1
        print(value)
        return 0
    if args.json:
        print(json.dumps({"config": str(config_path()), "settings": settings,
                          "source": {"value": spec, "from": origin}}, indent=2))
        return 0
    print(f"config file: {config_path()}" + ("" if config_path().exists() else " (none yet)"))
    for key, text in KEYS.items():
        print(f"  {key} = {settings.get(key, '(unset)')}    # {text}")
    print(f"the source commands use now: {spec}  (from {origin})")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    """`torchatlas lab ...`: see torchatlas.contrib.cli."""
    from torchatlas.contrib.cli import run_lab
    return run_lab(args)


def cmd_pr(args: argparse.Namespace) -> int:
    """`torchatlas pr ...`: see torchatlas.contrib.pr.cli."""
    from torchatlas.contrib.pr.cli import run_pr
    return run_pr(args)


# -- explore (issue 4): the Textual UI; textual is imported only here, when it runs -----------------

def cmd_explore(args: argparse.Namespace) -> int:
    """`torchatlas explore [NAME]`: see torchatlas.explorer.app."""
    source = None
    db = Path(args.db).expanduser() if args.db else None
    if args.source is not None or db is None or not db.exists():
        source = open_source(args.source)
        db = db or db_path_for(source, None)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AtlasError("`torchatlas explore` needs a terminal",
                         hint="for scripts use op, dispatch, find, trace (with --json)")
    from torchatlas.explorer.app import run_explorer
    return run_explorer(db, source=source, start=args.name)
