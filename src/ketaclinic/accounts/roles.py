"""Roles and what each may do. docs/roles.md shows this table; a test keeps them equal.

A capability names something a user can see or do. Which patients a user may see at
all is decided separately by location (see patients.selectors.patients_visible_to).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    COORDINATOR = "coordinator"
    NURSE = "nurse"
    PRESCRIBER = "prescriber"
    MEDICAL_DIRECTOR = "medical_director"
    ADMIN = "admin"
    THERAPIST = "therapist"
    PATIENT = "patient"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.COORDINATOR: "Coordinator",
    Role.NURSE: "Nurse",
    Role.PRESCRIBER: "Prescriber",
    Role.MEDICAL_DIRECTOR: "Medical director",
    Role.ADMIN: "Administrator",
    Role.THERAPIST: "Therapist",
    Role.PATIENT: "Patient",
}

STAFF_ROLES = frozenset(r for r in Role if r is not Role.PATIENT)
# These roles see every location's patients; the others only their assigned locations.
ALL_LOCATION_ROLES = frozenset({Role.MEDICAL_DIRECTOR, Role.ADMIN})

CLINICAL = frozenset({Role.NURSE, Role.PRESCRIBER, Role.MEDICAL_DIRECTOR})
# These roles see only the patients assigned to them (their care team), at their locations.
CARE_TEAM_ROLES = frozenset({Role.THERAPIST})
# Everyone who cares for patients, in the chair or in therapy.
CARING = frozenset(CLINICAL | {Role.THERAPIST})

# capability -> (description for docs/roles.md, roles that hold it)
CAPABILITIES: dict[str, tuple[str, frozenset[Role]]] = {
    "patient.search": (
        "Search and list patients of their locations",
        frozenset(STAFF_ROLES),
    ),
    "patient.view_chart": (
        "Open a patient's chart: demographics, history, measurements",
        frozenset(STAFF_ROLES),
    ),
    "patient.register": (
        "Register a new patient and edit demographics and contacts",
        frozenset({Role.COORDINATOR, Role.NURSE, Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "patient.import": (
        "Import patients from another system's file (CSV), after a check that saves nothing",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "fhir.export": (
        "Export every patient's record in bulk as FHIR (NDJSON), and import a FHIR Bundle",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "patient.edit_clinical_history": (
        "Add diagnoses, medications and antidepressant trials, allergies, substance use",
        frozenset(CLINICAL),
    ),
    "patient.record_measurements": (
        "Record height and weight",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "patient.view_own_record": (
        "See their own record in the patient portal (and nobody else's)",
        frozenset({Role.PATIENT}),
    ),
    "measures.view_scores": (
        "See questionnaire scores, trends and item answers on the chart",
        frozenset(STAFF_ROLES),
    ),
    "measures.record_responses": (
        "Enter clinician ratings (MADRS, CADSS, MOAA/S, C-SSRS) or a paper questionnaire",
        frozenset(CLINICAL),
    ),
    "measures.send_self_report": (
        "Send a patient a questionnaire link",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "measures.manage_schedule": (
        "Set which questionnaires are due when, and see the due and overdue list",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "alerts.view_worklist": (
        "See the safety-alert worklist for their locations (directors: all, with escalations)",
        frozenset(CLINICAL),
    ),
    "alerts.acknowledge": (
        "Acknowledge a suicide-risk alert with the action taken",
        frozenset(CLINICAL),
    ),
    "eligibility.intake": (
        "Fill in the intake evaluation (history, medical checklist, medications)",
        frozenset(CLINICAL),
    ),
    "eligibility.sign": (
        "Sign the eligibility decision (re-entering their password)",
        frozenset({Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "eligibility.configure_rules": (
        "Switch an eligibility rule between exclude, caution and off, with a reason",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "consent.record": (
        "Record and witness a patient's informed consent in the clinic",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "consent.publish": (
        "Publish a new version of the clinic's consent document",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "protocols.view": (
        "Read the treatment protocols with their sources",
        frozenset(CLINICAL),
    ),
    "protocols.edit": (
        "Save a new version of a protocol in the clinic's copy",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "treatment.plan_course": (
        "Create a treatment course with its planned sessions and doses",
        frozenset({Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "treatment.view": (
        "See intake, eligibility, consent and treatment courses on the chart",
        frozenset(STAFF_ROLES),
    ),
    "sessions.view": (
        "See treatment sessions, their charts and the chair board",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "sessions.check_in": (
        "Check a patient in to a chair, or cancel a session that has not started",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "sessions.record": (
        "Chart a session: pre-checks, dosing, vitals, sedation, side effects, alerts, discharge",
        frozenset(CLINICAL),
    ),
    "sessions.prescribe": (
        "Change today's dose, acknowledge a pre-dose BP caution, override discharge, co-sign",
        frozenset({Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "sessions.sign_note": (
        "Sign the session note as the monitoring provider, and add addenda",
        frozenset(CLINICAL),
    ),
    "sessions.rems": (
        "See Spravato REMS monitoring forms and record their submission",
        frozenset(CLINICAL),
    ),
    "register.view": (
        "See controlled-substance stock and the register of their locations",
        frozenset(CLINICAL),
    ),
    "register.draw": (
        "Draw for a session, record what was given, waste the rest with a witness",
        frozenset(CLINICAL),
    ),
    "register.witness": (
        "Witness a waste, a delivery check, a count, a transfer or a destruction",
        frozenset(CLINICAL),
    ),
    "register.receive": (
        "Receive controlled-substance deliveries into the register",
        frozenset({Role.NURSE, Role.MEDICAL_DIRECTOR}),
    ),
    "register.manage": (
        "Counts, discrepancies, transfers, destruction, theft or loss, corrections, reports",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "scheduling.view_calendar": (
        "See the location calendars (day, week, provider) and appointments of their locations",
        frozenset(STAFF_ROLES),
    ),
    "scheduling.book": (
        "Book, reschedule and cancel appointments, book a course's sessions, record no-shows",
        frozenset(CARING | {Role.COORDINATOR}),
    ),
    "scheduling.requests": (
        "Work the appointment-request queue: contact, convert to a patient, decline",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "scheduling.configure": (
        "Set appointment types, chairs and rooms, opening hours, provider hours and licenses",
        frozenset({Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
    "scheduling.calendar_feed": (
        "Subscribe to their own appointments in a calendar app (private ICS address)",
        frozenset(CARING),
    ),
    "portal.appointments": (
        "See their own upcoming appointments and ask to change one",
        frozenset({Role.PATIENT}),
    ),
    "therapy.write_notes": (
        "Write, sign and amend therapy notes (preparation, in-session support, integration)",
        frozenset({Role.THERAPIST}),
    ),
    "therapy.view_notes": (
        "Read the therapy notes of a patient's preparation, support and integration sessions",
        frozenset({Role.THERAPIST, Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "therapy.psychotherapy_notes": (
        "Write and read psychotherapy notes, kept apart from the chart (their author only)",
        frozenset({Role.THERAPIST}),
    ),
    "therapy.configure": (
        "Set a location's integration window (hours after each dosing session)",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "care_team.assign": (
        "Assign a therapist to a patient, or end the assignment",
        frozenset(CLINICAL | {Role.COORDINATOR}),
    ),
    "referrals.view": (
        "See the referral resources of their locations and their patients' referrals",
        frozenset(STAFF_ROLES),
    ),
    "referrals.manage": (
        "Refer a patient (to whom, why, how urgently) and track the referral to its close",
        frozenset(CARING | {Role.COORDINATOR}),
    ),
    "referrals.configure": (
        "Keep the location's directory of referral resources and crisis lines",
        frozenset({Role.COORDINATOR, Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
    "billing.view": (
        "See fees, estimates, payment plans, payments, balances and superbills",
        frozenset({Role.COORDINATOR, Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
    "billing.manage": (
        "Prepare estimates and payment plans, record payments, print superbills",
        frozenset({Role.COORDINATOR, Role.MEDICAL_DIRECTOR}),
    ),
    "billing.adjust": (
        "Record refunds and write-offs",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "billing.configure": (
        "Set the location's fee schedule (services, codes, amounts)",
        frozenset({Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
    "billing.prior_auth": (
        "Prepare and track prior authorizations with a payer",
        frozenset({Role.COORDINATOR, Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "outcomes.view": (
        "See outcomes (response, remission, durability) of their locations, and export them",
        frozenset({Role.PRESCRIBER, Role.MEDICAL_DIRECTOR}),
    ),
    "outcomes.configure": (
        "Change the outcome definitions (baseline window, response, relapse, follow-up)",
        frozenset({Role.MEDICAL_DIRECTOR}),
    ),
    "audit.view_access_history": (
        "See who opened or changed a patient's record",
        frozenset({Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
    "accounts.manage_users": (
        "See staff accounts and their locations",
        frozenset({Role.ADMIN}),
    ),
    "accounts.manage_lockouts": (
        "See locked accounts and lift a lockout",
        frozenset({Role.ADMIN}),
    ),
    "organization.view_locations": (
        "See every location's details (DEA number, REMS certification)",
        frozenset({Role.MEDICAL_DIRECTOR, Role.ADMIN}),
    ),
}


def role_has(role: str, capability: str) -> bool:
    try:
        return Role(role) in CAPABILITIES[capability][1]
    except ValueError:
        return False
