"""Shared fixtures: the installed torch's index and live dispatcher, the full source tree, small trees.

The installed torch is the oracle: its index is built once per session (seconds), and its live
dispatcher is read once, in a subprocess. Tests that need the full PyTorch tree read its path from
TORCHATLAS_TEST_SOURCE and skip with a reason when it is unset (.ci/run sets it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

HAVE_TORCH = importlib.util.find_spec("torch") is not None

# tests/assets holds small trees and labs the tests use as data; their check files are lab content
collect_ignore_glob = ["assets/*"]

# The tests choose their sources themselves: a developer's default source (TORCHATLAS_SOURCE, or
# `torchatlas config set source`) must not leak into them, nor their lab progress into the tests.
os.environ.pop("TORCHATLAS_SOURCE", None)
os.environ["TORCHATLAS_CONFIG"] = (os.path.join(os.path.dirname(__file__), ".no-such-config.toml"))


@pytest.fixture(scope="session")
def installed_source():
    if not HAVE_TORCH:
        pytest.skip("torch is not installed in this Python (pip install torch==2.13.0)")
    from torchatlas.indexes.sources import open_source
    return open_source("installed")


def _shared_index(tmp_path_factory, name: str, source) -> Path:
    """One index per test session, shared by the xdist workers: the first builds it, the others
    wait on the index lock and find it up to date (torchatlas's own concurrency, exercised)."""
    from torchatlas.indexes.pipeline import build_index
    root = tmp_path_factory.getbasetemp()
    shared = root.parent if root.name.startswith("popen-gw") else root
    db = shared / "shared-indexes" / f"{name}.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    build_index(source, db)
    return db


@pytest.fixture(scope="session")
def installed_db(installed_source, tmp_path_factory) -> Path:
    return _shared_index(tmp_path_factory, "installed", installed_source)


@pytest.fixture(scope="session")
def tree_db(source_tree, tmp_path_factory) -> Path:
    """The index of the full tree named by TORCHATLAS_TEST_SOURCE."""
    from torchatlas.indexes.sources import open_source
    return _shared_index(tmp_path_factory, "tree", open_source(str(source_tree)))


@pytest.fixture(scope="session")
def installed_index(installed_db):
    from torchatlas.indexes.store import Index
    idx = Index(installed_db)
    yield idx
    idx.close()


@pytest.fixture(scope="session")
def live_table(installed_source):
    from torchatlas.indexes.runtime import read_live
    return read_live()


@pytest.fixture(scope="session")
def source_tree() -> Path:
    path = os.environ.get("TORCHATLAS_TEST_SOURCE")
    if not path:
        pytest.skip("TORCHATLAS_TEST_SOURCE is unset: set it to a full PyTorch tree "
                    "(../shared/pytorch-source/fetch prints one)")
    p = Path(path)
    if not (p / "aten/src/ATen/native/native_functions.yaml").is_file():
        pytest.fail(f"TORCHATLAS_TEST_SOURCE={path} is not a PyTorch source tree")
    return p


@pytest.fixture
def mini_package(tmp_path, installed_source) -> Path:
    """A package-layout tree: the installed torchgen (real code) with small YAML files of our own.

    Tests write their own native_functions.yaml / derivatives.yaml into it to feed bad input
    through the tree's real torchgen.
    """
    root = tmp_path / "site"
    shutil.copytree(Path(installed_source.root) / "torchgen", root / "torchgen",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "torch").mkdir()
    (root / "torch" / "version.py").write_text("__version__ = '0.0.1+mini'\n")
    return root
