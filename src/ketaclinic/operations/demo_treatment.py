"""Demo treatment planning: the clinic's consent document, protocols, and a few patients
with a signed eligibility decision, witnessed consent and an IV induction course."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.eligibility import services as eligibility
from ketaclinic.eligibility.models import ConsentDocument
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import allergy_status
from ketaclinic.patients.services import patient_nkda_verify
from ketaclinic.treatment.models import ProtocolVersion
from ketaclinic.treatment.services import course_create, protocols_seed_packaged

SAMPLE_CONSENT = """\
This is a plain sample. Your clinic writes its own consent document.

What the treatment is. Ketamine given by infusion into a vein, or esketamine as a nasal
spray, for depression that has not improved with other treatments. It is given in the
clinic in several sessions over weeks, and each dose is adjusted to how you respond.

What to expect. During and soon after a session you may feel dizzy, sick, confused or
detached from yourself or your surroundings, and your blood pressure and heart rate may
rise. A nurse watches you throughout and until these effects have passed.

After each session. Do not drive, work, look after small children or do anything that
needs your full attention until the next day after a night's sleep. Someone must take
you home.

Benefits and limits. Many people feel better within days, but not everyone does, and
how long the benefit lasts is not known. You can stop treatment at any time.

Questions. Ask your care team before you sign. In a crisis call or text 988.
"""
COURSE_PATIENTS = 3


def verify_allergies(patient: Patient, nurse: User) -> None:
    """At intake the nurse documents the allergy status (sessions need it before dosing):
    "no known drug allergies" for a patient with none on file and none recorded."""
    if not allergy_status(patient).is_recorded:
        patient_nkda_verify(actor=nurse, patient=patient)


def seed_treatment(patients: Sequence[Patient], *, now: datetime) -> None:
    """Signed decisions, witnessed consent and an IV course planned from the Monday after
    `now` (local) for a few Salt Lake City patients; demo_sessions dates them back."""
    protocols_seed_packaged()
    director = User.objects.get(username="director")
    prescriber = User.objects.get(username="prescriber")
    nurse = User.objects.get(username="nurse")
    if not ConsentDocument.objects.exists():
        eligibility.consent_document_publish(
            actor=director, title="Consent to ketamine treatment (sample)", body=SAMPLE_CONSENT
        )
    document = ConsentDocument.objects.order_by("-version").first()
    protocol = ProtocolVersion.objects.filter(key="iv-ketamine-standard").order_by("-version")[0]
    # The first demo SLC patients (the portal demo patient and the alert patients stay open
    # for the questionnaire and intake walkthroughs).
    candidates = [p for p in patients if p.primary_location.short_name == "SLC"][3:]
    for patient in candidates[:COURSE_PATIENTS]:
        today = timezone.localdate(now, timezone=patient.primary_location.tz)
        next_monday = today + timedelta(days=7 - today.weekday())
        verify_allergies(patient, nurse)
        intake = eligibility.intake_start(actor=nurse, patient=patient, route="iv_ketamine")
        for step in eligibility.INTAKE_STEP_KEYS:
            intake = eligibility.intake_save_step(
                actor=nurse,
                intake=intake,
                step=step,
                answers={"systolic_bp": 126, "diastolic_bp": 80} if step == "medical" else {},
                expected_version=intake.version,
            )
        advice = eligibility.intake_evaluate(intake).advice
        eligibility.eligibility_sign(
            actor=prescriber,
            intake=intake,
            password=DEMO_PASSWORD,
            decision="approve",
            expected_version=intake.version,
            override_reason=""
            if advice != "not_eligible"
            else "Outside records confirm two failed adequate trials.",
        )
        eligibility.consent_sign(
            actor=nurse,
            patient=patient,
            document=document,
            agreed=True,
            typed_name=f"{patient.legal_first_name} {patient.legal_last_name}",
            read_version=document.version,
        )
        course_create(
            actor=prescriber,
            patient=patient,
            protocol=protocol,
            first_day=next_monday,
            local_time=time(9, 0),
        )
