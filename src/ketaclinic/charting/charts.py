"""Server-rendered SVG chart of one treatment session's vital signs.

Pure Python, no Django: ``session_chart_svg`` returns complete SVG markup for a strict
Content-Security-Policy page (no ``style=`` attributes, no script). Geometry uses SVG
presentation attributes; colours come from ``sc-*`` CSS classes styled elsewhere. Every
piece of text is XML-escaped here, so the caller may mark the string safe.

Layout: a legend row, a top panel (mmHg / bpm, 40-220) with systolic, diastolic and heart
rate, a bottom panel (SpO2 %, 80-100), both sharing one time axis in the session's local
time. The dosing window is shaded, alert thresholds are dashed lines and alerts are pinned
on the time axis.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

WIDTH, HEIGHT = 760, 420
PLOT_LEFT, PLOT_RIGHT = 48, 664
TOP_PANEL = (48, 268)  # y of the top and bottom edges: mmHg / bpm
BOTTOM_PANEL = (300, 370)  # SpO2 %
MMHG_RANGE = (40, 220)
SPO2_RANGE = (80, 100)
LEGEND_Y = 16
TICK_LABEL_Y = 394
POINT_RADIUS = 3.5
LATE_RADIUS = 7
FONT_SIZE = 11
NO_READINGS = "No vital signs recorded yet"


@dataclass(frozen=True)
class ChartReading:
    at: datetime  # timezone-aware
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    spo2: int | None
    late: bool = False  # entered after the fact (time edited): draw a ring


@dataclass(frozen=True)
class ChartAlert:
    at: datetime  # timezone-aware
    label: str  # e.g. "BP 185/115 mmHg twice, 5 min apart"
    open: bool  # not yet acknowledged -> class sc-alert-open


@dataclass(frozen=True)
class ChartThresholds:
    critical_systolic: int  # mmHg, e.g. 180
    critical_diastolic: int  # mmHg, e.g. 110
    heart_rate_high: int  # bpm, e.g. 120
    spo2_floor: int  # %, e.g. 92


def _num(value: float) -> str:
    """A coordinate rounded to one decimal, without a trailing ``.0``."""
    return f"{round(value, 1):g}"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(text: str) -> str:
    """Escape text for XML, dropping characters XML 1.0 cannot carry at all."""
    return html.escape(_NOT_XML.sub("", text), quote=True)


def _scale(value: float, low: int, high: int, top: int, bottom: int) -> float:
    clamped = min(max(value, low), high)
    return round(bottom - (bottom - top) * (clamped - low) / (high - low), 1)


def y_for_mmhg(value: float) -> float:
    """y of a blood pressure (mmHg) or heart rate (bpm) in the top panel, clamped to it."""
    return _scale(value, *MMHG_RANGE, *TOP_PANEL)


def y_for_spo2(value: float) -> float:
    """y of an SpO2 (%) in the bottom panel; values below 80 sit on the panel floor."""
    return _scale(value, *SPO2_RANGE, *BOTTOM_PANEL)


# The time axis shows at least this long, and starts this much before the first moment,
# so that a single early reading is a point on a readable hour, not on the axis itself.
MIN_SPAN = timedelta(minutes=60)
LEAD = timedelta(minutes=5)


def chart_window(
    moments: Iterable[datetime], *, begin: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """The time axis for a session: from a little before the first of `begin` (check-in)
    and `moments` (readings and dosing steps, late entries included) to `end` (discharge,
    or now), at least MIN_SPAN long."""
    first = min([begin, *moments])
    start = first - LEAD
    last = max([end, *moments])
    return start, max(last, start + MIN_SPAN)


def session_end(start: datetime, end: datetime) -> datetime:
    """The end of the time axis: ``end``, or one minute after ``start`` if not later."""
    return end if end > start else start + timedelta(minutes=1)


def x_for_time(moment: datetime, start: datetime, end: datetime) -> float:
    """x of a moment on the shared time axis, clamped to ``[start, end]``."""
    end = session_end(start, end)
    fraction = (moment - start) / (end - start)
    fraction = min(max(fraction, 0.0), 1.0)
    return round(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * fraction, 1)


def time_ticks(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """Tick moments on whole quarter hours (span <= 3 h) or half hours, in local time."""
    end = session_end(start, end)
    step = 15 if end - start <= timedelta(hours=3) else 30
    local = start.astimezone(tz)
    first = local.replace(minute=local.minute // step * step, second=0, microsecond=0)
    if first < local:
        first += timedelta(minutes=step)
    # Step in UTC: wall-clock arithmetic on aware datetimes misbehaves across DST changes.
    moment = first.astimezone(UTC)
    ticks = []
    while moment <= end:
        ticks.append(moment)
        moment += timedelta(minutes=step)
    return ticks


def _hhmm(moment: datetime, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%H:%M}"


def reading_title(reading: ChartReading, tz: tzinfo) -> str:
    """Hover text of a reading, e.g. ``10:25 BP 185/115, HR 96, SpO2 97%``."""
    parts = []
    if reading.systolic is not None or reading.diastolic is not None:
        systolic = "?" if reading.systolic is None else reading.systolic
        diastolic = "?" if reading.diastolic is None else reading.diastolic
        parts.append(f"BP {systolic}/{diastolic}")
    if reading.heart_rate is not None:
        parts.append(f"HR {reading.heart_rate}")
    if reading.spo2 is not None:
        parts.append(f"SpO2 {reading.spo2}%")
    title = f"{_hhmm(reading.at, tz)} {', '.join(parts)}"
    return f"{title} (entered late)" if reading.late else title


def _line(css: str, x1: float, y1: float, x2: float, y2: float, extra: str = "") -> str:
    return (
        f'<line class="{css}" x1="{_num(x1)}" y1="{_num(y1)}" '
        f'x2="{_num(x2)}" y2="{_num(y2)}"{extra}/>'
    )


def _text(css: str, x: float, y: float, text: str, anchor: str = "start") -> str:
    return (
        f'<text class="{css}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" '
        f'font-size="{FONT_SIZE}">'
        f"{_esc(text)}</text>"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# (css class, legend text, attribute of ChartReading, y function)
_SERIES = (
    ("sc-systolic", "Systolic", "systolic", y_for_mmhg),
    ("sc-diastolic", "Diastolic", "diastolic", y_for_mmhg),
    ("sc-hr", "Heart rate", "heart_rate", y_for_mmhg),
    ("sc-spo2", "SpO2", "spo2", y_for_spo2),
)


def _legend() -> Iterable[str]:
    x = PLOT_LEFT
    for css, label, _, _ in _SERIES:
        yield _line(css, x, LEGEND_Y - 4, x + 16, LEGEND_Y - 4)
        yield _text(css, x + 20, LEGEND_Y, label)
        x += 30 + 7 * len(label)


def _panels(ticks: list[datetime], start: datetime, end: datetime, tz: tzinfo) -> Iterable[str]:
    for (top, bottom), (low, high), step, name, y_of in (
        (TOP_PANEL, MMHG_RANGE, 20, "mmHg / bpm", y_for_mmhg),
        (BOTTOM_PANEL, SPO2_RANGE, 5, "SpO2 %", y_for_spo2),
    ):
        yield _text("sc-label", PLOT_LEFT, top - 6, name)
        for value in range(low, high + 1, step):
            y = y_of(value)
            yield _line("sc-grid", PLOT_LEFT, y, PLOT_RIGHT, y)
            yield _text("sc-label", PLOT_LEFT - 6, y + 3, str(value), "end")
        for tick in ticks:
            x = x_for_time(tick, start, end)
            yield _line("sc-grid", x, top, x, bottom)
        yield _line("sc-axis", PLOT_LEFT, top, PLOT_LEFT, bottom)
        yield _line("sc-axis", PLOT_LEFT, bottom, PLOT_RIGHT, bottom)
    for tick in ticks:
        x = x_for_time(tick, start, end)
        yield _line("sc-axis", x, BOTTOM_PANEL[1], x, BOTTOM_PANEL[1] + 5)
        yield _text("sc-label", x, TICK_LABEL_Y, _hhmm(tick, tz), "middle")


def _dosing(
    dosing_from: datetime | None, dosing_to: datetime | None, start: datetime, end: datetime
) -> Iterable[str]:
    if dosing_from is None:
        return
    x1 = x_for_time(dosing_from, start, end)
    x2 = max(x1, x_for_time(dosing_to or end, start, end))
    top, bottom = TOP_PANEL[0], BOTTOM_PANEL[1]
    yield (
        f'<rect class="sc-dosing" x="{_num(x1)}" y="{top}" width="{_num(x2 - x1)}" '
        f'height="{bottom - top}"/>'
    )
    yield _text("sc-label", (x1 + x2) / 2, top + 12, "Dosing", "middle")


def _thresholds(thresholds: ChartThresholds) -> Iterable[str]:
    dashed = ' stroke-dasharray="4 3"'
    for y, label in (
        (y_for_mmhg(thresholds.critical_systolic), f"{thresholds.critical_systolic} systolic"),
        (y_for_mmhg(thresholds.critical_diastolic), f"{thresholds.critical_diastolic} diastolic"),
        (y_for_mmhg(thresholds.heart_rate_high), f"{thresholds.heart_rate_high} HR"),
        (y_for_spo2(thresholds.spo2_floor), f"{thresholds.spo2_floor}% SpO2"),
    ):
        yield _line("sc-threshold", PLOT_LEFT, y, PLOT_RIGHT, y, dashed)
        yield _text("sc-threshold sc-label", PLOT_RIGHT + 4, y + 3, label)


def _readings(
    readings: list[ChartReading], start: datetime, end: datetime, tz: tzinfo
) -> Iterable[str]:
    for css, _, attribute, y_of in _SERIES:
        points = [
            (x_for_time(r.at, start, end), y_of(value), r)
            for r in readings
            if (value := getattr(r, attribute)) is not None
        ]
        if len(points) > 1:
            coords = " ".join(f"{_num(x)},{_num(y)}" for x, y, _ in points)
            yield f'<polyline class="{css}" fill="none" points="{coords}"/>'
        for x, y, reading in points:
            yield (
                f'<circle class="{css}" cx="{_num(x)}" cy="{_num(y)}" r="{POINT_RADIUS}">'
                f"<title>{_esc(reading_title(reading, tz))}</title></circle>"
            )
            if reading.late:
                yield (
                    f'<circle class="sc-late" cx="{_num(x)}" cy="{_num(y)}" '
                    f'r="{LATE_RADIUS}" fill="none"/>'
                )


def _alerts(alerts: list[ChartAlert], start: datetime, end: datetime, tz: tzinfo) -> Iterable[str]:
    bottom = BOTTOM_PANEL[1]
    for alert in alerts:
        x = x_for_time(alert.at, start, end)
        css = "sc-alert sc-alert-open" if alert.open else "sc-alert"
        marker = f"{_num(x)},{bottom + 1} {_num(x - 5)},{bottom + 10} {_num(x + 5)},{bottom + 10}"
        yield (
            f'<g class="{css}">'
            + _line(css, x, TOP_PANEL[0], x, bottom)
            + f'<polygon class="{css}" points="{marker}">'
            f"<title>{_esc(f'{_hhmm(alert.at, tz)} {alert.label}')}</title></polygon></g>"
        )


def session_chart_svg(
    *,
    readings: Sequence[ChartReading],
    start: datetime,
    end: datetime,
    dosing_from: datetime | None,
    dosing_to: datetime | None,
    thresholds: ChartThresholds,
    alerts: Sequence[ChartAlert],
    tz: tzinfo,
) -> str:
    """Return complete SVG markup (a string starting with "<svg")."""
    end = session_end(start, end)
    ordered = sorted(readings, key=lambda r: r.at)
    pinned = sorted(alerts, key=lambda a: a.at)
    ident = f"sc-{int(start.timestamp())}"
    summary = (
        f"{_plural(len(ordered), 'reading')} and {_plural(len(pinned), 'alert')} "
        f"between {_hhmm(start, tz)} and {_hhmm(end, tz)}."
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">Vital signs during the session</title>',
        f'<desc id="{ident}-desc">{_esc(summary)}</desc>',
        *_legend(),
        *_dosing(dosing_from, dosing_to, start, end),
        *_panels(time_ticks(start, end, tz), start, end, tz),
        *_thresholds(thresholds),
        *_readings(ordered, start, end, tz),
        *_alerts(pinned, start, end, tz),
    ]
    if not ordered:
        middle_x = (PLOT_LEFT + PLOT_RIGHT) / 2
        middle_y = sum(TOP_PANEL) / 2
        parts.append(_text("sc-label", middle_x, middle_y, NO_READINGS, "middle"))
    parts.append("</svg>")
    return "\n".join(parts)
