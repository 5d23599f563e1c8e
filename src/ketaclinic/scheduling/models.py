"""The calendar: appointment types, chairs and rooms, hours, licenses, appointments, the
public appointment requests, reminders and calendar feeds.

The booking rules themselves are pure (clinical/booking.py); services.py feeds them these
rows and saves only what they allow.
"""

from __future__ import annotations

import secrets
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.organization.models import STATE_CHOICES
from ketaclinic.patients.validators import validate_birth_date, validate_us_phone

WEEKDAY_CHOICES = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def _video_room() -> str:
    # Unguessable: the room name is the only thing keeping strangers out of a video visit
    # on services that admit whoever has the link.
    return secrets.token_urlsafe(18)


class ResourceKind(models.TextChoices):
    CHAIR = "chair", "Treatment chair"
    ROOM = "room", "Consultation room"


class Resource(models.Model):
    """A treatment chair or a consultation room at a location.

    A chair's number is the one on the chair board and in the session chart.
    """

    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="resources"
    )
    kind = models.CharField(max_length=5, choices=ResourceKind.choices)
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    name = models.CharField(max_length=60, help_text="e.g. 'Chair 3 (window)' or 'Room B'.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["location", "kind", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "kind", "number"], name="one_resource_number"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    """One open span of a location on one weekday, in the location's local time."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.CASCADE, related_name="opening_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["location", "weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="opening_closes_after_opens"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class ClosedDay(models.Model):
    """A local date a location is closed all day (a holiday, a staff day)."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.CASCADE, related_name="closed_days"
    )
    date = models.DateField()
    reason = models.CharField(max_length=120)

    class Meta:
        ordering = ["location", "date"]
        constraints = [
            models.UniqueConstraint(fields=["location", "date"], name="one_closed_day"),
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.reason}"


class WorkingHours(models.Model):
    """One span a provider works at a location on one weekday (the location's local time)."""

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    location = models.ForeignKey(
        "organization.Location", on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["provider", "location", "weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="working_ends_after_starts"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"


class LicenseKind(models.TextChoices):
    MD = "MD", "Physician (MD)"
    DO = "DO", "Physician (DO)"
    NP = "NP", "Nurse practitioner (APRN)"
    PA = "PA", "Physician assistant"
    RN = "RN", "Registered nurse"
    PSYCHOLOGIST = "PhD", "Psychologist"
    COUNSELOR = "LPC", "Licensed counselor / therapist"
    SOCIAL_WORKER = "LCSW", "Clinical social worker"


class ProviderLicense(models.Model):
    """A provider's professional license in one state: telehealth needs one in the
    patient's state of residence, active on the visit date."""

    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="licenses"
    )
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    kind = models.CharField(max_length=5, choices=LicenseKind.choices)
    number = models.CharField(max_length=40)
    expires_on = models.DateField()
    is_active = models.BooleanField(
        default=True, help_text="Untick when the license is suspended or surrendered."
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["provider", "state", "-expires_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "state", "kind", "number"], name="one_license_record"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.state} {self.kind} {self.number} (expires {self.expires_on:%Y-%m-%d})"


class AppointmentType(models.Model):
    """A kind of visit: how long it takes and what it needs.

    Rows with no location are the clinic-wide defaults; a row for a location with the same
    key overrides the default there.
    """

    class Needs(models.TextChoices):
        CHAIR = "chair", "A treatment chair"
        ROOM = "room", "A consultation room"
        NOTHING = "", "No chair or room"

    location = models.ForeignKey(
        "organization.Location",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="appointment_types",
        help_text="Empty: the default for every location.",
    )
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(5), MaxValueValidator(600)]
    )
    needs = models.CharField(max_length=5, choices=Needs.choices, blank=True)
    in_person = models.BooleanField(default=True, help_text="Can be booked at the location.")
    accompanies = models.BooleanField(
        default=False,
        help_text="Keeps the patient company during their own chair or room visit (a "
        "therapist's in-session support), so it may overlap that visit.",
    )
    telehealth = models.BooleanField(default=False, help_text="Can be booked as a video visit.")
    needs_provider = models.BooleanField(
        default=True, help_text="A provider must be chosen (their hours and licenses apply)."
    )
    treatment_route = models.CharField(
        max_length=20,
        blank=True,
        help_text="iv_ketamine or esketamine: the type a course's sessions are booked as.",
    )
    reminder_hours_before = models.PositiveSmallIntegerField(
        default=24, validators=[MaxValueValidator(24 * 14)]
    )
    patient_instructions = models.TextField(
        blank=True, help_text="Sent in the reminder and shown in the portal before the visit."
    )
    instructions_source = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(location__isnull=True), name="one_default_type"
            ),
            models.UniqueConstraint(
                fields=["location", "key"],
                condition=Q(location__isnull=False),
                name="one_type_per_location",
            ),
            models.CheckConstraint(
                condition=Q(in_person=True) | Q(telehealth=True), name="type_has_a_mode"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_chair(self) -> bool:
        return self.needs == self.Needs.CHAIR


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"
    RESCHEDULED = "rescheduled", "Rescheduled"


class Appointment(models.Model):
    """A booked visit. Rescheduling books a new appointment and marks this one
    rescheduled (with the reason), so the history of who moved what stays."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="appointments"
    )
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    provider = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="provider_appointments",
    )
    resource = models.ForeignKey(
        Resource, null=True, blank=True, on_delete=models.PROTECT, related_name="appointments"
    )
    telehealth = models.BooleanField(default=False)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    planned_session = models.ForeignKey(
        "treatment.PlannedSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    from_request = models.ForeignKey(
        "scheduling.AppointmentRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    rescheduled_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rescheduled_to",
    )
    note = models.CharField(max_length=300, blank=True, help_text="For the clinic team.")
    video_room = models.CharField(max_length=40, unique=True, default=_video_room)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    booked_at = models.DateTimeField(default=timezone.now)
    status_reason = models.CharField(max_length=300, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["location", "starts_at"], name="appt_location_start"),
            models.Index(fields=["provider", "starts_at"], name="appt_provider_start"),
            models.Index(fields=["patient", "starts_at"], name="appt_patient_start"),
            models.Index(fields=["resource", "starts_at"], name="appt_resource_start"),
            models.Index(fields=["status", "starts_at"], name="appt_status_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="appt_ends_after_start"
            ),
            # A planned treatment session has at most one live booking.
            models.UniqueConstraint(
                fields=["planned_session"],
                condition=Q(status="booked") & Q(planned_session__isnull=False),
                name="one_booking_per_planned_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def is_booked(self) -> bool:
        return self.status == AppointmentStatus.BOOKED

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class RequestStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTING = "contacting", "Being contacted"
    CONVERTED = "converted", "Converted to a patient"
    DECLINED = "declined", "Declined"
    SPAM = "spam", "Spam"


class HeardAbout(models.TextChoices):
    DOCTOR = "doctor", "My doctor or therapist"
    FRIEND = "friend", "A friend or family member"
    SEARCH = "search", "An internet search"
    INSURANCE = "insurance", "My insurance"
    SOCIAL = "social", "Social media"
    OTHER = "other", "Somewhere else"
    NOT_SAID = "", "Prefer not to say"


class AppointmentRequest(models.Model):
    """A 'request an appointment' form sent from the public site, and what became of it."""

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(validators=[validate_birth_date])
    phone = models.CharField(max_length=20, validators=[validate_us_phone])
    email = models.EmailField(blank=True)
    state = models.CharField("state of residence", max_length=2, choices=STATE_CHOICES)
    preferred_location = models.ForeignKey(
        "organization.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointment_requests",
    )
    wants_telehealth = models.BooleanField(default=False)
    help_with = models.TextField(max_length=2000)
    heard_about = models.CharField(max_length=10, choices=HeardAbout.choices, blank=True)
    consent_to_contact = models.BooleanField()
    submitted_at = models.DateTimeField(default=timezone.now)
    # HMAC of the sender's address: enough to rate-limit, useless to identify anyone.
    source_digest = models.CharField(max_length=64, db_index=True)
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.NEW
    )
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appointment_requests",
    )
    decline_reason = models.CharField(max_length=300, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="request_status_time"),
            models.Index(fields=["source_digest", "submitted_at"], name="request_source_time"),
            # The hourly cap on all requests together counts by time alone.
            models.Index(fields=["submitted_at"], name="request_time"),
            # The retention purge finds handled requests by status and time.
            models.Index(fields=["status", "handled_at"], name="request_status_handled"),
        ]

    def __str__(self) -> str:
        return f"Request from {self.first_name} {self.last_name} ({self.submitted_at:%Y-%m-%d})"

    def clean(self) -> None:
        super().clean()
        if not self.consent_to_contact:
            raise ValidationError(
                {"consent_to_contact": "We need your permission to contact you about a visit."}
            )


class ContactAttempt(models.Model):
    """One try to reach the person who sent a request."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone call"
        TEXT = "text", "Text message"
        EMAIL = "email", "Email"

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached"
        VOICEMAIL = "voicemail", "Left a voicemail"
        NO_ANSWER = "no_answer", "No answer"
        WRONG_NUMBER = "wrong_number", "Wrong number"
        SENT = "sent", "Message sent"

    request = models.ForeignKey(
        AppointmentRequest, on_delete=models.PROTECT, related_name="contact_attempts"
    )
    channel = models.CharField(max_length=5, choices=Channel.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    note = models.CharField(max_length=300, blank=True)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    made_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "made_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.get_outcome_display()}"


class ChangeRequest(models.Model):
    """A patient's request, from the portal, to move or cancel an appointment."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="change_requests"
    )
    message = models.TextField(max_length=1000)
    submitted_at = models.DateTimeField(default=timezone.now)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            # One open change request per appointment: a second press changes nothing.
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(handled_at__isnull=True),
                name="one_open_change_request",
            ),
        ]

    def __str__(self) -> str:
        return f"Change request for {self.appointment}"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message"


class ReminderDelivery(models.Model):
    """One reminder for one appointment on one channel. The unique constraint is what
    makes the reminder job safe to run twice: only one run can claim a reminder."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    channel = models.CharField(max_length=5, choices=ReminderChannel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENDING)
    attempts = models.PositiveSmallIntegerField(default=1)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["claimed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "channel"], name="one_reminder"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} reminder {self.get_status_display().lower()}"


class CalendarFeed(models.Model):
    """A provider's private calendar (ICS) address. Only a digest of the token is kept."""

    provider = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar feed of {self.provider}"


DEFAULT_OPENING_HOURS: tuple[tuple[int, time, time], ...] = tuple(
    (weekday, time(7, 0), time(19, 0)) for weekday in range(5)
)
"""Monday to Friday 07:00-19:00 local: what a new location opens with until a director
sets its real hours (ketaclinic default)."""
