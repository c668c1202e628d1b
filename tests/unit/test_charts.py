"""The report's charts are real PNG images of the announced size, with the data drawn in
the plot area (not empty axes), labelled in the newsroom's language and number style."""

from __future__ import annotations

import io
import struct
from datetime import date, timedelta

from matplotlib.figure import Figure
from PIL import Image
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Config
from bot.reports import charts
from bot.reports.queries import Load, Scope, Spread
from tests.support.report_data import NOW, WEEK_END, WEEK_START, make_reports, seed_week

DAYS = [date(2026, 11, 9) + timedelta(days=n) for n in range(7)]
PLOT_AREA = (0.1, 0.15, 0.75, 0.85)  # left, top, right, bottom, as shares of the image


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def plot_area(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    left, top, right, bottom = PLOT_AREA
    return image.crop((int(left * image.width), int(top * image.height),
                       int(right * image.width), int(bottom * image.height)))


def pixels_of(image: Image.Image, colour: str) -> int:
    wanted = bytes(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    data = image.tobytes()
    return sum(1 for n in range(0, len(data), 3) if data[n:n + 3] == wanted)


def variance(image: Image.Image) -> float:
    grey = image.convert("L").tobytes()
    mean = sum(grey) / len(grey)
    return sum((g - mean) ** 2 for g in grey) / len(grey)


def test_every_report_chart_is_a_png_of_1200_by_600_with_data(engine: Engine,
                                                               config: Config) -> None:
    """Five charts, each a decodable 1200×600 PNG whose plot area is far from blank."""
    seed_week(engine)
    built = make_reports(engine, config, FrozenClock(NOW)).build(Scope(WEEK_START, WEEK_END),
                                                                 title="Rapport")
    assert len(built.charts) == 5
    for chart in built.charts:
        assert png_size(chart.png) == (chart.width, chart.height) == (1200, 600)
        assert Image.open(io.BytesIO(chart.png)).format == "PNG"
        assert variance(plot_area(chart.png)) > 300, chart.filename
        assert chart.alt_text and chart.title


def test_bars_are_drawn_in_the_plot_area_and_an_empty_period_says_so() -> None:
    """Sentiment bars show their colours; with no mention the axes are not drawn empty:
    no bar colour at all, and far less ink."""
    series = {"positive": [5, 6, 7, 8, 9, 10, 11], "neutral": [3] * 7,
              "negative": [1, 2, 3, 4, 5, 6, 7], "unqualified": [2] * 7}
    full = charts.stacked_by_day(filename="a.png", title="Mentions", days=DAYS, series=series,
                                 labels=str, colours=charts.SENTIMENT_COLOURS, locale="fr")
    empty = charts.stacked_by_day(filename="b.png", title="Mentions", days=DAYS,
                                  series={k: [0] * 7 for k in series}, labels=str,
                                  colours=charts.SENTIMENT_COLOURS, locale="fr")
    area, blank = plot_area(full.png), plot_area(empty.png)
    for colour in ("#2a9d8f", "#8d99ae", "#e63946"):
        assert pixels_of(area, colour) > 2000, colour
        assert pixels_of(blank, colour) == 0
    assert variance(area) > 10 * max(variance(blank), 1.0)


def test_french_charts_use_french_days_and_decimal_commas() -> None:
    """Hours on the first-response axis read 1,5 in French and 1.5 in English; days are
    'lun. 9'; counts in thousands use a narrow no-break space."""
    weeks = [(date(2026, 11, 2), Spread(10, 2.5 * 3600, 5 * 3600)),
             (date(2026, 11, 9), Spread(12, 1.5 * 3600, 4.5 * 3600))]
    figures: list[Figure] = []
    for locale in ("fr", "en"):
        charts.first_response_chart(filename="f.png", weeks=weeks, people=[], names=str,
                                    locale=locale, inspect=figures.append)
    french, english = ([t.get_text() for t in f.axes[0].get_yticklabels()] for f in figures)
    assert "1,0" in french and "1.0" in english and not any("." in t for t in french)

    counted: list[Figure] = []
    charts.stacked_by_day(filename="s.png", title="t", days=DAYS,
                          series={"rss": [1200, 800, 2500, 0, 300, 10, 5]}, labels=str,
                          colours=None, locale="fr", inspect=counted.append)
    axis = counted[0].axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()][:2] == ["lun. 9", "mar. 10"]
    assert "1\u202f000" in [t.get_text() for t in axis.get_yticklabels()]


def test_workload_chart_names_people_and_keeps_its_size() -> None:
    """Twelve people at most, by name; the image stays 1200×600 whatever the count."""
    loads = [Load(f"U{n}", assigned=10 + n, still_open=n % 3, answered=5 + n)
             for n in range(20)]
    drawn: list[Figure] = []
    chart = charts.workload_chart(filename="w.png", loads=loads, names=lambda u: f"Person {u}",
                                  locale="en", inspect=drawn.append)
    assert png_size(chart.png) == (1200, 600)
    labels = [t.get_text() for t in drawn[0].axes[0].get_yticklabels()]
    assert len(labels) == charts.MAX_PEOPLE and labels[-1] == "Person U0"


def _first_response_axes(weeks: list[tuple[date, Spread]],
                         people: list[tuple[str, Spread]], locale: str = "en"
                         ) -> tuple[list[str], str, list[str], str]:
    drawn: list[Figure] = []
    charts.first_response_chart(filename="f.png", weeks=weeks, people=people, names=str,
                                locale=locale, inspect=drawn.append)
    weekly, personal = drawn[0].axes[0], drawn[0].axes[1]
    return ([t.get_text() for t in weekly.get_yticklabels()], weekly.get_ylabel(),
            [t.get_text() for t in personal.get_xticklabels()], personal.get_xlabel())


def test_first_response_axis_reads_in_seconds_when_answers_come_within_a_minute() -> None:
    """Answers in 20–45 s: the axis is in seconds with distinct ticks, not a row of 0s."""
    weeks = [(date(2026, 11, 2), Spread(8, 20.0, 45.0)),
             (date(2026, 11, 9), Spread(5, 12.0, 30.0))]
    people = [("U1", Spread(3, 15.0, 40.0))]
    weekly, unit, personal, person_unit = _first_response_axes(weeks, people)
    assert unit == person_unit == "seconds"
    for labels in (weekly, personal):
        shown = [t for t in labels if t]
        assert len(set(shown)) == len(shown) >= 3, labels
        assert any(t not in ("0", "0.0") for t in shown)
    assert _first_response_axes(weeks, people, "fr")[1] == "secondes"


def test_first_response_axis_picks_minutes_hours_or_days_from_the_data() -> None:
    """Minutes up to three hours, hours up to three days, days beyond; ticks always
    distinct."""
    for p90, expected in ((25 * 60.0, "minutes"), (10 * 3600.0, "hours"),
                          (9 * 86400.0, "days")):
        weeks = [(date(2026, 11, 9), Spread(4, p90 / 3, p90))]
        labels, unit, _, _ = _first_response_axes(weeks, [])
        shown = [t for t in labels if t]
        assert unit == expected and len(set(shown)) == len(shown) >= 3, (expected, labels)
