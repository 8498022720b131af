"""The rehearsal server through PyGithub and real git: the PR flow, the bot's refusals, errors, secrecy.

One server per module on port 0, in-process; every step goes through `client.Forge` (PyGithub)
or git over smart HTTP, as `torchatlas pr` will, and as it would against github.com.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from torchatlas.contrib.forge.checks import CheckRun
from torchatlas.contrib.forge.client import Forge, ForgeError
from torchatlas.contrib.forge.server import PortInUse, start_background

PLANTED = "ghp_PLANTEDtokenZZ9q8w7e6r5t4y3u2i1o0"
GIT_ID = ["-c", "user.name=Learner", "-c", "user.email=learner@example.invalid"]


def checker(repo: Path, sha: str) -> list[CheckRun]:
    """A lint that names file:line and a 'test' that fails when the tree says so."""
    text = subprocess.run(["git", "-C", str(repo), "show", f"{sha}:calc.py"], capture_output=True,
                          text=True).stdout
    runs = []
    bad = [i for i, line in enumerate(text.splitlines(), 1) if line != line.rstrip()]
    runs.append(CheckRun("lint", "failure" if bad else "success",
                         "\n".join(f"calc.py:{i}: W291 trailing whitespace" for i in bad) or "clean"))
    broken = "return a - b" in text
    runs.append(CheckRun("test: test_calc.py::test_add", "failure" if broken else "success",
                         "test_calc.py::test_add failed: add(2, 3) == -1, expected 5" if broken else "1 passed"))
    return runs


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("forge")
    running = start_background(root / "state", checker=checker)
    running.add_user("secretive", token=PLANTED)
    yield running
    running.stop()


def git(workdir: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(workdir), *GIT_ID, *args], check=True, capture_output=True,
                          text=True).stdout


def commit(workdir: Path, body: str, message: str) -> None:
    (workdir / "calc.py").write_text(body)
    git(workdir, "add", "calc.py")
    git(workdir, "commit", "-q", "-m", message)


@pytest.fixture
def project(server, tmp_path, request):
    """A fresh learner/calc-TEST with main pushed, and a working copy (each test stands alone: CI
    spreads a module's tests over xdist workers)."""
    forge = Forge.rehearsal(server.api_url, "learner")
    repo = forge.create_repo(f"calc-{request.node.name[5:40]}")
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commit(work, "def add(a, b):\n    return a + b\n", "calc")
    forge.push(work, repo, "main")
    return forge, repo, work


def bot_said(forge, repo, number) -> str:
    return [c.body for c in forge.comments(repo.full_name, number) if c.user == "pytorchbot"][-1]


def test_the_whole_flow_refusals_then_merge(server, project):
    forge, repo, work = project
    reviewer = Forge.rehearsal(server.api_url, "reviewer")
    git(work, "checkout", "-q", "-b", "fix-add")
    commit(work, "def add(a, b):  \n    return a - b\n", "refactor add")
    forge.push(work, repo, "fix-add")
    pr = forge.open_pull(repo.full_name, "fix-add", "main", "Refactor add", "Summary\n\nFixes #1")
    assert (pr.number, pr.head_ref, pr.base_ref, pr.author, pr.merged) == (1, "fix-add", "main", "learner", False)
    assert server.wait_idle(30)
    assert forge.files(repo.full_name, 1) == ["calc.py"]
    raw = forge._gh.get_repo(repo.full_name).get_pull(1)  # PyGithub's own object: the fields it reads
    assert (raw.changed_files, raw.additions, raw.deletions, raw.commits) == (1, 2, 2, 1)
    assert raw.user.login == "learner" and raw.base.repo.full_name == repo.full_name and raw.mergeable
    assert len(forge.commits(repo.full_name, 1)) == 1
    assert [p.number for p in forge.pulls(repo.full_name)] == [1]
    assert forge.update_pull(repo.full_name, 1, title="Fix add").title == "Fix add"

    # nothing in order: every missing condition is explained
    forge.comment(repo.full_name, 1, "Ready.\n@pytorchbot merge")
    said = bot_said(forge, repo, 1)
    assert "Merge failed" in said and "release notes:" in said and "topic: not user facing" in said
    assert "approving review" in said
    assert "calc.py:1: W291" in said  # the lint check shows file:line
    assert "test_calc.py::test_add" in said  # the failing check names the test
    assert not forge.pull(repo.full_name, 1).merged

    # the author cannot approve their own PR, as on GitHub
    with pytest.raises(ForgeError) as e:
        forge.review(repo.full_name, 1, "APPROVE")
    assert e.value.status == 422 and "own pull request" in e.value.message

    forge.comment(repo.full_name, 1, '@pytorchbot label "topic: not user facing"')
    assert "topic: not user facing" in forge.pull(repo.full_name, 1).labels
    assert reviewer.review(repo.full_name, 1, "APPROVE").state == "APPROVED"
    forge.comment(repo.full_name, 1, "@pytorchbot merge")
    said = bot_said(forge, repo, 1)
    assert "release notes:" not in said and "approving review" not in said and "test_add" in said

    # a second push updates the PR and runs the checks again
    old_head = forge.pull(repo.full_name, 1).head_sha
    commit(work, "def add(a, b):\n    return a + b\n", "fix add for real")
    forge.push(work, repo, "fix-add")
    pr = forge.pull(repo.full_name, 1)
    assert pr.head_sha != old_head and pr.head_sha == git(work, "rev-parse", "HEAD").strip()
    assert server.wait_idle(30)
    states = {s.context: s.state for s in forge.statuses(repo.full_name, pr.head_sha)}
    assert states == {"lint": "success", "test: test_calc.py::test_add": "success", "torchatlas/checks": "success"}
    assert {r.name: r.conclusion for r in forge.check_runs(repo.full_name, old_head)}["lint"] == "failure"

    forge.comment(repo.full_name, 1, "@pytorchbot merge")
    assert "Merged as" in bot_said(forge, repo, 1)
    pr = forge.pull(repo.full_name, 1)
    assert pr.merged and pr.state == "closed"
    git(work, "fetch", "-q", repo.clone_url, "main")
    assert git(work, "rev-parse", "FETCH_HEAD").strip() == pr.merge_commit_sha
    message = git(work, "log", "-1", "--format=%B", "FETCH_HEAD")
    assert "Fix add (#1)" in message and "Approved by: @reviewer" in message
    assert git(work, "show", "FETCH_HEAD:calc.py") == "def add(a, b):\n    return a + b\n"


def test_force_merge_says_what_force_means(server, project):
    forge, repo, work = project
    git(work, "checkout", "-q", "-b", "docs")
    commit(work, "def add(a, b):  \n    return a + b  # sum\n", "comment")
    forge.push(work, repo, "docs")
    forge.open_pull(repo.full_name, "docs", "main", "Comment add", "")
    server.wait_idle(30)
    forge.comment(repo.full_name, 1, '@pytorchbot merge -f "x"')
    assert "Force merge refused" in bot_said(forge, repo, 1) and "three words" in bot_said(forge, repo, 1)
    reviewer = Forge.rehearsal(server.api_url, "reviewer")
    reviewer.comment(repo.full_name, 1, '@pytorchbot merge -f "trunk is broken badly"')
    assert "write access" in bot_said(forge, repo, 1)
    forge.comment(repo.full_name, 1, '@pytorchbot merge -f "critical fix for trunk"')
    said = bot_said(forge, repo, 1)
    assert "forced" in said and "skips every rule" in said and "Merged as" in said  # past red lint, no label
    pr = forge.pull(repo.full_name, 1)
    assert pr.merged
    git(work, "fetch", "-q", repo.clone_url, "main")
    assert "Forced: critical fix for trunk" in git(work, "log", "-1", "--format=%B", "FETCH_HEAD")


def test_rest_merge_is_behind_the_same_rules(server, project):
    forge, repo, work = project
    git(work, "checkout", "-q", "-b", "more")
    commit(work, "def add(a, b):\n    return b + a\n", "commute")
    forge.push(work, repo, "more")
    forge.open_pull(repo.full_name, "more", "main", "Commute", "")
    server.wait_idle(30)
    with pytest.raises(ForgeError) as e:
        forge.merge(repo.full_name, 1, method="merge")
    assert e.value.status == 405 and "release notes" in e.value.message
    forge.add_labels(repo.full_name, 1, "release notes: python_frontend")
    Forge.rehearsal(server.api_url, "reviewer").review(repo.full_name, 1, "APPROVE")
    sha = forge.merge(repo.full_name, 1, method="merge")
    git(work, "fetch", "-q", repo.clone_url, "main")
    assert git(work, "rev-parse", "FETCH_HEAD").strip() == sha
    assert len(git(work, "log", "-1", "--format=%P", sha).split()) == 2  # a real merge commit


def test_merge_asked_while_checks_run_happens_when_they_pass(tmp_path):
    import threading
    gate = threading.Event()

    def slow(repo, sha):
        gate.wait(20)
        return [CheckRun("test: slow", "success", "1 passed")]
    running = start_background(tmp_path / "state", checker=slow)
    try:
        forge = Forge.rehearsal(running.api_url, "learner")
        repo = forge.create_repo("slow")
        work = tmp_path / "w"
        work.mkdir()
        git(work, "init", "-q", "-b", "main")
        commit(work, "a = 1\n", "one")
        forge.push(work, repo, "main")
        git(work, "checkout", "-q", "-b", "b")
        commit(work, "a = 2\n", "two")
        forge.push(work, repo, "b")
        forge.open_pull(repo.full_name, "b", "main", "Two", "")
        forge.add_labels(repo.full_name, 1, "topic: not user facing")
        Forge.rehearsal(running.api_url, "reviewer").review(repo.full_name, 1, "APPROVE")
        forge.comment(repo.full_name, 1, "@pytorchbot merge")
        assert "once all checks pass" in bot_said(forge, repo, 1) and not forge.pull(repo.full_name, 1).merged
        gate.set()
        assert running.wait_idle(30)
        assert forge.pull(repo.full_name, 1).merged and "Merged as" in bot_said(forge, repo, 1)
    finally:
        gate.set()
        running.stop()


def test_concurrent_pushes_all_land(server, project, tmp_path):
    import threading
    forge, repo, work = project
    shas, errors = {}, []
    for i in range(4):
        wd = tmp_path / f"c{i}"
        subprocess.run(["git", "clone", "-q", str(work), str(wd)], check=True, capture_output=True)
        commit(wd, f"v = {i}\n", f"c{i}")
        shas[f"c{i}"] = git(wd, "rev-parse", "HEAD").strip()

    def push(name):
        try:
            forge.push(tmp_path / name, repo, name)
        except ForgeError as e:
            errors.append(e.message)
    threads = [threading.Thread(target=push, args=(n,)) for n in shas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for name, sha in shas.items():
        assert git(work, "ls-remote", repo.clone_url, f"refs/heads/{name}").split()[0] == sha


def _raw(server, method, path, body: bytes | None = None, token="learner"):
    req = urllib.request.Request(server.api_url + path, data=body, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_errors_are_githubs(server, project):
    forge, repo, _ = project
    with pytest.raises(ForgeError) as e:
        Forge.rehearsal(server.api_url, "nobody", token="not-a-token").login
    assert e.value.status == 401 and "Bad credentials" in e.value.message
    with pytest.raises(ForgeError) as e:
        forge.pull(repo.full_name, 999)
    assert e.value.status == 404
    status, body = _raw(server, "POST", "/user/repos", b"{not json")
    assert status == 400 and body["message"].startswith("Problems parsing JSON") and "documentation_url" in body
    status, body = _raw(server, "GET", "/repos/learner/nope")
    assert (status, body["message"]) == (404, "Not Found")
    status, body = _raw(server, "POST", f"/repos/{repo.full_name}/pulls", b'{"title": "t", "head": "nope", "base": "main"}')
    assert status == 422 and body["errors"][0]["field"] == "head"


def test_pushing_needs_write_access(server, project, tmp_path):
    _, repo, work = project
    with pytest.raises(ForgeError) as e:
        Forge.rehearsal(server.api_url, "reviewer").push(work, repo, "sneaky")
    assert "refused" in e.value.message and "403" in e.value.message
    with pytest.raises(ForgeError):
        Forge.rehearsal(server.api_url, "x", token="wrong").push(work, repo, "sneaky")


def test_port_in_use_names_it(server):
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(PortInUse) as e:
        start_background(Path(server.root), port)
    assert str(port) in str(e.value) and "--port" in str(e.value)


def test_a_planted_token_appears_nowhere(server, tmp_path, capfd, caplog):
    import logging
    caplog.set_level(logging.DEBUG)
    forge = Forge.rehearsal(server.api_url, "secretive", token=PLANTED)
    assert forge.login == "secretive" and PLANTED not in repr(forge)
    repo = forge.create_repo("secret-calc")
    work = tmp_path / "w"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commit(work, "def add(a, b):\n    return a + b\n", "calc")
    print(forge.push(work, repo, "main"))
    git(work, "checkout", "-q", "-b", "f")
    commit(work, "def add(a, b):\n    return a+b\n", "style")
    print(forge.push(work, repo, "f"))
    print(forge.open_pull(repo.full_name, "f", "main", "Style", "body"))
    forge.comment(repo.full_name, 1, "@pytorchbot merge")
    server.wait_idle(30)
    try:
        forge.review(repo.full_name, 1, "APPROVE")
    except ForgeError as e:
        print(e)
    from torchatlas.contrib.forge.record import Recorder
    rec = Recorder(tmp_path / "rec.json", secrets=(PLANTED,))
    rec.step("push", f"pushed with {PLANTED}")
    out, err = capfd.readouterr()
    texts = [out, err, caplog.text]
    for folder in (Path(server.root), tmp_path):
        for path in folder.rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("latin-1"))
    in_basic = base64.b64encode(f"x-access-token:{PLANTED}".encode()).decode()[8:40]  # the header's form
    for t in texts:
        assert PLANTED not in t and in_basic not in t
    assert "secretive" in out  # the outputs were captured (the grep looked at something)


def test_state_survives_a_restart_and_a_stopped_server_is_named(tmp_path):
    running = start_background(tmp_path / "state")
    forge = Forge.rehearsal(running.api_url, "learner")
    forge.create_repo("kept", auto_init=True)
    running.stop()
    with pytest.raises(ForgeError) as e:
        forge.repo("learner/kept")
    assert "no server answers" in e.value.message and "torchatlas pr serve" in e.value.message
    assert not list((tmp_path / "state").rglob("*.tmp"))  # atomic writes leave no temporary file behind
    again = start_background(tmp_path / "state")
    try:
        kept = Forge.rehearsal(again.api_url, "learner").repo("learner/kept")
        out = subprocess.run(["git", "ls-remote", kept.clone_url], capture_output=True, text=True, check=True).stdout
        assert kept.default_branch == "main" and "refs/heads/main" in out  # auto_init made a first commit
    finally:
        again.stop()


def test_github_token_from_environment_or_git_credentials(monkeypatch, tmp_path, capfd):
    from torchatlas.contrib.forge import client
    for var in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user's git config, no user's helper
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "credential.helper")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "")
    assert client.token_from_environment() is None
    with pytest.raises(ForgeError) as e:
        Forge.github()
    assert "GITHUB_TOKEN" in e.value.message
    helper = tmp_path / "helper.sh"
    helper.write_text(f"#!/bin/sh\nread x\necho username=someone\necho password={PLANTED}\n")
    helper.chmod(0o755)
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(helper))
    assert client.token_from_environment() == PLANTED
    monkeypatch.setenv("GH_TOKEN", "from-gh-token")
    assert client.token_from_environment() == "from-gh-token"
    monkeypatch.setenv("GITHUB_TOKEN", "from-github-token")
    forge = Forge.github()  # no network here: only built, never called
    assert forge.api_url == "https://api.github.com" and "from-github-token" not in repr(forge)
    out, err = capfd.readouterr()
    assert PLANTED not in out + err


def test_damaged_state_is_named_and_bad_names_refused(server, tmp_path):
    from torchatlas.contrib.forge.store import Store, StoreError
    (tmp_path / "repos" / "x").mkdir(parents=True)
    (tmp_path / "repos" / "x" / "r.json").write_text('{"owner": "x",\n  oops}')
    with pytest.raises(StoreError) as e:
        Store(tmp_path)
    assert "r.json:2" in str(e.value)
    for name in ("..", ".hidden", "a/b", "x.git", ""):
        status, body = _raw(server, "POST", "/user/repos", json.dumps({"name": name}).encode())
        assert status in (404, 422), name  # "a/b" never reaches the route
