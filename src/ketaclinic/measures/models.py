"""Questionnaire responses, self-report links, safety alerts and measurement schedules."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.clinical.scoring import get_instrument


class ResponseContext(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    PRE_SESSION = "pre_session", "Before a session"
    POST_SESSION = "post_session", "After a session"
    BETWEEN_SESSIONS = "between_sessions", "Between sessions"
    FOLLOW_UP = "follow_up", "Follow-up"


class SelfReportRequest(models.Model):
    """A link sent to a patient to fill in one or more questionnaires.

    Only a SHA-256 digest of the token is stored: a database copy cannot be used to
    answer on the patient's behalf. The link works once and until it expires.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="self_report_requests"
    )
    instrument_keys = models.JSONField()
    context = models.CharField(max_length=20, choices=ResponseContext.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="selfreport_patient")]

    def __str__(self) -> str:
        return f"{', '.join(self.instrument_keys)} for patient {self.patient_id}"

    @property
    def titles(self) -> list[str]:
        return [get_instrument(key).title for key in self.instrument_keys]

    @property
    def is_open(self) -> bool:
        return self.completed_at is None and self.expires_at > timezone.now()


class AssessmentResponse(models.Model):
    """One completed instrument: every item answer, the score and what it signalled.

    Never edited after it is saved; a mistaken entry is corrected by a new response.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="assessment_responses"
    )
    instrument_key = models.CharField(max_length=20)
    answers = models.JSONField(help_text="Item answers in item order, as integers.")
    total = models.SmallIntegerField(null=True, blank=True)
    severity = models.CharField(max_length=60, blank=True)
    risk = models.CharField(max_length=10, blank=True)
    alerts = models.JSONField(default=list, blank=True)
    subscores = models.JSONField(default=dict, blank=True)
    context = models.CharField(max_length=20, choices=ResponseContext.choices)
    completed_by_patient = models.BooleanField()
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The clinician or patient account; empty for a link.",
    )
    self_report_request = models.ForeignKey(
        SelfReportRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="responses",
    )
    course = models.ForeignKey(
        "treatment.TreatmentCourse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assessment_responses",
        help_text="The treatment course active when the response was recorded.",
    )
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["completed_at", "id"]
        indexes = [
            models.Index(
                fields=["patient", "instrument_key", "completed_at"], name="response_trend"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_key} {self.total} ({self.completed_at:%Y-%m-%d})"


class AlertKind(models.TextChoices):
    SUICIDAL_IDEATION = "suicidal_ideation", "Suicidal ideation reported"
    SUICIDE_RISK = "suicide_risk", "Suicide risk on screening"


class AlertAction(models.TextChoices):
    SPOKE_WITH_PATIENT = "spoke_with_patient", "Spoke with the patient; safety plan reviewed"
    URGENT_VISIT = "urgent_visit", "Urgent visit or evaluation arranged"
    CRISIS_SERVICES = "crisis_services", "Crisis team or 988 contacted with the patient"
    EMERGENCY_SERVICES = "emergency_services", "Emergency services called"
    PRESCRIBER_REVIEW = "prescriber_review", "Reviewed by the prescriber; no further action now"
    OTHER = "other", "Other (described in the note)"


class SafetyAlert(models.Model):
    """A suicide-risk signal that a person must acknowledge with the action taken.

    Nothing clears an alert but an acknowledgement; see measures.services.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="safety_alerts"
    )
    response = models.ForeignKey(
        AssessmentResponse, on_delete=models.PROTECT, related_name="safety_alerts"
    )
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    # The location whose care team must act: the patient's location when raised.
    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=AlertAction.choices, blank=True)
    action_note = models.TextField(blank=True)

    class Meta:
        ordering = ["raised_at", "id"]
        indexes = [
            models.Index(fields=["location", "acknowledged_at", "raised_at"], name="alert_open"),
            models.Index(fields=["patient", "acknowledged_at"], name="alert_patient"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["response", "kind"], name="one_alert_per_signal"),
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True)
                | (
                    ~models.Q(action="")
                    & ~models.Q(action_note="")
                    & models.Q(acknowledged_by__isnull=False)
                ),
                name="acknowledgement_records_who_and_what",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for patient {self.patient_id}"


class ScheduleRule(models.Model):
    """An instrument due for a patient every `interval_days` (or once, at baseline)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="measurement_schedule"
    )
    instrument_key = models.CharField(max_length=20)
    interval_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: once, as a baseline measure."
    )
    starts_on = models.DateField(default=timezone.localdate)
    # Kept by measures.services whenever a response is recorded, so the due list is an
    # indexed range query; empty once a one-time measure is done.
    next_due_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["is_active", "next_due_on"], name="schedule_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "instrument_key"],
                condition=models.Q(is_active=True),
                name="one_active_rule_per_instrument",
            ),
        ]

    def __str__(self) -> str:
        every = f"every {self.interval_days} days" if self.interval_days else "once"
        return f"{self.instrument_key} {every}"
