"""The patient registry: who the patient is, how to reach them, and their history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import models
from django.utils import timezone

from ketaclinic.clinical.body import age_in_years, body_mass_index
from ketaclinic.clinical.codes import normalize_us_phone
from ketaclinic.clinical.search import name_key
from ketaclinic.organization.models import STATE_CHOICES
from ketaclinic.patients.validators import (
    validate_birth_date,
    validate_height_cm,
    validate_icd10_cm,
    validate_not_future,
    validate_us_phone,
    validate_weight_kg,
)

# SNOMED CT 409137002 "No known drug allergy (situation)": the code HL7 FHIR
# AllergyIntolerance and US Core use for a negated allergy statement (NKDA).
NO_KNOWN_DRUG_ALLERGY_SNOMED_CT = "409137002"
PHONE_FIELDS = ("phone", "emergency_contact_phone", "escort_phone")


class SexAtBirth(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Not recorded"


class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=16, unique=True)
    legal_first_name = models.CharField(max_length=100)
    legal_last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    # Normalised keys (lower case, no accents) so search is fast and forgiving.
    first_name_key = models.CharField(max_length=100, editable=False)
    last_name_key = models.CharField(max_length=100, editable=False)
    preferred_name_key = models.CharField(max_length=100, editable=False, blank=True)
    date_of_birth = models.DateField(validators=[validate_birth_date])
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=60, blank=True)
    pronouns = models.CharField(max_length=30, blank=True)
    phone = models.CharField(max_length=20, validators=[validate_us_phone])
    email = models.EmailField(blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(
        "state of residence",
        max_length=2,
        choices=STATE_CHOICES,
        help_text="Where the patient lives: decides which clinicians may see them by telehealth.",
    )
    postal_code = models.CharField(max_length=10, blank=True)
    emergency_contact_name = models.CharField(max_length=120, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    emergency_contact_phone = models.CharField(
        max_length=20, blank=True, validators=[validate_us_phone]
    )
    escort_name = models.CharField(
        max_length=120, blank=True, help_text="Who drives the patient home after a session."
    )
    escort_phone = models.CharField(max_length=20, blank=True, validators=[validate_us_phone])
    primary_location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="patients"
    )
    # "No known drug allergies", stated by a clinician who asked the patient. Empty means
    # nobody has documented the allergy status yet; adding an allergy clears it
    # (services.allergy_add). Read it through selectors.allergy_status.
    nkda_verified_by = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="NKDA verified by",
    )
    nkda_verified_at = models.DateTimeField(
        "NKDA verified at", null=True, blank=True, editable=False
    )
    # Bumped on every change of the demographics, so a stale form cannot overwrite.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["last_name_key", "first_name_key", "id"]
        indexes = [
            models.Index(
                fields=["primary_location", "last_name_key", "first_name_key", "id"],
                name="patient_loc_name",
            ),
            models.Index(fields=["last_name_key", "first_name_key", "id"], name="patient_name"),
            models.Index(fields=["first_name_key"], name="patient_first"),
            models.Index(fields=["preferred_name_key"], name="patient_preferred"),
            models.Index(fields=["date_of_birth"], name="patient_dob"),
            # Staff search within their own location(s): one index per search branch.
            models.Index(fields=["primary_location", "first_name_key"], name="patient_loc_first"),
            models.Index(
                fields=["primary_location", "preferred_name_key"], name="patient_loc_preferred"
            ),
            models.Index(fields=["primary_location", "date_of_birth"], name="patient_loc_dob"),
            # "Recently registered" on home pages.
            models.Index(fields=["-created_at", "-id"], name="patient_recent"),
            models.Index(fields=["primary_location", "-created_at"], name="patient_loc_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    @property
    def display_name(self) -> str:
        """Last, First ("Preferred") as staff lists show it."""
        name = f"{self.legal_last_name}, {self.legal_first_name}"
        if self.preferred_name and self.preferred_name != self.legal_first_name:
            name += f" \u201c{self.preferred_name}\u201d"
        return name

    def derive_fields(self) -> None:
        """Derived fields, before validation and saving: search keys and phone numbers in
        one format."""
        self.first_name_key = name_key(self.legal_first_name)
        self.last_name_key = name_key(self.legal_last_name)
        self.preferred_name_key = name_key(self.preferred_name)
        for field in PHONE_FIELDS:
            value = getattr(self, field)
            if value:
                setattr(self, field, normalize_us_phone(value) or value)

    @property
    def called_name(self) -> str:
        return self.preferred_name or self.legal_first_name

    def age_on(self, on: date) -> int:
        return age_in_years(date_of_birth=self.date_of_birth, on=on)

    @property
    def age_years(self) -> int:
        return self.age_on(timezone.localdate())


class BodyMeasurement(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measurements")
    measured_on = models.DateField(validators=[validate_not_future])
    height_cm = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=[validate_height_cm]
    )
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, validators=[validate_weight_kg])
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-measured_on", "-id"]
        indexes = [models.Index(fields=["patient", "-measured_on"], name="measure_patient_date")]

    def __str__(self) -> str:
        return f"{self.weight_kg} kg on {self.measured_on}"

    @property
    def bmi(self) -> Decimal | None:
        if self.height_cm is None:
            return None
        return body_mass_index(weight_kg=self.weight_kg, height_cm=self.height_cm)


class DiagnosisStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    IN_REMISSION = "in_remission", "In remission"
    RESOLVED = "resolved", "Resolved"


class Diagnosis(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="diagnoses")
    icd10_code = models.CharField("ICD-10-CM code", max_length=8, validators=[validate_icd10_cm])
    description = models.CharField(max_length=200)
    onset_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    status = models.CharField(
        max_length=15, choices=DiagnosisStatus.choices, default=DiagnosisStatus.ACTIVE
    )
    is_primary = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_primary", "icd10_code"]
        verbose_name_plural = "diagnoses"

    def __str__(self) -> str:
        return f"{self.icd10_code} {self.description}"


class MedicationClass(models.TextChoices):
    ANTIDEPRESSANT = "antidepressant", "Antidepressant"
    ANTIPSYCHOTIC = "antipsychotic", "Antipsychotic"
    MOOD_STABILIZER = "mood_stabilizer", "Mood stabiliser"
    BENZODIAZEPINE = "benzodiazepine", "Benzodiazepine"
    NON_BENZO_HYPNOTIC = "non_benzo_hypnotic", "Non-benzodiazepine hypnotic"
    PSYCHOSTIMULANT = "psychostimulant", "Psychostimulant"
    MAOI = "maoi", "MAOI"
    OPIOID = "opioid", "Opioid"
    ANTIHYPERTENSIVE = "antihypertensive", "Antihypertensive"
    OTHER = "other", "Other"


class Adherence(models.TextChoices):
    GOOD = "good", "Good (took nearly all doses)"
    PARTIAL = "partial", "Partial"
    POOR = "poor", "Poor"
    UNKNOWN = "unknown", "Unknown"


class TrialOutcome(models.TextChoices):
    NO_RESPONSE = "no_response", "No response"
    PARTIAL_RESPONSE = "partial_response", "Partial response"
    RESPONSE = "response", "Response"
    REMISSION = "remission", "Remission"
    INTOLERANCE = "intolerance", "Stopped: side effects"
    ONGOING = "ongoing", "Ongoing"


class Medication(models.Model):
    """A medication taken now or in the past. For an antidepressant this is also a
    treatment trial: dose, weeks at that dose, adherence and outcome (reference §3)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medications")
    name = models.CharField(max_length=120)
    medication_class = models.CharField(max_length=20, choices=MedicationClass.choices)
    dose_mg_per_day = models.DecimalField(
        "dose (mg/day)", max_digits=7, decimal_places=2, null=True, blank=True
    )
    directions = models.CharField(max_length=200, blank=True)
    started_on = models.DateField(null=True, blank=True)
    stopped_on = models.DateField(null=True, blank=True)
    is_current = models.BooleanField(default=True)
    weeks_at_dose = models.PositiveSmallIntegerField(null=True, blank=True)
    adherence = models.CharField(max_length=10, choices=Adherence.choices, blank=True)
    trial_outcome = models.CharField(max_length=20, choices=TrialOutcome.choices, blank=True)
    in_current_episode = models.BooleanField(
        default=False, help_text="Tried during the current depressive episode."
    )
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_current", "-started_on", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_antidepressant_trial(self) -> bool:
        return self.medication_class == MedicationClass.ANTIDEPRESSANT


class AllergySeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    UNKNOWN = "unknown", "Unknown"


class Allergy(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="allergies")
    substance = models.CharField(max_length=120)
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=AllergySeverity.choices)
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["substance"]
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return self.substance


class SubstanceUseStatus(models.TextChoices):
    CURRENT = "current", "Current use"
    PAST = "past", "Past use"
    IN_RECOVERY = "in_recovery", "In recovery"
    NEVER = "never", "Never"


class SubstanceUse(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="substance_use")
    substance = models.CharField(max_length=80)
    status = models.CharField(max_length=12, choices=SubstanceUseStatus.choices)
    amount_and_frequency = models.CharField(max_length=200, blank=True)
    last_use_on = models.DateField(null=True, blank=True)
    notes = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["substance"]
        verbose_name_plural = "substance use"

    def __str__(self) -> str:
        return f"{self.substance} ({self.get_status_display()})"


class MrnSequence(models.Model):
    """A single-row counter for medical record numbers; rows are locked while taken."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"MRN counter at {self.last_number}"


class PatientImport(models.Model):
    """A file of patients from another system, checked before anything is saved
    (patients.importing), then imported all at once or discarded (patients.services).

    The file's text is kept only while the import waits for its confirmation: it holds
    patients' details, so importing or discarding it clears the text and keeps the
    fingerprint and the counts."""

    class Status(models.TextChoices):
        CHECKED = "checked", "Checked, waiting for confirmation"
        IMPORTED = "imported", "Imported"
        DISCARDED = "discarded", "Discarded"

    file_name = models.CharField(max_length=255)
    content = models.TextField(blank=True)
    sha256 = models.CharField("SHA-256 of the file", max_length=64)
    default_location = models.ForeignKey(
        "organization.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For rows without a location.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHECKED)
    rows = models.PositiveIntegerField(default=0)
    problems = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    # The file's line numbers whose patients were registered already (no names kept).
    duplicate_lines = models.JSONField(default=list, blank=True)
    uploaded_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="patient_imports"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    finished_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class CareTeamAssignment(models.Model):
    """A clinician assigned to a patient: a therapist sees only the patients assigned to
    them (patients.selectors.patient_scope). Ended, never deleted, so who cared for whom
    stays on record."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_team")
    clinician = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="care_team_assignments"
    )
    assigned_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)
    ended_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinician"],
                condition=models.Q(ended_at__isnull=True),
                name="care_team_one_open_assignment",
            )
        ]
        indexes = [models.Index(fields=["clinician", "ended_at"], name="care_team_clinician")]

    def __str__(self) -> str:
        return f"{self.clinician_id} cares for {self.patient_id}"
