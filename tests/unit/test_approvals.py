"""The approvals channel's reaction routing: only editors count, and an approval given
before the preview's ts is stored is not dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.approvals import Approvals

APPROVALS, EDITOR, STAFF = "C0APPROVALS", "U0EDITOR", "U0STAFF"


@dataclass(frozen=True)
class Decided:
    ok: bool
    code: str


@dataclass
class Desk:
    """A subject whose preview ts becomes known after `known_after` lookups."""

    ts: str = "1700000000.000100"
    known_after: int = 0
    lookups: int = 0
    approved: list[tuple[int, str]] = field(default_factory=list)

    def by_preview(self, channel: str, ts: str) -> int | None:
        self.lookups += 1
        if ts != self.ts or self.lookups <= self.known_after:
            return None
        return 7

    def approve(self, item_id: int, editor_id: str, *, via: str) -> Decided:
        self.approved.append((item_id, editor_id))
        return Decided(True, "approved")

    def reject(self, item_id: int, editor_id: str, reason: str | None) -> Decided:
        return Decided(True, "rejected")

    def withdraw(self, item_id: int, editor_id: str) -> Decided:
        return Decided(True, "withdrawn")


def approvals(desk: Desk, slept: list[float]) -> Approvals:
    hub = Approvals(channel=APPROVALS, is_editor=lambda user: user == EDITOR,
                    sleep=slept.append)
    hub.add(desk)
    return hub


def test_an_editor_reacting_before_the_preview_is_recorded_still_approves() -> None:
    desk, slept = Desk(known_after=3), list[float]()
    decided = approvals(desk, slept).on_reaction(channel=APPROVALS, ts=desk.ts, user=EDITOR,
                                                 reaction="white_check_mark", added=True)
    assert decided is not None and decided.code == "approved"
    assert desk.approved == [(7, EDITOR)]
    assert len(slept) == 3


def test_a_reaction_on_a_message_that_is_no_preview_gives_up_after_a_moment() -> None:
    desk, slept = Desk(), list[float]()
    decided = approvals(desk, slept).on_reaction(channel=APPROVALS, ts="1.2", user=EDITOR,
                                                 reaction="white_check_mark", added=True)
    assert decided is None and desk.approved == []
    assert 0 < sum(slept) <= 5


def test_others_and_other_emoji_are_ignored_without_waiting() -> None:
    desk, slept = Desk(known_after=99), list[float]()
    hub = approvals(desk, slept)
    assert hub.on_reaction(channel=APPROVALS, ts=desk.ts, user=STAFF,
                           reaction="white_check_mark", added=True) is None
    assert hub.on_reaction(channel=APPROVALS, ts=desk.ts, user=EDITOR,
                           reaction="tada", added=True) is None
    assert hub.on_reaction(channel="C0OTHER", ts=desk.ts, user=EDITOR,
                           reaction="white_check_mark", added=True) is None
    assert slept == [] and desk.lookups == 0


def test_a_reaction_on_someone_elses_message_does_not_wait() -> None:
    """Slack says a person wrote the message: it cannot be a preview, no lookups again."""
    desk, slept = Desk(), list[float]()
    decided = approvals(desk, slept).on_reaction(channel=APPROVALS, ts="1.2", user=EDITOR,
                                                 reaction="white_check_mark", added=True,
                                                 ours=False)
    assert decided is None and slept == [] and desk.lookups == 1
