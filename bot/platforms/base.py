"""One adapter per platform: what the rest of Vigie knows about a platform, and nothing more.

A platform is a `Platform`: a few declarations read without any network or SDK (what it
listens to, the `[[sources]]` keys it uses, its text limits and how it counts, whether
Vigie can reply, publish and moderate there, and which moderation actions exist), and
`connect(context)`, which builds its services for one running Vigie (or one `vigie
check`) as a `Connection`. A capability the platform lacks is declared (`replies = False`,
an empty `moderation`, no "poll" in `listens`) and its part of the `Connection` is None:
the services and the UI ask the registry (`bot.platforms`) and offer only what exists;
`Connected` refuses a connection that does not match its declarations.

How to add a platform
---------------------
Add a folder `bot/platforms/<name>/` whose `__init__.py` defines one `Platform` subclass
instance (importing nothing heavy at module level: SDKs and clients are imported in
`connect`), and add that instance to `PLATFORMS` in `bot/platforms/__init__.py`. Then:

- **Config**: `name` is the `type` of its `[[sources]]` (and the `kind` of its
  `[[posts.targets]]` when `publishes`). `source_fields` lists the keys a source of that
  type uses, with `required` saying what to give; a key no existing platform has also
  gives its pydantic `annotation` and `default`, and `bot.config.Source` gains it (read it
  with `source.setting("key")`). `bot.config` builds the allowed types, the required and
  forbidden keys from these; `secret_problems` adds what `vigie check` says offline
  about the environment variables the source names.
- **Push** (`"push" in listens`): `Connection.push(intake)` returns `WebRoute`s, mounted
  by `bot.web` on the HTTP edge as they are (e.g. `GET` + `POST /webhooks/meta` for a
  signed webhook with a verification handshake). The handler gets the raw body, headers,
  query and path parameters on a worker thread and must check the signature before
  parsing, and refuse a source that is unknown or disabled (`context.sources()`); it
  stores mentions with `intake.ingest(source_id, mention)` (dedupe included, so a
  delivery retried by the platform is one card).
- **Poll** (`"poll" in listens`): `Connection.poll` is a `bot.listen.polling.Connector`,
  `(Source, PollState) -> Fetched`, raising `SourceFailure`; the shared scheduler job
  (`listen.poll`) runs it every `Source.poll_every` seconds (`poll_every` by default),
  keeps its cursor and backs off. Push and poll meet in intake's dedupe.
- **Links**: `Connection.fetcher` (a `PostFetcher`) reads a post from its link for
  mentions flagged from Slack.
- **Reply** (`replies = True`): `Connection.replier` (`Replier`) says how a mention is
  answered (`Target`), sends, and looks after a lost answer under its `doubt` (the shared
  rule of `bot.connectors.doubt`); `bot.replies.platforms.Platforms` dispatches to it.
- **Publish** (`publishes = True`): `Connection.publisher` (`bot.connectors.publishers.
  Publisher`), registered for post targets of kind `name`; daily limits and pacing are its
  to enforce (raise `PublishRateLimited`).
- **Moderate** (`moderation` not empty): `Connection.moderator` (`Moderator`): the
  actions possible on one mention (a subset of `moderation`), doing and undoing them;
  cards offer "Moderate…" only where it says something is possible. An action no
  platform had yet (unhide, delete) is a new `ActionKind` with its `moderate.*` texts.
- **Check**: `Connection.check(source)` is what `vigie check` asks of each source (a note
  such as "token of @x", None to skip; raise `SourceFailure` for a problem), and
  `Connection.notes()` anything account-wide worth printing (rate-limit usage).
- **Background**: `Connection.background` callables run once on a thread at start.
- Texts shown in Slack go in the catalogues (`listen.ui.add_<name>`, `listen.ui.field_<key>`,
  and `replies.modal.how_<name>` when it replies), in French and English;
  `tests/unit/test_platforms.py` checks them and the declarations for every platform.
- Tests: a local server that speaks the platform's protocol (`tests/support/*_server.py`),
  with the real client pointed at it by a base-URL setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from bot.settings import Problem

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.clock import Clock
    from bot.config import Config, Source
    from bot.connectors.doubt import Doubt
    from bot.connectors.fetchers import PostFetcher
    from bot.connectors.publishers import Publisher
    from bot.listen.polling import Connector
    from bot.mentions.models import Mention
    from bot.mentions.service import Intake
    from bot.moderation.models import ModerationAction
    from bot.moderation.platforms import Done
    from bot.replies.models import Reply
    from bot.replies.platforms import Sent, Target

Listen = Literal["push", "poll"]


@dataclass(frozen=True)
class SourceField:
    """A key of `[[sources]]` this platform uses. `required`: what to give, when the key
    must be there ("the feed's http(s) address"). `annotation`/`default`: only for a key no
    other platform declared yet, which `bot.config.Source` then gains."""

    key: str
    required: str | None = None
    annotation: Any = None
    default: Any = None
    in_form: bool = True  # asked in the Slack form (label: `listen.ui.field_<key>`)


@dataclass(frozen=True)
class TextRules:
    """How long a text may be and how the platform counts it (Bluesky: 300 grapheme
    clusters and 3,000 bytes; Mastodon: 500, each link as 23). `count_prefix`: how Vigie's
    own prefix counts, when that is known without the full counter (start-up cost)."""

    limit: int
    count: Callable[[str], int] = len
    max_bytes: int | None = None
    count_prefix: Callable[[str], int] | None = None

    def too_long(self, text: str, limit: int | None = None) -> bool:
        if self.max_bytes is not None and len(text.encode()) > self.max_bytes:
            return True
        return self.count(text) > (self.limit if limit is None else limit)


@dataclass(frozen=True)
class WebRequest:
    method: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # raw, at most `WebRoute.max_body` + 1 bytes (more means too large)


@dataclass(frozen=True)
class WebResponse:
    status: int
    json: Any = None  # a JSON body…
    text: str | None = None  # …or a plain one (e.g. a webhook handshake's challenge)


@dataclass(frozen=True)
class WebRoute:
    """A route of the HTTP edge. `handle` is blocking: it runs on a worker thread."""

    path: str  # Starlette syntax: "/ingest/{source_id}"
    methods: tuple[str, ...]
    handle: Callable[[WebRequest], WebResponse]
    max_body: int = 64 * 1024


@dataclass(frozen=True)
class Context:
    """What a platform's services are built from. `sources`: the sources as they stand
    now (the catalog: sources added from Slack count); `environ`: where the variables
    the newsroom file names are read."""

    config: Config
    environ: Mapping[str, str]
    sources: Callable[[], tuple[Source, ...]]
    clock: Clock
    timeout: float = 10.0  # seconds to wait for the platform
    engine: Engine | None = None  # Vigie's database, for a platform that keeps state (X's spend)


class Replier(Protocol):
    """Answers mentions on one platform (`bot.replies.platforms` dispatches by kind)."""

    doubt: Doubt  # how an unknown outcome is settled

    def target(self, mention: Mention) -> Target:
        """How `mention` is answered: by Vigie (kind = the platform) or by hand, why."""
        ...

    def send(self, reply: Reply, mention: Mention) -> Sent:
        """Send once; raise `SendFailed` (certainly not sent) or `SendUnconfirmed`."""
        ...

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        """After an unknown outcome: the reply if it is there, None if it certainly is
        not; `SendFailed` when the platform cannot be asked, `Unproven` when the answer
        cannot prove absence."""
        ...


class Moderator(Protocol):
    """Moderation actions on one platform, as the newsroom account the mention was for."""

    def actions_for(self, mention: Mention) -> list[str]:
        """The actions possible on this mention (`ActionKind` values, a subset of the
        platform's `moderation`); raises `NotPossible` with a catalogue key."""
        ...

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        """Do it; raise `ActionFailed` (nothing known to have changed) or `NotPossible`."""
        ...

    def undo(self, row: ModerationAction) -> None:
        """Lift what `row` did (a mute, a block, a hide)."""
        ...


@dataclass
class Connection:
    """One platform's services in one running Vigie. None: the platform lacks it."""

    poll: Connector | None = None
    push: Callable[[Intake], Sequence[WebRoute]] | None = None
    fetcher: PostFetcher | None = None
    replier: Replier | None = None
    publisher: Publisher | None = None
    moderator: Moderator | None = None
    check: Callable[[Source], str | None] | None = None
    notes: Callable[[], list[str]] = field(default=lambda: [])
    background: Sequence[Callable[[], None]] = ()


class Platform:
    """A platform's declarations, and `connect` to build its services."""

    name: ClassVar[str]  # source `type`, post target `kind`, `Mention.platform`
    label: ClassVar[str]  # "Mastodon", shown to staff
    emoji: ClassVar[str] = ":speech_balloon:"  # on cards
    listens: ClassVar[frozenset[Listen]] = frozenset()
    source_fields: ClassVar[tuple[SourceField, ...]] = ()
    poll_every: ClassVar[int] = 300  # seconds between polls when the source gives none
    text: ClassVar[TextRules | None] = None  # what Vigie publishes there; None: nothing
    reply_text: ClassVar[TextRules | None] = None  # replies, when counted differently
    replies: ClassVar[bool] = False
    publishes: ClassVar[bool] = False
    moderation: ClassVar[frozenset[str]] = frozenset()  # `ActionKind` values that exist

    @property
    def polled(self) -> bool:
        return "poll" in self.listens

    def reply_rules(self) -> TextRules | None:
        return self.reply_text or self.text

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        """What is wrong, offline, with the variables `source` names (unset, too short)."""
        return []

    def unset_variable(self, source: Source, key: str, index: int,
                       environ: Mapping[str, str], *, holds: str, fix: str) -> list[Problem]:
        """The problem of a source whose `key` names a variable that is not set
        (`holds`: what the source reads there), for `secret_problems`."""
        name = source.setting(key)
        if not name or environ.get(name):
            return []
        return [Problem(name, f"is not set; {self.label} source {source.id!r} "
                        f"(sources[{index}]) reads {holds} there", fix)]

    def connect(self, context: Context) -> Connection:
        raise NotImplementedError


class Connected:
    """Every platform's `Connection` in one running Vigie, checked against what each
    platform declares."""

    def __init__(self, platforms: Sequence[Platform], context: Context) -> None:
        self.context = context
        self._by_name: dict[str, tuple[Platform, Connection]] = {}
        for platform in platforms:
            connection = platform.connect(context)
            _check_declarations(platform, connection)
            self._by_name[platform.name] = (platform, connection)

    def __iter__(self) -> Any:
        return iter(self._by_name.values())

    def connection(self, name: str) -> Connection | None:
        found = self._by_name.get(name)
        return found[1] if found else None

    def pollers(self) -> dict[str, Connector]:
        return {p.name: c.poll for p, c in self if c.poll is not None}

    def routes(self, intake: Intake) -> list[WebRoute]:
        return [route for _, c in self if c.push is not None for route in c.push(intake)]

    def fetchers(self) -> list[PostFetcher]:
        return [c.fetcher for _, c in self if c.fetcher is not None]

    def repliers(self) -> dict[str, Replier]:
        return {p.name: c.replier for p, c in self if c.replier is not None}

    def publishers(self) -> list[Publisher]:
        return [c.publisher for _, c in self if c.publisher is not None]

    def moderators(self) -> dict[str, Moderator]:
        return {p.name: c.moderator for p, c in self if c.moderator is not None}

    def background(self) -> list[tuple[str, Callable[[], None]]]:
        """(platform name, job) for what runs once on a thread at start."""
        return [(p.name, job) for p, c in self for job in c.background]


def _check_declarations(platform: Platform, connection: Connection) -> None:
    """A platform's services must be exactly what it declares: the UI trusts those."""
    pairs = {"poll": ("poll" in platform.listens, connection.poll),
             "push": ("push" in platform.listens, connection.push),
             "replier": (platform.replies, connection.replier),
             "publisher": (platform.publishes, connection.publisher),
             "moderator": (bool(platform.moderation), connection.moderator)}
    for part, (declared, built) in pairs.items():
        if declared != (built is not None):
            raise TypeError(f"platform {platform.name!r}: {part} "
                            f"{'declared but not built' if declared else 'built, not declared'}")
