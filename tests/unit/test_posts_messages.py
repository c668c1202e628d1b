"""Block Kit for posts, checked the way Slack checks it, and post templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.posts import messages
from bot.posts.messages import ModalState
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState
from bot.posts.service import PostView
from bot.posts.templates import PostTemplateError, PostTemplates
from bot.sandbox.driver import build_state_values
from bot.sandbox.slack import validate_blocks

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOSTILE = "Urgent <!channel> <@U0BOSS> & <https://evil.example|cliquez> https://radio.example/live"


def a_view(state: PostState, *, text: str = HOSTILE, approvers: list[str] | None = None,
           deliveries: list[PostDelivery] | None = None, **fields: Any) -> PostView:
    post = Post(id=7, author_id="U0CM", text=text, publish_at=NOW + timedelta(hours=1),
                state=state, created_at=NOW, updated_at=NOW, note="Vérifié <!here>",
                **fields)
    return PostView(post=post, approvers=approvers or [], deliveries=deliveries or [
        PostDelivery(id=1, post_id=7, target_id="annonces", kind="slack"),
        PostDelivery(id=2, post_id=7, target_id="breves", kind="slack"),
    ])


def rendered(message: Any) -> str:
    return json.dumps(message.blocks if hasattr(message, "blocks") else message,
                      ensure_ascii=False)


@pytest.mark.parametrize("state", list(PostState))
def test_preview_is_valid_block_kit_in_every_state(config: Config, state: PostState) -> None:
    """Slack would accept the preview whatever the state, in both languages."""
    for locale in ("fr", "en"):
        message = messages.preview(a_view(state, decided_by="U0EDITOR", reason="Non"),
                                   config=config, locale=locale)
        assert validate_blocks(message.blocks) == []
        assert message.metadata == {"event_type": "vigie_post_preview",
                                    "event_payload": {"post_id": 7}}


def test_preview_escapes_what_people_typed(config: Config) -> None:
    """Text and note cannot ping anyone or hide a link; bare URLs stay clickable."""
    message = messages.preview(a_view(PostState.PENDING), config=config, locale="fr")
    body = rendered(message)
    assert "<!channel>" not in body and "<!here>" not in body and "<@U0BOSS>" not in body
    assert "&lt;!channel&gt;" in body and "&lt;@U0BOSS&gt;" in body
    assert "<https://radio.example/live>" in body
    assert "<https://evil.example|cliquez>" not in body
    assert "<@U0CM>" in body  # the author, written by Vigie itself


def actions(message: Any) -> list[str]:
    found = [b for b in message.blocks if b.get("block_id") == "post_actions"]
    return [e["action_id"] for e in found[0]["elements"]] if found else []


def test_buttons_follow_the_state(config: Config) -> None:
    """Pending: approve/reject/edit/cancel; stale: publish now; published: nothing."""
    pending = messages.preview(a_view(PostState.PENDING), config=config, locale="en")
    assert actions(pending) == ["posts.approve", "posts.reject", "posts.edit", "posts.cancel"]
    stale = messages.preview(a_view(PostState.STALE), config=config, locale="en")
    assert actions(stale)[0] == "posts.publish_now"
    approved = messages.preview(a_view(PostState.APPROVED, approvers=["U0EDITOR"]),
                                config=config, locale="en")
    assert "posts.approve" not in actions(approved)
    done = messages.preview(a_view(PostState.PUBLISHED), config=config, locale="en")
    assert actions(done) == []


def test_results_show_links_reasons_and_human_choices(config: Config) -> None:
    """Published with its link; failed with its reason and a retry; unconfirmed asks."""
    view = a_view(PostState.FAILED, approvers=["U0EDITOR"], deliveries=[
        PostDelivery(id=1, post_id=7, target_id="annonces", kind="slack",
                     state=DeliveryState.PUBLISHED, url="https://x.slack.com/archives/C/p1"),
        PostDelivery(id=2, post_id=7, target_id="breves", kind="slack",
                     state=DeliveryState.FAILED, gave_up=True, error="not_in_channel"),
        PostDelivery(id=3, post_id=7, target_id="matinale-mastodon", kind="mastodon",
                     state=DeliveryState.UNCONFIRMED, gave_up=True, error="timeout"),
    ])
    message = messages.preview(view, config=config, locale="en")
    body = rendered(message)
    assert "<https://x.slack.com/archives/C/p1|see the post>" in body
    assert "not_in_channel" in body and "may have gone out" in body
    assert actions(message) == ["posts.retry", "posts.confirm", "posts.retry"]
    assert validate_blocks(message.blocks) == []


def test_draft_modal_is_a_valid_view_and_reads_back(config: Config) -> None:
    """The modal passes Slack's checks, and its submitted state reads as a form."""
    templates = PostTemplates().available("fr")
    view = messages.draft_modal(locale="fr", config=config, templates=templates,
                                state=ModalState(channel="C0GENERAL"), text="Bonjour")
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    assert validate_blocks(view["blocks"], pointer="/view/blocks", max_blocks=100) == []
    picked = NOW + timedelta(days=1)
    view["state"] = {"values": build_state_values(view, {
        "targets": {"value": ["annonces", "breves"]},
        "when_picker": {"value": picked},
        "recurrence": {"value": "weekly"},
        "note": {"value": "Relu par la juriste"},
    })}
    form, state = messages.read_draft(view)
    assert form.text == "Bonjour"
    assert form.targets == ("annonces", "breves")
    assert form.when_picked == picked
    assert (form.recurrence, form.note) == ("weekly", "Relu par la juriste")
    assert state.channel == "C0GENERAL"


def test_edit_modal_is_prefilled(config: Config) -> None:
    """Editing shows the post's text, targets, time and note as they are."""
    view = a_view(PostState.APPROVED)
    modal = messages.draft_modal(locale="en", config=config, templates=[],
                                 state=ModalState(post_id=7, version=3), text=view.post.text,
                                 post=view.post, chosen_targets=["breves"])
    assert modal["callback_id"] == "posts.edit"
    blocks = {b["block_id"]: b for b in modal["blocks"]}
    assert blocks["text-0"]["element"]["initial_value"] == HOSTILE
    assert [o["value"] for o in blocks["targets"]["element"]["initial_options"]] == ["breves"]
    assert blocks["when_picker"]["element"]["initial_date_time"] == int(
        (NOW + timedelta(hours=1)).timestamp())
    assert json.loads(modal["private_metadata"])["version"] == 3


def test_errors_land_under_their_input(config: Config) -> None:
    """Each error names the block Slack shows it under, within Slack's length."""
    shown = messages.modal_errors(
        {"text": ("posts.errors.too_long", {"target": "#annonces", "limit": 300,
                                            "length": 412}),
         "when_text": ("posts.errors.past_time", {"when": NOW})},
        state=ModalState(text_block="text-2"), locale="fr", timezone="Europe/Paris")
    assert shown == {
        "text-2": "Trop long pour #annonces : 412 caractères, 300 au maximum.",
        "when_text": "Cette heure est passée (2 novembre 2026 09:00).",
    }


def test_calendar_groups_by_day_and_offers_changes_only_before_publication(
        config: Config) -> None:
    """Days in the newsroom's zone; edit/cancel only on posts not yet out."""
    upcoming = a_view(PostState.APPROVED)
    done = a_view(PostState.PUBLISHED)
    done.post.id = 8
    done.post.publish_at = NOW - timedelta(days=1)
    start, end = messages.calendar_window("week", NOW, "Europe/Paris")
    modal = messages.calendar_modal([done, upcoming], config=config, locale="fr",
                                    period="week", start=start, end=end)
    assert validate_blocks(modal["blocks"], pointer="/view/blocks", max_blocks=100) == []
    headers = [b["text"]["text"] for b in modal["blocks"] if b["type"] == "header"]
    assert headers == ["Dimanche 1 novembre 2026", "Lundi 2 novembre 2026"]
    items = {b["block_id"]: b for b in modal["blocks"] if b.get("block_id", "").startswith("post-")}
    assert "accessory" in items["post-7"] and "accessory" not in items["post-8"]


def test_calendar_stays_within_slack_limits(config: Config) -> None:
    """Two hundred posts: at most 100 blocks, and a note saying how many are not shown."""
    views = []
    for index in range(200):
        view = a_view(PostState.PENDING)
        view.post.id = index
        view.post.publish_at = NOW + timedelta(hours=index)
        views.append(view)
    start, end = messages.calendar_window("month", NOW, "Europe/Paris")
    modal = messages.calendar_modal(views, config=config, locale="en", period="month",
                                    start=start, end=end)
    assert len(modal["blocks"]) <= 100
    assert "more posts" in modal["blocks"][-1]["elements"][0]["text"]


def test_templates_render_in_the_sandbox_with_strict_variables(tmp_path: Path) -> None:
    """Known variables render; an unknown one or an unsafe attribute is a clear error."""
    folder = tmp_path / "fr"
    folder.mkdir()
    (folder / "ok.j2").write_text("{#- title: Bien -#}\nCe {{ weekday }} sur {{ newsroom }}")
    (folder / "typo.j2").write_text("Bonjour {{ newsrom }}")
    (folder / "escape.j2").write_text("{{ newsroom.__class__.__mro__ }}")
    templates = PostTemplates(tmp_path)
    assert [t.title for t in templates.available("fr")] == ["escape", "Bien", "typo"]
    kwargs: dict[str, Any] = {"newsroom": "Radio Exemple", "author": "Ana", "now": NOW,
                              "timezone": "Europe/Paris"}
    assert templates.render("ok", "fr", **kwargs) == "Ce lundi sur Radio Exemple"
    with pytest.raises(PostTemplateError, match="typo.j2.*newsrom"):
        templates.render("typo", "fr", **kwargs)
    with pytest.raises(PostTemplateError):
        templates.render("escape", "fr", **kwargs)
    with pytest.raises(PostTemplateError, match="no post template"):
        templates.render("../../etc/passwd", "fr", **kwargs)


@pytest.mark.parametrize("body", ["{{ 1 / 0 }}", "{% for i in range(10**9) %}x{% endfor %}",
                                  "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
                                  "{{ author.upper(1, 2) }}"])
def test_a_template_file_that_fails_at_render_is_a_clear_error(tmp_path: Path,
                                                              body: str) -> None:
    """Found by the security campaign: a division by zero, a range the sandbox refuses or
    a macro calling itself escaped as ZeroDivisionError, OverflowError, RecursionError
    (the draft modal's generic error); they are now the file, and what failed."""
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "bad.j2").write_text(body)
    with pytest.raises(PostTemplateError, match=r"^fr/bad\.j2: "):
        PostTemplates(tmp_path).render("bad", "fr", newsroom="Radio Exemple", author="Ana",
                                       now=NOW, timezone="Europe/Paris")


def test_shipped_templates_render_in_both_languages() -> None:
    """Every template shipped with Vigie renders with the documented variables."""
    templates = PostTemplates()
    for locale in ("fr", "en"):
        available = templates.available(locale)
        assert len(available) >= 3
        for template in available:
            text = templates.render(template.name, locale, newsroom="Radio", author="Ana",
                                    now=NOW, timezone="Europe/Paris")
            assert "Radio" in text
