"""The outcomes core: hand-computed cohorts give exact rates, intervals and Kaplan-Meier
medians, and the statistics agree with a second library (lifelines) to 1e-6."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from ketaclinic.clinical.outcomes import (
    END_OF_INDUCTION,
    CourseTimeline,
    Remission,
    Score,
    benchmark_definition,
    cohort_summary,
    compare_benchmark,
    course_outcome,
    default_definition,
    default_definition_data,
    definition_from_data,
    kaplan_meier,
    load_benchmarks,
    median_iqr,
    wilson,
)
from ketaclinic.clinical.scoring import get_instrument

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the first dose
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # every window has closed
Z = 1.959963984540054
PHQ9 = Remission("<", 5)
DEFINITION = default_definition()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def doses(*days: float) -> tuple[datetime, ...]:
    return tuple(day(d) for d in days)


IV = doses(0, 2, 4, 7, 9, 11)  # six infusions, Monday-Wednesday-Friday


def timeline(
    course_id: int, scores: list[tuple[float, int]], given: tuple[datetime, ...] = IV, **kw: object
) -> CourseTimeline:
    return CourseTimeline(
        course_id=course_id,
        patient_id=course_id,
        doses=given,
        induction_sessions=6,
        scores=tuple(Score(day(d), total) for d, total in scores),
        **kw,  # type: ignore[arg-type]
    )


def hand_wilson(count: int, n: int) -> tuple[float, float]:
    """Wilson 1927, written out."""
    p = count / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


# --- Wilson ----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "n"), [(3, 10), (0, 5), (1, 1), (11, 11), (27, 100)])
def test_wilson_intervals_are_the_formula(count: int, n: int) -> None:
    low, high = wilson(count, n).interval
    want_low, want_high = hand_wilson(count, n)
    assert low == pytest.approx(max(want_low, 0.0), abs=1e-9)
    assert high == pytest.approx(min(want_high, 1.0), abs=1e-9)


def test_wilson_known_values_and_edges() -> None:
    assert wilson(3, 10).interval == pytest.approx((0.10779126740630104, 0.6032218525388546))
    # Zero responders: the interval still reaches up (z^2 / (n + z^2)), never a bare 0%.
    assert wilson(0, 5).interval[1] == pytest.approx(Z * Z / (5 + Z * Z), abs=1e-12)
    assert wilson(1, 1).interval[0] == pytest.approx(1 / (1 + Z * Z), abs=1e-12)
    assert wilson(0, 0).interval is None and wilson(0, 0).rate is None
    with pytest.raises(ValueError):
        wilson(4, 3)


def test_median_and_iqr_by_hand() -> None:
    assert median_iqr([10, 20, 30, 40]) == (25.0, 17.5, 32.5)
    assert median_iqr([-50.0]) == (-50.0, -50.0, -50.0)
    assert median_iqr([]) is None


# --- Kaplan-Meier ------------------------------------------------------------------------

DURATIONS = [5, 8, 8, 12, 15, 20, 22, 30, 31, 40]
EVENTS = [True, True, False, True, False, True, True, False, True, False]


def test_kaplan_meier_by_hand_with_ties_and_censoring() -> None:
    km = kaplan_meier(DURATIONS, EVENTS, at_times=[0, 10, 25, 50])
    # Product-limit: 9/10, 8/9, 6/7 (a tie at 8: one event, one censored), 4/5, 3/4, 1/2.
    expected = [
        0.9,
        0.8,
        0.8 * 6 / 7,
        0.8 * 6 / 7 * 4 / 5,
        0.8 * 6 / 7 * 3 / 5,
        0.8 * 6 / 7 * 3 / 10,
    ]
    assert km.times == (5, 8, 12, 20, 22, 31)
    assert km.survival == pytest.approx(expected, abs=1e-12)
    assert km.median == 22  # the first time the curve is at or below one half
    assert km.median_ci == (5, None)  # the upper end is never reached
    assert km.at_risk == ((0, 10), (10, 7), (25, 3), (50, 0))
    assert (km.n, km.events) == (10, 6)
    # Greenwood at t=5: S^2 * d / (n (n - d)) = 0.81 / 90; log(-log) band around 0.9.
    se = math.sqrt(0.81 / 90)
    spread = Z * se / (0.9 * abs(math.log(0.9)))
    assert km.lower[0] == pytest.approx(0.9 ** math.exp(spread), abs=1e-12)
    assert km.upper[0] == pytest.approx(0.9 ** math.exp(-spread), abs=1e-12)


def test_kaplan_meier_edges() -> None:
    assert kaplan_meier([], []) is None
    everyone_censored = kaplan_meier([3, 9], [False, False], at_times=[0, 5])
    assert everyone_censored.median is None and everyone_censored.survival == ()
    assert everyone_censored.at_risk == ((0, 2), (5, 1))
    assert everyone_censored.survival_at(100) == 1.0
    single = kaplan_meier([7], [True])
    assert single.survival == (0.0,) and single.median == 7
    # Exactly one half counts as reached: half of four fail at day 2.
    half = kaplan_meier([2, 2, 5, 6], [True, True, False, False])
    assert half.survival == (0.5,) and half.median == 2 and half.median_ci[1] is None
    with pytest.raises(ValueError):
        kaplan_meier([1, 2], [True])


def _lifelines(durations: list[float], events: list[bool]) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(durations, event_observed=events)


def _assert_agrees_with_lifelines(durations: list[float], events: list[bool]) -> None:
    ours = kaplan_meier(durations, events, at_times=[0, 3, 10])
    theirs = _lifelines(durations, events)
    if not any(events):
        assert ours.survival == ()
        assert float(theirs.survival_function_.iloc[-1, 0]) == 1.0
        return
    times = list(ours.times)
    s = theirs.survival_function_at_times(times).to_numpy()
    assert np.allclose(ours.survival, s, atol=1e-6, rtol=0)
    band = theirs.confidence_interval_.loc[times].to_numpy()
    assert np.allclose(ours.lower, band[:, 0], atol=1e-6, rtol=0)
    assert np.allclose(ours.upper, band[:, 1], atol=1e-6, rtol=0)
    table = theirs.event_table["at_risk"]
    for t, n in ours.at_risk:
        assert n == sum(1 for d in durations if d >= t)
        if t in table.index:
            assert n == table.loc[t]
    # Where the curve or a band is exactly one half, lifelines (which multiplies in log
    # space) lands a hair either side of it; the median then follows the float noise. Ours
    # takes "at or below one half" as written (the hand examples above and below check it).
    if any(abs(v - 0.5) < 1e-9 for v in (*ours.survival, *ours.lower, *ours.upper)):
        return
    median = theirs.median_survival_time_
    assert (ours.median is None) == math.isinf(median)
    if ours.median is not None:
        assert ours.median == pytest.approx(median, abs=1e-6)
    low, high = median_survival_times(theirs.confidence_interval_).to_numpy()[0]
    assert (ours.median_ci[0] is None) == math.isinf(low)
    if ours.median_ci[0] is not None:
        assert ours.median_ci[0] == pytest.approx(low, abs=1e-6)
    assert (ours.median_ci[1] is None) == math.isinf(high)
    if ours.median_ci[1] is not None:
        assert ours.median_ci[1] == pytest.approx(high, abs=1e-6)


def test_kaplan_meier_agrees_with_lifelines_on_the_hand_example() -> None:
    _assert_agrees_with_lifelines(DURATIONS, EVENTS)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=60), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_kaplan_meier_agrees_with_lifelines(rows: list[tuple[int, bool]]) -> None:
    # Whole days: many ties, between events and between events and censoring.
    durations = [float(d) for d, _ in rows]
    events = [e for _, e in rows]
    _assert_agrees_with_lifelines(durations, events)


# --- definitions -----------------------------------------------------------------------


def test_the_default_definition_has_its_sources() -> None:
    assert DEFINITION.baseline_window_days == 14
    assert DEFINITION.response_fall_percent == 50
    assert DEFINITION.timepoint_keys == ("eoi", "w4", "w8", "w12", "w26")
    assert DEFINITION.relapse_consecutive_measures == 2 and DEFINITION.relapse_on_rescue_course
    assert all(DEFINITION.sources[k] for k in ("baseline", "response", "relapse", "remission"))
    assert "clinical-reference.md section 2" in DEFINITION.sources["response"]
    # Round trip through the stored shape.
    again = definition_from_data(DEFINITION.as_data(), version=3)
    assert replace(again, version=1) == DEFINITION


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("response", "fall_percent"), 0, "fall_percent"),
        (("baseline", "window_days"), -1, "window_days"),
        (("timepoints", "weeks"), [8, 4], "weeks"),
        (("follow_up", "max_days"), 100, "must reach the last timepoint"),
        (("relapse", "rescue_course"), "yes", "rescue_course"),
        (("relapse", "consecutive_measures"), True, "consecutive_measures"),
    ],
)
def test_a_bad_definition_is_refused_with_its_reason(
    path: tuple[str, str], value: object, message: str
) -> None:
    data = default_definition_data()
    data[path[0]][path[1]] = value
    with pytest.raises(ValueError, match=message):
        definition_from_data(data)


def test_remission_comes_from_the_instrument_definition() -> None:
    assert Remission.of(get_instrument("phq9")).text == "< 5"
    assert Remission.of(get_instrument("madrs")).text == "<= 10"
    assert Remission.of(get_instrument("gad7")) is None


# --- one course ------------------------------------------------------------------------


def test_a_responder_who_relapses_on_two_consecutive_scores() -> None:
    course = timeline(
        1,
        [
            (-20, 25),  # outside the 14-day baseline window
            (-3, 20),  # baseline
            (0, 19),  # the morning of the first dose, before it: the baseline
            (6, 12),
            (12, 9),  # end of induction (day 11 + up to 14): first response (9 <= 19/2)
            (28, 4),  # week 4: remission (< 5)
            (50, 12),  # not a response ...
            (57, 8),  # ... broken by a response
            (84, 11),
            (91, 14),  # two in a row: relapse dated day 84
            (182, 15),
        ],
    )
    outcome = course_outcome(course, DEFINITION, PHQ9, now=NOW)
    assert outcome.baseline == Score(day(0), 19)
    eoi = outcome.timepoints[END_OF_INDUCTION]
    assert eoi.score == Score(day(12), 9) and eoi.is_response and not eoi.is_remission
    assert outcome.timepoints["w4"].is_remission and outcome.timepoints["w4"].is_response
    assert outcome.timepoints["w8"].score == Score(day(57), 8)  # nearest day 56
    assert outcome.timepoints["w12"].score == Score(day(84), 11)
    assert not outcome.timepoints["w12"].is_response
    assert outcome.timepoints["w26"].change_points == -4
    assert outcome.timepoints["w26"].change_percent == pytest.approx(-4 / 19 * 100)
    assert outcome.days_to_first_response == 12
    assert outcome.relapse_at == day(84) and outcome.relapse_by == "scores"
    assert outcome.durability_days == 72
    assert outcome.best == Score(day(28), 4) and outcome.latest == Score(day(182), 15)
    assert not outcome.currently_responding


def test_a_rescue_course_is_a_relapse_and_ends_the_follow_up() -> None:
    course = timeline(2, [(-1, 20), (12, 8), (28, 9), (40, 18), (70, 3)], next_course_at=day(45))
    outcome = course_outcome(course, DEFINITION, PHQ9, now=NOW)
    assert [s.total for s in outcome.follow_up] == [8, 9, 18]  # day 70 is the next course's
    assert outcome.relapse_at == day(45) and outcome.relapse_by == "rescue course"
    assert outcome.durability_days == 33
    assert outcome.timepoints["w8"].due and outcome.timepoints["w8"].score is None
    without_rescue = replace(DEFINITION, relapse_on_rescue_course=False)
    censored = course_outcome(course, without_rescue, PHQ9, now=NOW)
    assert censored.relapse_at is None and censored.durability_days == 28  # last score, day 40


def test_a_course_without_baseline_or_follow_up() -> None:
    no_baseline = course_outcome(timeline(3, [(-30, 20), (14, 5)]), DEFINITION, PHQ9, now=NOW)
    assert no_baseline.baseline is None and not no_baseline.has_follow_up
    assert no_baseline.response_time_days is None
    no_follow_up = course_outcome(timeline(4, [(-2, 22)]), DEFINITION, PHQ9, now=NOW)
    assert no_follow_up.baseline.total == 22 and no_follow_up.follow_up == ()
    assert all(r.due and r.score is None for r in no_follow_up.timepoints.values())


def test_a_dropout_before_the_end_of_induction_is_due_there() -> None:
    dropped = timeline(5, [(-1, 18), (3, 15)], given=doses(0, 2), ended=True)
    outcome = course_outcome(dropped, DEFINITION, PHQ9, now=NOW)
    assert outcome.induction_end is None
    assert outcome.timepoints[END_OF_INDUCTION].due
    # Still in induction, last dose yesterday: not due yet, and not a dropout.
    still = timeline(6, [(-1, 18)], given=doses(0, 2))
    recent = course_outcome(still, DEFINITION, PHQ9, now=day(3))
    assert not recent.timepoints[END_OF_INDUCTION].due
    assert not recent.timepoints["w4"].due


def test_a_baseline_of_zero_never_responds() -> None:
    outcome = course_outcome(timeline(7, [(-1, 0), (12, 0)]), DEFINITION, PHQ9, now=NOW)
    assert not outcome.timepoints[END_OF_INDUCTION].is_response
    assert outcome.timepoints[END_OF_INDUCTION].is_remission


def test_a_course_without_doses_is_refused() -> None:
    with pytest.raises(ValueError, match="no dose"):
        course_outcome(timeline(8, [], given=()), DEFINITION, PHQ9, now=NOW)


@st.composite
def _timelines_and_instants(draw: st.DrawFn) -> tuple[CourseTimeline, datetime]:
    """A course with doses, scores, perhaps a next course or an end, and a `now` anywhere
    from before the first dose to past the end of follow-up (whole and half days: many
    instants fall exactly on a window's edge)."""
    given = sorted(draw(st.sets(st.integers(0, 60), min_size=1, max_size=9)))
    scores = draw(
        st.lists(
            st.tuples(st.integers(-40, 800).map(lambda h: h / 2), st.integers(0, 27)),
            max_size=14,
        )
    )
    following = draw(st.none() | st.integers(1, 400).map(lambda d: day(d)))
    course = timeline(
        1,
        scores,
        given=doses(*given),
        next_course_at=following,
        ended=draw(st.booleans()),
    )
    return course, day(draw(st.integers(-10, 800)) / 2)


@settings(max_examples=300, deadline=None)
@given(_timelines_and_instants(), st.sampled_from([1, 2]), st.booleans())
def test_an_outcome_holds_until_its_stable_until(
    case: tuple[CourseTimeline, datetime], consecutive: int, rescue: bool
) -> None:
    """The outcome is the same for every `now` from the one it was computed at up to
    stable_until, and reads otherwise at stable_until (what makes it safe to reuse)."""
    course, now = case
    definition = replace(
        DEFINITION, relapse_consecutive_measures=consecutive, relapse_on_rescue_course=rescue
    )
    outcome = course_outcome(course, definition, PHQ9, now=now)

    def at(instant: datetime) -> object:
        return replace(course_outcome(course, definition, PHQ9, now=instant), stable_until=None)

    same = replace(outcome, stable_until=None)
    until = outcome.stable_until
    if until is None:
        assert at(now + timedelta(days=2000)) == same
        return
    assert until > now
    tick = timedelta(microseconds=1)
    for instant in (now + (until - now) / 3, until - tick):
        assert at(instant) == same, instant
    assert at(until) != same


# --- a cohort --------------------------------------------------------------------------


def _cohort() -> list[CourseTimeline]:
    """Ten courses written out: responders, a remitter, non-responders, a dropout, one
    without baseline and one without follow-up."""
    return [
        timeline(1, [(-2, 20), (12, 8), (28, 4), (56, 6)]),  # remits at week 4
        timeline(2, [(-2, 24), (12, 11), (28, 10), (56, 20), (63, 22)]),  # relapses day 56
        timeline(3, [(-2, 18), (12, 12), (28, 13)]),  # no response
        timeline(4, [(-2, 16), (12, 15), (28, 14)]),  # no response
        timeline(5, [(-2, 20), (12, 10), (30, 12)]),  # responds, then censored at day 30
        timeline(6, [(-2, 22), (3, 20)], given=doses(0, 2), ended=True),  # dropout
        timeline(7, [(-30, 20), (12, 5)]),  # no baseline
        timeline(8, [(-1, 19)]),  # no follow-up
        timeline(9, [(-2, 21), (13, 21), (27, 9)]),  # responds at week 4
        timeline(10, [(-2, 15), (12, 6), (26, 3)]),  # responds, remits at week 4
    ]


def test_a_hand_computed_cohort() -> None:
    outcomes = [course_outcome(t, DEFINITION, PHQ9, now=NOW) for t in _cohort()]
    summary = cohort_summary(outcomes, DEFINITION)
    assert (summary.courses, summary.with_baseline, summary.with_follow_up) == (10, 9, 8)
    eoi = summary.timepoints[0]
    # Due: 9 with baseline (the dropout included); assessed: 7 (not the dropout, nor 8).
    assert (eoi.due, eoi.assessed, eoi.missing) == (9, 7, 2)
    # Responders at the end of induction: courses 1 (8 <= 10), 2 (11 <= 12), 5 (10 <= 10)
    # and 10 (6 <= 7.5); course 9's 21 on day 13 is not.
    assert eoi.response_completers == wilson(4, 7) and eoi.response_itt == wilson(4, 9)
    assert eoi.remission_completers.count == 0
    week4 = summary.timepoints[1]
    assert (week4.due, week4.assessed) == (9, 7)  # courses 6 and 8 missing
    # Week 4 responders: 1 (4), 2 (10 <= 12), 5 (12 > 10: no), 9 (9 <= 10.5), 10 (3).
    assert week4.response_completers.count == 4
    assert week4.remission_completers.count == 2  # courses 1 and 10
    assert week4.response_itt.interval == pytest.approx(hand_wilson(4, 9), abs=1e-9)
    changes = [-16 / 20, -14 / 24, -5 / 18, -2 / 16, -8 / 20, -12 / 21, -12 / 15]
    assert week4.change_percent == pytest.approx(median_iqr([c * 100 for c in changes]))
    assert summary.responders == 5  # 1, 2, 5, 9, 10
    assert summary.days_to_response == (12.0, 12.0, 12.0)
    # Durability: course 2 relapses at day 56, 44 days after its response; the others are
    # censored at their last score: course 1 after 44 days, 5 after 18 (one score above
    # the threshold is not yet a relapse), 9 after 0, 10 after 14.
    km = summary.durability
    assert km.events == 1 and km.n == 5
    assert km.times == (44.0,)
    assert km.survival == (0.5,)  # two at risk at day 44 (courses 1 and 2), one relapses
    assert km.median == 44 and km.median_ci == (44, None)
    assert km.at_risk == ((0, 5), (28, 2), (56, 0), (84, 0), (182, 0))


def test_zero_responders_and_a_single_patient() -> None:
    nobody = [timeline(1, [(-2, 18), (12, 17), (28, 16)]), timeline(2, [(-2, 20), (28, 19)])]
    summary = cohort_summary(
        [course_outcome(t, DEFINITION, PHQ9, now=NOW) for t in nobody], DEFINITION
    )
    week4 = summary.timepoints[1]
    assert week4.response_itt == wilson(0, 2)
    assert week4.response_itt.interval[0] == 0.0 and week4.response_itt.interval[1] > 0.6
    assert summary.durability is None and summary.responders == 0
    assert summary.time_to_response.events == 0 and summary.time_to_response.median is None
    one = cohort_summary(
        [course_outcome(timeline(1, [(-2, 20), (12, 4)]), DEFINITION, PHQ9, now=NOW)],
        DEFINITION,
    )
    assert one.timepoints[0].remission_completers == wilson(1, 1)
    assert one.time_to_response.median == 12.0
    empty = cohort_summary([], DEFINITION)
    assert empty.courses == 0 and empty.timepoints[0].response_itt.interval is None


# --- benchmarks ------------------------------------------------------------------------


def test_benchmarks_carry_their_citation_window_and_verification() -> None:
    records = {b.key: b for b in load_benchmarks()}
    orka = records["mcinnes-2022-orka1"]
    assert (orka.response_percent, orka.remission_percent, orka.n) == (53.6, 28.9, 537)
    assert orka.anchor == "end_of_induction" and (orka.from_day, orka.to_day) == (14, 31)
    assert orka.remission == Remission("<", 5, orka.key)
    assert [d[:2] for d in orka.durability] == [(28, 80.0), (56, 60.0)]
    escape = records["escape-trd-2023"]
    assert escape.route == "esketamine" and escape.dropouts_as_failures
    assert escape.remission.text == "<= 10" and escape.remission_percent == 27.1
    assert escape.reported("remission") == wilson(91, 336)
    assert (
        records["bio-k"].remission.text == "< 10" and records["bio-k"].reported("response") is None
    )
    for record in records.values():
        assert record.citation and record.population and record.verification_note
        assert record.verified in {"abstract", "reference"}


def test_like_for_like_uses_the_studys_window_cutoff_and_dropout_rule() -> None:
    records = {b.key: b for b in load_benchmarks()}
    cohort = [
        # Induction ends day 11; ORKA-1's window is days 25-42: the last score in it.
        timeline(1, [(-2, 20), (12, 12), (30, 9), (40, 4)]),  # response and remission (4)
        timeline(2, [(-2, 20), (30, 9), (41, 12)]),  # last in window 12: no response
        timeline(3, [(-2, 20), (50, 3)]),  # nothing in the window: missing
        timeline(4, [(-2, 20), (3, 18)], given=doses(0, 2), ended=True),  # dropout
    ]
    outcomes = [course_outcome(t, DEFINITION, None, now=NOW) for t in cohort]

    def compare(key: str) -> object:
        benchmark = records[key]
        assert benchmark_definition(benchmark, DEFINITION) is DEFINITION  # both 50%
        return compare_benchmark(benchmark, outcomes, DEFINITION, now=NOW)

    orka = compare("mcinnes-2022-orka1")
    assert (orka.due, orka.assessed) == (4, 2)
    assert orka.response == wilson(1, 2) and orka.remission == wilson(1, 2)  # completers
    escape = compare("escape-trd-2023")
    # Week 8 (days 49-63): only course 3 has a score (3 <= 10, a remission); the dropout
    # and the two without a score count as failures.
    assert escape.remission == wilson(1, 4) and escape.assessed == 1
    assert escape.response is None  # ESCAPE-TRD reports no response rate here
    # A stricter remission cut-off (Bio-K's MADRS < 10 on another scale) changes the count.
    bio_k = compare("bio-k")
    assert bio_k.due == 4 and bio_k.assessed == 1  # days 11-18: course 1's day 12 score
    # Durability at ORKA-1's days: course 1 responds on day 12 and is censored on day 40.
    assert orka.durability == ((28, 1.0, (1.0, 1.0)), (56, 1.0, (1.0, 1.0)))
    stricter = replace(records["mcinnes-2022-orka1"], response_fall_percent=60)
    assert benchmark_definition(stricter, DEFINITION).response_fall_percent == 60
