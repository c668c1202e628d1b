"""The newsroom's TOML config: accounts, channels, editors, sources and routes.

It describes the newsroom, never its secrets: a source names the environment variable
that holds its secret. `load_config` reports every problem at once with the file, the
key and what is wrong, which is what `vigie check` prints.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from bot.platforms import PLATFORMS, names, platform
from bot.platforms.base import Platform
from bot.platforms.x.settings import XSettings
from bot.settings import ConfigurationError, Problem

CHANNEL_ID = r"^[CGD][A-Z0-9]{2,}$"
USER_ID = r"^[UW][A-Z0-9]{2,}$"
USERGROUP_ID = r"^S[A-Z0-9]{2,}$"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"

ChannelId = Annotated[str, StringConstraints(pattern=CHANNEL_ID)]
UserId = Annotated[str, StringConstraints(pattern=USER_ID)]
Slug = Annotated[str, StringConstraints(pattern=SLUG)]
Locale = Literal["fr", "en"]

_FIXES = {
    CHANNEL_ID: "use the channel ID (in Slack: channel name → About → Channel ID, e.g. C0123ABCD)",
    USER_ID: "use the member ID (in Slack: profile → ⋮ → Copy member ID, e.g. U0123ABCD)",
    USERGROUP_ID: "use the user group ID (starts with S)",
    SLUG: "lowercase letters, digits, - and _ only, e.g. matinale",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Newsroom(_Strict):
    name: str = "Vigie"
    locale: Locale = "fr"
    timezone: str = "Europe/Paris"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Paris)") from None
        return value


class Channels(_Strict):
    mentions: ChannelId
    approvals: ChannelId | None = None


class Editors(_Strict):
    users: list[UserId] = []
    usergroup: Annotated[str, StringConstraints(pattern=USERGROUP_ID)] | None = None


class Account(_Strict):
    id: Slug
    name: str
    channel: ChannelId | None = None


# The platforms' registry says which types of source exist and which keys each uses.
if TYPE_CHECKING:
    SourceType = str
    TargetKind = str
else:
    SourceType = Literal[names()]
    TargetKind = Literal[("slack", *(p.name for p in PLATFORMS if p.publishes))]
# Sources Vigie has without configuration; routes may name them, [[sources]] may not.
BUILTIN_SOURCES = {"slack": "mentions flagged from Slack (@vigie, shortcut, /vigie add)"}

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$", max_length=2048)]
MastodonNotification = Literal["mention", "quote", "status"]

# Which optional keys each type of source uses; any other is a mistake worth reporting.
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    p.name: tuple(f.key for f in p.source_fields) for p in PLATFORMS}
_ALL_OPTIONAL = frozenset(key for keys in SOURCE_FIELDS.values() for key in keys)


class Source(_Strict):
    """Where mentions come from. Secrets are never here: `*_env` name the variables.

    The keys below are those of the platforms Vigie had first; a platform that needs
    another declares it (`bot.platforms.base.SourceField`) and it is added to this model
    below; read it with `setting`."""

    id: Slug
    type: SourceType
    account: Slug | None = None
    enabled: bool = True
    secret_env: EnvName | None = None  # webhook
    url: HttpUrl | None = None  # rss
    interval: Annotated[int, Field(ge=10, le=86_400)] | None = None  # seconds between polls
    backfill_hours: Annotated[int, Field(ge=0, le=24 * 30)] = 24  # rss: first poll's reach
    instance: HttpUrl | None = None  # mastodon
    token_env: EnvName | None = None  # mastodon
    notifications: list[MastodonNotification] = ["mention"]  # mastodon
    handle: Annotated[str, StringConstraints(pattern=r"^@?[A-Za-z0-9.-]+$")] | None = None
    password_env: EnvName | None = None  # bluesky
    service: HttpUrl = "https://bsky.social"  # bluesky PDS

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> Source:
        for field in self.platform.source_fields:
            if field.required and not getattr(self, field.key):
                raise ValueError(f"a {self.type} source needs {field.key}, {field.required}")
        allowed = SOURCE_FIELDS[self.type]
        for key in sorted(self.model_fields_set):
            if key in _ALL_OPTIONAL and key not in allowed:
                raise ValueError(f"{key} does not apply to a {self.type} source")
        return self

    @property
    def platform(self) -> Platform:
        found = platform(self.type)
        assert found is not None, self.type  # `type` is checked against the registry
        return found

    @property
    def poll_every(self) -> int:
        """Seconds between two polls: the configured interval, else a polite default."""
        return self.interval or self.platform.poll_every

    @property
    def polled(self) -> bool:
        return self.platform.polled

    def setting(self, key: str) -> Any:
        """A key of the source's platform (`SourceField`), None when not given."""
        return getattr(self, key, None)


def _with_platform_fields(base: type[Source]) -> type[Source]:
    """`Source` with the keys platforms declare that it does not have yet."""
    extra: dict[str, Any] = {}
    for declared in PLATFORMS:
        for field in declared.source_fields:
            if field.key not in base.model_fields and field.annotation is not None:
                extra.setdefault(field.key, (field.annotation, field.default))
    if not extra:
        return base
    return create_model("Source", __base__=base, __module__=__name__, **extra)


if not TYPE_CHECKING:
    Source = _with_platform_fields(Source)


class Route(_Strict):
    """Send matching mentions to `channel`; every condition given must hold."""

    name: str | None = None
    channel: ChannelId
    accounts: list[Slug] = []
    sources: list[Slug] = []
    keywords: list[Annotated[str, StringConstraints(min_length=1)]] = []
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = []
    authors: list[Annotated[str, StringConstraints(min_length=1)]] = []

    @model_validator(mode="after")
    def _has_a_condition(self) -> Route:
        if not (self.accounts or self.sources or self.keywords or self.languages or self.authors):
            raise ValueError(
                "a route needs at least one condition: accounts, sources, keywords, "
                "languages or authors"
            )
        return self

    @property
    def label(self) -> str:
        return self.name or f"→ {self.channel}"


class Bursts(_Strict):
    """Calm channels: pacing of every message, and spike mode past a rate."""

    threshold: Annotated[int, Field(ge=1)] = 20  # mentions per window, per channel/account
    window: Annotated[int, Field(ge=10)] = 300  # seconds
    digest_size: Annotated[int, Field(ge=1, le=50)] = 40  # mentions per digest message
    digest_every: Annotated[int, Field(ge=1)] = 60  # seconds a partial digest may wait
    pace: Annotated[float, Field(gt=0, le=60)] = 1.0  # seconds between messages in a channel


class Alerts(_Strict):
    """Alert words raise the priority, mark the card and DM the on-call people."""

    oncall: list[UserId] = []
    priority: Literal["high", "urgent"] = "urgent"
    dm_every: Annotated[int, Field(ge=0)] = 60  # seconds; alerts in between share one DM
    words: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")],
                list[Annotated[str, StringConstraints(min_length=2)]]] = {}

# -- Qualify: who may triage, auto-qualification rules, round-robin, SLA ----------------
QualifySource = Literal["button", "select", "command", "rule", "sla", "system"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Staff(_Strict):
    """Who may qualify mentions from the cards: listed users, a user group, and/or
    everyone who is a member of the channel the card was routed to."""

    users: list[UserId] = []
    usergroup: Annotated[str, StringConstraints(pattern=USERGROUP_ID)] | None = None
    channel_members: bool = True

    @model_validator(mode="after")
    def _somebody(self) -> Staff:
        if not (self.users or self.usergroup or self.channel_members):
            raise ValueError("nobody could qualify mentions: give users, a usergroup, or set "
                             "channel_members = true")
        return self


class QualifyRule(_Strict):
    """Pre-set category, priority and/or assignee on matching mentions (every condition
    given must hold). Staff see "suggested by rule <name>" and can override it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    keywords: list[Annotated[str, StringConstraints(min_length=1)]] = []
    authors: list[Annotated[str, StringConstraints(min_length=1)]] = []
    accounts: list[Slug] = []
    sources: list[Slug] = []
    category: Literal["question", "complaint", "praise", "crisis", "spam", "other"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    assignee: UserId | None = None

    @model_validator(mode="after")
    def _condition_and_effect(self) -> QualifyRule:
        if not (self.keywords or self.authors or self.accounts or self.sources):
            raise ValueError(f"rule {self.name!r} needs a condition: keywords, authors, "
                             "accounts or sources")
        if not (self.category or self.priority or self.assignee):
            raise ValueError(f"rule {self.name!r} sets nothing: give category, priority "
                             "or assignee")
        return self


class RoundRobin(_Strict):
    """Assign new mentions of `channel` in turn to `people`, skipping those away."""

    channel: ChannelId
    people: Annotated[list[UserId], Field(min_length=1)]


class WorkingHours(_Strict):
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: Annotated[str, StringConstraints(pattern=HHMM)] = "09:00"
    end: Annotated[str, StringConstraints(pattern=HHMM)] = "19:00"

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError(f"working hours start ({self.start}) must be before end ({self.end})")
        if not self.days:
            raise ValueError("working hours need at least one day")
        return self


class Sla(_Strict):
    """Minutes of working time allowed before the first response, per priority."""

    urgent: Annotated[int, Field(ge=1)] = 15
    high: Annotated[int, Field(ge=1)] = 60
    normal: Annotated[int, Field(ge=1)] = 240
    low: Annotated[int, Field(ge=1)] = 1440
    working_hours: WorkingHours | None = None  # None: the clock runs all day, every day
    timezone: str | None = None  # defaults to newsroom.timezone
    on_call: list[UserId] = []  # escalation DMs past twice the delay

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else Newsroom._known_zone(value)

    def minutes(self, priority: str) -> int:
        return int(getattr(self, priority))


class Suggestions(_Strict):
    """Hints from the sentence model (`vigie[suggestions]`). They are shown, never
    applied, except the one rule a newsroom may set: mark a mention urgent when the
    urgent hint is at least `apply_urgent_from` sure (and nobody, no rule, set its
    priority)."""

    enabled: bool = True
    apply_urgent_from: Annotated[float, Field(gt=0, le=1)] | None = None
    similar_replies: bool = True  # "answer like last time" in the Reply form


class Qualify(_Strict):
    staff: Staff = Staff()
    rules: list[QualifyRule] = []
    round_robin: list[RoundRobin] = []
    sla: Sla = Sla()
    sentiment_suggestions: bool = True
    suggestions: Suggestions = Suggestions()

    @model_validator(mode="after")
    def _unique(self) -> Qualify:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"qualify rule names must be unique: {', '.join(duplicates)}")
        channels = [r.channel for r in self.round_robin]
        duplicates = sorted({c for c in channels if channels.count(c) > 1})
        if duplicates:
            raise ValueError(f"one round_robin block per channel: {', '.join(duplicates)}")
        return self


# -- Respond: answers from the cards --------------------------------------------------------
CategoryName = Literal["question", "complaint", "praise", "crisis", "spam", "other"]


class Replies(_Strict):
    """Answers sent from the cards (`Reply`). Replies on a sensitive category, or on a
    mention routed by a sensitive route, wait for an editor's approval."""

    sensitive_categories: list[CategoryName] = ["crisis"]
    sensitive_routes: list[Annotated[str, StringConstraints(min_length=1)]] = []
    self_approval: bool = False  # may an editor approve a reply they wrote?
    # When each show is on air, for the "broadcast time" template: account id → text.
    schedule: dict[Slug, Annotated[str, StringConstraints(min_length=1, max_length=300)]] = {}


REACTION = r"^[a-z0-9_+'-]{1,64}$"


class PostTarget(_Strict):
    """Where an approved post can go: a Slack channel, or one account's social profile."""

    id: Slug
    kind: TargetKind
    name: str | None = None
    channel: ChannelId | None = None  # kind = "slack"
    account: Slug | None = None  # kind = "mastodon" / "bluesky": the account it speaks for

    @model_validator(mode="after")
    def _where(self) -> PostTarget:
        if self.kind == "slack" and not self.channel:
            raise ValueError(f"post target {self.id!r} (slack) needs channel, a channel ID")
        if self.kind != "slack" and not self.account:
            raise ValueError(f"post target {self.id!r} ({self.kind}) needs account, the id of "
                             "one of the [[accounts]]")
        return self

    @property
    def label(self) -> str:
        return self.name or self.id


class Posts(_Strict):
    """Drafts, approval and scheduled publishing (`/draft`, `/calendar`)."""

    approvals_required: Annotated[int, Field(ge=1, le=10)] = 1
    self_approval: bool = False  # may an editor approve their own draft?
    approve_reaction: Annotated[str, StringConstraints(pattern=REACTION)] = "white_check_mark"
    reject_reaction: Annotated[str, StringConstraints(pattern=REACTION)] = "x"
    # A post whose time passed more than this ago (downtime) is not sent: a human decides.
    stale_after_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 15
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8  # per target, then a human decides
    sweep_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    targets: list[PostTarget] = []

    def target(self, target_id: str) -> PostTarget | None:
        return next((t for t in self.targets if t.id == target_id), None)


# -- Moderate (issue 8): masking, repeat offenders, exposure, desks, contests ------------
AbuseKind = Literal["insult", "threat", "slur", "harassment"]


class Moderation(_Strict):
    """Abusive mentions are masked on their cards; authors marked abusive
    `repeat_offender` times are on the watchlist, and their next mentions go to
    `channel` when one is given."""

    terms: dict[AbuseKind, list[Annotated[str, StringConstraints(min_length=2)]]] = {}
    allowed: list[Annotated[str, StringConstraints(min_length=2)]] = []
    use_sentiment: bool = True
    repeat_offender: Annotated[int, Field(ge=1, le=100)] = 3
    channel: ChannelId | None = None
    # Round-robin: an abusive mention skips people who handled more than this share of
    # the abusive mentions of the last `share_days` days (None: no skipping).
    max_share: Annotated[float, Field(gt=0, le=1)] | None = None
    share_days: Annotated[int, Field(ge=1, le=90)] = 7


class Desk(_Strict):
    """A team mentions can be forwarded to, in its own Slack channel."""

    id: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=75)]
    channel: ChannelId


class Contests(_Strict):
    """`/vigie tirage`: the newsroom's own accounts never win."""

    staff_accounts: list[Annotated[str, StringConstraints(min_length=2)]] = []
    since_days: Annotated[int, Field(ge=1, le=365)] = 7
    max_winners: Annotated[int, Field(ge=1, le=100)] = 20


# -- Evaluate: the weekly report and trend alerts ---------------------------------------
class Trends(_Strict):
    """Alert when an account gets far more mentions in an hour than it usually does at
    that hour on that weekday (the mean over the same hour of the last `weeks` weeks)."""

    enabled: bool = True
    every: Annotated[int, Field(ge=5, le=60)] = 15  # minutes between two checks
    weeks: Annotated[int, Field(ge=1, le=12)] = 4  # weeks of history for the usual level
    ratio: Annotated[float, Field(gt=1, le=100)] = 3.0  # this many times the usual level
    min_mentions: Annotated[int, Field(ge=1)] = 10  # and at least this many in the hour
    cooldown: Annotated[int, Field(ge=1, le=168)] = 6  # hours before another alert, per account
    channel: ChannelId | None = None  # default: the account's channel, else channels.mentions


class Reports(_Strict):
    """The weekly report: posted on `day` at `time` (newsroom time) in `channel`."""

    channel: ChannelId | None = None  # None: no weekly report (`/vigie report` still works)
    day: Weekday = "mon"
    time: Annotated[str, StringConstraints(pattern=HHMM)] = "09:00"
    trends: Trends = Trends()


class Config(_Strict):
    newsroom: Newsroom = Newsroom()
    channels: Channels
    editors: Editors = Editors()
    accounts: list[Account] = []
    sources: list[Source] = []
    routes: list[Route] = []
    bursts: Bursts = Bursts()
    alerts: Alerts = Alerts()
    qualify: Qualify = Qualify()
    replies: Replies = Replies()
    posts: Posts = Posts()
    moderation: Moderation = Moderation()
    desks: list[Desk] = []
    contests: Contests = Contests()
    reports: Reports = Reports()
    x: XSettings = XSettings()  # X's API address, prices and monthly budget

    @model_validator(mode="after")
    def _post_targets_exist(self) -> Config:
        ids = [t.id for t in self.posts.targets]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"post target ids must be unique: {', '.join(duplicates)}")
        known = {a.id for a in self.accounts}
        for index, target in enumerate(self.posts.targets):
            if target.account and target.account not in known:
                names = ", ".join(sorted(known)) or "none"
                raise ValueError(f"posts.targets[{index}] names unknown account "
                                 f"{target.account!r} (known: {names})")
        return self

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        account_ids = [a.id for a in self.accounts]
        source_ids = [s.id for s in self.sources]
        desk_ids = [d.id for d in self.desks]
        for kind, ids in (("account", account_ids), ("source", source_ids), ("desk", desk_ids)):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind} ids must be unique: {', '.join(duplicates)}")
        taken = sorted(set(source_ids) & set(BUILTIN_SOURCES))
        if taken:
            raise ValueError(
                f"source id(s) {', '.join(taken)} are built in "
                f"({'; '.join(f'{i}: {BUILTIN_SOURCES[i]}' for i in taken)}); pick another id"
            )
        known = set(account_ids)
        for source in self.sources:
            if source.account and source.account not in known:
                raise ValueError(
                    f"source {source.id!r} names account {source.account!r}, which is not "
                    f"declared in [[accounts]] (known: {', '.join(sorted(known)) or 'none'})"
                )
        for index, route in enumerate(self.routes):
            unknown = sorted(set(route.accounts) - known)
            if unknown:
                raise ValueError(f"routes[{index}] names unknown account(s): {', '.join(unknown)}")
            unknown = sorted(set(route.sources) - set(source_ids) - set(BUILTIN_SOURCES))
            if unknown:
                raise ValueError(f"routes[{index}] names unknown source(s): {', '.join(unknown)}")
        unknown = sorted(set(self.replies.schedule) - known)
        if unknown:
            raise ValueError(f"replies.schedule names unknown account(s): {', '.join(unknown)}")
        for index, rule in enumerate(self.qualify.rules):
            unknown = sorted(set(rule.accounts) - known)
            unknown += sorted(set(rule.sources) - set(source_ids))
            if unknown:
                raise ValueError(f"qualify.rules[{index}] ({rule.name}) names unknown "
                                 f"account(s) or source(s): {', '.join(unknown)}")
        return self

    def account(self, account_id: str | None) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def desk(self, desk_id: str) -> Desk | None:
        return next((d for d in self.desks if d.id == desk_id), None)


def load_config(path: Path) -> Config:
    """Parse and validate the TOML file, raising `ConfigurationError` with every problem."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            [
                Problem(
                    where,
                    "file not found",
                    "set VIGIE_CONFIG to your newsroom file, or copy vigie.example.toml "
                    "to vigie.toml",
                )
            ]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError([Problem(where, f"not valid TOML: {exc}")]) from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(_problems(where, exc)) from None


def _problems(where: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        key = _key_path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        fix = ""
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] == "extra_forbidden":
            message = "is not a known key (typo?)"
        elif error["type"] == "string_pattern_mismatch":
            pattern = str((error.get("ctx") or {}).get("pattern", ""))
            message = f"{error['input']!r} is not valid"
            fix = _FIXES.get(pattern, f"must match {pattern}")
        elif error["type"] == "literal_error":
            message = f"{error['input']!r} is not allowed; {error['msg'].lower()}"
        problems.append(Problem(f"{where}: {key}" if key else where, message, fix))
    return problems


def _key_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location the way a TOML author reads it: sources[1].secret_env."""
    text = ""
    for item in loc:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


def secret_problems(config: Config, environ: Mapping[str, str] | None = None) -> list[Problem]:
    """What is wrong, offline, with the variables the sources name (each platform says)."""
    env = os.environ if environ is None else environ
    problems = []
    for index, source in enumerate(config.sources):
        problems.extend(source.platform.secret_problems(source, index, env))
    return problems
