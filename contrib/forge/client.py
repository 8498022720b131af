"""THE client: one PyGithub-based module for the rehearsal server and for github.com alike.

The only module that imports PyGithub (`github`); everything else gets plain frozen dataclasses.
Against the rehearsal server the token is the user's name; against github.com it comes from
GITHUB_TOKEN / GH_TOKEN or git's credential helper (`git credential fill`). The token stays in
this object: it is never printed, logged, written to a file, or put in a URL. `git push`
receives it through an `http.<url>.extraHeader` set in the environment of that one git process
(GIT_CONFIG_COUNT), so it is in neither the command line nor the repository's config.
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

GITHUB_API = "https://api.github.com"


class ForgeError(Exception):
    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RepoRef:
    full_name: str
    clone_url: str
    default_branch: str


@dataclass(frozen=True)
class PullView:
    number: int
    url: str
    html_url: str
    title: str
    body: str
    state: str
    author: str
    head_ref: str
    head_sha: str
    base_ref: str
    merged: bool
    mergeable: bool | None
    labels: tuple[str, ...]
    merge_commit_sha: str | None


@dataclass(frozen=True)
class CommentView:
    id: int
    user: str
    body: str


@dataclass(frozen=True)
class ReviewView:
    id: int
    user: str
    state: str


@dataclass(frozen=True)
class StatusView:
    context: str
    state: str
    description: str


@dataclass(frozen=True)
class CheckView:
    name: str
    conclusion: str | None
    summary: str


def _redact(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def token_from_environment() -> str | None:
    """GITHUB_TOKEN, then GH_TOKEN, then git's credential helper for github.com; None when none has one."""
    for var in ("GITHUB_TOKEN", "GH_TOKEN"):
        if os.environ.get(var, "").strip():
            return os.environ[var].strip()
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    try:
        proc = subprocess.run(["git", "credential", "fill"], input="protocol=https\nhost=github.com\n\n",
                              capture_output=True, text=True, env=env, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("password="):
            return line[len("password="):] or None
    return None


class Forge:
    """A signed-in session with one forge (the rehearsal server or github.com)."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30, secret: bool = True):
        import github
        from github import Auth
        self.api_url = api_url.rstrip("/")
        self._token = token
        remote = self.api_url.startswith(GITHUB_API)
        # github.com: PyGithub's retries and its pauses between calls (0.25 s, 1 s between writes) keep
        # clear of the secondary rate limits; the rehearsal server has none, and no call should wait.
        pacing = {} if remote else {"retry": None, "seconds_between_requests": 0, "seconds_between_writes": 0}
        self._gh = github.Github(base_url=self.api_url, auth=Auth.Token(token), timeout=timeout, **pacing)
        self._login: str | None = None
        self._secret = secret  # a rehearsal token that is the user's name is no secret: no redaction

    def __repr__(self) -> str:  # never the token
        return f"Forge({self.api_url!r}, login={self._login!r})"

    @classmethod
    def rehearsal(cls, api_url: str, user: str = "learner", token: str | None = None) -> "Forge":
        return cls(api_url, token if token is not None else user, secret=token is not None and token != user)

    @classmethod
    def github(cls, token: str | None = None) -> "Forge":
        token = token or token_from_environment()
        if not token:
            raise ForgeError(None, "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN), or store one in git's "
                                   "credential helper for github.com (`gh auth login` or `git credential approve`)")
        return cls(GITHUB_API, token)

    def _call(self, what: str, fn, *args, **kwargs):
        import github
        import requests
        try:
            return fn(*args, **kwargs)
        except github.BadCredentialsException as e:
            raise ForgeError(401, f"{what}: the token was refused (401 Bad credentials)") from None
        except github.UnknownObjectException as e:
            raise ForgeError(404, f"{what}: not found (404)") from None
        except github.GithubException as e:
            raise ForgeError(e.status, f"{what}: {self._message(e)} ({e.status})") from None
        except requests.exceptions.ConnectionError:
            raise ForgeError(None, f"{what}: no server answers at {self.api_url}; start one with "
                                   f"`torchatlas pr serve`, or check the URL") from None
        except requests.exceptions.Timeout:
            raise ForgeError(None, f"{what}: {self.api_url} did not answer in time") from None

    def _message(self, e) -> str:
        data = e.data if isinstance(e.data, dict) else {}
        message = str(data.get("message") or e)
        errors = data.get("errors") or []
        details = [err if isinstance(err, str) else err.get("message") or f"{err.get('field')} {err.get('code')}"
                   for err in errors]
        text = message + (": " + "; ".join(d for d in details if d) if details else "")
        return _redact(text, self._token if self._secret else "")

    # who and where
    @property
    def login(self) -> str:
        if self._login is None:
            self._login = self._call("who am I", lambda: self._gh.get_user().login)
        return self._login

    def _repo(self, full_name: str):
        return self._call(f"repository {full_name}", self._gh.get_repo, full_name)

    @staticmethod
    def _ref(r) -> RepoRef:
        return RepoRef(r.full_name, r.clone_url, r.default_branch)

    def repo(self, full_name: str) -> RepoRef:
        return self._ref(self._repo(full_name))

    def create_repo(self, name: str, description: str = "", *, auto_init: bool = False) -> RepoRef:
        user = self._gh.get_user()
        return self._ref(self._call(f"create repository {name}", user.create_repo, name, description=description,
                                    auto_init=auto_init))

    # git
    def push(self, workdir: Path, repo: RepoRef, branch: str, *, force: bool = False,
             source: str = "HEAD") -> str:
        """`git push` of `source` to `branch` of `repo`; returns git's own report (token-free)."""
        basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "GIT_CONFIG_COUNT": "2",
               "GIT_CONFIG_KEY_0": f"http.{repo.clone_url}.extraHeader",
               "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
               "GIT_CONFIG_KEY_1": "credential.helper", "GIT_CONFIG_VALUE_1": ""}
        args = ["git", "-C", str(workdir), "push", "--porcelain", repo.clone_url,
                f"{'+' if force else ''}{source}:refs/heads/{branch}"]
        proc = subprocess.run(args, capture_output=True, text=True, env=env)
        report = _redact((proc.stdout + proc.stderr).strip(), self._token if self._secret else "")
        if proc.returncode != 0:
            raise ForgeError(None, f"git push to {repo.full_name} {branch} refused: {report}")
        return report

    # pull requests
    @staticmethod
    def _pull_view(p) -> PullView:
        return PullView(p.number, p.url, p.html_url, p.title, p.body or "", p.state, p.user.login, p.head.ref,
                        p.head.sha, p.base.ref, bool(p.merged), p.mergeable, tuple(lb.name for lb in p.labels),
                        p.merge_commit_sha)

    def _pull(self, full_name: str, number: int):
        repo = self._repo(full_name)
        return self._call(f"pull request #{number} of {full_name}", repo.get_pull, number)

    def open_pull(self, full_name: str, head: str, base: str, title: str, body: str) -> PullView:
        repo = self._repo(full_name)
        return self._pull_view(self._call(f"open a pull request {head} -> {base}", repo.create_pull,
                                          base=base, head=head, title=title, body=body))

    def pull(self, full_name: str, number: int) -> PullView:
        return self._pull_view(self._pull(full_name, number))

    def pulls(self, full_name: str, state: str = "open") -> list[PullView]:
        repo = self._repo(full_name)
        return self._call("list pull requests", lambda: [self._pull_view(p) for p in repo.get_pulls(state=state)])

    def update_pull(self, full_name: str, number: int, *, title: str | None = None, body: str | None = None) -> PullView:
        pr = self._pull(full_name, number)
        kwargs = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        self._call(f"update pull request #{number}", pr.edit, **kwargs)
        return self._pull_view(pr)

    def files(self, full_name: str, number: int) -> list[str]:
        pr = self._pull(full_name, number)
        return self._call("list files", lambda: [f.filename for f in pr.get_files()])

    def commits(self, full_name: str, number: int) -> list[str]:
        pr = self._pull(full_name, number)
        return self._call("list commits", lambda: [c.sha for c in pr.get_commits()])

    def comment(self, full_name: str, number: int, text: str) -> CommentView:
        pr = self._pull(full_name, number)
        c = self._call(f"comment on #{number}", pr.create_issue_comment, text)
        return CommentView(c.id, c.user.login, c.body)

    def comments(self, full_name: str, number: int) -> list[CommentView]:
        pr = self._pull(full_name, number)
        return self._call("list comments",
                          lambda: [CommentView(c.id, c.user.login, c.body) for c in pr.get_issue_comments()])

    def add_labels(self, full_name: str, number: int, *labels: str) -> tuple[str, ...]:
        pr = self._pull(full_name, number)
        self._call(f"label #{number}", pr.add_to_labels, *labels)
        return tuple(lb.name for lb in self._call("list labels", lambda: list(pr.get_labels())))

    def review(self, full_name: str, number: int, event: str = "APPROVE", body: str = "") -> ReviewView:
        pr = self._pull(full_name, number)
        r = self._call(f"review #{number}", pr.create_review, body=body, event=event)
        return ReviewView(r.id, r.user.login, r.state)

    def statuses(self, full_name: str, sha: str) -> list[StatusView]:
        repo = self._repo(full_name)
        combined = self._call("commit status", lambda: repo.get_commit(sha).get_combined_status())
        return [StatusView(s.context, s.state, s.description or "") for s in combined.statuses]

    def check_runs(self, full_name: str, sha: str) -> list[CheckView]:
        repo = self._repo(full_name)
        return self._call("check runs", lambda: [CheckView(r.name, r.conclusion, (r.output.summary or "")
                                                           if r.output else "")
                                                 for r in repo.get_commit(sha).get_check_runs()])

    def merge(self, full_name: str, number: int, method: str = "squash") -> str:
        pr = self._pull(full_name, number)
        return self._call(f"merge #{number}", pr.merge, merge_method=method).sha
