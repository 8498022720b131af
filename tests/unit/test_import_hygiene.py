"""Query paths must not import torch (1.5 s) or textual; nothing below the explorer imports textual."""

import subprocess
import sys

import pytest

MODULES = ["torchatlas.cli", "torchatlas.commands", "torchatlas.indexes.store", "torchatlas.indexes.queries",
           "torchatlas.indexes.code_queries", "torchatlas.indexes.trace", "torchatlas.indexes.code_index",
           "torchatlas.indexes.pipeline", "torchatlas.indexes.resolver", "torchatlas.indexes.runtime",
           "torchatlas.indexes.lookups", "torchatlas.indexes.candidates", "torchatlas.indexes.native_decls",
           "torchatlas.indexes.live_calls", "torchatlas.indexes.dispatch_process",
           "torchatlas.contrib.cli", "torchatlas.contrib.runner", "torchatlas.contrib.devcheck",
           "torchatlas.contrib.workspace", "torchatlas.contrib.builders.extension", "torchatlas.contrib.builders.native",
           "torchatlas.contrib.builders.codegen"]


@pytest.mark.parametrize("module", MODULES)
def test_no_torch_or_textual(module):
    code = (f"import sys, {module}; bad = [m for m in ('torch', 'textual', 'networkx') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"
