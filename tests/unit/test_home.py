"""The App Home: a person's queue, the open queue per channel, plugged-in sections and
the week at a glance, always within Slack's 100 blocks, paged, and refreshed once per
burst of changes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.mentions.qualify import Applied
from bot.mentions.qualify_models import AuditEntry, ChangeSource
from bot.people import Directory
from bot.reports.home import Dashboard, Refresher
from bot.reports.home_view import MAX_BLOCKS, PER_PAGE
from bot.reports.sections import Viewer
from bot.sandbox.slack import validate_blocks
from tests.support.report_data import ALICE, BOB, NOW, OfflineSlack, add, seed_week


class RecordingSlack(OfflineSlack):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self.published.append((user, view))


def dashboard(engine: Engine, config: Config, slack: RecordingSlack | None = None
              ) -> Dashboard:
    slack = slack or RecordingSlack()
    return Dashboard(engine=engine, clock=FrozenClock(NOW), config=config, slack=slack,
                     people=Directory(slack=slack, config=config, default_locale="fr"),
                     workspace_url=lambda: "https://newsroom.slack.com/")


def flood(engine: Engine) -> None:
    """500 open mentions for Alice (the oldest past their SLA) and 500 unassigned ones
    over 60 channels."""
    with Session(engine) as session:
        for n in range(500):
            received = NOW - timedelta(hours=500 - n)
            add(session, 1000 + n, received, assignee_id=ALICE, status="assigned",
                nudge_at=received + timedelta(hours=4), slack_channel="C0MENTIONS",
                slack_ts=f"{1_700_000_000 + n}.000100", text="<!channel> " + "très long " * 80)
            add(session, 2000 + n, received, channel_id=f"C0CHAN{n % 60:02d}",
                nudge_at=received + timedelta(days=30))
        session.commit()


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_home_with_500_open_mentions_stays_within_slacks_limits(engine: Engine,
                                                                config: Config) -> None:
    """100 blocks at most, each valid for Slack; 20 mentions a page, oldest first, with
    card and post links and the breach marked; a Next button; escaped text."""
    flood(engine)
    view = dashboard(engine, config).view(ALICE)
    assert len(view["blocks"]) <= MAX_BLOCKS
    assert validate_blocks(view["blocks"], pointer="/view/blocks", max_blocks=100) == []
    items = [b for b in view["blocks"] if b.get("block_id", "").startswith("home_mention_")]
    assert [b["block_id"] for b in items] == [f"home_mention_{n}" for n in range(1, 40, 2)]
    first = items[0]["text"]["text"]
    assert ":red_circle:" in first and "*hors délai*" in first
    assert "<https://newsroom.slack.com/archives/C0MENTIONS/p1700000000000100|Carte>" in first
    assert "&lt;!channel&gt;" in first and "<!channel>" not in first
    text = text_of(view)
    assert "En attente de vous : 500 · page 1 sur 25" in text
    assert "File ouverte par canal : 1\u202f000" in text and "…et 31 autres canaux." in text
    [pages] = [b for b in view["blocks"] if b.get("block_id") == "home_pages"]
    assert [(e["action_id"], e["value"]) for e in pages["elements"]] == [("home_page_next", "1")]
    assert len(items) == PER_PAGE


def test_the_chosen_page_survives_a_refresh_and_follows_a_shrinking_queue(
        engine: Engine, config: Config) -> None:
    """Page 4 stays page 4 when the Home is refreshed; past the last page, the last one."""
    flood(engine)
    slack = RecordingSlack()
    home = dashboard(engine, config, slack)
    home.show_page(ALICE, 3)
    home.publish(ALICE)
    assert "page 4 sur 25" in text_of(slack.published[-1][1])
    [pages] = [b for b in slack.published[-1][1]["blocks"] if b.get("block_id") == "home_pages"]
    assert [e["value"] for e in pages["elements"]] == ["2", "4"]
    home.show_page(ALICE, 99)
    assert "page 25 sur 25" in text_of(slack.published[-1][1])


def test_plugged_in_sections_get_a_budget_and_cannot_break_the_limit(engine: Engine,
                                                                     config: Config) -> None:
    """Three greedy sections asking for 60 blocks each are cut to their budget; a failing
    one is left out and the Home still shows."""
    flood(engine)
    home = dashboard(engine, config)
    seen: list[Viewer] = []

    def greedy(viewer: Viewer, budget: int) -> list[dict[str, Any]]:
        seen.append(viewer)
        return [{"type": "section", "text": {"type": "mrkdwn", "text": f"x{n}"}}
                for n in range(60)]

    def broken(viewer: Viewer, budget: int) -> list[dict[str, Any]]:
        raise RuntimeError("posts table missing")

    home.sections.extend([greedy, greedy, broken, greedy])
    view = home.view(ALICE)
    assert len(view["blocks"]) <= MAX_BLOCKS
    assert validate_blocks(view["blocks"], max_blocks=100) == []
    assert seen[0].user_id == ALICE and seen[0].locale == "fr" and not seen[0].is_editor
    assert "7 derniers jours" in text_of(view)


def test_home_shows_the_week_at_a_glance_and_an_empty_queue(engine: Engine,
                                                            config: Config) -> None:
    """Bob waits on nothing; the last seven days show volume, sentiment split and the
    median first response, and Bob's own answers."""
    seed_week(engine)
    text = text_of(dashboard(engine, config).view(BOB))
    assert "Rien ne vous est attribué en attente." in text
    assert "*Mentions*\\n7" in text and "médiane 35 min" in text
    assert ":red_circle: Négatif 29\u202f%" in text
    assert "2 répondues · médiane 30 min" in text  # Bob: 20 and 40 minutes
    assert "<#C0MENTIONS> : *2* ouvertes · 1 sans attribution · :red_circle: *2 hors délai*" \
        in text


def test_a_burst_of_changes_refreshes_each_home_once() -> None:
    """Fifty changes for Alice within the interval publish her Home once, then once more
    after the interval; nothing is published for nobody."""
    published: list[str] = []
    now = [100.0]
    refresher = Refresher(published.append, min_interval=2.0, monotonic=lambda: now[0])
    for _ in range(50):
        refresher.touch(ALICE)
    refresher.touch(BOB)
    assert sorted(refresher.run_due()) == [ALICE, BOB]
    refresher.touch(ALICE)
    assert refresher.run_due() == []  # within 2 s of the last publish
    now[0] += 2.5
    assert refresher.run_due() == [ALICE]
    assert published.count(ALICE) == 2


def test_a_change_refreshes_the_old_and_new_assignee_and_the_actor(engine: Engine,
                                                                   config: Config) -> None:
    """Reassigning from Bob to Alice by Carol touches all three Homes, nobody else."""
    home = dashboard(engine, config)
    mention = Mention(id=1, source_id="rss", external_id="x", platform="web",
                      author_handle="@a", text="t", fingerprint="f", created_at=NOW,
                      received_at=NOW, channel_id="C0MENTIONS", assignee_id=ALICE)
    entry = AuditEntry(mention_id=1, at=NOW, actor_id="U0CAROL", source=ChangeSource.BUTTON,
                       field="assignee", old_value=BOB, new_value=ALICE)
    home.on_change(Applied(mention, [entry]))
    assert home.refresher.pending() == {ALICE, BOB, "U0CAROL"}
