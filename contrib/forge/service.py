"""What happens on the rehearsal server beyond storing: pushes refresh PRs, checks run, the bot acts.

Checks run on one worker thread (the machine's cores belong to the tests the checker runs), in
the order pushes arrive; a PR's head gets a pending `torchatlas/checks` status at once, so
neither a person nor the bot mistakes "not run yet" for green.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from . import bot, gitbare
from .checks import Checker, CheckRun, diff_check, run_checker
from .store import Store, now

OVERALL = "torchatlas/checks"


class Conflict(Exception):
    pass


class Service:
    def __init__(self, store: Store, checker: Checker | None = None):
        self.store = store
        self.checker = checker if checker is not None else diff_check
        self._queue: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="forge-checks", daemon=True)
        self._worker.start()
        self.base_url = "http://127.0.0.1"
        self._tips: dict[str, dict[str, str]] = {}  # branch tips per repository, dropped on every push and merge
        self._commits: dict[tuple, list] = {}  # (repo, base, head) -> commits: immutable once computed

    def tips(self, repo: dict) -> dict[str, str]:
        key = f"{repo['owner']}/{repo['name']}"
        with self.store.lock:
            if key not in self._tips:
                self._tips[key] = gitbare.heads(self.store.repo_dir(repo["owner"], repo["name"]))
            return self._tips[key]

    def tip(self, repo: dict, branch: str) -> str | None:
        return self.tips(repo).get(branch)

    def forget_tips(self, repo: dict) -> None:
        with self.store.lock:
            self._tips.pop(f"{repo['owner']}/{repo['name']}", None)

    def diffstat(self, repo: dict, base: str, head: str) -> tuple[int, int, int]:
        key = ("stat", repo["owner"], repo["name"], base, head)
        with self.store.lock:
            if key not in self._commits:
                self._commits[key] = gitbare.diffstat(self.store.repo_dir(repo["owner"], repo["name"]), base, head)
            return self._commits[key]

    def commits(self, repo: dict, base: str, head: str) -> list:
        key = (repo["owner"], repo["name"], base, head)
        with self.store.lock:
            if key not in self._commits:
                if len(self._commits) > 1000:
                    self._commits.clear()
                self._commits[key] = gitbare.commits_between(self.store.repo_dir(repo["owner"], repo["name"]),
                                                             base, head)
            return self._commits[key]

    # checks
    def queue_checks(self, repo: dict, sha: str) -> None:
        self.post_status(repo, sha, "pending", OVERALL, "checks queued", creator="pytorchbot")
        self._queue.put((repo["owner"], repo["name"], sha))

    def wait_idle(self, timeout: float | None = None) -> bool:
        done = threading.Event()

        def waiter():
            self._queue.join()
            done.set()
        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                owner, name, sha = item
                repo = self.store.repo(owner, name)
                if repo is not None:
                    runs = run_checker(self.checker, self.store.repo_dir(owner, name), sha)
                    self.post_runs(repo, sha, runs)
            finally:
                self._queue.task_done()

    def post_runs(self, repo: dict, sha: str, runs: list[CheckRun]) -> None:
        with self.store.lock:
            for run in runs:
                lines = [line.strip() for line in run.summary.strip().splitlines() if line.strip()]
                first = (lines or [run.conclusion])[0]
                # a status description holds 140 characters: the summary's first lines, so a header line
                # ("2 findings:") does not hide the file:line that follows it
                self.post_status(repo, sha, run.state, run.name, " | ".join(lines or [run.conclusion])[:140],
                                 creator="pytorchbot", save=False)
                repo["check_runs"].append({"id": self.store.next_id(), "head_sha": sha, "name": run.name,
                                           "status": "completed", "conclusion": run.conclusion,
                                           "started_at": now(), "completed_at": now(),
                                           "output": {"title": first[:140], "summary": run.summary}})
            failed = [r.name for r in runs if r.state != "success"]
            overall = "failure" if failed else "success"
            text = (f"{len(failed)} of {len(runs)} failed: {', '.join(failed)}" if failed
                    else f"{len(runs)} check(s) passed")
            self.post_status(repo, sha, overall, OVERALL, text[:140], creator="pytorchbot", save=False)
            self.store.save(repo)
            self._checks_done(repo, sha)

    def post_status(self, repo: dict, sha: str, state: str, context: str, description: str = "",
                    target_url: str | None = None, creator: str = "pytorchbot", save: bool = True) -> dict:
        with self.store.lock:
            status = {"id": self.store.next_id(), "sha": sha, "state": state, "context": context,
                      "description": description, "target_url": target_url, "created_at": now(),
                      "updated_at": now(), "creator": creator}
            repo["statuses"].append(status)
            if save:
                self.store.save(repo)
            return status

    def latest_statuses(self, repo: dict, sha: str) -> list[dict]:
        latest: dict[str, dict] = {}
        for s in repo["statuses"]:
            if s["sha"] == sha:
                latest[s["context"]] = s
        return sorted(latest.values(), key=lambda s: s["id"], reverse=True)

    def combined_state(self, repo: dict, sha: str) -> str:
        states = [s["state"] for s in self.latest_statuses(repo, sha)]
        if any(s in ("failure", "error") for s in states):
            return "failure"
        if not states or any(s == "pending" for s in states):
            return "pending"
        return "success"

    # pushes and pulls
    def after_push(self, owner: str, name: str) -> None:
        """A push landed: every open PR whose branch moved gets the new head and a fresh check run."""
        repo = self.store.repo(owner, name)
        if repo is None:
            return
        with self.store.lock:
            self.forget_tips(repo)
            tips = self.tips(repo)
            repo["pushed_at"] = now()
            moved = []
            for pr in repo["pulls"].values():
                if pr["state"] != "open":
                    continue
                tip = tips.get(pr["head_ref"])
                if tip and tip != pr["head_sha"]:
                    pr["head_sha"], pr["updated_at"] = tip, now()
                    pr["mergeable_key"] = None
                    moved.append(tip)
            self.store.save(repo)
        for sha in dict.fromkeys(moved):
            self.queue_checks(repo, sha)

    def mergeable(self, repo: dict, pr: dict) -> bool | None:
        if pr["merged"] or pr["state"] != "open":
            return None
        path = self.store.repo_dir(repo["owner"], repo["name"])
        base = self.tip(repo, pr["base_ref"])
        key = f"{base}:{pr['head_sha']}"
        if pr.get("mergeable_key") != key:
            pr["mergeable"] = base is not None and gitbare.merge_tree(path, base, pr["head_sha"]) is not None
            pr["mergeable_key"] = key
        return pr["mergeable"]

    def facts(self, repo: dict, pr: dict, commenter: str) -> bot.PullFacts:
        checks = []
        for s in self.latest_statuses(repo, pr["head_sha"]):
            if s["context"] == OVERALL and s["state"] != "pending":
                continue  # the sum of the others: naming it again would count each failure twice
            summary = s["description"] or ""
            for run in reversed(repo["check_runs"]):
                if run["head_sha"] == pr["head_sha"] and run["name"] == s["context"]:
                    summary = run["output"]["summary"] or summary
                    break
            checks.append((s["context"], s["state"], summary))
        reviews = tuple((r["user"], r["state"]) for r in repo["reviews"] if r["pull_number"] == pr["number"])
        return bot.PullFacts(number=pr["number"], author=pr["user"], commenter=commenter,
                             commenter_can_write=self.store.can_write(repo, commenter), state=pr["state"],
                             merged=pr["merged"], mergeable=self.mergeable(repo, pr), labels=tuple(pr["labels"]),
                             reviews=reviews, checks=tuple(checks), repo_labels=tuple(repo["labels"]),
                             base=pr["base_ref"])

    def merge(self, repo: dict, pr: dict, *, method: str, merged_by: str, title: str | None = None,
              message: str | None = None, expected_sha: str | None = None) -> str:
        """A real merge (two parents) or squash (one) commit on the base branch; returns its sha."""
        path = self.store.repo_dir(repo["owner"], repo["name"])
        with self.store.lock:
            if expected_sha and expected_sha != pr["head_sha"]:
                raise Conflict("Head branch was modified. Review and try the merge again.")
            base = gitbare.ref_sha(path, pr["base_ref"])
            tree = gitbare.merge_tree(path, base, pr["head_sha"]) if base else None
            if tree is None:
                raise Conflict("Merge conflict")
            if method == "squash":
                text = message or f"{title or pr['title']} (#{pr['number']})\n"
                parents = [base]
            elif method == "merge":
                text = message or (f"Merge pull request #{pr['number']} from {repo['owner']}/{pr['head_ref']}\n\n"
                                   f"{title or pr['title']}\n")
                parents = [base, pr["head_sha"]]
            else:
                raise ValueError(method)
            sha = gitbare.commit_tree(path, tree, parents, text)
            moved = gitbare.move_ref(path, pr["base_ref"], sha, base)
            self.forget_tips(repo)
            if not moved:
                raise Conflict("Base branch was modified. Review and try the merge again.")
            pr.update(state="closed", merged=True, merged_at=now(), closed_at=now(), merged_by=merged_by,
                      merge_commit_sha=sha, updated_at=now(), mergeable=None, base_sha=base)
            self.store.save(repo)
            return sha

    def bot_comment(self, repo: dict, pr: dict, text: str) -> dict:
        return self.add_comment(repo, pr["number"], "pytorchbot", text, react=False)

    def add_comment(self, repo: dict, number: int, user: str, body: str, *, react: bool = True) -> dict:
        with self.store.lock:
            comment = {"id": self.store.next_id(), "issue_number": number, "user": user, "body": body,
                       "created_at": now(), "updated_at": now()}
            repo["comments"].append(comment)
            self.store.save(repo)
        if react and user != "pytorchbot":
            self._react(repo, number, user, body)
        return comment

    def add_labels(self, repo: dict, pr: dict, labels) -> None:
        with self.store.lock:
            for label in labels:
                self.ensure_label(repo, label)
                if label not in pr["labels"]:
                    pr["labels"].append(label)
            self.store.save(repo)

    def ensure_label(self, repo: dict, name: str, color: str = "ededed", description: str = "") -> dict:
        with self.store.lock:
            if name not in repo["labels"]:
                repo["labels"][name] = {"id": self.store.next_id(), "name": name, "color": color,
                                        "description": description}
            return repo["labels"][name]

    def _react(self, repo: dict, number: int, user: str, body: str) -> None:
        command = bot.parse_command(body)
        pr = repo["pulls"].get(str(number))
        if command is None or pr is None:
            return
        with self.store.lock:
            reply = bot.respond(command, self.facts(repo, pr, user))
            if reply.add_labels:
                self.add_labels(repo, pr, reply.add_labels)
            if reply.wait:
                pr["merge_when_green"] = {"user": user, "line": command.line, "head": pr["head_sha"]}
                self.store.save(repo)
            if not reply.merge:
                self.bot_comment(repo, pr, reply.text)
                return
            self._bot_merge(repo, pr, reply.text, command.force_reason, user)

    def _bot_merge(self, repo: dict, pr: dict, said: str, force_reason: str | None, user: str) -> None:
        approved = bot.approvers(self.facts(repo, pr, user))
        message = bot.merge_message(pr["title"], pr["number"], pr["body"] or "",
                                    f"{self.base_url}/{repo['owner']}/{repo['name']}/pull/{pr['number']}",
                                    approved, force_reason)
        try:
            sha = self.merge(repo, pr, method="squash", merged_by="pytorchbot", message=message)
        except Conflict as e:
            self.bot_comment(repo, pr, f"{said}\n\n### Merge failed\n**Reason**: {e}")
            return
        self.bot_comment(repo, pr, f"{said}\n\nMerged as {sha[:12]} onto `{pr['base_ref']}`.")

    def _checks_done(self, repo: dict, sha: str) -> None:
        """A merge asked for while checks ran goes ahead now, or fails saying which check failed."""
        for pr in list(repo["pulls"].values()):
            waiting = pr.get("merge_when_green")
            if not waiting or pr["head_sha"] != sha or pr["state"] != "open":
                continue
            pr["merge_when_green"] = None
            self.store.save(repo)
            reply = bot.respond(bot.parse_command(waiting["line"]), self.facts(repo, pr, waiting["user"]))
            if reply.wait:  # other checks of the same head still run
                pr["merge_when_green"] = waiting
                continue
            if reply.merge:
                self._bot_merge(repo, pr, "Checks passed.", None, waiting["user"])
            else:
                self.bot_comment(repo, pr, reply.text)
