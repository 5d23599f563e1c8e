"""Trying to break in: every URL that names a patient, as users who must not see it."""

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from ketaclinic.audit.models import AuditEntry
from ketaclinic.billing.models import AccountEntry
from ketaclinic.billing.tests.victims import victim_records as billing_victims
from ketaclinic.conftest import make_course
from ketaclinic.coverage.tests.victims import victim_records as coverage_victims
from ketaclinic.patients.views import HISTORY_KINDS
from ketaclinic.referrals.tests.victims import victim_records as referral_victims
from ketaclinic.register.models import LedgerEntry
from ketaclinic.therapy.tests.victims import victim_records as therapy_victims

POST_BODY = {
    "icd10_code": "F33.2",
    "description": "x",
    "status": "active",
    "weight_kg": "70",
    "measured_on": "2026-01-01",
    "name": "x",
    "substance": "x",
    "severity": "mild",
}


# URL parameters that name a patient or one of the patient's records.
PATIENT_KEYS = (
    "patient_id",
    "alert_id",
    "request_id",
    "response_id",
    "rule_id",
    "intake_id",
    "signature_id",
    "course_id",
    "planned_id",
    "session_id",
    "session_alert_id",
    "draw_id",
    "appointment_id",
    "change_id",
    "entry_id",
    "prior_auth_id",
    "referral_id",
    "estimate_id",
    "therapy_note_id",
    "psychotherapy_note_id",
)
API_BODY = {"instrument": "phq9", "answers": [0] * 9, "context": "between_sessions"}


def _patient_url_templates() -> list[str]:
    """Every URL pattern naming a patient or a patient's record, found from the URL
    configuration itself so a page added later is walked without anyone listing it."""
    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and any(k in route for k in PATIENT_KEYS):
                found.append(route)

    walk(get_resolver().url_patterns, "/")
    return found


def _victim_records(patient: Any, director: Any, clinic: dict[str, Any]) -> dict[str, int]:
    """A response (with its alert) and an open questionnaire link for the patient."""
    from ketaclinic.charting import services as charting
    from ketaclinic.measures.services import (
        response_record,
        schedule_rule_set,
        self_report_request_create,
    )
    from ketaclinic.register import services as register
    from ketaclinic.register.tests.conftest import ketamine_vials

    response = response_record(
        actor=director,
        patient=patient,
        instrument_key="phq9",
        answers=[1] * 9,
        context="between_sessions",
    )
    request, _token = self_report_request_create(
        actor=director, patient=patient, instrument_keys=["phq9"], context="pre_session"
    )
    rule = schedule_rule_set(
        actor=director, patient=patient, instrument_key="gad7", interval_days=7
    )
    course = make_course(patient, director)
    planned = course.planned_sessions.first()
    session = charting.session_check_in(actor=director, planned=planned, chair=1)
    # A pre-dose BP at the caution level raises an alert on the session.
    charting.vitals_record(
        actor=director,
        session=session,
        systolic=150,
        diastolic=95,
        heart_rate=80,
        spo2=98,
        respiratory_rate=14,
    )
    vial = ketamine_vials(clinic, count=1, location=patient.primary_location)[0]
    draw = register.draw_for_session(actor=director, session=session, container=vial, amount_ml="1")
    appointment, change = _booked_visit_with_a_change_request(patient, director)
    # Each app that adds patient records names one of each (its tests/victims.py).
    others: dict[str, int] = {}
    for victims in (coverage_victims, referral_victims, billing_victims, therapy_victims):
        others.update(victims(patient, director, clinic))
    # A referral resource is the location's, not the patient's: its id names no patient.
    others.pop("resource_id", None)
    return {
        "appointment_id": appointment.pk,
        "change_id": change.pk,
        "draw_id": draw.pk,
        "entry_id": session.vital_signs.get().pk,
        "planned_id": course.planned_sessions.last().pk,
        "session_id": session.pk,
        "session_alert_id": session.alerts.get().pk,
        "intake_id": course.eligibility_decision.intake_id,
        "signature_id": course.consent_id,
        "course_id": course.pk,
        "rule_id": rule.pk,
        "patient_id": patient.pk,
        "alert_id": response.safety_alerts.get().pk,
        "request_id": request.pk,
        "response_id": response.pk,
        **others,
    }


def _booked_visit_with_a_change_request(patient: Any, director: Any) -> tuple[Any, Any]:
    """A booked video follow-up next week, and the patient's open request to move it."""
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.scheduling.models import Appointment, AppointmentType, ChangeRequest
    from ketaclinic.scheduling.services import appointment_types_seed_defaults

    appointment_types_seed_defaults()
    start = timezone.now() + timedelta(days=7)
    appointment = Appointment.objects.create(
        location=patient.primary_location,
        appointment_type=AppointmentType.objects.get(location=None, key="follow-up"),
        patient=patient,
        provider=director,
        telehealth=True,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        booked_by=director,
    )
    change = ChangeRequest.objects.create(appointment=appointment, message="Move it, please")
    return appointment, change


def _urls(ids: dict[str, int]) -> list[str]:
    """Every such URL filled in for one patient's records, each add form kind included."""
    urls = []
    for template in _patient_url_templates():
        url = template.replace("<slug:instrument_key>", "phq9").replace("<slug:step>", "medical")
        url = url.replace("<str:kind>", "vital-sign")
        for key, value in ids.items():
            url = re.sub(rf"<(int:)?{key}>", str(value), url)
        if "<slug:kind>" in url:
            urls += [url.replace("<slug:kind>", kind) for kind in HISTORY_KINDS]
        else:
            urls.append(url)
    return urls


def _post(client: Client, url: str) -> Any:
    if url.startswith("/api/"):
        return client.post(url, API_BODY, content_type="application/json")
    return client.post(url, POST_BODY)


def test_the_walk_finds_the_patient_pages() -> None:
    templates = _patient_url_templates()
    # Pages, add forms, scores, alerts, the portal form and the API: never silently empty.
    assert len(templates) >= 14
    assert any("/api/" in t for t in templates)
    assert any("alert_id" in t for t in templates)
    assert any("request_id" in t for t in templates)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "intruder", ["coordinator", "nurse", "prescriber", "therapist", "patient_user"]
)
def test_no_patient_url_opens_another_locations_or_persons_patient(
    client: Client, clinic: dict[str, Any], intruder: str
) -> None:
    victim = clinic["patient_boise"]
    ids = _victim_records(victim, clinic["director"], clinic)
    client.force_login(clinic[intruder])
    before = AuditEntry.objects.filter(patient_id=victim.pk).count()
    responses_before = victim.assessment_responses.count()
    register_entries_before = LedgerEntry.objects.count()
    for url in _urls(ids):
        for method in ("get", "post"):
            response = client.get(url) if method == "get" else _post(client, url)
            # 405: the URL has no such method at all (a read-only API, a POST-only form
            # action), which leaks nothing.
            refused = (403, 404, 405)
            assert response.status_code in refused, (
                f"{method.upper()} {url} -> {response.status_code}"
            )
            assert victim.legal_last_name.encode() not in response.content
    # Nothing was written about the victim, and nothing of theirs was logged as seen.
    assert AuditEntry.objects.filter(patient_id=victim.pk).count() == before
    assert victim.diagnoses.count() == 0
    assert victim.assessment_responses.count() == responses_before
    assert victim.safety_alerts.get().acknowledged_at is None
    assert victim.measurement_schedule.get().is_active
    session = victim.treatment_sessions.get()
    assert session.alerts.get().acknowledged_at is None
    assert session.vital_signs.count() == 1 and session.status == "checked_in"
    assert not session.vital_signs.get().is_struck
    assert victim.treatment_sessions.count() == 1  # the other planned session: not checked in
    assert register_entries_before == LedgerEntry.objects.count()
    appointment = victim.appointments.get()
    assert appointment.status == "booked"
    assert appointment.change_requests.get().handled_at is None
    request = victim.prior_authorizations.get()
    assert request.status == "drafted" and request.events.count() == 1
    referral = victim.referrals.get()
    assert referral.events.count() == 1
    estimate = victim.estimates.get()
    assert estimate.accepted_at is None
    assert not AccountEntry.objects.filter(account__patient=victim).exists()
    note = victim.therapy_notes.get()
    assert note.signed_at is not None and not note.addenda.exists()
    assert victim.psychotherapy_notes.count() == 1
    assert victim.care_team.filter(ended_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_a_patient_cannot_reach_staff_pages_even_for_their_own_record(
    client: Client, clinic: dict[str, Any]
) -> None:
    own = clinic["patient_slc"]
    ids = _victim_records(own, clinic["director"], clinic)
    client.force_login(clinic["patient_user"])
    # A patient reads their own responses through the API and answers their own
    # questionnaire in the portal; every staff page stays closed.
    own_allowed = {
        f"/api/patients/{own.pk}/responses",
        f"/api/responses/{ids['response_id']}",
        f"/portal/questionnaires/{ids['request_id']}/",
        f"/portal/appointments/{ids['appointment_id']}/change/",
        f"/portal/billing/estimates/{ids['estimate_id']}/",
    }
    for url in _urls(ids):
        status = client.get(url).status_code
        assert status == 200 if url in own_allowed else status in (403, 404, 405), (url, status)
    assert client.get("/patients/").status_code == 403
    assert client.get("/api/patients").status_code == 403


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login(client: Client, clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    for url in _urls(_victim_records(patient, clinic["director"], clinic)):
        response = client.get(url)
        if "/api/" in url or "/fhir/" in url:
            assert response.status_code == 401
        else:
            assert response.status_code == 302 and "/accounts/login/" in response.url
    assert client.get("/portal/").status_code == 302


@pytest.mark.django_db
def test_staff_of_the_location_and_directors_open_every_chart_tab(
    client: Client, clinic: dict[str, Any]
) -> None:
    patient = clinic["patient_slc"]
    pages = ["", "history/", "measurements/", "edit/", "add/diagnosis/", "add/measurement/"]
    client.force_login(clinic["nurse"])
    for page in pages:
        assert client.get(f"/patients/{patient.pk}/{page}").status_code == 200, page
    assert client.get(f"/patients/{patient.pk}/access/").status_code == 403  # nurses: no
    client.force_login(clinic["director"])
    for page in [*pages, "access/"]:
        assert client.get(f"/patients/{patient.pk}/{page}").status_code == 200, page
    assert client.get(f"/patients/{clinic['patient_boise'].pk}/").status_code == 200


@pytest.mark.django_db
def test_opening_a_chart_is_audited_and_the_director_sees_it(
    client: Client, clinic: dict[str, Any]
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["nurse"])
    client.get(f"/patients/{patient.pk}/")
    entry = AuditEntry.objects.filter(patient_id=patient.pk, action="view").last()
    assert entry.actor_id == clinic["nurse"].pk
    assert entry.path == f"/patients/{patient.pk}/"
    assert entry.ip_address == "127.0.0.1"
    assert entry.object_type == "patient"

    director = Client()
    director.force_login(clinic["director"])
    history = director.get(f"/patients/{patient.pk}/access/").content.decode()
    assert clinic["nurse"].username in history
    assert f"/patients/{patient.pk}/" in history


@pytest.mark.django_db
def test_search_results_are_audited_with_the_patients_shown(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["nurse"])
    client.get("/patients/?q=love")
    entry = AuditEntry.objects.filter(action="search").last()
    assert entry.detail["patient_ids"] == [clinic["patient_slc"].pk]
    assert entry.detail["query"] == "love"


@pytest.mark.django_db
def test_api_lists_only_visible_patients_and_audits_reads(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["nurse"])
    listing = client.get("/api/patients").json()
    assert [p["mrn"] for p in listing["results"]] == [clinic["patient_slc"].mrn]
    assert client.get(f"/api/patients/{clinic['patient_boise'].pk}").status_code == 404
    one = client.get(f"/api/patients/{clinic['patient_slc'].pk}")
    assert one.status_code == 200 and one.json()["legal_last_name"] == "Lovelace"
    assert AuditEntry.objects.filter(
        action="api_read", patient_id=clinic["patient_slc"].pk
    ).exists()


@pytest.mark.django_db
def test_portal_shows_only_the_patients_own_record(client: Client, clinic: dict[str, Any]) -> None:
    client.force_login(clinic["patient_user"])
    page = client.get("/portal/").content.decode()
    assert "Lovelace" in page and "Hopper" not in page
    assert "988" in page
    assert AuditEntry.objects.filter(
        action="view", patient_id=clinic["patient_slc"].pk, actor_id=clinic["patient_user"].pk
    ).exists()
    client.force_login(clinic["nurse"])
    assert client.get("/portal/").status_code == 403


@pytest.mark.django_db
@pytest.mark.now("2026-12-01T12:00:00-07:00")
def test_outcome_cohort_pages_show_nothing_of_another_location(
    client: Client, clinic: dict[str, Any]
) -> None:
    """The outcomes pages name no patient in their URL, so the walk above does not reach
    them: a prescriber of Salt Lake City asks for Boise's outcomes every way there is."""
    from datetime import date

    from ketaclinic.outcomes.tests.conftest import dose, record_score

    course = make_course(clinic["patient_boise"], clinic["director"], first_day=date(2026, 3, 2))
    given = dose(course)
    record_score(clinic["patient_boise"], "phq9", 20, given[0].replace(hour=1))
    client.force_login(clinic["prescriber"])
    boise = clinic["boise"].pk
    for url in (
        "/outcomes/",
        f"/outcomes/?location={boise}",
        f"/outcomes/summary.csv?location={boise}",
        f"/outcomes/report.pdf?location={boise}",
        f"/outcomes/patients.csv?location={boise}",
        "/outcomes/gaps/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Hopper" not in response.content
        if url.startswith("/outcomes/?"):
            assert b"<strong>0 courses</strong>" in response.content
    seen = [
        e.detail.get("patient_ids", [])
        for e in AuditEntry.objects.filter(actor_id=clinic["prescriber"].pk)
    ]
    assert all(clinic["patient_boise"].pk not in ids for ids in seen)
    assert client.get(f"/patients/{clinic['patient_boise'].pk}/outcomes/").status_code == 404
    client.force_login(clinic["director"])
    assert b"<strong>1 course</strong>" in client.get("/outcomes/").content


def _other_url_templates() -> list[str]:
    """Every URL pattern that names no patient record (lists, settings, reports...)."""
    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not any(k in route for k in PATIENT_KEYS):
                found.append(route)

    walk(get_resolver().url_patterns, "/")
    return found


def _filled_in(template: str) -> str:
    url = re.sub(r"<calendar_date:\w+>", "2027-01-04", template)
    url = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", url)
    url = re.sub(r"<int:\w+>", "1", url)
    return re.sub(r"<(str|slug):\w+>", "x", url)


# Pages anyone may open: sign-in, the public request form, questionnaire and calendar
# links that carry their own secret token, the FHIR server's metadata and token
# endpoint, the API's schema, the health check.
PUBLIC = re.compile(
    r"^/(accounts/(login|logout)/|visit/|q/|calendar/feed/x\.ics|healthz|api/(openapi\.json|docs)"
    r"|fhir/(metadata|auth/token|\.well-known/)|\.well-known/)"
)


@pytest.mark.django_db
def test_every_other_page_asks_for_login_and_a_patient_meets_only_the_portal(
    client: Client, clinic: dict[str, Any]
) -> None:
    urls = [_filled_in(t) for t in _other_url_templates()]
    assert any(u.startswith("/coverage/") for u in urls)
    for url in urls:
        if PUBLIC.match(url) or url == "/":
            continue
        response = client.get(url)
        if url.startswith(("/api/", "/fhir/")):
            assert response.status_code in (401, 404), url  # /api/ itself is no page
        elif response.status_code != 405:  # a form's POST-only action: GET leaks nothing
            assert response.status_code == 302 and "/accounts/login/" in response.url, url
    client.force_login(clinic["patient_user"])
    for url in urls:
        # Their own account's two-factor sign-in is theirs to set up.
        if PUBLIC.match(url) or url.startswith("/portal/") or url in ("/", "/accounts/2fa/"):
            continue
        response = client.get(url)
        # A staff home page sends the patient to their own home, the portal.
        if response.status_code == 302:
            assert response.url == "/portal/", url
        else:
            assert response.status_code in (401, 403, 404, 405), (url, response.status_code)


# What a therapist's role does not reach: the chair, the register, REMS, outcomes, money,
# coverage, imports and exports, alerts worklist, settings and administration.
NOT_FOR_THERAPISTS = (
    "/board/", "/rems/", "/register/", "/outcomes/", "/exports/", "/billing/", "/coverage/",
    "/patients/import/", "/patients/new/", "/administration/", "/scheduling/settings/",
    "/alerts/", "/fhir/$export", "/eligibility/rules/", "/protocols/",
)  # fmt: skip


@pytest.mark.django_db
def test_a_therapist_meets_none_of_the_pages_their_role_does_not_hold(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["therapist"])
    checked = 0
    for url in (_filled_in(t) for t in _other_url_templates()):
        if url.startswith(NOT_FOR_THERAPISTS):
            checked += 1
            response = client.get(url)
            if response.status_code == 302:  # another role's home page: sent to their own
                assert response.url == "/therapist/", url
            else:
                assert response.status_code in (401, 403, 404, 405), (url, response.status_code)
    assert checked > 20
    assert client.get("/therapist/").status_code == 200
    assert client.get("/patients/").status_code == 200
