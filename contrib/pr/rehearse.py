"""Submit and rehearse: the PR through the forge (the rehearsal server, or github.com), and the bot's checks.

`pr_checker` is what the rehearsal server runs on every push to a PR: it checks the pushed commit out
of the bare repository into a scratch folder (never the learner's workspace: the bot sees only what
was pushed), lints the changed lines, and runs the tests the change selects (a lab's change: the
lab's checks, hidden ones too, as CI would). Its summaries name file:line and the failing test.

`rehearse` is the whole flow, narrated and recorded: a server (started for the rehearsal when none
runs), the PR branch, lint, the test selection, the description, push, the PR with its body,
`@pytorchbot label`, the checks, a review by a second rehearsal user, `@pytorchbot merge`.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from torchatlas.indexes.errors import AtlasError

from ..forge.checks import CheckRun
from ..forge.client import Forge, ForgeError
from . import start as startmod

ENV_URL = "TORCHATLAS_FORGE_URL"
REVIEWER = "reviewer"
LEARNER = "learner"


class ForgeProblem(AtlasError):
    """The forge refused or could not be reached (exit 1): what it said, and what to do."""

    exit_code = 1


class PortTaken(AtlasError):
    exit_code = 2


def _forge_error(e: ForgeError, hint: str = "") -> ForgeProblem:
    return ForgeProblem(e.message, hint=hint or ("start one: torchatlas pr serve (or run `torchatlas pr rehearse`, "
                                                 "which starts its own)" if e.status is None else ""))


def forge_root(root: str | None = None) -> Path:
    if root:
        return Path(root).expanduser()
    from ..progress import labs_home
    return labs_home().parent / "forge"


def default_url() -> str:
    from ..forge.server import DEFAULT_PORT
    return os.environ.get(ENV_URL) or f"http://127.0.0.1:{DEFAULT_PORT}"


def _api(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/api/v3") else url + "/api/v3"


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


# -- the bot's checks -----------------------------------------------------------------------------------

def pr_checker(bare: Path, sha: str, *, lab_id: str | None = None) -> list[CheckRun]:
    from ..forge import gitbare
    base = gitbare.merge_base(bare, "HEAD", sha)
    if base is None:
        return [CheckRun("lint", "neutral", "no common history with the default branch: nothing to compare")]
    diff = gitbare.git(bare, "diff", "-U0", "--no-color", f"{base}..{sha}")
    lines = startmod.lines_of_diff(diff)
    status = gitbare.git(bare, "diff", "--name-status", "--no-renames", f"{base}..{sha}")
    files, new = [], set()
    for row in status.splitlines():
        code, _, path = row.partition("\t")
        if code != "D":
            files.append(path)
        if code == "A":
            new.add(path)
    runs: list[CheckRun] = []
    with tempfile.TemporaryDirectory(prefix="torchatlas-bot-") as tmp:
        tree = Path(tmp) / "tree"
        gitbare.git(bare, "worktree", "add", "-q", "--detach", str(tree), sha)
        try:
            runs.append(_lint_run(tree, files, lines, new))
            runs.append(_tests_run(tree, files, lines, lab_id))
        finally:
            gitbare.git(bare, "worktree", "remove", "--force", str(tree), check=False)
            gitbare.git(bare, "worktree", "prune", check=False)
    return runs


def _lint_run(tree: Path, files, lines, new) -> CheckRun:
    from .lint import lint
    report = lint(tree, files, lines, new)
    if report.findings:
        shown = "\n".join(str(f) for f in report.findings[:40])
        more = f"\n... and {len(report.findings) - 40} more" if len(report.findings) > 40 else ""
        return CheckRun("lint", "failure", f"{len(report.findings)} finding(s) on the changed lines:\n{shown}{more}")
    return CheckRun("lint", "success", f"clean: {len(files)} changed file(s) ({'; '.join(report.tools) or 'nothing to lint'})")


def lab_for_paths(paths: list[str], lab_id: str | None = None):
    from ..loader import load_labs
    labs = load_labs().labs
    if lab_id:
        return labs.get(lab_id)
    scored = [(len(set(lab.edits) & set(paths)), lab.id) for lab in labs.values()]
    scored = [s for s in scored if s[0]]
    return labs[max(scored)[1]] if scored else None


def _tests_run(tree: Path, files, lines, lab_id) -> CheckRun:
    lab = lab_for_paths(files, lab_id)
    if lab is not None:
        from ..runner import verify
        verdict = verify(lab, tree)
        failed = [r for r in verdict.results if not r.passed]
        if failed:
            text = "\n".join(f"FAILED {r.name}: {(r.message or '').strip()[:600]}" for r in failed[:6])
            return CheckRun(f"tests: lab {lab.id}", "failure",
                            f"{len(failed)} of {len(verdict.results)} failed:\n{text}")
        return CheckRun(f"tests: lab {lab.id}", "success",
                        f"all {len(verdict.results)} checks of lab {lab.id} passed ({verdict.seconds:.1f} s)")
    from .select_tests import analyse, run_selected, select
    tests = select(tree, analyse(tree, files, lines, None), limit=5)
    if not tests:
        return CheckRun("tests: selected", "neutral", "no test in the tree references what changed")
    built = any((tree / "torch").glob("_C*.so"))
    if not built:
        names = "\n".join(f"{t.name}: {t.why}" for t in tests)
        return CheckRun("tests: selected", "neutral", f"selected (not run: the tree is not built):\n{names}")
    results = run_selected(tests[:3], tree, python_path=tree)
    failed = [r for r in results if not r.passed]
    text = "\n".join(f"{'FAILED' if not r.passed else 'ok'} {r.name}" for r in results)
    return CheckRun("tests: selected", "failure" if failed else "success", text)


# -- submit -------------------------------------------------------------------------------------------

def connect(*, github: bool = False, server: str | None = None, user: str | None = None) -> Forge:
    try:
        if github:
            forge = Forge.github()
        else:
            url = server or default_url()
            if not _answers(url):
                raise ForgeProblem(f"no rehearsal server is running at {url}",
                                   hint="start one in another terminal: torchatlas pr serve (or `torchatlas pr "
                                        "rehearse`, which starts its own); or give --server URL")
            forge = Forge.rehearsal(_api(url), user or LEARNER)
        forge.login  # noqa: B018 - signs in now, so a wrong token fails here and says so
        return forge
    except ForgeError as e:
        raise _forge_error(e, hint="the token comes from GITHUB_TOKEN / GH_TOKEN or git's credential helper "
                                   "(never printed); without --github the rehearsal server is used"
                           if github else "") from None


def submit(pr: startmod.PrBranch, *, github: bool = False, server: str | None = None, remote: str | None = None,
           user: str | None = None, say=None, describe=None, forge: Forge | None = None,
           push_base: bool | None = None, labels_by_bot: bool = False) -> dict:
    """Commit the working tree onto the branch, push, open (or update) the PR; a dict of what happened."""
    say = say or (lambda m: None)
    forge = forge or connect(github=github, server=server, user=user)
    d = describe() if describe else None
    title = d.title if d else pr.branch
    tip, fresh = startmod.snapshot(pr, title)
    say(f"commit {tip[:12]} on {pr.branch}" + ("" if fresh else " (no new change since the last push)"))
    login = forge.login
    full = remote or f"{login}/pytorch"
    created = False
    try:
        try:
            repo = forge.repo(full)
        except ForgeError as e:
            if e.status == 404 and github:
                raise ForgeProblem(f"{full} does not exist on GitHub",
                                   hint="fork pytorch/pytorch to your account first (https://github.com/pytorch/"
                                        "pytorch/fork), or name your repository with --remote OWNER/NAME") from None
            if e.status != 404:
                raise
            owner, _, name = full.partition("/")
            if owner != login:
                raise ForgeProblem(f"{full} does not exist, and only {owner} could create it",
                                   hint=f"use --remote {login}/{name}") from None
            repo = forge.create_repo(name, description="torchatlas rehearsal")
            created = True
            say(f"created the repository {full} on the rehearsal server")
        if push_base if push_base is not None else created:
            say(f"pushing the base ({pr.base[:12]}) as {pr.base_branch}")
            forge.push(Path(pr.root), repo, pr.base_branch, source=pr.base)
        t = time.monotonic()
        forge.push(Path(pr.root), repo, pr.branch, source=f"refs/heads/{pr.branch}", force=True)
        say(f"pushed {pr.branch} ({time.monotonic() - t:.1f} s)")
        existing = [p for p in forge.pulls(full) if p.head_ref == pr.branch and p.state == "open"]
        if existing:
            view = forge.update_pull(full, existing[0].number, title=title, body=d.body if d else None)
            opened = False
        else:
            view = forge.open_pull(full, head=pr.branch, base=pr.base_branch, title=title, body=d.body if d else "")
            opened = True
        labels = tuple(lb.name for lb in (d.labels if d else ()))
        have = view.labels
        if labels and not labels_by_bot:
            have = forge.add_labels(full, view.number, *labels)
    except ForgeError as e:
        raise _forge_error(e) from None
    startmod.record(pr, forge=forge.api_url, remote=full, number=view.number)
    return {"opened": opened, "number": view.number, "html_url": view.html_url, "repo": full, "base": pr.base_branch,
            "branch": pr.branch, "commit": tip, "labels": list(have), "wanted_labels": list(labels),
            "title": title}


# -- serve --------------------------------------------------------------------------------------------

def serve(root: str | None, port: int | None) -> int:
    from ..forge import server
    if port is None:
        port = urlsplit(os.environ[ENV_URL]).port if os.environ.get(ENV_URL) else None
        port = port or server.DEFAULT_PORT
    folder = forge_root(root)
    try:
        server.serve(folder, port, checker=pr_checker)
    except server.PortInUse as e:
        raise PortTaken(f"port {e.port} on 127.0.0.1 is in use (another server?)",
                        hint=f"choose another with --port N (e.g. --port {e.port + 1}), or --port 0 for any free "
                             "port; `pr submit --server URL` then finds it") from None
    return 0


# -- rehearse ---------------------------------------------------------------------------------------------

def rehearse(*, lab_id: str | None = None, workspace: str | None = None, server: str | None = None, port: int = 0,
             narrate=None, solution: bool = False, history: bool = False) -> dict:
    from ..forge.record import Recorder
    from ..forge.record import history as read_history
    rec_dir = forge_root() / "rehearsals"
    if history:
        return {"rehearsals": read_history(rec_dir)}
    say = narrate or (lambda line: None)
    t0 = time.monotonic()
    running = None
    scratch = None
    rec = Recorder(rec_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{lab_id or 'pr'}-{os.getpid()}.json")

    def step(action: str, detail: str, *, ok: bool = True, bot: str = "", since: float | None = None):
        secs = time.monotonic() - since if since is not None else 0.0
        rec.step(action, detail, ok=ok, bot=bot, seconds=secs)
        mark = "✓" if ok else "✗"
        say(f"{mark} {action}: {detail}" + (f"  ({secs:.1f} s)" if since is not None else ""))
        for line in bot.strip().splitlines()[:12]:
            say(f"    pytorchbot> {line}")

    try:
        # 1. the change
        t = time.monotonic()
        pr, lab, scratch = _branch_for(lab_id, workspace, solution, say)
        rec.title = f"rehearsal of {pr.branch}" + (f" (lab {lab.id})" if lab else "")
        step("branch", f"{pr.branch} in {pr.root} (base {pr.base[:12]})", since=t)
        # 2. the server
        t = time.monotonic()
        url = server or (default_url() if _answers(default_url()) else None)
        if url is None:
            from ..forge import server as forge_server
            root = forge_root() if scratch is None else Path(scratch) / "forge"
            try:
                running = forge_server.start_background(root, port=port,
                                                        checker=lambda bare, sha: pr_checker(bare, sha,
                                                                                             lab_id=pr.lab_id or None))
            except forge_server.PortInUse as e:
                raise PortTaken(f"port {e.port} on 127.0.0.1 is in use",
                                hint="choose another with --port N, or --port 0 for any free port") from None
            url = running.url
            step("server", f"started a rehearsal server at {url} (state in {root})", since=t)
        else:
            step("server", f"using the rehearsal server at {url}", since=t)
        learner = connect(server=url, user=LEARNER)
        # 3. lint, tests, description: what the learner does before pushing
        from .actions import describe_pr, lint_pr, select_for
        t = time.monotonic()
        report = lint_pr(pr)
        step("lint", f"{len(report.findings)} finding(s) in {len(report.files)} changed file(s)"
             + "".join(f"\n      {f}" for f in report.findings[:5]), ok=not report.findings, since=t)
        t = time.monotonic()
        _change, tests, _note = select_for(pr)
        step("tests", f"{len(tests)} selected (the bot runs them on push): "
             + ", ".join(x.name for x in tests[:4]), since=t)
        t = time.monotonic()
        d = describe_pr(pr, tests=tests)
        step("describe", f"title {d.title!r}; labels {', '.join(lb.name for lb in d.labels)}", since=t)
        # 4. push and open
        t = time.monotonic()
        remote = f"{LEARNER}/{_repo_name(pr)}"
        result = submit(pr, forge=learner, remote=remote, describe=lambda: d, push_base=True, labels_by_bot=True)
        number, full = result["number"], result["repo"]
        step("open_pull", f"#{number} {result['html_url']} ({pr.branch} -> {result['base']})", since=t)
        # 5. labels, the way a contributor without triage rights adds them
        for lb in d.labels:
            t = time.monotonic()
            reply = _ask_bot(learner, full, number, f'@pytorchbot label "{lb.name}"', running)
            step("label", f'@pytorchbot label "{lb.name}"', bot=reply, since=t)
        # 6. the checks
        t = time.monotonic()
        states = _wait_checks(learner, full, result["commit"], running)
        failing = [s for s in states if s.state != "success"]
        step("checks", "; ".join(f"{s.context}: {s.state}" for s in states) or "no checks reported",
             ok=not failing, since=t, bot="\n".join(f"{s.context}: {s.description}" for s in failing))
        # 7. review by someone else
        t = time.monotonic()
        try:
            reviewer = Forge.rehearsal(learner.api_url, REVIEWER)
            reviewer.review(full, number, "APPROVE", "LGTM: rehearsal review")
            step("review", f"{REVIEWER} approved #{number}", since=t)
        except ForgeError as e:
            step("review", f"{REVIEWER} could not review: {e.message}", ok=False, since=t)
        # 8. merge through the bot
        t = time.monotonic()
        reply = _ask_bot(learner, full, number, "@pytorchbot merge", running)
        merged = learner.pull(full, number).merged
        step("merge", "merged" if merged else "the bot refused to merge", ok=merged, bot=reply, since=t)
    except ForgeError as e:
        step("error", e.message, ok=False)
        merged = False
    finally:
        if running is not None:
            running.stop()
        if scratch is not None:
            _remove_later(scratch)
    out = rec.as_json()
    out.update(merged=merged, seconds=round(time.monotonic() - t0, 2), record=str(rec.path))
    rec.save()
    return out


def _remove_later(path: str) -> None:
    """The scratch workspace goes in the background: deleting 100 MB of small files takes longer than the
    rehearsal on a busy machine, and nobody waits for it."""
    import subprocess
    try:
        subprocess.Popen(["rm", "-rf", "--", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


def _repo_name(pr: startmod.PrBranch) -> str:
    stem = f"lab-{pr.lab_id}" if pr.lab_id else "pytorch"
    return f"{stem}-{time.strftime('%H%M%S')}-{os.getpid() % 10000}"


def _branch_for(lab_id, workspace, solution, say):
    """The PR branch of the lab (made now if needed); --solution: a scratch workspace with the solution."""
    from ..loader import load_labs
    if lab_id is None and not solution:
        pr = startmod.find_pr()
        return pr, (load_labs().labs.get(pr.lab_id) if pr.lab_id else None), None
    labs = load_labs().labs
    if lab_id not in labs:
        from torchatlas.indexes.errors import NotFound
        raise NotFound(f"no lab {lab_id!r}" if lab_id else "--solution needs --lab ID",
                       hint="`torchatlas lab list` shows the labs")
    lab = labs[lab_id]
    if solution:
        from torchatlas.indexes.sources import open_source

        from ..workspace import apply_patch_file, create_workspace
        scratch = tempfile.mkdtemp(prefix=f"torchatlas-rehearse-{lab.id}-")
        say(f"  · a scratch workspace with the reference solution of {lab.id}: {scratch}")
        ws = create_workspace(lab, open_source("installed"), Path(scratch) / "ws")
        apply_patch_file(ws.root, lab.solution_patch, kind=ws.kind)
        return startmod.start_from_workspace(ws, startmod.default_branch(lab.id)), lab, scratch
    from .actions import lab_workspace
    _lab_obj, ws = lab_workspace(lab.id, workspace)
    try:
        pr = startmod.find_pr(lab_id=lab.id)
        if Path(pr.root).resolve() == Path(ws.root).resolve():
            return pr, lab, None
    except AtlasError:
        pass
    return startmod.start_from_workspace(ws), lab, None


def _ask_bot(forge: Forge, full: str, number: int, text: str, running) -> str:
    """Comment, then the bot's answer (the first comment by pytorchbot after ours)."""
    mine = forge.comment(full, number, text)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = [c for c in forge.comments(full, number) if c.id > mine.id and c.user == "pytorchbot"]
        if after:
            return after[0].body
        time.sleep(0.1)
    return "(no answer from the bot in 60 s)"


def _wait_checks(forge: Forge, full: str, sha: str, running, timeout: float = 900):
    if running is not None:
        running.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        states = forge.statuses(full, sha)
        if states and all(s.state != "pending" for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.3)
