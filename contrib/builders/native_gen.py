"""A new `aten::` operator's generated code, cut out of torchgen's output and made compilable
against the installed torch.

torchgen on the learner's YAML writes ~7,200 files; the new operator's part of them (found by
`gen_diff.op_slice` against the pristine generation) is what libtorch would have compiled for it:

| generated                         | becomes (in `.lab/build/native/gen/`)                       |
| --------------------------------- | ----------------------------------------------------------- |
| `aten/ops/<op>*.h` (per-op headers) | `include/ATen/ops/` (the wheel has none for a new op)      |
| `RegisterSchema.cpp` `m.def` lines  | `RegisterSchema.cpp`, in `TORCH_LIBRARY_FRAGMENT(aten, m)` (a second `TORCH_LIBRARY(aten)` aborts) |
| `Operators*.cpp` (`at::_ops::<op>`) | `Operators.cpp`                                             |
| `Register{CPU,Meta,...}*.cpp`       | one file per key: that file's helpers + the op's block      |
| `Functions.h/.cpp` (autograd node)  | `autograd/Functions.h` / `.cpp`, with the helpers of the generated Functions.cpp |
| `VariableType*.cpp`, `ADInplaceOrViewType*.cpp` | their helpers + the op's kernels + their own `TORCH_LIBRARY_IMPL` |

They are compiled as two units, `unity_aten.cpp` and `unity_autograd.cpp`, that `#include` them
(`unity`): each slice keeps the includes of its whole generated file, and paying for those once
per group instead of once per slice is most of a cold build's compile time.

Two symbols the generated autograd code calls are declared in the installed headers but not
exported by libtorch_cpu (`VariableType::unpack`): a shim defines them. Generated code is
compiled as it is (it is what a real build compiles); only the glue around it is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .gen_diff import diff_outputs, op_slice

_INCLUDE_OP = re.compile(r"^#include <ATen/ops/[^>]+>\s*$")
_TAGS_USE = re.compile(r'm\.def\("[^"]+",\s*(?P<tags>tags_\d+)\)')
_M_IMPL = re.compile(r'm\.impl\("(?P<op>[\w.]+)",\s*TORCH_FN\((?P<fn>[\w:]+)\)')
_FIRST_NODE_FN = re.compile(r"^static variable_list \w+Backward\d+_apply_functional\(", re.M)
_DISPATCH_DEFS = "// See template file RegisterDispatchDefinitions.ini"

# Register<Key>Everything.cpp files whose kernels the overlay carries (when the op has some there).
DISPATCH_FILES = ("RegisterCPU", "RegisterMeta", "RegisterCompositeExplicitAutogradNonFunctional",
                  "RegisterCompositeExplicitAutograd", "RegisterCompositeImplicitAutograd")

SHIM = """
// Declared in torch/csrc/autograd/generated/VariableType.h but not exported by libtorch_cpu:
// the same definitions as torch/csrc/autograd/VariableTypeManual.cpp.
namespace torch::autograd::VariableType {
at::Tensor& unpack(at::Tensor& t, const char* name, int pos) {
  TORCH_CHECK(t.defined(), "Expected a proper Tensor but got None (or an undefined Tensor in C++) for argument #",
              pos, " '", name, "'");
  return t;
}
const at::Tensor& unpack(const at::Tensor& t, const char* name, int pos) {
  TORCH_CHECK(t.defined(), "Expected a proper Tensor but got None (or an undefined Tensor in C++) for argument #",
              pos, " '", name, "'");
  return t;
}
}  // namespace torch::autograd::VariableType
"""


class NotGenerated(Exception):
    """The learner's YAML did not produce the operator the lab asks for."""


@dataclass(frozen=True)
class GeneratedCode:
    sources: tuple[str, ...]  # relative to the folder passed to assemble()
    include_dir: str  # relative: holds ATen/ops/<op>*.h
    headers: tuple[str, ...]  # the per-op headers, for the summary
    keys: tuple[str, ...]  # dispatch keys the op got kernels for
    units: tuple[str, ...] = ()  # what is compiled: the sources grouped (`unity`), relative too


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _blocks(sl: dict[str, list[str]], path: str) -> list[str]:
    return sl.get(path, [])


def _split_includes(blocks: list[str]) -> tuple[list[str], list[str]]:
    """(#include lines of the op's headers, the code blocks)."""
    incs, code = [], []
    for b in blocks:
        lines = b.splitlines()
        if lines and all(_INCLUDE_OP.match(x) or not x.strip() for x in lines):
            incs += [x for x in lines if x.strip()]
        else:
            code.append(b)
    return sorted(set(incs)), code


def _preamble_before(text: str, marker: str) -> str:
    i = text.find(marker)
    if i < 0:
        raise NotGenerated(f"torchgen's output changed shape: {marker!r} not found")
    head = text[:i]
    return "\n".join(x for x in head.splitlines() if not _INCLUDE_OP.match(x)) + "\n"


_INCLUDE = re.compile(r'^#include\s+[<"](?P<h>[^>"]+)[>"]')


def _drop_missing_includes(path: Path, text: str, roots: tuple[Path, ...]) -> str:
    """Generated headers a wheel does not ship (ATen/FunctionalInverses.h, ViewFuncs.h): the
    op's code does not need them, the preambles name them for other operators."""
    if not roots:
        return text
    out = []
    for line in text.splitlines():
        m = _INCLUDE.match(line)
        if m and not any((root / m["h"]).is_file() for root in (path.parent, *roots)):
            out.append(f"// (not in the installed headers, dropped) {line}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _write(path: Path, text: str, roots: tuple[Path, ...] = ()) -> None:
    """Write only when different: ninja then recompiles only what really changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".cpp":
        text = _drop_missing_includes(path, text, roots)
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.write_text(text, encoding="utf-8")


def assemble(pristine: Path, patched: Path, op: str, out: Path,
             include_roots: tuple[str, ...] = (), *, diff=None) -> GeneratedCode:
    """Cut operator `op` out of `patched` (torchgen's output, `aten/` + `autograd/`) into `out`.
    `include_roots`: the installed torch's include dirs (generated #includes they lack are dropped)."""
    roots = tuple(Path(r) for r in include_roots) + (out / "include", out / "autograd")

    def write(path: Path, text: str) -> None:
        _write(path, text, roots)

    diff = diff if diff is not None else diff_outputs(pristine, patched)
    sl = op_slice(diff, op)
    headers = sorted(p for p in sl if p.startswith("aten/ops/"))
    if f"aten/ops/{op}_ops.h" not in headers:
        raise NotGenerated(f"torchgen generated no operator named {op!r}: is its entry in native_functions.yaml "
                           f"(`- func: {op}(...)`)?")
    out.mkdir(parents=True, exist_ok=True)
    sources: list[str] = []
    inc = out / "include" / "ATen" / "ops"
    inc.mkdir(parents=True, exist_ok=True)
    wanted = {Path(h).name for h in headers}
    for old in inc.glob("*.h"):
        if old.name not in wanted:
            old.unlink()
    for h in headers:
        write(inc / Path(h).name, _read(patched / h))

    # the schema
    schema_lines = [x.strip() for b in _blocks(sl, "aten/RegisterSchema.cpp") for x in b.splitlines()
                    if x.strip().startswith("m.def(")]
    if not schema_lines:
        raise NotGenerated(f"no schema for {op!r} in RegisterSchema.cpp")
    schema_text = _read(patched / "aten" / "RegisterSchema.cpp")
    tag_defs = []
    for t in sorted({m["tags"] for x in schema_lines if (m := _TAGS_USE.search(x))}):
        d = re.search(rf"^\s*const std::vector<at::Tag> {t} = .*;$", schema_text, re.M)
        if d:
            tag_defs.append(d.group(0).strip())
    write(out / "RegisterSchema.cpp",
           "// @generated: the new operator's schemas from torchgen's RegisterSchema.cpp\n"
           "#include <torch/library.h>\n\nnamespace at {\nTORCH_LIBRARY_FRAGMENT(aten, m) {\n"
           + "".join(f"  {x}\n" for x in tag_defs + schema_lines) + "}\n}  // namespace at\n")
    sources.append("RegisterSchema.cpp")

    # at::_ops::<op>::call / redispatch
    incs, code = _split_includes(_blocks(sl, "aten/OperatorsEverything.cpp"))
    write(out / "Operators.cpp",
           "// @generated: the new operator's at::_ops entry points from torchgen's Operators.cpp\n"
           "#include <ATen/Tensor.h>\n#include <ATen/core/dispatch/Dispatcher.h>\n" + "\n".join(incs)
           + "\n\nnamespace at { namespace _ops {\n\n" + "\n".join(code) + "\n}} // namespace at::_ops\n")
    sources.append("Operators.cpp")

    # kernels per dispatch key
    keys = []
    for stem in DISPATCH_FILES:
        rel = f"aten/{stem}Everything.cpp"
        incs, code = _split_includes(_blocks(sl, rel))
        code = [b for b in code if b.lstrip().startswith("namespace at {")]
        if not code:
            continue
        pre = _preamble_before(_read(patched / rel), _DISPATCH_DEFS)
        write(out / f"{stem}.cpp", pre + "\n".join(incs) + "\n\n" + "\n".join(code) + "\n")
        sources.append(f"{stem}.cpp")
        keys.append(stem[len("Register"):])

    # at::redispatch::<op> (RedispatchFunctions.h: what the Autograd kernel calls below itself)
    redispatch = "\n".join(_blocks(sl, "aten/RedispatchFunctions.h"))
    write(out / "autograd" / "RedispatchFunctions.h",
           "// @generated: the new operator's at::redispatch functions from torchgen's RedispatchFunctions.h\n"
           "#pragma once\n#include <ATen/RedispatchFunctions.h>\n#include <ATen/ops/" + op + "_ops.h>\n\n"
           "namespace at {\nnamespace redispatch {\n" + redispatch + "\n} // namespace redispatch\n} // namespace at\n")

    # autograd: the node, its functions, the Autograd and ADInplaceOrView kernels
    node_decl = "\n".join(_blocks(sl, "autograd/Functions.h"))
    if node_decl:
        write(out / "autograd" / "Functions.h",
               "// @generated: the new operator's autograd node from torchgen's Functions.h\n#pragma once\n"
               "#include <torch/csrc/autograd/generated/Functions.h>\n\nnamespace torch::autograd::generated {\n\n"
               + node_decl + "\n\n} // namespace torch::autograd::generated\n")
        fn_text = _read(patched / "autograd" / "Functions.cpp")
        m = _FIRST_NODE_FN.search(fn_text)
        if not m:
            raise NotGenerated("torchgen's Functions.cpp changed shape: no node function found")
        pre = "\n".join(x for x in fn_text[:m.start()].splitlines() if not _INCLUDE_OP.match(x))
        body = "\n".join(_blocks(sl, "autograd/Functions.cpp"))
        write(out / "autograd" / "Functions.cpp", '#include "Functions.h"\n' + pre + "\n" + body
               + "\n} // namespace torch::autograd::generated\n")
        sources.append("autograd/Functions.cpp")
    for stem, ns, key in (("VariableType", "VariableType", "Autograd"),
                          ("ADInplaceOrViewType", "ADInplaceOrView", "ADInplaceOrView")):
        rel = f"autograd/{stem}Everything.cpp"
        blocks = _blocks(sl, rel)
        if not blocks:
            continue
        incs, code = _split_includes(blocks)
        impls = [(m["op"], m["fn"]) for b in code for m in _M_IMPL.finditer(b)]
        fns = [b for b in code if not _M_IMPL.search(b) and not b.lstrip().startswith(")")]
        if not impls:
            continue
        text = _read(patched / rel)
        pre = _autograd_preamble(text, ns)
        reg = "".join(f'  m.impl("{o}", TORCH_FN({f}));\n' for o, f in impls)
        write(out / "autograd" / f"{stem}.cpp",
               ('#include "Functions.h"\n' if node_decl else "") + '#include "RedispatchFunctions.h"\n'
               + "\n".join(incs) + "\n" + pre + "\n"
               + "\n".join(fns)
               + f"\n}} // namespace\n}} // namespace {ns}\n\nnamespace {{\nTORCH_LIBRARY_IMPL(aten, {key}, m) {{\n"
               + reg + "}\n} // namespace\n\n} // the file's outer namespace (torch or torch::autograd)\n"
               + (SHIM if stem == "VariableType" else ""))
        sources.append(f"autograd/{stem}.cpp")
        keys.append(key)
    units = []
    if op in DISPATCH_HELPERS:  # the renaming macros would rename the operator's own functions too
        return GeneratedCode(tuple(sources), "include", tuple(headers), tuple(keys), tuple(sources))
    for group, members in (("aten", [s for s in sources if "/" not in s]),
                           ("autograd", [s for s in sources if s.startswith("autograd/")])):
        if members:
            write(out / f"unity_{group}.cpp", unity(out, members))
            units.append(f"unity_{group}.cpp")
    return GeneratedCode(tuple(sources), "include", tuple(headers), tuple(keys), tuple(units))


# What every Register<Key>.cpp defines in `namespace at { namespace {` (torchgen's dispatch helpers:
# gen_create_out_helper, gen_resize_out_helper, gen_check_inplace_helper,
# gen_maybe_create_proxy_helper), each file with its own key's body.
DISPATCH_HELPERS = ("create_out", "resize_out", "check_inplace", "maybe_create_proxy")
_CONDITIONAL_OPEN = re.compile(r"^\s*#\s*if")
_CONDITIONAL_CLOSE = re.compile(r"^\s*#\s*endif\b")


def unity(out: Path, members: list[str]) -> str:
    """One translation unit for a group of generated files (`#include`d as they are).

    Why: each slice keeps the includes of its whole generated file, and with or without a
    precompiled header a compile pays a fixed ~5 s (parsing them, or loading the PCH and redoing
    the template instantiations it defers) before its own few hundred lines: eight slices paid it
    eight times. Grouped, the ATen slices (schema, at::_ops, Register<Key>) and the autograd ones
    (node, VariableType, ADInplaceOrView) pay it once each; a derivatives.yaml edit recompiles only
    the autograd group. The Register<Key> files each define torchgen's dispatch helpers with the
    same names, so each is included with them renamed by macros; every header the members
    include comes first, so the macros only reach the members' own code."""
    first: list[str] = []
    for rel in members:
        path = out / rel
        nesting = 0
        for line in _read(path).splitlines():
            if _CONDITIONAL_OPEN.match(line):
                nesting += 1
            elif _CONDITIONAL_CLOSE.match(line):
                nesting = max(0, nesting - 1)
            elif not nesting and (m := _INCLUDE.match(line)):
                local = path.parent / m["h"]
                inc = (f'#include "{local.relative_to(out).as_posix()}"'
                       if line.lstrip().startswith('#include "') and local.is_file() else line.strip())
                if inc not in first:
                    first.append(inc)
    body = []
    for rel in members:
        stem = Path(rel).stem
        renamed = stem.startswith("Register") and stem != "RegisterSchema"
        if renamed:
            body += [f"#define {h} {h}_{stem}" for h in DISPATCH_HELPERS]
        body.append(f'#include "{rel}"')
        if renamed:
            body += [f"#undef {h}" for h in DISPATCH_HELPERS]
    return ("// @generated by torchatlas's native builder: the generated files below compiled as one unit\n"
            "// (see native_gen.unity); their headers first, so the renaming macros reach only their code\n"
            + "\n".join(first) + "\n\n" + "\n".join(body) + "\n")


_FIRST_KERNEL = re.compile(r"^\S[^\n]*\(c10::DispatchKeySet ks\b", re.M)


def _autograd_preamble(text: str, ns: str) -> str:
    """VariableType/ADInplaceOrView Everything.cpp up to its first kernel: includes, usings, the
    file's own helpers, and the open `namespace <outer> { namespace <ns> { namespace {`."""
    start = text.find(f"namespace {ns} {{")
    m = _FIRST_KERNEL.search(text, start if start >= 0 else 0)
    if start < 0 or not m:
        raise NotGenerated(f"torchgen's {ns} output changed shape")
    lines = [x for x in text[:m.start()].splitlines() if not _INCLUDE_OP.match(x)]
    return "\n".join(lines) + "\n"
