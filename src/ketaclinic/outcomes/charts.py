"""Geometry for the outcomes page's server-rendered SVG charts (no JavaScript; strict CSP):
every course's scores with the median line, response and remission bars with their
intervals and the benchmarks' lines, and the Kaplan-Meier durability curve with its band
and the number at risk. Templates draw what these dataclasses describe, as in
measures/charts.py."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ketaclinic.clinical.outcomes import (
    BenchmarkComparison,
    CohortSummary,
    CourseOutcome,
    Remission,
    SurvivalEstimate,
)
from ketaclinic.clinical.scoring import Instrument
from ketaclinic.measures.charts import Tick

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 200, 14, 36
# At most this many courses are drawn as lines (evenly spread over the cohort, in order of
# first dose); the median line always uses every course.
MAX_LINES = 300


@dataclass(frozen=True)
class HLine:
    y: float
    label: str
    css: str
    label_y: float = 0.0


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    left: int
    right_edge: int
    top: int
    bottom_edge: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def _frame(x_ticks: list[Tick], y_ticks: list[Tick], height: int = HEIGHT) -> Frame:
    return Frame(WIDTH, height, LEFT, WIDTH - RIGHT, TOP, height - BOTTOM, x_ticks, y_ticks)


def _spread_labels(lines: list[HLine], gap: float = 11.0) -> list[HLine]:
    """Label positions moved apart so labels of close lines do not overlap."""
    placed: list[HLine] = []
    last = -1e9
    for line in sorted(lines, key=lambda item: item.y):
        y = max(line.y + 3, last + gap)
        placed.append(HLine(line.y, line.label, line.css, round(y, 1)))
        last = y
    return placed


# --- every course's scores ---------------------------------------------------------------


@dataclass(frozen=True)
class Spaghetti:
    frame: Frame
    paths: list[str]
    median_path: str
    lines: list[HLine]
    drawn: int
    courses: int
    title: str


def spaghetti(
    outcomes: Sequence[CourseOutcome],
    instrument: Instrument,
    remission: Remission | None,
    *,
    days: int = 182,
) -> Spaghetti | None:
    """Each course's baseline and follow-up scores against days since its first dose, and
    the median score of each week (every course's last score in that week)."""
    measured = [o for o in outcomes if o.baseline is not None]
    if not measured or instrument.total_max is None:
        return None
    low, high = instrument.total_min or 0, instrument.total_max
    start = -14
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_of(day: float) -> float:
        return round(LEFT + plot_w * (min(day, days) - start) / (days - start), 1)

    def y_of(total: float) -> float:
        return round(TOP + plot_h * (1 - (total - low) / (high - low)), 1)

    step = max(1, len(measured) // MAX_LINES + (1 if len(measured) % MAX_LINES else 0))
    paths = []
    weekly: dict[int, dict[int, int]] = defaultdict(dict)
    for index, outcome in enumerate(measured):
        first = outcome.first_dose.timestamp()
        points = [(outcome.baseline, 0.0)] + [
            (s, (s.at.timestamp() - first) / 86400) for s in outcome.follow_up
        ]
        points = [(s, max(d, start)) for s, d in points if d <= days]
        for score, day in points:
            weekly[round(day / 7)][outcome.course_id] = score.total
        if index % step == 0 and len(points) > 1:
            paths.append(
                " ".join(
                    f"{'M' if i == 0 else 'L'}{x_of(day)},{y_of(score.total)}"
                    for i, (score, day) in enumerate(points)
                )
            )
    medians = [
        (week, statistics.median(values.values()))
        for week, values in sorted(weekly.items())
        if len(values) >= 3
    ]
    median_path = " ".join(
        f"{'M' if i == 0 else 'L'}{x_of(week * 7)},{y_of(value)}"
        for i, (week, value) in enumerate(medians)
    )
    lines = []
    if remission is not None:
        lines.append(HLine(y_of(remission.value), f"Remission {remission.text}", "line-remission"))
    y_step = max(1, round((high - low) / 5))
    frame = _frame(
        [Tick(x_of(d), f"{d // 7 if d else 0}") for d in (0, 28, 56, 84, 126, 182) if d <= days],
        [Tick(y_of(v), str(v)) for v in range(low, high + 1, y_step)],
    )
    return Spaghetti(
        frame,
        paths,
        median_path,
        _spread_labels(lines),
        len(paths),
        len(measured),
        f"{instrument.title}: every course, weeks since the first dose",
    )


# --- response and remission bars -----------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    label: str
    whisker_low: float | None
    whisker_high: float | None

    @property
    def cx(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class RateBars:
    frame: Frame
    bars: list[Bar]
    lines: list[HLine]
    title: str
    view: str


def rate_bars(
    summary: CohortSummary,
    comparisons: Sequence[BenchmarkComparison],
    instrument: Instrument,
    *,
    view: str = "itt",
    route: str = "",
) -> RateBars:
    """Response and remission at each timepoint (intention to treat, or completers) with
    Wilson 95% whiskers, and a line for each benchmark figure on the same instrument (and
    route, when one is chosen), labelled with the study's own window."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def y_of(rate: float) -> float:
        return round(TOP + plot_h * (1 - rate), 1)

    slot = plot_w / max(len(summary.timepoints), 1)
    bar_w = round(slot * 0.32, 1)
    bars = []
    ticks = []
    for index, point in enumerate(summary.timepoints):
        centre = LEFT + slot * (index + 0.5)
        ticks.append(Tick(round(centre, 1), point.label))
        pairs = (
            ("response", point.response_itt if view == "itt" else point.response_completers),
            ("remission", point.remission_itt if view == "itt" else point.remission_completers),
        )
        for offset, (what, proportion) in zip((-1, 0), pairs, strict=True):
            x = round(centre + offset * bar_w, 1)
            rate = proportion.rate
            interval = proportion.interval
            label = (
                f"{point.label} {what}: {proportion.count} of {proportion.n}"
                + (f" ({rate:.0%}, 95% CI {interval[0]:.0%}-{interval[1]:.0%})" if interval else "")
                if proportion.n
                else f"{point.label} {what}: nobody due yet"
            )
            top = y_of(rate or 0.0)
            bars.append(
                Bar(
                    x,
                    top,
                    bar_w,
                    round(TOP + plot_h - top, 1),
                    f"bar-{what}",
                    label,
                    y_of(interval[0]) if interval else None,
                    y_of(interval[1]) if interval else None,
                )
            )
    lines = []
    for comparison in comparisons:
        benchmark = comparison.benchmark
        if benchmark.instrument != instrument.key or (route and benchmark.route != route):
            continue
        for what, percent in (
            ("response", benchmark.response_percent),
            ("remission", benchmark.remission_percent),
        ):
            if percent is not None:
                lines.append(
                    HLine(
                        y_of(percent / 100),
                        f"{benchmark.short_name} {what} {percent:g}%",
                        f"benchmark-{what}",
                    )
                )
    frame = _frame(ticks, [Tick(y_of(v / 100), f"{v}%") for v in range(0, 101, 20)])
    return RateBars(
        frame,
        bars,
        _spread_labels(lines),
        "Response and remission, "
        + ("intention to treat" if view == "itt" else "completers")
        + ", with 95% Wilson intervals",
        view,
    )


# --- Kaplan-Meier ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class KaplanMeierChart:
    frame: Frame
    path: str
    band: str
    markers: list[Marker]
    at_risk: list[Tick]
    at_risk_y: float
    median_label: str
    title: str


def km_chart(
    curve: SurvivalEstimate,
    comparisons: Sequence[BenchmarkComparison],
    *,
    days: int = 182,
    route: str = "",
) -> KaplanMeierChart:
    """The durability curve as steps, its pointwise 95% band, the benchmarks' durability
    figures as markers, and the number at risk under the axis."""
    height = HEIGHT + 30
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM - 30

    def x_of(day: float) -> float:
        return round(LEFT + plot_w * min(day, days) / days, 1)

    def y_of(value: float) -> float:
        return round(TOP + plot_h * (1 - value), 1)

    steps = [(0.0, 1.0, 1.0, 1.0)] + [
        (t, s, lo, hi)
        for t, s, lo, hi in zip(curve.times, curve.survival, curve.lower, curve.upper, strict=True)
        if t <= days
    ]
    path = [f"M{x_of(0)},{y_of(1.0)}"]
    upper = [f"M{x_of(0)},{y_of(1.0)}"]
    for t, s, _lo, hi in steps[1:]:
        path.append(f"H{x_of(t)}V{y_of(s)}")
        upper.append(f"H{x_of(t)}V{y_of(hi)}")
    path.append(f"H{x_of(days)}")
    # The band: along the upper edge left to right, back along the lower edge.
    upper.append(f"H{x_of(days)}V{y_of(steps[-1][2])}")
    for i in range(len(steps) - 1, 0, -1):
        upper.append(f"H{x_of(steps[i][0])}V{y_of(steps[i - 1][2])}")
    upper.append(f"H{x_of(0)}Z")
    markers = []
    for comparison in comparisons:
        benchmark = comparison.benchmark
        if route and benchmark.route != route:
            continue
        for day, percent, label in benchmark.durability:
            markers.append(
                Marker(x_of(day), y_of(percent / 100), f"{benchmark.short_name}: {label}")
            )
    frame = Frame(
        WIDTH,
        height,
        LEFT,
        WIDTH - RIGHT,
        TOP,
        TOP + plot_h,
        [Tick(x_of(d), f"{d // 7}") for d in (0, 28, 56, 84, 126, 182) if d <= days],
        [Tick(y_of(v / 100), f"{v}%") for v in range(0, 101, 20)],
    )
    median = (
        f"Median {curve.median:.0f} days (95% CI {curve.median_ci[0]:.0f}-"
        + (f"{curve.median_ci[1]:.0f})" if curve.median_ci[1] is not None else "not reached)")
        if curve.median is not None
        else "Median not reached"
    )
    return KaplanMeierChart(
        frame,
        " ".join(path),
        " ".join(upper),
        markers,
        [Tick(x_of(t), str(n)) for t, n in curve.at_risk if t <= days],
        TOP + plot_h + 48,
        median,
        "Still responding, from the first response (Kaplan-Meier, 95% band)",
    )
