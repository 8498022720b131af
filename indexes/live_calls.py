"""Which operators a CompositeImplicitAutograd kernel calls, asked of the installed torch.

The installed package has no kernel bodies, so `trace` cannot read at::native::conv2d_symint to
see that it calls at::convolution. The installed torch can show it: run the operator once on a
small sample under a TorchDispatchMode, which sees the operators the decomposition dispatches
(the composite kernel runs above the Python key, its callees reach it). The sample comes from
PyTorch's own OpInfo database (torch.testing._internal.common_methods_invocations), so no
argument is invented here.

torch is imported only in a subprocess (a few seconds: torch, then the OpInfo database): this is
what `trace --runtime` pays, never a plain query.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass

from .errors import AtlasError

_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
want = json.loads(sys.stdin.read())
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.testing._internal.common_methods_invocations import op_db

packet = getattr(torch.ops.aten, want["name"])
overload = getattr(packet, want["overload"] or "default")
calls = []

class Log(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name + ("." + func._overloadname if func._overloadname != "default" else "")
        calls.append(name)
        return func(*args, **(kwargs or {}))

out = {"calls": [], "sample": None, "errors": []}
infos = [i for i in op_db if i.aten_name == want["name"] or i.name == want["name"]]
infos += [i for i in op_db if i not in infos and i.name.rsplit(".", 1)[-1] == want["name"]]
for info in infos:
    try:
        samples = list(info.sample_inputs("cpu", torch.float32))[:3]
    except Exception as e:
        out["errors"].append(f"{info.name}: {e}")
        continue
    for sample in samples:
        calls.clear()
        try:
            with Log():
                overload(sample.input, *sample.args, **sample.kwargs)
        except Exception as e:
            out["errors"].append(f"{info.name}: {type(e).__name__}: {str(e)[:200]}")
            continue
        out["calls"] = list(dict.fromkeys(calls))
        out["sample"] = info.name
        break
    if out["sample"]:
        break
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True)
class LiveCalls:
    op: str
    calls: tuple[str, ...]  # aten::convolution, ... in the order the decomposition dispatched them
    sample: str | None  # the OpInfo whose sample ran; None when none fit the overload
    errors: tuple[str, ...] = ()


def live_calls(op: str, timeout: float = 120.0) -> LiveCalls:
    """Run `op` (aten::conv2d) on an OpInfo sample in a subprocess and return the operators its
    kernel dispatched to. Raises AtlasError when the subprocess cannot run."""
    name, _, overload = op.split("::", 1)[-1].partition(".")
    try:
        p = subprocess.run([sys.executable, "-c", _SCRIPT], input=json.dumps({"name": name, "overload": overload}),
                           capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AtlasError(f"could not run the installed torch to see what {op} calls: {e}") from e
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        missing = re.search(r"No module named '([\w.]+)'", tail)
        if missing:  # torch's OpInfo database imports NumPy (and expecttest): not torch's own requirements
            module = missing.group(1).split(".")[0]
            raise AtlasError(f"the OpInfo samples of the installed torch need {module}, which {sys.executable} "
                             f"cannot import", hint=f"{sys.executable} -m pip install {module} (or trace without "
                             "--runtime: the static walk)")
        raise AtlasError(f"the installed torch failed to run {op} on a sample: {tail}",
                         hint="trace without --runtime shows the static walk")
    data = json.loads(p.stdout.strip().splitlines()[-1])
    calls = tuple("aten::" + c.split("::", 1)[-1] for c in data["calls"])
    return LiveCalls(op, calls, data["sample"], tuple(data["errors"][:5]))
