"""The sandbox in Chromium: what a newcomer clicks, with the real Vigie behind the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from bot.sandbox.demo import Demo, DemoOptions
from tests.browser.conftest import screenshot

EDITOR, CM = "U0EDITOR", "U0CM1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    # No feeder (the page must show only what the test does), no sentence model (slow to
    # load), a modal may open late on a busy machine.
    options = DemoOptions(data_dir=tmp_path_factory.mktemp("demo"), port=0, feed_every=0,
                          suggestions=False, trigger_ttl=30.0)
    with Demo(options) as running:
        yield running


def open_page(page: Page, demo: Demo, user: str, channel: str = "C0MENTIONS") -> None:
    page.goto(f"{demo.url}?user={user}&channel={channel}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def message(page: Page, text: str) -> Locator:
    return page.locator("#messages article.msg", has_text=text)


def switch_user(page: Page, user: str) -> None:
    page.get_by_label("Je suis").select_option(user)
    expect(page).to_have_url(re.compile(f"user={user}"))


def test_a_pasted_mention_is_qualified_taken_and_answered_on_mastodon(page: Page, demo: Demo
                                                                      ) -> None:
    """A Mastodon mention arrives (as the feeder sends them) → its card → sentiment,
    priority, take → a reply from a template → the reply is on the local Mastodon."""
    open_page(page, demo, CM)
    item = next(i for i in demo._sample
                if i["platform"] == "mastodon" and i["account"] == "matinale")
    demo.deliver(item)
    text = str(item["text"])[:40]

    card = message(page, text)
    expect(card.get_by_role("button", name="Je prends")).to_be_visible()
    screenshot(page, "1-card")
    state = card.locator("[data-block-id=state]")
    card.get_by_role("combobox", name="Sentiment").select_option(label="Négatif")
    expect(state).to_contain_text("Sentiment : Négatif — @Léa Dubois")
    card.get_by_role("combobox", name="Priorité").select_option(label="Urgente")
    expect(state).to_contain_text("Priorité : Urgente")
    card.get_by_role("button", name="Je prends").click()
    expect(state).to_contain_text(re.compile(r"Statut : Attribuée"))

    card.get_by_role("button", name="Répondre", exact=True).click()
    modal = page.get_by_role("dialog")
    expect(modal).to_be_visible()
    template = modal.get_by_role("combobox").first
    template.select_option(index=1)
    reply = modal.get_by_label("Texte de la réponse")
    expect(reply).not_to_have_value("")
    screenshot(page, "2-reply")
    typed = reply.input_value()
    modal.locator("button[type=submit]").click()
    expect(modal).to_be_hidden()

    page.get_by_role("button", name="Mastodon (local)").click()
    first_words = typed.split("\n")[0][:40]
    expect(page.locator("#mastodon-pane")).to_contain_text(first_words)
    screenshot(page, "3-mastodon")
