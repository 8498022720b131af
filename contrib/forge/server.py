"""The rehearsal server: the REST API under /api/v3 and git under /git, on 127.0.0.1 only.

One ThreadingHTTPServer speaks HTTP/1.1 with keep-alive (PyGithub reuses its connection: 200
calls take well under a second instead of paying a connect each). The request log goes to a
file beside the state, and holds method, path and status only: never a header, so never a token.
"""

from __future__ import annotations

import base64
import errno
import json
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from . import githttp
from .api import Api, HttpError, Request
from .checks import Checker
from .service import Service
from .store import Store, StoreError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class PortInUse(Exception):
    def __init__(self, port: int):
        super().__init__(f"port {port} on {HOST} is in use (another server?); choose another with --port N, "
                         f"or --port 0 for any free port")
        self.port = port


def _credentials(header: str) -> list[str]:
    """The tokens an Authorization header offers: `token X`, `Bearer X`, or basic auth (password first)."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer") and value.strip():
        return [value.strip()]
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return []
        return [t for t in (password, user) if t and t != "x-oauth-basic"]
    return []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: with Nagle each reply waited ~200 ms
    server_version = "torchatlas-forge"
    app: "App"  # set on the subclass made per server

    def setup(self):
        super().setup()
        with self.app.conn_lock:
            self.app.connections.add(self.connection)

    def finish(self):
        with self.app.conn_lock:
            self.app.connections.discard(self.connection)
        super().finish()

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        self.app.log(f"{self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}")

    def _dispatch(self):
        try:
            self._route()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as e:  # a server bug is a 500 with a GitHub-shaped body, and the server lives on
            self.app.log(f"error {type(e).__name__}: {e}")
            self._json(500, {"message": f"Server Error: {type(e).__name__}", "documentation_url": ""})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _user(self):
        header = self.headers.get("Authorization")
        if not header:
            return None, False
        for token in _credentials(header):
            login = self.app.store.user_by_token(token)
            if login:
                return login, False
        return None, True

    def _route(self):
        parts = urlsplit(self.path)
        user, bad = self._user()
        if parts.path.startswith("/git/"):
            return self._git(parts, user, bad)
        if parts.path.startswith("/api/v3/") or parts.path == "/api/v3":
            body = self._body()
            if bad:
                return self._json(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            req = Request(self.command, parts.path[len("/api/v3"):] or "/", dict(parse_qsl(parts.query)), body,
                          user, self.app.base_url)
            try:
                status, payload = self.app.api.handle(req)
            except HttpError as e:
                status, payload = e.status, e.body()
            return self._json(status, payload)
        self._body()
        self._json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _body(self) -> bytes:
        f, _ = githttp.read_body(self.rfile, self.headers)
        return f.read()

    def _json(self, status: int, payload) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _plain(self, status: int, text: str, extra=()) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _git(self, parts, user, bad):
        m = githttp.PATH_RE.match(parts.path)
        body, size = githttp.read_body(self.rfile, self.headers)
        challenge = [("WWW-Authenticate", 'Basic realm="torchatlas rehearsal"')]
        if not m or not githttp.ALLOWED_REST.match(m["rest"]):
            return self._plain(404, "Not Found\n")
        if bad:
            return self._plain(401, "Invalid username or token.\n", challenge)
        repo = self.app.store.repo(m["owner"], m["name"])
        if repo is None or not self.app.store.can_read(repo, user):
            if user is None:
                return self._plain(401, "Authentication required.\n", challenge)
            return self._plain(404, "Repository not found.\n")
        if githttp.is_push(m["rest"], parts.query):
            if user is None:
                return self._plain(401, "Authentication required to push.\n", challenge)
            if not self.app.store.can_write(repo, user):
                return self._plain(403, f"Permission to {repo['owner']}/{repo['name']}.git denied to {user}.\n")
        resp = githttp.run_backend(project_root=self.app.store.root / "repos", owner=repo["owner"],
                                   name=repo["name"], rest=m["rest"], method=self.command, query=parts.query,
                                   headers=self.headers, body_file=body, content_length=size, user=user)
        if resp.pushed:
            self.app.service.after_push(repo["owner"], repo["name"])
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(resp.length))
        self.end_headers()
        shutil.copyfileobj(resp.body_file, self.wfile)
        resp.body_file.close()


class App:
    def __init__(self, root: Path, checker: Checker | None):
        self.store = Store(root)
        self.service = Service(self.store, checker)
        self.api = Api(self.service)
        self.base_url = ""
        self._log_lock = threading.Lock()
        self._log_path = Path(root) / "server.log"
        self.connections: set = set()  # keep-alive sockets: closed on stop, or a client would still be served
        self.conn_lock = threading.Lock()

    def close_connections(self) -> None:
        with self.conn_lock:
            for sock in list(self.connections):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def log(self, line: str) -> None:
        with self._log_lock, open(self._log_path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def _bind(app: App, port: int) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"app": app})
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(port) from e
        raise
    server.daemon_threads = True
    app.base_url = f"http://{HOST}:{server.server_address[1]}"
    app.service.base_url = app.base_url
    return server


@dataclass(frozen=True)
class Running:
    url: str
    api_url: str
    root: Path
    _server: ThreadingHTTPServer
    _thread: threading.Thread
    _app: App

    def git_url(self, full_name: str) -> str:
        return f"{self.url}/git/{full_name}.git"

    def add_user(self, login: str, token: str | None = None) -> None:
        """A user whose token is `token` (by default the login itself, as `Authorization: token NAME`)."""
        self._app.store.add_user(login, token)

    def wait_idle(self, timeout: float | None = 120) -> bool:
        return self._app.service.wait_idle(timeout)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._app.close_connections()
        self._app.service.stop()
        self._thread.join(5)


def start_background(root, port: int = 0, *, checker: Checker | None = None) -> Running:
    """A server on a thread of this process (port 0: any free port); `.stop()` ends it."""
    app = App(Path(root), checker)
    server = _bind(app, port)
    thread = threading.Thread(target=server.serve_forever, name="forge-server", daemon=True)
    thread.start()
    return Running(app.base_url, f"{app.base_url}/api/v3", Path(root), server, thread, app)


def serve(root, port: int = DEFAULT_PORT, *, checker: Checker | None = None, out=None) -> None:
    """The server in the foreground until Ctrl-C; prints its base URL first."""
    out = out or sys.stdout
    app = App(Path(root), checker)
    server = _bind(app, port)
    print(f"rehearsal server at {app.base_url} (API {app.base_url}/api/v3, git {app.base_url}/git/OWNER/REPO.git); "
          f"state in {root}; Ctrl-C stops it", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close_connections()
        app.service.stop()


__all__ = ["DEFAULT_PORT", "PortInUse", "Running", "StoreError", "serve", "start_background"]
