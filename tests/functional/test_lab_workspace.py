"""Workspaces over the installed torch and over a git checkout: what they hold, what they refuse,
and that nothing is lost or half-made when a patch fails or a start is interrupted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from git_checkout import git, make_checkout

from torchatlas.contrib.loader import load_labs
from torchatlas.contrib.workspace import (PatchDoesNotApply, WorkspaceError, apply_patch, create_workspace,
                                          open_workspace, reset_workspace)

ASSETS = Path(__file__).parent.parent / "assets" / "labs"


@pytest.fixture(scope="module")
def square():
    return load_labs([str(ASSETS)], builtin=False).labs["square"]


@pytest.fixture
def ws(square, installed_source, tmp_path):
    return create_workspace(square, installed_source, tmp_path / "ws")


def _tree_state(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted((root / "lab").rglob("*")) + [root / "torch/nn/modules/linear.py"]:
        if p.is_file() and "__pycache__" not in p.parts:
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def test_installed_workspace_copies_python_and_links_the_rest(ws, installed_source):
    site = Path(installed_source.info.root)
    root = ws.root
    assert (root / "torch" / "__init__.py").is_file() and not (root / "torch" / "__init__.py").is_symlink()
    assert (root / "torch" / "lib").is_symlink() and os.readlink(root / "torch" / "lib") == str(site / "torch" / "lib")
    assert (root / "torchgen" / "packaged" / "ATen" / "native" / "native_functions.yaml").is_file()
    assert (root / "lab" / "sq.py").read_text().count("NotImplementedError") == 1  # the starter is applied
    log = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True).stdout
    assert log.splitlines() == ["starter: lab square", f"pristine: torch {installed_source.info.version}"]
    assert open_workspace(root) == ws
    # the visible check is there to read; the hidden one is not
    assert sorted(p.name for p in (root / ".lab" / "checks").iterdir()) == ["test_sq.py"]


def test_a_workspace_imports_its_own_torch(ws):
    env = {**os.environ, "PYTHONPATH": str(ws.root)}
    (ws.root / "torch" / "nn" / "modules" / "linear.py").write_text(
        (ws.root / "torch" / "nn" / "modules" / "linear.py").read_text() + "\nWORKSPACE_MARK = 42\n")
    out = subprocess.run(["python", "-c", "import torch, torch.nn.modules.linear as l; print(torch.__file__, "
                          "l.WORKSPACE_MARK)"], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith(str(ws.root)) and out.split()[-1] == "42"


@pytest.mark.parametrize("path, words", [
    ("../escape.py", "climbs out"), ("/tmp/escape.py", "absolute"),
    ("torch/lib/evil.py", "through a symlink"), (".git/hooks/post-commit", "own git"),
])
def test_a_patch_that_escapes_is_refused_and_nothing_changes(ws, path, words):
    before = _tree_state(ws.root)
    patch = f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+boom\n"
    with pytest.raises(WorkspaceError) as e:
        apply_patch(ws.root, patch, "evil.patch")
    assert words in str(e.value) and "evil.patch" in str(e.value)
    assert _tree_state(ws.root) == before
    assert not (Path(ws.source_root) / "torch" / "lib" / "evil.py").exists()


def test_a_patch_that_does_not_apply_names_file_and_hunk_and_leaves_the_workspace(ws):
    before = _tree_state(ws.root)
    patch = ("--- a/lab/sq.py\n+++ b/lab/sq.py\n@@ -1,2 +1,2 @@\n-import torch\n+import torch  # changed\n \n"
             "--- a/torch/nn/modules/linear.py\n+++ b/torch/nn/modules/linear.py\n"
             "@@ -1,3 +1,3 @@\n-this line is not in the file\n+x\n context that is not there\n more\n")
    with pytest.raises(PatchDoesNotApply) as e:
        apply_patch(ws.root, patch, "partial.patch")
    msg = str(e.value)
    assert "torch/nn/modules/linear.py" in msg and "hunk 1 of 1" in msg and "partial.patch" in msg
    assert _tree_state(ws.root) == before, "the first file's hunk applied although the second failed"


def test_reset_returns_to_the_starter(ws):
    (ws.root / "lab" / "sq.py").write_text("def square(x):\n    return x * x\n")
    (ws.root / "lab" / "extra.py").write_text("x = 1\n")
    reset_workspace(ws)
    assert "NotImplementedError" in (ws.root / "lab" / "sq.py").read_text()
    assert not (ws.root / "lab" / "extra.py").exists()


def test_an_existing_folder_is_not_overwritten(square, installed_source, tmp_path):
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="exists and is not empty"):
        create_workspace(square, installed_source, dest)
    assert (dest / "mine.txt").read_text() == "keep me"


def test_an_interrupted_start_leaves_nothing(square, installed_source, tmp_path):
    def interrupt(msg):
        if "git" in msg:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        create_workspace(square, installed_source, tmp_path / "ws", progress=interrupt)
    assert list(tmp_path.iterdir()) == []


# -- a git checkout -------------------------------------------------------------------------------------

@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "pytorch")


def test_on_a_checkout_the_lab_gets_a_worktree_and_the_users_tree_is_untouched(square, checkout, tmp_path):
    from torchatlas.indexes.sources import open_source
    head = git(checkout, "rev-parse", "HEAD").strip()
    ws = create_workspace(square, open_source(str(checkout)), tmp_path / "ws")
    assert ws.kind == "checkout" and ws.branch == "torchatlas/lab/square"
    assert (ws.root / "lab" / "sq.py").is_file()
    assert not (checkout / "lab").exists(), "the learner's own working tree was modified"
    assert git(checkout, "rev-parse", "HEAD").strip() == head
    assert git(checkout, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(checkout, "status", "--porcelain") == ""
    assert "torchatlas/lab/square" in git(checkout, "branch", "--list")
    # a second start of the same lab is refused with what to do
    with pytest.raises(WorkspaceError, match="branch torchatlas/lab/square exists"):
        create_workspace(square, open_source(str(checkout)), tmp_path / "ws2")


def test_a_dirty_checkout_is_refused(square, checkout, tmp_path):
    from torchatlas.indexes.sources import open_source
    (checkout / "torch/__init__.py").write_text("# my work in progress\n")
    with pytest.raises(WorkspaceError) as e:
        create_workspace(square, open_source(str(checkout)), tmp_path / "ws")
    assert "uncommitted changes" in str(e.value) and "torch/__init__.py" in str(e.value)
    assert (checkout / "torch/__init__.py").read_text() == "# my work in progress\n"
    assert not (tmp_path / "ws").exists()


def test_a_checkout_patch_that_does_not_apply_removes_the_worktree_and_branch(square, checkout, tmp_path):
    from dataclasses import replace

    from torchatlas.indexes.sources import open_source
    bad = tmp_path / "bad-lab"
    import shutil
    shutil.copytree(square.folder, bad)
    (bad / "starter.patch").write_text("--- a/torch/__init__.py\n+++ b/torch/__init__.py\n@@ -1 +1 @@\n-nothere\n+x\n")
    lab = replace(square, folder=bad)
    with pytest.raises(PatchDoesNotApply):
        create_workspace(lab, open_source(str(checkout)), tmp_path / "ws")
    assert not (tmp_path / "ws").exists()
    assert "torchatlas/lab/square" not in git(checkout, "branch", "--list")
    assert git(checkout, "worktree", "list").count("\n") == 1


def test_checks_of_a_checkout_run_on_an_overlay_of_the_installed_torch(square, checkout, tmp_path):
    from torchatlas.contrib.checks import run_checks
    from torchatlas.contrib.workspace import check_root
    from torchatlas.indexes.sources import open_source
    ws = create_workspace(square, open_source(str(checkout)), tmp_path / "ws")
    (ws.root / "lab" / "sq.py").write_text("def square(x):\n    return x * x\n")
    root, note = check_root(ws)
    assert root == ws.root / ".lab" / "overlay" and note == ""
    assert (root / "lab" / "sq.py").read_text() == "def square(x):\n    return x * x\n"
    assert all(r.passed for r in run_checks(square, root)), "the solved checkout lab must pass on the overlay"
    # a file no longer changed on the branch goes back to what the installed torch has
    reset_workspace(ws)
    (ws.root / "lab" / "sq.py").unlink()
    check_root(ws)
    assert not (root / "lab" / "sq.py").exists()
    assert git(checkout, "status", "--porcelain") == ""


def test_full_build_plan(ws, square, checkout, tmp_path):
    from torchatlas.contrib.builders.full import describe, plan
    from torchatlas.indexes.sources import open_source
    p = plan(ws.root, ws.kind)
    assert not p.possible and "ships no C++ sources" in p.reason
    (checkout / "aten/src/ATen/native/Add.cpp").write_text("// a kernel\n")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "a kernel")
    cws = create_workspace(square, open_source(str(checkout)), tmp_path / "cws")
    p = plan(cws.root, cws.kind, cores=2)
    env = dict(p.env)
    assert p.possible and env["USE_CUDA"] == "0" and 1 <= int(env["MAX_JOBS"]) <= 2
    assert p.translation_units == 601 and p.hours > 0
    text = describe(p)
    assert "pip install --no-build-isolation -v -e ." in text and "MAX_JOBS=" in text and "GB" in text


# -- a checkout variant (the lab changes the checkout's own kernel file) ---------------------------------

KERNEL = "aten/src/ATen/native/Sq.cpp"


def _variant_lab(square, tmp_path):
    """square with a checkout variant that plants a bug in the checkout's own KERNEL."""
    from dataclasses import replace

    from torchatlas.contrib.model import BuildMode, BuildSpec
    import shutil
    folder = tmp_path / "variant"
    shutil.copytree(square.folder / "checks", folder / "checks")
    (folder / "starter.patch").write_text(
        f"diff --git a/{KERNEL} b/{KERNEL}\n--- a/{KERNEL}\n+++ b/{KERNEL}\n@@ -1 +1 @@\n-int sq(int x) {{ return x * x; }}\n"
        "+int sq(int x) { return x + x; }\n"
        "diff --git a/lab/reg.cpp b/lab/reg.cpp\nnew file mode 100644\n--- /dev/null\n+++ b/lab/reg.cpp\n@@ -0,0 +1 @@\n"
        "+// the registration\n")
    (folder / "solution.patch").write_text(
        f"diff --git a/{KERNEL} b/{KERNEL}\n--- a/{KERNEL}\n+++ b/{KERNEL}\n@@ -1 +1 @@\n-int sq(int x) {{ return x + x; }}\n"
        "+int sq(int x) { return x * x; }\n")
    variant = replace(square, folder=folder, variant="checkout", mode=BuildMode.NATIVE, edits=(KERNEL,),
                      build=BuildSpec(name="lab_sq", sources=(KERNEL, "lab/reg.cpp")))
    return replace(square, on_checkout=variant)


def test_a_checkout_variant_compiles_the_checkouts_own_file_even_once_it_is_pristine_again(square, checkout, tmp_path):
    from torchatlas.contrib.variants import for_source
    from torchatlas.contrib.workspace import apply_patch_file, check_root
    from torchatlas.indexes.sources import installed_version, open_source
    (checkout / KERNEL).write_text("int sq(int x) { return x * x; }\n")
    (checkout / "version.txt").write_text(installed_version().split("+")[0] + "a0\n")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "a kernel")
    source = open_source(str(checkout))
    lab, note = for_source(_variant_lab(square, tmp_path), source.info.layout, source.info.version, installed_version())
    assert lab.variant == "checkout", note
    ws = create_workspace(lab, source, tmp_path / "ws")
    assert ws.variant == "checkout" and ws.sync == (KERNEL,)
    assert open_workspace(ws.root) == ws  # kept in workspace.json
    root, _note = check_root(ws)
    assert (root / KERNEL).read_text() == "int sq(int x) { return x + x; }\n"  # the planted bug, at the same path
    assert (root / "lab" / "reg.cpp").is_file()
    apply_patch_file(ws.root, lab.solution_patch, kind=ws.kind)  # fixed: the file equals the pristine one
    assert ws.git().changed_files(ws.pristine) == ["lab/reg.cpp"]
    check_root(ws)
    assert (root / KERNEL).read_text() == "int sq(int x) { return x * x; }\n", "the fixed kernel left the overlay"
    assert (checkout / KERNEL).read_text() == "int sq(int x) { return x * x; }\n"  # the learner's tree: untouched


def test_a_dev_check_on_a_checkout_leaves_no_branch_or_worktree(square, checkout, tmp_path):
    from torchatlas.contrib.devcheck import dev_check
    from torchatlas.indexes.sources import open_source
    git(checkout, "branch", "torchatlas/lab/square")  # the learner's own start of the lab: not in the way
    report = dev_check(square, open_source(str(checkout)), workdir=tmp_path)
    assert report.ok, [(s.name, s.why()) for s in report.stages if not s.ok]
    assert git(checkout, "branch", "--list").split() == ["*", "main", "torchatlas/lab/square"]
    assert git(checkout, "worktree", "list").count("\n") == 1
    assert git(checkout, "status", "--porcelain") == ""
