"""PyTorch's bot rules as pure functions: parsing `@pytorchbot` lines and deciding a merge."""

from __future__ import annotations

import pytest

from torchatlas.contrib.forge import bot
from torchatlas.contrib.forge.bot import Command, PullFacts, merge_blockers, parse_command, respond

GREEN = PullFacts(number=7, author="learner", commenter="learner", commenter_can_write=True,
                  labels=("topic: not user facing",), reviews=(("reviewer", "APPROVED"),),
                  checks=(("lint", "success", "clean"), ("test", "success", "1 passed")))


def facts(**changes) -> PullFacts:
    return PullFacts(**{**GREEN.__dict__, **changes})


@pytest.mark.parametrize("body, kind, extra", [
    ("@pytorchbot merge", "merge", {}),
    ("LGTM\n  @pytorchbot merge -i\nthanks", "merge", {"ignore_current": True}),
    ('@pytorchbot merge -f "trunk is broken"', "merge", {"force_reason": "trunk is broken"}),
    ("@pytorchbot merge --force='a b c'", "merge", {"force_reason": "a b c"}),
    ('@pytorchbot label "topic: not user facing" "module: nn"', "label",
     {"labels": ("topic: not user facing", "module: nn")}),
    ("@pytorchbot --help", "help", {}),
    ("@pytorchbot", "help", {}),
    ("@pytorchbot rebase", "invalid", {}),
    ('@pytorchbot merge -f "unclosed', "invalid", {}),
    ("@pytorchbot merge -f", "invalid", {}),
    ('@pytorchbot merge -f "a b c" -i', "invalid", {}),
    ("@pytorchbot label", "invalid", {}),
])
def test_parse(body, kind, extra):
    command = parse_command(body)
    assert command.kind == kind
    for key, value in extra.items():
        assert getattr(command, key) == value


def test_no_command_in_plain_comments():
    assert parse_command("thanks @pytorchbot merge is what I will say later") is None
    assert parse_command("") is None


def test_green_pr_merges():
    assert merge_blockers(GREEN) == []
    reply = respond(Command("merge"), GREEN)
    assert reply.merge and "@reviewer" in reply.text


@pytest.mark.parametrize("changes, code, words", [
    ({"labels": ()}, "label", ["release notes: <area>", '@pytorchbot label "topic: not user facing"']),
    ({"labels": ("module: nn",)}, "label", ["topic:"]),
    ({"reviews": ()}, "review", ["approving review", "@learner cannot approve"]),
    ({"reviews": (("learner", "APPROVED"),)}, "review", ["someone other than its author"]),
    ({"reviews": (("reviewer", "APPROVED"), ("reviewer", "CHANGES_REQUESTED"))}, "changes_requested", ["@reviewer"]),
    ({"checks": (("lint", "failure", "calc.py:3: W291 trailing whitespace"),)}, "checks_failing",
     ["`lint`", "calc.py:3: W291"]),
    ({"checks": (("lint", "failure", "2 finding(s):\na.py:1: W291 x\nb.py:9: E501 y"),)}, "checks_failing",
     ["a.py:1: W291", "b.py:9: E501"]),  # the lines after a header line are shown too
    ({"mergeable": False}, "conflict", ["conflicts with `main`"]),
    ({"merged": True, "state": "closed"}, "closed", ["already merged"]),
])
def test_each_missing_condition_blocks_and_is_explained(changes, code, words):
    f = facts(**changes)
    blockers = merge_blockers(f)
    assert code in [b.code for b in blockers]
    reply = respond(Command("merge"), f)
    assert not reply.merge and "Merge failed" in reply.text
    for w in words:
        assert w in reply.text


def test_pending_checks_alone_mean_merge_when_green():
    reply = respond(Command("merge"), facts(checks=(("test_x", "pending", ""), ("lint", "success", ""))))
    assert reply.wait and not reply.merge and "once all checks pass" in reply.text and "`test_x`" in reply.text
    both = respond(Command("merge"), facts(labels=(), checks=(("test_x", "pending", ""),)))
    assert not both.wait and not both.merge and "still running" in both.text and "release notes" in both.text


def test_a_later_approval_clears_a_request_for_changes():
    f = facts(reviews=(("reviewer", "CHANGES_REQUESTED"), ("reviewer", "APPROVED"), ("other", "COMMENTED")))
    assert merge_blockers(f) == []


def test_ignore_current_skips_failed_but_not_pending_checks():
    failed = facts(checks=(("flaky", "failure", "timeout"),))
    assert respond(Command("merge", ignore_current=True), failed).merge
    pending = facts(checks=(("slow", "pending", ""),))
    assert not respond(Command("merge", ignore_current=True), pending).merge


def test_force_needs_write_access_and_a_reason_and_says_what_it_means():
    red = facts(labels=(), reviews=(), checks=(("lint", "failure", "x"),))
    no_reason = respond(Command("merge", force_reason="now"), red)
    assert not no_reason.merge and "three words" in no_reason.text and bot.FORCE_MEANS in no_reason.text
    outsider = respond(Command("merge", force_reason="trunk is broken"), facts(commenter="x", commenter_can_write=False))
    assert not outsider.merge and "write access" in outsider.text
    forced = respond(Command("merge", force_reason="revert breaking trunk now"), red)
    assert forced.merge and forced.forced and "skips every rule" in forced.text and "Rules skipped" in forced.text
    conflict = respond(Command("merge", force_reason="revert breaking trunk now"), facts(mergeable=False))
    assert not conflict.merge


def test_label_adds_release_labels_and_known_ones_only():
    reply = respond(Command("label", labels=("topic: bug fixes", "ciflow/trunk", "made up", "known")),
                    facts(repo_labels=("known",)))
    assert reply.add_labels == ("topic: bug fixes", "ciflow/trunk", "known")
    assert "`made up`" in reply.text and not reply.merge


def test_help_and_invalid_show_usage():
    assert "@pytorchbot merge -f" in respond(parse_command("@pytorchbot help"), GREEN).text
    text = respond(parse_command("@pytorchbot rebase"), GREEN).text
    assert "unknown command 'rebase'" in text and "usage" in text


def test_merge_message_is_shaped_like_the_merge_bots():
    message = bot.merge_message("Fix add", 3, "Fixes #1", "http://h/o/r/pull/3", ["reviewer"], None)
    assert message.startswith("Fix add (#3)\n\nFixes #1\n\nPull Request resolved: http://h/o/r/pull/3\n")
    assert "Approved by: @reviewer" in message
