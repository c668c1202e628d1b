"""The web client in Chromium against a stand-in API fed with JSON the bot really posts.

What these pin down is the page's own behaviour, whatever the bot does: untrusted text
stays text, Block Kit inputs send Slack's payloads, errors land under their input, long
channels render in steps and a new message does not re-render the others, keyboard use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.fixture_sandbox import FixtureSandbox

# The sandbox keeps its own SQLite file (see tests/e2e/test_sandbox.py): not the suite's
# database, so these run in the SQLite pass only.
pytestmark = pytest.mark.own_database

CM = "U0CM"


@pytest.fixture
def sandbox() -> Iterator[FixtureSandbox]:
    running = FixtureSandbox().start()
    yield running
    running.stop()


def open_page(page: Page, sandbox: FixtureSandbox, channel: str = "C0MENTIONS") -> None:
    page.goto(f"{sandbox.url}/?user={CM}&channel={channel}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_untrusted_text_is_shown_as_text_and_mrkdwn_is_rendered(page: Page,
                                                                sandbox: FixtureSandbox) -> None:
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:  # an alert() would mean injected script ran
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    open_page(page, sandbox)
    msg = page.locator("article.msg", has_text="Voir le lien")
    expect(msg).to_contain_text("<script>alert(1)</script>")
    assert msg.locator("script, img").count() == 0
    expect(msg.get_by_role("link", name="le lien")).to_have_attribute(
        "href", "https://example.org/a?b=1&c=2")
    expect(msg.get_by_role("link", name="piège")).to_have_count(0)  # javascript: stays text
    expect(msg.locator("strong")).to_have_text("gras")
    expect(msg.locator("em")).to_have_text("italique")
    expect(msg.locator("s")).to_have_text("barré")
    expect(msg.locator("code")).to_have_text("code")
    expect(msg.locator(".md-mention").first).to_have_text("@Ève Durand")
    expect(msg).to_contain_text("#approbations")
    expect(msg).to_contain_text("✅")
    expect(msg.locator("blockquote")).to_have_text("une citation")
    expect(msg.locator("pre")).to_contain_text("de code")

    page.get_by_role("button", name="Mastodon (local)").click()
    status = page.locator("#mastodon-pane .status")
    expect(status).to_contain_text("Merci Léa, c'est corrigé !")
    expect(status).to_contain_text("alert(1)")  # the instance's HTML, shown as text
    assert status.locator("script").count() == 0
    assert dialogs == []


def test_ephemeral_thread_files_and_report_blocks(page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox)
    ephemeral = page.locator("article.msg.ephemeral")
    expect(ephemeral).to_contain_text("Visible par vous seul·e")
    report = page.locator("article.msg", has_text="Rapport — 7 derniers jours")
    expect(report.get_by_role("heading", name="Rapport — 7 derniers jours")).to_be_visible()
    chart = page.get_by_role("img", name="Mentions par jour, par sentiment")
    expect(chart).to_have_js_property("complete", True)
    assert chart.evaluate("img => img.naturalWidth") == 2

    page.get_by_role("button", name="2 réponses").click()
    thread = page.get_by_role("complementary", name="Fil")
    expect(thread.locator("article.msg")).to_have_count(3)
    expect(thread).to_contain_text("Deuxième réponse, de Vigie")
    thread.get_by_role("textbox").fill("Ma réponse dans le fil")
    thread.get_by_role("textbox").press("Enter")
    expect(thread.locator("article.msg")).to_have_count(4)
    [sent] = sandbox.wait_posted("message")
    assert sent["thread_ts"] == "1796332200.000100" and sent["user"] == CM
    expect(page.get_by_role("button", name="3 réponses")).to_be_visible()

    page.get_by_role("button", name="Vigie", exact=True).click()
    download = page.get_by_role("link", name=re.compile("Télécharger vigie-mentions"))
    expect(download).to_have_attribute("download", re.compile(r"\.csv$"))


def test_card_controls_send_slack_payloads_and_reactions_toggle(
        page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox)
    card = page.locator("article.msg", has_text="Mon avocat va vous attaquer")
    card.get_by_role("combobox", name="Sentiment").select_option(label="Négatif")
    [action] = sandbox.wait_posted("action")
    assert action["action_id"] == "qualify.sentiment" and action["channel"] == "C0MENTIONS"
    assert action["message_ts"] == "1796332100.000100"
    assert action["selected_option"]["value"] == "negative"
    card.get_by_role("button", name="Je prends").click()
    assert sandbox.wait_posted("action", 2)[1]["action_id"] == "qualify.take"

    card.hover()
    card.get_by_role("button", name="Ajouter une réaction white_check_mark").click()
    chip = card.get_by_role("button", name=re.compile("white_check_mark : 1 réaction"))
    expect(chip).to_have_attribute("aria-pressed", "true")
    chip.click()
    expect(chip).to_have_count(0)
    assert [r["add"] for r in sandbox.posted("reaction")] == [True, False]

    card.hover()
    card.get_by_role("button", name="Plus d’options").click()
    page.get_by_role("menuitem", name="Envoyer à Vigie").click()
    [shortcut] = sandbox.wait_posted("shortcut")
    assert shortcut["callback_id"] == "send_to_vigie"
    assert shortcut["message_ts"] == "1796332100.000100"


def test_a_confirm_dialog_guards_a_button(page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox, "C0LEGAL")
    sandbox.post_message("C0LEGAL", {"user": "U0BOT", "bot_id": "B0BOT", "text": "Bloquer ?",
                                     "blocks": [{"type": "actions", "block_id": "b", "elements": [{
                                         "type": "button", "action_id": "block", "style": "danger",
                                         "text": {"type": "plain_text", "text": "Bloquer"},
                                         "confirm": {
                                             "title": {"type": "plain_text", "text": "Sûr ?"},
                                             "text": {"type": "mrkdwn", "text": "*Définitif*"},
                                             "confirm": {"type": "plain_text", "text": "Oui"},
                                             "deny": {"type": "plain_text", "text": "Non"}}}]}]})
    page.get_by_role("button", name="Bloquer").click()
    dialog = page.get_by_role("dialog", name="Sûr ?")
    dialog.get_by_role("button", name="Non").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Bloquer").click()
    page.get_by_role("dialog", name="Sûr ?").get_by_role("button", name="Oui").click()
    [action] = sandbox.wait_posted("action")
    assert action["action_id"] == "block"
    assert len(sandbox.posted("action")) == 1  # "Non" sent nothing


def test_modal_errors_show_under_their_input_and_keep_what_was_typed(
        page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox)
    sandbox.open_modal(CM, "posts.draft")
    modal = page.get_by_role("dialog", name="Nouvelle publication")
    expect(modal).to_be_visible()
    modal.get_by_label("Texte").fill("Ce soir, le grand débat")
    modal.get_by_label("Où publier").select_option(["annonces"])
    modal.get_by_label("Quand (en toutes lettres)").fill("à la saint-glinglin")
    sandbox.submission_errors = {"when_text": "Je ne comprends pas « à la saint-glinglin »."}
    modal.get_by_role("button", name="Soumettre aux éditeurs").click()
    when = modal.get_by_label("Quand (en toutes lettres)")
    expect(when).to_have_attribute("aria-invalid", "true")
    expect(modal.get_by_role("alert").filter(has_text="Je ne comprends pas")).to_be_visible()
    expect(when).to_have_value("à la saint-glinglin")
    expect(modal.get_by_label("Texte")).to_have_value("Ce soir, le grand débat")
    [submitted] = sandbox.posted("view_submission")
    values = submitted["values"]
    assert values["when_text"]["value"] == {"type": "plain_text_input",
                                            "value": "à la saint-glinglin"}
    assert [o["value"] for o in values["targets"]["value"]["selected_options"]] == ["annonces"]

    sandbox.submission_errors = None
    when.fill("demain 9h")
    modal.get_by_role("button", name="Soumettre aux éditeurs").click()
    expect(modal).to_be_hidden()
    assert sandbox.posted("view_submission")[1]["values"]["when_text"]["value"]["value"] == (
        "demain 9h")


def test_a_long_channel_renders_in_steps_and_new_messages_do_not_redraw_it(
        page: Page, sandbox: FixtureSandbox) -> None:
    card = sandbox.messages["C0MENTIONS"][0]
    sandbox.messages["C0LEGAL"] = [
        {**card, "ts": f"1796000000.{i:06d}", "text": f"carte {i}"} for i in range(1000)]
    open_page(page, sandbox, "C0LEGAL")
    cards = page.locator("#messages article.msg")
    expect(cards).to_have_count(40)
    cards.last.evaluate("node => { node.dataset.marked = 'yes'; }")
    sandbox.post_message("C0LEGAL", {"user": "U0EDITOR", "text": "Nouveau message"})
    expect(cards.last).to_contain_text("Nouveau message")
    expect(page.locator("article.msg[data-marked=yes]")).to_have_count(1)  # not redrawn
    page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")  # reader scrolls up
    expect(cards).to_have_count(101)
    expect(page.locator("article.msg[data-marked=yes]")).to_have_count(1)


def test_keyboard_slash_commands_and_english(page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox)
    composer = page.get_by_role("combobox", name="Message à #mentions")
    composer.focus()
    page.keyboard.type("/")
    commands = page.get_by_role("listbox", name="Commandes")
    expect(commands.get_by_role("option")).to_have_count(3)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(composer).to_have_value("/draft ")
    expect(page.locator(".cmd-hint")).to_contain_text("[text / texte]")
    page.keyboard.type("Demain 9h, la matinale spéciale")
    page.keyboard.press("Enter")
    [sent] = sandbox.wait_posted("message")
    assert sent["text"] == "/draft Demain 9h, la matinale spéciale"
    expect(composer).to_have_value("")
    # The sent message shows once the channel's update arrives: only then is it the last.
    expect(page.locator("#messages article.msg").last).to_contain_text("/draft Demain 9h")

    page.locator("#messages").focus()
    page.keyboard.press("ArrowUp")
    expect(page.locator("article.msg:focus")).to_contain_text("/draft Demain 9h")
    expect(page.locator("article.msg:focus").get_by_role("toolbar")).to_be_attached()

    page.get_by_label("Langue").select_option("en")
    expect(page.get_by_role("button", name="Paste a mention")).to_be_visible()
    expect(page.get_by_label("I am")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_a_message_elsewhere_marks_its_channel_unread_until_opened(
        page: Page, sandbox: FixtureSandbox) -> None:
    open_page(page, sandbox)
    approvals = page.locator('#sidebar [data-channel="C0APPROVALS"]')
    expect(approvals).not_to_have_class(re.compile("unread"))
    sandbox.post_message("C0APPROVALS", {"user": "U0EDITOR", "text": "Je valide demain"})
    expect(approvals.get_by_label("1 non lu")).to_have_text("1")
    approvals.click()
    expect(page.locator("article.msg", has_text="Je valide demain")).to_be_visible()
    expect(approvals).not_to_have_class(re.compile("unread"))
    expect(approvals).to_have_attribute("aria-current", "page")


def test_pickers_overflow_and_choices_send_what_was_picked(page: Page,
                                                           sandbox: FixtureSandbox) -> None:
    def text(value: str) -> dict[str, str]:
        return {"type": "plain_text", "text": value}

    options = [{"text": text("Modifier"), "value": "edit"}, {"text": text("Annuler"),
                                                             "value": "cancel"}]
    open_page(page, sandbox, "C0LEGAL")
    sandbox.post_message("C0LEGAL", {"user": "U0BOT", "bot_id": "B0BOT", "text": "Choix",
                                     "blocks": [
        {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "*Quand ?*"},
         "accessory": {"type": "overflow", "action_id": "more", "options": options}},
        {"type": "actions", "block_id": "a", "elements": [
            {"type": "datepicker", "action_id": "day", "placeholder": text("Jour")},
            {"type": "timepicker", "action_id": "hour", "placeholder": text("Heure")},
            {"type": "radio_buttons", "action_id": "tone", "options": [
                {"text": text("Formel"), "value": "formal"},
                {"text": text("Amical"), "value": "friendly"}]}]}]})
    page.get_by_label("Jour", exact=True).fill("2026-12-04")
    page.get_by_label("Heure", exact=True).fill("09:00")
    page.get_by_role("radio", name="Amical").check()
    more = page.get_by_role("button", name="Plus d’options").first
    more.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    actions = sandbox.wait_posted("action", 4)
    picked = {a["action_id"]: a for a in actions}
    assert picked["day"]["selected_date"] == "2026-12-04"
    assert picked["hour"]["selected_time"] == "09:00"
    assert picked["tone"]["selected_option"]["value"] == "friendly"
    assert picked["more"]["selected_option"]["value"] == "cancel"
    expect(more).to_be_focused()  # Escape/choice gives the focus back to the menu button
