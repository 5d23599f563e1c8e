from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import PASSWORD, complete_intake
from ketaclinic.eligibility import services as eligibility
from ketaclinic.eligibility.models import ConsentSignature, EligibilityDecision
from ketaclinic.patients.models import Medication
from ketaclinic.treatment import services as treatment
from ketaclinic.treatment.models import ProtocolVersion

ANSWERS = {
    "episode": {"ect_sessions_this_episode": 0, "current_neuromodulation": False},
    "psychiatric": {"psychosis_history": False},
    "medical": {"hypertension": False, "systolic_bp": 124, "diastolic_bp": 78},
    "medications": {"benzodiazepine_lorazepam_eq_mg_per_day": Decimal("0")},
}


def _trials(patient: Any, count: int) -> None:
    for name in ["Sertraline", "Bupropion XL", "Venlafaxine XR"][:count]:
        Medication.objects.create(
            patient=patient,
            name=name,
            medication_class="antidepressant",
            dose_mg_per_day=Decimal("150"),
            weeks_at_dose=10,
            adherence="good",
            trial_outcome="no_response",
            in_current_episode=True,
            is_current=False,
        )


def _intake(clinic: dict[str, Any], route: str = "iv_ketamine") -> Any:
    return complete_intake(clinic["nurse"], clinic["patient_slc"], route, ANSWERS)


def _consent(clinic: dict[str, Any]) -> ConsentSignature:
    from ketaclinic.eligibility.selectors import current_consent_document

    document = current_consent_document()
    return eligibility.consent_sign(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        document=document,
        typed_name="ada lovelace",
        agreed=True,
        read_version=document.version,
    )


def _approved_and_consented(clinic: dict[str, Any], route: str = "iv_ketamine") -> Any:
    """Two adequate trials, a complete intake signed as approved, and witnessed consent."""
    _trials(clinic["patient_slc"], 2)
    intake = _intake(clinic, route=route)
    decision = eligibility.eligibility_sign(
        actor=clinic["prescriber"],
        intake=intake,
        password=PASSWORD,
        decision="approve",
        expected_version=intake.version,
    )
    _consent(clinic)
    return decision


def _iv_protocol() -> ProtocolVersion:
    return ProtocolVersion.objects.get(key="iv-ketamine-standard", version=1)


@pytest.mark.django_db
@pytest.mark.now("2026-02-23T10:00:00-07:00")  # the course starts on Monday 2 March
def test_eligible_signed_consented_patient_gets_six_planned_sessions(ready: dict[str, Any]) -> None:
    _trials(ready["patient_slc"], 2)
    intake = _intake(ready)
    assert eligibility.intake_evaluate(intake).advice == "eligible"
    with pytest.raises(ValidationError, match="password"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=intake,
            expected_version=intake.version,
            password="nope",
            decision="approve",
        )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):  # nurses fill in intakes but cannot sign them
        eligibility.eligibility_sign(
            actor=ready["nurse"],
            intake=intake,
            expected_version=intake.version,
            password=PASSWORD,
            decision="approve",
        )
    decision = eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        expected_version=intake.version,
        password=PASSWORD,
        decision="approve",
    )
    assert "I have reviewed" in decision.signature_meaning and decision.signed_by_name
    with pytest.raises(ValidationError, match="consent"):
        treatment.course_create(
            actor=ready["prescriber"],
            patient=ready["patient_slc"],
            protocol=_iv_protocol(),
            first_day=date(2026, 3, 2),
            local_time=time(9, 0),
        )
    with pytest.raises(ValidationError, match="legal name"):
        eligibility.consent_sign(
            actor=ready["nurse"],
            patient=ready["patient_slc"],
            document=ConsentSignature._meta.get_field("document").related_model.objects.get(),
            typed_name="Someone Else",
            agreed=True,
            read_version=1,
        )
    _consent(ready)
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=_iv_protocol(),
        first_day=date(2026, 3, 2),
        local_time=time(9, 0),
    )
    assert course.planned_dose_mg == Decimal("40.0")  # 0.5 mg/kg x 80 kg
    assert course.protocol.version == 1 and course.infusion_minutes == 40
    denver = ZoneInfo("America/Denver")
    starts = [s.starts_at.astimezone(denver) for s in course.planned_sessions.all()]
    assert len(starts) == 6
    # Mon/Wed/Fri at 09:00 local, across the 8 March 2026 clock change.
    assert [d.date() for d in starts] == [date(2026, 3, d) for d in (2, 4, 6, 9, 11, 13)]
    assert {d.hour for d in starts} == {9}
    assert {s.starts_at.utcoffset() for s in course.planned_sessions.all()} == {timedelta(0)}
    assert AuditEntry.objects.filter(
        object_type="treatment_course", object_id=str(course.pk), action="create"
    ).exists()


@pytest.mark.django_db
@pytest.mark.now("2026-02-23T10:00:00-07:00")  # the course starts on Monday 2 March
def test_not_eligible_needs_a_written_override_and_decline_blocks_a_course(
    ready: dict[str, Any],
) -> None:
    intake = _intake(ready)  # no antidepressant trials: treatment resistance not met
    result = eligibility.intake_evaluate(intake)
    assert result.advice == "not_eligible"
    assert "treatment_resistance_not_met" in {f.rule_id for f in result.findings}
    with pytest.raises(ValidationError, match="written reason"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=intake,
            expected_version=intake.version,
            password=PASSWORD,
            decision="approve",
        )
    declined = eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        expected_version=intake.version,
        password=PASSWORD,
        decision="decline",
    )
    _consent(ready)
    with pytest.raises(ValidationError, match="approving eligibility"):
        treatment.course_create(
            actor=ready["prescriber"],
            patient=ready["patient_slc"],
            protocol=_iv_protocol(),
            first_day=date(2026, 3, 2),
            local_time=time(9, 0),
        )
    # A new intake and a signed override supersede the decline; nothing is edited.
    second = _intake(ready)
    approved = eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=second,
        expected_version=second.version,
        password=PASSWORD,
        decision="approve",
        override_reason="Failed 3 trials abroad; records requested.",
    )
    assert approved.supersedes == declined
    declined.refresh_from_db()
    assert declined.decision == "decline"
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=_iv_protocol(),
        first_day=date(2026, 3, 2),
        local_time=time(9, 0),
    )
    assert course.eligibility_decision == approved


@pytest.mark.django_db
def test_switching_a_rule_in_the_clinic_copy_changes_the_advice(ready: dict[str, Any]) -> None:
    intake = _intake(ready)
    assert eligibility.intake_evaluate(intake).advice == "not_eligible"
    with pytest.raises(ValidationError, match="reason"):
        eligibility.rule_setting_change(
            actor=ready["director"],
            rule_id="treatment_resistance_not_met",
            kind="caution",
            reason=" ",
        )
    eligibility.rule_setting_change(
        actor=ready["director"],
        rule_id="treatment_resistance_not_met",
        kind="caution",
        reason="Pilot for partial responders",
    )
    assert eligibility.intake_evaluate(intake).advice == "eligible_with_cautions"
    eligibility.rule_setting_change(
        actor=ready["director"],
        rule_id="treatment_resistance_not_met",
        kind="off",
        reason="Testing",
    )
    assert eligibility.intake_evaluate(intake).advice == "eligible"
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        eligibility.rule_setting_change(
            actor=ready["prescriber"], rule_id="ptsd", kind="off", reason="x"
        )


@pytest.mark.django_db
def test_signed_records_cannot_be_edited(ready: dict[str, Any]) -> None:
    _trials(ready["patient_slc"], 2)
    intake = _intake(ready)
    decision = eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        expected_version=intake.version,
        password=PASSWORD,
        decision="approve",
    )
    signature = _consent(ready)
    for record in (decision, signature, signature.witness):
        with pytest.raises(PermissionError):
            record.save()
        with pytest.raises(PermissionError):
            record.delete()
    # Through the pages: the signed intake's steps no longer accept answers.
    client = Client()
    client.force_login(ready["prescriber"])
    patient = ready["patient_slc"]
    response = client.post(
        f"/patients/{patient.pk}/intake/{intake.pk}/medical/",
        {"hypertension": "on", "version": intake.version},
    )
    assert response.status_code == 302
    intake.refresh_from_db()
    assert intake.facts.get("hypertension") is False
    decision.refresh_from_db()
    assert decision.decision == "approve"
    assert EligibilityDecision.objects.count() == 1
    # Nor through the API: it has no operation on decisions, consent or intakes at all.
    paths = client.get("/api/openapi.json").json()["paths"]
    assert paths and not [
        p for p in paths if any(w in p for w in ("eligib", "consent", "intake", "decision"))
    ]


@pytest.mark.django_db
@pytest.mark.now("2026-10-22T10:00:00-06:00")
def test_esketamine_needs_rems_enrollment_and_a_certified_location(ready: dict[str, Any]) -> None:
    _approved_and_consented(ready, route="esketamine")
    protocol = ProtocolVersion.objects.get(key="esketamine-trd")
    with pytest.raises(ValidationError, match="not Spravato REMS certified"):
        treatment.course_create(
            actor=ready["prescriber"],
            patient=ready["patient_slc"],
            protocol=protocol,
            first_day=date(2026, 11, 2),
            local_time=time(10, 0),
        )
    ready["slc"].spravato_rems_certified = True
    ready["slc"].save()
    ready["patient_slc"].refresh_from_db()
    with pytest.raises(ValidationError, match="REMS enrollment"):
        treatment.course_create(
            actor=ready["prescriber"],
            patient=ready["patient_slc"],
            protocol=protocol,
            first_day=date(2026, 11, 2),
            local_time=time(10, 0),
        )
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=protocol,
        first_day=date(2026, 10, 26),
        local_time=time(10, 0),
        rems_patient_enrollment_id="REMS-123",
        rems_enrolled_on=date(2026, 10, 20),
    )
    assert course.planned_dose_mg == Decimal("56")
    starts = [
        s.starts_at.astimezone(ZoneInfo("America/Denver")) for s in course.planned_sessions.all()
    ]
    assert len(starts) == 8 and {d.hour for d in starts} == {10}  # across Nov 1 fall-back


@pytest.mark.django_db
def test_protocol_edits_make_new_versions_and_courses_keep_theirs(ready: dict[str, Any]) -> None:
    current = _iv_protocol()
    data = {**current.data, "name": current.data["name"] + " (clinic)"}
    with pytest.raises(ValidationError):
        treatment.protocol_version_create(
            actor=ready["director"],
            key=current.key,
            data={"key": current.key},
            change_note="broken",
        )
    new = treatment.protocol_version_create(
        actor=ready["director"], key=current.key, data=data, change_note="Clinic name"
    )
    assert new.version == 2 and new.data["version"] == 2
    current.refresh_from_db()
    assert current.version == 1 and "(clinic)" not in current.data["name"]
    with pytest.raises(PermissionError):
        current.save()


@pytest.mark.django_db
@pytest.mark.now("2026-11-18T10:00:00-07:00")
def test_course_page_shows_times_in_the_locations_zone(
    ready: dict[str, Any], make_location: Any
) -> None:
    portland = make_location("PDX", "OR", "America/Los_Angeles")
    patient = ready["patient_slc"]
    patient.primary_location = portland
    patient.save()
    ready["prescriber"].locations.add(portland)
    ready["nurse"].locations.add(portland)
    _trials(patient, 2)
    intake = _intake(ready)
    eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        expected_version=intake.version,
        password=PASSWORD,
        decision="approve",
    )
    _consent(ready)
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=patient,
        protocol=_iv_protocol(),
        first_day=date(2026, 11, 23),
        local_time=time(9, 30),
    )
    client = Client()
    client.force_login(ready["prescriber"])
    page = client.get(f"/patients/{patient.pk}/courses/{course.pk}/").content.decode()
    table = page[
        page.index('id="planned-sessions"') : page.index(
            "</table>", page.index('id="planned-sessions"')
        )
    ]
    assert table.count("09:30") == 6 and "America/Los_Angeles" in table


@pytest.mark.django_db
@pytest.mark.now("2026-02-23T10:00:00-07:00")  # the course starts on Monday 2 March
def test_phases_move_in_order_and_ending_needs_a_reason(ready: dict[str, Any]) -> None:
    _approved_and_consented(ready)
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=_iv_protocol(),
        first_day=date(2026, 3, 2),
        local_time=time(9, 0),
    )
    with pytest.raises(ValidationError):
        treatment.course_set_phase(actor=ready["prescriber"], course=course, phase="maintenance")
    treatment.course_set_phase(actor=ready["prescriber"], course=course, phase="evaluation")
    treatment.course_set_phase(actor=ready["prescriber"], course=course, phase="maintenance")
    with pytest.raises(ValidationError):
        treatment.course_end(actor=ready["prescriber"], course=course, reason="")
    treatment.course_end(actor=ready["prescriber"], course=course, reason="Remission sustained")
    assert course.phase == "ended" and course.ended_reason == "Remission sustained"
    with pytest.raises(ValidationError):
        treatment.course_set_phase(actor=ready["prescriber"], course=course, phase="evaluation")


@pytest.mark.django_db
def test_only_a_complete_unchanged_draft_intake_can_be_signed(ready: dict[str, Any]) -> None:
    from ketaclinic.eligibility.forms import STEP_KEYS

    assert STEP_KEYS == eligibility.INTAKE_STEP_KEYS  # the wizard and the signing check agree
    _trials(ready["patient_slc"], 2)
    partial = eligibility.intake_start(
        actor=ready["nurse"], patient=ready["patient_slc"], route="iv_ketamine"
    )
    with pytest.raises(ValidationError, match="Complete every intake step"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=partial,
            password=PASSWORD,
            decision="approve",
            expected_version=partial.version,
        )
    intake = _intake(ready)
    seen = intake.version
    eligibility.intake_save_step(
        actor=ready["nurse"],
        intake=intake,
        step="medical",
        answers={"pregnant_or_possibly_pregnant": True},
        expected_version=intake.version,
    )
    with pytest.raises(ValidationError, match="changed after you opened it"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=intake,
            password=PASSWORD,
            decision="approve",
            expected_version=seen,
        )
    intake.refresh_from_db()
    eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        password=PASSWORD,
        decision="decline",
        expected_version=intake.version,
    )
    with pytest.raises(ValidationError, match="already signed"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=intake,
            password=PASSWORD,
            decision="approve",
            override_reason="x",
            expected_version=intake.version + 1,
        )
    with pytest.raises(ValidationError, match="password"):
        eligibility.eligibility_sign(
            actor=ready["prescriber"],
            intake=intake,
            password="wrong",
            decision="approve",
            expected_version=intake.version,
        )
    assert AuditEntry.objects.filter(
        action="signature_refused", actor_id=ready["prescriber"].pk
    ).exists()
    assert EligibilityDecision.objects.count() == 1


@pytest.mark.django_db
def test_consent_is_only_signed_on_the_version_that_was_read(ready: dict[str, Any]) -> None:
    from ketaclinic.eligibility.selectors import current_consent_document

    read = current_consent_document()
    eligibility.consent_document_publish(
        actor=ready["director"], title="Consent v2", body="Revised text."
    )
    with pytest.raises(ValidationError, match="changed while it was open"):
        eligibility.consent_sign(
            actor=ready["nurse"],
            patient=ready["patient_slc"],
            document=current_consent_document(),
            typed_name="Ada Lovelace",
            agreed=True,
            read_version=read.version,
        )
    assert not ConsentSignature.objects.exists()


@pytest.mark.django_db
@pytest.mark.now("2026-02-23T10:00:00-07:00")  # the course starts on Monday 2 March
def test_course_planning_guards(ready: dict[str, Any]) -> None:
    _approved_and_consented(ready)
    plan = dict(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=_iv_protocol(),
        local_time=time(9, 0),
    )
    with pytest.raises(ValidationError, match=r"0\.5 mg/kg"):  # not one of the protocol's steps
        treatment.course_create(**plan, first_day=date(2026, 3, 2), mg_per_kg=Decimal("0.75"))
    with pytest.raises(ValidationError, match="within a year of today"):
        treatment.course_create(**plan, first_day=date(2036, 3, 2))
    treatment.course_create(**plan, first_day=date(2026, 3, 2))
    with pytest.raises(ValidationError, match="already has an active"):
        treatment.course_create(**plan, first_day=date(2026, 3, 2))


@pytest.mark.django_db
def test_protocol_edits_keep_route_and_refuse_non_numbers(ready: dict[str, Any]) -> None:
    from ketaclinic.treatment.forms import ProtocolEditForm

    current = _iv_protocol()
    with pytest.raises(ValidationError, match="keeps its route"):
        treatment.protocol_version_create(
            actor=ready["director"],
            key=current.key,
            data={**current.data, "route": "esketamine"},
            change_note="switch",
        )
    form = ProtocolEditForm({"data": '{"max_mg_per_kg": NaN}', "change_note": "x"})
    assert not form.is_valid() and "NaN is not a number" in str(form.errors)


@pytest.mark.django_db
def test_settings_for_retired_rules_and_audited_record_ids(ready: dict[str, Any]) -> None:
    from ketaclinic.eligibility.models import RuleSetting

    RuleSetting.objects.create(
        rule_id="retired_rule", kind="off", reason="old", changed_by=ready["director"]
    )
    _trials(ready["patient_slc"], 2)
    intake = _intake(ready)
    assert eligibility.intake_evaluate(intake).advice == "eligible"
    client = Client()
    client.force_login(ready["prescriber"])
    client.get(f"/patients/{intake.patient_id}/intake/{intake.pk}/review/")
    entry = AuditEntry.objects.filter(actor_id=ready["prescriber"].pk, action="view").last()
    assert entry.detail == {"page": "intake_review", "intake_id": intake.pk}


@pytest.mark.django_db
def test_repeated_wrong_signature_passwords_pause_signing(ready: dict[str, Any]) -> None:
    _trials(ready["patient_slc"], 2)
    intake = _intake(ready)
    sign = dict(
        actor=ready["prescriber"],
        intake=intake,
        decision="approve",
        expected_version=intake.version,
    )
    for _ in range(5):
        with pytest.raises(ValidationError, match="password is not right"):
            eligibility.eligibility_sign(**sign, password="guess")
    with pytest.raises(ValidationError, match="signing is paused"):
        eligibility.eligibility_sign(**sign, password=PASSWORD)  # even the right one
    assert not EligibilityDecision.objects.exists()


@pytest.mark.django_db
@pytest.mark.now("2026-11-18T10:00:00-07:00")
def test_responses_recorded_during_a_course_are_linked_to_it(ready: dict[str, Any]) -> None:
    from ketaclinic.measures.services import response_record

    before = response_record(
        actor=ready["nurse"],
        patient=ready["patient_slc"],
        instrument_key="phq9",
        answers=[2] * 8 + [0],
        context="baseline",
    )
    _approved_and_consented(ready)
    course = treatment.course_create(
        actor=ready["prescriber"],
        patient=ready["patient_slc"],
        protocol=_iv_protocol(),
        first_day=date(2026, 11, 23),
        local_time=time(9, 0),
    )
    during = response_record(
        actor=ready["nurse"],
        patient=ready["patient_slc"],
        instrument_key="phq9",
        answers=[1] * 8 + [0],
        context="pre_session",
    )
    assert before.course is None and during.course == course
