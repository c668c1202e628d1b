"""Reply templates: the shipped files under `templates/replies/<locale>/<name>.j2`, and
the ones written or changed from Slack (`/vigie templates`), kept in the database with
their history. A row shadows the file of the same locale and name: that is how a default
is edited or archived without touching the files.

Templates are written by people and fed with text written by strangers (the mention),
so they render in Jinja2's sandbox (`ImmutableSandboxedEnvironment`: no attribute that
starts with `_`, no mutation, bounded `range`) with bounds of its own (`ReplySandbox`: no
text or list over `MAX_BUILT` built on the way, no more than `MAX_STEPS` template lines
run, so a loop inside a loop or a doubling text cannot stall a worker or fill memory), with
`StrictUndefined`, and only with the documented variables below. A template is checked
when it is saved, and refused with the line and the reason when it names an unknown
variable or attribute, reaches for Python internals (`{{ ''.__class__ }}`), does not
parse, or fails to render with sample mentions of every kind. Rendering for a real
mention either returns the whole text or raises: nothing half-rendered can be sent.

Variables (`VARIABLES`):
- `author.handle` (@kev59@mamot.example), `author.name` (display name, else the handle)
- `account.id`, `account.name`, `account.schedule` (from `[replies.schedule]`), and
  `show`, the same as `account.name`
- `mention.text`, `mention.url`, `mention.platform`, `mention.language`,
  `mention.received` (a date-time: use the filters below)
- `staff.first_name`, `staff.name`: who answers
- `newsroom`: the newsroom's name
- `platform` (Mastodon, Bluesky…), `limit` (its character limit, or none),
  `remaining` (characters left for the text once Vigie adds the author's handle)
- `today` (2 novembre 2026 / November 2, 2026), `now` (9 h 14 / 9:14 am), in the
  newsroom's time zone and the template's language
Filters: `date` (`{{ mention.received | date }}`, `| date("short")`), `time`,
`weekday`, `shorten(n)` (cut at a word, with …), plus Jinja's own (`upper`, `default`…).
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache, wraps
from pathlib import Path
from types import BuiltinFunctionType, FrameType
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.i18n import LOCALES, catalogue
from bot.paths import templates_dir
from bot.replies.models import ReplyTemplateRevision, ReplyTemplateRow, TemplateAction

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TITLE_LINE = re.compile(r"^\{#-?\s*title:\s*(.+?)\s*-?#\}\s*$")
MAX_BODY = 3000  # what a Slack text input holds
MAX_OUTPUT = 10_000
MAX_REPEAT = 10_000  # longest string or list `*` may build
MAX_BUILT = 100_000  # longest text or list a render may build on the way (and number in a call)
MAX_STEPS = 200_000  # template lines one render may run (a shipped one runs a few dozen)
_WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*?(\d{6,}|\*)|\{[^{}]*\d{6,}[^{}]*\}")
DOCUMENTED: dict[str, tuple[str, ...] | None] = {
    "author": ("handle", "name"),
    "account": ("id", "name", "schedule"),
    "show": None,
    "mention": ("text", "url", "platform", "language", "received"),
    "staff": ("first_name", "name"),
    "newsroom": None,
    "platform": None,
    "limit": None,
    "remaining": None,
    "today": None,
    "now": None,
}
VARIABLES = tuple(
    name if attrs is None else f"{name}.{attr}"
    for name, attrs in DOCUMENTED.items() for attr in (attrs or (None,))
)
GLOBALS = ("range",)


# -- problems -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """What is wrong with a template, as a text key and its parameters, so it can be said
    in each reader's language; `line` when one line is to blame."""

    code: str
    line: int | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self, locale: str) -> str:
        t = catalogue().text
        reason = t(locale, f"replies.problem.{self.code}", **self.params)
        return t(locale, "replies.problem.at_line", line=self.line, reason=reason) \
            if self.line else reason


class TemplateProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.code} (line {problem.line}): {dict(problem.params)}")
        self.problem = problem


# -- words of dates, in both languages ------------------------------------------------------------
_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}
_DAYS = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def long_date(day: date, locale: str) -> str:
    month = _MONTHS[_lang(locale)][day.month - 1]
    if _lang(locale) == "fr":
        return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
    return f"{month} {day.day}, {day.year}"


def short_date(day: date, locale: str) -> str:
    return day.strftime("%d/%m/%Y" if _lang(locale) == "fr" else "%m/%d/%Y")


def clock_time(moment: time, locale: str) -> str:
    if _lang(locale) == "fr":
        return f"{moment.hour} h {moment.minute:02d}"
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def weekday_name(day: date, locale: str) -> str:
    return _DAYS[_lang(locale)][day.weekday()]


def _lang(locale: str) -> str:
    return locale if locale in _MONTHS else "en"


def shorten(text: object, length: int = 100) -> str:
    """Cut at a word boundary to at most `length` characters, marking the cut."""
    value = " ".join(str(text).split())
    if len(value) <= length:
        return value
    cut = value[: max(length - 1, 1)]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


# -- the sandbox ---------------------------------------------------------------------------------
class TooMuchWork(SecurityError):
    """A render that loops or builds beyond the bounds: refused, never waited for."""


def _too_big(value: Any) -> bool:
    return isinstance(value, str | list | tuple) and len(value) > MAX_BUILT


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """No number in a call can ask for more than `MAX_BUILT` of anything (`center(10**9)`)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and abs(value) > MAX_BUILT:
            raise TooMuchWork(f"{value} is too large a number for a template")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = max(0, len(new) - len(old)) * (text.count(old) if old else len(text) + 1)
        if len(text) + grows > MAX_BUILT:
            raise TooMuchWork("replace would build too long a text")


def _check_format(text: Any) -> None:
    """`'%999999999d' % 1` or `'{:>999999999}'.format(1)` would build a gigabyte."""
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise TooMuchWork("a format width over 5 digits")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        values = [a for a in args if not isinstance(a, Context | ReplySandbox)]
        if name == "replace" and len(values) >= 3:
            _check_replace(values[0], values[1], values[2])
        if name == "format" and values:
            _check_format(values[0])
        result = function(*args, **kwargs)
        if _too_big(result):
            raise TooMuchWork(f"{name} built too long a text or list")
        return result

    return bounded


class _BoundedConcat(CodeGenerator):
    """`a ~ b` joins through `ReplySandbox.concat`, which is bounded."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat(map(str, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class ReplySandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, bounded: no text or list over `MAX_BUILT` is built (by
    `*`, `+`, `~`, `%`, a call, a filter or a block), and `steps` counts the lines run."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedConcat

    def concat(self, parts: Iterable[str]) -> str:
        """Joins a block's or a render's output, refusing past `MAX_BUILT` characters
        (the parts come from a generator: nothing beyond the bound is produced)."""
        kept: list[str] = []
        size = 0
        for part in parts:
            size += len(part)
            if size > MAX_BUILT:
                raise TooMuchWork(f"the template builds over {MAX_BUILT} characters")
            kept.append(part)
        return "".join(kept)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large for a reply template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) \
                        and len(seq) * times > MAX_REPEAT:
                    raise SecurityError("repetition too large for a reply template")
        if operator == "+" and isinstance(left, str | list | tuple) \
                and isinstance(right, str | list | tuple) and len(left) + len(right) > MAX_BUILT:
            raise TooMuchWork(f"+ would build over {MAX_BUILT} characters")
        if operator == "%":
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        if _too_big(result):
            raise TooMuchWork(f"{operator} built over {MAX_BUILT} characters")
        return result

    def call(__self, __context: Context, __obj: Any,  # Jinja's own signature
             *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        method = getattr(__obj, "__wrapped__", __obj)  # Jinja wraps `str.format`
        owner = getattr(method, "__self__", None)
        if isinstance(method, BuiltinFunctionType) and isinstance(owner, str):
            if method.__name__ == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
            if method.__name__ in ("format", "format_map"):
                _check_format(owner)
        result = super().call(__context, __obj, *args, **kwargs)
        if _too_big(result):
            raise TooMuchWork(f"a call built over {MAX_BUILT} characters")
        return result


class _Steps:
    """Counts the template lines a render runs on this thread, and stops it past
    `MAX_STEPS`: a loop inside a loop that prints nothing would otherwise run for hours
    (Jinja has no hook in its loops; the trace sees only the template's own frames)."""

    def __init__(self, limit: int = MAX_STEPS) -> None:
        self.left = limit
        self._previous: Any = None

    def __enter__(self) -> _Steps:
        self._previous = sys.gettrace()
        sys.settrace(self._enter_frame)
        return self

    def __exit__(self, *_: object) -> None:
        sys.settrace(self._previous)

    def _enter_frame(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self._count if frame.f_code.co_filename == "<template>" else None

    def _count(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.left -= 1
            if self.left < 0:
                raise TooMuchWork(f"the template runs over {MAX_STEPS} steps")
        return self._count


def _environment(locale: str, timezone: str) -> ReplySandbox:
    env = ReplySandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                       trim_blocks=True, lstrip_blocks=True)
    env.globals = {name: env.globals[name] for name in GLOBALS}
    zone = ZoneInfo(timezone)

    def local(value: Any) -> Any:
        return value.astimezone(zone) if isinstance(value, datetime) else value

    def date_filter(value: Any, style: str = "long") -> str:
        moment = local(value)
        day = moment.date() if isinstance(moment, datetime) else moment
        if not isinstance(day, date):
            raise TypeError(f"date expects a date, not {type(value).__name__}")
        return short_date(day, locale) if style == "short" else long_date(day, locale)

    def time_filter(value: Any) -> str:
        moment = local(value)
        if not isinstance(moment, datetime | time):
            raise TypeError(f"time expects a date-time, not {type(value).__name__}")
        return clock_time(moment.time() if isinstance(moment, datetime) else moment, locale)

    def weekday_filter(value: Any) -> str:
        moment = local(value)
        day = moment.date() if isinstance(moment, datetime) else moment
        if not isinstance(day, date):
            raise TypeError(f"weekday expects a date, not {type(value).__name__}")
        return weekday_name(day, locale)

    env.filters.update(date=date_filter, time=time_filter, weekday=weekday_filter,
                       shorten=shorten)
    env.filters = {name: _bounded_filter(name, function)
                   for name, function in env.filters.items()}
    return env


@lru_cache(maxsize=16)
def environment(locale: str, timezone: str) -> ReplySandbox:
    return _environment(locale, timezone)


# -- checking and rendering ---------------------------------------------------------------------
def check_source(body: str, locale: str, timezone: str) -> None:
    """Refuse, with the line and the reason, what would fail for some mention: syntax,
    unknown names and attributes, anything starting with `_`. Raises `TemplateProblem`."""
    if not body.strip():
        raise TemplateProblem(Problem("empty"))
    if len(body) > MAX_BODY:
        raise TemplateProblem(Problem("too_long", params={"limit": MAX_BODY,
                                                          "length": len(body)}))
    env = environment(locale, timezone)
    try:
        tree = env.parse(body)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(Problem("syntax", exc.lineno, {"detail": exc.message or ""})
                              ) from None
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    lookups = [_lookup(node) for node in tree.find_all((nodes.Getattr, nodes.Getitem))
               if isinstance(node, nodes.Getattr | nodes.Getitem)]
    for _owner, attr, at in lookups:
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateProblem(Problem("unsafe", at, {"name": attr}))
    for node in tree.find_all(nodes.Filter):
        if node.name == "attr":
            raise TemplateProblem(Problem("unsafe", node.lineno, {"name": "attr"}))
        if node.name not in env.filters:
            raise TemplateProblem(Problem("unknown_filter", node.lineno, {"name": node.name}))
    known = set(DOCUMENTED) | set(env.globals)
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in known:
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
            raise TemplateProblem(Problem("unknown_variable", line, {
                "name": name, "known": ", ".join(VARIABLES)}))
    for owner, attr, at in lookups:
        if owner is None or owner in assigned:
            continue
        attrs = DOCUMENTED.get(owner)
        if attrs is not None and isinstance(attr, str) and attr not in attrs:
            raise TemplateProblem(Problem("unknown_attribute", at, {
                "name": f"{owner}.{attr}", "known": ", ".join(f"{owner}.{a}" for a in attrs)}))


def _lookup(node: nodes.Getattr | nodes.Getitem) -> tuple[str | None, object, int]:
    """(name looked into when it is a plain variable, attribute or key, line) of
    `a.b` or `a['b']`."""
    owner = node.node.name if isinstance(node.node, nodes.Name) else None
    attr = node.attr if isinstance(node, nodes.Getattr) else _constant(node.arg)
    return owner, attr, node.lineno


def _constant(node: nodes.Node) -> object:
    return node.value if isinstance(node, nodes.Const) else None


@lru_cache(maxsize=512)
def _compiled(locale: str, timezone: str, body: str) -> Template:
    """Compiling is most of a render's cost; a template's text is its own cache key."""
    return environment(locale, timezone).from_string(body)


def render(body: str, context: Mapping[str, Any], *, locale: str, timezone: str) -> str:
    """The whole rendered text, or `TemplateProblem`: never a partial answer."""
    try:
        template = _compiled(locale, timezone, body)
        with _Steps():
            text = template.render(dict(context))
    except TemplateSyntaxError as exc:
        raise TemplateProblem(Problem("syntax", exc.lineno, {"detail": exc.message or ""})
                              ) from None
    except TooMuchWork as exc:
        raise TemplateProblem(Problem("too_much_work", _line(exc), {
            "limit": MAX_BUILT, "steps": MAX_STEPS})) from None
    except SecurityError as exc:
        raise TemplateProblem(Problem("unsafe_render", _line(exc), {"detail": str(exc)})
                              ) from None
    except UndefinedError as exc:
        raise TemplateProblem(Problem("undefined", _line(exc), {"detail": str(exc)})) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError,
            AttributeError, RecursionError) as exc:
        raise TemplateProblem(Problem("render", _line(exc), {
            "detail": f"{type(exc).__name__}: {exc}"[:300]})) from None
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise TemplateProblem(Problem("renders_empty"))
    if len(text) > MAX_OUTPUT:
        raise TemplateProblem(Problem("output_too_long", params={"limit": MAX_OUTPUT}))
    return text


def _line(exc: BaseException) -> int | None:
    """The template line a runtime error happened on (Jinja puts it in the traceback)."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == "<template>"]
    return lines[-1] if lines else None


def validate(body: str, *, locale: str, timezone: str,
             samples: Iterable[Mapping[str, Any]]) -> None:
    """What saving a template runs: the static check, then a render with every sample."""
    check_source(body, locale, timezone)
    for sample in samples:
        render(body, sample, locale=locale, timezone=timezone)


# -- the library: files and database -----------------------------------------------------------
@dataclass(frozen=True)
class ReplyTemplate:
    locale: str
    name: str
    title: str
    body: str
    origin: str  # "shipped" (a file), "edited" (a file changed from Slack), "custom"
    archived: bool = False
    version: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.locale}/{self.name}"


class TemplateRefused(Exception):
    """A form that cannot be saved: field → problem."""

    def __init__(self, errors: Mapping[str, Problem]) -> None:
        super().__init__(", ".join(f"{k}: {v.code}" for k, v in errors.items()))
        self.errors = dict(errors)


def read_shipped(directory: Path) -> dict[str, ReplyTemplate]:
    """The shipped templates: `<locale>/<name>.j2`, titled by their first line."""
    found: dict[str, ReplyTemplate] = {}
    for locale in LOCALES:
        for path in sorted((directory / locale).glob("*.j2")):
            first, _, rest = path.read_text("utf-8").partition("\n")
            match = TITLE_LINE.match(first)
            title = match.group(1) if match else path.stem
            body = rest if match else f"{first}\n{rest}"
            template = ReplyTemplate(locale, path.stem, title, body.strip("\n"), "shipped")
            found[template.key] = template
    return found


Samples = Callable[[str], list[dict[str, Any]]]


class TemplateLibrary:
    """Reads and saves reply templates; every save is validated and kept in history."""

    def __init__(self, *, engine: Engine, clock: Clock, timezone: str, samples: Samples,
                 directory: Path | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._timezone = timezone
        self._samples = samples
        self._shipped = read_shipped(directory or templates_dir() / "replies")

    @property
    def timezone(self) -> str:
        return self._timezone

    def all(self) -> list[ReplyTemplate]:
        """Every template, archived ones included, by locale then title."""
        merged = dict(self._shipped)
        with Session(self._engine) as session:
            rows = session.exec(select(ReplyTemplateRow)).all()
        for row in rows:
            key = f"{row.locale}/{row.name}"
            merged[key] = ReplyTemplate(
                row.locale, row.name, row.title, row.body,
                "edited" if key in self._shipped else "custom", row.archived, row.version,
                row.updated_by, row.updated_at)
        return sorted(merged.values(), key=lambda t: (t.locale, t.title.lower(), t.name))

    def usable(self, first_locale: str | None) -> list[ReplyTemplate]:
        """The templates a reply can use, those in `first_locale` first."""
        live = [t for t in self.all() if not t.archived]
        return sorted(live, key=lambda t: t.locale != first_locale)

    def get(self, key: str) -> ReplyTemplate | None:
        return next((t for t in self.all() if t.key == key), None)

    def render(self, key: str, context: Mapping[str, Any]) -> str:
        template = self.get(key)
        if template is None or template.archived:
            raise TemplateProblem(Problem("gone", params={"template": key}))
        return render(template.body, context, locale=template.locale, timezone=self._timezone)

    def check(self, body: str, locale: str) -> None:
        """Raises `TemplateProblem` for a body that must not be saved."""
        validate(body, locale=locale, timezone=self._timezone, samples=self._samples(locale))

    # -- changes (editors only: the caller checks) ---------------------------------------------
    def save(self, user_id: str, *, locale: str, name: str, title: str, body: str,
             existing: str | None, seen_version: int | None) -> ReplyTemplate:
        """Create (`existing` None) or change the template `existing` (its key)."""
        name, title, body = name.strip().lower(), " ".join(title.split()), body.strip("\n")
        errors: dict[str, Problem] = {}
        if existing is None:
            if locale not in LOCALES:
                errors["locale"] = Problem("bad_locale")
            if not NAME.match(name):
                errors["name"] = Problem("bad_name")
            elif self.get(f"{locale}/{name}") is not None:
                errors["name"] = Problem("name_taken", params={"template": f"{locale}/{name}"})
        else:
            locale, _, name = existing.partition("/")
        if not title:
            errors["title"] = Problem("no_title")
        elif len(title) > 150:
            errors["title"] = Problem("title_too_long", params={"limit": 150})
        try:
            self.check(body, locale)
        except TemplateProblem as exc:
            errors["body"] = exc.problem
        if errors:
            raise TemplateRefused(errors)
        return self._write(user_id, locale, name, title=title, body=body, archived=None,
                           seen_version=seen_version, creating=existing is None)

    def archive(self, user_id: str, key: str, *, archived: bool = True) -> ReplyTemplate:
        template = self.get(key)
        if template is None:
            raise TemplateRefused({"key": Problem("gone", params={"template": key})})
        if template.archived == archived:
            return template
        return self._write(user_id, template.locale, template.name, title=template.title,
                           body=template.body, archived=archived,
                           seen_version=template.version, creating=False)

    def _write(self, user_id: str, locale: str, name: str, *, title: str, body: str,
               archived: bool | None, seen_version: int | None,
               creating: bool) -> ReplyTemplate:
        now = self._clock.now()
        key = f"{locale}/{name}"
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.exec(select(ReplyTemplateRow)
                               .where(col(ReplyTemplateRow.locale) == locale)
                               .where(col(ReplyTemplateRow.name) == name)).first()
            if row is None:
                if not creating and key not in self._shipped:
                    raise TemplateRefused({"key": Problem("gone", params={"template": key})})
                row = ReplyTemplateRow(locale=locale, name=name, title=title, body=body,
                                       archived=bool(archived), version=1, created_by=user_id,
                                       created_at=now, updated_by=user_id, updated_at=now)
                action = TemplateAction.CREATED if creating else (
                    TemplateAction.ARCHIVED if archived else TemplateAction.EDITED)
            else:
                if creating or (seen_version is not None and seen_version != row.version):
                    raise TemplateRefused({"body": Problem("changed_meanwhile", params={
                        "user": row.updated_by})})
                action = (TemplateAction.EDITED if archived is None else
                          TemplateAction.ARCHIVED if archived else TemplateAction.RESTORED)
                row.title, row.body, row.version = title, body, row.version + 1
                if archived is not None:
                    row.archived = archived
                row.updated_by, row.updated_at = user_id, now
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # someone created the same name at the same moment
                session.rollback()
                raise TemplateRefused({"name": Problem("name_taken", params={"template": key})}
                                      ) from None
            session.add(ReplyTemplateRevision(
                template_id=row.id or 0, version=row.version, action=action, title=row.title,
                body=row.body, archived=row.archived, by=user_id, at=now))
            session.commit()
        saved = self.get(key)
        assert saved is not None
        return saved

    def history(self, key: str) -> list[ReplyTemplateRevision]:
        locale, _, name = key.partition("/")
        with Session(self._engine) as session:
            row = session.exec(select(ReplyTemplateRow)
                               .where(col(ReplyTemplateRow.locale) == locale)
                               .where(col(ReplyTemplateRow.name) == name)).first()
            if row is None:
                return []
            return list(session.exec(
                select(ReplyTemplateRevision)
                .where(col(ReplyTemplateRevision.template_id) == row.id)
                .order_by(col(ReplyTemplateRevision.version))).all())
