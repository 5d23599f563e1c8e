"""Protocol versions (the clinic's copies), treatment courses and their planned sessions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.records import SignedRecord


class ProtocolVersion(SignedRecord):
    """One version of a protocol. Editing makes a new version; a course records the version
    it follows, so a later edit never changes what an existing course was planned under."""

    key = models.CharField(max_length=60)
    version = models.PositiveIntegerField()
    data = models.JSONField()
    change_note = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for the version shipped with ketaclinic.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="one_protocol_version"),
        ]

    def __str__(self) -> str:
        return f"{self.data.get('name', self.key)} v{self.version}"

    @property
    def name(self) -> str:
        return str(self.data.get("name", self.key))

    @property
    def route(self) -> str:
        return str(self.data.get("route", ""))


class TreatmentCourse(models.Model):
    class Phase(models.TextChoices):
        INDUCTION = "induction", "Induction"
        EVALUATION = "evaluation", "Evaluation after induction"
        MAINTENANCE = "maintenance", "Maintenance"
        TAPER = "taper", "Taper"
        ENDED = "ended", "Ended"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="treatment_courses"
    )
    protocol = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="courses")
    eligibility_decision = models.ForeignKey(
        "eligibility.EligibilityDecision", on_delete=models.PROTECT, related_name="courses"
    )
    consent = models.ForeignKey(
        "eligibility.ConsentSignature", on_delete=models.PROTECT, related_name="courses"
    )
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="treatment_courses"
    )
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.INDUCTION)
    weight_basis = models.CharField(max_length=10)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    basis_weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    mg_per_kg = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    infusion_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    planned_dose_mg = models.DecimalField(max_digits=6, decimal_places=1)
    rems_patient_enrollment_id = models.CharField(max_length=40, blank=True)
    rems_enrolled_on = models.DateField(null=True, blank=True)
    ended_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="course_patient")]

    def __str__(self) -> str:
        return f"{self.protocol.name} from {self.created_at:%Y-%m-%d}"


class PlannedSession(models.Model):
    """A session the course plans; session charting turns it into a treatment session."""

    course = models.ForeignKey(
        TreatmentCourse, on_delete=models.PROTECT, related_name="planned_sessions"
    )
    number = models.PositiveSmallIntegerField()
    starts_at = models.DateTimeField()
    planned_dose_mg = models.DecimalField(max_digits=6, decimal_places=1)

    class Meta:
        ordering = ["course", "number"]
        constraints = [
            models.UniqueConstraint(fields=["course", "number"], name="one_session_number"),
        ]

    def __str__(self) -> str:
        return f"Session {self.number} at {self.starts_at:%Y-%m-%d %H:%M}"
