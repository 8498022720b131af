"""The pieces of `torchatlas pr` that need no git or server: the diff's changed lines, lint rules,
torchgen's errors placed at file:line, labels from paths, the change's symbols and operators, OpInfo
entries, and the ranking of test files."""

from __future__ import annotations

from pathlib import Path

from torchatlas.contrib.pr import labeler, lint, select_tests
from torchatlas.contrib.pr.start import lines_of_diff

DIFF = """\
diff --git a/torch/x.py b/torch/x.py
--- a/torch/x.py
+++ b/torch/x.py
@@ -1,4 +1,5 @@
 a = 1
-b = 2
+b = 3
+c = 4
 d = 5
 e = 6
@@ -10,3 +11,2 @@
 k = 1
-gone = 1
 m = 2
diff --git a/lab/new.py b/lab/new.py
new file mode 100644
--- /dev/null
+++ b/lab/new.py
@@ -0,0 +1,2 @@
+x = 1
+y = 2
"""


def test_changed_lines_are_the_added_ones_not_the_context():
    assert lines_of_diff(DIFF) == {"torch/x.py": {2, 3, 12}, "lab/new.py": {1, 2}}


def test_builtin_python_rules(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\nimport sys  # noqa: F401\nx = 1 \nif x:\n\tz = 1\n")
    assert {(x.line, x.code) for x in lint.check_python_file(f, "m.py")} == {(1, "F401"), (3, "W291"), (5, "W191")}
    f.write_text("def f(:\n")
    assert [(x.line, x.code) for x in lint.check_python_file(f, "m.py")] == [(1, "E999")]
    f.write_text("import os\nx = 1 \n" + "y = '" + "a" * 130 + "'\n")
    assert {(x.line, x.code) for x in lint.check_python_file(f, "m.py")} == {(1, "F401"), (2, "W291"), (3, "E501")}
    assert str(lint.Finding("m.py", 3, "E501", "line too long")) == "m.py:3: E501 line too long"


def test_lint_keeps_findings_on_changed_lines_and_reads_the_tree_config(tmp_path):
    (tmp_path / ".flake8").write_text("[flake8]\nmax-line-length = 20\n")
    (tmp_path / "a.py").write_text("import os\nx = 'a long line, longer than twenty'\n")
    r = lint.lint(tmp_path, ["a.py"], {"a.py": {2}})
    assert [(f.line, f.code) for f in r.findings] == [(2, "E501")] and "the tree's .flake8" in r.tools[0]
    r = lint.lint(tmp_path, ["a.py"], {"a.py": {2}}, new_files={"a.py"})
    assert [(f.line, f.code) for f in r.findings] == [(1, "F401"), (2, "E501")]


def test_torchgen_errors_land_on_the_entry():
    yaml_text = "- func: add(Tensor self) -> Tensor\n  variants: function\n\n- func: glu(Tensor self) -> Tensor\n"
    f = lint.torchgen_finding("n.yaml", "AssertionError",
                              "glu is marked as a structured_delegate pointing to glu.outt, but it is missing.",
                              yaml_text)
    assert (f.line, f.code) == (4, "TG001") and "structured_delegate" in f.message
    f = lint.torchgen_finding("n.yaml", "AssertionError", "bad variant\n  in /x/native_functions.yaml:1234:\n  func",
                              yaml_text)
    assert f.line == 1234


def test_labels_from_paths_and_from_the_trees_labeler(tmp_path):
    names = [lb.name for lb in labeler.labels_for(["torch/nn/functional.py", "test/test_nn.py"])]
    assert names == ["release notes: nn"]
    assert [lb.name for lb in labeler.labels_for(["test/test_nn.py", "docs/x.md"])] == ["topic: not user facing"]
    assert [lb.name for lb in labeler.labels_for(["torch/fx/graph.py"])] == ["release notes: fx"]
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "labeler.yml").write_text('"module: dynamo":\n- torch/_dynamo/**\n')
    names = [lb.name for lb in labeler.labels_for(["torch/_dynamo/eval_frame.py"], tmp_path)]
    assert names == ["module: dynamo", "release notes: dynamo"]


def test_the_change_names_symbols_and_ops():
    text = "def a():\n    return 1\n\n\nclass B:\n    def m(self):\n        return 2\n"
    assert select_tests.python_symbols(text, {2}) == [("a", 1)]
    assert select_tests.python_symbols(text, {7}) == [("m", 6)]
    assert select_tests.python_symbols("class C:\n    def forward(self):\n        return 1\n", {3}) == [("C", 1), ("forward", 2)]
    assert select_tests.python_symbols("def f():\n    def helper():\n        return 1\n", {3}) == [("f", 1), ("helper", 2)]
    yaml_text = "- func: glu.out(Tensor self) -> Tensor\n  python_module: nn\n\n- func: glu(Tensor self) -> Tensor\n"
    assert select_tests.yaml_ops(yaml_text, {5}) == [("glu", 4)]


def test_selection_ranks_test_files_and_opinfos(tmp_path):
    (tmp_path / "torch" / "nn").mkdir(parents=True)
    (tmp_path / "torch" / "nn" / "functional.py").write_text("def glu(x):\n    return x\n")
    (tmp_path / "torch" / "testing" / "_internal").mkdir(parents=True)
    (tmp_path / "torch" / "testing" / "_internal" / "common_methods_invocations.py").write_text(
        "op_db = [\n    OpInfo('nn.functional.glu',\n           dtypes=x),\n    UnaryUfuncInfo('abs'),\n]\n")
    (tmp_path / "test" / "nn").mkdir(parents=True)
    (tmp_path / "test" / "test_nn.py").write_text("import torch.nn.functional as F\n")
    (tmp_path / "test" / "nn" / "test_glu.py").write_text(
        "from torch.nn.functional import glu\n\n\ndef test_glu_halves():\n    glu(1)\n")
    (tmp_path / "test" / "test_other.py").write_text("print('nothing')\n")
    change = select_tests.analyse(tmp_path, ["torch/nn/functional.py"], {"torch/nn/functional.py": {2}})
    assert change.symbols == {"glu": "torch/nn/functional.py:1"} and "torch.nn.functional.glu" in change.callables
    tests = select_tests.select(tmp_path, change)
    names = [t.name for t in tests]
    assert names[0] == "test/nn/test_glu.py -k glu" and "OpInfo nn.functional.glu" in names
    assert "test/test_other.py" not in " ".join(names)
    op = next(t for t in tests if t.kind == "opinfo")
    assert "common_methods_invocations.py:2" in op.why


def test_k_filter_names_are_what_the_file_uses(tmp_path):
    assert select_tests.module_of("torch/nn/__init__.py") == "torch.nn"
    assert select_tests.module_of("torch/nn/functional.py") == "torch.nn.functional"
    assert select_tests.module_of("aten/x.cpp") is None
    assert Path(lint.YAML_CHECKOUT).name == "native_functions.yaml"


def test_public_methods_sharing_private_state_stand_in_for_a_private_change():
    text = ("class M:\n    def register_hook(self, h):\n        self._hooks.append(h)\n\n"
            "    def _call(self):\n        for h in self._hooks:\n            h()\n\n"
            "    def other(self):\n        return self._state\n")
    assert select_tests.shared_state(text, {6}) == [("register_hook", "_hooks")]
