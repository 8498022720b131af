"""The native builder on lab fix-a-kernel: a cold build of the solution, nothing-changed, a kernel
edit that recompiles only the kernel's objects, a compiler error at the learner's line, and the
checks that keep a library from aborting the process that loads it.

The builds are real (g++ against the installed torch's headers): marked slow_lab.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchatlas.contrib.builders import native, native_ninja, native_pch, native_probe
from torchatlas.contrib.model import BuildSpec

LAB = Path(__file__).resolve().parents[2] / "patches" / "fix-a-kernel"
KERNEL = "lab/cpu/BinaryOpsKernel.cpp"

needs_toolchain = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or not shutil.which("g++") or not shutil.which("ninja")
    or not shutil.which("git"),
    reason="needs the installed torch, g++, ninja and git")


class _Lab:
    """The two fields the builder reads (the loader's Lab has them too)."""

    id = "fix-a-kernel"
    path = "lab.yaml"
    build = BuildSpec(name="lab_logaddexp", sources=("lab/BinaryOps.cpp",), per_capability=(KERNEL,))


def _apply(ws: Path, patch: Path) -> None:
    subprocess.run(["git", "apply", str(patch)], cwd=ws, check=True, capture_output=True)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    ws = tmp_path_factory.mktemp("native-ws")
    _apply(ws, LAB / "starter.patch")
    _apply(ws, LAB / "solution.patch")
    return ws


def _objects(ws: Path) -> dict[str, int]:
    root = ws / native.BUILD_REL / "obj"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.o")}


_RUN = (
    "import sys, torch\n"
    "a = torch.linspace(-30, 30, 1001, dtype=torch.float64); b = a.flip(0)\n"
    "ref = torch.logaddexp(a, b); small = torch.logaddexp(torch.tensor([-float('inf')]), torch.tensor([-float('inf')]))\n"
    "torch.ops.load_library(sys.argv[1])\n"
    "assert 'lab/BinaryOps.cpp' in torch._C._dispatch_dump_table('aten::logaddexp')\n"
    "got = torch.logaddexp(a, b)\n"
    "print(float((got - ref).abs().max()), torch.logaddexp(torch.tensor([-float('inf')]), torch.tensor([-float('inf')])).item())\n"
)


def _run_overlay(lib: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _RUN, str(lib)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    err, small = out.stdout.split()
    return float(err), float(small)


@needs_toolchain
@pytest.mark.slow_lab
def test_build_rebuild_and_compile_error(solved):
    ws = solved
    res = native.build(_Lab, ws)
    assert res.ok, "\n".join(map(str, res.diagnostics)) + res.log[-3000:]
    assert res.library == ws / native.BUILD_REL / "liblab_logaddexp.so" and res.library.is_file()
    assert (ws / native.BUILD_REL / native.STAMP).is_file()
    assert res.env()["TORCHATLAS_LAB_LIB"] == str(res.library)
    objs = _objects(ws)
    assert set(objs) == {"lab/BinaryOps.cpp.o", f"{KERNEL}.DEFAULT.o", f"{KERNEL}.AVX2.o", f"{KERNEL}.AVX512.o"}
    err, small = _run_overlay(res.library)
    assert err < 1e-12 and small == float("-inf")

    again = native.build(_Lab, ws)
    assert again.ok and again.cached and again.seconds < 2.0
    assert _objects(ws) == objs

    # one precompiled header per capability, used (GCC's -Winvalid-pch would say otherwise)
    gch = _gch(ws)
    assert set(gch) == {f"{cap}.h.gch" for cap in ("DEFAULT", "AVX2", "AVX512")}
    assert "not used because" not in res.log and "invalid-pch" not in res.log, res.log[-2000:]

    # a kernel edit: only the kernel's three objects (one per capability) are compiled again,
    # against the PCHs built by the cold build
    kernel = ws / KERNEL
    text = kernel.read_text()
    kernel.write_text(text.replace("return m + std::log1p", "return m + 0 * a + std::log1p"))
    edited = native.build(_Lab, ws)
    assert edited.ok and not edited.cached
    after = _objects(ws)
    assert after["lab/BinaryOps.cpp.o"] == objs["lab/BinaryOps.cpp.o"]
    assert all(after[k] != objs[k] for k in objs if k.startswith(KERNEL))
    assert _gch(ws) == gch
    assert "not used because" not in edited.log, edited.log[-2000:]

    # a compile error: the compiler's message at the learner's file and line, and no stamp
    lines = text.splitlines()
    n = next(i for i, ln in enumerate(lines, 1) if "scalar_t m = std::max(a, b);" in ln)
    kernel.write_text(text.replace("scalar_t m = std::max(a, b);", "scalar_t m = std::max(a, b)"))
    broken = native.build(_Lab, ws)
    assert not broken.ok
    errors = [d for d in broken.diagnostics if d.severity == "error"]
    assert errors and errors[0].file == KERNEL and errors[0].line in (n, n + 1), broken.diagnostics
    assert not (ws / native.BUILD_REL / native.STAMP).exists()

    kernel.write_text(text)  # and back: a good build again
    fixed = native.build(_Lab, ws)
    assert fixed.ok and not fixed.cached


@needs_toolchain
@pytest.mark.slow_lab
def test_interrupted_build_leaves_no_stamp_and_no_compiler(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    _apply(ws, LAB / "starter.patch")
    script = ("import sys; from pathlib import Path\n"
              "sys.path.insert(0, sys.argv[2])\n"
              "from test_native_builder import _Lab\n"
              "from torchatlas.contrib.builders import native\n"
              "native.build(_Lab, Path(sys.argv[1]), progress=lambda s: print(s, flush=True))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(ws), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the first compiler runs
        if line.startswith("[1/"):
            break
    proc.send_signal(2)  # SIGINT: Ctrl-C
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not (ws / native.BUILD_REL / native.STAMP).exists()
    assert not native_probe_compilers(ws)


def _gch(ws: Path) -> dict[str, int]:
    """The .gch files the workspace's objects use (in the shared cache), with their mtimes."""
    text = (ws / native.BUILD_REL / native_ninja.NINJA_FILE).read_text()
    paths = set(re.findall(r"\| (\S+\.gch)", text))
    return {Path(p).name: Path(p).stat().st_mtime_ns for p in paths}


def test_pch_header_takes_torch_includes_not_the_learners(tmp_path):
    (tmp_path / "lab" / "cpu").mkdir(parents=True)
    (tmp_path / "lab" / "Ops.h").write_text(
        "#ifndef LAB_OPS_H\n#define LAB_OPS_H\n#include <ATen/TensorIterator.h>\n#include \"lab/Other.h\"\n#endif\n")
    (tmp_path / "lab" / "Other.h").write_text("#pragma once\n#include <vector>\n")
    (tmp_path / "lab" / "cpu" / "K.cpp").write_text(
        '#include "../Ops.h"\n#include <ATen/native/cpu/Loops.h>\n#include <lab/Other.h>\n'
        "#if defined(X)\n#include <ATen/Only_if_X.h>\n#endif\n#include <cmath>\nint f();\n#define LATER 1\n")
    text = native_pch.header_for(tmp_path, "lab/cpu/K.cpp", "torch-A")
    incs = [ln for ln in text.splitlines() if ln.startswith("#include")]
    assert incs == ["#include <ATen/TensorIterator.h>", "#include <vector>", "#include <ATen/native/cpu/Loops.h>",
                    "#include <cmath>"]
    # another installed torch: another header text, so ninja rebuilds the .gch
    assert native_pch.header_for(tmp_path, "lab/cpu/K.cpp", "torch-B") != text
    # a macro set before an include would no longer reach torch's headers through a PCH: none
    k = tmp_path / "lab" / "cpu" / "K.cpp"
    k.write_text("#define TORCH_ASSERT_ONLY_METHOD_OPERATORS\n" + k.read_text())
    assert native_pch.header_for(tmp_path, "lab/cpu/K.cpp", "torch-A") is None


def test_pch_is_built_with_the_objects_flags():
    caps = (("DEFAULT", ()), ("AVX2", ("-mavx2",)))
    units = native_ninja.units_for([], ["lab/k.cpp"], caps, "b", {"lab/k.cpp": {"AVX2": "/c/AVX2.h"}})
    text = native_ninja.render(build_rel="b", cxx="g++", cflags=["-O2"], ldflags=["-shared"], units=units,
                               library="b/lib.so")
    obj = next(b for b in text.split("\nbuild ") if b.startswith("b/obj/lab/k.cpp.AVX2.o: cxx lab/k.cpp | /c/AVX2.h.gch"))
    assert "capflags = -DCPU_CAPABILITY=AVX2 -DCPU_CAPABILITY_AVX2 -mavx2" in obj
    assert "pchflags = -Winvalid-pch -include /c/AVX2.h" in obj
    assert "pchflags" not in next(b for b in text.split("\nbuild ") if b.startswith("b/obj/lab/k.cpp.DEFAULT.o"))
    pch = native_ninja.render_pch(cxx="g++", cflags=["-O2"], units=[
        native_ninja.Unit("AVX2.h", "AVX2.h.gch", "AVX2", ("-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2"))])
    assert "command = $cxx $cflags $capflags -x c++-header $in -o $out" in pch and "cflags = -O2" in pch
    assert "build AVX2.h.gch: pch AVX2.h\n  capflags = -DCPU_CAPABILITY=AVX2 -DCPU_CAPABILITY_AVX2 -mavx2" in pch


@needs_toolchain
def test_pch_cache_is_stamped_last_and_a_broken_header_is_not_used(tmp_path):
    """A header that does not compile gives no PCH (and no stamp); a good one is built once."""
    bad = native_pch.ensure("#include <no/such/header.h>\n", cxx="g++", cflags=["-std=c++17"],
                            capabilities=(("DEFAULT", ()),), root=tmp_path)
    assert bad == {}
    assert not list(tmp_path.rglob(native_pch.STAMP))
    good = native_pch.ensure("#include <vector>\n", cxx="g++", cflags=["-std=c++17"],
                             capabilities=(("DEFAULT", ()),), root=tmp_path)
    gch = Path(good["DEFAULT"] + ".gch")
    assert gch.is_file() and (gch.parent / native_pch.STAMP).is_file()
    mtime = gch.stat().st_mtime_ns
    assert native_pch.ensure("#include <vector>\n", cxx="g++", cflags=["-std=c++17"],
                             capabilities=(("DEFAULT", ()),), root=tmp_path) == good
    assert gch.stat().st_mtime_ns == mtime
    # workspace-relative include dirs (generated headers) do not make another PCH
    assert native_pch.ensure("#include <vector>\n", cxx="g++", cflags=["-std=c++17", "-I", ".lab/gen", "-I."],
                             capabilities=(("DEFAULT", ()),), root=tmp_path) == good
    src = tmp_path / "k.cpp"
    src.write_text("std::vector<int> v;\n")  # compiles only through the -include'd PCH
    out = subprocess.run(["g++", "-std=c++17", "-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT",
                          "-Winvalid-pch", "-include", good["DEFAULT"], "-c", str(src), "-o", str(tmp_path / "k.o")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "pch" not in out.stderr, out.stderr


def native_probe_compilers(ws: Path) -> list[int]:
    """Compilers still running on this workspace's files (a Ctrl-C must have ended them)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path("/proc", pid, "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if ("cc1plus" in cmd or "g++" in cmd) and cwd == str(ws):
            out.append(int(pid))
    return out


def test_redefined_schema_is_caught_at_the_learners_line(tmp_path):
    src = tmp_path / "lab" / "ops.cpp"
    src.parent.mkdir()
    src.write_text(
        "#include <torch/library.h>\n"
        "// TORCH_LIBRARY(aten, m) in a comment does not count\n"
        "TORCH_LIBRARY_FRAGMENT(aten, m) {\n"
        "  m.def(\"squareplus(Tensor self) -> Tensor\");\n"
        "  m.def(\"logaddexp(Tensor self, Tensor other) -> Tensor\");\n"
        "}\n"
        "TORCH_LIBRARY(aten, m) {}\n")
    diags = native_probe.scan_sources(tmp_path, ["lab/ops.cpp"], ["logaddexp", "logaddexp.out", "add.Tensor"])
    assert [(d.file, d.line) for d in diags] == [("lab/ops.cpp", 7), ("lab/ops.cpp", 5)]
    assert "aten::logaddexp" in diags[1].message and "aborts" in diags[1].message


def test_load_failures_are_explained():
    dup = ("terminate called after throwing an instance of 'c10::Error'\n  what():  Tried to register an operator "
           "(aten::logaddexp(Tensor self, Tensor other) -> Tensor) with the same name and overload name multiple "
           "times. Each overload's schema should only be registered with a single call to def(). Duplicate "
           "registration: registered at lab/ops.cpp:12. Original registration: registered at "
           "/__w/pytorch/pytorch/build/aten/src/ATen/RegisterSchema.cpp:6\n")
    (d,) = native_probe.explain_load_failure(dup, -6, ("lab/ops.cpp",))
    assert (d.file, d.line) == ("lab/ops.cpp", 12) and "aten::logaddexp" in d.message
    und = "OSError: /ws/.lab/build/native/liblab.so: undefined symbol: _ZN3lab3fooEv"
    (d,) = native_probe.explain_load_failure(und, 1, ("lab/ops.cpp",))
    assert "_ZN3lab3fooEv" in d.message and "never defined" in d.message


def test_ninja_file_is_relative_and_escaped():
    units = native_ninja.units_for(["lab/a b.cpp"], ["lab/k.cpp"], (("DEFAULT", ()), ("AVX2", ("-mavx2",))),
                                   ".lab/build/native")
    text = native_ninja.render(build_rel=".lab/build/native", cxx="g++", cflags=["-I", "/x/$dir"],
                               ldflags=["-shared"], units=units, library=".lab/build/native/liblab.so")
    assert "build .lab/build/native/obj/lab/a$ b.cpp.o: cxx lab/a$ b.cpp" in text
    assert "-DCPU_CAPABILITY=AVX2 -DCPU_CAPABILITY_AVX2 -mavx2" in text
    assert "/x/$$dir" in text
    assert [u.capability for u in units] == ["", "DEFAULT", "AVX2"]


def test_torchgen_runs_only_when_the_workspace_yaml_differs(tmp_path):
    from torchatlas.contrib.builders import native_torchgen

    spec = importlib.util.find_spec("torch")
    if spec is None:
        pytest.skip("needs the installed torch")
    torch_dir = list(spec.submodule_search_locations)[0]
    installed = native_torchgen.installed_torchgen(torch_dir)
    if not (installed / "packaged").is_dir():
        pytest.skip("no torchgen beside the installed torch")
    assert not native_torchgen.yaml_changed(tmp_path, torch_dir)  # no torchgen/ at all (lab fix-a-kernel)
    for rel in ("packaged/ATen/native/native_functions.yaml", "packaged/autograd/derivatives.yaml"):
        dst = tmp_path / "torchgen" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(installed / rel, dst)
    assert not native_torchgen.yaml_changed(tmp_path, torch_dir)  # an unchanged copy
    yaml = tmp_path / "torchgen/packaged/autograd/derivatives.yaml"
    yaml.write_text(yaml.read_text() + "\n# an edit\n")
    assert native_torchgen.yaml_changed(tmp_path, torch_dir)


def test_a_second_torch_library_aten_is_explained():
    text = ("terminate called after throwing an instance of 'c10::Error'\n  what():  Only a single TORCH_LIBRARY can be "
            "used to register the namespace aten; please put all of your definitions in a single TORCH_LIBRARY block. "
            "If you were trying to specify implementations, consider using TORCH_LIBRARY_IMPL (which can be duplicated). "
            "Previous registration of TORCH_LIBRARY was registered at /__w/pytorch/pytorch/build/aten/src/ATen/"
            "RegisterSchema.cpp:6; latest registration was registered at lab/ops.cpp:3\n")
    (d,) = native_probe.explain_load_failure(text, -6, ("lab/ops.cpp",))
    assert (d.file, d.line) == ("lab/ops.cpp", 3) and "TORCH_LIBRARY_FRAGMENT(aten, m)" in d.message


def test_generated_pch_header_is_the_union_of_the_slices_torch_includes(tmp_path):
    """torchgen's slices share one PCH: their torch includes (quoted ones too, when the installed
    headers have them) in order, not the new operator's own headers; a slice that sets a macro
    other than torchgen's include assertions before its includes does not use it."""
    root = tmp_path / "torch-include"
    for h in ("torch/library.h", "torch/csrc/autograd/VariableTypeUtils.h", "ATen/Tensor.h"):
        (root / h).parent.mkdir(parents=True, exist_ok=True)
        (root / h).write_text("#pragma once\n")
    gen = tmp_path / "ws" / "gen"
    (gen / "include" / "ATen" / "ops").mkdir(parents=True)
    (gen / "include" / "ATen" / "ops" / "newop.h").write_text("#pragma once\n")
    (gen / "autograd").mkdir()
    (gen / "autograd" / "Functions.h").write_text("#pragma once\n#include <ATen/Tensor.h>\n")
    (gen / "RegisterCPU.cpp").write_text(
        "#if defined(CAFFE2_BUILD_MAIN_LIB)\n#define TORCH_ASSERT_ONLY_METHOD_OPERATORS\n#endif\n"
        "#include <torch/library.h>\n#include <ATen/ops/newop.h>\n")
    (gen / "autograd" / "VariableType.cpp").write_text(
        '#include "Functions.h"\n#define TORCH_ASSERT_ONLY_METHOD_OPERATORS\n'
        '#include "torch/csrc/autograd/VariableTypeUtils.h"\n#include "not/installed.h"\n#include <torch/library.h>\n')
    (gen / "Odd.cpp").write_text("#define SOMETHING_ELSE 1\n#include <ATen/Tensor.h>\n")
    srcs = ["gen/RegisterCPU.cpp", "gen/autograd/VariableType.cpp", "gen/Odd.cpp"]
    text, users = native_pch.header_for_generated(tmp_path / "ws", srcs, "torch-A", [str(root)], ["gen/include"])
    assert [ln for ln in text.splitlines() if ln.startswith("#")] == [
        "#include <torch/library.h>", "#include <ATen/Tensor.h>", "#include <torch/csrc/autograd/VariableTypeUtils.h>"]
    assert users == ("gen/RegisterCPU.cpp", "gen/autograd/VariableType.cpp")
    assert native_pch.header_for_generated(tmp_path / "ws", srcs, "torch-B", [str(root)], ["gen/include"])[0] != text


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")
def test_unity_compiles_register_files_that_define_the_same_helpers(tmp_path):
    """Two Register<Key> slices each define torchgen's dispatch helpers under the same names: the
    unit renames them per file, and the macros do not reach a header that uses the same word."""
    from torchatlas.contrib.builders import native_gen

    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "h.h").write_text("#pragma once\ninline int twice(int create_out) { return 2 * create_out; }\n")
    for n, key in ((1, "CPU"), (2, "Meta")):
        (tmp_path / f"Register{key}.cpp").write_text(
            f'#include <h.h>\nnamespace at {{ namespace {{\nint create_out() {{ return {n}; }}\n'
            f'int resize_out(int x) {{ return x; }}\n}}\nint via_{key}() {{ return twice(resize_out(create_out())); }}\n}}\n')
    (tmp_path / "autograd").mkdir()
    (tmp_path / "autograd" / "Node.h").write_text("#pragma once\nstruct Node { int v = 7; };\n")
    (tmp_path / "autograd" / "Functions.cpp").write_text('#include "Node.h"\nint node() { return Node().v; }\n')
    text = native_gen.unity(tmp_path, ["RegisterCPU.cpp", "RegisterMeta.cpp", "autograd/Functions.cpp"])
    lines = text.splitlines()
    assert lines.index("#include <h.h>") < lines.index("#define create_out create_out_RegisterCPU")
    assert '#include "autograd/Node.h"' in lines  # a slice's own header, found from the unit
    (tmp_path / "unity.cpp").write_text(text + "int main() { return at::via_CPU() * 10 + at::via_Meta() + node(); }\n")
    exe = tmp_path / "u"
    out = subprocess.run(["g++", "-I", str(tmp_path / "inc"), str(tmp_path / "unity.cpp"), "-o", str(exe)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert subprocess.run([str(exe)]).returncode == 2 * 10 + 4 + 7  # each file called its own helpers
