"""Facebook and Instagram adapters, below the end-to-end tests: what `vigie check` says
of each account (the missing permissions with what they are for, usage and Instagram's
daily quota), the offline check of their variables, and the webhook route's refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.checks import source_problems
from bot.clock import SystemClock
from bot.config import Config, Source
from bot.platforms import platform
from bot.platforms.base import Connected, Context, WebRequest
from bot.platforms.instagram.services import image_of
from bot.platforms.meta.webhook import signature
from tests.support.graph_server import FakeGraph
from tests.support.meta_webhooks import encode, page_comment

SECRET, VERIFY = "app-secret-for-tests-123", "verify-token-42"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


def meta_source(graph: FakeGraph, kind: str, account_id: str, **extra: str) -> Source:
    return Source.model_validate({
        "id": f"{kind}-{account_id[-4:]}", "type": kind, "account": "matinale",
        "account_id": account_id, "token_env": extra.get("token_env", "META_TOKEN"),
        "app_secret_env": "META_SECRET", "verify_token_env": "META_VERIFY",
        "api_url": graph.url})


@pytest.mark.own_database
def test_check_names_each_missing_permission_with_its_feature_and_the_fix(
        config: Config, graph: FakeGraph) -> None:
    page = graph.add_page(token="full")
    short = graph.add_page("Sport", token="short", scopes={
        "pages_show_list", "pages_read_engagement", "pages_manage_metadata",
        "pages_read_user_content"})
    ig = graph.add_ig_user(token="ig")
    sources = [meta_source(graph, "facebook", page, token_env="FULL"),
               meta_source(graph, "facebook", short, token_env="SHORT"),
               meta_source(graph, "instagram", ig, token_env="IG")]
    notes: list[str] = []
    problems = source_problems(config.model_copy(update={"sources": sources}),
                               {"FULL": "full", "SHORT": "short", "IG": "ig"}, notes)
    [problem] = problems
    assert problem.where == f"sources[1] (facebook-{short[-4:]})"
    assert "pages_manage_engagement (reply, moderate), pages_manage_posts (publish)" \
        in problem.message
    assert "grant them to the app" in problem.message
    assert any("Facebook token of La Matinale" in n and "% of the allowance used" in n
               for n in notes)
    assert any("Instagram token of @lamatinale" in n and "0 of 50 posts published" in n
               for n in notes)
    assert any("Facebook:" in n and "allowance used" in n for n in notes)  # usage notes


def test_unset_variables_are_named_offline_with_where_to_find_them(graph: FakeGraph) -> None:
    source = meta_source(graph, "facebook", "123")
    facebook = platform("facebook")
    assert facebook is not None
    problems = facebook.secret_problems(source, 0, {"META_TOKEN": "x"})
    assert [p.where for p in problems] == ["META_SECRET", "META_VERIFY"]
    assert "App settings → Basic → App secret" in problems[0].fix


def route(config: Config, graph: FakeGraph, page: str, stored: list[object]) -> object:
    source = meta_source(graph, "facebook", page)
    environ = {"META_TOKEN": "page-token", "META_SECRET": SECRET, "META_VERIFY": VERIFY}
    connected = Connected([p for p in (platform("facebook"),) if p], Context(
        config=config, environ=environ, sources=lambda: (source,), clock=SystemClock()))

    class Intake:
        def ingest(self, source_id: str, mention: object) -> object:
            stored.append(mention)
            return type("Result", (), {"duplicate": False})()

        def amend(self, *args: object, **kwargs: object) -> None:
            return None

    [found] = connected.routes(Intake())  # type: ignore[arg-type]
    return found


def test_the_webhook_route_refuses_what_meta_did_not_sign(config: Config,
                                                          graph: FakeGraph) -> None:
    page = graph.add_page()
    stored: list[object] = []
    found = route(config, graph, page, stored)
    body = encode(page_comment(page, comment_id="1_2", post_id=f"{page}_1"))

    def post(header: str) -> int:
        request = WebRequest("POST", {}, {}, {"x-hub-signature-256": header}, body)
        return int(found.handle(request).status)  # type: ignore[attr-defined]

    assert post(signature(body, "someone-else")) == 403
    assert post("") == 403
    assert stored == []
    assert post(signature(body, SECRET)) == 200 and len(stored) == 1
    other = encode(page_comment("999", comment_id="1_3", post_id="999_1"))
    request = WebRequest("POST", {}, {}, {"x-hub-signature-256": signature(other, SECRET)},
                         other)
    assert found.handle(request).status == 200  # type: ignore[attr-defined]
    assert len(stored) == 1  # a Page Vigie does not listen to: acknowledged, skipped
    shake = found.handle(WebRequest("GET", {}, {  # type: ignore[attr-defined]
        "hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "42"}, {}, b""))
    assert (shake.status, shake.text) == (200, "42")


def test_the_picture_of_an_instagram_post_is_its_first_image_link() -> None:
    assert image_of("Coulisses https://r.fr/a/b.JPG et https://r.fr/c.png") == \
        "https://r.fr/a/b.JPG"
    assert image_of("Lien https://r.fr/page.html seulement") is None


def test_changes_amend_the_stored_comment_and_never_make_a_card_of_nothing(
        graph: FakeGraph) -> None:
    """A removal or hide of a comment Vigie never stored changes nothing; an edit of one
    is stored as it now reads; the account's own comment is no mention."""
    from bot.platforms.meta.models import MetaItem
    from bot.platforms.meta.push import deliver

    calls: list[tuple[str, object]] = []

    class Intake:
        def ingest(self, source_id: str, mention: object) -> object:
            calls.append(("ingest", mention))
            return type("Result", (), {"duplicate": False})()

        def amend(self, source_id: str, external_id: str, **change: object) -> int | None:
            calls.append(("amend", change))
            return 7 if external_id == "facebook:stored" else None

    source = meta_source(graph, "facebook", "123")
    item = MetaItem(platform="facebook", account_id="123", kind="removed", item="comment",
                    item_id="unknown")
    assert deliver(item, source, Intake()) == "skipped"  # type: ignore[arg-type]
    stored = MetaItem(platform="facebook", account_id="123", kind="edited", item="comment",
                      item_id="stored", text="nouveau texte")
    assert deliver(stored, source, Intake()) == "amended"  # type: ignore[arg-type]
    fresh = MetaItem(platform="facebook", account_id="123", kind="edited", item="comment",
                     item_id="fresh", text="jamais vu")
    assert deliver(fresh, source, Intake()) == "stored"  # type: ignore[arg-type]
    own = MetaItem(platform="facebook", account_id="123", kind="new", item="comment",
                   item_id="own", text="merci", by_account=True)
    assert deliver(own, source, Intake()) == "skipped"  # type: ignore[arg-type]
    assert [kind for kind, _ in calls] == ["amend", "amend", "amend", "ingest"]
    assert calls[1][1] == {"state": "edited", "text": "nouveau texte"}
