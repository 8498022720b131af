"""What the native builder compiles against: the installed torch's headers, libraries and flags.

An overlay library must match the torch it is loaded into exactly: its include dirs, the C++
standard its headers need, `_GLIBCXX_USE_CXX11_ABI` as torch was built, and libtorch_cpu/libc10
to link to. Reading them means importing torch (1-2 s), so it happens once, in a subprocess
(the builder's own process never imports torch), and the answer is cached in the build folder,
keyed by the installed libtorch_cpu's path, size and mtime (a reinstalled torch is probed again).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .base import BuildFailed

CACHE_FILE = "toolchain.json"

# Each DispatchStub kernel file is compiled once per CPU capability, with the flags PyTorch's
# cmake/Codegen.cmake uses; the stub picks the best one the machine has at run time. Only x86-64
# is handled: the wheel's DispatchStub there declares DEFAULT, AVX2 and AVX512 members.
X86_CAPABILITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DEFAULT", ()),
    ("AVX2", ("-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c")),
    ("AVX512", ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c")),
)
# On every file, so DispatchStub's declarations (and DispatchStubImpl::get_call_ptr's signature)
# match the ones libtorch_cpu was built with; without them: undefined symbol ...get_call_ptr...
X86_STUB_DEFINES = ("-DHAVE_AVX2_CPU_DEFINITION", "-DHAVE_AVX512_CPU_DEFINITION")

_PROBE = r"""
import json, re, sys
import torch, torch.utils.cpp_extension as ce
src = open(ce.__file__, encoding="utf-8").read()
stds = sorted({int(n) for n in re.findall(r"-std=c\+\+(\d+)", src)})
print(json.dumps({
    "version": torch.__version__,
    "torch_dir": torch.__path__[0],
    "include_dirs": ce.include_paths(),
    "lib_dir": ce.TORCH_LIB_PATH if hasattr(ce, "TORCH_LIB_PATH") else torch.__path__[0] + "/lib",
    "cxx11_abi": int(bool(torch._C._GLIBCXX_USE_CXX11_ABI)),
    "cxx_std": "c++%d" % (stds[-1] if stds else 17),
    "aten_ops": sorted(n[len("aten::"):] for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")),
}))
"""


@dataclass(frozen=True)
class Toolchain:
    version: str
    torch_dir: str
    include_dirs: tuple[str, ...]
    lib_dir: str
    cxx11_abi: int
    cxx_std: str  # e.g. "c++20", as torch.utils.cpp_extension of this torch passes it
    aten_ops: tuple[str, ...]  # aten operator names (with overload) the installed torch defines
    key: str = ""

    @property
    def capabilities(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return X86_CAPABILITIES if _is_x86() else (("DEFAULT", ()),)

    @property
    def stub_defines(self) -> tuple[str, ...]:
        return X86_STUB_DEFINES if _is_x86() else ()

    def cflags(self) -> list[str]:
        flags = [f"-std={self.cxx_std}", "-fPIC", "-O2", f"-D_GLIBCXX_USE_CXX11_ABI={self.cxx11_abi}",
                 "-Wno-psabi", *self.stub_defines]
        for d in self.include_dirs:
            flags += ["-isystem", d]
        return flags

    def ldflags(self) -> list[str]:
        # --no-undefined: a symbol nobody defines fails the link (with the object that wanted it),
        # not the load in the middle of a check.
        return ["-shared", "-Wl,--no-undefined", f"-L{self.lib_dir}", f"-Wl,-rpath,{self.lib_dir}",
                "-ltorch_cpu", "-lc10"]


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def installed_torch_key() -> str:
    """Identifies the installed torch without importing it: libtorch_cpu's path, size and mtime."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise BuildFailed("torch is not installed in this Python",
                          hint=f"{sys.executable} -m pip install torch (the native mode compiles against it)")
    torch_dir = Path(list(spec.submodule_search_locations)[0])
    lib = torch_dir / "lib" / "libtorch_cpu.so"
    try:
        st = lib.stat()
    except OSError:
        raise BuildFailed(f"{lib} is missing: the native mode needs a torch wheel with its C++ libraries") from None
    return f"{sys.executable}|{lib}|{st.st_size}|{st.st_mtime_ns}"


_memo: dict[str, Toolchain] = {}


def toolchain(cache_dir: Path) -> Toolchain:
    """The installed torch's build facts, from memory, the build folder's cache, or a probe."""
    key = installed_torch_key()
    if key in _memo:
        return _memo[key]
    cache = cache_dir / CACHE_FILE
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") == key:
            tc = _from_json(data)
            _memo[key] = tc
            return tc
    except (OSError, ValueError, TypeError, KeyError):
        pass
    tc = _probe(key)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(tc)), encoding="utf-8")
    os.replace(tmp, cache)
    _memo[key] = tc
    return tc


def _from_json(data: dict) -> Toolchain:
    return Toolchain(
        version=data["version"], torch_dir=data["torch_dir"], include_dirs=tuple(data["include_dirs"]),
        lib_dir=data["lib_dir"], cxx11_abi=int(data["cxx11_abi"]), cxx_std=data["cxx_std"],
        aten_ops=tuple(data["aten_ops"]), key=data.get("key", ""))


def _probe(key: str) -> Toolchain:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed torch, not a workspace's
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300,
                             env=env, cwd="/")  # -c puts the cwd first on sys.path: not a folder holding torch/
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildFailed(f"could not ask the installed torch for its build flags: {e}") from None
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        raise BuildFailed(f"could not ask the installed torch for its build flags (exit {out.returncode}):\n{tail}")
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BuildFailed(f"unexpected answer from the torch probe: {out.stdout[-300:]!r}") from None
    data["key"] = key
    return _from_json(data)
