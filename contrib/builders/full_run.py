"""Run a planned full PyTorch build (`lab build --full --run`): the plan's commands one after
another in the workspace, with the plan's environment, output streamed. Ctrl-C stops the whole
process group; what was built stays in build/ for the next run (CMake and ninja resume)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys


def run_full(root, plan) -> int:
    env = {**os.environ, **dict(plan.env)}
    for command in plan.commands:
        print(f"$ {command}", flush=True)
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        proc = subprocess.Popen(argv, cwd=root, env=env, start_new_session=True)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait()
            raise
        if code != 0:
            print(f"torchatlas: `{command}` failed with exit code {code}")
            return 1
    return 0
