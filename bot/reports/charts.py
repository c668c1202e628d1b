"""Charts of the report as PNG images, drawn with matplotlib's Agg canvas (no display).

The object API is used (`Figure` + `FigureCanvasAgg`), never `pyplot`: no global state,
nothing kept between reports. Margins are fixed per kind of chart rather than computed
by matplotlib's layout engines, which cost more than the drawing (bench/report.py).
Every label is in the newsroom's language, and numbers use its decimal separator (see
`bot.reports.formats`). Each chart is `WIDTH` × `HEIGHT` pixels exactly: Slack shows
them side by side at the same size.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.i18n import catalogue
from bot.reports import formats
from bot.reports.queries import Load, Spread
from bot.reports.sections import Chart

WIDTH, HEIGHT, DPI = 1200, 600, 100
SENTIMENT_COLOURS = {"positive": "#2a9d8f", "neutral": "#8d99ae", "negative": "#e63946",
                     "unqualified": "#d9d9d9"}
CATEGORY_COLOURS = {"question": "#457b9d", "complaint": "#f4a261", "praise": "#2a9d8f",
                    "crisis": "#e63946", "spam": "#6d597a", "other": "#e9c46a",
                    "unqualified": "#d9d9d9"}
PALETTE = ("#264653", "#e9c46a", "#f4a261", "#2a9d8f", "#e76f51", "#8ab17d", "#6d597a",
           "#b56576", "#457b9d", "#a8dadc")
OTHERS_COLOUR = "#cccccc"
MAX_SERIES = 8  # beyond, the smallest series are summed as "others"
MAX_PEOPLE = 12
LABEL = 22  # characters of a legend or axis label (names, sources) before "…"
_LOCK = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"report.{key}", **params)


def _figure(*, left: float = 0.07, right: float = 0.97, top: float = 0.88,
            bottom: float = 0.1, wspace: float = 0.2) -> Figure:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    figure.patch.set_facecolor("white")
    figure.subplots_adjust(left=left, right=right, top=top, bottom=bottom, wspace=wspace)
    return figure


def _short(text: str) -> str:
    return text if len(text) <= LABEL else text[:LABEL - 1] + "…"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


Inspect = Callable[[Figure], None] | None  # tests look at the drawn figure (tick labels)


def _chart(figure: Figure, filename: str, title: str, alt_text: str,
           inspect: Inspect = None) -> Chart:
    png = _png(figure)
    if inspect is not None:
        inspect(figure)
    return Chart(filename=filename, title=title, png=png, alt_text=alt_text[:1900],
                 width=WIDTH, height=HEIGHT)


def _count_axis(axis: Axes, locale: str, *, horizontal: bool = False) -> None:
    target = axis.xaxis if horizontal else axis.yaxis
    target.set_major_locator(MaxNLocator(integer=True, nbins=6))
    target.set_major_formatter(FuncFormatter(lambda value, _: formats.number(value, locale)))


def _style(axis: Axes) -> None:
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)
    axis.grid(axis="y", color="#eeeeee", linewidth=0.8)
    axis.set_axisbelow(True)


def _empty(axis: Axes, text: str) -> None:
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center",
              fontsize=14, color="#777777")
    axis.set_xticks([])
    axis.set_yticks([])


def _day_ticks(axis: Axes, days: Sequence[date], locale: str) -> None:
    step = max(1, -(-len(days) // 14))  # at most 14 labels
    positions = list(range(0, len(days), step))
    labels = [formats.day_label(days[n], locale) if len(days) <= 14
              else formats.short_date(days[n], locale) for n in positions]
    axis.set_xticks(positions, labels, rotation=0 if len(days) <= 7 else 45,
                    ha="center" if len(days) <= 7 else "right")


def _top_series(series: dict[str, list[int]], others: str, limit: int = MAX_SERIES
                ) -> dict[str, list[int]]:
    """The biggest `limit - 1` series, and the rest summed under `others`."""
    ranked = sorted(((k, v) for k, v in series.items() if sum(v)), key=lambda kv: -sum(kv[1]))
    if len(ranked) <= limit:
        return dict(ranked)
    kept = dict(ranked[:limit - 1])
    length = len(ranked[0][1])
    kept[others] = [sum(v[n] for _, v in ranked[limit - 1:]) for n in range(length)]
    return kept


def stacked_by_day(*, filename: str, title: str, days: Sequence[date],
                   series: dict[str, list[int]], labels: Callable[[str], str],
                   colours: dict[str, str] | None, locale: str, inspect: Inspect = None
                   ) -> Chart:
    """Mentions per day, one stacked colour per series (sentiment, source, category)."""
    others = _t(locale, "chart.others")
    shown = _top_series(series, others) if colours is None else \
        {k: v for k, v in series.items() if sum(v)}
    with _LOCK:
        figure = _figure(right=0.8, bottom=0.1 if len(days) <= 7 else 0.16)
        axis = figure.add_subplot()
        axis.set_title(title, loc="left", fontsize=15, fontweight="bold")
        if not shown:
            _empty(axis, _t(locale, "chart.no_mentions"))
        else:
            bottom = [0] * len(days)
            for n, (key, values) in enumerate(shown.items()):
                colour = (colours or {}).get(key) or (
                    OTHERS_COLOUR if key == others else PALETTE[n % len(PALETTE)])
                axis.bar(range(len(days)), values, bottom=bottom, color=colour, width=0.75,
                         label=_short(labels(key) if key != others else others))
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            _style(axis)
            _day_ticks(axis, days, locale)
            _count_axis(axis, locale)
            axis.set_ylabel(_t(locale, "chart.mentions"))
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        totals = {labels(k) if k != others else others: sum(v) for k, v in shown.items()}
        alt = _t(locale, "chart.alt_stacked", title=title,
                 series=", ".join(f"{k}: {formats.number(v, locale)}" for k, v in totals.items()))
        return _chart(figure, filename, title, alt, inspect)


def _unit(values: Sequence[float | None]) -> tuple[float, str, int]:
    """The unit the longest delay reads best in, so the axis never shows only zeros:
    (seconds per unit, unit key, decimals on the ticks)."""
    largest = max((v for v in values if v is not None), default=0.0)
    if largest < 2 * 60:
        return 1.0, "seconds", 0
    if largest <= 3 * 3600:
        return 60.0, "minutes", 0
    if largest <= 3 * 86400:
        return 3600.0, "hours", 1
    return 86400.0, "days", 1


def first_response_chart(*, filename: str, weeks: Sequence[tuple[date, Spread]],
                         people: Sequence[tuple[str, Spread]], names: Callable[[str], str],
                         locale: str, inspect: Inspect = None) -> Chart:
    """Median and 90th percentile of the first-response time: per week, per person."""
    title = _t(locale, "chart.first_response")
    people = list(people)[:MAX_PEOPLE]
    values = [s.p90 for _, s in weeks] + [s.p90 for _, s in people]
    seconds, unit, decimals = _unit(values)
    unit_label = _t(locale, f"chart.unit_{unit}")

    def scaled(value: float | None) -> float:
        return 0.0 if value is None else value / seconds

    def ticks(axis: Axis) -> None:
        # Whole seconds or minutes: a tick at 0.5 would print as a second "0" or "1".
        if decimals == 0:
            axis.set_major_locator(MaxNLocator(nbins="auto", integer=True,
                                               steps=[1, 2, 2.5, 5, 10]))
        axis.set_major_formatter(FuncFormatter(
            lambda value, _: formats.number(value, locale, decimals)))
    with _LOCK:
        figure = _figure(left=0.07, right=0.98, top=0.84, bottom=0.16, wspace=0.42)
        figure.suptitle(title, x=0.07, y=0.97, ha="left", fontsize=15, fontweight="bold")
        left, right = figure.subplots(1, 2, width_ratios=(3, 2))
        if not any(s.count for _, s in weeks):
            _empty(left, _t(locale, "chart.no_answers"))
        else:
            positions = range(len(weeks))
            left.bar([p - 0.2 for p in positions], [scaled(s.median) for _, s in weeks],
                     width=0.4, color=PALETTE[0], label=_t(locale, "chart.median"))
            left.bar([p + 0.2 for p in positions], [scaled(s.p90) for _, s in weeks],
                     width=0.4, color=PALETTE[2], label=_t(locale, "chart.p90"))
            left.set_xticks(list(positions), [formats.short_date(w, locale) for w, _ in weeks],
                            rotation=0 if len(weeks) <= 8 else 45,
                            ha="center" if len(weeks) <= 8 else "right")
            left.set_xlabel(_t(locale, "chart.weeks_from_monday"))
            left.set_title(_t(locale, "chart.per_week"), loc="left")
            left.set_ylabel(unit_label)
            ticks(left.yaxis)
            _style(left)
            left.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
        if not people:
            _empty(right, _t(locale, "chart.no_answers"))
        else:
            rows = list(reversed(people))
            positions = range(len(rows))
            right.barh([p + 0.2 for p in positions], [scaled(s.median) for _, s in rows],
                       height=0.4, color=PALETTE[0], label=_t(locale, "chart.median"))
            right.barh([p - 0.2 for p in positions], [scaled(s.p90) for _, s in rows],
                       height=0.4, color=PALETTE[2], label=_t(locale, "chart.p90"))
            right.set_yticks(list(positions), [_short(names(user)) for user, _ in rows])
            right.set_title(_t(locale, "chart.per_person"), loc="left")
            right.set_xlabel(unit_label)
            ticks(right.xaxis)
            for side in ("top", "right"):
                right.spines[side].set_visible(False)
        overall = ", ".join(
            f"{formats.short_date(w, locale)}: {formats.duration(s.median, locale)}"
            for w, s in weeks if s.count)
        alt = _t(locale, "chart.alt_first_response", weeks=overall or "—")
        return _chart(figure, filename, title, alt, inspect)


def workload_chart(*, filename: str, loads: Sequence[Load], names: Callable[[str], str],
                   locale: str, inspect: Inspect = None) -> Chart:
    """Per person: mentions answered, assigned and still open, assigned and done."""
    title = _t(locale, "chart.workload")
    rows = list(reversed(list(loads)[:MAX_PEOPLE]))
    with _LOCK:
        figure = _figure(left=0.17, right=0.97, bottom=0.17)
        axis = figure.add_subplot()
        axis.set_title(title, loc="left", fontsize=15, fontweight="bold")
        if not rows:
            _empty(axis, _t(locale, "chart.no_assignments"))
        else:
            positions = list(range(len(rows)))
            answered = [load.answered for load in rows]
            waiting = [load.still_open for load in rows]
            settled = [max(0, load.assigned - load.still_open) for load in rows]
            axis.barh([p + 0.2 for p in positions], answered, height=0.4, color=PALETTE[3],
                      label=_t(locale, "chart.answered"))
            axis.barh([p - 0.2 for p in positions], settled, height=0.4, color=PALETTE[0],
                      label=_t(locale, "chart.assigned_done"))
            axis.barh([p - 0.2 for p in positions], waiting, left=settled, height=0.4,
                      color=SENTIMENT_COLOURS["negative"], label=_t(locale, "chart.still_open"))
            axis.set_yticks(positions, [_short(names(load.user)) for load in rows])
            _count_axis(axis, locale, horizontal=True)
            for side in ("top", "right"):
                axis.spines[side].set_visible(False)
            axis.legend(loc="upper center", bbox_to_anchor=(0.45, -0.07), ncol=3,
                        frameon=False)
        alt = _t(locale, "chart.alt_workload", people=", ".join(
            f"{names(load.user)}: {load.answered}/{load.assigned}/{load.still_open}"
            for load in loads[:MAX_PEOPLE]) or "—")
        return _chart(figure, filename, title, alt, inspect)


def outcome_by_day(*, filename: str, title: str, days: Sequence[date],
                   series: dict[str, list[int]], colours: dict[str, str],
                   labels: Callable[[str], str], locale: str, empty: str,
                   inspect: Inspect = None) -> Chart:
    """Side-by-side bars per day (e.g. posts published and failed)."""
    with _LOCK:
        figure = _figure(right=0.8, bottom=0.1 if len(days) <= 7 else 0.16)
        axis = figure.add_subplot()
        axis.set_title(title, loc="left", fontsize=15, fontweight="bold")
        if not any(sum(v) for v in series.values()):
            _empty(axis, empty)
        else:
            width = 0.8 / max(1, len(series))
            for n, (key, values) in enumerate(series.items()):
                offset = (n - (len(series) - 1) / 2) * width
                axis.bar([p + offset for p in range(len(days))], values, width=width,
                         color=colours.get(key, PALETTE[n % len(PALETTE)]),
                         label=_short(labels(key)))
            _style(axis)
            _day_ticks(axis, days, locale)
            _count_axis(axis, locale)
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        alt = _t(locale, "chart.alt_stacked", title=title, series=", ".join(
            f"{labels(k)}: {formats.number(sum(v), locale)}" for k, v in series.items()))
        return _chart(figure, filename, title, alt, inspect)
