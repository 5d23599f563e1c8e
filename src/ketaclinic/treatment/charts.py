"""A server-drawn SVG of the predicted plasma concentration for a planned infusion."""

from __future__ import annotations

from dataclasses import dataclass

from ketaclinic.clinical.pk import DISSOCIATION_RANGE_NG_ML, OBSERVED_PEAK_NG_ML, PkPrediction

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 34


@dataclass(frozen=True)
class PkChart:
    width: int
    height: int
    left: int
    right_edge: int
    top: int
    bottom_edge: int
    plot_width: int
    plot_height: int
    path: str
    band_y: float
    band_height: float
    peak_y: float
    infusion_x: float
    infusion_width: float
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]


def pk_chart(prediction: PkPrediction, *, infusion_minutes: float) -> PkChart:
    series = prediction.series
    end_min = series[-1][0]
    top_value = max(prediction.cmax_ng_ml, DISSOCIATION_RANGE_NG_ML[1]) * 1.1
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(minute: float) -> float:
        return round(LEFT + plot_w * minute / end_min, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / top_value), 1)

    path = " ".join(f"{'M' if i == 0 else 'L'}{x(m)},{y(c)}" for i, (m, c) in enumerate(series))
    low, high = DISSOCIATION_RANGE_NG_ML
    step = 50 if top_value < 400 else 100
    return PkChart(
        WIDTH,
        HEIGHT,
        LEFT,
        WIDTH - RIGHT,
        TOP,
        HEIGHT - BOTTOM,
        plot_w,
        plot_h,
        path,
        y(high),
        round(y(low) - y(high), 1),
        y(OBSERVED_PEAK_NG_ML),
        x(0),
        round(x(infusion_minutes) - x(0), 1),
        [(y(v), str(v)) for v in range(0, int(top_value) + 1, step)],
        [
            (x(m), f"{m // 60}h{m % 60:02d}" if m >= 60 else f"{m} min")
            for m in range(0, int(end_min) + 1, 30)
        ],
    )
