"""Progress through labs, kept across runs: where each lab's workspace is, how many hints were
shown, the last verdict, and when it first passed (rustlings' state file, so `lab watch` and
`lab status` do not recheck finished work).

JSON in the user state dir (`TORCHATLAS_STATE_DIR` overrides). A missing or unreadable file is an
empty progress with a warning, never an error: progress is a convenience. Default workspaces live
under `labs_home()` (`TORCHATLAS_LABS_HOME` overrides; they are 50-150 MB each).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from torchatlas.indexes.cache_dir import state_dir, write_json_atomically

FILE = "labs-progress.json"


def labs_home() -> Path:
    env = os.environ.get("TORCHATLAS_LABS_HOME")
    if env:
        return Path(env).expanduser()
    if os.environ.get("TORCHATLAS_STATE_DIR"):
        return state_dir() / "labs"
    import platformdirs
    return Path(platformdirs.user_data_dir("torchatlas")) / "labs"


@dataclass
class LabProgress:
    workspace: str = ""
    started: float = 0.0
    hints_shown: int = 0
    checks_passed: int = 0
    checks_total: int = 0
    last_checked: float = 0.0
    passed_at: float = 0.0  # when every check first passed; stays set (hints stay visible after)

    @property
    def done(self) -> bool:
        return self.passed_at > 0


class LabsProgress:
    def __init__(self, path: Path | None = None):
        self.path = path or state_dir() / FILE
        self.warning = ""
        self.labs: dict[str, LabProgress] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            fields = set(LabProgress.__dataclass_fields__)
            for lid, d in (data.get("labs") or {}).items():
                self.labs[lid] = LabProgress(**{k: v for k, v in d.items() if k in fields})
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError) as e:
            self.warning = f"lab progress file {self.path} is unreadable ({e}); starting afresh"

    def get(self, lab_id: str) -> LabProgress:
        return self.labs.setdefault(lab_id, LabProgress())

    def started(self, lab_id: str, workspace: Path) -> None:
        p = self.get(lab_id)
        p.workspace, p.started = str(workspace), time.time()

    def record_check(self, lab_id: str, passed: int, total: int) -> bool:
        """Record a verdict; True when this is the first time the lab passed."""
        p = self.get(lab_id)
        p.checks_passed, p.checks_total, p.last_checked = passed, total, time.time()
        first = total > 0 and passed == total and not p.done
        if first:
            p.passed_at = time.time()
        return first

    def save(self) -> None:
        data = {"version": 1, "labs": {lid: asdict(p) for lid, p in self.labs.items()}}
        try:
            write_json_atomically(self.path, data)
        except OSError as e:
            self.warning = f"could not save lab progress to {self.path}: {e}"
