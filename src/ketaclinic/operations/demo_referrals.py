"""The demo's referrals, dated relative to `now`: each demo location's directory (fictional
local names, 555-01xx numbers, example.org sites; the 988 Lifeline is added by the app
itself) and a few referrals in different states: the portal patient's accepted referral,
one stalled, one just contacted, one declined and one closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.referrals.models import Referral, ReferralEvent, ReferralResource
from ketaclinic.referrals.services import national_crisis_resource

# short name -> (kind, name, phone, website path, languages, telehealth, hours, insurance)
DIRECTORIES: dict[str, list[tuple[str, str, str, str, str, bool, str, str]]] = {
    "SLC": [
        ("crisis_line", "Wasatch Mobile Crisis Team", "(801) 555-0101", "wasatch-crisis",
         "English, Spanish", False, "24 hours", "No cost"),
        ("therapist", "Bonneville Counseling Associates", "(801) 555-0102", "bonneville",
         "English, Spanish", True, "Mon-Fri 8-18", "Most commercial plans, Medicaid"),
        ("psychiatrist", "Red Butte Psychiatry", "(801) 555-0103", "red-butte",
         "English", True, "Mon-Thu 9-17", "Commercial plans"),
        ("support_group", "Salt Lake Depression Peer Circle", "(801) 555-0104", "peer-circle",
         "English", False, "Tuesdays 19:00", "Free"),
        ("program", "Jordan River Intensive Outpatient Program", "(801) 555-0105",
         "jordan-iop", "English, Spanish", False, "Mon-Fri 9-13", "Commercial plans, Medicaid"),
    ],
    "Boise": [
        ("crisis_line", "Treasure Valley Crisis Center", "(208) 555-0111", "tv-crisis",
         "English, Spanish", False, "24 hours", "No cost"),
        ("therapist", "Foothills Family Therapy", "(208) 555-0112", "foothills",
         "English", True, "Mon-Fri 9-19", "Blue plans, Medicaid"),
        ("support_group", "Boise River Support Group", "(208) 555-0113", "boise-river",
         "English", True, "Thursdays 18:30", "Free"),
    ],
    "Portland": [
        ("crisis_line", "Willamette Crisis Line", "(503) 555-0121", "willamette-crisis",
         "English, Spanish, Vietnamese", False, "24 hours", "No cost"),
        ("therapist", "Pearl District Psychotherapy", "(503) 555-0122", "pearl",
         "English", True, "Mon-Sat 8-20", "Commercial plans"),
        ("program", "Columbia Partial Hospital Program", "(503) 555-0123", "columbia-php",
         "English", False, "Mon-Fri 8-15", "Commercial plans, Medicare"),
    ],
}  # fmt: skip


def _seed_directories(locations: dict[str, Location], now: datetime) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for short_name, entries in DIRECTORIES.items():
        location = locations.get(short_name)
        if location is None:
            continue
        for kind, name, phone, slug, languages, telehealth, hours, insurance in entries:
            resources[name] = ReferralResource.objects.create(
                location=location,
                kind=kind,
                name=name,
                phone=phone,
                website=f"https://{slug}.example.org",
                address=f"{location.city}, {location.state}",
                hours=hours,
                languages=languages,
                insurance_accepted=insurance,
                telehealth=telehealth,
                created_at=now,
                updated_at=now,
            )
    return resources


def _referral(
    patient: Patient,
    resource: Any,
    by: User,
    *,
    reason: str,
    urgency: str,
    steps: list[tuple[str, datetime, str]],
) -> Referral:
    """A referral whose history is `steps`: (state, when, note), the first one "sent"."""
    referral = Referral.objects.create(
        patient=patient,
        location_id=patient.primary_location_id,
        resource=resource,
        reason=reason,
        urgency=urgency,
        state=steps[-1][0],
        created_by=by,
        created_at=steps[0][1],
        last_changed_at=steps[-1][1],
    )
    previous = ""
    for state, at, note in steps:
        ReferralEvent.objects.create(
            referral=referral,
            from_state=previous,
            to_state=state,
            note=note,
            by=by,
            by_name=by.display_name,
            at=at,
        )
        previous = state
    return referral


def seed_referrals(*, now: datetime) -> None:
    """The demo's referrals stories, dated relative to `now`."""
    national_crisis_resource()
    locations = {loc.short_name: loc for loc in Location.objects.all()}
    resources = _seed_directories(locations, now)
    slc = locations.get("SLC")
    if slc is None or not resources:
        return
    staff = (
        User.objects.filter(username__in=["nurse", "coordinator"]).order_by("-username").first()
        or User.objects.filter(role=Role.MEDICAL_DIRECTOR).order_by("pk").first()
    )
    if staff is None:
        return
    portal = User.objects.filter(username="patient").values_list("patient_id", flat=True).first()
    slc_patients = list(Patient.objects.filter(primary_location=slc).order_by("pk")[:4])
    if not slc_patients:
        return
    day = timedelta(days=1)
    portal_patient = (
        Patient.objects.filter(pk=portal, primary_location=slc).first() or slc_patients[0]
    )
    others = [p for p in slc_patients if p.pk != portal_patient.pk] or [portal_patient]
    _referral(
        portal_patient,
        resources["Bonneville Counseling Associates"],
        staff,
        reason="Weekly psychotherapy alongside ketamine treatment.",
        urgency="routine",
        steps=[
            ("sent", now - 10 * day, "Referral faxed with the intake summary."),
            ("contacted", now - 8 * day, "Their intake coordinator called the patient."),
            ("accepted", now - 5 * day, "First appointment booked."),
        ],
    )
    # Stalled: routine, no change for 20 days (the default limit is 14).
    _referral(
        others[0],
        resources["Red Butte Psychiatry"],
        staff,
        reason="Medication management after the induction series.",
        urgency="routine",
        steps=[("sent", now - 20 * day, "Sent with the last three PHQ-9 scores.")],
    )
    _referral(
        others[-1],
        resources["Jordan River Intensive Outpatient Program"],
        staff,
        reason="More support between sessions than weekly therapy gives.",
        urgency="urgent",
        steps=[
            ("sent", now - 2 * day + timedelta(hours=3), "Called the program's intake line."),
            ("contacted", now - 6 * timedelta(hours=1), "Assessment call set up."),
        ],
    )
    _referral(
        others[0],
        resources["Salt Lake Depression Peer Circle"],
        staff,
        reason="Peer support.",
        urgency="routine",
        steps=[
            ("sent", now - 40 * day, "Flyer given."),
            ("declined", now - 35 * day, "Patient prefers one-to-one therapy."),
            ("closed", now - 35 * day + timedelta(hours=1), "Closed; therapy referral instead."),
        ],
    )
    boise = locations.get("Boise")
    boise_patient = Patient.objects.filter(primary_location=boise).order_by("pk").first()
    boise_staff = User.objects.filter(locations=boise, role=Role.NURSE).order_by("pk").first()
    if boise_patient and boise_staff and "Foothills Family Therapy" in resources:
        _referral(
            boise_patient,
            resources["Foothills Family Therapy"],
            boise_staff,
            reason="Family therapy.",
            urgency="soon",
            steps=[("sent", now - 3 * day, "Sent.")],
        )
