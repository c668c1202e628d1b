"""What Facebook, Instagram and Threads tell Vigie, in one shape, whether it came by
webhook or by polling: so push and poll meet in the same dedupe (`external_id`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Platform = Literal["facebook", "instagram", "threads"]
EventKind = Literal["new", "edited", "removed", "hidden", "unhidden"]
Item = Literal["comment", "post", "mention"]


@dataclass(frozen=True)
class MetaItem:
    """A comment, a visitor's post or a mention on one of the newsroom's accounts.

    `account_id` is the Page, Instagram professional account or Threads profile it was
    made on (or that was mentioned). `item_id` is the comment's (or post's) own id, the
    one to reply to, hide or delete; `post_id` the post it is under; `parent_id` the
    comment it answers, None for a first-level comment. `text` is None when the source
    did not carry it (an Instagram mention: read it with `read_instagram_mention`).
    `by_account`: written by the account itself (its own replies), not the audience.
    """

    platform: Platform
    account_id: str
    kind: EventKind
    item: Item
    item_id: str
    post_id: str | None = None
    parent_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    text: str | None = None
    created_at: datetime | None = None
    permalink: str | None = None
    hidden: bool | None = None
    by_account: bool = False

    @property
    def external_id(self) -> str:
        """Stable across webhook, retries and polling: the platform's own id."""
        return f"{self.platform}:{self.item_id}"


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: Meta omits what it lacks."""
    return value if isinstance(value, dict) else {}


def parse_time(value: Any) -> datetime | None:
    """Meta's times: Unix seconds (or milliseconds), or ISO 8601 with `+0000`."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            seconds = float(value) / 1000 if value > 10**11 else float(value)
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError):  # beyond year 9999, NaN, infinite
            return None
    text = str(value).strip()
    if text.isdigit():
        return parse_time(int(text))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 → +00:00 (Python 3.11 reads both, 3.10 not)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def graph_time(moment: datetime) -> str:
    """A time as Meta writes it: `2024-08-07T10:33:16+0000`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
