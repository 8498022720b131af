"""The forge: a rehearsal GitHub on 127.0.0.1, PyTorch's bot rules, and the one client (issue 14).

Why a server and not a mock: the flow a contributor rehearses (push, open a PR, label, review,
`@pytorchbot merge`) goes through PyGithub and real git exactly as it will against github.com;
only the base URL and the token differ.

Modules (what `contrib/pr` codes against):

server.py   `start_background(root, port=0, *, checker=None) -> Running` and
            `serve(root, port=DEFAULT_PORT, *, checker=None)` (foreground, prints the base URL).
            `Running`: `.url` ("http://127.0.0.1:PORT"), `.api_url` (url + "/api/v3"),
            `.git_url("owner/repo")` (url + "/git/owner/repo.git"), `.add_user(login, token=None)`
            (token defaults to the login: `Authorization: token NAME` is user NAME), `.wait_idle(timeout)`
            (True when every queued check has posted its result), `.stop()`.
            Raises `PortInUse` (has `.port`, message suggests --port). Binds 127.0.0.1 only.
            Users "learner", "reviewer" and "pytorchbot" exist from the start.
client.py   THE client, the only module importing PyGithub (`github`).
            `Forge.rehearsal(api_url, user="learner")`, `Forge.github(token=None)` (token from
            GITHUB_TOKEN / GH_TOKEN or `git credential fill`; never printed, logged or stored).
            Methods: `login`, `create_repo(name) -> RepoRef`, `repo(full_name) -> RepoRef`,
            `push(workdir, repo: RepoRef, branch, *, force=False)` (token in an env-scoped
            http.extraHeader, never in the URL), `open_pull(full_name, head, base, title, body) -> PullView`,
            `pull(full_name, n)`, `pulls(full_name)`, `update_pull(full_name, n, title=, body=)`,
            `files(full_name, n) -> list[str]`, `commits(full_name, n) -> list[str]`,
            `comment(full_name, n, text) -> CommentView`, `comments(full_name, n) -> list[CommentView]`,
            `add_labels(full_name, n, *labels)`, `review(full_name, n, event="APPROVE", body="")`,
            `statuses(full_name, sha) -> list[StatusView]`, `check_runs(full_name, sha) -> list[CheckView]`,
            `merge(full_name, n, method="squash")`. Every failure is a `ForgeError(status, message)`.
bot.py      PyTorch's bot rules as pure functions: `parse_command(body) -> Command | None`,
            `merge_blockers(facts: PullFacts) -> list[Blocker]`, `respond(command, facts) -> Reply`
            (text of the bot's comment, whether to merge, labels to add).
checks.py   `CheckRun(name, conclusion, summary)`, `Checker = Callable[[Path, str], list[CheckRun]]`
            (bare repository path, head sha); the server runs the checker on every push to a PR's
            branch and on opening a PR, and posts each run as a commit status and a check run.
            `diff_check` is the default checker (`git diff --check`: whitespace errors as file:line).
record.py   `Recorder(path, secrets=())`: a rehearsal as JSON history (steps, what the bot said).
store.py    state on disk under ROOT (users.json, repos/OWNER/NAME.git bare + NAME.json), atomic writes.
api.py      the REST v3 routes; githttp.py: smart HTTP through `git http-backend`.
"""
