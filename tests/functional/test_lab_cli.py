"""The lab commands as a learner meets them: start, check (text and --json), hint, diff, reset,
solution, status; and `lab dev check` telling an honest lab from a dishonest one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from torchatlas.cli import main

ASSETS = Path(__file__).parent.parent / "assets" / "labs"


@pytest.fixture
def env(tmp_path, monkeypatch, installed_source):
    labs = tmp_path / "labs"
    shutil.copytree(ASSETS / "square", labs / "square")
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TORCHATLAS_LABS_PATH", str(labs))
    return labs


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_learner_goes_from_start_to_done(env, capsys, tmp_path):
    code, out, _ = run(capsys, "lab", "start", "square")
    assert code == 0 and "workspace:" in out
    ws = tmp_path / "state" / "labs" / "square"
    assert (ws / "lab" / "sq.py").is_file()

    code, out, _ = run(capsys, "lab", "check", "square", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["lab"] == "square" and verdict["passed"] is False
    assert set(verdict["checks"][0]) == {"name", "passed", "message"}
    failing = [c for c in verdict["checks"] if not c["passed"]]
    assert failing and "NotImplementedError" in failing[0]["message"] and "lab/sq.py:" in failing[0]["message"]

    code, out, _ = run(capsys, "lab", "hint", "square")
    assert code == 0 and "hint 1/1" in out and "x*x" in out

    # a partly right answer: floats pass, the hidden integer check does not
    (ws / "lab" / "sq.py").write_text("import torch\n\n\ndef square(x):\n    return torch.pow(x, 2.0)\n")
    code, out, _ = run(capsys, "lab", "check", "square")
    assert code == 1
    assert "✓ test_sq::test_square" in out and "✗ test_hidden::test_keeps_dtype (hidden)" in out
    assert "integer" in out

    (ws / "lab" / "sq.py").write_text("import torch\n\n\ndef square(x):\n    return x * x\n")
    code, out, _ = run(capsys, "lab", "check", "square")
    assert code == 0 and "lab square done" in out

    code, out, _ = run(capsys, "lab", "diff", "square")
    assert "+    return x * x" in out and "-    raise NotImplementedError" in out

    code, out, _ = run(capsys, "lab", "status", "--json")
    row = next(r for r in json.loads(out) if r["id"] == "square")
    assert row["id"] == "square" and row["done"] and row["checks_passed"] == row["checks_total"] == 3

    code, out, _ = run(capsys, "lab", "reset", "square", "--yes")
    assert code == 0 and "attempt is saved" in out
    saved = list((ws / ".lab").glob("attempt-*.patch"))
    assert saved and "return x * x" in saved[0].read_text()
    assert "NotImplementedError" in (ws / "lab" / "sq.py").read_text()

    code, out, _ = run(capsys, "lab", "solution", "square", "--yes")
    assert code == 0 and "return x * x" in (ws / "lab" / "sq.py").read_text()


def test_unknown_lab_and_lab_not_started(env, capsys):
    code, _, err = run(capsys, "lab", "check", "sqaure")
    assert code == 1 and "did you mean square" in err
    code, _, err = run(capsys, "lab", "check", "square")
    assert code == 2 and "lab start square" in err


def test_list_and_theme_filter(env, capsys):
    code, out, _ = run(capsys, "lab", "list", "--json")
    ids = [r["id"] for r in json.loads(out)]
    assert code == 0 and "square" in ids
    code, out, _ = run(capsys, "lab", "list", "--theme", "3", "--json")
    assert all(r["theme"] == 3 for r in json.loads(out))
    code, out, _ = run(capsys, "lab", "list", "--theme", "27", "--json")
    assert json.loads(out) == []


def test_dev_check_tells_honest_from_dishonest(env, capsys):
    code, out, _ = run(capsys, "lab", "dev", "check", "square", "--json")
    report = json.loads(out)["labs"][0]
    assert code == 0 and report["ok"], out
    assert [s["stage"] for s in report["stages"]] == ["starter", "solution"]

    # a solution with a hunk that does not matter: leaving it out still passes -> not honest
    lab = env / "square"
    (lab / "solution.patch").write_text((lab / "solution.patch").read_text().replace(
        " import torch\n", " import torch\n+# a comment that changes nothing\n").replace("@@ -1,6 +1,6 @@", "@@ -1,6 +1,7 @@"))
    (lab / "solution.patch").write_text((lab / "solution.patch").read_text() +
                                        "diff --git a/lab/notes.md b/lab/notes.md\nnew file mode 100644\n"
                                        "--- /dev/null\n+++ b/lab/notes.md\n@@ -0,0 +1 @@\n+notes\n")
    code, out, _ = run(capsys, "lab", "dev", "check", "square", "--json")
    report = json.loads(out)["labs"][0]
    assert code == 1 and not report["ok"]
    bad = [s for s in report["stages"] if not s["ok"]]
    assert [s["stage"] for s in bad] == ["solution without lab/notes.md hunk 1/1 (line 0)"]
    assert "every check passed" in bad[0]["why"]


def test_dev_check_flags_a_starter_that_already_passes(env, capsys):
    lab = env / "square"
    (lab / "starter.patch").write_text((lab / "starter.patch").read_text()
                                       .replace('+    # TODO\n+    raise NotImplementedError("TODO: square")',
                                                "+    # TODO\n+    return x * x"))
    code, out, _ = run(capsys, "lab", "dev", "check", "square", "--no-partial")
    assert code == 1 and "starter: must fail" in out and "NOT HONEST" in out


def test_a_lab_whose_library_is_missing_says_which_extra_installs_it(env, capsys):
    """`requires:` a module this Python lacks: start says so, check refuses (exit 2) naming the extra
    instead of running checks that die on an ImportError."""
    lab_yaml = env / "square" / "lab.yaml"
    text = lab_yaml.read_text()
    lab_yaml.write_text(text.replace("edits: [lab/sq.py]", "edits: [lab/sq.py]\nrequires: [no_such_lib_xyz]\nextra: onnx"))
    code, _, err = run(capsys, "lab", "start", "square")
    assert code == 0 and "needs no_such_lib_xyz: pip install -e '.[onnx]'" in err
    code, out, err = run(capsys, "lab", "check", "square")
    assert code == 2 and "cannot be checked here" in err and ".[onnx]" in err and "nothing was run" in err


def test_remove_keeps_the_change_as_a_patch_and_forgets_the_workspace(env, capsys, tmp_path):
    code, _out, _ = run(capsys, "lab", "start", "square")
    assert code == 0
    ws = tmp_path / "state" / "labs" / "square"
    (ws / "lab" / "sq.py").write_text("def square(x):\n    return x * x  # my attempt\n")
    code, out, _ = run(capsys, "lab", "remove", "square", "--yes")
    assert code == 0 and not ws.exists(), out
    [saved] = (tmp_path / "state" / "labs" / "removed").glob("square-*.patch")
    assert "+    return x * x  # my attempt" in saved.read_text() and str(saved) in out
    code, out, _ = run(capsys, "lab", "status", "--json")
    assert next(r for r in json.loads(out) if r["id"] == "square")["workspace"] in ("", None)
    code, _out, err = run(capsys, "lab", "check", "square")
    assert code != 0 and "no workspace yet" in err  # and `lab start` makes a new one
    assert run(capsys, "lab", "start", "square")[0] == 0 and (ws / "lab" / "sq.py").is_file()


def test_remove_on_a_checkout_deletes_the_worktree_and_a_branch_without_the_learners_commits(env, capsys, tmp_path):
    from git_checkout import git, make_checkout
    repo = make_checkout(tmp_path / "pytorch")
    for commit_on_it, words in ((False, "deleted branch"), (True, "kept branch")):
        ws = tmp_path / f"ws-{commit_on_it}"
        assert run(capsys, "lab", "start", "square", "--source", str(repo), "--workspace", str(ws))[0] == 0
        if commit_on_it:
            (ws / "lab" / "sq.py").write_text("def square(x):\n    return x * x\n")
            git(ws, "commit", "-q", "-am", "my fix")
        code, out, _ = run(capsys, "lab", "remove", "square", "--workspace", str(ws), "--yes")
        assert code == 0 and words in out, out
        assert not ws.exists() and git(repo, "worktree", "list").count("\n") == 1
        branches = git(repo, "branch", "--list")
        assert ("torchatlas/lab/square" in branches) == commit_on_it, branches
        assert git(repo, "status", "--porcelain") == ""


def test_list_says_which_labs_change_a_checkouts_own_code(env, capsys):
    code, out, _ = run(capsys, "lab", "list", "--json")
    variants = {r["id"]: r["on_checkout"] for r in json.loads(out) if r["on_checkout"]}
    assert code == 0 and set(variants) == {"fix-a-kernel"} and "TriangularOps.cpp" in variants["fix-a-kernel"]
    code, out, _ = run(capsys, "lab", "list")
    assert out.rstrip().splitlines()[-1].startswith("fix-a-kernel: on a checkout of the installed torch's release")
