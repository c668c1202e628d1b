"""Flags: mentions handed to Vigie from Slack itself, and what their flaggers hear back.

Three ways in, one path:
- `@vigie <link> [note]` in a channel (`flag_app_mention`), or `@vigie [note]` in the
  thread of a message, which flags that message;
- the "Send to Vigie" message shortcut (`start_shortcut`, then `submit_shortcut` from
  its modal);
- `/vigie add <link> [note]` (`receive_command`).

Each first writes one `MentionFlag` row, whose unique key (origin + flagger) makes a
redelivered event a no-op, then `process` fetches the post when a connector can read
the link (`bot.connectors.fetchers`), stores the mention through `Intake.ingest` under
the built-in source "slack" — so it is routed and relayed like any other — and answers
the flagger: in the thread of their @vigie, or in a direct message. Later,
`report_outcome(mention_id, status)` tells them what became of it, in the same thread.

Slow steps run after Slack has been acknowledged. Anything a crash or an outage
interrupts stays in the table and is finished by `sweep`, which the scheduler runs
every minute; claims with a lease keep two runners off the same flag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.connectors.fetchers import Fetchers, FetchFailed
from bot.i18n import Locale
from bot.mentions import flag_messages
from bot.mentions.flag_messages import OUTCOMES, CardFlag
from bot.mentions.flag_models import SLACK_SOURCE, FlagState, FlagWay, MentionFlag
from bot.mentions.models import Mention, MentionIn
from bot.mentions.service import Intake
from bot.mentions.slack_text import guess_author, links, message_text, readable
from bot.people import Directory
from bot.slack import SlackError, SlackGateway
from bot.slack_format import Message

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
DRAFT_KEEP = timedelta(days=1)
SAME_LINK_WINDOW = timedelta(days=30)
MAX_ATTEMPTS = 5
NAME_LOOKUPS = 10  # users.info calls allowed per flagged text; later ids keep their label
NOTE_LIMIT = 2000
TEXT_LIMIT = 40_000
_URL_LIMIT = 2048
FETCH_ERROR_LIMIT = 512  # MentionFlag.fetch_error's length
_PLATFORM = re.compile(r"[a-z0-9_-]{1,32}")


@dataclass(frozen=True)
class AppMention:
    """An `app_mention` event, as the handler reads it."""

    user: str
    channel: str
    ts: str
    thread_ts: str | None
    text: str
    bot_user_id: str | None


@dataclass(frozen=True)
class FlagResult:
    flag_id: int
    mention_id: int | None
    duplicate: bool
    fetched_from: str | None
    fetch_error: str | None


@dataclass(frozen=True)
class Draft:
    """A shortcut waiting for its modal: what the modal shows."""

    flag_id: int
    author: str
    preview: str
    files: int
    initial_account: str | None


@dataclass(frozen=True)
class AlreadySent:
    flag_id: int


@dataclass(frozen=True)
class CommandReceipt:
    flag_id: int | None = None
    url: str | None = None
    problem: str | None = None  # "usage" or "already"


@dataclass(frozen=True)
class _Composed:
    data: MentionIn
    fetched_from: str | None
    fetch_error: str | None  # a stored `bot.reasons.Reason`


class Flags:
    def __init__(
        self,
        *,
        engine: Engine,
        config: Config,
        intake: Intake,
        slack: SlackGateway,
        people: Directory,
        fetchers: Fetchers,
        clock: Clock,
        locale: Locale,
    ) -> None:
        self._engine = engine
        self._config = config
        self._intake = intake
        self._slack = slack
        self._people = people
        self._fetchers = fetchers
        self._clock = clock
        self._locale = locale

    # -- ways in ------------------------------------------------------------------------
    def flag_app_mention(self, event: AppMention) -> FlagResult | None:
        """`@vigie <link> [note]`, or `@vigie [note]` in a thread: flag, then answer in the
        thread. None when there was nothing to flag (help was given) or it was a repeat."""
        drop = [event.bot_user_id] if event.bot_user_id else []
        found = links(event.text)
        name_of = self._namer()
        key = f"{event.channel}:{event.ts}:{event.user}"
        if found:
            url = found[0]
            account, note = self._split_account(
                readable(event.text, name_of=name_of, drop_users=drop, drop_links=[url]))
            flag = self._receive(MentionFlag(
                key=key, way=FlagWay.MENTION, state=FlagState.RECEIVED,
                flagger_id=event.user, origin_channel=event.channel, origin_ts=event.ts,
                origin_thread_ts=event.thread_ts, url=url, note=note, account_id=account,
                external_id=_slack_id(event.channel, event.ts),
                created_at=self._clock.now(), updated_at=self._clock.now(),
            ))
        else:
            parent = self._parent(event)
            if parent is None:
                self._help(event)
                return None
            account, note = self._split_account(
                readable(event.text, name_of=name_of, drop_users=drop))
            parent_links = links(str(parent.get("text") or ""))
            flag = self._receive(MentionFlag(
                key=key, way=FlagWay.MENTION, state=FlagState.RECEIVED,
                flagger_id=event.user, origin_channel=event.channel,
                origin_ts=str(parent["ts"]), origin_thread_ts=str(parent["ts"]),
                url=parent_links[0] if parent_links else None, note=note,
                message=json.dumps(_kept(parent)), account_id=account,
                external_id=_slack_id(event.channel, str(parent["ts"])),
                created_at=self._clock.now(), updated_at=self._clock.now(),
            ))
        if flag is None:
            log.info("flag %s already received; nothing to do", key)
            return None
        return self.process(flag.id or 0)

    def start_shortcut(self, *, user: str, channel: str, message: Mapping[str, Any]
                       ) -> Draft | AlreadySent:
        """"Send to Vigie" on a message: keep the message (the modal cannot carry it) and
        say what the modal should show."""
        ts = str(message["ts"])
        key = f"{channel}:{ts}:{user}"
        kept = _kept(message)
        found = links(str(message.get("text") or ""))
        now = self._clock.now()
        with Session(self._engine, expire_on_commit=False) as session:
            flag = self._by_key(session, key)
            if flag is not None and flag.state != FlagState.DRAFT:
                return AlreadySent(flag.id or 0)
            if flag is None:
                flag = MentionFlag(
                    key=key, way=FlagWay.SHORTCUT, state=FlagState.DRAFT, flagger_id=user,
                    origin_channel=channel, origin_ts=ts,
                    origin_thread_ts=str(message.get("thread_ts") or ts),
                    external_id=_slack_id(channel, ts), created_at=now, updated_at=now,
                )
            flag.message = json.dumps(kept)
            flag.url = found[0] if found else None
            flag.updated_at = now
            session.add(flag)
            try:
                session.commit()
            except IntegrityError:  # the same person clicked twice at once
                session.rollback()
                flag = self._by_key(session, key)
                if flag is None:
                    raise
        name_of = self._namer()
        return Draft(
            flag_id=flag.id or 0,
            author=self._message_author(kept)[1] or "?",
            preview=message_text(kept, name_of=name_of),
            files=len(kept.get("files") or []),
            initial_account=self._channel_account(channel),
        )

    def submit_shortcut(self, flag_id: int, *, user: str, account: str | None,
                        note: str | None) -> str | None:
        """Accept the modal: None, or the problem ("unknown_account", "expired")."""
        if account is not None and self._config.account(account) is None:
            return "unknown_account"
        with Session(self._engine) as session:
            result = session.execute(
                update(MentionFlag)
                .where(col(MentionFlag.id) == flag_id)
                .where(col(MentionFlag.state) == FlagState.DRAFT)
                .where(col(MentionFlag.flagger_id) == user)
                .values(state=FlagState.RECEIVED, account_id=account,
                        note=(note or "")[:NOTE_LIMIT] or None, updated_at=self._clock.now())
            )
            session.commit()
        return None if _rowcount(result) == 1 else "expired"

    def receive_command(self, *, user: str, channel: str, text: str) -> CommandReceipt:
        """`/vigie add <link> [account] [note]`: checked and stored, not processed yet."""
        found = links(text)
        if not found:
            return CommandReceipt(problem="usage")
        url = found[0]
        account, note = self._split_account(
            readable(text, name_of=self._namer(), drop_links=[url]))
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        now = self._clock.now()
        flag = self._receive(MentionFlag(
            key=f"add:{user}:{digest}", way=FlagWay.COMMAND, state=FlagState.RECEIVED,
            flagger_id=user, origin_channel=channel, url=url, note=note, account_id=account,
            external_id=f"link:{digest}", created_at=now, updated_at=now,
        ))
        if flag is None:
            return CommandReceipt(url=url, problem="already")
        return CommandReceipt(flag_id=flag.id, url=url)

    # -- the work -----------------------------------------------------------------------
    def process(self, flag_id: int) -> FlagResult | None:
        """Fetch, store and acknowledge one flag; None if someone else is on it or it is
        done already. Safe to call any number of times."""
        flag = self._claim(flag_id, col(MentionFlag.state).in_(
            [FlagState.RECEIVED, FlagState.INGESTED]))
        if flag is None:
            return None
        try:
            if flag.state == FlagState.RECEIVED:
                self._ingest(flag)
            duplicate = self._is_duplicate(flag)
            if flag.state == FlagState.INGESTED:
                self._acknowledge(flag, duplicate)
        finally:
            self._release(flag_id)
        if flag.outcome_status and flag.mention_id is not None:
            self._deliver_outcomes(flag.mention_id)
        return FlagResult(flag_id=flag_id, mention_id=flag.mention_id, duplicate=duplicate,
                          fetched_from=flag.fetched_from, fetch_error=flag.fetch_error)

    def report_outcome(self, mention_id: int, status: str, *, by: str | None = None) -> int:
        """Tell everyone who flagged `mention_id` that it was answered, closed, ignored or
        escalated (`by`: the Slack user who did it), in their flag's thread. Other
        statuses are not outcomes and are not reported. Returns how many were told now;
        the rest (Slack down, flag still in progress) are told by the sweep."""
        status = str(status)
        if status not in OUTCOMES:
            return 0
        with Session(self._engine) as session:
            session.execute(
                update(MentionFlag)
                .where(col(MentionFlag.mention_id) == mention_id)
                .where(col(MentionFlag.state) != FlagState.DRAFT)
                .values(outcome_status=status, outcome_by=by, report_attempts=0)
            )
            session.commit()
        return self._deliver_outcomes(mention_id)

    def sweep(self) -> None:
        """Finish what was interrupted, retry what Slack refused, forget stale drafts."""
        now = self._clock.now()
        with Session(self._engine) as session:
            session.execute(
                delete(MentionFlag)
                .where(col(MentionFlag.state) == FlagState.DRAFT)
                .where(col(MentionFlag.updated_at) < now - DRAFT_KEEP)
            )
            session.commit()
            pending = session.exec(
                select(MentionFlag.id)
                .where(col(MentionFlag.state).in_([FlagState.RECEIVED, FlagState.INGESTED]))
                .where(self._claim_free(now))
                .order_by(col(MentionFlag.id))
                .limit(50)
            ).all()
        for flag_id in pending:
            try:
                self.process(int(flag_id or 0))
            except Exception:
                log.exception("flag %s could not be processed; will retry", flag_id)
        self._deliver_outcomes(None)

    # -- steps --------------------------------------------------------------------------
    def _ingest(self, flag: MentionFlag) -> None:
        if flag.origin_ts and flag.permalink is None and flag.way != FlagWay.COMMAND:
            flag.permalink = self._permalink(flag.origin_channel, flag.origin_ts)
        composed = self._compose(flag)
        # Saved before the mention exists: its card is rendered with them from the start.
        self._save(flag, permalink=flag.permalink, fetched_from=composed.fetched_from,
                   fetch_error=composed.fetch_error)
        existing = self._same_link(composed.data.url, flag.url)
        if existing is not None:
            mention_id = existing
        else:
            mention_id = self._intake.ingest(SLACK_SOURCE, composed.data).mention_id
        self._save(flag, mention_id=mention_id, state=FlagState.INGESTED)

    def _compose(self, flag: MentionFlag) -> _Composed:
        message: dict[str, Any] | None = json.loads(flag.message) if flag.message else None
        fetched = None
        error = None
        platform = None
        if flag.url:
            platform = self._fetchers.platform_for(flag.url)
            try:
                fetched = self._fetchers.fetch(flag.url)
            except FetchFailed as exc:
                error = exc.reason.stored(FETCH_ERROR_LIMIT)  # said later in each reader's language
                log.info("could not fetch %s for flag %s: %s", flag.url, flag.id, exc)
        account = self._account(flag, fetched.post.account if fetched else None)
        if fetched is not None:
            post = fetched.post
            data = post.model_copy(update={
                "external_id": flag.external_id, "account": account,
                "url": post.url or _safe_url(flag.url),
            })
            return _Composed(data, fetched.platform, None)
        name_of = self._namer()
        if message is not None:
            handle, name = self._message_author(message)
            text = message_text(message, name_of=name_of) or flag.note or "…"
            created = _ts_time(str(message.get("ts"))) or self._clock.now()
            url = _safe_url(flag.url) or _safe_url(flag.permalink)
            platform = (platform or "web") if flag.url else "slack"
        else:
            # The link itself is the handle: two different posts flagged without a note
            # must not look like one repost to intake's same-author-same-text check.
            handle = (flag.url or "").split("://", 1)[-1]
            name = guess_author(flag.url or "")
            text = flag.note or flag.url or "…"
            created = _ts_time(flag.origin_ts) or self._clock.now()
            url = _safe_url(flag.url)
            platform = platform or "web"
        data = MentionIn.model_validate({
            "external_id": flag.external_id,
            "text": text[:TEXT_LIMIT],
            "author": {"handle": (handle or "?")[:256], "name": name[:256] if name else None},
            "created_at": created,
            "url": url,
            "account": account,
            "platform": platform if _valid_platform(platform) else "web",
        })
        return _Composed(data, None, error)

    def _acknowledge(self, flag: MentionFlag, duplicate: bool) -> None:
        mention = self._mention(flag.mention_id)
        if mention is None:  # cannot happen once ingested; nothing to say without it
            self._save(flag, state=FlagState.ACKNOWLEDGED)
            return
        locale = self._people.locale_for(flag.flagger_id)
        fetched = None
        if flag.fetched_from:
            fetched = (mention.author_name or mention.author_handle, flag.fetched_from)
        message = flag_messages.acknowledgement(
            locale, channel=mention.channel_id, duplicate=duplicate, fetched=fetched,
            fetch_error=flag.fetch_error)
        try:
            if flag.way == FlagWay.MENTION:
                thread = flag.origin_thread_ts or flag.origin_ts
                self._slack.post_message(flag.origin_channel, message, thread_ts=thread)
                channel, thread_ts = flag.origin_channel, thread
            else:
                posted = self._slack.direct_message(flag.flagger_id, message)
                channel, thread_ts = posted.channel, posted.ts
        except SlackError as exc:
            attempts = flag.ack_attempts + 1
            gave_up = attempts >= MAX_ATTEMPTS
            log.warning("could not answer flag %s (attempt %s%s): %s", flag.id, attempts,
                        ", giving up" if gave_up else "", exc)
            self._save(flag, ack_attempts=attempts,
                       state=FlagState.ACKNOWLEDGED if gave_up else FlagState.INGESTED)
            return
        settled = str(mention.status) if str(mention.status) in OUTCOMES else None
        # Joining a mention that is already answered or closed: say that too, next.
        self._save(flag, state=FlagState.ACKNOWLEDGED, ack_channel=channel,
                   ack_thread_ts=thread_ts, outcome_status=flag.outcome_status or settled)
        if duplicate and mention.slack_channel and mention.slack_ts:
            self._note_on_card(flag, mention)

    def _note_on_card(self, flag: MentionFlag, mention: Mention) -> None:
        """Someone flagged what already has a card: say so in the card's thread."""
        where = flag_messages.where(self._locale, way=flag.way, channel=flag.origin_channel)
        message = flag_messages.also_flagged(
            self._locale, name=self._people.person(flag.flagger_id).name,
            where_text=where, note=flag.note)
        try:
            self._slack.post_message(str(mention.slack_channel), message,
                                     thread_ts=mention.slack_ts)
        except SlackError as exc:
            log.warning("could not note flag %s on card of mention %s: %s", flag.id,
                        mention.id, exc)

    def _deliver_outcomes(self, mention_id: int | None) -> int:
        with Session(self._engine) as session:
            query = select(MentionFlag.id).where(self._outcome_due())
            if mention_id is not None:
                query = query.where(col(MentionFlag.mention_id) == mention_id)
            due = session.exec(query.order_by(col(MentionFlag.id)).limit(100)).all()
        return sum(1 for flag_id in due if self._report(int(flag_id or 0)))

    def _report(self, flag_id: int) -> bool:
        flag = self._claim(flag_id, self._outcome_due())
        if flag is None:
            return False
        status = str(flag.outcome_status)
        try:
            mention = self._mention(flag.mention_id)
            card_url = None
            if mention is not None and mention.slack_channel and mention.slack_ts:
                card_url = self._permalink(mention.slack_channel, mention.slack_ts)
            by_name = self._people.person(flag.outcome_by).name if flag.outcome_by else None
            message = flag_messages.outcome_message(
                self._people.locale_for(flag.flagger_id), status=status, by_name=by_name,
                card_url=card_url)
            try:
                if flag.ack_channel and flag.ack_thread_ts:
                    self._slack.post_message(flag.ack_channel, message,
                                             thread_ts=flag.ack_thread_ts)
                else:
                    self._slack.direct_message(flag.flagger_id, message)
            except SlackError as exc:
                attempts = flag.report_attempts + 1
                gave_up = attempts >= MAX_ATTEMPTS
                log.warning("could not report %s on flag %s (attempt %s%s): %s", status,
                            flag.id, attempts, ", giving up" if gave_up else "", exc)
                self._save(flag, report_attempts=attempts,
                           reported_status=status if gave_up else flag.reported_status)
                return False
            self._save(flag, reported_status=status)
            return True
        finally:
            self._release(flag_id)

    # -- helpers ------------------------------------------------------------------------
    def _receive(self, flag: MentionFlag) -> MentionFlag | None:
        """Store a new flag; None if one with its key exists (a repeat)."""
        with Session(self._engine, expire_on_commit=False) as session:
            if self._by_key(session, flag.key) is not None:
                return None
            session.add(flag)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
        return flag

    def _help(self, event: AppMention) -> None:
        message = flag_messages.help_message(self._people.locale_for(event.user))
        try:
            self._slack.post_message(event.channel, message,
                                     thread_ts=event.thread_ts or event.ts)
        except SlackError as exc:
            log.warning("could not post help in %s: %s", event.channel, exc)

    def _parent(self, event: AppMention) -> dict[str, Any] | None:
        """The message a thread reply `@vigie [note]` points at, if it is one."""
        if not event.thread_ts or event.thread_ts == event.ts:
            return None
        try:
            parent = self._slack.thread_parent(event.channel, event.thread_ts)
        except SlackError as exc:
            log.warning("could not read thread %s in %s: %s", event.thread_ts, event.channel,
                        exc)
            return None
        if parent is not None and event.bot_user_id and parent.get("user") == event.bot_user_id:
            return None  # under Vigie's own message (a card, a reply): nothing to flag
        return parent

    def _split_account(self, note: str) -> tuple[str | None, str | None]:
        """A configured account id as the note's first word picks the account."""
        words = note.split(maxsplit=1)
        if words and self._config.account(words[0].lower()) is not None:
            return words[0].lower(), (words[1] if len(words) > 1 else "")[:NOTE_LIMIT] or None
        return None, note[:NOTE_LIMIT] or None

    def _account(self, flag: MentionFlag, fetched: str | None) -> str | None:
        for candidate in (flag.account_id, fetched, self._channel_account(flag.origin_channel)):
            if candidate and self._config.account(candidate) is not None:
                return candidate
        return None

    def _channel_account(self, channel: str) -> str | None:
        return next((a.id for a in self._config.accounts if a.channel == channel), None)

    def _message_author(self, message: Mapping[str, Any]) -> tuple[str, str | None]:
        """(handle, display name) of a Slack message's author."""
        user = message.get("user")
        if user:
            return str(user), self._people.person(str(user)).name
        profile = message.get("bot_profile") or {}
        name = message.get("username") or profile.get("name") or message.get("bot_id")
        return str(message.get("bot_id") or name or "bot"), str(name) if name else None

    def _namer(self) -> Callable[[str], str | None]:
        """Names for `<@U…>` in one text, with at most `NAME_LOOKUPS` Slack lookups."""
        asked: dict[str, str | None] = {}

        def name_of(user: str) -> str | None:
            if user not in asked:
                asked[user] = (self._people.person(user).name
                               if len(asked) < NAME_LOOKUPS else None)
            return asked[user]

        return name_of

    def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            return self._slack.permalink(channel, ts)
        except SlackError as exc:
            log.info("no permalink for %s/%s: %s", channel, ts, exc)
            return None

    def _same_link(self, *urls: str | None) -> int | None:
        """A recent mention of the same link, from any source, that the team has not
        settled yet: the flag joins it. A settled one gets a new card, so the team sees
        that someone is raising it again."""
        wanted = [u for u in dict.fromkeys(urls) if u]
        if not wanted:
            return None
        with Session(self._engine) as session:
            found = session.exec(
                select(Mention.id)
                .where(col(Mention.url).in_(wanted))
                .where(col(Mention.status).not_in(list(OUTCOMES)))
                .where(col(Mention.received_at) >= self._clock.now() - SAME_LINK_WINDOW)
                .order_by(col(Mention.id))
                .limit(1)
            ).first()
        return int(found) if found is not None else None

    def _is_duplicate(self, flag: MentionFlag) -> bool:
        """Was the mention there before this flag (another source, flag or flagger)?"""
        if flag.mention_id is None:
            return False
        with Session(self._engine) as session:
            mention = session.get(Mention, flag.mention_id)
            if mention is None:
                return False
            if (mention.source_id, mention.external_id) != (SLACK_SOURCE, flag.external_id):
                return True
            earlier = session.exec(
                select(MentionFlag.id)
                .where(col(MentionFlag.mention_id) == flag.mention_id)
                .where(col(MentionFlag.id) < (flag.id or 0))
                .limit(1)
            ).first()
        return earlier is not None

    def _mention(self, mention_id: int | None) -> Mention | None:
        if mention_id is None:
            return None
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Mention, mention_id)

    @staticmethod
    def _by_key(session: Session, key: str) -> MentionFlag | None:
        return session.exec(select(MentionFlag).where(MentionFlag.key == key)).first()

    @staticmethod
    def _outcome_due() -> ColumnElement[bool]:
        reported = col(MentionFlag.reported_status)
        outcome = col(MentionFlag.outcome_status)
        return (
            (col(MentionFlag.state) == FlagState.ACKNOWLEDGED)
            & outcome.is_not(None)
            & or_(reported.is_(None), reported != outcome)
        )

    def _claim_free(self, now: datetime) -> ColumnElement[bool]:
        claimed = col(MentionFlag.claimed_at)
        return or_(claimed.is_(None), claimed < now - LEASE)

    def _claim(self, flag_id: int, condition: ColumnElement[bool]) -> MentionFlag | None:
        now = self._clock.now()
        with Session(self._engine, expire_on_commit=False) as session:
            result = session.execute(
                update(MentionFlag)
                .where(col(MentionFlag.id) == flag_id)
                .where(condition)
                .where(self._claim_free(now))
                .values(claimed_at=now)
            )
            session.commit()
            if _rowcount(result) != 1:
                return None
            return session.get(MentionFlag, flag_id)

    def _release(self, flag_id: int) -> None:
        with Session(self._engine) as session:
            session.execute(
                update(MentionFlag).where(col(MentionFlag.id) == flag_id).values(claimed_at=None)
            )
            session.commit()

    def _save(self, flag: MentionFlag, **values: Any) -> None:
        values["updated_at"] = self._clock.now()
        with Session(self._engine) as session:
            session.execute(
                update(MentionFlag).where(col(MentionFlag.id) == flag.id).values(**values)
            )
            session.commit()
        for name, value in values.items():
            setattr(flag, name, value)


class FlagCards:
    """What a mention's card says about its flags. Apart from `Flags` because the relay,
    which renders cards, is built before the intake that `Flags` feeds."""

    def __init__(self, *, engine: Engine, people: Directory, locale: Locale) -> None:
        self._engine = engine
        self._people = people
        self._locale = locale

    def card_flags(self, mention: Mention) -> list[CardFlag]:
        """The flags a card shows: of this mention, or about to become it."""
        matches: list[ColumnElement[bool]] = []
        if mention.id is not None:
            matches.append(col(MentionFlag.mention_id) == mention.id)
        if mention.source_id == SLACK_SOURCE:
            matches.append(col(MentionFlag.external_id) == mention.external_id)
        if not matches:
            return []
        with Session(self._engine) as session:
            flags = session.exec(
                select(MentionFlag)
                .where(or_(*matches))
                .where(col(MentionFlag.state) != FlagState.DRAFT)
                .order_by(col(MentionFlag.id))
                .limit(3)
            ).all()
        shown = []
        for flag in flags:
            note = flag.note if flag.note and flag.note.strip() != mention.text.strip() else None
            shown.append(CardFlag(
                name=self._people.person(flag.flagger_id).name, way=flag.way,
                channel=flag.origin_channel, permalink=flag.permalink, note=note,
                fetch_error=flag.fetch_error,
            ))
        return shown

    def card_renderer(self, render: Callable[[Mention], Message]
                      ) -> Callable[[Mention], Message]:
        """`render`, plus who flagged the mention, where, their note and any fetch failure."""

        def with_flags(mention: Mention) -> Message:
            message = render(mention)
            extra = flag_messages.card_context(self.card_flags(mention), self._locale)
            if not extra:
                return message
            blocks = list(message.blocks)
            at = next((i + 1 for i, b in enumerate(blocks) if b.get("block_id") == "meta"),
                      len(blocks))
            blocks[at:at] = extra
            return Message(text=message.text, blocks=blocks, metadata=message.metadata)

        return with_flags


def _slack_id(channel: str, ts: str) -> str:
    """A flagged Slack message's id as a mention: the same message is the same mention,
    however many times (and with whatever event id) Slack delivers it."""
    return f"slack:{channel}:{ts}"


_KEPT = ("ts", "thread_ts", "user", "username", "bot_id", "text", "subtype")


def _kept(message: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Slack message a mention needs (not its blocks, reactions…)."""
    kept: dict[str, Any] = {k: message[k] for k in _KEPT if message.get(k) is not None}
    profile = message.get("bot_profile")
    if isinstance(profile, Mapping) and profile.get("name"):
        kept["bot_profile"] = {"name": profile["name"]}
    kept["files"] = [
        {k: f.get(k) for k in ("name", "title", "permalink", "url_private") if f.get(k)}
        for f in _dicts(message.get("files"))
    ]
    kept["attachments"] = [
        {k: a.get(k) for k in ("author_name", "title", "text", "fallback", "from_url",
                               "original_url", "title_link") if a.get(k)}
        for a in _dicts(message.get("attachments"))
    ]
    return kept


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _ts_time(ts: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC) if ts else None
    except ValueError:
        return None


def _safe_url(url: str | None) -> str | None:
    if not url or len(url) > _URL_LIMIT or any(c.isspace() for c in url):
        return None
    return url if url.startswith(("http://", "https://")) else None


def _valid_platform(platform: str) -> bool:
    return _PLATFORM.fullmatch(platform) is not None


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
