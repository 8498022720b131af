"""PyTorch's merge bot, as pure functions: what a `@pytorchbot ...` comment asks and what it gets.

On pytorch/pytorch nobody presses GitHub's merge button: a comment `@pytorchbot merge` asks the
bot, which refuses (with a comment saying why) unless the PR carries a `release notes: ...` or
`topic: ...` label (the release-notes triage needs one), has an approving review from someone
other than its author, and has no failing or unfinished checks. `@pytorchbot label "..."` is how
a contributor without triage rights labels their own PR. `@pytorchbot merge -f "reason"` skips
the label, review and check rules; only people with write access may use it, the reason is kept
for audit, and it is meant for critical fixes, never to get past a red check.

No I/O here: the server gathers `PullFacts`, calls `respond`, and carries out the `Reply`
(posting its text as the bot, adding labels, merging). The texts are this project's own.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

BOT = "pytorchbot"
LABEL_PREFIXES = ("release notes:", "topic:")
FREE_LABEL_PREFIXES = ("release notes:", "topic:", "module:", "ciflow/", "triaged", "open source")
PASSING = {"success", "neutral", "skipped"}

HELP = f"""\
usage: @{BOT} {{merge,label,help}} ...

Write the command on a line of its own that starts with @{BOT}; the rest of the comment is free.

  @{BOT} merge                 merge once the PR has a `release notes: ...` or `topic: ...` label,
                                an approving review from someone other than its author, and green checks
  @{BOT} merge -i              the same, ignoring checks that already failed (pending ones still block)
  @{BOT} merge -f "REASON"     force: skip the label, review and check rules (write access only;
                                a reason of at least three words, kept in the merge commit)
  @{BOT} label "LABEL" ...     add labels (e.g. "topic: not user facing", "release notes: nn")
"""

FORCE_MEANS = ("Force merge skips every rule the bot enforces: the `release notes:`/`topic:` label, the "
               "approving review and the checks. On pytorch/pytorch it is reserved for people with write "
               "access, for critical fixes (a broken trunk, a revert), and the reason is recorded for audit; "
               "a PR that is merely red should be fixed, or merged with `-i` once only unrelated checks fail.")


@dataclass(frozen=True)
class Command:
    kind: str  # "merge" | "label" | "help" | "invalid"
    line: str = ""
    force_reason: str | None = None
    ignore_current: bool = False
    labels: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PullFacts:
    number: int
    author: str
    commenter: str
    commenter_can_write: bool
    state: str = "open"
    merged: bool = False
    mergeable: bool | None = True
    labels: tuple[str, ...] = ()
    reviews: tuple[tuple[str, str], ...] = ()  # (user, state) in the order submitted
    checks: tuple[tuple[str, str, str], ...] = ()  # (name, state: success|failure|error|pending, summary)
    repo_labels: tuple[str, ...] = ()
    base: str = "main"


@dataclass(frozen=True)
class Blocker:
    code: str  # "label" | "review" | "changes_requested" | "checks_failing" | "checks_pending" | "closed" | "conflict"
    message: str


@dataclass(frozen=True)
class Reply:
    text: str
    merge: bool = False
    forced: bool = False
    add_labels: tuple[str, ...] = ()
    blockers: tuple[Blocker, ...] = field(default=())
    wait: bool = False  # everything is in order but checks still run: merge when they pass


def parse_command(body: str) -> Command | None:
    """The first line starting with @pytorchbot, parsed; None when the comment has none."""
    for raw in (body or "").splitlines():
        line = raw.strip()
        if not line.lower().startswith(f"@{BOT}"):
            continue
        try:
            words = shlex.split(line)[1:]
        except ValueError as e:
            return Command("invalid", line, error=f"the command does not parse ({e}); check the quotes")
        return _parse_words(line, words)
    return None


def _parse_words(line: str, words: list[str]) -> Command:
    if not words or words[0] in ("-h", "--help", "help"):
        return Command("help", line)
    verb, rest = words[0], words[1:]
    if verb == "label":
        if not rest:
            return Command("invalid", line, error='label needs at least one label: @pytorchbot label "topic: not user facing"')
        return Command("label", line, labels=tuple(rest))
    if verb != "merge":
        return Command("invalid", line, error=f"unknown command {verb!r}")
    force, ignore, i = None, False, 0
    while i < len(rest):
        word = rest[i]
        if word in ("-f", "--force"):
            if i + 1 >= len(rest):
                return Command("invalid", line, error='-f needs a reason: @pytorchbot merge -f "why this cannot wait"')
            force, i = rest[i + 1], i + 2
        elif word.startswith("--force="):
            force, i = word.split("=", 1)[1], i + 1
        elif word in ("-i", "--ignore-current"):
            ignore, i = True, i + 1
        else:
            return Command("invalid", line, error=f"merge does not take {word!r}")
    if force is not None and ignore:
        return Command("invalid", line, error="-f and -i do not go together: -f already skips the checks")
    return Command("merge", line, force_reason=force, ignore_current=ignore)


def has_release_label(labels) -> bool:
    return any(label.lower().startswith(LABEL_PREFIXES) for label in labels)


def approvers(facts: PullFacts) -> list[str]:
    """Users (not the author) whose latest approving-or-blocking review approves."""
    latest: dict[str, str] = {}
    for user, state in facts.reviews:
        if user != facts.author and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[user] = state
    return sorted(u for u, s in latest.items() if s == "APPROVED")


def changes_requested(facts: PullFacts) -> list[str]:
    latest: dict[str, str] = {}
    for user, state in facts.reviews:
        if user != facts.author and state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[user] = state
    return sorted(u for u, s in latest.items() if s == "CHANGES_REQUESTED")


def merge_blockers(facts: PullFacts, *, ignore_current: bool = False) -> list[Blocker]:
    """Every reason the PR cannot be merged now, each explained (empty: it can)."""
    out: list[Blocker] = []
    if facts.merged or facts.state != "open":
        out.append(Blocker("closed", f"the PR is {'already merged' if facts.merged else 'closed'}"))
        return out
    if facts.mergeable is False:
        out.append(Blocker("conflict", f"the PR conflicts with `{facts.base}`: fetch `{facts.base}`, merge or "
                                       "rebase onto it, resolve the conflicts and push again"))
    if not has_release_label(facts.labels):
        out.append(Blocker("label", "the PR needs a `release notes: <area>` label (a user-facing change, listed in "
                                    "the release notes under that area) or a `topic: ...` label such as `topic: not "
                                    "user facing`. Add one with a comment: "
                                    f'`@{BOT} label "topic: not user facing"`'))
    if changes_requested(facts):
        who = ", ".join(f"@{u}" for u in changes_requested(facts))
        out.append(Blocker("changes_requested", f"{who} requested changes; address them and ask for a new review"))
    elif not approvers(facts):
        out.append(Blocker("review", f"the PR needs an approving review from someone other than its author "
                                     f"(@{facts.author} cannot approve their own PR); ask a reviewer"))
    failing = [(n, s) for n, st, s in facts.checks if st in ("failure", "error")]
    pending = [n for n, st, _ in facts.checks if st == "pending"]
    if failing and not ignore_current:
        out.append(Blocker("checks_failing", f"{len(failing)} check(s) failed (fix and push: the checks run again on "
                                             f"every push):" + "".join(_failure(n, s) for n, s in failing)))
    if pending:
        out.append(Blocker("checks_pending", f"{len(pending)} check(s) still running: "
                                             f"{', '.join(f'`{n}`' for n in pending)}; ask again when they finish"))
    return out


def _failure(name: str, summary: str, keep: int = 6) -> str:
    """One failed check for the bot's comment: its name and the first lines of its summary (the
    file:line of a lint finding, the failing test), so nobody has to open the check to know why."""
    lines = [line.rstrip() for line in summary.strip().splitlines() if line.strip()]
    shown = "".join(f"\n      {line[:200]}" for line in lines[:keep])
    more = f"\n      ... ({len(lines) - keep} more lines in the check)" if len(lines) > keep else ""
    return f"\n    - `{name}`{shown}{more}"


def respond(command: Command, facts: PullFacts) -> Reply:
    """What the bot says and does for one command on one PR."""
    if command.kind == "help":
        return Reply(f"```\n{HELP}```")
    if command.kind == "invalid":
        return Reply(f"### Command not understood\n`{command.line}`: {command.error}\n\n```\n{HELP}```")
    if command.kind == "label":
        return _label(command, facts)
    if command.force_reason is not None:
        return _force(command, facts)
    blockers = merge_blockers(facts, ignore_current=command.ignore_current)
    if blockers and all(b.code == "checks_pending" for b in blockers):
        return Reply(f"### Merge started\nYour change will be merged once all checks pass; "
                     f"{blockers[0].message.split(';')[0]}.", wait=True, blockers=tuple(blockers))
    if blockers:
        reasons = "\n".join(f"- {b.message}" for b in blockers)
        return Reply(f"### Merge failed\n**Reason**: {len(blockers)} rule(s) not met:\n{reasons}\n\n"
                     f"Comment `@{BOT} merge` again once they are.", blockers=tuple(blockers))
    ignored = [n for n, st, _ in facts.checks if st in ("failure", "error")]
    note = f"\nIgnoring failed checks as asked (-i): {', '.join(ignored)}." if ignored else ""
    who = ", ".join(f"@{u}" for u in approvers(facts))
    return Reply(f"### Merge started\nApproved by {who}; label and checks in order.{note}", merge=True)


def _label(command: Command, facts: PullFacts) -> Reply:
    known = {label.lower() for label in facts.repo_labels}
    ok = [label for label in command.labels
          if label.lower() in known or label.lower().startswith(FREE_LABEL_PREFIXES)]
    refused = [label for label in command.labels if label not in ok]
    parts = []
    if ok:
        parts.append("Added " + ", ".join(f"`{label}`" for label in ok) + ".")
    if refused:
        parts.append("Not added (no such label in this repository, and not a `release notes:`/`topic:` label): "
                     + ", ".join(f"`{label}`" for label in refused) + ".")
    return Reply("\n".join(parts), add_labels=tuple(ok))


def _force(command: Command, facts: PullFacts) -> Reply:
    reason = (command.force_reason or "").strip()
    if not facts.commenter_can_write:
        return Reply(f"### Force merge refused\n@{facts.commenter} has no write access to this repository; only "
                     f"maintainers may force.\n\n{FORCE_MEANS}",
                     blockers=(Blocker("permission", "force needs write access"),))
    if len(reason.split()) < 3:
        return Reply(f"### Force merge refused\nThe reason must be at least three words (it is kept for audit): "
                     f'`@{BOT} merge -f "Revert breaking trunk, CI green on the revert"`.\n\n{FORCE_MEANS}',
                     blockers=(Blocker("reason", "force needs a reason of three words or more"),))
    hard = [b for b in merge_blockers(facts) if b.code in ("closed", "conflict")]
    if hard:
        return Reply("### Force merge failed\n" + "\n".join(f"- {b.message}" for b in hard), blockers=tuple(hard))
    skipped = [b.message.split(";")[0].split(":")[0] for b in merge_blockers(facts)]
    note = ("\nRules skipped: " + "; ".join(skipped) + ".") if skipped else ""
    return Reply(f"### Merge started (forced)\nReason: {reason}\n\n{FORCE_MEANS}{note}", merge=True, forced=True)


def merge_message(title: str, number: int, body: str, pr_url: str, approved: list[str],
                  force_reason: str | None = None) -> str:
    """The squash commit's message, shaped like the PyTorch merge bot's."""
    lines = [f"{title} (#{number})", "", (body or "").strip(), "", f"Pull Request resolved: {pr_url}"]
    if approved:
        lines.append("Approved by: " + ", ".join(f"@{u}" for u in approved))
    if force_reason:
        lines.append(f"Forced: {force_reason}")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
