"""Editors' approvals in the approvals channel, shared by every subject that needs one:
drafts of posts (`bot.posts`) and replies to sensitive mentions (`bot.replies`).

Each subject posts its own preview message there and keeps which of its items a preview
stands for. A reaction on a message of the approvals channel is routed here: the subject
whose preview it is gets `approve` (the approve reaction, ✅ by default), `reject` (❌) or,
when an approve reaction is taken back, `withdraw`. Only editors count: anyone else's
reaction is ignored, as the editors' list is the whole point. Buttons on the previews
call the same desk methods from each subject's handlers.

Slack runs one listener per event, so there must be exactly one reaction listener for the
approvals channel (`handlers.approvals`), whatever the number of subjects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A preview's ts is stored once Slack has answered `chat.postMessage`; an editor quick
# enough (or a slow database) can react first. Look again for a moment before deciding
# the message is not a preview: an approval is never dropped for being early.
SETTLE_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.5)


class Decision(Protocol):
    """What a desk answers: `ok`, and `code`, the text key said to the editor when not."""

    @property
    def ok(self) -> bool: ...

    @property
    def code(self) -> str: ...


class ApprovalDesk(Protocol):
    """What a subject offers to the approvals channel (its preview lookup and decisions)."""

    def by_preview(self, channel: str, ts: str) -> int | None:
        """The item a preview message stands for, if it is one of this subject's."""
        ...

    def approve(self, item_id: int, editor_id: str, *, via: str) -> Decision: ...

    def reject(self, item_id: int, editor_id: str, reason: str | None) -> Decision: ...

    def withdraw(self, item_id: int, editor_id: str) -> Decision: ...


@dataclass(frozen=True)
class Reactions:
    approve: str = "white_check_mark"
    reject: str = "x"


class Approvals:
    def __init__(self, *, channel: str | None, is_editor: Callable[[str], bool],
                 reactions: Reactions | None = None,
                 settle_delays: Sequence[float] = SETTLE_DELAYS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.channel = channel
        self.reactions = reactions or Reactions()
        self._is_editor = is_editor
        self._settle_delays = tuple(settle_delays)
        self._sleep = sleep
        self._desks: list[ApprovalDesk] = []

    def add(self, desk: ApprovalDesk) -> None:
        self._desks.append(desk)

    def watches(self, channel: str | None) -> bool:
        return bool(self.channel and channel == self.channel)

    def on_reaction(self, *, channel: str, ts: str, user: str, reaction: str,
                    added: bool, ours: bool = True) -> Decision | None:
        """An editor's reaction on a preview, as a decision; None when it means nothing
        (another emoji, not a preview, not an editor, an emoji taken back that decided
        nothing). `ours`: the message may be Vigie's (False when Slack says another
        user wrote it: then it is no preview, and there is nothing to wait for)."""
        name = reaction.split("::")[0]  # drop skin tones
        if not self.watches(channel) or name not in (self.reactions.approve,
                                                     self.reactions.reject):
            return None
        if not self._is_editor(user):
            return None  # reactions of others do not count
        found = self._preview(channel, ts, settle=ours)
        if found is None:
            return None
        desk, item = found
        if added and name == self.reactions.approve:
            return desk.approve(item, user, via="reaction")
        if added:
            return desk.reject(item, user, None)
        if name == self.reactions.approve:
            return desk.withdraw(item, user)
        return None

    def on_found(self, channel: str, ts: str, reactions: list[dict[str, Any]]) -> None:
        """Count the reactions Slack shows on a preview Vigie has just found (its answer
        was lost): editors who reacted before Vigie knew it was there are not ignored."""
        for reaction in reactions:
            for user in reaction.get("users") or []:
                self.on_reaction(channel=channel, ts=ts, user=str(user),
                                 reaction=str(reaction.get("name") or ""), added=True,
                                 ours=False)

    def _preview(self, channel: str, ts: str, *, settle: bool
                 ) -> tuple[ApprovalDesk, int] | None:
        """The desk and item a message is the preview of, waiting briefly for one whose
        ts is still being stored (see `SETTLE_DELAYS`) when it may be ours."""
        for delay in (*(self._settle_delays if settle else ()), None):
            for desk in self._desks:
                item = desk.by_preview(channel, ts)
                if item is not None:
                    return desk, item
            if delay is not None:
                self._sleep(delay)
        return None
