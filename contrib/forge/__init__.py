"""The forge: a rehearsal GitHub on 127.0.0.1, PyTorch's bot rules, and the one client (issue 14).

Why a server and not a mock: the flow a contributor rehearses (push, open a PR, label, review,
`@pytorchbot merge`) goes through PyGithub and real git exactly as it will against github.com;
only the base URL and the token differ.

Modules (what `contrib/pr` codes against):

server.py   `start_background(root, port=0, *, checker=None) -> Running` and
            `serve(root, port=DEFAULT_PORT, *, checker=None)` (foreground until Ctrl-C; prints the base URL).
            `Running`: `.url` ("http://127.0.0.1:PORT"), `.api_url` (url + "/api/v3"), `.root`,
            `.git_url("owner/repo")` (url + "/git/owner/repo.git"), `.add_user(login, token=None)`
            (token defaults to the login: `Authorization: token NAME` is user NAME), `.wait_idle(timeout)`
            (True once every queued check has posted its result), `.stop()`.
            Both raise `PortInUse` (`.port`; its message suggests --port). Binds 127.0.0.1 only.
            Users "learner", "reviewer" and "pytorchbot" exist from the start; a repository's owner
            (and collaborators: PUT /repos/O/R/collaborators/U) may push, label and merge.
            State lives under ROOT (reopened as it was by the next server on the same ROOT);
            ROOT/server.log has method, path and status per request, never a header.
client.py   THE client, the only module importing PyGithub (`github`). Errors: `ForgeError(status, message)`.
            `Forge.rehearsal(api_url, user="learner", token=None)`; `Forge.github(token=None)` (token from
            GITHUB_TOKEN / GH_TOKEN or `git credential fill`; never printed, logged or stored);
            `token_from_environment()`.
            `login`, `create_repo(name, description="", *, auto_init=False) -> RepoRef(full_name, clone_url,
            default_branch)`, `repo(full_name) -> RepoRef`,
            `push(workdir, repo: RepoRef, branch, *, force=False, source="HEAD") -> git's report`
            (the token in an env-scoped http.<url>.extraHeader: not in the URL, argv or any config file),
            `open_pull(full_name, head, base, title, body) -> PullView`, `pull(full_name, n)`,
            `pulls(full_name, state="open")`, `update_pull(full_name, n, title=, body=)`,
            `files(full_name, n) -> list[str]`, `commits(full_name, n) -> list[sha]`,
            `comment(full_name, n, text) -> CommentView(id, user, body)`, `comments(full_name, n)`,
            `add_labels(full_name, n, *labels)`, `review(full_name, n, event="APPROVE", body="")`,
            `statuses(full_name, sha) -> list[StatusView(context, state, description)]`,
            `check_runs(full_name, sha) -> list[CheckView(name, conclusion, summary)]`,
            `merge(full_name, n, method="squash") -> sha` (behind the same rules as the bot: 405 otherwise).
            PullView: number, url, html_url, title, body, state, author, head_ref, head_sha, base_ref,
            merged, mergeable, labels, merge_commit_sha.
bot.py      PyTorch's bot rules as pure functions: `parse_command(body) -> Command | None`,
            `merge_blockers(facts: PullFacts) -> list[Blocker]`, `respond(command, facts) -> Reply`
            (text of the bot's comment, merge or not, labels to add, wait for pending checks).
            On the server a comment with an `@pytorchbot ...` line is answered before the comment
            request returns (the bot's comment is the PR's newest); a merge asked for while checks
            run happens when they pass.
checks.py   `CheckRun(name, conclusion, summary)`, `Checker = Callable[[Path, str], list[CheckRun]]`
            (bare repository path, head sha; the default branch is the bare repository's HEAD, so
            `git -C repo merge-base HEAD sha` is the PR's base). Run on one worker thread when a PR
            opens and on every push to its branch; each run is posted as a commit status (context =
            name, description = the summary's first line) and a check run (the whole summary), plus a
            `torchatlas/checks` status that is pending until the checker returns. A checker that raises
            is a failing run naming the exception. Default: `diff_check` (`git diff --check`, file:line).
record.py   `Recorder(path, secrets=(), title="")`: `.step(action, detail, ok=, bot=, seconds=)` writes
            the recording (JSON, scrubbed of `secrets`) after each step; `history(folder)`, `dumps(rec)`.
store.py    state on disk (users.json with token hashes only, meta.json, repos/OWNER/NAME.git bare +
            NAME.json), atomic writes. service.py: pushes, checks, merges, the bot. api.py: REST v3
            routes. githttp.py: smart HTTP through `git http-backend`. gitbare.py: git on bare repos.
"""
