"""The session vital-signs SVG: well-formed, CSP-safe, and drawn where the data says."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.charting.charts import (
    HEIGHT,
    NO_READINGS,
    PLOT_LEFT,
    PLOT_RIGHT,
    WIDTH,
    ChartAlert,
    ChartReading,
    ChartThresholds,
    chart_window,
    session_chart_svg,
    x_for_time,
    y_for_mmhg,
    y_for_spo2,
)

NS = "{http://www.w3.org/2000/svg}"
DENVER = ZoneInfo("America/Denver")
START = datetime(2025, 3, 4, 9, 50, tzinfo=DENVER)
END = datetime(2025, 3, 4, 11, 40, tzinfo=DENVER)
THRESHOLDS = ChartThresholds(
    critical_systolic=180, critical_diastolic=110, heart_rate_high=120, spo2_floor=92
)
COORDS = ("cx", "cy", "x", "y", "x1", "x2", "y1", "y2")


def at(hour: int, minute: int) -> datetime:
    return datetime(2025, 3, 4, hour, minute, tzinfo=DENVER)


READINGS = [
    ChartReading(at(9, 55), 132, 84, 72, 98),
    ChartReading(at(10, 25), 185, 115, 96, 97),
    ChartReading(at(10, 40), 150, None, None, 95, late=True),
    ChartReading(at(11, 10), 128, 80, 70, 99),
]


def render(**overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "readings": READINGS,
        "start": START,
        "end": END,
        "dosing_from": at(10, 0),
        "dosing_to": at(10, 40),
        "thresholds": THRESHOLDS,
        "alerts": [ChartAlert(at(10, 30), "BP 185/115 mmHg twice, 5 min apart", open=True)],
        "tz": DENVER,
    }
    kwargs.update(overrides)
    return session_chart_svg(**kwargs)


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg")
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def with_class(root: ET.Element, tag: str, css: str) -> list[ET.Element]:
    return [e for e in root.iter(NS + tag) if css in classes(e)]


def title_of(element: ET.Element) -> str | None:
    title = element.find(NS + "title")
    return None if title is None else title.text


def test_accessible_title_and_description() -> None:
    root = parse(render())
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    assert root.find(f"{NS}title[@id='{title_id}']").text == "Vital signs during the session"
    desc = root.find(f"{NS}desc[@id='{desc_id}']").text
    assert "4 readings" in desc
    assert "1 alert " in desc


def test_every_reading_yields_points_with_titles() -> None:
    root = parse(render())
    expected = {
        "sc-systolic": [(at(9, 55), 132), (at(10, 25), 185), (at(10, 40), 150), (at(11, 10), 128)],
        "sc-diastolic": [(at(9, 55), 84), (at(10, 25), 115), (at(11, 10), 80)],
        "sc-hr": [(at(9, 55), 72), (at(10, 25), 96), (at(11, 10), 70)],
    }
    for css, points in expected.items():
        circles = with_class(root, "circle", css)
        assert [(float(c.get("cx")), float(c.get("cy"))) for c in circles] == [
            (x_for_time(moment, START, END), y_for_mmhg(value)) for moment, value in points
        ]
    spo2 = with_class(root, "circle", "sc-spo2")
    assert [float(c.get("cy")) for c in spo2] == [y_for_spo2(v) for v in (98, 97, 95, 99)]
    titles = [title_of(c) for c in with_class(root, "circle", "sc-systolic")]
    assert titles[1] == "10:25 BP 185/115, HR 96, SpO2 97%"
    assert titles[2] == "10:40 BP 150/?, SpO2 95% (entered late)"
    assert all(title_of(c) for c in root.iter(NS + "circle") if "sc-late" not in classes(c))


def test_lines_join_only_existing_points() -> None:
    root = parse(render())
    [diastolic] = with_class(root, "polyline", "sc-diastolic")
    assert len(diastolic.get("points").split()) == 3
    [systolic] = with_class(root, "polyline", "sc-systolic")
    assert len(systolic.get("points").split()) == 4


def test_late_reading_gets_rings() -> None:
    root = parse(render())
    rings = with_class(root, "circle", "sc-late")
    x = x_for_time(at(10, 40), START, END)
    assert len(rings) == 2  # systolic and SpO2 were recorded
    assert {float(r.get("cx")) for r in rings} == {x}


def test_threshold_lines_at_the_right_height() -> None:
    root = parse(render())
    lines = with_class(root, "line", "sc-threshold")
    assert {float(line.get("y1")) for line in lines} == {
        y_for_mmhg(180),
        y_for_mmhg(110),
        y_for_mmhg(120),
        y_for_spo2(92),
    }
    assert all(line.get("stroke-dasharray") for line in lines)
    assert all(line.get("y1") == line.get("y2") for line in lines)
    labels = {t.text for t in with_class(root, "text", "sc-threshold")}
    assert labels == {"180 systolic", "110 diastolic", "120 HR", "92% SpO2"}


def test_dosing_window_matches_the_times() -> None:
    root = parse(render())
    [rect] = with_class(root, "rect", "sc-dosing")
    x1, x2 = x_for_time(at(10, 0), START, END), x_for_time(at(10, 40), START, END)
    assert float(rect.get("x")) == x1
    assert float(rect.get("width")) == round(x2 - x1, 1)
    assert "Dosing" in {t.text for t in root.iter(NS + "text")}


def test_open_dosing_runs_to_the_end() -> None:
    root = parse(render(dosing_to=None))
    [rect] = with_class(root, "rect", "sc-dosing")
    assert float(rect.get("x")) + float(rect.get("width")) == PLOT_RIGHT


def test_no_dosing_no_rect() -> None:
    assert not with_class(parse(render(dosing_from=None)), "rect", "sc-dosing")


def test_alert_pinned_at_its_time() -> None:
    alerts = [
        ChartAlert(at(10, 30), "BP 185/115 mmHg twice, 5 min apart", open=True),
        ChartAlert(at(11, 0), "HR 130", open=False),
    ]
    root = parse(render(alerts=alerts))
    groups = with_class(root, "g", "sc-alert")
    assert len(groups) == 2
    for group, alert in zip(groups, alerts, strict=True):
        line = group.find(NS + "line")
        assert float(line.get("x1")) == x_for_time(alert.at, START, END)
        assert line.get("x1") == line.get("x2")
        marker = group.find(NS + "polygon")
        assert alert.label in title_of(marker)
        assert ("sc-alert-open" in classes(group)) is alert.open
        assert ("sc-alert-open" in classes(line)) is alert.open


def test_labels_are_escaped() -> None:
    label = 'SpO2 <90% & "falling" </svg><script>x</script>'
    svg = render(alerts=[ChartAlert(at(10, 30), label + "\x00\x07", open=True)])
    root = parse(svg)  # characters XML cannot carry are dropped, not fatal
    [group] = with_class(root, "g", "sc-alert")
    assert title_of(group.find(NS + "polygon")) == f"10:30 {label}"
    assert "<script" not in svg


def test_no_inline_style_or_script() -> None:
    svg = render(alerts=[ChartAlert(at(10, 30), "style=<script>", open=True)])
    assert "style=" not in svg.replace("style=&lt;", "")
    for element in parse(svg).iter():
        assert "style" not in element.attrib
        assert element.tag != NS + "script"
    assert "<script" not in render().lower()
    assert "style=" not in render()


def test_empty_readings_show_the_message() -> None:
    root = parse(render(readings=[], alerts=[]))
    assert NO_READINGS in {t.text for t in root.iter(NS + "text")}
    assert not list(root.iter(NS + "circle"))
    assert with_class(root, "line", "sc-axis")
    assert NO_READINGS not in {t.text for t in parse(render()).iter(NS + "text")}


def test_unsorted_input_gives_the_same_chart() -> None:
    assert render(readings=list(reversed(READINGS))) == render(readings=READINGS)
    assert render(readings=[READINGS[2], READINGS[0], READINGS[3], READINGS[1]]) == render()


def test_ticks_in_local_time_on_quarter_hours() -> None:
    root = parse(render())
    labels = [t.text for t in root.iter(NS + "text") if t.text and t.text[:2].isdigit()]
    ticks = [label for label in labels if ":" in label]
    assert ticks == ["10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30"]
    tick = next(t for t in root.iter(NS + "text") if t.text == "10:00")
    assert float(tick.get("x")) == x_for_time(at(10, 0), START, END)


def test_ticks_every_half_hour_for_long_sessions() -> None:
    root = parse(render(end=at(13, 40)))
    ticks = [t.text for t in root.iter(NS + "text") if t.text and ":" in t.text]
    assert ticks[:3] == ["10:00", "10:30", "11:00"]
    assert ticks[-1] == "13:30"


def test_the_same_moment_in_utc_labels_in_the_clinic_zone() -> None:
    root = parse(render(start=START.astimezone(UTC), end=END.astimezone(UTC)))
    assert "10:00" in {t.text for t in root.iter(NS + "text")}


def test_end_not_after_start_is_one_minute() -> None:
    root = parse(render(end=START))
    reading = with_class(root, "circle", "sc-systolic")[0]
    assert float(reading.get("cx")) == PLOT_RIGHT  # 09:55 is past start + 1 min


def test_out_of_range_reading_is_clamped() -> None:
    early = ChartReading(at(8, 0), 250, 30, 20, 60)
    late = ChartReading(at(13, 0), 100, 60, 80, 96)
    root = parse(render(readings=[early, late], alerts=[]))
    [early_sys, late_sys] = with_class(root, "circle", "sc-systolic")
    assert float(early_sys.get("cx")) == PLOT_LEFT
    assert float(late_sys.get("cx")) == PLOT_RIGHT
    assert float(early_sys.get("cy")) == y_for_mmhg(220)
    [early_spo2, _] = with_class(root, "circle", "sc-spo2")
    assert float(early_spo2.get("cy")) == y_for_spo2(80)
    assert "SpO2 60%" in title_of(early_spo2)
    assert_inside_viewbox(root)


def assert_inside_viewbox(root: ET.Element) -> None:
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    for element in root.iter():
        for name in COORDS:
            if name in element.attrib:
                limit = WIDTH if name.startswith(("x", "cx")) else HEIGHT
                assert 0 <= float(element.get(name)) <= limit, (element.tag, name)
        if "width" in element.attrib:
            assert float(element.get("x")) + float(element.get("width")) <= WIDTH
            assert float(element.get("y")) + float(element.get("height")) <= HEIGHT
        for pair in element.get("points", "").split():
            x, y = (float(v) for v in pair.split(","))
            assert 0 <= x <= WIDTH
            assert 0 <= y <= HEIGHT


WINDOW_START = datetime(2025, 11, 2, 0, 30, tzinfo=DENVER)  # DST ends inside some windows
minutes = st.integers(min_value=-30, max_value=270)


@st.composite
def readings(draw: st.DrawFn) -> ChartReading:
    def value(low: int, high: int) -> int | None:
        return draw(st.none() | st.integers(min_value=low, max_value=high))

    return ChartReading(
        at=WINDOW_START + timedelta(minutes=draw(minutes), seconds=draw(st.integers(0, 59))),
        systolic=value(60, 240),
        diastolic=value(30, 150),
        heart_rate=value(30, 200),
        spo2=value(60, 100),
        late=draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(readings(), max_size=30),
    st.integers(min_value=0, max_value=240),
    st.none() | st.integers(min_value=-10, max_value=250),
    st.lists(st.tuples(minutes, st.text(max_size=20), st.booleans()), max_size=4),
)
def test_random_sessions_stay_inside_the_viewbox(
    drawn: list[ChartReading],
    length: int,
    dosing: int | None,
    alert_specs: list[tuple[int, str, bool]],
) -> None:
    end = WINDOW_START + timedelta(minutes=length)
    dosing_from = None if dosing is None else WINDOW_START + timedelta(minutes=dosing)
    alerts = [
        ChartAlert(WINDOW_START + timedelta(minutes=m), label, is_open)
        for m, label, is_open in alert_specs
    ]
    svg = session_chart_svg(
        readings=drawn,
        start=WINDOW_START,
        end=end,
        dosing_from=dosing_from,
        dosing_to=None,
        thresholds=THRESHOLDS,
        alerts=alerts,
        tz=DENVER,
    )
    root = parse(svg)
    assert_inside_viewbox(root)
    assert len([c for c in root.iter(NS + "circle") if "sc-late" not in classes(c)]) == sum(
        sum(v is not None for v in (r.systolic, r.diastolic, r.heart_rate, r.spo2)) for r in drawn
    )


def test_a_single_early_reading_sits_on_a_readable_hour() -> None:
    """Issue 19: one reading just after check-in drew a two-minute axis with the point on
    top of the axis labels."""
    checked_in = at(10, 0)
    reading = ChartReading(at(10, 1), 128, 82, 72, 98)
    start, end = chart_window([reading.at], begin=checked_in, end=at(10, 2))
    assert end - start >= timedelta(minutes=60) and start < checked_in
    root = parse(render(readings=[reading], start=start, end=end, dosing_from=None, alerts=[]))
    points = with_class(root, "circle", "sc-systolic")
    assert len(points) == 1 and float(points[0].get("cx")) > PLOT_LEFT + 20
    # Time labels at least a label's width apart, so none overlaps the next.
    labels = sorted(
        float(t.get("x"))
        for t in root.iter(NS + "text")
        if t.get("text-anchor") == "middle" and t.text and t.text[:2].isdigit() and ":" in t.text
    )
    assert len(labels) >= 4
    assert all(b - a >= 40 for a, b in itertools.pairwise(labels))


def test_the_window_covers_late_entries_and_the_end() -> None:
    early = at(9, 30)
    start, end = chart_window([early, at(12, 0)], begin=at(10, 0), end=at(11, 0))
    assert start == early - timedelta(minutes=5) and end == at(12, 0)
