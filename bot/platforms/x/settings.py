"""The `[x]` table of the newsroom file: where the X API is, what each billed call
costs, and the monthly budget Vigie keeps to. Read by `bot.config` (cheap: pydantic only).

X bills per use (https://docs.x.com/x-api/getting-started/pricing, read 2026-11): reads
per resource returned (a post $0.005, a user $0.010; "owned reads" of the account's own
posts $0.001), writes per request (a post $0.015, a post carrying a link $0.200, a mute
or block $0.015, hiding a reply $0.005, lifting a mute $0.005, lifting a block $0.010).
Prices change: the defaults below are those, and a newsroom sets its own under
`[x.prices]` (the Developer Console shows the current ones).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Dollars = Annotated[float, Field(ge=0, le=10_000)]


class XPrices(BaseModel):
    """US dollars per resource read or per request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    post_read: Dollars = 0.005
    user_read: Dollars = 0.010
    owned_read: Dollars = 0.001  # the account's own posts (looking for a lost reply)
    post_create: Dollars = 0.015
    post_create_with_link: Dollars = 0.200
    user_interaction: Dollars = 0.015  # mute, block
    content_manage: Dollars = 0.005  # hide or unhide a reply
    mute_delete: Dollars = 0.005
    interaction_delete: Dollars = 0.010  # unblock


class XSettings(BaseModel):
    """`monthly_budget`: dollars Vigie may spend on X in a calendar month (UTC), all
    accounts together; it never goes over. From `slow_from` of it, polling slows down
    (`slow_factor` times the interval); `reserve` of it is kept for replies, moderation
    and posts, so polling stops first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$")] = \
        "https://api.x.com"
    monthly_budget: Annotated[float, Field(ge=0, le=1_000_000)] = 50.0
    slow_from: Annotated[float, Field(gt=0, le=1)] = 0.8
    slow_factor: Annotated[int, Field(ge=1, le=100)] = 4
    reserve: Annotated[float, Field(ge=0, lt=1)] = 0.1
    max_results: Annotated[int, Field(ge=5, le=100)] = 100  # mentions per page
    prices: XPrices = XPrices()
