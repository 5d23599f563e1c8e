"""Geometry for server-rendered SVG score trends (no JavaScript, works under a strict CSP).

The template draws what these dataclasses describe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.utils.timezone import localtime

from ketaclinic.clinical.scoring import Instrument

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 12, 34


class Scored(Protocol):
    total: int | None
    completed_at: datetime


@dataclass(frozen=True)
class BandRect:
    name: str
    css: str
    y: float
    height: float


@dataclass(frozen=True)
class Line:
    label: str
    css: str
    y: float


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    total: int
    label: str


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    left: int
    right_edge: int
    plot_width: int
    top: int
    bottom_edge: int
    bands: list[BandRect]
    lines: list[Line]
    points: list[Point]
    path: str
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    title: str


def _css_name(name: str) -> str:
    return "band-" + name.replace(" ", "-")


def trend_chart(
    instrument: Instrument, responses: Sequence[Scored], baseline: Scored | None
) -> TrendChart | None:
    """Score over time with severity bands shaded, the baseline, the response line (50% of
    baseline) and the remission cut-off (clinical-reference.md section 2)."""
    scored = [r for r in responses if r.total is not None]
    if not scored or instrument.total_max is None:
        return None
    low, high = instrument.total_min or 0, instrument.total_max
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return round(TOP + plot_h * (1 - (value - low) / (high - low)), 1)

    start = scored[0].completed_at.timestamp()
    end = scored[-1].completed_at.timestamp()
    span = max(end - start, 1.0)

    def x_of(moment: datetime) -> float:
        if len(scored) == 1:
            return LEFT + plot_w / 2
        return round(LEFT + plot_w * (moment.timestamp() - start) / span, 1)

    bands = []
    for band in instrument.bands:
        # A band covers its whole scores: from half a point below to half a point above.
        top, bottom = y_of(min(band.high + 0.5, high)), y_of(max(band.low - 0.5, low))
        bands.append(BandRect(band.name, _css_name(band.name), top, round(bottom - top, 1)))
    lines = []
    if baseline is not None and baseline.total is not None:
        when = f"{localtime(baseline.completed_at):%b %-d}"
        lines.append(
            Line(f"Baseline {baseline.total} ({when})", "line-baseline", y_of(baseline.total))
        )
        if instrument.response_applies:
            lines.append(
                Line(
                    f"Response (50% of baseline) {baseline.total / 2:g}",
                    "line-response",
                    y_of(baseline.total / 2),
                )
            )
    if instrument.remission_value is not None:
        lines.append(
            Line(
                f"Remission {instrument.remission_operator} {instrument.remission_value}",
                "line-remission",
                y_of(instrument.remission_value),
            )
        )
    points = [
        Point(
            x_of(r.completed_at),
            y_of(r.total),
            r.total,
            f"{localtime(r.completed_at):%b %-d, %Y}: {r.total}",
        )
        for r in scored
    ]
    path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    step = max(1, round((high - low) / 5))
    y_ticks = [Tick(y_of(v), str(v)) for v in range(low, high + 1, step)]
    x_ticks = []
    for index in sorted({0, len(scored) // 2, len(scored) - 1}):
        moment = scored[index].completed_at
        x_ticks.append(Tick(x_of(moment), f"{localtime(moment):%b %-d}"))
    return TrendChart(
        WIDTH,
        HEIGHT,
        LEFT,
        WIDTH - RIGHT,
        plot_w,
        TOP,
        HEIGHT - BOTTOM,
        bands,
        lines,
        points,
        path,
        y_ticks,
        x_ticks,
        instrument.title,
    )
