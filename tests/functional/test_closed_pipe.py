"""`torchatlas ... | head -1`: when the reader goes away the command stops quietly, as a Unix tool
does (no BrokenPipeError traceback), with SIGPIPE's exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [["tours", "list"], ["lab", "list"], ["lab", "show", "autograd-function"],
                                  ["tours", "show", "autograd", "--no-run", "--all"]])
def test_a_closed_pipe_is_silent(argv, installed_source):
    proc = subprocess.Popen([sys.executable, "-m", "torchatlas.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0)
    first = proc.stdout.read(1)
    proc.stdout.close()  # `head -c 1` is done reading
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first, "the command printed nothing"
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code in (0, 141), (code, err)
