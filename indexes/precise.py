"""Precise C++ on demand (libclang): what the bulk index can only guess, for one symbol.

The bulk index reads syntax (tree-sitter): it knows a call is to something named `mul_stub`, not
which overload, what a macro expands to, or which template a call instantiates. For one
definition, this parses its translation unit with clang and reports the full signature and its
overloads, the callees as clang resolves them (qualified, with their declarations), and the
macros expanded in its body.

Compile flags: a `compile_commands.json` at the root (or root/build) when one exists; else flags
derived from the source (the tree's include dirs, the installed package's headers for the
generated ones a release tree lacks, the system compiler's builtin headers). Never required:
when libclang is missing or cannot parse, the answer is the bulk index's, with a note saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .code_queries import callees as bulk_callees
from .code_queries import require_symbol
from .sources import installed_root
from .store import Index


@dataclass(frozen=True)
class Callee:
    name: str  # fully qualified as clang resolves it
    signature: str
    declared_at: str | None
    call_at: str  # the first call
    count: int = 1  # calls of it in the definition


@dataclass
class PreciseAnswer:
    symbol: str
    location: str
    engine: str  # "libclang" | "tree-sitter (fallback)"
    signature: str = ""
    overloads: list[str] = field(default_factory=list)
    callees: list[Callee] = field(default_factory=list)
    macros: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    diagnostics: int = 0
    note: str = ""

    def as_json(self) -> dict:
        return asdict(self)


def _gcc_builtin_include() -> list[str]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        return []
    try:
        out = subprocess.run([cc, "-print-file-name=include"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return []
    return [f"-isystem{out}"] if out and os.path.isdir(out) else []


def compile_flags(root: Path, layout: str, file: str) -> tuple[list[str], str]:
    """Flags for one file, and where they came from."""
    for cdb in (root / "compile_commands.json", root / "build" / "compile_commands.json"):
        if cdb.is_file():
            try:
                for entry in json.loads(cdb.read_text()):
                    if os.path.normpath(os.path.join(entry.get("directory", ""), entry["file"])) == \
                            os.path.normpath(str(root / file)):
                        args = entry.get("arguments") or entry["command"].split()
                        return [a for a in args[1:] if a not in ("-c", "-o") and not a.endswith((".o", file))], \
                            str(cdb)
            except (OSError, ValueError, KeyError):
                break
    flags = ["-x", "c++", "-std=c++17", "-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT",
             "-Wno-everything"]
    if layout == "checkout":
        flags += [f"-I{root}/aten/src", f"-I{root}", f"-I{root}/torch/csrc/api/include"]
    else:
        flags += [f"-I{root}/torch/include", f"-I{root}/torch/include/torch/csrc/api/include"]
    pkg = installed_root()
    if layout == "checkout" and pkg is not None:
        # generated headers (ATen/ops/*.h, TensorBody.h) are not in a release tree: borrow them
        flags += [f"-idirafter{pkg}/torch/include", f"-idirafter{pkg}/torch/include/torch/csrc/api/include"]
    flags += _gcc_builtin_include()
    return flags, "derived from the source's include directories"


def _qualified(cursor) -> str:
    parts = []
    c = cursor
    while c is not None and c.kind.name != "TRANSLATION_UNIT":
        if c.spelling:
            parts.append(c.spelling)
        c = c.semantic_parent
    return "::".join(reversed(parts))


def _loc(cursor, root: Path) -> str | None:
    loc = cursor.location
    if loc.file is None:
        return None
    path = os.path.normpath(loc.file.name)
    try:
        path = str(Path(path).resolve().relative_to(root))
    except ValueError:
        if "/include/" in path:  # a system or compiler header: as an #include names it
            path = "<" + path.rsplit("/include/", 1)[1] + ">"
    return f"{path}:{loc.line}"


def precise(index: Index, symbol: str, limit: int = 80) -> PreciseAnswer:
    hits = [h for h in require_symbol(index, symbol) if h.lang == "cpp"] or require_symbol(index, symbol)
    target = hits[0]
    path, line = target.location.rsplit(":", 1)
    root = Path(index.source.root)
    answer = PreciseAnswer(symbol=symbol, location=target.location, engine="libclang")
    try:
        import clang.cindex as ci
    except ImportError:
        return _fallback(index, symbol, answer, "libclang is not installed (pip install 'libclang>=16,<19')")
    flags, origin = compile_flags(root, index.source.layout, path)
    answer.flags = flags
    try:
        tu = ci.Index.create().parse(str(root / path), args=flags,
                                     options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD)
    except ci.TranslationUnitLoadError as e:
        return _fallback(index, symbol, answer, f"libclang could not parse {path}: {e}")
    answer.diagnostics = sum(1 for d in tu.diagnostics if d.severity >= 3)
    want_line = int(line)
    name = target.name
    found = None
    for c in tu.cursor.walk_preorder():
        loc = c.location
        if loc.file is None or loc.line != want_line or not loc.file.name.endswith(path.rsplit("/", 1)[-1]):
            continue
        if c.is_definition() and c.kind.name in ("FUNCTION_DECL", "CXX_METHOD", "FUNCTION_TEMPLATE", "CONSTRUCTOR"):
            if c.spelling == name or found is None:
                found = c
        if c.kind.name == "MACRO_INSTANTIATION":
            answer.macros.append(f"{c.spelling} (line {loc.line})")
    if found is None:
        return _fallback(index, symbol, answer, f"libclang found no definition of {name} at {target.location} "
                                                f"({answer.diagnostics} errors; {origin})")
    qualifiers = found.type.spelling.rsplit(")", 1)[-1].strip()  # `const`, `noexcept`, `&&` as declared
    answer.signature = (f"{found.result_type.spelling} {_qualified(found)}"
                        f"({', '.join(a.type.spelling for a in found.get_arguments())})"
                        + (f" {qualifiers}" if qualifiers else ""))
    parent = found.semantic_parent
    if parent is not None:
        for sib in parent.get_children():
            if sib.spelling == found.spelling and sib.kind == found.kind and sib != found:
                answer.overloads.append(f"{sib.type.spelling}  at {_loc(sib, root)}")
    end = found.extent.end.line
    seen: dict[str, int] = {}  # callee -> its row
    for c in tu.cursor.walk_preorder():
        loc = c.location
        if loc.file is None or not (want_line <= loc.line <= end) or not loc.file.name.endswith(path.rsplit("/", 1)[-1]):
            continue
        if c.kind.name == "MACRO_INSTANTIATION" and loc.line != want_line:
            answer.macros.append(f"{c.spelling} (line {loc.line})")
        if c.kind.name == "CALL_EXPR" and c.referenced is not None and c.spelling and len(answer.callees) < limit:
            r = c.referenced
            qual = _qualified(r).replace(str(root) + "/", "")
            if qual in seen:  # one row per callee, with how often it is called
                row = answer.callees[seen[qual]]
                answer.callees[seen[qual]] = Callee(row.name, row.signature, row.declared_at, row.call_at, row.count + 1)
            else:
                seen[qual] = len(answer.callees)
                answer.callees.append(Callee(qual, r.type.spelling, _loc(r, root), f"{path}:{loc.line}"))
    answer.note = (f"flags {origin}; {answer.diagnostics} clang errors (missing generated headers in a release "
                   "tree are expected; names still resolve where declarations were seen)")
    return answer


def _fallback(index: Index, symbol: str, answer: PreciseAnswer, why: str) -> PreciseAnswer:
    answer.engine = "tree-sitter (fallback)"
    answer.note = why + "; showing the bulk index's answer"
    for ref, defined in bulk_callees(index, symbol):
        answer.callees.append(Callee(ref.name, "", defined, ref.location))
    return answer
