"""`torchatlas pr` as a learner meets it: start (never on their own tree; refusals that change nothing),
lint, tests, describe, and the flow through the rehearsal server with the bot's checks: a lint error
shown at file:line, a failing test named, a missing label explained, a second push re-running the
checks, a review by someone else, `@pytorchbot merge` landing a real commit on the base branch.

A small workspace stands in for a lab's (a git repository with `pristine` and `starter` commits and
`.lab/workspace.json`, its `torch` a symlink to the installed package), so the flow runs in seconds;
`test_rehearse_a_lab_solution` runs the real thing on a real workspace.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from torchatlas.cli import main

ASSETS = Path(__file__).parent.parent / "assets" / "labs"
STARTER = 'import torch\n\n\ndef square(x):\n    # TODO\n    raise NotImplementedError("TODO: square")\n'
SOLUTION = "import torch\n\n\ndef square(x):\n    # done\n    return x * x\n"


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def env(tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    shutil.copytree(ASSETS / "square", labs / "square")
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TORCHATLAS_LABS_HOME", str(tmp_path / "labs-home"))
    monkeypatch.setenv("TORCHATLAS_LABS_PATH", str(labs))
    monkeypatch.setenv("TORCHATLAS_PR_USER", "ada")
    monkeypatch.setenv("TORCHATLAS_FORGE_URL", "http://127.0.0.1:9")  # nothing listens there
    return tmp_path


def fake_workspace(tmp_path: Path) -> Path:
    """A lab workspace of lab `square`: what `lab start square` makes, with torch symlinked."""
    from torchatlas.contrib.progress import LabsProgress
    from torchatlas.indexes.sources import installed_root
    site = installed_root()
    if site is None:
        pytest.skip("torch is not installed in this Python")
    ws = tmp_path / "ws"
    ws.mkdir()
    git(ws, "init", "-q", "-b", "main")
    (ws / ".git" / "info" / "exclude").write_text("/.lab/\n__pycache__/\n")
    os.symlink(site / "torch", ws / "torch")
    (ws / "README.md").write_text("a workspace\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "pristine")
    pristine = git(ws, "rev-parse", "HEAD").strip()
    (ws / "lab").mkdir()
    (ws / "lab" / "sq.py").write_text(STARTER)
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "starter: lab square")
    starter = git(ws, "rev-parse", "HEAD").strip()
    (ws / ".lab").mkdir()
    (ws / ".lab" / "workspace.json").write_text(json.dumps(
        {"lab_id": "square", "kind": "installed", "source_root": str(site), "version": "test", "pristine": pristine,
         "starter": starter, "branch": "", "created": 0.0}))
    p = LabsProgress()
    p.started("square", ws)
    p.save()
    return ws


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- start ------------------------------------------------------------------------------------------

def test_start_from_a_lab_leaves_the_workspace_as_it_was(env, capsys):
    ws = fake_workspace(env)
    (ws / "lab" / "sq.py").write_text(SOLUTION)
    head = git(ws, "rev-parse", "HEAD")
    code, out, _ = run(capsys, "pr", "start", "--lab", "square", "--json")
    pr = json.loads(out)
    assert code == 0 and pr["branch"] == "ada/lab-square" and pr["kind"] == "lab"
    assert git(ws, "rev-parse", "HEAD") == head and git(ws, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert (ws / "lab" / "sq.py").read_text() == SOLUTION, "the learner's file must not move"
    assert git(ws, "rev-parse", "ada/lab-square").strip() == pr["base"]

    code, _, err = run(capsys, "pr", "start", "--lab", "square")
    assert code == 2 and "branch ada/lab-square exists" in err and "--branch" in err


def test_start_without_a_lab_workspace_says_how_to_make_one(env, capsys):
    code, _, err = run(capsys, "pr", "start", "--lab", "square")
    assert code == 1 and "no workspace" in err and "torchatlas lab start square" in err
    code, out, _ = run(capsys, "pr", "start", "--lab", "squar", "--json")
    assert code == 1 and "did you mean square" in json.loads(out)["hint"]


def test_start_from_a_checkout_uses_a_worktree_and_refuses_dirty_or_detached(env, capsys):
    repo = env / "pytorch"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "torch").mkdir()
    (repo / "torch" / "a.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    (repo / "torch" / "a.py").write_text("x = 2\n")
    code, _, err = run(capsys, "pr", "start", "--repo", str(repo))
    assert code == 2 and "uncommitted changes (torch/a.py)" in err and "git stash" in err
    assert (repo / "torch" / "a.py").read_text() == "x = 2\n"
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "checkout", "-q", "--detach")
    code, _, err = run(capsys, "pr", "start", "--repo", str(repo))
    assert code == 2 and "detached HEAD" in err and "git switch" in err
    git(repo, "checkout", "-q", "main")
    code, out, _ = run(capsys, "pr", "start", "--repo", str(repo), "--branch", "ada/fix-a", "--json")
    pr = json.loads(out)
    assert code == 0 and Path(pr["root"]).is_dir() and pr["base_branch"] == "main"
    assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main" and not git(repo, "status", "--porcelain")
    assert git(Path(pr["root"]), "symbolic-ref", "--short", "HEAD").strip() == "ada/fix-a"
    code, _, err = run(capsys, "pr", "start", "--repo", str(repo), "--branch", "ada/fix-a")
    assert code == 2 and "exists" in err


# -- lint / tests / describe -------------------------------------------------------------------------

def test_lint_tests_describe_on_the_change(env, capsys):
    ws = fake_workspace(env)
    (ws / "lab" / "sq.py").write_text("import os\n" + SOLUTION.replace("return x * x", "return x * x   "))
    assert run(capsys, "pr", "start", "--lab", "square")[0] == 0
    code, out, _ = run(capsys, "pr", "lint", "--json")
    found = {(f["path"], f["line"], f["code"]) for f in json.loads(out)["findings"]}
    assert code == 1 and found == {("lab/sq.py", 1, "F401"), ("lab/sq.py", 7, "W291")}
    code, out, _ = run(capsys, "pr", "lint")
    assert "lab/sq.py:1: F401 'os' imported but unused" in out

    code, out, _ = run(capsys, "pr", "tests", "--json")
    tests = json.loads(out)["tests"]
    assert code == 0 and tests[0]["kind"] == "lab-check" and "square" in tests[0]["why"]

    code, out, _ = run(capsys, "pr", "describe", "--fixes", "42", "--json")
    d = json.loads(out)
    assert code == 0 and "Fixes #42" in d["body"] and "## Test plan" in d["body"] and "`lab/sq.py`" in d["body"]
    assert [lb["name"] for lb in d["labels"]] == ["topic: not user facing"]


def test_submit_and_serve_bad_input(env, capsys):
    fake_workspace(env)
    assert run(capsys, "pr", "start", "--lab", "square")[0] == 0
    code, _, err = run(capsys, "pr", "submit")
    assert code == 1 and "no rehearsal server is running at http://127.0.0.1:9" in err and "pr serve" in err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = run(capsys, "pr", "serve", "--port", str(port), "--root", str(env / "forge"))
    assert code == 2 and f"port {port}" in err and "--port" in err


# -- the flow through the server ----------------------------------------------------------------------

def test_the_flow_through_the_rehearsal_server(env, capsys):
    from torchatlas.contrib.forge import server
    from torchatlas.contrib.forge.client import Forge
    from torchatlas.contrib.pr.rehearse import pr_checker
    ws = fake_workspace(env)
    running = server.start_background(env / "forge", checker=pr_checker)
    try:
        learner = Forge.rehearsal(running.api_url, "learner")
        assert run(capsys, "pr", "start", "--lab", "square")[0] == 0

        # a failing test, and a lint error: the first push
        (ws / "lab" / "sq.py").write_text("import os\n" + SOLUTION.replace("x * x", "x + x"))
        code, out, err = run(capsys, "pr", "submit", "--server", running.url, "--remote", "learner/pytorch", "--json")
        sub = json.loads(out)
        assert code == 0 and sub["opened"] and sub["labels"] == ["topic: not user facing"], err
        full, n = sub["repo"], sub["number"]
        assert learner.files(full, n) == ["lab/sq.py"]
        assert running.wait_idle(120)
        runs = {c.name: c for c in learner.check_runs(full, sub["commit"])}
        assert runs["lint"].conclusion == "failure" and "lab/sq.py:1: F401" in runs["lint"].summary
        assert runs["tests: lab square"].conclusion == "failure" and "test_square" in runs["tests: lab square"].summary

        learner.comment(full, n, "@pytorchbot merge")
        bot = [c.body for c in learner.comments(full, n) if c.user == "pytorchbot"][-1]
        assert not learner.pull(full, n).merged and "lint" in bot

        # the fix: a second push updates the PR and runs the checks again
        (ws / "lab" / "sq.py").write_text(SOLUTION)
        code, out, _ = run(capsys, "pr", "submit", "--server", running.url, "--remote", "learner/pytorch", "--json")
        again = json.loads(out)
        assert code == 0 and not again["opened"] and again["number"] == n and again["commit"] != sub["commit"]
        assert running.wait_idle(120)
        assert {s.state for s in learner.statuses(full, again["commit"])} == {"success"}
        assert len(learner.commits(full, n)) == 2

        # no review yet: refused, with why
        learner.comment(full, n, "@pytorchbot merge")
        bot = [c.body for c in learner.comments(full, n) if c.user == "pytorchbot"][-1]
        assert not learner.pull(full, n).merged and "review" in bot.lower()
        Forge.rehearsal(running.api_url, "reviewer").review(full, n, "APPROVE")
        learner.comment(full, n, "@pytorchbot merge")
        pull = learner.pull(full, n)
        assert pull.merged and pull.merge_commit_sha
        bare = running.root / "repos" / "learner" / "pytorch.git"
        assert git(bare, "show", "main:lab/sq.py") == SOLUTION

        # a PR without its release-notes/topic label: the bot explains and refuses
        code, _, _ = run(capsys, "pr", "start", "--lab", "square", "--branch", "ada/second")
        (ws / "lab" / "sq.py").write_text(SOLUTION.replace("# done", "# done, twice"))
        from torchatlas.contrib.pr import rehearse, start
        pr = start.find_pr(lab_id="square")
        res = rehearse.submit(pr, server=running.url, remote="learner/pytorch", labels_by_bot=True)
        assert running.wait_idle(120)
        Forge.rehearsal(running.api_url, "reviewer").review(full, res["number"], "APPROVE")
        learner.comment(full, res["number"], "@pytorchbot merge")
        bot = [c.body for c in learner.comments(full, res["number"]) if c.user == "pytorchbot"][-1]
        assert not learner.pull(full, res["number"]).merged and "release notes:" in bot
    finally:
        running.stop()


def test_rehearse_a_lab_solution(env, capsys):
    """The whole flow on a real workspace of the lab, its reference solution, to a merged PR."""
    code, out, err = run(capsys, "pr", "rehearse", "--lab", "square", "--solution", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["merged"], err + out
    actions = [s["action"] for s in rec["steps"]]
    for a in ("branch", "server", "lint", "tests", "describe", "open_pull", "label", "checks", "review", "merge"):
        assert a in actions
    assert Path(rec["record"]).is_file()
    code, out, _ = run(capsys, "pr", "rehearse", "--history", "--json")
    assert code == 0 and len(json.loads(out)["rehearsals"]) == 1


def test_the_pr_commit_carries_the_learners_git_identity(env, capsys):
    from torchatlas.contrib.pr import start
    ws = fake_workspace(env)
    git(ws, "config", "user.name", "Ada Lovelace")
    git(ws, "config", "user.email", "ada@example.org")
    assert run(capsys, "pr", "start", "--lab", "square")[0] == 0
    (ws / "lab" / "sq.py").write_text(SOLUTION)
    pr = start.find_pr(lab_id="square")
    tip, made = start.snapshot(pr, "square: x * x")
    assert made and git(ws, "log", "-1", "--format=%an <%ae>", tip).strip() == "Ada Lovelace <ada@example.org>"
    assert git(ws, "rev-parse", "HEAD").strip() == pr.base, "the workspace's HEAD stays on the starter"
    assert not git(ws, "diff", "--cached", "--name-only"), "the workspace's index is untouched"
    assert start.snapshot(pr, "again") == (tip, False)
