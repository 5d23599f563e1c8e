"""Treatment sessions: check-in to discharge, the readings taken, alerts, the signed note
and the Spravato REMS monitoring form's submission.

Readings, events and alerts are only ever added. A session's own row changes as it moves
through its lifecycle, always under a row lock (see charting.services), and every move is
kept in SessionTransition with who, when and why.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.clinical.monitoring import MonitoringAlert, VitalReading
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.records import SignedRecord


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CHECKED_IN = "checked_in", "Checked in"
    PRECHECKED = "prechecked", "Pre-checks done"
    DOSING = "dosing", "Dosing"
    MONITORING = "monitoring", "Monitoring"
    READY = "ready", "Ready for discharge"
    DISCHARGED = "discharged", "Discharged"
    SIGNED = "signed", "Note signed"
    CANCELLED = "cancelled", "Cancelled"
    STOPPED_EARLY = "stopped_early", "Stopped early"


# A session that ended after dosing: an esketamine one owes its REMS monitoring form.
ENDED_DOSED_STATUSES = (
    SessionStatus.DISCHARGED,
    SessionStatus.SIGNED,
    SessionStatus.STOPPED_EARLY,
)

ACTIVE_STATUSES = (
    SessionStatus.CHECKED_IN,
    SessionStatus.PRECHECKED,
    SessionStatus.DOSING,
    SessionStatus.MONITORING,
    SessionStatus.READY,
)


# A session no longer in the way of the next one: done, stopped, or cancelled (skipped).
FINISHED_STATUSES = (
    SessionStatus.DISCHARGED,
    SessionStatus.SIGNED,
    SessionStatus.STOPPED_EARLY,
    SessionStatus.CANCELLED,
)


class PregnancyTest(models.TextChoices):
    NOT_REQUIRED = "not_required", "Not required"
    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive"
    DECLINED = "declined", "Declined"


def _user_fk(**extra: object) -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", **extra
    )


class TreatmentSession(models.Model):
    """One visit in the chair, made from a planned session of a treatment course."""

    planned_session = models.OneToOneField(
        "treatment.PlannedSession", on_delete=models.PROTECT, related_name="treatment_session"
    )
    course = models.ForeignKey(
        "treatment.TreatmentCourse", on_delete=models.PROTECT, related_name="sessions"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="treatment_sessions"
    )
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="treatment_sessions"
    )
    route = models.CharField(max_length=12)
    status = models.CharField(
        max_length=14, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    version = models.PositiveIntegerField(default=1)
    scheduled_at = models.DateTimeField()
    chair = models.PositiveSmallIntegerField(null=True, blank=True)
    monitoring_provider = _user_fk(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)

    # Pre-checks
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    food_and_drink = models.CharField(max_length=200, blank=True)
    escort_name = models.CharField(max_length=120, blank=True)
    escort_phone = models.CharField(max_length=20, blank=True)
    pregnancy_test = models.CharField(max_length=14, choices=PregnancyTest.choices, blank=True)
    medication_changes = models.TextField(blank=True)
    # Medication classes the REMS form asks about, as taken on the day (keys of
    # clinical.rems.CONCOMITANT_CLASSES), copied from the medication list at pre-checks.
    concomitant_classes = models.JSONField(default=list, blank=True)
    prechecks_by = _user_fk(null=True, blank=True)
    prechecks_at = models.DateTimeField(null=True, blank=True)
    predose_caution_acknowledged_by = _user_fk(null=True, blank=True)
    predose_caution_acknowledged_at = models.DateTimeField(null=True, blank=True)
    predose_caution_note = models.TextField(blank=True)

    # Dosing
    planned_dose_mg = models.DecimalField(max_digits=6, decimal_places=1)
    dose_mg = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    dose_changed_by = _user_fk(null=True, blank=True)
    dose_change_reason = models.TextField(blank=True)
    lot_number = models.CharField(max_length=40, blank=True)
    amount_drawn_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    pump_rate_ml_per_h = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    dosing_started_at = models.DateTimeField(null=True, blank=True)
    dosing_ended_at = models.DateTimeField(null=True, blank=True)

    # Discharge
    ready_at = models.DateTimeField(
        null=True, blank=True, help_text="First time every discharge criterion was met."
    )
    symptoms_resolved = models.BooleanField(default=False)
    escort_present = models.BooleanField(default=False)
    instructions_given = models.BooleanField(default=False)
    discharged_at = models.DateTimeField(null=True, blank=True)
    discharged_by = _user_fk(null=True, blank=True)
    discharge_assessment = models.JSONField(default=list, blank=True)
    discharge_override_by = _user_fk(null=True, blank=True)
    discharge_override_reason = models.TextField(blank=True)
    end_reason = models.TextField(blank=True, help_text="Why it was cancelled or stopped early.")

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(fields=["location", "scheduled_at"], name="session_board"),
            models.Index(fields=["patient", "scheduled_at"], name="session_patient"),
            # The REMS worklist (selectors.rems_worklist): its pages newest first, and the
            # forms that may be pending by when dosing started. Not partial indexes: SQLite
            # does not use one for a query whose values are bound parameters.
            models.Index(fields=["route", "scheduled_at", "id"], name="session_rems"),
            models.Index(fields=["route", "dosing_started_at"], name="session_rems_dosed"),
        ]
        constraints = [
            # One patient per chair at a time, even if two people check in at once.
            models.UniqueConstraint(
                fields=["location", "chair"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="one_session_per_chair",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.planned_session.number} on {self.scheduled_at:%Y-%m-%d}"

    @property
    def treatment_date(self) -> date:
        """The day it happened in the location's time zone (dosing, check-in, booking)."""
        moment = self.dosing_started_at or self.checked_in_at or self.scheduled_at
        return timezone.localtime(moment, self.location.tz).date()

    @property
    def route_label(self) -> str:
        return "Esketamine" if self.is_esketamine else "IV ketamine"

    @property
    def is_esketamine(self) -> bool:
        return self.route == "esketamine"

    @property
    def is_open(self) -> bool:
        return self.status in ACTIVE_STATUSES


class SessionTransition(models.Model):
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="transitions"
    )
    from_status = models.CharField(max_length=14, choices=SessionStatus.choices)
    to_status = models.CharField(max_length=14, choices=SessionStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = _user_fk(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status} at {self.at:%H:%M}"


class DosingEvent(models.Model):
    class Kind(models.TextChoices):
        START = "start", "Infusion started"
        PAUSE = "pause", "Infusion paused"
        RESUME = "resume", "Infusion resumed"
        STOP = "stop", "Infusion stopped"
        DEVICE = "device", "Nasal spray device used"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="dosing_events"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField()
    device_number = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    recorded_by = _user_fk()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%H:%M}"


class CountedQuerySet(models.QuerySet):
    def counted(self) -> models.QuerySet:
        """Entries that count: not struck through as entered in error."""
        return self.filter(struck_at__isnull=True)


class LateEntry(models.Model):
    """Something observed at `taken_at` and typed in at `recorded_at`.

    A wrong entry is never edited or deleted: it is struck through with a reason (entered
    in error). A struck entry stays on the chart, crossed out, and in the note's history,
    but no longer counts towards alerts, the baseline or discharge (services.entry_strike).
    """

    LATE_AFTER_SECONDS = 120

    taken_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = _user_fk()
    # Unusual but possible values the person confirmed (codes of clinical.safety_limits).
    confirmed = models.JSONField(default=list, blank=True)
    struck_at = models.DateTimeField(null=True, blank=True)
    struck_by = _user_fk(null=True, blank=True)
    strike_reason = models.TextField(blank=True)

    objects = CountedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["taken_at", "id"]

    @property
    def is_late(self) -> bool:
        """The time was edited back: entered more than two minutes after it was taken."""
        return (self.recorded_at - self.taken_at).total_seconds() > self.LATE_AFTER_SECONDS

    @property
    def is_struck(self) -> bool:
        return self.struck_at is not None


class VitalSign(LateEntry):
    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="vital_signs"
    )
    predose = models.BooleanField(default=False)
    systolic = models.PositiveSmallIntegerField("systolic BP (mmHg)", null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField("diastolic BP (mmHg)", null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField("heart rate (bpm)", null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField("SpO2 (%)", null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(
        "respiratory rate (/min)", null=True, blank=True
    )

    class Meta(LateEntry.Meta):
        indexes = [models.Index(fields=["session", "taken_at"], name="vitals_session")]

    def __str__(self) -> str:
        return f"BP {self.bp_text} HR {self.heart_rate} at {self.taken_at:%H:%M}"

    def as_reading(self) -> VitalReading:
        """This row as the clinical core's reading."""
        return VitalReading(
            at=self.taken_at,
            systolic=self.systolic,
            diastolic=self.diastolic,
            heart_rate=self.heart_rate,
            spo2=self.spo2,
            respiratory_rate=self.respiratory_rate,
        )

    @property
    def bp_text(self) -> str:
        if self.systolic is None and self.diastolic is None:
            return ""
        return f"{self.systolic or '--'}/{self.diastolic or '--'}"


class SessionScore(LateEntry):
    """MOAA/S (sedation) or CADSS / CADSS-6 (dissociation) at a point in the session."""

    class Instrument(models.TextChoices):
        MOAAS = "moaas", "MOAA/S (sedation, 0-5)"
        CADSS = "cadss", "CADSS (dissociation, 0-92)"
        CADSS6 = "cadss6", "CADSS-6 (dissociation, 0-24)"

    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="scores")
    instrument = models.CharField(max_length=8, choices=Instrument.choices)
    score = models.PositiveSmallIntegerField()

    class Meta(LateEntry.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.instrument} {self.score} at {self.taken_at:%H:%M}"

    @staticmethod
    def score_range(instrument: str) -> tuple[int, int]:
        """Lowest and highest score, from the instrument's definition (CADSS-6: its items)."""
        if instrument == "cadss6":
            cadss = get_instrument("cadss")
            items = dict(cadss.subscales)["cadss6"]
            return (
                sum(cadss.item_ranges[i][0] for i in items),
                sum(cadss.item_ranges[i][1] for i in items),
            )
        definition = get_instrument(instrument)
        return definition.total_min or 0, int(definition.total_max or 0)


class SideEffect(LateEntry):
    class Kind(models.TextChoices):
        NAUSEA = "nausea", "Nausea"
        VOMITING = "vomiting", "Vomiting"
        DIZZINESS = "dizziness", "Dizziness"
        HEADACHE = "headache", "Headache"
        ANXIETY = "anxiety", "Anxiety"
        DISSOCIATION_DISTRESS = "dissociation_distress", "Distressing dissociation"
        RESPIRATORY_DEPRESSION = "respiratory_depression", "Respiratory depression"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="side_effects"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta(LateEntry.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.severity})"


class Intervention(LateEntry):
    """Something done for the patient: a PRN medication, pausing the infusion, other care."""

    class Kind(models.TextChoices):
        PRN_MEDICATION = "prn_medication", "PRN medication"
        OXYGEN = "oxygen", "Oxygen"
        REPOSITIONING = "repositioning", "Repositioning or reassurance"
        OTHER = "other", "Other"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="interventions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    medication = models.CharField(max_length=120, blank=True)
    dose = models.CharField(max_length=60, blank=True, help_text="With its unit, e.g. 4 mg.")
    route = models.CharField(max_length=30, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta(LateEntry.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.medication}".strip()


class AdverseEvent(LateEntry):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        LIFE_THREATENING = "life_threatening", "Life-threatening"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        RESOLVING = "resolving", "Resolving"
        ONGOING = "ongoing", "Ongoing at discharge"
        TRANSFERRED = "transferred", "Transferred to emergency care"

    session = models.ForeignKey(
        TreatmentSession, on_delete=models.PROTECT, related_name="adverse_events"
    )
    description = models.CharField(max_length=300)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    serious = models.BooleanField(
        help_text="Death, life-threatening, hospitalisation, disability or other important event."
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices)

    class Meta(LateEntry.Meta):
        pass

    def __str__(self) -> str:
        return self.description


class SessionAlert(models.Model):
    """A monitoring alert. Only an acknowledgement with the action taken closes it."""

    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="alerts")
    # Denormalised so the board finds a location's open alerts with one index.
    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    kind = models.CharField(max_length=24)
    at = models.DateTimeField(help_text="Time of the reading (or due time) that raised it.")
    message = models.TextField()
    source = models.TextField()
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = _user_fk(null=True, blank=True)
    action_taken = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["location", "acknowledged_at"], name="session_alert_open"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "kind", "at"], name="one_alert_per_event"),
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True)
                | (~models.Q(action_taken="") & models.Q(acknowledged_by__isnull=False)),
                name="session_alert_ack_records_who_and_what",
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @classmethod
    def raised(cls, session: TreatmentSession, alert: MonitoringAlert, now: Any) -> SessionAlert:
        """An unsaved row for an alert the monitoring rules raised."""
        return cls(
            session=session,
            location_id=session.location_id,
            kind=str(alert.kind),
            at=alert.at,
            message=alert.message,
            source=alert.source,
            raised_at=now,
        )

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class SessionNote(SignedRecord):
    """The signed session note, composed from the chart. After signing: only addenda."""

    session = models.OneToOneField(TreatmentSession, on_delete=models.PROTECT, related_name="note")
    body = models.TextField()
    signed_by = _user_fk()
    signed_by_name = models.CharField(max_length=200)
    signature_meaning = models.TextField()
    signed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Note signed by {self.signed_by_name}"


class NoteCosignature(SignedRecord):
    note = models.OneToOneField(SessionNote, on_delete=models.PROTECT, related_name="cosignature")
    signed_by = _user_fk()
    signed_by_name = models.CharField(max_length=200)
    signature_meaning = models.TextField()
    signed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Co-signed by {self.signed_by_name}"


class NoteAddendum(SignedRecord):
    note = models.ForeignKey(SessionNote, on_delete=models.PROTECT, related_name="addenda")
    body = models.TextField()
    written_by = _user_fk()
    written_by_name = models.CharField(max_length=200)
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "id"]

    def __str__(self) -> str:
        return f"Addendum by {self.written_by_name}"


class RemsSubmission(SignedRecord):
    """The Spravato REMS Patient Monitoring Form was sent (clinical-reference.md section 6)."""

    class Method(models.TextChoices):
        ONLINE = "online", "REMS website"
        FAX = "fax", "Fax"
        PHONE = "phone", "Phone"

    session = models.OneToOneField(
        TreatmentSession, on_delete=models.PROTECT, related_name="rems_submission"
    )
    submitted_on = models.DateField()
    method = models.CharField(max_length=8, choices=Method.choices)
    confirmation_number = models.CharField(max_length=60)
    form = models.JSONField(help_text="The form as it was submitted.")
    recorded_by = _user_fk()
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"REMS form submitted {self.submitted_on}"


class RemsFormOwed(models.Model):
    """An esketamine session that ended after dosing and whose REMS monitoring form is not
    submitted yet: kept by the database (charting/triggers.py, REMS_FORMS_OWED) from the
    sessions and submissions, so the pending and overdue worklists read the few forms
    owed instead of every esketamine session. Written by the triggers only."""

    session_id = models.BigIntegerField(primary_key=True)
    location_id = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"REMS form owed for session {self.session_id}"


class SessionInChair(models.Model):
    """A session checked in and not yet discharged, cancelled or stopped (ACTIVE_STATUSES):
    kept by the database (charting/triggers.py, SESSIONS_IN_CHAIR), so the chair board
    finds the sessions still open from an earlier day without reading the location's
    past sessions. Written by the triggers only."""

    session_id = models.BigIntegerField(primary_key=True)
    location_id = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"Session {self.session_id} in the chair"
