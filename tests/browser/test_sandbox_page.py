"""The sandbox in Chromium: what a newcomer clicks, with the real Vigie behind the page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from bot.sandbox.demo import Demo, DemoOptions
from tests.browser.conftest import screenshot

# The sandbox keeps its own SQLite file (see tests/e2e/test_sandbox.py): not the suite's
# database, so these run in the SQLite pass only.
pytestmark = pytest.mark.own_database

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


def test_a_pasted_mastodon_mention_is_qualified_taken_and_answered_from_a_template(
        page: Page, demo: Demo) -> None:
    """A mention pasted in the page arrives on the local Mastodon → its card → sentiment,
    priority, take → a reply from a template → the reply is on the local Mastodon."""
    open_page(page, demo, CM)
    text = "Bonjour, le son coupe pendant La Matinale depuis ce matin"
    page.get_by_role("button", name="Coller une mention").click()
    pasting = page.get_by_role("dialog", name="Coller une mention")
    pasting.get_by_label("Texte de la mention").fill(text)
    pasting.get_by_label("Auteur (facultatif)").fill("@auditrice@pouet.example")
    pasting.get_by_label("Arrive par").select_option("mastodon")
    pasting.get_by_role("button", name="Envoyer").click()
    expect(pasting).to_be_hidden()

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


def test_a_draft_for_tomorrow_9am_is_approved_with_a_reaction_and_published(
        page: Page, demo: Demo) -> None:
    """/draft "demain 9h" → the editor reacts ✅ → the clock moves → it is published,
    on the local Mastodon and in the calendar."""
    open_page(page, demo, CM)
    text = "Demain dans La Matinale : le climat, avec vos questions"
    composer = page.get_by_role("combobox", name=re.compile("Message à"))
    composer.fill("/dra")
    expect(page.get_by_role("option", name=re.compile("draft"))).to_contain_text(
        "[text / texte]")
    composer.press("Tab")
    expect(composer).to_have_value("/draft ")
    composer.press_sequentially(text)
    composer.press("Enter")

    modal = page.get_by_role("dialog", name="Nouvelle publication")
    expect(modal).to_be_visible()
    modal.get_by_label("Où publier").select_option(value="matinale-mastodon")
    modal.get_by_label("Quand (en toutes lettres)").fill("demain 9h")
    screenshot(page, "4-draft")
    modal.get_by_role("button", name="Soumettre aux éditeurs").click()
    expect(modal).to_be_hidden()

    switch_user(page, EDITOR)
    page.get_by_role("button", name="# validations").click()
    preview = message(page, text[:30])
    expect(preview).to_be_visible()
    preview.hover()
    preview.get_by_role("button", name="Ajouter une réaction white_check_mark").click()
    expect(preview.get_by_role("button", name=re.compile("white_check_mark : 1 réaction"))
           ).to_have_attribute("aria-pressed", "true")
    expect(preview).to_contain_text("Approuvée")
    screenshot(page, "5-approved")

    page.get_by_role("button", name="Mastodon (local)").click()
    expect(page.locator("#mastodon-pane .statuses, #mastodon-pane .empty")).to_be_visible()
    expect(page.locator("#mastodon-pane")).not_to_contain_text(text)  # not before 9 am
    for _ in range(2):  # "demain 9h" is at most 33 h away
        page.get_by_role("button", name="Avancer de 1 jour").click()
    expect(page.locator("#mastodon-pane")).to_contain_text(text)

    page.get_by_role("button", name="# validations").click()
    composer.fill("/calendar")
    composer.press("Enter")
    calendar = page.get_by_role("dialog")
    expect(calendar).to_contain_text(text[:30])
    screenshot(page, "6-calendar")
    calendar.get_by_role("button", name="Fermer").first.click()
    expect(calendar).to_be_hidden()


def test_the_app_home_and_a_report_with_its_charts_render(page: Page, demo: Demo) -> None:
    """The App Home Vigie publishes, and /vigie report's figures and chart images."""
    open_page(page, demo, EDITOR)
    page.get_by_role("button", name="Vigie — Accueil").click()
    home = page.locator("#home-pane")
    expect(home.get_by_role("heading").first).to_be_visible()
    expect(home).to_contain_text("7 derniers jours")
    screenshot(page, "7-home")

    page.get_by_role("button", name="# rapports").click()
    composer = page.get_by_role("combobox", name=re.compile("Message à"))
    composer.fill("/vigie report")
    composer.press("Enter")
    charts = page.locator("#messages figure.file-image img")
    expect(charts.first).to_be_visible()
    # The images really loaded (bytes served by the sandbox, decoded by the browser).
    expect(charts.first).to_have_js_property("complete", True)
    assert charts.first.evaluate("img => img.naturalWidth") > 100
    report = page.locator("#messages article.msg", has_text="Rapport")
    expect(report.get_by_role("heading").first).to_be_visible()
    screenshot(page, "8-report")


def test_a_long_channel_opens_on_its_latest_page_and_loads_older_ones_on_scroll(
        page: Page, demo: Demo) -> None:
    """A channel of 250 messages: the page reads its newest hundred, and the reader who
    scrolls up reaches the very first message, every message shown once."""
    assert demo.slack is not None
    channel = "C0ANNONCES"
    for i in range(250):
        demo.slack.add_message(channel, f"annonce numéro {i:03d}", user="U0CM2")
    pages: list[tuple[bool, int]] = []

    def read(response: Response) -> None:
        if "/sandbox/api/history" in response.url and response.ok:
            pages.append(("cursor=" in response.url, len(response.json()["messages"])))

    page.on("response", read)
    open_page(page, demo, CM, channel)
    expect(message(page, "annonce numéro 249")).to_be_visible()
    expect(message(page, "annonce numéro 000")).to_have_count(0)
    assert pages and pages[0] == (False, 100)

    older = page.locator("#messages")
    for _ in range(60):  # each scroll to the top shows the next batch, or fetches a page
        if message(page, "annonce numéro 000").count():
            break
        older.evaluate("(node) => { node.scrollTop = 0; }")
        page.get_by_role("button", name="Messages plus anciens").or_(
            message(page, "annonce numéro 000")).first.wait_for()
        page.wait_for_function("""() => {
            const more = document.querySelector("#messages .load-older");
            return !more || more.hidden || more.getBoundingClientRect().top < 0 ||
              document.querySelector("#messages").scrollTop > 0;
        }""")
    expect(message(page, "annonce numéro 000")).to_be_visible()
    texts = page.locator("#messages article.msg .msg-body").all_text_contents()
    numbered = [t for t in texts if "annonce numéro" in t]
    assert len(numbered) == 250 and len(set(numbered)) == 250
    assert any(cursor for cursor, _ in pages)
    assert all(count <= 100 for _, count in pages)
