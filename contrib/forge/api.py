"""GitHub's REST v3, the part the PR flow uses, in the shapes PyGithub reads.

Every object carries its `url` (PyGithub completes lazy objects and builds follow-up calls from
it), users are `{"login", "id", ...}`, timestamps ISO-8601 with Z, and errors are GitHub's:
status code plus `{"message", "documentation_url"}` (422s add `errors`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from . import gitbare
from .service import Conflict, Service
from .store import NAME_RE, StoreError, now

DOCS = "https://docs.github.com/rest"


class HttpError(Exception):
    def __init__(self, status: int, message: str, errors=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors

    def body(self) -> dict:
        out = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below /api/v3, unquoted per segment by the router
    query: dict
    body: bytes
    user: str | None
    base: str  # http://127.0.0.1:PORT

    def json(self) -> dict:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HttpError(400, f"Problems parsing JSON: {e}") from e
        if not isinstance(data, dict):
            raise HttpError(400, "Problems parsing JSON: the body must be a JSON object")
        return data


class Api:
    def __init__(self, service: Service):
        self.service = service
        self.store = service.store
        self.routes = []
        for method, pattern, fn in self._table():
            self.routes.append((method, re.compile("^" + pattern + "$"), fn))

    def _table(self):
        R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        N = r"(?P<number>\d+)"
        return [
            ("GET", r"/user", self.get_me),
            ("GET", r"/users/(?P<login>[^/]+)", self.get_user),
            ("POST", r"/user/repos", self.create_repo),
            ("GET", r"/user/repos", self.my_repos),
            ("GET", R, self.get_repo),
            ("PUT", R + r"/collaborators/(?P<login>[^/]+)", self.add_collaborator),
            ("GET", R + r"/branches", self.branches),
            ("GET", R + r"/branches/(?P<branch>.+)", self.branch),
            ("GET", R + r"/git/refs", self.refs),
            ("GET", R + r"/git/refs/(?P<ref>.+)", self.ref),
            ("GET", R + r"/git/ref/(?P<ref>.+)", self.ref),
            ("GET", R + r"/commits/(?P<ref>[^/]+)/statuses", self.statuses),
            ("GET", R + r"/commits/(?P<ref>[^/]+)/status", self.combined_status),
            ("GET", R + r"/commits/(?P<ref>[^/]+)/check-runs", self.check_runs),
            ("GET", R + r"/commits/(?P<ref>[^/]+)", self.get_commit),
            ("POST", R + r"/statuses/(?P<sha>[0-9a-f]{40})", self.create_status),
            ("GET", R + r"/labels", self.repo_labels),
            ("POST", R + r"/labels", self.create_label),
            ("GET", R + r"/labels/(?P<name>[^/]+)", self.repo_label),
            ("GET", R + r"/pulls", self.list_pulls),
            ("POST", R + r"/pulls", self.create_pull),
            ("GET", R + r"/pulls/" + N, self.get_pull),
            ("PATCH", R + r"/pulls/" + N, self.update_pull),
            ("GET", R + r"/pulls/" + N + r"/files", self.pull_files),
            ("GET", R + r"/pulls/" + N + r"/commits", self.pull_commits),
            ("GET", R + r"/pulls/" + N + r"/merge", self.is_merged),
            ("PUT", R + r"/pulls/" + N + r"/merge", self.merge_pull),
            ("GET", R + r"/pulls/" + N + r"/reviews", self.list_reviews),
            ("POST", R + r"/pulls/" + N + r"/reviews", self.create_review),
            ("GET", R + r"/issues/" + N, self.get_issue),
            ("GET", R + r"/issues/" + N + r"/comments", self.list_comments),
            ("POST", R + r"/issues/" + N + r"/comments", self.create_comment),
            ("GET", R + r"/issues/" + N + r"/labels", self.issue_labels),
            ("POST", R + r"/issues/" + N + r"/labels", self.add_issue_labels),
            ("PUT", R + r"/issues/" + N + r"/labels", self.set_issue_labels),
            ("DELETE", R + r"/issues/" + N + r"/labels/(?P<name>[^/]+)", self.remove_issue_label),
        ]

    def handle(self, req: Request) -> tuple[int, object]:
        """One request under the store's lock: readers never see a PR half-written by another thread."""
        with self.store.lock:
            return self._handle(req)

    def _handle(self, req: Request) -> tuple[int, object]:
        known_path = False
        for method, pattern, fn in self.routes:
            m = pattern.match(req.path)
            if m:
                known_path = True
                if method == req.method:
                    args = {k: unquote(v) for k, v in m.groupdict().items()}
                    return fn(req, **args)
        if known_path:
            raise HttpError(404, "Not Found")  # GitHub answers an unknown method on a known path with 404
        raise HttpError(404, "Not Found")

    # shapes
    def _api(self, req):
        return f"{req.base}/api/v3"

    def user_json(self, req, login):
        u = self.store.user(login) or {"login": login, "id": 0}
        return {"login": login, "id": u["id"], "node_id": f"U_{u['id']}", "type": "Bot" if login == "pytorchbot"
                else "User", "site_admin": False, "url": f"{self._api(req)}/users/{login}",
                "html_url": f"{req.base}/{login}", "avatar_url": ""}

    def repo_json(self, req, repo):
        full = f"{repo['owner']}/{repo['name']}"
        writer = self.store.can_write(repo, req.user)
        return {"id": repo["id"], "node_id": f"R_{repo['id']}", "name": repo["name"], "full_name": full,
                "owner": self.user_json(req, repo["owner"]), "private": repo["private"], "fork": False,
                "html_url": f"{req.base}/{full}", "description": repo["description"],
                "url": f"{self._api(req)}/repos/{full}", "clone_url": f"{req.base}/git/{full}.git",
                "default_branch": repo["default_branch"], "created_at": repo["created_at"],
                "updated_at": repo["updated_at"], "pushed_at": repo["pushed_at"], "visibility":
                "private" if repo["private"] else "public",
                "permissions": {"admin": req.user == repo["owner"], "maintain": writer, "push": writer,
                                "triage": writer, "pull": True}}

    def label_json(self, req, repo, name):
        label = self.service.ensure_label(repo, name) if name not in repo["labels"] else repo["labels"][name]
        return {"id": label["id"], "node_id": f"LA_{label['id']}", "name": name, "color": label["color"],
                "description": label["description"], "default": False,
                "url": f"{self._api(req)}/repos/{repo['owner']}/{repo['name']}/labels/{name}"}

    def pull_json(self, req, repo, pr):
        full = f"{repo['owner']}/{repo['name']}"
        url = f"{self._api(req)}/repos/{full}/pulls/{pr['number']}"
        issue = f"{self._api(req)}/repos/{full}/issues/{pr['number']}"
        path = self.store.repo_dir(repo["owner"], repo["name"])
        base_sha = (pr["base_sha"] if pr["merged"] else self.service.tip(repo, pr["base_ref"])) or pr["base_sha"]
        mergeable = self.service.mergeable(repo, pr)
        comments = sum(1 for c in repo["comments"] if c["issue_number"] == pr["number"])
        side = lambda ref, sha: {"label": f"{repo['owner']}:{ref}", "ref": ref, "sha": sha,
                                 "user": self.user_json(req, repo["owner"]), "repo": self.repo_json(req, repo)}
        state = self.service.combined_state(repo, pr["head_sha"])
        return {"url": url, "id": pr["id"], "node_id": f"PR_{pr['id']}", "number": pr["number"],
                "html_url": f"{req.base}/{full}/pull/{pr['number']}", "issue_url": issue,
                "diff_url": f"{req.base}/{full}/pull/{pr['number']}.diff",
                "patch_url": f"{req.base}/{full}/pull/{pr['number']}.patch",
                "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
                "comments_url": f"{issue}/comments",
                "statuses_url": f"{self._api(req)}/repos/{full}/statuses/{pr['head_sha']}",
                "state": pr["state"], "locked": False, "title": pr["title"], "body": pr["body"],
                "user": self.user_json(req, pr["user"]),
                "labels": [self.label_json(req, repo, n) for n in pr["labels"]],
                "created_at": pr["created_at"], "updated_at": pr["updated_at"], "closed_at": pr["closed_at"],
                "merged_at": pr["merged_at"], "merge_commit_sha": pr["merge_commit_sha"], "draft": pr["draft"],
                "head": side(pr["head_ref"], pr["head_sha"]), "base": side(pr["base_ref"], base_sha),
                "merged": pr["merged"], "mergeable": mergeable,
                "mergeable_state": ("unknown" if mergeable is None else "dirty" if not mergeable
                                    else "clean" if state == "success" else "unstable" if state == "failure"
                                    else "blocked"),
                "merged_by": self.user_json(req, pr["merged_by"]) if pr["merged_by"] else None,
                "comments": comments, "review_comments": 0, "maintainer_can_modify": False,
                "commits": len(self._commits(repo, pr)), "assignees": [], "requested_reviewers": [],
                **dict(zip(("changed_files", "additions", "deletions"),
                           self.service.diffstat(repo, base_sha, pr["head_sha"])))}

    def comment_json(self, req, repo, c):
        full = f"{repo['owner']}/{repo['name']}"
        return {"id": c["id"], "node_id": f"IC_{c['id']}", "body": c["body"], "user": self.user_json(req, c["user"]),
                "url": f"{self._api(req)}/repos/{full}/issues/comments/{c['id']}",
                "html_url": f"{req.base}/{full}/pull/{c['issue_number']}#issuecomment-{c['id']}",
                "issue_url": f"{self._api(req)}/repos/{full}/issues/{c['issue_number']}",
                "created_at": c["created_at"], "updated_at": c["updated_at"], "author_association": "NONE"}

    def review_json(self, req, repo, r):
        full = f"{repo['owner']}/{repo['name']}"
        return {"id": r["id"], "node_id": f"PRR_{r['id']}", "user": self.user_json(req, r["user"]),
                "body": r["body"], "state": r["state"], "commit_id": r["commit_id"],
                "submitted_at": r["submitted_at"],
                "html_url": f"{req.base}/{full}/pull/{r['pull_number']}#pullrequestreview-{r['id']}",
                "pull_request_url": f"{self._api(req)}/repos/{full}/pulls/{r['pull_number']}"}

    def status_json(self, req, repo, s):
        full = f"{repo['owner']}/{repo['name']}"
        return {"id": s["id"], "node_id": f"SC_{s['id']}", "state": s["state"], "context": s["context"],
                "description": s["description"], "target_url": s["target_url"],
                "created_at": s["created_at"], "updated_at": s["updated_at"],
                "url": f"{self._api(req)}/repos/{full}/statuses/{s['sha']}",
                "creator": self.user_json(req, s["creator"])}

    def commit_json(self, req, repo, c: gitbare.CommitInfo):
        full = f"{repo['owner']}/{repo['name']}"
        api = f"{self._api(req)}/repos/{full}"
        return {"sha": c.sha, "node_id": f"C_{c.sha}", "url": f"{api}/commits/{c.sha}",
                "html_url": f"{req.base}/{full}/commit/{c.sha}",
                "commit": {"message": c.message, "url": f"{api}/git/commits/{c.sha}",
                           "author": {"name": c.author_name, "email": c.author_email, "date": c.author_date},
                           "committer": {"name": c.committer_name, "email": c.committer_email,
                                         "date": c.committer_date},
                           "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"}},
                "author": None, "committer": None,
                "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in c.parents]}

    # lookups
    def _me(self, req) -> str:
        if req.user is None:
            raise HttpError(401, "Requires authentication")
        return req.user

    def _repo(self, req, owner, repo) -> dict:
        data = self.store.repo(owner, repo)
        if data is None or not self.store.can_read(data, req.user):
            raise HttpError(404, "Not Found")
        return data

    def _writable(self, req, repo) -> None:
        self._me(req)
        if not self.store.can_write(repo, req.user):
            raise HttpError(403, f"Must have push access to {repo['owner']}/{repo['name']}")

    def _pull(self, repo, number) -> dict:
        pr = repo["pulls"].get(str(int(number)))
        if pr is None:
            raise HttpError(404, "Not Found")
        return pr

    def _commits(self, repo, pr):
        base = pr["base_sha"] if pr["merged"] else (self.service.tip(repo, pr["base_ref"]) or pr["base_sha"])
        return self.service.commits(repo, base, pr["head_sha"])

    # users and repositories
    def get_me(self, req):
        return 200, self.user_json(req, self._me(req))

    def get_user(self, req, login):
        if self.store.user(login) is None:
            raise HttpError(404, "Not Found")
        return 200, self.user_json(req, login)

    def create_repo(self, req):
        me = self._me(req)
        data = req.json()
        name = data.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith(".git") or name.startswith("."):
            raise HttpError(422, "Repository creation failed.",
                            [{"resource": "Repository", "field": "name", "code": "missing_field" if not name
                              else "invalid"}])
        try:
            repo = self.store.create_repo(me, name, description=data.get("description") or "",
                                          private=bool(data.get("private", False)))
        except StoreError as e:
            raise HttpError(422, "Repository creation failed.",
                            [{"resource": "Repository", "code": "custom", "field": "name", "message": str(e)}])
        if data.get("auto_init"):
            gitbare.initial_commit(self.store.repo_dir(me, name), repo["default_branch"],
                                   {"README.md": f"# {name}\n\n{repo['description']}\n"}, "Initial commit\n")
            self.service.forget_tips(repo)
        return 201, self.repo_json(req, repo)

    def my_repos(self, req):
        return 200, [self.repo_json(req, r) for r in self.store.repos_of(self._me(req))]

    def get_repo(self, req, owner, repo):
        return 200, self.repo_json(req, self._repo(req, owner, repo))

    def add_collaborator(self, req, owner, repo, login):
        data = self._repo(req, owner, repo)
        if req.user != data["owner"]:
            raise HttpError(403, "Must have admin rights to Repository.")
        if self.store.user(login) is None:
            raise HttpError(404, "Not Found")
        with self.store.lock:
            if login not in data["collaborators"] and login != data["owner"]:
                data["collaborators"].append(login)
                self.store.save(data)
        return 204, None

    def _branch_json(self, req, repo, name, sha):
        api = f"{self._api(req)}/repos/{repo['owner']}/{repo['name']}"
        return {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": name ==
                repo["default_branch"], "_links": {"self": f"{api}/branches/{name}"}}

    def branches(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        tips = self.service.tips(data)
        return 200, [self._branch_json(req, data, n, s) for n, s in sorted(tips.items())]

    def branch(self, req, owner, repo, branch):
        data = self._repo(req, owner, repo)
        sha = self.service.tip(data, branch)
        if sha is None:
            raise HttpError(404, "Branch not found")
        return 200, self._branch_json(req, data, branch, sha)

    def _ref_json(self, req, repo, name, sha):
        api = f"{self._api(req)}/repos/{repo['owner']}/{repo['name']}"
        return {"ref": f"refs/heads/{name}", "node_id": f"REF_{name}", "url": f"{api}/git/refs/heads/{name}",
                "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"}}

    def refs(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        tips = self.service.tips(data)
        return 200, [self._ref_json(req, data, n, s) for n, s in sorted(tips.items())]

    def ref(self, req, owner, repo, ref):
        data = self._repo(req, owner, repo)
        name = ref[len("heads/"):] if ref.startswith("heads/") else None
        sha = self.service.tip(data, name) if name else None
        if sha is None:
            raise HttpError(404, "Not Found")
        return 200, self._ref_json(req, data, name, sha)

    def get_commit(self, req, owner, repo, ref):
        data = self._repo(req, owner, repo)
        path = self.store.repo_dir(data["owner"], data["name"])
        sha = gitbare.resolve(path, ref)
        info = gitbare.commit(path, sha) if sha else None
        if info is None:
            raise HttpError(422, f"No commit found for SHA: {ref}")
        return 200, self.commit_json(req, data, info)

    # statuses and check runs
    def _sha(self, data, ref):
        sha = gitbare.resolve(self.store.repo_dir(data["owner"], data["name"]), ref)
        if sha is None:
            raise HttpError(422, f"No commit found for SHA: {ref}")
        return sha

    def create_status(self, req, owner, repo, sha):
        data = self._repo(req, owner, repo)
        self._writable(req, data)
        body = req.json()
        state = body.get("state")
        if state not in ("error", "failure", "pending", "success"):
            raise HttpError(422, "Validation Failed", [{"resource": "Status", "field": "state", "code": "custom",
                                                        "message": "state must be error, failure, pending or success"}])
        self._sha(data, sha)
        status = self.service.post_status(data, sha, state, body.get("context") or "default",
                                          (body.get("description") or "")[:140], body.get("target_url"),
                                          creator=req.user)
        return 201, self.status_json(req, data, status)

    def statuses(self, req, owner, repo, ref):
        data = self._repo(req, owner, repo)
        sha = self._sha(data, ref)
        return 200, [self.status_json(req, data, s) for s in reversed(data["statuses"]) if s["sha"] == sha]

    def combined_status(self, req, owner, repo, ref):
        data = self._repo(req, owner, repo)
        sha = self._sha(data, ref)
        latest = self.service.latest_statuses(data, sha)
        api = f"{self._api(req)}/repos/{owner}/{repo}"
        return 200, {"state": self.service.combined_state(data, sha), "sha": sha, "total_count": len(latest),
                     "statuses": [self.status_json(req, data, s) for s in latest],
                     "repository": self.repo_json(req, data), "commit_url": f"{api}/commits/{sha}",
                     "url": f"{api}/commits/{sha}/status"}

    def check_runs(self, req, owner, repo, ref):
        data = self._repo(req, owner, repo)
        sha = self._sha(data, ref)
        api = f"{self._api(req)}/repos/{owner}/{repo}"
        runs = [{"id": r["id"], "node_id": f"CR_{r['id']}", "head_sha": r["head_sha"], "name": r["name"],
                 "status": r["status"], "conclusion": r["conclusion"], "started_at": r["started_at"],
                 "completed_at": r["completed_at"], "output": {**r["output"], "text": None,
                                                               "annotations_count": 0, "annotations_url": ""},
                 "url": f"{api}/check-runs/{r['id']}", "html_url": f"{req.base}/{owner}/{repo}/runs/{r['id']}",
                 "details_url": None, "external_id": ""}
                for r in reversed(data["check_runs"]) if r["head_sha"] == sha]
        return 200, {"total_count": len(runs), "check_runs": runs}

    # labels
    def repo_labels(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        return 200, [self.label_json(req, data, n) for n in sorted(data["labels"])]

    def repo_label(self, req, owner, repo, name):
        data = self._repo(req, owner, repo)
        if name not in data["labels"]:
            raise HttpError(404, "Not Found")
        return 200, self.label_json(req, data, name)

    def create_label(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        self._writable(req, data)
        body = req.json()
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise HttpError(422, "Validation Failed", [{"resource": "Label", "field": "name", "code": "missing_field"}])
        if name in data["labels"]:
            raise HttpError(422, "Validation Failed", [{"resource": "Label", "field": "name", "code": "already_exists"}])
        self.service.ensure_label(data, name, body.get("color") or "ededed", body.get("description") or "")
        self.store.save(data)
        return 201, self.label_json(req, data, name)

    def _label_names(self, req):
        body = req.body.strip()
        try:
            data = json.loads(body) if body else []
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HttpError(400, f"Problems parsing JSON: {e}") from e
        if isinstance(data, dict):
            data = data.get("labels", [])
        names = [d["name"] if isinstance(d, dict) else d for d in data] if isinstance(data, list) else None
        if names is None or not all(isinstance(n, str) and n for n in names):
            raise HttpError(422, "Invalid request.\n\nlabels must be a list of label names")
        return names

    def issue_labels(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        return 200, [self.label_json(req, data, n) for n in pr["labels"]]

    def add_issue_labels(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        self._writable(req, data)
        self.service.add_labels(data, pr, self._label_names(req))
        return 200, [self.label_json(req, data, n) for n in pr["labels"]]

    def set_issue_labels(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        self._writable(req, data)
        names = self._label_names(req)
        with self.store.lock:
            pr["labels"] = []
            self.service.add_labels(data, pr, names)
        return 200, [self.label_json(req, data, n) for n in pr["labels"]]

    def remove_issue_label(self, req, owner, repo, number, name):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        self._writable(req, data)
        with self.store.lock:
            if name not in pr["labels"]:
                raise HttpError(404, "Label does not exist")
            pr["labels"].remove(name)
            self.store.save(data)
        return 200, [self.label_json(req, data, n) for n in pr["labels"]]

    # pulls
    def list_pulls(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        state = req.query.get("state", "open")
        head = req.query.get("head")
        base = req.query.get("base")
        out = []
        for pr in sorted(data["pulls"].values(), key=lambda p: -p["number"]):
            if state != "all" and pr["state"] != state:
                continue
            if head and head.split(":")[-1] != pr["head_ref"]:
                continue
            if base and base != pr["base_ref"]:
                continue
            out.append(self.pull_json(req, data, pr))
        return 200, out

    def create_pull(self, req, owner, repo):
        data = self._repo(req, owner, repo)
        me = self._me(req)
        body = req.json()
        missing = [f for f in ("title", "head", "base") if not isinstance(body.get(f), str) or not body.get(f)]
        if missing:
            raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "field": f, "code": "missing_field"}
                                                       for f in missing])
        head = body["head"]
        if ":" in head:
            head_owner, head = head.split(":", 1)
            if head_owner.lower() != data["owner"].lower():
                raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "field": "head",
                                                            "code": "invalid", "message": "the rehearsal server opens "
                                                            "pull requests between branches of one repository"}])
        path = self.store.repo_dir(data["owner"], data["name"])
        head_sha, base_sha = self.service.tip(data, head), self.service.tip(data, body["base"])
        for field, sha in (("head", head_sha), ("base", base_sha)):
            if sha is None:
                raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "field": field,
                                                            "code": "invalid"}])
        if not gitbare.commits_between(path, base_sha, head_sha):
            raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                        "message": f"No commits between {body['base']} and {head}"}])
        with self.store.lock:
            for pr in data["pulls"].values():
                if pr["state"] == "open" and pr["head_ref"] == head and pr["base_ref"] == body["base"]:
                    raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                    "message": f"A pull request already exists for {data['owner']}:{head}."}])
            number = data["next_number"]
            data["next_number"] = number + 1
            pr = {"id": self.store.next_id(), "number": number, "title": body["title"], "body": body.get("body"),
                  "user": me, "state": "open", "head_ref": head, "head_sha": head_sha, "base_ref": body["base"],
                  "base_sha": base_sha, "created_at": now(), "updated_at": now(), "closed_at": None,
                  "merged": False, "merged_at": None, "merged_by": None, "merge_commit_sha": None, "labels": [],
                  "draft": bool(body.get("draft", False)), "mergeable": None, "mergeable_key": None}
            data["pulls"][str(number)] = pr
            self.store.save(data)
        self.service.queue_checks(data, head_sha)
        return 201, self.pull_json(req, data, pr)

    def get_pull(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        return 200, self.pull_json(req, data, self._pull(data, number))

    def get_issue(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        out = self.pull_json(req, data, pr)
        issue = {k: out[k] for k in ("id", "node_id", "number", "title", "body", "user", "labels", "state",
                                     "locked", "comments", "created_at", "updated_at", "closed_at", "html_url",
                                     "assignees")}
        issue.update(url=out["issue_url"], comments_url=out["comments_url"],
                     pull_request={"url": out["url"], "html_url": out["html_url"], "diff_url": out["diff_url"],
                                   "patch_url": out["patch_url"], "merged_at": out["merged_at"]})
        return 200, issue

    def update_pull(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        me = self._me(req)
        if me != pr["user"] and not self.store.can_write(data, me):
            raise HttpError(403, "Must have push access to edit this pull request")
        body = req.json()
        with self.store.lock:
            for field in ("title", "body"):
                if field in body:
                    if body[field] is not None and not isinstance(body[field], str):
                        raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "field": field,
                                                                    "code": "invalid"}])
                    pr[field] = body[field]
            if "state" in body:
                if body["state"] not in ("open", "closed"):
                    raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "field": "state",
                                                                "code": "invalid"}])
                if pr["merged"]:
                    raise HttpError(422, "Validation Failed", [{"resource": "PullRequest", "code": "custom",
                                                                "message": "A merged pull request cannot change state"}])
                pr["state"] = body["state"]
                pr["closed_at"] = now() if pr["state"] == "closed" else None
            pr["updated_at"] = now()
            self.store.save(data)
        return 200, self.pull_json(req, data, pr)

    def pull_files(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        path = self.store.repo_dir(data["owner"], data["name"])
        base = pr["base_sha"] if pr["merged"] else (self.service.tip(data, pr["base_ref"]) or pr["base_sha"])
        full = f"{owner}/{repo}"
        out = []
        for f in gitbare.changed_files(path, base, pr["head_sha"]):
            item = {"sha": pr["head_sha"], "filename": f.filename, "status": f.status, "additions": f.additions,
                    "deletions": f.deletions, "changes": f.additions + f.deletions, "patch": f.patch,
                    "blob_url": f"{req.base}/{full}/blob/{pr['head_sha']}/{f.filename}",
                    "raw_url": f"{req.base}/{full}/raw/{pr['head_sha']}/{f.filename}",
                    "contents_url": f"{self._api(req)}/repos/{full}/contents/{f.filename}?ref={pr['head_sha']}"}
            if f.previous_filename:
                item["previous_filename"] = f.previous_filename
            out.append(item)
        return 200, out

    def pull_commits(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        return 200, [self.commit_json(req, data, c) for c in self._commits(data, pr)]

    def is_merged(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        if not self._pull(data, number)["merged"]:
            raise HttpError(404, "Not Found")
        return 204, None

    def merge_pull(self, req, owner, repo, number):
        """GitHub's merge button, behind the same branch protection PyTorch's bot enforces."""
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        self._writable(req, data)
        body = req.json()
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash"):
            raise HttpError(422, f"Merge method {method!r} is not allowed on this repository (merge or squash)")
        from . import bot
        with self.store.lock:
            if pr["merged"] or pr["state"] != "open":
                raise HttpError(405, "Pull Request is not mergeable")
            blockers = bot.merge_blockers(self.service.facts(data, pr, req.user))
            if blockers:
                raise HttpError(405, "Pull Request is not mergeable: " + "; ".join(b.message for b in blockers))
            title = body.get("commit_title")
            message = body.get("commit_message")
            text = f"{title}\n\n{message}\n" if title and message else (f"{title}\n" if title else None)
            try:
                sha = self.service.merge(data, pr, method=method, merged_by=req.user, title=title, message=text,
                                         expected_sha=body.get("sha"))
            except Conflict as e:
                raise HttpError(409 if "modified" in str(e) else 405, str(e)) from e
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    # reviews and comments
    def list_reviews(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        self._pull(data, number)
        return 200, [self.review_json(req, data, r) for r in data["reviews"] if r["pull_number"] == int(number)]

    def create_review(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        me = self._me(req)
        body = req.json()
        event = body.get("event")
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED", None: "PENDING"}
        if event not in states:
            raise HttpError(422, "Unprocessable Entity", [f"Unknown review event {event!r}"])
        if me == pr["user"] and event in ("APPROVE", "REQUEST_CHANGES"):
            what = "approve" if event == "APPROVE" else "request changes on"
            raise HttpError(422, "Unprocessable Entity", [f"Can not {what} your own pull request"])
        if event in ("REQUEST_CHANGES", "COMMENT") and not (body.get("body") or "").strip():
            raise HttpError(422, "Unprocessable Entity", [f"Review Can not be empty for the {event} event"])
        with self.store.lock:
            review = {"id": self.store.next_id(), "pull_number": pr["number"], "user": me,
                      "body": body.get("body") or "", "state": states[event],
                      "commit_id": body.get("commit_id") or pr["head_sha"], "submitted_at": now()}
            data["reviews"].append(review)
            self.store.save(data)
        return 200, self.review_json(req, data, review)

    def list_comments(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        self._pull(data, number)
        return 200, [self.comment_json(req, data, c) for c in data["comments"] if c["issue_number"] == int(number)]

    def create_comment(self, req, owner, repo, number):
        data = self._repo(req, owner, repo)
        pr = self._pull(data, number)
        me = self._me(req)
        body = req.json().get("body")
        if not isinstance(body, str) or not body.strip():
            raise HttpError(422, "Validation Failed", [{"resource": "IssueComment", "field": "body",
                                                        "code": "missing_field"}])
        comment = self.service.add_comment(data, pr["number"], me, body)
        return 201, self.comment_json(req, data, comment)
