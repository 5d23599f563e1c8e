"""Reads for outcomes: the cohort a user may see, as course timelines for the pure core
(clinical.outcomes), in a fixed number of queries whatever the number of patients.

Each process keeps what it read and computed for a patient (PatientData) while the
patient's stamp token, which the database changes on every write to their scores,
sessions and courses (outcomes/triggers.py), stays the same; a kept course outcome is
reused only for the same rules and cut-off and within its `stable_until`
(docs/outcomes.md, Performance)."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from ketaclinic.accounts.selectors import locations_for
from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.clinical.body import age_in_years
from ketaclinic.clinical.outcomes import (
    Benchmark,
    BenchmarkComparison,
    CohortSummary,
    CourseOutcome,
    CourseTimeline,
    OutcomeDefinition,
    Remission,
    Score,
    benchmark_definition,
    cohort_summary,
    compare_benchmark,
    course_outcome,
    default_definition_data,
    definition_from_data,
    load_benchmarks,
)
from ketaclinic.clinical.scoring import Instrument, get_instrument
from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.organization.models import Location
from ketaclinic.outcomes.models import OutcomeDefinitionVersion, PatientOutcomeStamp
from ketaclinic.patients.models import Diagnosis, SexAtBirth
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.treatment.models import ProtocolVersion, TreatmentCourse
from ketaclinic.treatment.protocol_data import induction_phase

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.patients.models import Patient

# Age at the first dose, in the bands de-identified reporting uses (HIPAA Safe Harbor
# keeps ages under 90 only; our bands stop at 65+).
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55-64", 55, 64),
    ("65+", 65, 200),
)
ROUTES = (("iv_ketamine", "IV ketamine"), ("esketamine", "Esketamine (Spravato)"))
# A session counts as a dose once dosing started and it was not cancelled.
NOT_A_DOSE = (SessionStatus.CANCELLED, SessionStatus.SCHEDULED)


class Epoch(Func):
    """A timestamp as seconds since 1970 (a float): tens of thousands of scores are read
    per page, and Django's per-row datetime conversion would cost more than the query."""

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # julianday counts days from 4714 BC; 2440587.5 is 1970-01-01 00:00 UTC.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)")


def _moment(seconds: float) -> datetime:
    """Back to an aware datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def age_band(age: int) -> str:
    for name, low, high in AGE_BANDS:
        if low <= age <= high:
            return name
    return "under 18"


# --- the definitions in force ------------------------------------------------------------


@dataclass(frozen=True)
class DefinitionInUse:
    """The outcome definitions a page used, to be named on it."""

    definition: OutcomeDefinition
    version: int
    saved_by: str
    saved_at: datetime | None
    change_note: str

    @property
    def label(self) -> str:
        if self.saved_at is None:
            return f"Outcome definitions v{self.version} (as shipped with ketaclinic)"
        return (
            f"Outcome definitions v{self.version} (saved by {self.saved_by}, "
            f"{timezone.localtime(self.saved_at):%b %-d, %Y})"
        )

    def remission(self, key: str) -> Remission | None:
        """The instrument's own cut-off (instruments/*.json with the clinic's overrides)."""
        return Remission.of(get_instrument(key))

    def instruments(self) -> list[tuple[Instrument, Remission | None]]:
        return [(get_instrument(k), self.remission(k)) for k in self.definition.instruments]


def definition_in_use() -> DefinitionInUse:
    """The latest saved version, or the shipped file as version 1."""
    latest = OutcomeDefinitionVersion.objects.select_related("created_by").first()
    if latest is None:
        data = default_definition_data()
        return DefinitionInUse(definition_from_data(data, version=1), 1, "", None, "")
    return DefinitionInUse(
        definition_from_data(latest.data, version=latest.version),
        latest.version,
        latest.created_by.get_full_name() or latest.created_by.username,
        latest.created_at,
        latest.change_note,
    )


def definition_history() -> list[OutcomeDefinitionVersion]:
    return list(OutcomeDefinitionVersion.objects.select_related("created_by")[:20])


# --- the cohort --------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortFilters:
    """What the page's filter form chose; empty values filter nothing."""

    start_from: date | None = None
    start_to: date | None = None
    location_id: int | None = None
    route: str = ""
    protocol: str = ""  # "key" or "key:version"
    prescriber_id: int | None = None
    diagnosis: str = ""  # an ICD-10-CM code or its start (F33)
    age_band: str = ""
    sex: str = ""

    def as_detail(self) -> dict[str, Any]:
        """For the audit entry: the filters that were set."""
        return {k: str(v) for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass(frozen=True)
class CourseRow:
    course_id: int
    patient_id: int
    location_id: int
    protocol_id: int
    prescriber_id: int
    ended: bool
    date_of_birth: date
    sex: str
    doses: tuple[datetime, ...]
    next_course_at: datetime | None

    @property
    def first_dose(self) -> datetime:
        return self.doses[0]


@dataclass(frozen=True)
class ProtocolInfo:
    key: str
    version: int
    name: str
    route: str
    induction_sessions: int

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass
class PatientData:
    """One patient's doses (of every course) and scores as the outcomes read them, and the
    course outcomes computed from them. Kept between requests while the patient's stamp
    token (outcomes.triggers) is still `token`; None: not kept."""

    token: int | None
    instruments: frozenset[str]
    doses: dict[int, tuple[datetime, ...]]  # course -> doses given, in order
    scores: dict[str, tuple[Score, ...]]  # instrument -> scores, in order
    # (course, variant, induction sessions, ended) -> (computed at, outcome)
    outcomes: dict[tuple[int, int, int, bool], tuple[datetime, CourseOutcome]] = field(
        default_factory=dict
    )

    @cached_property
    def first_doses(self) -> list[datetime]:
        return sorted(given[0] for given in self.doses.values())

    def next_course_after(self, first_dose: datetime) -> datetime | None:
        """The first dose of the patient's next course: the scores from then on are its."""
        later = bisect.bisect_right(self.first_doses, first_dose)
        return self.first_doses[later] if later < len(self.first_doses) else None

    def timeline(
        self,
        patient_id: int,
        course_id: int,
        *,
        instrument: str,
        induction_sessions: int,
        ended: bool,
    ) -> CourseTimeline:
        """The course's timeline on `instrument` (the course has doses)."""
        given = self.doses[course_id]
        return CourseTimeline(
            course_id=course_id,
            patient_id=patient_id,
            doses=given,
            induction_sessions=induction_sessions,
            scores=self.scores.get(instrument, ()),
            next_course_at=self.next_course_after(given[0]),
            ended=ended,
        )


# The instrument the outcomes page shows unless another is chosen.
DEFAULT_INSTRUMENT = "phq9"

# Per process: patient id -> PatientData, oldest first (see _remember).
_PATIENTS: dict[int, PatientData] = {}
CACHED_PATIENTS = 50_000
# The number of outcome variants (instrument, definition, cut-off) kept per patient.
CACHED_VARIANTS = 32
# Up to this many patients to read are named in the query; more read the whole cohort.
READ_BY_ID = 500
_VARIANTS: dict[tuple[Any, ...], int] = {}


def outcomes_cache_clear() -> None:
    """Forget every patient's data and outcomes kept in this process."""
    _PATIENTS.clear()


def _remember(patient_id: int, data: PatientData) -> None:
    if data.token is None:
        return
    _PATIENTS.pop(patient_id, None)
    if len(_PATIENTS) >= CACHED_PATIENTS:
        for oldest in list(_PATIENTS)[: CACHED_PATIENTS // 4]:
            _PATIENTS.pop(oldest, None)
    _PATIENTS[patient_id] = data


def _variant(instrument: str, definition: OutcomeDefinition, remission: Remission | None) -> int:
    """A small number for everything but the course that a course outcome depends on: the
    instrument, every rule of the definition (not its version number, which another
    database may give to other rules) and the remission cut-off."""
    rules = tuple(
        (f.name, getattr(definition, f.name))
        for f in fields(definition)
        if f.name not in ("version", "sources")
    )
    return _VARIANTS.setdefault((instrument, rules, remission), len(_VARIANTS))


@dataclass
class Cohort:
    """The filtered, treated courses (at least one dose) and their patients' data."""

    rows: list[CourseRow]
    protocols: dict[int, ProtocolInfo]
    patients: dict[int, PatientData]
    not_started: int  # courses in scope planned but never dosed (not in any rate)

    def route_of(self, row: CourseRow) -> str:
        return self.protocols[row.protocol_id].route

    def timeline(self, row: CourseRow, instrument: str) -> CourseTimeline:
        return self.patients[row.patient_id].timeline(
            row.patient_id,
            row.course_id,
            instrument=instrument,
            induction_sessions=self.protocols[row.protocol_id].induction_sessions,
            ended=row.ended,
        )

    def timelines(self, instrument: str, route: str = "") -> list[CourseTimeline]:
        return [
            self.timeline(row, instrument)
            for row in self.rows
            if not route or self.route_of(row) == route
        ]

    def outcomes(
        self,
        instrument: str,
        definition: OutcomeDefinition,
        remission: Remission | None,
        *,
        now: datetime,
    ) -> list[CourseOutcome]:
        """clinical.outcomes.course_outcome of every course, in the cohort's order. An
        outcome computed from the same data, rules and cut-off is reused when `now` lies
        between the instant it was computed at and its `stable_until`, where it is the
        same by construction (tested in clinical/tests/test_outcomes.py)."""
        variant = _variant(instrument, definition, remission)
        return [
            _outcome_kept(
                self.patients[row.patient_id],
                (row.course_id, variant, self.protocols[row.protocol_id].induction_sessions),
                row.ended,
                lambda row=row: self.timeline(row, instrument),  # type: ignore[misc]
                definition,
                remission,
                now,
            )
            for row in self.rows
        ]

    @property
    def patient_ids(self) -> list[int]:
        return sorted({row.patient_id for row in self.rows})


def _outcome_kept(
    data: PatientData,
    course: tuple[int, int, int],
    ended: bool,
    timeline: Any,
    definition: OutcomeDefinition,
    remission: Remission | None,
    now: datetime,
) -> CourseOutcome:
    """clinical.outcomes.course_outcome of one course (`course`: its id, the variant and
    its induction sessions), reused when computed from the same data and rules and `now`
    lies between the instant it was computed at and its `stable_until`."""
    key = (*course, ended)
    kept = data.outcomes.get(key)
    if kept is not None:
        computed_at, outcome = kept
        until = outcome.stable_until
        if computed_at <= now and (until is None or now < until):
            return outcome
    outcome = course_outcome(timeline(), definition, remission, now=now)
    if data.token is not None:
        if len(data.outcomes) >= CACHED_VARIANTS * max(len(data.doses), 1):
            data.outcomes.clear()
        data.outcomes[key] = (now, outcome)
    return outcome


def protocol_infos() -> dict[int, ProtocolInfo]:
    infos = {}
    for pk, key, version, data in ProtocolVersion.objects.values_list(
        "pk", "key", "version", "data"
    ):
        sessions = induction_phase(data).get("sessions") or 0
        infos[pk] = ProtocolInfo(
            key, version, str(data.get("name", key)), str(data.get("route", "")), int(sessions)
        )
    return infos


def _courses(scope: Q, filters: CohortFilters, protocols: dict[int, ProtocolInfo]) -> QuerySet:
    courses = TreatmentCourse.objects.filter(scope)
    if filters.location_id is not None:
        courses = courses.filter(location_id=filters.location_id)
    if filters.route:
        courses = courses.filter(
            protocol_id__in=[pk for pk, p in protocols.items() if p.route == filters.route]
        )
    if filters.protocol:
        key, _, version = filters.protocol.partition(":")
        courses = courses.filter(
            protocol_id__in=[
                pk
                for pk, p in protocols.items()
                if p.key == key and (not version or str(p.version) == version)
            ]
        )
    if filters.prescriber_id is not None:
        courses = courses.filter(prescriber_id=filters.prescriber_id)
    if filters.sex:
        courses = courses.filter(patient__sex_at_birth=filters.sex)
    if filters.diagnosis:
        courses = courses.filter(
            Exists(
                Diagnosis.objects.filter(
                    patient_id=OuterRef("patient_id"),
                    is_primary=True,
                    icd10_code__startswith=filters.diagnosis.upper(),
                )
            )
        )
    return courses


def patients_read(
    patients: Sequence[int] | QuerySet, tokens: dict[int, int | None], instruments: frozenset[str]
) -> dict[int, PatientData]:
    """Two queries: every dose given to the patients (of any course: the next course
    starts at its first) and their scores on `instruments`. Times are read as epoch
    seconds (tens of thousands of rows; Django's per-row datetime conversion cost more than
    the query)."""
    doses: dict[int, dict[int, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for patient_id, course_id, seconds in (
        TreatmentSession.objects.filter(patient_id__in=patients, dosing_started_at__isnull=False)
        .exclude(status__in=NOT_A_DOSE)
        .annotate(at=Epoch(F("dosing_started_at")))
        .values_list("patient_id", "course_id", "at")
        .order_by("dosing_started_at", "pk")
    ):
        doses[patient_id][course_id].append(_moment(seconds))
    scores: dict[int, dict[str, list[Score]]] = defaultdict(lambda: defaultdict(list))
    for patient_id, key, seconds, total in (
        AssessmentResponse.objects.filter(
            patient_id__in=patients, instrument_key__in=sorted(instruments), total__isnull=False
        )
        .annotate(at=Epoch(F("completed_at")))
        .values_list("patient_id", "instrument_key", "at", "total")
        .order_by("completed_at", "id")
    ):
        scores[patient_id][key].append(Score(_moment(seconds), total))
    return {
        patient_id: PatientData(
            token,
            instruments,
            {course: tuple(given) for course, given in doses.get(patient_id, {}).items()},
            {key: tuple(rows) for key, rows in scores.get(patient_id, {}).items()},
        )
        for patient_id, token in tokens.items()
    }


def cohort_load(user: User, filters: CohortFilters, *, instruments: Sequence[str]) -> Cohort:
    """The cohort of the courses `user` may see: protocols, courses (with their patients'
    stamp tokens), and, for the patients whose data this process does not hold as of their
    token, their doses of every course and their scores on `instruments` (two more
    queries). Four queries at most, whatever the number of patients, and one for the
    locations' time zones."""
    return _cohort_load(patient_scope(user, via="patient"), filters, instruments)


def _patients_kept(
    tokens: dict[int, int | None], wanted: frozenset[str], everyone: QuerySet
) -> dict[int, PatientData]:
    """The patients' data (`tokens`: patient id -> stamp token), from what this process
    keeps for those whose token has not changed, the others read (by id up to READ_BY_ID,
    beyond that every patient of `everyone`, a values("patient_id") query)."""
    patients: dict[int, PatientData] = {}
    unread: dict[int, int | None] = {}
    for patient_id, token in tokens.items():
        kept = _PATIENTS.get(patient_id)
        if (
            kept is not None
            and token is not None
            and kept.token == token
            and wanted <= kept.instruments
        ):
            patients[patient_id] = kept
        else:
            unread[patient_id] = token
    if unread:
        # Named one by one up to READ_BY_ID; beyond, read every patient of the cohort.
        if len(unread) <= READ_BY_ID:
            which: Sequence[int] | QuerySet = sorted(unread)
        else:
            which, unread = everyone, tokens
        for patient_id, data in patients_read(which, unread, wanted).items():
            patients[patient_id] = data
            _remember(patient_id, data)
    return patients


def _cohort_load(scope: Q, filters: CohortFilters, instruments: Sequence[str]) -> Cohort:
    protocols = protocol_infos()
    courses = _courses(scope, filters, protocols)
    stamp = PatientOutcomeStamp.objects.filter(patient_id=OuterRef("patient_id")).values("token")
    course_rows = list(
        courses.annotate(stamp=Subquery(stamp[:1])).values_list(
            "pk",
            "patient_id",
            "location_id",
            "protocol_id",
            "prescriber_id",
            "phase",
            "patient__date_of_birth",
            "patient__sex_at_birth",
            "stamp",
        )
    )
    wanted = frozenset(instruments)
    tokens: dict[int, int | None] = {row[1]: row[-1] for row in course_rows}
    patients = _patients_kept(tokens, wanted, courses.values("patient_id"))
    rows = []
    not_started = 0
    for pk, patient_id, location_id, protocol_id, prescriber_id, phase, dob, sex, _ in course_rows:
        data = patients[patient_id]
        given = data.doses.get(pk)
        if not given:
            not_started += 1
            continue
        row = CourseRow(
            pk,
            patient_id,
            location_id,
            protocol_id,
            prescriber_id,
            phase == TreatmentCourse.Phase.ENDED,
            dob,
            sex,
            given,
            data.next_course_after(given[0]),
        )
        rows.append(row)
    zones = {location.pk: location.tz for location in Location.objects.only("timezone")}
    rows = [r for r in rows if _kept(r, filters, zones[r.location_id])]
    rows.sort(key=lambda r: (r.first_dose, r.course_id))
    return Cohort(rows, protocols, patients, not_started)


def _kept(row: CourseRow, filters: CohortFilters, zone: tzinfo) -> bool:
    """Filters on the first dose: its date in the zone of the course's location, and the
    age then."""
    day = timezone.localdate(row.first_dose, zone)
    if filters.start_from and day < filters.start_from:
        return False
    if filters.start_to and day > filters.start_to:
        return False
    if filters.age_band:
        age = age_in_years(date_of_birth=row.date_of_birth, on=day)
        return age_band(age) == filters.age_band
    return True


# --- the page ----------------------------------------------------------------------------


@dataclass
class OutcomesReport:
    """Everything the outcomes page, its CSV and its PDF show."""

    filters: CohortFilters
    in_use: DefinitionInUse
    instrument: Instrument
    remission: Remission | None
    cohort: Cohort
    outcomes: list[CourseOutcome]
    summary: CohortSummary
    comparisons: list[BenchmarkComparison]
    benchmarks: tuple[Benchmark, ...]
    now: datetime


def outcomes_report(
    user: User,
    filters: CohortFilters,
    *,
    instrument_key: str = DEFAULT_INSTRUMENT,
    now: datetime | None = None,
) -> OutcomesReport:
    """The outcomes of the courses `user` may see, on one instrument, and each benchmark
    recomputed like for like on its own instrument and route (clinical.outcomes)."""
    return _outcomes_report(patient_scope(user, via="patient"), filters, instrument_key, now)


def outcomes_warm(*, now: datetime | None = None) -> str:
    """Compute every course's outcomes as the outcomes page does by default (every
    location, no filter, the default instrument, the definitions in force) and keep them
    in this process, so that the first view of the page, whoever opens it, reuses them.
    A server worker's warm-up (plugins.register_warm_up); it shows nobody anything, so it
    is not audited. Says what it did."""
    started = time.perf_counter()
    report = _outcomes_report(Q(), CohortFilters(), DEFAULT_INSTRUMENT, now)
    return (
        f"{len(report.outcomes)} courses' outcomes kept, in {time.perf_counter() - started:.1f} s"
    )


def _outcomes_report(
    scope: Q, filters: CohortFilters, instrument_key: str, now: datetime | None
) -> OutcomesReport:
    now = now or timezone.now()
    in_use = definition_in_use()
    definition = in_use.definition
    benchmarks = load_benchmarks()
    # Every outcome instrument at once, so that each view reuses what another read.
    keys = sorted({instrument_key, *definition.instruments, *(b.instrument for b in benchmarks)})
    cohort = _cohort_load(scope, filters, keys)
    instrument = get_instrument(instrument_key)
    remission = Remission.of(instrument)
    routes = {row.course_id: cohort.route_of(row) for row in cohort.rows}
    outcomes = cohort.outcomes(instrument_key, definition, remission, now=now)
    # Each instrument's outcomes once (remission plays no part in a comparison, which
    # applies the study's own cut-off); a study with another response fall gets its own.
    computed: dict[tuple[str, float], list[CourseOutcome]] = {
        (instrument_key, definition.response_fall_percent): outcomes
    }
    comparisons = []
    for benchmark in benchmarks:
        study = benchmark_definition(benchmark, definition)
        group = (benchmark.instrument, study.response_fall_percent)
        if group not in computed:
            computed[group] = cohort.outcomes(benchmark.instrument, study, None, now=now)
        same_route = [o for o in computed[group] if routes[o.course_id] == benchmark.route]
        comparisons.append(compare_benchmark(benchmark, same_route, definition, now=now))
    return OutcomesReport(
        filters=filters,
        in_use=in_use,
        instrument=instrument,
        remission=remission,
        cohort=cohort,
        outcomes=outcomes,
        summary=cohort_summary(outcomes, definition),
        comparisons=comparisons,
        benchmarks=benchmarks,
        now=now,
    )


def filter_choices(user: User) -> dict[str, Any]:
    """Choices for the filter form: the user's locations, protocols, prescribers."""
    prescribers = (
        TreatmentCourse.objects.filter(patient_scope(user, via="patient"))
        .values_list("prescriber_id", "prescriber__first_name", "prescriber__last_name")
        .distinct()
        .order_by("prescriber__last_name", "prescriber_id")
    )
    protocols = protocol_infos()
    return {
        "locations": [(loc.pk, loc.short_name) for loc in locations_for(user)],
        "routes": ROUTES,
        "protocols": sorted(
            {(p.key, p.name) for p in protocols.values()}
            | {(f"{p.key}:{p.version}", p.label) for p in protocols.values()}
        ),
        "prescribers": [(pk, f"{first} {last}".strip()) for pk, first, last in prescribers],
        "age_bands": [name for name, _low, _high in AGE_BANDS],
        "sexes": [(v, label) for v, label in SexAtBirth.choices if v != SexAtBirth.UNKNOWN],
    }


# --- one patient ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientCourseOutcome:
    course: TreatmentCourse
    instrument: Instrument
    remission: Remission | None
    outcome: CourseOutcome
    doses: tuple[datetime, ...]
    flags: tuple[str, ...]


def patient_outcomes(
    patient: Patient, *, now: datetime | None = None
) -> tuple[DefinitionInUse, list[PatientCourseOutcome], list[TreatmentCourse]]:
    """Each dosed course of the patient (newest first), on each outcome instrument the
    patient has scores on; and the courses not yet started."""
    now = now or timezone.now()
    in_use = definition_in_use()
    definition = in_use.definition
    protocols = protocol_infos()
    courses = list(
        TreatmentCourse.objects.filter(patient=patient)
        .select_related("protocol", "prescriber", "location")
        .order_by("created_at", "pk")
    )
    data = patients_read([patient.pk], {patient.pk: None}, frozenset(definition.instruments))[
        patient.pk
    ]
    results: list[PatientCourseOutcome] = []
    not_started = []
    for course in courses:
        given = data.doses.get(course.pk)
        if not given:
            not_started.append(course)
            continue
        for key in definition.instruments:
            if not data.scores.get(key):
                continue
            instrument = get_instrument(key)
            remission = Remission.of(instrument)
            timeline = data.timeline(
                patient.pk,
                course.pk,
                instrument=key,
                induction_sessions=protocols[course.protocol_id].induction_sessions,
                ended=course.phase == TreatmentCourse.Phase.ENDED,
            )
            outcome = course_outcome(timeline, definition, remission, now=now)
            results.append(
                PatientCourseOutcome(
                    course,
                    instrument,
                    remission,
                    outcome,
                    tuple(given),
                    risk_flags(outcome, definition, now=now, ended=timeline.ended),
                )
            )
    results.sort(key=lambda r: (-r.outcome.first_dose.timestamp(), r.instrument.key))
    return in_use, results, not_started


def risk_flags(
    outcome: CourseOutcome, definition: OutcomeDefinition, *, now: datetime, ended: bool
) -> tuple[str, ...]:
    """Relapse risk, each from the definition: a relapse recorded; a response lost on
    fewer scores than the relapse rule needs (one more confirms it); no score for the
    follow-up interval on a course still going."""
    flags = []
    baseline = outcome.baseline
    if outcome.relapse_at is not None:
        how = (
            "a new course started"
            if outcome.relapse_by == "rescue course"
            else f"{definition.relapse_consecutive_measures} scores in a row above the "
            "response threshold"
        )
        flags.append(f"Relapsed {timezone.localtime(outcome.relapse_at):%b %-d, %Y}: {how}")
    elif outcome.first_response is not None and baseline is not None:
        run = 0
        for score in reversed(outcome.follow_up):
            if definition.is_response(baseline.total, score.total):
                break
            run += 1
        if run:
            left = definition.relapse_consecutive_measures - run
            flags.append(
                f"Response lost on the last {run} score{'s' if run > 1 else ''}: "
                f"{left} more above the threshold would be a relapse"
            )
    last = outcome.follow_up[-1].at if outcome.follow_up else None
    if not ended and last is not None:
        days = (now - last).days
        if days >= definition.follow_up_overdue_days:
            flags.append(
                f"No score for {days} days (follow-up due every "
                f"{definition.follow_up_overdue_days} days)"
            )
    return tuple(flags)


# --- measurement-based care gaps -------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """An active course missing a measure of the definition's first instrument."""

    course: TreatmentCourse
    kind: str  # "baseline" | "end_of_induction" | "follow_up"
    text: str
    instrument: Instrument
    context: str  # the questionnaire link's context (measures.models.ResponseContext)

    @property
    def patient(self) -> Any:
        return self.course.patient


def measurement_gaps(
    user: User, *, location_id: int | None = None, now: datetime | None = None
) -> list[Gap]:
    """Every active (not ended) course of the user's patients missing a baseline, missing
    the end-of-induction measure, or overdue for follow-up, by the definitions in force, on
    their first instrument (PHQ-9 by default); oldest course first. A fixed number of
    queries whatever the numbers (the page shows them a page at a time)."""
    now = now or timezone.now()
    definition = definition_in_use().definition
    key = definition.instruments[0]
    instrument = get_instrument(key)
    protocols = protocol_infos()
    courses_qs = TreatmentCourse.objects.filter(patient_scope(user, via="patient")).exclude(
        phase=TreatmentCourse.Phase.ENDED
    )
    if location_id is not None:
        courses_qs = courses_qs.filter(location_id=location_id)
    stamp = PatientOutcomeStamp.objects.filter(patient_id=OuterRef("patient_id")).values("token")
    courses = list(
        courses_qs.select_related("patient", "location")
        # Each protocol version read (and its JSON decoded) once, not once a course.
        .prefetch_related("protocol")
        .annotate(stamp=Subquery(stamp[:1]))
        .order_by("created_at", "pk")
    )
    # The patients' doses and scores and their courses' outcomes as this process keeps
    # them (the outcomes page's cache, by stamp token): only changed patients are read.
    data = _patients_kept(
        {c.patient_id: c.stamp for c in courses},
        frozenset({key}),
        courses_qs.values("patient_id"),
    )
    variant = _variant(key, definition, None)
    gaps = []
    for course in courses:
        patient_data = data[course.patient_id]
        given = patient_data.doses.get(course.pk)
        if not given:
            continue  # not started: the baseline is asked for before the first session
        induction = protocols[course.protocol_id].induction_sessions
        outcome = _outcome_kept(
            patient_data,
            (course.pk, variant, induction),
            False,
            lambda course=course, patient_data=patient_data, induction=induction: (
                patient_data.timeline(
                    course.patient_id,
                    course.pk,
                    instrument=key,
                    induction_sessions=induction,
                    ended=False,
                )
            ),
            definition,
            None,
            now,
        )
        eoi = outcome.timepoints["eoi"]
        last = outcome.follow_up[-1].at if outcome.follow_up else given[0]
        if outcome.baseline is None:
            gaps.append(
                Gap(
                    course,
                    "baseline",
                    f"No {instrument.title} in the {definition.baseline_window_days} days "
                    f"before the first dose ({timezone.localtime(given[0]):%b %-d})",
                    instrument,
                    "baseline",
                )
            )
        elif outcome.induction_end is not None and eoi.due and eoi.score is None:
            gaps.append(
                Gap(
                    course,
                    "end_of_induction",
                    f"No {instrument.title} within {definition.end_of_induction_window_days} "
                    f"days of the last induction session "
                    f"({timezone.localtime(outcome.induction_end):%b %-d})",
                    instrument,
                    "follow_up",
                )
            )
        elif (now - last).days >= definition.follow_up_overdue_days:
            gaps.append(
                Gap(
                    course,
                    "follow_up",
                    f"Last {instrument.title} {(now - last).days} days ago (due every "
                    f"{definition.follow_up_overdue_days} days)",
                    instrument,
                    "follow_up",
                )
            )
    return gaps
