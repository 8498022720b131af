"""Q3, Q4, Q7: what the dispatcher runs for aten::add.Tensor, checked against native_functions.yaml
and the live dispatch table."""

import os
import re

import pytest
import torch
import yaml

import lab.answers as answers

_LINE = re.compile(r"^(?P<key>\w+): (?:fallthrough )?registered at (?P<file>.+):(?P<line>\d+) \[[^\]]+\]$")


def _live(op):
    """{key: (file, line)} parsed from the live dispatch table (independently of the learner's code)."""
    out = {}
    for line in torch._C._dispatch_dump_table(op).splitlines():
        m = _LINE.match(line.strip())
        if m:
            out[m["key"]] = (m["file"], int(m["line"]))
    return out


def _yaml_entry(func_prefix):
    """The native_functions.yaml entry whose `func:` starts with func_prefix (only that block is parsed)."""
    import torchgen

    path = os.path.join(os.path.dirname(torchgen.__file__), "packaged", "ATen", "native", "native_functions.yaml")
    text = open(path, encoding="utf-8").read()
    start = text.index(f"- func: {func_prefix}")
    end = text.find("\n- func:", start + 1)
    return yaml.safe_load(text[start:end if end > 0 else None])[0]


def _cpu_kernel_of_add():
    """What torchgen registers at CPU for add.out: a `CPU:` dispatch entry, or its ufunc kernel."""
    from torchgen.api.ufunc import schema_kernel_name
    from torchgen.model import DispatchKey, FunctionSchema

    entry = _yaml_entry("add.out(")
    for keys, kernel in (entry.get("dispatch") or {}).items():
        if "CPU" in [k.strip() for k in keys.split(",")]:
            return kernel
    assert "ufunc_inner_loop" in entry, "add.out has neither a CPU dispatch entry nor a ufunc_inner_loop"
    return schema_kernel_name(FunctionSchema.parse(entry["func"]), DispatchKey.CPU)


def test_add_cpu_kernel():
    got = answers.ADD_CPU_KERNEL
    assert got is not None, "ADD_CPU_KERNEL is not answered yet (it is None in lab/answers.py)"
    assert "CPU" in _live("aten::add.Tensor"), "the live dispatcher has no CPU kernel for aten::add.Tensor?"
    real = _cpu_kernel_of_add()
    hint = ("aten::add.Tensor is `structured_delegate: add.out`: its kernels are add.out's. add.out's dispatch "
            "section names no CPU kernel; its `ufunc_inner_loop` makes torchgen generate one, named "
            "ufunc_<op>_<key>. `torchatlas op aten::add.Tensor` lists the kernel per key")
    if got in ("add_out", "add", "add_stub", "add_kernel"):
        raise AssertionError(f"ADD_CPU_KERNEL = {got!r} is a name in the chain, not the kernel registered at CPU. {hint}")
    assert got == real, f"ADD_CPU_KERNEL = {got!r} is not the CPU kernel of aten::add.Tensor. {hint}"


def test_add_meta_kernel_file():
    got = answers.ADD_META_KERNEL_FILE
    assert got is not None, "ADD_META_KERNEL_FILE is not answered yet (it is None in lab/answers.py)"
    file, _line = _live("aten::add.Tensor")["Meta"]
    root = os.path.dirname(os.path.dirname(os.path.realpath(torch.__file__)))
    real = os.path.relpath(os.path.realpath(file), root).replace(os.sep, "/")
    assert got == real, (
        f"ADD_META_KERNEL_FILE = {got!r}, but the live dispatcher registered aten::add.Tensor's Meta kernel "
        "from another file. Read the `Meta:` line of torch._C._dispatch_dump_table('aten::add.Tensor') "
        "(`torchatlas dispatch aten::add.Tensor --runtime`), and give the path from the folder that holds torch")


def test_registered_at_add_cpu():
    live = _live("aten::add.Tensor")
    for key in ("CPU", "Meta", "AutogradCPU"):
        got = answers.registered_at("aten::add.Tensor", key)
        assert isinstance(got, tuple) and len(got) == 2, f"registered_at returned {got!r}, expected a tuple (file, line)"
        file, line = got
        assert isinstance(line, int), f"registered_at('aten::add.Tensor', {key!r}) gave line {line!r} ({type(line).__name__}), expected an int"
        assert (file, line) == live[key], (
            f"registered_at('aten::add.Tensor', {key!r}) = {got!r}, but the live table's `{key}:` line says "
            f"{live[key]!r}. Split 'registered at FILE:LINE [kind]' at the last ':'")


def test_registered_at_missing_key():
    with pytest.raises(KeyError):
        answers.registered_at("aten::add.Tensor", "NoSuchDispatchKey")
