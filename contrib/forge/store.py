"""The rehearsal server's state on disk: users, repositories and everything hung on a pull request.

Layout under ROOT:
    users.json                 {login: {"id": n, "token_sha256": hex}}  (tokens are never stored, only hashed)
    meta.json                  {"next_id": n}  (ids are unique across objects, as GitHub's are)
    repos/OWNER/NAME.git       the bare repository (git http-backend serves it)
    repos/OWNER/NAME.json      the repository's metadata, pulls, comments, labels, reviews, statuses, check runs

Every write goes to a temporary file in the same folder and is renamed over the old one, so a
server killed mid-write leaves the previous state, never half a JSON file. One lock serialises
the server's threads; git itself runs outside it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path

from torchatlas.indexes.cache_dir import write_json_atomically

from . import gitbare

NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
DEFAULT_USERS = ("learner", "reviewer", "pytorchbot")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def write_json(path: Path, data) -> None:
    """The rehearsal's state files: written atomically, keys sorted (stable diffs between steps)."""
    write_json_atomically(path, data, sort_keys=True)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}:{e.lineno}: not JSON ({e.msg}); the rehearsal state is damaged") from e


class StoreError(Exception):
    pass


class Store:
    """All state, cached in memory and written through on every change (under `self.lock`)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._users = read_json(self.root / "users.json", {})
        self._meta = read_json(self.root / "meta.json", {"next_id": 1})
        self._repos: dict[str, dict] = {}
        for path in sorted((self.root / "repos").glob("*/*.json")):
            data = read_json(path, None)
            if data:
                self._repos[f"{data['owner']}/{data['name']}".lower()] = data
        for login in DEFAULT_USERS:
            if login not in self._users:
                self.add_user(login)

    # ids and users
    def next_id(self) -> int:
        with self.lock:
            n = self._meta["next_id"]
            self._meta["next_id"] = n + 1
            write_json(self.root / "meta.json", self._meta)
            return n

    def add_user(self, login: str, token: str | None = None) -> dict:
        if not NAME_RE.match(login):
            raise StoreError(f"user name {login!r}: letters, digits, '.', '_' and '-' only")
        with self.lock:
            user = self._users.get(login) or {"id": self.next_id()}
            user["token_sha256"] = token_hash(token if token is not None else login)
            self._users[login] = user
            write_json(self.root / "users.json", self._users)
            return {"login": login, "id": user["id"]}

    def user_by_token(self, token: str) -> str | None:
        digest = token_hash(token)
        with self.lock:
            for login, user in self._users.items():
                if user["token_sha256"] == digest:
                    return login
        return None

    def user(self, login: str) -> dict | None:
        with self.lock:
            u = self._users.get(login)
            return {"login": login, "id": u["id"]} if u else None

    # repositories
    def repo_dir(self, owner: str, name: str) -> Path:
        return self.root / "repos" / owner / f"{name}.git"

    def repo(self, owner: str, name: str) -> dict | None:
        with self.lock:
            return self._repos.get(f"{owner}/{name}".lower())

    def repos_of(self, owner: str) -> list[dict]:
        with self.lock:
            return [r for r in self._repos.values() if r["owner"] == owner]

    def create_repo(self, owner: str, name: str, *, description: str = "", private: bool = False,
                    default_branch: str = "main") -> dict:
        with self.lock:
            if self.repo(owner, name):
                raise StoreError("name already exists on this account")
            gitbare.init_bare(self.repo_dir(owner, name), default_branch)
            data = {"id": self.next_id(), "owner": owner, "name": name, "description": description,
                    "private": private, "default_branch": default_branch, "created_at": now(),
                    "updated_at": now(), "pushed_at": None, "collaborators": [], "next_number": 1,
                    "labels": {}, "pulls": {}, "comments": [], "reviews": [], "statuses": [], "check_runs": []}
            self._repos[f"{owner}/{name}".lower()] = data
            self.save(data)
            return data

    def save(self, repo: dict) -> None:
        with self.lock:
            repo["updated_at"] = now()
            write_json(self.root / "repos" / repo["owner"] / f"{repo['name']}.json", repo)

    def can_write(self, repo: dict, login: str | None) -> bool:
        return login is not None and (login == repo["owner"] or login in repo["collaborators"]
                                      or login == "pytorchbot")

    def can_read(self, repo: dict, login: str | None) -> bool:
        return not repo["private"] or self.can_write(repo, login)
