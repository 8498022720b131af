"""Patches as values: parsing git's diffs, leaving one hunk out, refusing unsafe paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from torchatlas.contrib.patchfile import PatchError, parse, unsafe_path

TWO_FILES = """\
diff --git a/lab/a.py b/lab/a.py
--- a/lab/a.py
+++ b/lab/a.py
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
@@ -8,3 +8,4 @@
 eight
 nine
+nine and a half
 ten
diff --git a/lab/new.py b/lab/new.py
new file mode 100644
--- /dev/null
+++ b/lab/new.py
@@ -0,0 +1,2 @@
+x = 1
+y = 2
"""


def test_parse_counts_files_hunks_and_paths():
    p = parse(TWO_FILES)
    assert [f.path for f in p.files] == ["lab/a.py", "lab/new.py"]
    assert p.files[1].old_path is None
    assert p.hunk_count == 3
    assert p.render() == TWO_FILES
    assert p.hunk_labels()[1] == "lab/a.py hunk 2/2 (line 8)"


def test_without_a_hunk_git_applies_the_rest(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "a.py").write_text("".join(f"{w}\n" for w in
                                                  "one two three four five six seven eight nine ten".split()))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    p = parse(TWO_FILES)
    text = p.without_hunk(0).render()
    assert "-two" not in text and "+nine and a half" in text
    assert "@@ -8,3 +8,4 @@" in text
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=text, text=True, check=True)
    a = (tmp_path / "lab" / "a.py").read_text()
    assert "two\n" in a and "TWO" not in a and "nine and a half" in a
    assert (tmp_path / "lab" / "new.py").exists()
    # leaving out the only hunk of a new file drops the file
    assert [f.path for f in p.without_hunk(2).files] == ["lab/a.py"]


def test_shifted_new_starts_stay_consistent():
    text = ("--- a/lab/a.py\n+++ b/lab/a.py\n@@ -1,2 +1,3 @@\n one\n+zero\n two\n"
            "@@ -8,3 +9,4 @@\n eight\n nine\n+nine and a half\n ten\n")
    kept = parse(text).without_hunk(0).render()
    assert "@@ -8,3 +8,4 @@" in kept and "zero" not in kept


@pytest.mark.parametrize("text, line, words", [
    ("hello\n", 1, "not a unified diff"),
    ("--- a/x\nnot plus\n", 1, "without a following"),
    ("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n one\n", 0, ""),
    ("--- a/x\n+++ b/x\n@@ nonsense @@\n", 3, "malformed hunk header"),
])
def test_malformed_patches_say_where(text, line, words):
    if not words:
        parse(text)  # a short final hunk is tolerated by the reader; git decides
        return
    with pytest.raises(PatchError) as e:
        parse(text)
    assert words in e.value.message and e.value.line == line


@pytest.mark.parametrize("path, bad", [
    ("lab/x.py", False), ("torch/nn/modules/linear.py", False), ("../outside.py", True),
    ("/etc/passwd", True), ("lab/../../x", True), (".git/hooks/pre-commit", True), (".lab/workspace.json", True),
    ("~/x", True),
])
def test_unsafe_paths(path, bad):
    assert (unsafe_path(path) is not None) == bad
