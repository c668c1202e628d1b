"""One adapter per platform (`bot.platforms`): what each platform declares is what it
builds, what config accepts and what the UI offers; the HTTP edge serves a platform's
own routes as they are."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

import bot.platforms
from bot.checks import source_problems
from bot.clock import FrozenClock
from bot.config import Config, Source, _with_platform_fields, load_config
from bot.i18n import Locale, catalogue
from bot.listen import views
from bot.mentions.models import Mention
from bot.moderation.cards import MODERATED_PLATFORMS
from bot.platforms import PLATFORMS, platform
from bot.platforms.base import (
    Connected,
    Connection,
    Context,
    Platform,
    SourceField,
    WebRequest,
    WebResponse,
    WebRoute,
)
from bot.replies.models import ReplyKind
from bot.replies.platforms import Platforms
from bot.settings import ConfigurationError
from bot.web import _platform_endpoint


def context(config: Config, environ: dict[str, str] | None = None) -> Context:
    return Context(config=config, environ=environ or {}, sources=lambda: tuple(config.sources),
                   clock=FrozenClock(datetime(2026, 11, 2, tzinfo=UTC)))


@pytest.mark.own_database
def test_every_platform_builds_exactly_what_it_declares(config: Config) -> None:
    connected = Connected(PLATFORMS, context(config))
    for declared in PLATFORMS:
        built = connected.connection(declared.name)
        assert built is not None
        assert (built.poll is not None) == ("poll" in declared.listens), declared.name
        assert (built.push is not None) == ("push" in declared.listens), declared.name
        assert (built.replier is not None) == declared.replies, declared.name
        assert (built.publisher is not None) == declared.publishes, declared.name
        assert (built.moderator is not None) == bool(declared.moderation), declared.name
    assert set(connected.pollers()) == {"rss", "mastodon", "bluesky", "facebook",
                                         "instagram", "threads", "youtube", "x"}
    assert [r.path for r in connected.routes(intake=None)] == [  # type: ignore[arg-type]
        "/ingest/{source_id}", "/webhooks/facebook", "/webhooks/instagram", "/webhooks/threads"]


class _Liar(Platform):
    name = "liar"
    label = "Liar"

    def __init__(self, connection: Connection, **declared: Any) -> None:
        self._connection = connection
        for key, value in declared.items():
            setattr(self, key, value)

    def connect(self, context: Context) -> Connection:
        return self._connection


@pytest.mark.parametrize(("declared", "connection", "words"), [
    ({"replies": True}, Connection(), "replier declared but not built"),
    ({}, Connection(moderator=object()), "moderator built, not declared"),  # type: ignore[arg-type]
    ({"listens": frozenset({"push"})}, Connection(), "push declared but not built"),
])
def test_a_platform_whose_services_differ_from_its_declarations_is_refused(
        config: Config, declared: dict[str, Any], connection: Connection, words: str) -> None:
    """The UI trusts the declarations: a mismatch stops the build, it is not found later."""
    with pytest.raises(TypeError, match=words):
        Connected([_Liar(connection, **declared)], context(config))


def test_source_types_and_required_keys_come_from_the_platforms(tmp_path: Path) -> None:
    path = tmp_path / "vigie.toml"
    path.write_text('[channels]\nmentions = "C0MENTIONS"\n\n'
                    '[[sources]]\nid = "a"\ntype = "linkedin"\n\n'
                    '[[sources]]\nid = "b"\ntype = "mastodon"\ntoken_env = "T"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    problems = [str(p) for p in caught.value.problems]
    assert any("sources[0].type" in p and "'linkedin' is not allowed" in p and
               all(f"'{name}'" in p for name in bot.platforms.names())
               for p in problems), problems
    assert any("sources[1]" in p and "needs instance, the instance's address" in p
               for p in problems), problems


def test_a_platform_may_add_a_key_to_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new platform's own key (e.g. a Page id) joins `Source`, typed and defaulted."""

    class Pages(Platform):
        name = "pages"
        label = "Pages"
        source_fields = (SourceField("page_id", "the Page's id", annotation=str | None,
                                     default=None),)

    monkeypatch.setattr("bot.config.PLATFORMS", (*PLATFORMS, Pages()))
    extended = _with_platform_fields(Source)
    source = extended.model_validate({"id": "rss", "type": "rss", "url": "https://a.example/f",
                                      "page_id": "1234"})
    assert source.setting("page_id") == "1234"
    assert extended.model_validate({"id": "x", "type": "rss", "url": "https://a.example/f"}
                                   ).setting("page_id") is None
    assert extended is not Source
    monkeypatch.setattr("bot.config.PLATFORMS", PLATFORMS)
    assert _with_platform_fields(Source) is Source  # without new keys: Source itself


def test_source_forms_ask_what_each_platform_uses(config: Config) -> None:
    """The "Add …" buttons are the registered platforms; each form asks the keys its
    platform declares for the form, the required ones not optional."""
    view = views.sources_view([], {}, config, locale="en")
    buttons = [e["value"] for e in view["blocks"][0]["elements"]]
    assert buttons == ["rss", "mastodon", "bluesky", "youtube", "x", "webhook", "facebook",
                       "instagram", "threads"]
    form = views.source_form("mastodon", config, locale="en", root_view="V1")
    inputs = {b["block_id"]: b["optional"] for b in form["blocks"]}
    assert inputs == {"id": False, "instance": False, "token_env": False, "interval": True,
                      "account": True}
    assert "notifications" not in inputs  # declared, but not asked in the form


def a_mention(platform_name: str) -> Mention:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Mention(id=1, source_id="s", external_id="1", platform=platform_name,
                   account_id="matinale", author_handle="@kev", text="Bonjour", fingerprint="",
                   created_at=now, received_at=now, channel_id="C0MENTIONS")


@pytest.mark.own_database
def test_only_platforms_that_can_reply_or_moderate_are_offered(config: Config) -> None:
    """A platform without a replier is answered by hand; "Moderate…" exists only where
    the platform declares actions."""
    replies = Platforms(config=config, repliers=Connected(PLATFORMS, context(config)).repliers())
    rss = replies.target(a_mention("rss"))
    assert (rss.kind, rss.by_hand_reason, rss.platform) == (ReplyKind.BY_HAND, "platform", "RSS")
    assert set(MODERATED_PLATFORMS) == {p.name for p in PLATFORMS if p.moderation} \
        == {"mastodon", "bluesky", "facebook", "instagram", "threads", "youtube", "x"}


def test_text_limits_count_as_each_platform_counts() -> None:
    bluesky, mastodon = platform("bluesky"), platform("mastodon")
    assert bluesky and bluesky.text and mastodon and mastodon.text
    family = "👩‍👩‍👧"  # one grapheme, 18 bytes
    assert bluesky.text.count(family * 3) == 3
    assert not bluesky.text.too_long("é" * 300) and bluesky.text.too_long("é" * 301)
    assert bluesky.text.too_long(family * 200)  # 200 graphemes, but 3,600 bytes
    link = "https://example.com/" + "a" * 200
    assert mastodon.text.count(f"Lire {link}") == 5 + 23
    assert mastodon.text.count("@kev@mamot.example salut") == len("@kev salut")
    assert mastodon.text.limit == 500 and bluesky.text.limit == 300
    x = platform("x")
    assert x and x.text and x.text.limit == 280
    assert x.text.count(f"Lire {link}") == 5 + 23  # X wraps every link in t.co: 23
    assert x.text.count("日本語のテキスト") == 16  # CJK counts double
    assert x.text.count("Bravo 👏🏽") == 6 + 2  # an emoji sequence counts 2
    assert not x.text.too_long("é" * 280) and x.text.too_long("é" * 281)
    assert x.text.too_long("漢" * 141)


def test_vigie_check_prints_what_a_platform_says_of_itself(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Account-wide state (e.g. rate-limit usage) goes to `vigie check`'s notes."""

    class Metered(Platform):
        name = "metered"
        label = "Metered"

        def connect(self, context: Context) -> Connection:
            return Connection(notes=lambda: ["Metered: 12% of the hourly calls used"])

    monkeypatch.setattr(bot.platforms, "PLATFORMS", (Metered(),))
    notes: list[str] = []
    assert source_problems(config.model_copy(update={"sources": []}), {}, notes) == []
    assert notes == ["Metered: 12% of the hourly calls used"]


def test_the_http_edge_serves_a_platform_route_as_it_is() -> None:
    """A verification handshake (GET, query, plain text) and a signed delivery (POST,
    raw body, headers) reach the platform's handler unchanged, on a worker thread."""
    seen: list[WebRequest] = []

    def handle(request: WebRequest) -> WebResponse:
        seen.append(request)
        if request.method == "GET":
            return WebResponse(200, text=request.query.get("hub.challenge", ""))
        return WebResponse(202 if len(request.body) <= 16 else 413, json={"ok": True})

    route = WebRoute("/webhooks/{app}", ("GET", "POST"), handle, max_body=16)
    app = Starlette(routes=[Route(route.path, _platform_endpoint(route),
                                  methods=list(route.methods))])

    async def exchange() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # as uvicorn calls it
        async with httpx.AsyncClient(transport=transport, base_url="http://vigie") as client:
            return [
                await client.get("/webhooks/meta", params={"hub.mode": "subscribe",
                                                           "hub.challenge": "1158201444"}),
                await client.post("/webhooks/meta", content=b'{"x": 1}',
                                  headers={"X-Hub-Signature-256": "sha256=ab"}),
                await client.post("/webhooks/meta", content=b"x" * 1000),
            ]

    answer, signed, too_big = asyncio.run(exchange())
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert answer.headers["content-type"].startswith("text/plain")
    assert (signed.status_code, signed.json()) == (202, {"ok": True})
    assert too_big.status_code == 413
    get, post, big = seen
    assert get.path_params == {"app": "meta"} and post.body == b'{"x": 1}'
    assert post.headers["x-hub-signature-256"] == "sha256=ab"
    assert len(big.body) > route.max_body  # the handler sees that it is too large


def test_the_registry_has_one_platform_per_name() -> None:
    names = bot.platforms.names()
    assert len(names) == len(set(names)) == len(PLATFORMS)
    assert all(platform(name) is p for name, p in zip(names, PLATFORMS, strict=True))


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_platform_has_its_texts_in_both_languages(locale: Locale) -> None:
    """What the UI shows of a platform exists in French and English: its "Add …" button,
    its form's labels and, where it replies, how the reply goes out."""
    texts = catalogue().keys(locale)
    for declared in PLATFORMS:
        keys = [f"listen.ui.add_{declared.name}"]
        keys += [f"listen.ui.field_{f.key}" for f in declared.source_fields if f.in_form]
        if declared.replies:
            keys.append(f"replies.modal.how_{declared.name}")
        assert [key for key in keys if key not in texts] == [], declared.name
