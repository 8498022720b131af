"""`git push` and `git fetch` over smart HTTP, through git's own `git http-backend` (a CGI program).

Authentication is GitHub's: HTTP basic auth with the token as the password. Reading a public
repository needs none; pushing needs a user with write access (the owner or a collaborator).
A request without credentials gets 401 with `WWW-Authenticate`, which is what makes git ask its
credential helper or use the header the client passes; a user without write access gets 403.
Bodies go through temporary files, so a large first push does not sit in memory twice.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PATH_RE = re.compile(r"^/git/(?P<owner>[A-Za-z0-9._-]+)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?(?P<rest>/.*)$")
ALLOWED_REST = re.compile(r"^/(info/refs|git-upload-pack|git-receive-pack|HEAD)$")


@lru_cache(maxsize=1)
def backend() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(exec_path) / "git-http-backend"
    if not path.exists():
        raise FileNotFoundError(f"{path}: git's http-backend is missing (install git fully)")
    return str(path)


@dataclass(frozen=True)
class GitResponse:
    status: int
    headers: list[tuple[str, str]]
    body_file: object  # a file positioned at the body's start
    length: int
    pushed: bool = False


def is_push(rest: str, query: str) -> bool:
    return rest == "/git-receive-pack" or (rest == "/info/refs" and "service=git-receive-pack" in query)


def run_backend(*, project_root: Path, owner: str, name: str, rest: str, method: str, query: str,
                headers, body_file, content_length: int | None, user: str | None) -> GitResponse:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(project_root),
           "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": f"/{owner}/{name}.git{rest}", "REQUEST_METHOD": method,
           "QUERY_STRING": query, "CONTENT_TYPE": headers.get("Content-Type", ""), "REMOTE_ADDR": "127.0.0.1",
           "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1"}
    if content_length is not None:
        env["CONTENT_LENGTH"] = str(content_length)
    if user:
        env["REMOTE_USER"] = user
    for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
        if headers.get(header):
            env[var] = headers[header]
    out = tempfile.TemporaryFile()
    proc = subprocess.run([backend()], stdin=body_file, stdout=out, stderr=subprocess.PIPE, env=env)
    out.seek(0)
    raw_headers = b""
    while not raw_headers.endswith(b"\r\n\r\n") and not raw_headers.endswith(b"\n\n"):
        ch = out.read(1)
        if not ch:
            break
        raw_headers += ch
    status, parsed = 200, []
    for line in raw_headers.decode("latin-1").splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            parsed.append((key.strip(), value.strip()))
    if proc.returncode != 0 and status == 200:
        status = 500
    length = out.seek(0, 2) - len(raw_headers)
    out.seek(len(raw_headers))
    return GitResponse(status, parsed, out, length,
                       pushed=method == "POST" and rest == "/git-receive-pack")  # even a failed push may move some refs


def read_body(rfile, headers) -> tuple[object, int]:
    """The request body into a temporary file (chunked or with Content-Length); returns (file, size)."""
    tmp = tempfile.TemporaryFile()
    size = 0
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        while True:
            line = rfile.readline(65537)
            n = int(line.split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            remaining = n
            while remaining:
                chunk = rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("the client closed the connection mid-body")
                tmp.write(chunk)
                remaining -= len(chunk)
            size += n
            rfile.readline(3)
    else:
        remaining = int(headers.get("Content-Length") or 0)
        while remaining:
            chunk = rfile.read(min(remaining, 1 << 20))
            if not chunk:
                raise ConnectionError("the client closed the connection mid-body")
            tmp.write(chunk)
            remaining -= len(chunk)
            size += len(chunk)
    tmp.seek(0)
    return tmp, size
