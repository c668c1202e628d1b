"""What the posts subject (issue 6) adds to the App Home and to reports.

Home: the next scheduled posts, and the drafts awaiting approval — editors see every
draft they can approve ("to approve"), others their own drafts. Report: posts published
and failed in the period, per day (a chart) and the failures by name. A post belongs to
an account or channel scope when one of its targets does (`[[posts.targets]]`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import Config
from bot.i18n import catalogue
from bot.posts.messages import when_text
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState
from bot.reasons import shown_reason
from bot.reports import formats
from bot.reports.queries import Scope, local_days
from bot.reports.sections import Block, ReportContext, SectionOutput, Viewer
from bot.slack_format import escape, escaped_within, link, mrkdwn

WAITING = (PostState.PENDING, PostState.EXPIRED)  # an editor's decision is awaited
LISTED = 5
EXCERPT = 90
FAILED_LISTED = 5
OUTCOME_COLOURS = {"published": "#2a9d8f", "failed": "#e63946"}


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"dashboard.posts.{key}", **params)


class PostsSections:
    def __init__(self, *, engine: Engine, config: Config,
                 workspace_url: Callable[[], str | None],
                 editors: Callable[[], frozenset[str]]) -> None:
        self._engine = engine
        self._config = config
        self._workspace_url = workspace_url
        self._editors = editors

    # -- App Home ------------------------------------------------------------------------------
    def home(self, viewer: Viewer, budget: int) -> list[Block]:
        if budget < 1:
            return []
        with Session(self._engine) as session:
            upcoming = list(session.exec(
                select(Post).where(col(Post.state) == PostState.APPROVED)
                .where(col(Post.publish_at) >= viewer.now)
                .order_by(col(Post.publish_at), col(Post.id)).limit(LISTED)))
            waiting = select(Post).where(col(Post.state).in_(WAITING))
            if not viewer.is_editor:
                waiting = waiting.where(col(Post.author_id) == viewer.user_id)
            drafts = list(session.exec(waiting.order_by(col(Post.created_at)).limit(LISTED)))
            count = session.exec(select(func.count()).select_from(
                waiting.subquery())).one()
            targets = _targets(session, [p.id or 0 for p in upcoming + drafts])
        locale, zone = viewer.locale, viewer.zone
        lines = [f"*{_t(locale, 'upcoming_title')}*"]
        lines += [self._line(p, targets, locale, zone) for p in upcoming] or \
            [_t(locale, "upcoming_empty")]
        key = "to_approve_title" if viewer.is_editor else "your_drafts_title"
        waiting_lines = [f"*{_t(locale, key, count=formats.number(int(count), locale))}*"]
        waiting_lines += [self._line(p, targets, locale, zone, author=True) for p in drafts] or \
            [_t(locale, "drafts_empty")]
        return [{"type": "section", "block_id": "home_posts_upcoming",
                 "text": mrkdwn("\n".join(lines)[:2990])},
                {"type": "section", "block_id": "home_posts_waiting",
                 "text": mrkdwn("\n".join(waiting_lines)[:2990])}][:budget]

    def _line(self, post: Post, targets: dict[int, list[str]], locale: str, zone: str, *,
              author: bool = False) -> str:
        where = ", ".join(escape(self._label(t)) for t in targets.get(post.id or 0, [])) or "—"
        text = escaped_within(" ".join(post.text.split()), EXCERPT)
        line = f"• {when_text(post.publish_at, locale, zone)} → {where}: {text}"
        if author:
            line += " · " + _t(locale, "by", author=f"<@{post.author_id}>")
        workspace = self._workspace_url()
        if workspace and post.preview_channel and post.preview_ts:
            url = (f"{workspace.rstrip('/')}/archives/{post.preview_channel}/"
                   f"p{post.preview_ts.replace('.', '')}")
            line += " · " + link(url, _t(locale, "open"))
        return line

    def _label(self, target_id: str) -> str:
        target = self._config.posts.target(target_id)
        return target.label if target else target_id

    def people_to_refresh(self, post_id: int) -> set[str]:
        """Whose Home may show this post: its author, and the editors (it enters or
        leaves their "to approve" list, or their next scheduled posts)."""
        with Session(self._engine) as session:
            post = session.get(Post, post_id)
        if post is None:
            return set()
        return {post.author_id, *self._editors()}

    # -- reports -------------------------------------------------------------------------------
    def _in_scope(self, scope: Scope) -> set[str] | None:
        """The target ids of the scope's account or channel; None: every target."""
        if scope.account is None and scope.channel is None:
            return None
        return {t.id for t in self._config.posts.targets
                if (scope.account is None or t.account == scope.account)
                and (scope.channel is None or t.channel == scope.channel)}

    def report(self, context: ReportContext) -> SectionOutput:
        scope, locale = context.scope, context.locale
        wanted = self._in_scope(scope)
        with Session(self._engine) as session:
            statement = (
                select(Post).where(col(Post.state).in_([PostState.PUBLISHED, PostState.FAILED]))
                .where(col(Post.finished_at) >= scope.start)
                .where(col(Post.finished_at) < scope.end)
                .order_by(col(Post.finished_at), col(Post.id)))
            posts = list(session.exec(statement))
            deliveries = list(session.exec(select(PostDelivery).where(
                col(PostDelivery.post_id).in_([p.id or 0 for p in posts]))))
        if wanted is not None:
            kept = {d.post_id for d in deliveries if d.target_id in wanted}
            posts = [p for p in posts if p.id in kept]
            deliveries = [d for d in deliveries if d.post_id in kept]
        days = local_days(scope.start, scope.end, context.zone)
        index = {day: n for n, day in enumerate(days)}
        series = {"published": [0] * len(days), "failed": [0] * len(days)}
        tz = ZoneInfo(context.zone)
        for post in posts:
            assert post.finished_at is not None
            position = index.get(post.finished_at.astimezone(tz).date())
            if position is not None:
                series[str(post.state)][position] += 1
        outcomes = Counter(str(d.state) for d in deliveries)
        published, failed = sum(series["published"]), sum(series["failed"])
        lines = [f"*{_t(locale, 'report_title')}* " + _t(
            locale, "report_line", published=formats.number(published, locale),
            failed=formats.number(failed, locale),
            deliveries=formats.number(outcomes.get(DeliveryState.PUBLISHED, 0), locale))]
        failures = [p for p in posts if p.state == PostState.FAILED]
        reasons = _reasons(deliveries, locale)
        for post in failures[-FAILED_LISTED:]:
            lines.append("• :warning: " + escaped_within(" ".join(post.text.split()), EXCERPT)
                         + (f" — {reasons[post.id or 0]}" if post.id in reasons else ""))
        from bot.reports import charts  # matplotlib: loaded by the first report

        chart = charts.outcome_by_day(
            filename=f"vigie-posts-{days[-1].isoformat()}.png",
            title=_t(locale, "chart_title"), days=days, series=series,
            colours=OUTCOME_COLOURS, labels=lambda key: _t(locale, f"chart_{key}"),
            locale=locale, empty=_t(locale, "chart_empty"))
        return SectionOutput(blocks=[{"type": "section", "block_id": "report_posts",
                                      "text": mrkdwn("\n".join(lines)[:2990])}],
                             charts=[chart])


def _targets(session: Session, post_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not post_ids:
        return found
    for post_id, target in session.exec(
            select(PostDelivery.post_id, PostDelivery.target_id)
            .where(col(PostDelivery.post_id).in_(list(post_ids)))
            .order_by(col(PostDelivery.id))):
        found.setdefault(post_id, []).append(target)
    return found


def _reasons(deliveries: Sequence[PostDelivery], locale: str) -> dict[int, str]:
    """Why each failed post failed (its first failed target), as mrkdwn in `locale`."""
    reasons: dict[int, str] = {}
    for delivery in deliveries:
        if delivery.state != DeliveryState.PUBLISHED and delivery.error:
            reasons.setdefault(delivery.post_id, escaped_within(delivery.target_id, 60) + ": "
                               + shown_reason(delivery.error, locale, limit=140))
    return reasons

