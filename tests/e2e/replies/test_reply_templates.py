"""`/vigie templates` end to end: editors add, edit, preview, archive and restore reply
templates from Slack; a template with an error — an unknown variable, bad syntax, a reach
for Python internals — is refused with its line and reason and nothing is saved."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from bot.replies.models import ReplyTemplateRevision, ReplyTemplateRow
from tests.e2e.replies.conftest import EDITOR, STAFF, Desk, until


def latest_view(desk: Desk, user: str, callback: str, *, after: int = 0
                ) -> dict[str, Any]:
    """The newest modal of `user` with this callback id (pushed views get new ids)."""
    def found() -> dict[str, Any] | None:
        views = [v for v in desk.slack.views_for(user) if v["callback_id"] == callback]
        return views[-1] if len(views) > after else None

    return until(desk.slack, found)


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def choose(desk: Desk, verb: str, key: str, *, view: dict[str, Any]) -> None:
    """Pick `verb` in the overflow menu of template `key` in the list."""
    response = desk.driver.select(EDITOR, "templates.menu", f"{verb}:{key}",
                                  block_id=f"tpl-{key}", view=view)
    assert response.status_code == 200


def open_list(desk: Desk) -> dict[str, Any]:
    response = desk.driver.command("/vigie", "templates", user_id=EDITOR)
    assert response.status_code == 200 and not response.text
    return latest_view(desk, EDITOR, "templates_list")


def submit_form(desk: Desk, form: dict[str, Any], **fields: str) -> Any:
    values: dict[str, Any] = {}
    for block, value in fields.items():
        values[block] = {"value": value}
    return desk.driver.view_submission(user_id=EDITOR, view=form, values=values)


def test_only_editors_manage_templates(desk: Desk) -> None:
    """Staff who are not editors get a polite refusal and no modal."""
    answer = desk.driver.command("/vigie", "templates", user_id=STAFF).json()
    assert answer["response_type"] == "ephemeral"
    assert "Seuls les éditeurs gèrent les modèles" in answer["text"]
    assert desk.slack.views_for(STAFF) == []


def test_a_template_with_errors_is_refused_with_its_line_and_reason(desk: Desk) -> None:
    """Unknown variable, unknown attribute, bad syntax and `''.__class__` are each refused
    under the text field with the line; nothing is stored. A good one is saved, listed,
    and offered in the reply modal."""
    listing = open_list(desk)
    assert "Horaires de diffusion" in shown(listing) and "Broadcast time" in shown(listing)
    desk.driver.click(EDITOR, "templates.add", view=listing)
    form = latest_view(desk, EDITOR, "templates_form")
    assert "{{ author.handle }}" in shown(form)  # the documented variables are listed

    cases = {
        "Bonjour {{ autor.name }}": "Ligne 1 : la variable « autor » n'existe pas",
        "Bonjour\n{{ author.pseudo }}": "Ligne 2 : « author.pseudo » n'existe pas. "
                                         "Possibles : author.handle, author.name.",
        "Bonjour\n\n{% if author.name %}": "Ligne 3 : syntaxe Jinja invalide",
        "Merci {{ ''.__class__.__mro__[1].__subclasses__() }}":
            "Ligne 1 : « __subclasses__ » est interdit : un modèle ne peut pas accéder aux "
            "rouages de Python.",
        "{{ author.name|attr('__class__') }}": "« attr » est interdit",
        "{{ 'ha' * 100000 }}": "opération interdite dans un modèle",
    }
    for body, error in cases.items():
        response = submit_form(desk, form, name="merci_fidele", title="Merci fidèle",
                               body=body)
        errors = response.json()["errors"]
        assert list(errors) == ["body"] and error in errors["body"], (body, errors)
    with Session(desk.vigie.vigie.engine) as session:
        assert session.exec(select(ReplyTemplateRow)).all() == []

    taken = submit_form(desk, form, name="thanks", title="Merci", body="Merci !")
    assert "existe déjà" in taken.json()["errors"]["name"]
    good = submit_form(desk, form, name="merci_fidele", title="Merci fidèle",
                       body="Merci {{ author.name }}, fidèle de {{ show }} !")
    assert good.status_code == 200 and not good.text
    listing = until(desk.slack, lambda: (v := desk.slack.view(listing["id"])) and
                    "Modèle `fr/merci_fidele` enregistré" in shown(v) and v)
    assert "ajouté depuis Slack" in shown(listing)

    mention = desk.webhook()
    view = desk.pick(STAFF, desk.open_reply(STAFF, mention), "fr/merci_fidele")
    assert "Merci Léa, fidèle de La Matinale !" in shown(view)


def test_editing_a_shipped_template_keeps_history_and_archiving_hides_it(desk: Desk) -> None:
    """A default edited from Slack is what replies use; archived, it is no longer offered;
    restored, it is back; the history lists each change with who made it."""
    listing = open_list(desk)
    choose(desk, "edit", "fr/thanks", view=listing)
    form = latest_view(desk, EDITOR, "templates_form")
    assert "fourni avec Vigie" in shown(form)
    response = submit_form(desk, form, title="Merci !",
                           body="Merci {{ author.name }} ! {{ staff.first_name }}, {{ show }}")
    assert response.status_code == 200 and not response.text

    mention = desk.webhook()
    view = desk.pick(STAFF, desk.open_reply(STAFF, mention), "fr/thanks")
    assert "Merci Léa ! Marie, La Matinale" in shown(view)

    choose(desk, "archive", "fr/thanks", view=listing)
    desk.slack.wait_for(lambda: "Modèle `fr/thanks` archivé" in shown(
        desk.slack.view(listing["id"]) or {"blocks": []}))
    again = desk.open_reply(STAFF, mention)
    picker = next(b for b in again["blocks"] if b.get("block_id") == "template")["accessory"]
    offered = [o["value"] for g in picker["option_groups"] for o in g["options"]]
    assert "fr/thanks" not in offered and "en/thanks" in offered

    choose(desk, "restore", "fr/thanks", view=desk.slack.view(listing["id"]) or listing)
    desk.slack.wait_for(lambda: "Modèle `fr/thanks` rétabli" in shown(
        desk.slack.view(listing["id"]) or {"blocks": []}))
    choose(desk, "history", "fr/thanks", view=desk.slack.view(listing["id"]) or listing)
    history = shown(latest_view(desk, EDITOR, "templates_info"))
    for line in ("v3 · rétabli par <@U0EDITOR>", "v2 · archivé par <@U0EDITOR>",
                 "v1 · modifié par <@U0EDITOR>"):
        assert line in history
    with Session(desk.vigie.vigie.engine) as session:
        revisions = session.exec(select(ReplyTemplateRevision)).all()
    assert [r.action for r in revisions] == ["edited", "archived", "restored"]


def test_a_preview_shows_the_template_for_each_platform(desk: Desk) -> None:
    """Preview renders the template with a sample Mastodon, Bluesky and by-hand mention,
    each with its count against the platform's limit."""
    listing = open_list(desk)
    choose(desk, "preview", "en/passed_on", view=listing)
    preview = shown(latest_view(desk, EDITOR, "templates_info"))
    assert "*Mastodon*" in preview and "*Bluesky*" in preview and "*RSS*" in preview
    assert "@camille@mastodon.example Hi Camille Martin, thanks for your feedback" in preview
    assert "/ 500 caractères" in preview and "/ 300 caractères" in preview
