"""What a reply template sees: the documented variables (see `bot.replies.templates`),
built from a real mention, or from sample mentions to check a template before it is
saved and to preview it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined

from bot.config import Config
from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.people import Person
from bot.replies.models import ReplyKind
from bot.replies.platforms import Target
from bot.replies.templates import clock_time, long_date


def first_name(person: Person) -> str:
    """The person's first name, as Slack knows it; else the first word of their name."""
    return person.first_name or (person.name.split() or [person.name])[0]


def reply_context(*, mention: Mention, config: Config, staff: Person, target: Target,
                  now: datetime, locale: str) -> dict[str, Any]:
    account = config.account(mention.account_id)
    account_name = account.name if account else (mention.account_id or config.newsroom.name)
    schedule: Any = config.replies.schedule.get(mention.account_id or "")
    if schedule is None:
        schedule = StrictUndefined(hint=catalogue().text(
            locale, "replies.problem.no_schedule", account=account_name))
    local = now.astimezone(ZoneInfo(config.newsroom.timezone))
    return {
        "author": {"handle": mention.author_handle,
                   "name": mention.author_name or mention.author_handle},
        "account": {"id": mention.account_id or "", "name": account_name,
                    "schedule": schedule},
        "show": account_name,
        "mention": {"text": mention.text, "url": mention.url or "",
                    "platform": target.platform, "language": mention.lang or "",
                    "received": mention.received_at},
        "staff": {"first_name": first_name(staff), "name": staff.name},
        "newsroom": config.newsroom.name,
        "platform": target.platform,
        "limit": target.limit,
        "remaining": target.remaining(),
        "today": long_date(local.date(), locale),
        "now": clock_time(local.time(), locale),
    }


_SAMPLE_TEXT = {
    "fr": "Bonjour, à quelle heure passe la chronique météo demain ? Merci !",
    "en": "Hi, what time is the weather segment on tomorrow? Thanks!",
}
_SAMPLE_SCHEDULE = {"fr": "du lundi au vendredi, de 6 h à 9 h",
                    "en": "weekdays, 6 to 9 am"}


def sample_mentions(locale: str) -> list[tuple[Mention, Target]]:
    """One sample mention per way of answering, for checks and previews."""
    received = datetime(2026, 11, 2, 7, 4, tzinfo=UTC)
    text = _SAMPLE_TEXT.get(locale, _SAMPLE_TEXT["en"])

    def mention(platform: str, handle: str, url: str) -> Mention:
        return Mention(id=0, source_id="sample", external_id="sample", platform=platform,
                       account_id="sample", author_handle=handle, author_name="Camille Martin",
                       text=text, url=url, lang=locale, fingerprint="", created_at=received,
                       received_at=received, channel_id="C0SAMPLE")

    return [
        (mention("mastodon", "@camille@mastodon.example",
                 "https://mastodon.example/@camille/113"),
         Target(ReplyKind.MASTODON, "Mastodon", 500, prefix="@camille@mastodon.example ")),
        (mention("bluesky", "@camille.bsky.social",
                 "https://bsky.app/profile/camille.bsky.social/post/3kabc"),
         Target(ReplyKind.BLUESKY, "Bluesky", 300)),
        (mention("rss", "Camille Martin", "https://forum.example/t/42"),
         Target(ReplyKind.BY_HAND, "RSS", None, by_hand_reason="platform")),
    ]


def sample_contexts(config: Config, locale: str, *, staff: Person | None = None
                    ) -> list[dict[str, Any]]:
    """The variables of each sample mention, as a template in `locale` would see them."""
    show = config.accounts[0].name if config.accounts else config.newsroom.name
    sample_config = config.model_copy(update={
        "accounts": [], "replies": config.replies.model_copy(update={
            "schedule": {"sample": _SAMPLE_SCHEDULE.get(locale, _SAMPLE_SCHEDULE["en"])}})})
    person = staff or Person(id="U0SAMPLE", name="Marie Dupont", locale="fr", tz=None,
                             first_name="Marie")
    now = datetime(2026, 11, 2, 8, 14, tzinfo=UTC)
    contexts = []
    for mention, target in sample_mentions(locale):
        context = reply_context(mention=mention, config=sample_config, staff=person,
                                target=target, now=now, locale=locale)
        context["account"]["name"] = context["show"] = show
        contexts.append(context)
    return contexts
