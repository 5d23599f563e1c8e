"""Outcomes of treatment courses across patients: response, remission and durability, with
honest statistics. Pure: no Django; dataclasses in, dataclasses out.

Definitions (baseline window, response fall, end-of-induction and timepoint windows, relapse
rule, follow-up) are data with their sources (`clinical/data/outcome-definition.json`, and
the clinic's saved versions); remission cut-offs are the instruments' own
(clinical-reference.md section 2, `Remission.of`). Benchmarks are data records
(`clinical/data/benchmarks.json`, clinical-reference.md section 9).

Statistics come from statsmodels: Wilson score intervals
(`statsmodels.stats.proportion.proportion_confint(method="wilson")`, Wilson 1927) and the
Kaplan-Meier estimator (`statsmodels.duration.survfunc.SurvfuncRight`: product-limit
curve and Greenwood's standard error). Pointwise 95% bands use the log(-log) transform of
Greenwood's variance (Kalbfleisch & Prentice 1980), and the median's interval inverts them
(Brookmeyer & Crowley 1982), as lifelines does; tests check all of it against lifelines to
1e-6 and against hand-computed examples.

Missing data is never dropped silently: every rate carries the number of courses due at
that point, the number assessed and the number missing, with an intention-to-treat view
(missing counted as non-response) beside the completer view.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "Benchmark",
    "BenchmarkComparison",
    "CohortSummary",
    "CourseOutcome",
    "CourseTimeline",
    "OutcomeDefinition",
    "Proportion",
    "Remission",
    "Score",
    "SurvivalEstimate",
    "TimepointResult",
    "TimepointSummary",
    "benchmark_definition",
    "cohort_summary",
    "compare_benchmark",
    "course_outcome",
    "default_definition",
    "definition_from_data",
    "kaplan_meier",
    "load_benchmarks",
    "median_iqr",
    "wilson",
]

DAY_SECONDS = 86400.0
CONFIDENCE = 0.95
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
END_OF_INDUCTION = "eoi"


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / DAY_SECONDS


# --- definitions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Remission:
    """An instrument's remission cut-off: total `operator` `value` (PHQ-9 < 5)."""

    operator: str
    value: int
    source: str = ""

    def met(self, total: int) -> bool:
        return total < self.value if self.operator == "<" else total <= self.value

    @property
    def text(self) -> str:
        return f"{self.operator} {self.value}"

    @classmethod
    def of(cls, instrument: Any) -> Remission | None:
        """The cut-off in an instrument's definition (clinical.scoring.Instrument), with
        the clinic's override applied by the loader; None when it has none."""
        if instrument.remission_operator is None or instrument.remission_value is None:
            return None
        return cls(
            instrument.remission_operator, instrument.remission_value, instrument.remission_source
        )


@dataclass(frozen=True)
class OutcomeDefinition:
    """How outcomes are counted. Every field is clinic-configurable; `sources` says where
    each default comes from (outcome-definition.json)."""

    version: int
    baseline_window_days: int
    response_fall_percent: float
    end_of_induction_window_days: int
    timepoint_weeks: tuple[int, ...]
    timepoint_window_days: int
    relapse_consecutive_measures: int
    relapse_on_rescue_course: bool
    follow_up_max_days: int
    follow_up_overdue_days: int
    instruments: tuple[str, ...] = ("phq9", "madrs", "qids-sr16")
    sources: Mapping[str, str] = field(default_factory=dict)

    def is_response(self, baseline: int, total: int) -> bool:
        """A fall of at least `response_fall_percent` from a baseline above 0 (a baseline
        of 0 can never fall; clinical.scoring.response_status says the same)."""
        return baseline > 0 and total * 100 <= baseline * (100 - self.response_fall_percent)

    @property
    def timepoint_keys(self) -> tuple[str, ...]:
        return (END_OF_INDUCTION, *(f"w{w}" for w in self.timepoint_weeks))

    def as_data(self) -> dict[str, Any]:
        """The JSON shape of outcome-definition.json (without its version)."""
        s = self.sources
        return {
            "instruments": list(self.instruments),
            "baseline": {"window_days": self.baseline_window_days, "source": s.get("baseline")},
            "response": {"fall_percent": self.response_fall_percent, "source": s.get("response")},
            "remission": {"source": s.get("remission")},
            "end_of_induction": {
                "window_days": self.end_of_induction_window_days,
                "source": s.get("end_of_induction"),
            },
            "timepoints": {
                "weeks": list(self.timepoint_weeks),
                "window_days": self.timepoint_window_days,
                "source": s.get("timepoints"),
            },
            "relapse": {
                "consecutive_measures": self.relapse_consecutive_measures,
                "rescue_course": self.relapse_on_rescue_course,
                "source": s.get("relapse"),
            },
            "follow_up": {
                "max_days": self.follow_up_max_days,
                "overdue_days": self.follow_up_overdue_days,
                "source": s.get("follow_up"),
            },
        }


def _whole(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    return value


def definition_from_data(
    data: Mapping[str, Any], *, version: int | None = None
) -> OutcomeDefinition:
    """Build and check a definition from its JSON shape (outcome-definition.json).
    Raises ValueError naming the first bad value."""
    try:
        baseline, response = data["baseline"], data["response"]
        eoi, timepoints = data["end_of_induction"], data["timepoints"]
        relapse, follow_up = data["relapse"], data["follow_up"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"the definition lacks {error}") from error
    fall = response.get("fall_percent")
    if isinstance(fall, bool) or not isinstance(fall, int | float) or not 0 < fall <= 100:
        raise ValueError(f"fall_percent must be above 0 and at most 100, got {fall!r}")
    weeks = timepoints.get("weeks")
    if (
        not isinstance(weeks, list)
        or not weeks
        or any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 104 for w in weeks)
        or sorted(set(weeks)) != weeks
    ):
        raise ValueError("weeks must be whole numbers from 1 to 104, rising, without repeats")
    window = _whole(timepoints, "window_days", 0, 28)
    max_days = _whole(follow_up, "max_days", 7, 3650)
    if weeks[-1] * 7 + window > max_days:
        raise ValueError(
            f"follow-up max_days ({max_days}) must reach the last timepoint "
            f"(week {weeks[-1]} + {window} days)"
        )
    rescue = relapse.get("rescue_course")
    if not isinstance(rescue, bool):
        raise ValueError("rescue_course must be true or false")
    instruments = tuple(data.get("instruments") or ("phq9", "madrs", "qids-sr16"))
    return OutcomeDefinition(
        version=int(version if version is not None else data.get("version", 1)),
        baseline_window_days=_whole(baseline, "window_days", 0, 90),
        response_fall_percent=float(fall),
        end_of_induction_window_days=_whole(eoi, "window_days", 0, 60),
        timepoint_weeks=tuple(weeks),
        timepoint_window_days=window,
        relapse_consecutive_measures=_whole(relapse, "consecutive_measures", 1, 10),
        relapse_on_rescue_course=rescue,
        follow_up_max_days=max_days,
        follow_up_overdue_days=_whole(follow_up, "overdue_days", 1, 365),
        instruments=instruments,
        sources={
            key: str((data.get(key) or {}).get("source") or "")
            for key in (
                "baseline",
                "response",
                "remission",
                "end_of_induction",
                "timepoints",
                "relapse",
                "follow_up",
            )
        },
    )


def _data_file(name: str) -> dict[str, Any]:
    text = resources.files("ketaclinic.clinical").joinpath(f"data/{name}").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def default_definition_data() -> dict[str, Any]:
    """outcome-definition.json as shipped (a fresh copy)."""
    return _data_file("outcome-definition.json")


def default_definition() -> OutcomeDefinition:
    """The shipped definition (outcome-definition.json, version 1)."""
    return definition_from_data(default_definition_data())


# --- one course ----------------------------------------------------------------------------


class Score(NamedTuple):
    """One score at one time (a tuple: tens of thousands are made per page)."""

    at: datetime
    total: int


@dataclass(frozen=True)
class CourseTimeline:
    """One course as the outcomes core sees it: the doses given (datetimes, any order), how
    many make the induction (the protocol's induction phase), the patient's scores on one
    instrument (any order; the core picks the course's own), the first dose of the
    patient's next course, and whether the course has ended."""

    course_id: int
    patient_id: int
    doses: tuple[datetime, ...]
    induction_sessions: int
    scores: tuple[Score, ...]
    next_course_at: datetime | None = None
    ended: bool = False


@dataclass(frozen=True)
class TimepointResult:
    """A course at one timepoint. `due`: its window has closed (or a score was taken in
    it), so intention to treat counts it; `score` None with `due` True is missing."""

    key: str
    due: bool
    score: Score | None
    is_response: bool = False
    is_remission: bool = False
    change_points: int | None = None
    change_percent: float | None = None


@dataclass(frozen=True)
class CourseOutcome:
    course_id: int
    patient_id: int
    first_dose: datetime
    baseline: Score | None
    follow_up: tuple[Score, ...]
    timepoints: Mapping[str, TimepointResult]
    induction_end: datetime | None
    best: Score | None
    latest: Score | None
    first_response: Score | None
    days_to_first_response: float | None
    # Time to first response for Kaplan-Meier: the response, else censored at the last
    # follow-up score (None: no follow-up, no information).
    response_time_days: float | None
    response_observed: bool
    relapse_at: datetime | None
    relapse_by: str  # "scores" | "rescue course" | ""
    durability_days: float | None  # from the first response to relapse or censoring
    currently_responding: bool
    # The first instant after `now` at which this outcome would read otherwise with no
    # new data (a window closes, a dated score or rescue course comes within `now`); None
    # when it never would. The same outcome holds for any `now` from the one it was
    # computed at up to this instant, so it may be reused until then.
    stable_until: datetime | None = None

    @property
    def has_follow_up(self) -> bool:
        return self.baseline is not None and bool(self.follow_up)

    @property
    def change_percent(self) -> float | None:
        if self.baseline is None or not self.baseline.total or self.latest is None:
            return None
        return (self.latest.total - self.baseline.total) / self.baseline.total * 100


def _assess(
    key: str,
    score: Score | None,
    due: bool,
    baseline: Score | None,
    definition: OutcomeDefinition,
    remission: Remission | None,
) -> TimepointResult:
    if score is None or baseline is None:
        return TimepointResult(key, due, None)
    change = score.total - baseline.total
    return TimepointResult(
        key,
        True,
        score,
        definition.is_response(baseline.total, score.total),
        remission.met(score.total) if remission else False,
        change,
        change / baseline.total * 100 if baseline.total else None,
    )


def _nearest(
    scores: Sequence[Score], ats: Sequence[datetime], target: datetime, half_window: timedelta
) -> Score | None:
    """The score nearest `target` within the window (the earlier of two as near); `ats`
    are the scores' times, in order."""
    low = bisect.bisect_left(ats, target - half_window)
    high = bisect.bisect_right(ats, target + half_window)
    if low >= high:
        return None
    return min(scores[low:high], key=lambda s: (abs(s.at - target), s.at))


def course_outcome(
    timeline: CourseTimeline,
    definition: OutcomeDefinition,
    remission: Remission | None,
    *,
    now: datetime,
) -> CourseOutcome:
    """Baseline, timepoints, first response and durability of one course.

    - Baseline: the last score from `baseline_window_days` before the first dose up to it.
    - Follow-up: scores after the first dose, before the patient's next course, within
      `follow_up_max_days` and not after `now`.
    - End of induction: the first follow-up score from the last induction dose to
      `end_of_induction_window_days` after it. A course that ended, moved to another
      course or has had no dose for `follow_up_overdue_days` before completing its
      induction is due there and missing (a dropout).
    - Week w: the follow-up score nearest day 7w within `timepoint_window_days`; due once
      the window has closed.
    - Relapse after a first response: `relapse_consecutive_measures` scores in a row that
      are not a response, dated at the first of them; or the next course (a rescue course)
      when `relapse_on_rescue_course`. Otherwise censored at the last follow-up score.
    Sources: clinical-reference.md section 2 and outcome-definition.json.

    `stable_until` is the first later instant at which any of the rules above that look
    at `now` would decide otherwise.
    """
    if not timeline.doses:
        raise ValueError(f"course {timeline.course_id} has no dose given")
    doses = sorted(timeline.doses)
    first = doses[0]
    scores = sorted(timeline.scores, key=lambda s: s.at)
    ats = [s.at for s in scores]
    opens = first - timedelta(days=definition.baseline_window_days)
    last_in_window = bisect.bisect_right(ats, first) - 1
    baseline = (
        scores[last_in_window]
        if last_in_window >= 0 and scores[last_in_window].at >= opens
        else None
    )
    last_day = first + timedelta(days=definition.follow_up_max_days)
    ends = min(last_day, now)
    start = bisect.bisect_right(ats, first)
    stop = bisect.bisect_right(ats, ends)
    cut = len(ats)
    if timeline.next_course_at is not None:
        cut = bisect.bisect_left(ats, timeline.next_course_at)
        stop = min(stop, cut)
    follow_up = tuple(scores[start:stop])
    follow_ats = ats[start:stop]
    # Instants after `now` at which the outcome changes: the next score to come within it.
    changes: list[datetime] = []
    coming = max(start, bisect.bisect_right(ats, now))
    if coming < cut and coming < len(ats) and ats[coming] <= last_day:
        changes.append(ats[coming])
    results: dict[str, TimepointResult] = {}
    induction_end = (
        doses[timeline.induction_sessions - 1]
        if (timeline.induction_sessions and len(doses) >= timeline.induction_sessions)
        else None
    )
    if induction_end is not None:
        closes = induction_end + timedelta(days=definition.end_of_induction_window_days)
        eoi = next((s for s in follow_up if induction_end <= s.at <= closes), None)
        eoi_due = closes <= now or eoi is not None
        if not eoi_due:
            changes.append(closes)
    else:
        eoi = None
        stale_at = doses[-1] + timedelta(days=definition.follow_up_overdue_days)
        eoi_due = timeline.ended or timeline.next_course_at is not None or stale_at <= now
        if not eoi_due:
            changes.append(stale_at)
    results[END_OF_INDUCTION] = _assess(
        END_OF_INDUCTION, eoi, eoi_due, baseline, definition, remission
    )
    half = timedelta(days=definition.timepoint_window_days)
    for week in definition.timepoint_weeks:
        target = first + timedelta(days=7 * week)
        found = _nearest(follow_up, follow_ats, target, half)
        key = f"w{week}"
        due = target + half <= now or found is not None
        if not due:
            changes.append(target + half)
        results[key] = _assess(key, found, due, baseline, definition, remission)
    first_response = None
    if baseline is not None:
        first_response = next(
            (s for s in follow_up if definition.is_response(baseline.total, s.total)), None
        )
    best = min(follow_up, key=lambda s: (s.total, s.at)) if follow_up else None
    latest = follow_up[-1] if follow_up else baseline
    response_time = None
    if first_response is not None:
        response_time = _days(first_response.at, first)
    elif baseline is not None and follow_up:
        response_time = _days(follow_up[-1].at, first)
    relapse_at, relapse_by, durability = None, "", None
    responding = False
    if first_response is not None and baseline is not None:
        after = [s for s in follow_up if s.at >= first_response.at]
        run: list[Score] = []
        for score in after:
            if definition.is_response(baseline.total, score.total):
                run = []
                continue
            run.append(score)
            if len(run) >= definition.relapse_consecutive_measures:
                relapse_at, relapse_by = run[0].at, "scores"
                break
        rescue = timeline.next_course_at
        if (
            relapse_at is None
            and definition.relapse_on_rescue_course
            and rescue is not None
            and rescue <= first + timedelta(days=definition.follow_up_max_days)
        ):
            if rescue <= now:
                relapse_at, relapse_by = rescue, "rescue course"
            else:
                changes.append(rescue)
        end = relapse_at or after[-1].at
        durability = _days(end, first_response.at)
        responding = relapse_at is None and definition.is_response(
            baseline.total, follow_up[-1].total
        )
    return CourseOutcome(
        course_id=timeline.course_id,
        patient_id=timeline.patient_id,
        first_dose=first,
        baseline=baseline,
        follow_up=follow_up,
        timepoints=results,
        induction_end=induction_end,
        best=best,
        latest=latest,
        first_response=first_response,
        days_to_first_response=_days(first_response.at, first) if first_response else None,
        response_time_days=response_time,
        response_observed=first_response is not None,
        relapse_at=relapse_at,
        relapse_by=relapse_by,
        durability_days=durability,
        currently_responding=responding,
        stable_until=min(changes) if changes else None,
    )


# --- statistics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """count of n, with its Wilson 95% interval (None when n is 0)."""

    count: int
    n: int

    @property
    def rate(self) -> float | None:
        return self.count / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.n:
            return None
        low, high = proportion_confint(self.count, self.n, alpha=1 - CONFIDENCE, method="wilson")
        return float(low), float(high)


def wilson(count: int, n: int) -> Proportion:
    """count of n with the Wilson score interval (Wilson 1927; statsmodels)."""
    if not 0 <= count <= n:
        raise ValueError(f"count must be from 0 to n ({n}), got {count}")
    return Proportion(count, n)


def median_iqr(values: Iterable[float]) -> tuple[float, float, float] | None:
    """Median with the first and third quartiles (numpy's linear interpolation, the
    "type 7" quantile of Hyndman & Fan 1996); None for no values."""
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        return None
    q1, median, q3 = np.percentile(data, [25, 50, 75])
    return float(median), float(q1), float(q3)


@dataclass(frozen=True)
class SurvivalEstimate:
    """A Kaplan-Meier curve: at each event time the survival and its pointwise 95% band;
    the median (None until the curve falls to 0.5) with its interval (an upper end of None
    means not reached); the number at risk at the times asked."""

    n: int
    events: int
    times: tuple[float, ...]
    survival: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    at_risk: tuple[tuple[float, int], ...]
    median: float | None
    median_ci: tuple[float | None, float | None]

    def survival_at(self, t: float) -> float:
        index = bisect.bisect_right(self.times, t)
        return self.survival[index - 1] if index else 1.0

    def band_at(self, t: float) -> tuple[float, float]:
        index = bisect.bisect_right(self.times, t)
        return (self.lower[index - 1], self.upper[index - 1]) if index else (1.0, 1.0)


def _loglog_band(survival: float, se: float) -> tuple[float, float]:
    if survival >= 1.0 or survival <= 0.0 or se == 0.0:
        return survival, survival
    spread = Z_95 * se / (survival * abs(math.log(survival)))
    return survival ** math.exp(spread), survival ** math.exp(-spread)


def kaplan_meier(
    durations: Sequence[float], events: Sequence[bool], *, at_times: Sequence[float] = ()
) -> SurvivalEstimate | None:
    """Kaplan-Meier estimate (Kaplan & Meier 1958) via statsmodels' SurvfuncRight, with
    Greenwood's variance and log(-log) pointwise 95% bands; the median is the first time
    the curve is at or below one half, and its interval (Brookmeyer & Crowley 1982) the
    times whose band holds one half. At-risk counts are the durations at least as long as
    each time. None for no observations."""
    if len(durations) != len(events):
        raise ValueError("durations and events differ in length")
    if not durations:
        return None
    if any(d < 0 for d in durations):
        raise ValueError("a duration cannot be negative")
    time = np.asarray(durations, dtype=float)
    status = np.asarray([1 if e else 0 for e in events], dtype=int)
    at_risk = tuple((float(t), int(np.sum(time >= t))) for t in at_times)
    if status.sum() == 0:
        return SurvivalEstimate(len(time), 0, (), (), (), (), at_risk, None, (None, None))
    fit = SurvfuncRight(time, status)
    times = tuple(float(t) for t in fit.surv_times)
    survival = tuple(float(s) for s in fit.surv_prob)
    bands = [_loglog_band(s, float(se)) for s, se in zip(survival, fit.surv_prob_se, strict=True)]
    lower, upper = tuple(b[0] for b in bands), tuple(b[1] for b in bands)
    return SurvivalEstimate(
        n=len(time),
        events=int(status.sum()),
        times=times,
        survival=survival,
        lower=lower,
        upper=upper,
        at_risk=at_risk,
        median=_first_at_or_below_half(times, survival),
        # Brookmeyer & Crowley: the times whose log(-log) band holds one half, i.e. from
        # the lower band's crossing to the upper band's.
        median_ci=(_first_at_or_below_half(times, lower), _first_at_or_below_half(times, upper)),
    )


def _first_at_or_below_half(times: Sequence[float], curve: Sequence[float]) -> float | None:
    """The first time a step curve is at or below one half (a product of fractions that
    is one half may come out a hair above it in floating point)."""
    return next((t for t, s in zip(times, curve, strict=True) if s <= 0.5 + 1e-9), None)


# --- a cohort ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimepointSummary:
    """One timepoint across the cohort. `due`: courses with a baseline whose window has
    closed or who were measured in it (intention to treat); `assessed`: measured
    (completers); `missing` = due - assessed, counted as non-response in the ITT rates."""

    key: str
    label: str
    due: int
    assessed: int
    response_itt: Proportion
    response_completers: Proportion
    remission_itt: Proportion
    remission_completers: Proportion
    change_percent: tuple[float, float, float] | None  # median, Q1, Q3 among the assessed
    change_points: tuple[float, float, float] | None

    @property
    def missing(self) -> int:
        return self.due - self.assessed


@dataclass(frozen=True)
class CohortSummary:
    courses: int
    with_baseline: int
    with_follow_up: int
    timepoints: tuple[TimepointSummary, ...]
    time_to_response: SurvivalEstimate | None
    responders: int
    days_to_response: tuple[float, float, float] | None  # among responders
    durability: SurvivalEstimate | None
    currently_responding: int

    @property
    def without_baseline(self) -> int:
        return self.courses - self.with_baseline

    @property
    def without_follow_up(self) -> int:
        return self.courses - self.with_follow_up


def timepoint_label(key: str) -> str:
    return "End of induction" if key == END_OF_INDUCTION else f"Week {key[1:]}"


def cohort_summary(
    outcomes: Sequence[CourseOutcome],
    definition: OutcomeDefinition,
    *,
    at_risk_days: Sequence[float] = (0, 28, 56, 84, 182),
) -> CohortSummary:
    """Rates at every timepoint (ITT and completers, Wilson 95% intervals), median change
    with IQR, time to first response and durability (Kaplan-Meier) for a cohort."""
    with_baseline = [o for o in outcomes if o.baseline is not None]
    points = []
    for key in definition.timepoint_keys:
        results = [o.timepoints[key] for o in with_baseline]
        due = [r for r in results if r.due]
        assessed = [r for r in due if r.score is not None]
        responders = sum(r.is_response for r in assessed)
        remitters = sum(r.is_remission for r in assessed)
        points.append(
            TimepointSummary(
                key=key,
                label=timepoint_label(key),
                due=len(due),
                assessed=len(assessed),
                response_itt=wilson(responders, len(due)),
                response_completers=wilson(responders, len(assessed)),
                remission_itt=wilson(remitters, len(due)),
                remission_completers=wilson(remitters, len(assessed)),
                change_percent=median_iqr(
                    r.change_percent for r in assessed if r.change_percent is not None
                ),
                change_points=median_iqr(
                    r.change_points for r in assessed if r.change_points is not None
                ),
            )
        )
    timed = [o for o in with_baseline if o.response_time_days is not None]
    responders = [o for o in with_baseline if o.first_response is not None]
    return CohortSummary(
        courses=len(outcomes),
        with_baseline=len(with_baseline),
        with_follow_up=sum(o.has_follow_up for o in outcomes),
        timepoints=tuple(points),
        time_to_response=kaplan_meier(
            [o.response_time_days or 0.0 for o in timed],
            [o.response_observed for o in timed],
            at_times=at_risk_days,
        ),
        responders=len(responders),
        days_to_response=median_iqr(o.days_to_first_response or 0.0 for o in responders),
        durability=kaplan_meier(
            [o.durability_days or 0.0 for o in responders],
            [o.relapse_at is not None for o in responders],
            at_times=at_risk_days,
        ),
        currently_responding=sum(o.currently_responding for o in with_baseline),
    )


# --- benchmarks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A published trial or real-world cohort, with its own definitions
    (benchmarks.json; clinical-reference.md section 9)."""

    key: str
    short_name: str
    citation: str
    population: str
    route: str
    n: int | None
    instrument: str
    anchor: str  # "first_dose" | "end_of_induction"
    from_day: int
    to_day: int
    target_day: int | None
    window_label: str
    response_fall_percent: float
    remission: Remission | None
    dropouts_as_failures: bool
    response_percent: float | None
    remission_percent: float | None
    durability: tuple[tuple[int, float, str], ...]
    verified: str  # "abstract" | "reference"
    verification_note: str
    extra_note: str = ""

    def reported(self, what: str) -> Proportion | None:
        """The study's own figure as count of n (count rounded from the percentage), for
        its interval; None without n or figure."""
        percent = self.response_percent if what == "response" else self.remission_percent
        if percent is None or not self.n:
            return None
        return wilson(round(percent / 100 * self.n), self.n)


def load_benchmarks() -> tuple[Benchmark, ...]:
    """The benchmark records shipped in clinical/data/benchmarks.json."""
    records = []
    for item in _data_file("benchmarks.json")["benchmarks"]:
        window, figures = item["window"], item.get("figures", {})
        remission = item.get("remission")
        records.append(
            Benchmark(
                key=item["key"],
                short_name=item["short_name"],
                citation=item["citation"],
                population=item["population"],
                route=item["route"],
                n=item.get("n"),
                instrument=item["instrument"],
                anchor=window["anchor"],
                from_day=window["from_day"],
                to_day=window["to_day"],
                target_day=window.get("target_day"),
                window_label=window["label"],
                response_fall_percent=float(item["response_fall_percent"]),
                remission=Remission(remission["operator"], remission["value"], item["key"])
                if remission
                else None,
                dropouts_as_failures=item["dropouts"] == "failures",
                response_percent=figures.get("response_percent"),
                remission_percent=figures.get("remission_percent"),
                durability=tuple(
                    (d["day"], float(d["percent"]), d["label"]) for d in item.get("durability", [])
                ),
                verified=item["verification"]["status"],
                verification_note=item["verification"]["note"],
                extra_note=item.get("median_relapse_note", ""),
            )
        )
    return tuple(records)


@dataclass(frozen=True)
class BenchmarkComparison:
    """The clinic's cohort recomputed with a benchmark's own window, cut-offs and dropout
    rule. `due` counts courses whose window has closed; `assessed` those measured in it."""

    benchmark: Benchmark
    courses: int
    due: int
    assessed: int
    response: Proportion | None
    remission: Proportion | None
    durability: tuple[tuple[int, float, tuple[float, float]], ...] = ()


def benchmark_definition(benchmark: Benchmark, definition: OutcomeDefinition) -> OutcomeDefinition:
    """Our definition with the study's response fall (its remission cut-off and window are
    applied by compare_benchmark)."""
    if benchmark.response_fall_percent == definition.response_fall_percent:
        return definition
    return replace(definition, response_fall_percent=benchmark.response_fall_percent)


def compare_benchmark(
    benchmark: Benchmark,
    outcomes: Sequence[CourseOutcome],
    definition: OutcomeDefinition,
    *,
    now: datetime,
) -> BenchmarkComparison:
    """Recompute the clinic's rates the study's way. `outcomes` are the courses of the
    study's route on the study's instrument, computed with
    `benchmark_definition(benchmark, definition)` (baseline as ours). The study's window
    runs from the first dose or the end of induction (the last score in it, or the one
    nearest its target day); its response fall and remission cut-off decide; dropouts and
    missing count as failures where the study counted them so (clinical-reference.md
    section 9 and benchmarks.json)."""
    study = benchmark_definition(benchmark, definition)
    due = assessed = responders = remitters = 0
    durations: list[float] = []
    relapsed: list[bool] = []
    for outcome in outcomes:
        if outcome.first_response is not None:
            durations.append(outcome.durability_days or 0.0)
            relapsed.append(outcome.relapse_at is not None)
        if outcome.baseline is None:
            continue
        if benchmark.anchor == "end_of_induction":
            anchor = outcome.induction_end
            if anchor is None:
                if outcome.timepoints[END_OF_INDUCTION].due:
                    due += 1  # stopped before the end of induction
                continue
        else:
            anchor = outcome.first_dose
        opens = anchor + timedelta(days=benchmark.from_day)
        closes = anchor + timedelta(days=benchmark.to_day)
        inside = [s for s in outcome.follow_up if opens <= s.at <= closes]
        if not inside and closes > now:
            continue  # not yet due
        due += 1
        if not inside:
            continue
        if benchmark.target_day is not None:
            target = anchor + timedelta(days=benchmark.target_day)
            score = min(inside, key=lambda s: (abs(s.at - target), s.at))
        else:
            score = inside[-1]
        assessed += 1
        responders += study.is_response(outcome.baseline.total, score.total)
        if benchmark.remission is not None:
            remitters += benchmark.remission.met(score.total)
    n = due if benchmark.dropouts_as_failures else assessed
    durability = ()
    if benchmark.durability:
        curve = kaplan_meier(durations, relapsed)
        if curve is not None:
            durability = tuple(
                (day, curve.survival_at(day), curve.band_at(day))
                for day, _percent, _label in benchmark.durability
            )
    return BenchmarkComparison(
        benchmark=benchmark,
        courses=len(outcomes),
        due=due,
        assessed=assessed,
        response=wilson(responders, n) if benchmark.response_percent is not None else None,
        remission=wilson(remitters, n)
        if benchmark.remission is not None and benchmark.remission_percent is not None
        else None,
        durability=durability,
    )
