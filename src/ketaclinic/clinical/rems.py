"""Spravato REMS Patient Monitoring Form, built from the session chart.

Source: clinical-reference.md section 6 (Spravato REMS Patient Monitoring Form), which
lists what the form asks for and says it is submitted within 7 days of each session, and
section 5 (esketamine REMS: BP before dosing, at about 40 minutes and before discharge;
observe at least 2 hours).

`build_rems_form` turns raw chart facts (`RemsFacts`, gathered by the Django side) into
the form's fields in the form's order, formats each value for printing, flags the values
the form cannot be submitted without (`RemsField.missing`) and adds warnings for facts the
REMS does not allow or expects (monitoring under 120 minutes, a patient not enrolled, a
setting without a certification number, no BP near 40 minutes).

It never makes a clinical judgement itself: whether vital signs were acceptable before
dosing and at completion, whether sedation, dissociation, respiratory depression or a
serious adverse event occurred, and when the patient was ready to leave are passed in as
the clinician charted them. It only picks readings (the BP nearest 40 minutes, the last BP
before completion) and does arithmetic on times.

Pure: no Django imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

__all__ = [
    "BP_CHECK_MINUTES",
    "BP_CHECK_TOLERANCE_MIN",
    "CONCOMITANT_CLASSES",
    "DEFAULT_FORM_DUE_DAYS",
    "REMS_MIN_MONITORING_MIN",
    "BloodPressure",
    "FormStatus",
    "RemsFacts",
    "RemsField",
    "RemsForm",
    "build_rems_form",
    "rems_due_date",
    "rems_form_status",
]

# The concomitant medication classes the form asks about (clinical-reference.md section 6
# (Spravato REMS Patient Monitoring Form)): (key, label).
CONCOMITANT_CLASSES: tuple[tuple[str, str], ...] = (
    ("benzodiazepine", "Benzodiazepines"),
    ("non_benzo_hypnotic", "Non-benzodiazepine sedative hypnotics"),
    ("psychostimulant", "Psychostimulants"),
    ("maoi", "Monoamine oxidase inhibitors (MAOIs)"),
    ("opioid", "Opioids"),
)
_CONCOMITANT_KEYS = frozenset(key for key, _label in CONCOMITANT_CLASSES)

# Total monitoring from the first device to the end of monitoring must be at least this
# many minutes (clinical-reference.md section 5 "observe at least 2 hours" and section 6).
REMS_MIN_MONITORING_MIN = 120
# The form is submitted within 7 days of each session (clinical-reference.md section 6).
DEFAULT_FORM_DUE_DAYS = 7
# "BP ... at about 40 minutes" after the first device (clinical-reference.md section 5).
BP_CHECK_MINUTES = 40
# ketaclinic default, not from a cited source: a reading 30-50 minutes after the first
# device (40 +/- 10) counts as the "about 40 minutes" BP.
BP_CHECK_TOLERANCE_MIN = 10

# Doses with their own box on the form; anything else is reported as "Other".
_FORM_DOSES_MG = (56, 84)
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class BloodPressure:
    """One blood pressure reading; `at` must be timezone-aware."""

    at: datetime
    systolic: int
    diastolic: int

    @property
    def text(self) -> str:
        """The reading as printed on the form, e.g. "142/88"."""
        return f"{self.systolic}/{self.diastolic}"


@dataclass(frozen=True)
class RemsFacts:
    """Raw facts from one esketamine session's chart, gathered by the Django side.

    Clinical judgements (vital-sign acceptability, adverse events, ready-to-leave time) are
    the clinician's, as charted; `build_rems_form` does not derive them.
    """

    patient_name: str
    patient_date_of_birth: date
    patient_sex: str  # display text, e.g. "Female"
    patient_rems_id: str  # "" when not enrolled
    patient_enrolled: bool
    first_treatment: bool
    concomitant_classes: frozenset[str]  # keys of CONCOMITANT_CLASSES currently taken
    monitoring_provider: str
    setting_name: str
    setting_address: str
    setting_rems_id: str
    treatment_date: date
    dose_mg: int
    lot_numbers: tuple[str, ...]
    first_device_at: datetime | None
    monitoring_ended_at: datetime | None  # discharge time
    ready_to_leave_at: datetime | None  # first time every discharge criterion was met
    predose_bp: BloodPressure | None  # the last BP before the first device
    session_bps: tuple[BloodPressure, ...]  # every BP after the first device (any order)
    vitals_acceptable_before_dosing: bool | None  # None: not judged
    vitals_acceptable_at_completion: bool | None
    sedation: bool
    dissociation: bool
    respiratory_depression: bool
    serious_adverse_event: bool
    adverse_event_description: str = ""


@dataclass(frozen=True)
class RemsField:
    """One line of the form: stable key, the form's wording, the printed value."""

    key: str
    label: str
    value: str  # "" when missing
    missing: bool  # True when the form cannot be submitted without it


@dataclass(frozen=True)
class RemsForm:
    """The filled form, fields in the order of clinical-reference.md section 6
    (Spravato REMS Patient Monitoring Form), plus warnings for the clinic."""

    fields: tuple[RemsField, ...]
    warnings: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """True when no field is missing (the form can be submitted)."""
        return not any(f.missing for f in self.fields)

    def value(self, key: str) -> str:
        """The printed value of the field `key`; KeyError for an unknown key."""
        for f in self.fields:
            if f.key == key:
                return f.value
        raise KeyError(key)


class FormStatus(StrEnum):
    """Submission status of a session's REMS form."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    OVERDUE = "overdue"


def rems_due_date(treatment_date: date, due_days: int = DEFAULT_FORM_DUE_DAYS) -> date:
    """Last day to submit the form: the treatment date plus `due_days` (7).

    clinical-reference.md section 6 (Spravato REMS Patient Monitoring Form): "submit
    within 7 days of each session". A session on 2026-03-02 is due by 2026-03-09.
    """
    if due_days < 0:
        raise ValueError("due_days must not be negative")
    return treatment_date + timedelta(days=due_days)


def rems_form_status(
    *,
    treatment_date: date,
    submitted_on: date | None,
    today: date,
    due_days: int = DEFAULT_FORM_DUE_DAYS,
) -> FormStatus:
    """SUBMITTED once submitted (even late); otherwise OVERDUE after the due date, else
    PENDING (the due date itself is still PENDING).

    clinical-reference.md section 6 (Spravato REMS Patient Monitoring Form).
    """
    if submitted_on is not None:
        return FormStatus.SUBMITTED
    if today > rems_due_date(treatment_date, due_days):
        return FormStatus.OVERDUE
    return FormStatus.PENDING


# --- building the form ---------------------------------------------------------------


def _require_aware(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _validate(facts: RemsFacts) -> None:
    _require_aware("first_device_at", facts.first_device_at)
    _require_aware("monitoring_ended_at", facts.monitoring_ended_at)
    _require_aware("ready_to_leave_at", facts.ready_to_leave_at)
    if facts.predose_bp is not None:
        _require_aware("predose_bp.at", facts.predose_bp.at)
    for i, reading in enumerate(facts.session_bps):
        _require_aware(f"session_bps[{i}].at", reading.at)
    if facts.dose_mg <= 0:
        raise ValueError("dose_mg must be positive")
    unknown = set(facts.concomitant_classes) - _CONCOMITANT_KEYS
    if unknown:
        raise ValueError(f"unknown concomitant class keys: {', '.join(sorted(unknown))}")


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _hhmm(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def _bp_value(reading: BloodPressure | None, tz: tzinfo) -> str:
    if reading is None:
        return ""
    return f"{reading.text} mmHg at {_hhmm(reading.at, tz)}"


def _whole_minutes(start: datetime, end: datetime) -> int:
    """Whole minutes from start to end, rounded down."""
    return (end - start) // _MINUTE


def _dose_value(dose_mg: int) -> str:
    if dose_mg in _FORM_DOSES_MG:
        return f"{dose_mg} mg"
    return f"Other: {dose_mg} mg"


def _bp_sort_key(reading: BloodPressure) -> tuple[datetime, int, int]:
    return (reading.at, reading.systolic, reading.diastolic)


def _bp_near_40(
    first_device_at: datetime, readings: Iterable[BloodPressure]
) -> BloodPressure | None:
    """The reading closest to first device + 40 min, within the tolerance; ties go to the
    earlier reading (then the lower values, so the result never depends on input order)."""
    target = first_device_at + timedelta(minutes=BP_CHECK_MINUTES)
    tolerance = timedelta(minutes=BP_CHECK_TOLERANCE_MIN)
    candidates = [r for r in readings if abs(r.at - target) <= tolerance]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (abs(r.at - target), *_bp_sort_key(r)))


def _bp_before_completion(
    monitoring_ended_at: datetime, readings: Iterable[BloodPressure]
) -> BloodPressure | None:
    """The latest reading taken at or before the end of monitoring."""
    candidates = [r for r in readings if r.at <= monitoring_ended_at]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.at, -r.systolic, -r.diastolic))


def build_rems_form(facts: RemsFacts, *, tz: tzinfo) -> RemsForm:
    """Fill the Spravato REMS Patient Monitoring Form from one session's chart facts.

    Fields follow clinical-reference.md section 6 (Spravato REMS Patient Monitoring Form)
    in its order. Dates print as YYYY-MM-DD and times as HH:MM in `tz`. A field is
    missing (and printed "") when its text is empty, its time cannot be computed, its
    acceptability was not judged, or its BP was not recorded; the lot number is missing
    when none is given.

    Minutes are whole minutes from the first device, rounded down. The "about 40
    minutes" BP is the session reading closest to first device + `BP_CHECK_MINUTES`
    within +/- `BP_CHECK_TOLERANCE_MIN` (a ketaclinic default), ties to the earlier
    reading. The BP before completion is the latest session reading at or before the end
    of monitoring.

    Raises ValueError for a naive datetime, a dose that is not positive, or an unknown
    concomitant class key.
    """
    _validate(facts)
    fields: list[RemsField] = []
    warnings: list[str] = []

    def add(key: str, label: str, value: str, missing: bool | None = None) -> None:
        value = value.strip()
        fields.append(RemsField(key, label, value, (not value) if missing is None else missing))

    # Patient
    add("patient_name", "Patient name", facts.patient_name)
    add("patient_date_of_birth", "Patient date of birth", facts.patient_date_of_birth.isoformat())
    add("patient_sex", "Patient sex", facts.patient_sex)
    add("first_treatment", "First treatment with Spravato?", _yes_no(facts.first_treatment))
    enrolled = _yes_no(facts.patient_enrolled)
    rems_id = facts.patient_rems_id.strip()
    if facts.patient_enrolled and rems_id:
        enrolled = f"Yes (REMS patient ID {rems_id})"
    add("patient_enrolled", "Patient enrolled in the Spravato REMS?", enrolled)
    if not facts.patient_enrolled:
        warnings.append(
            "The patient is not enrolled in the Spravato REMS; patients must be enrolled "
            "before the first treatment."
        )
    for key, label in CONCOMITANT_CLASSES:
        add(
            f"concomitant_{key}",
            f"Concomitant medication: {label}",
            _yes_no(key in facts.concomitant_classes),
        )

    # Provider and setting
    add(
        "monitoring_provider",
        "Healthcare provider who monitored the patient",
        facts.monitoring_provider,
    )
    add("setting_name", "Healthcare setting name", facts.setting_name)
    setting_id = facts.setting_rems_id.strip()
    address = facts.setting_address.strip()
    address_value = (
        f"{address} (REMS setting ID {setting_id})" if address and setting_id else address
    )
    add("setting_address", "Healthcare setting address", address_value)
    if not setting_id:
        warnings.append("The setting has no REMS certification number on record.")

    # Treatment
    add("treatment_date", "Treatment date", facts.treatment_date.isoformat())
    add("dose", "Dose", _dose_value(facts.dose_mg))
    lots = ", ".join(lot.strip() for lot in facts.lot_numbers if lot.strip())
    add("lot_numbers", "Lot number(s)", lots)

    # Monitoring times
    first = facts.first_device_at
    total = ""
    if first is not None and facts.monitoring_ended_at is not None:
        minutes = _whole_minutes(first, facts.monitoring_ended_at)
        if minutes < 0:
            warnings.append("The end of monitoring is charted before the first device.")
        else:
            total = f"{minutes} min"
            if minutes < REMS_MIN_MONITORING_MIN:
                warnings.append(
                    f"Monitoring lasted {minutes} min, under the REMS minimum of "
                    f"{REMS_MIN_MONITORING_MIN} min."
                )
    add(
        "total_monitoring_minutes",
        "Total minutes from the first device to the end of monitoring",
        total,
    )
    ready = ""
    if first is not None and facts.ready_to_leave_at is not None:
        minutes = _whole_minutes(first, facts.ready_to_leave_at)
        if minutes < 0:
            warnings.append("The ready-to-leave time is charted before the first device.")
        else:
            ready = f"{minutes} min"
        if (
            facts.monitoring_ended_at is not None
            and facts.ready_to_leave_at > facts.monitoring_ended_at
        ):
            warnings.append("The ready-to-leave time is after the end of monitoring.")
    add(
        "ready_to_leave_minute",
        "Minute (from the first device) at which the patient would have been ready to leave",
        ready,
    )

    # Vital signs (clinician's judgement, passed in)
    def judged(flag: bool | None) -> str:
        return "" if flag is None else _yes_no(flag)

    add(
        "vitals_acceptable_before_dosing",
        "Vital signs acceptable before dosing?",
        judged(facts.vitals_acceptable_before_dosing),
    )
    add(
        "vitals_acceptable_at_completion",
        "Vital signs acceptable at completion of monitoring?",
        judged(facts.vitals_acceptable_at_completion),
    )

    # Blood pressure
    predose = facts.predose_bp
    if predose is not None and first is not None and predose.at > first:
        warnings.append("The pre-dose BP is charted after the first device.")
    add("bp_before_dosing", "Blood pressure before dosing", _bp_value(predose, tz))

    at_40: BloodPressure | None = None
    if first is not None:
        at_40 = _bp_near_40(first, facts.session_bps)
        if at_40 is None:
            low = BP_CHECK_MINUTES - BP_CHECK_TOLERANCE_MIN
            high = BP_CHECK_MINUTES + BP_CHECK_TOLERANCE_MIN
            warnings.append(
                f"No BP was recorded between {low} and {high} min after the first device."
            )
    add(
        "bp_at_40_min",
        "Blood pressure at about 40 minutes after the first device",
        _bp_value(at_40, tz),
    )

    before_end: BloodPressure | None = None
    if facts.monitoring_ended_at is not None:
        before_end = _bp_before_completion(facts.monitoring_ended_at, facts.session_bps)
        if before_end is not None and before_end is at_40:
            warnings.append(
                "The last BP before completion is the 40-minute reading; no later BP was "
                "recorded before discharge."
            )
    add(
        "bp_before_completion",
        "Blood pressure before completion of monitoring",
        _bp_value(before_end, tz),
    )

    # Adverse events (clinician's judgement, passed in)
    add("sedation", "Sedation", _yes_no(facts.sedation))
    add("dissociation", "Dissociation", _yes_no(facts.dissociation))
    add("respiratory_depression", "Respiratory depression", _yes_no(facts.respiratory_depression))
    description = facts.adverse_event_description.strip()
    sae = "No"
    if facts.serious_adverse_event:
        sae = f"Yes: {description}" if description else "Yes"
        if not description:
            warnings.append("A serious adverse event is charted without a description.")
    add("serious_adverse_events", "Serious adverse events", sae)

    return RemsForm(fields=tuple(fields), warnings=tuple(warnings))
