"""The clinic's records as FHIR R4 resources (JSON dicts), following US Core 6.1.0.

Each function takes a row already loaded with what it needs (see `types.py` for the
querysets) and returns one resource, or several when one row holds several observations (a
set of vital signs). Nothing here queries the database. The tests validate every resource the
demo clinic yields with fhir.resources' R4B models.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ketaclinic.fhir import codes
from ketaclinic.fhir.codes import INSTRUMENT_CODES, MEDICATIONS, PROFILES, VITAL_SIGNS, loinc

Resource = dict[str, Any]

GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}
BIRTH_SEX = {"female": "F", "male": "M"}
CONDITION_STATUS = {"active": "active", "in_remission": "remission", "resolved": "resolved"}
ALLERGY_CRITICALITY = {
    "mild": "low",
    "moderate": "low",
    "severe": "high",
    "unknown": "unable-to-assess",
}
ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "checked_in": "arrived",
    "prechecked": "in-progress",
    "dosing": "in-progress",
    "monitoring": "in-progress",
    "ready": "in-progress",
    "discharged": "finished",
    "signed": "finished",
    "cancelled": "cancelled",
    "stopped_early": "finished",
}
APPOINTMENT_STATUS = {
    "booked": "booked",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "rescheduled": "cancelled",
}
EXT_TRIAL = codes.EXTENSION_BASE + "antidepressant-trial"
EXT_MEDICATION_CLASS = codes.EXTENSION_BASE + "medication-class"
EXT_RESPONSE_CONTEXT = codes.EXTENSION_BASE + "response-context"
EXT_BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


def instant(moment: datetime) -> str:
    """An aware datetime as a FHIR instant, to the microsecond it was stored with."""
    return moment.isoformat()


def _meta(profile: str | None, updated: datetime | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if profile:
        meta["profile"] = [profile]
    if updated is not None:
        meta["lastUpdated"] = instant(updated)
    return meta


def _ref(resource_type: str, pk: object, display: str = "") -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{pk}"}
    if display:
        reference["display"] = display
    return reference


def observation_category(code: str) -> list[dict[str, Any]]:
    """An Observation's category (vital-signs or survey), as US Core codes it."""
    display = {"vital-signs": "Vital Signs", "survey": "Survey"}[code]
    return [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": code, "display": display}]}]


def patient_ref(patient_id: int) -> dict[str, str]:
    return _ref("Patient", patient_id)


def _quantity(value: Decimal | int | float, unit: str) -> dict[str, Any]:
    return {"value": float(value), "unit": unit, "system": codes.UCUM, "code": unit}


def _phone(value: str, use: str = "") -> dict[str, str]:
    telecom = {"system": "phone", "value": value}
    if use:
        telecom["use"] = use
    return telecom


# Administration ------------------------------------------------------------------------------


def organization(org: Any) -> Resource:
    resource: Resource = {
        "resourceType": "Organization",
        "id": str(org.pk),
        "meta": _meta(PROFILES["Organization"], None),
        "active": True,
        "name": org.name,
    }
    telecom = []
    if org.phone:
        telecom.append(_phone(org.phone, "work"))
    if org.website:
        telecom.append({"system": "url", "value": org.website})
    if telecom:
        resource["telecom"] = telecom
    return resource


def location(place: Any) -> Resource:
    resource: Resource = {
        "resourceType": "Location",
        "id": str(place.pk),
        "meta": _meta(PROFILES["Location"], None),
        "status": "active" if place.is_active else "inactive",
        "name": place.name,
        "alias": [place.short_name],
        "telecom": [_phone(place.phone, "work")],
        "address": {
            "city": place.city,
            "state": place.state,
            "postalCode": place.postal_code,
            "country": "US",
        },
        "managingOrganization": _ref("Organization", place.organization_id),
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/timezone",
                "valueCode": place.timezone,
            }
        ],
    }
    return resource


def practitioner(user: Any) -> Resource:
    name: dict[str, Any] = {"family": user.last_name or user.username}
    if user.first_name:
        name["given"] = [user.first_name]
    if user.title:
        name["suffix"] = [user.title]
    resource: Resource = {
        "resourceType": "Practitioner",
        "id": str(user.pk),
        "meta": _meta(PROFILES["Practitioner"], None),
        "active": user.is_active,
        # US Core asks for an identifier (NPI where there is one); ketaclinic holds none
        # yet, so the account is the identifier.
        "identifier": [{"system": "https://ketaclinic.org/fhir/sid/staff", "value": user.username}],
        "name": [name],
    }
    if user.email:
        resource["telecom"] = [{"system": "email", "value": user.email, "use": "work"}]
    return resource


# The patient and their history ---------------------------------------------------------------


def patient(person: Any) -> Resource:
    given = [person.legal_first_name]
    names: list[dict[str, Any]] = [
        {"use": "official", "family": person.legal_last_name, "given": given}
    ]
    if person.preferred_name:
        names.append({"use": "usual", "given": [person.preferred_name]})
    telecom = [_phone(person.phone, "mobile")]
    if person.email:
        telecom.append({"system": "email", "value": person.email, "use": "home"})
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(person.pk),
        "meta": _meta(PROFILES["Patient"], person.updated_at),
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ]
                },
                "system": codes.MRN_SYSTEM,
                "value": person.mrn,
            }
        ],
        "active": True,
        "name": names,
        "telecom": telecom,
        "gender": GENDER.get(person.sex_at_birth, "unknown"),
        "birthDate": person.date_of_birth.isoformat(),
        "managingOrganization": _ref("Organization", person.primary_location.organization_id),
        "extension": [
            {
                "url": EXT_BIRTH_SEX,
                "valueCode": BIRTH_SEX.get(person.sex_at_birth, "UNK"),
            }
        ],
    }
    if person.address_line1 or person.city or person.postal_code:
        lines = [line for line in (person.address_line1, person.address_line2) if line]
        address: dict[str, Any] = {"use": "home", "country": "US"}
        if lines:
            address["line"] = lines
        for key, value in (
            ("city", person.city),
            ("state", person.state),
            ("postalCode", person.postal_code),
        ):
            if value:
                address[key] = value
        resource["address"] = [address]
    if person.emergency_contact_name:
        contact: dict[str, Any] = {
            "relationship": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                            "code": "C",
                            "display": "Emergency Contact",
                        }
                    ],
                    "text": person.emergency_contact_relationship or "Emergency contact",
                }
            ],
            "name": {"text": person.emergency_contact_name},
        }
        if person.emergency_contact_phone:
            contact["telecom"] = [_phone(person.emergency_contact_phone)]
        resource["contact"] = [contact]
    return resource


def condition(diagnosis: Any) -> Resource:
    status = CONDITION_STATUS.get(diagnosis.status, "active")
    resource: Resource = {
        "resourceType": "Condition",
        "id": str(diagnosis.pk),
        "meta": _meta(PROFILES["Condition"], diagnosis.recorded_at),
        "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": status}]},
        "verificationStatus": {
            "coding": [{"system": codes.CONDITION_VERIFICATION, "code": "confirmed"}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": codes.CONDITION_CATEGORY,
                        "code": "problem-list-item",
                        "display": "Problem List Item",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": codes.ICD10_CM,
                    "code": diagnosis.icd10_code,
                    "display": diagnosis.description,
                }
            ],
            "text": diagnosis.description,
        },
        "subject": patient_ref(diagnosis.patient_id),
        "recordedDate": instant(diagnosis.recorded_at),
    }
    if diagnosis.onset_date:
        resource["onsetDateTime"] = diagnosis.onset_date.isoformat()
    if status == "resolved":
        resource["abatementString"] = "Resolved"
    if diagnosis.is_primary:
        resource["extension"] = [
            {"url": codes.EXTENSION_BASE + "primary-diagnosis", "valueBoolean": True}
        ]
    return resource


def allergy(entry: Any) -> Resource:
    resource: Resource = {
        "resourceType": "AllergyIntolerance",
        "id": str(entry.pk),
        "meta": _meta(PROFILES["AllergyIntolerance"], entry.recorded_at),
        "clinicalStatus": {"coding": [{"system": codes.ALLERGY_CLINICAL, "code": "active"}]},
        "verificationStatus": {
            "coding": [{"system": codes.ALLERGY_VERIFICATION, "code": "confirmed"}]
        },
        "code": {"text": entry.substance},
        "criticality": ALLERGY_CRITICALITY.get(entry.severity, "unable-to-assess"),
        "patient": patient_ref(entry.patient_id),
        "recordedDate": instant(entry.recorded_at),
    }
    if entry.reaction:
        reaction: dict[str, Any] = {"manifestation": [{"text": entry.reaction}]}
        if entry.severity in {"mild", "moderate", "severe"}:
            reaction["severity"] = entry.severity
        resource["reaction"] = [reaction]
    return resource


def no_known_drug_allergy(person: Any) -> Resource:
    """The verified "no known drug allergies" statement, as US Core writes a negated allergy."""
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"nkda-{person.pk}",
        "meta": _meta(PROFILES["AllergyIntolerance"], person.nkda_verified_at),
        "clinicalStatus": {"coding": [{"system": codes.ALLERGY_CLINICAL, "code": "active"}]},
        "verificationStatus": {
            "coding": [{"system": codes.ALLERGY_VERIFICATION, "code": "confirmed"}]
        },
        "code": {
            "coding": [
                {
                    "system": codes.SNOMED_CT,
                    "code": "409137002",
                    "display": "No known drug allergy (situation)",
                }
            ],
            "text": "No known drug allergies",
        },
        "patient": patient_ref(person.pk),
        "recordedDate": instant(person.nkda_verified_at),
    }


def medication_statement(medication: Any) -> Resource:
    """A medication the patient takes or took; an antidepressant trial carries its weeks at
    dose, adherence and outcome as extensions (clinical-reference.md section 3)."""
    status = "active" if medication.is_current else "completed"
    resource: Resource = {
        "resourceType": "MedicationStatement",
        "id": str(medication.pk),
        "meta": _meta(None, medication.recorded_at),
        "status": status,
        "medicationCodeableConcept": {"text": medication.name},
        "subject": patient_ref(medication.patient_id),
        "dateAsserted": instant(medication.recorded_at),
        "extension": [{"url": EXT_MEDICATION_CLASS, "valueCode": medication.medication_class}],
    }
    period: dict[str, str] = {}
    if medication.started_on:
        period["start"] = medication.started_on.isoformat()
    if medication.stopped_on:
        period["end"] = medication.stopped_on.isoformat()
    if period:
        resource["effectivePeriod"] = period
    dosage: dict[str, Any] = {}
    if medication.directions:
        dosage["text"] = medication.directions
    if medication.dose_mg_per_day is not None:
        dosage["doseAndRate"] = [{"doseQuantity": _quantity(medication.dose_mg_per_day, "mg")}]
        dosage["timing"] = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    if dosage:
        resource["dosage"] = [dosage]
    trial: list[dict[str, Any]] = []
    if medication.weeks_at_dose is not None:
        trial.append({"url": "weeksAtDose", "valueInteger": medication.weeks_at_dose})
    if medication.adherence:
        trial.append({"url": "adherence", "valueCode": medication.adherence})
    if medication.trial_outcome:
        trial.append({"url": "outcome", "valueCode": medication.trial_outcome})
    trial.append({"url": "inCurrentEpisode", "valueBoolean": medication.in_current_episode})
    if medication.medication_class == "antidepressant":
        resource["extension"].append({"url": EXT_TRIAL, "extension": trial})
    return resource


# Measures ------------------------------------------------------------------------------------


def _vital(
    key: str, reading: Any, patient_id: int, encounter_id: int | None, resource_id: str
) -> Resource:
    code, display, _unit, profile = VITAL_SIGNS[key]
    resource: Resource = {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": _meta(PROFILES.get(profile), reading.recorded_at),
        "status": "entered-in-error" if reading.struck_at else "final",
        "category": observation_category("vital-signs"),
        "code": loinc(code, display),
        "subject": patient_ref(patient_id),
        "effectiveDateTime": instant(reading.taken_at),
    }
    if encounter_id is not None:
        resource["encounter"] = _ref("Encounter", encounter_id)
    return resource


def vital_signs(reading: Any) -> list[Resource]:
    """One set of vital signs taken in the chair, as the US Core vital-sign observations."""
    session = reading.session
    patient_id, encounter = session.patient_id, session.pk
    base = f"vs-{reading.pk}"
    out: list[Resource] = []
    if reading.systolic is not None or reading.diastolic is not None:
        panel = _vital("blood_pressure", reading, patient_id, encounter, f"{base}-bp")
        components = []
        for key in ("systolic", "diastolic"):
            value = getattr(reading, key)
            code, display, unit, _ = VITAL_SIGNS[key]
            component: dict[str, Any] = {"code": loinc(code, display)}
            if value is None:
                component["dataAbsentReason"] = {
                    "coding": [{"system": codes.DATA_ABSENT, "code": "not-performed"}]
                }
            else:
                component["valueQuantity"] = _quantity(value, unit)
            components.append(component)
        panel["component"] = components
        out.append(panel)
    if reading.heart_rate is not None:
        observation = _vital("heart_rate", reading, patient_id, encounter, f"{base}-hr")
        observation["valueQuantity"] = _quantity(reading.heart_rate, "/min")
        out.append(observation)
    if reading.respiratory_rate is not None:
        observation = _vital("respiratory_rate", reading, patient_id, encounter, f"{base}-rr")
        observation["valueQuantity"] = _quantity(reading.respiratory_rate, "/min")
        out.append(observation)
    if reading.spo2 is not None:
        observation = _vital("spo2", reading, patient_id, encounter, f"{base}-spo2")
        # US Core pulse oximetry: both codes, 2708-6 and 59408-5 (clinical-reference.md 8).
        code, display, _unit, _ = VITAL_SIGNS["spo2_pulse_oximetry"]
        observation["code"]["coding"].append(
            {"system": codes.LOINC, "code": code, "display": display}
        )
        observation["valueQuantity"] = _quantity(reading.spo2, "%")
        out.append(observation)
    return out


def body_measurements(measurement: Any) -> list[Resource]:
    """Height, weight and BMI measured on a day (the patient's chart)."""
    out = []
    effective = measurement.measured_on.isoformat()
    values = [("weight", measurement.weight_kg, "kg", "wt")]
    if measurement.height_cm is not None:
        values.append(("height", measurement.height_cm, "cm", "ht"))
    bmi = measurement.bmi
    if bmi is not None:
        values.append(("bmi", bmi, "kg/m2", "bmi"))
    for key, value, unit, suffix in values:
        code, display, _unit, profile = VITAL_SIGNS[key]
        out.append(
            {
                "resourceType": "Observation",
                "id": f"body-{measurement.pk}-{suffix}",
                "meta": _meta(PROFILES[profile], measurement.recorded_at),
                "status": "final",
                "category": observation_category("vital-signs"),
                "code": loinc(code, display),
                "subject": patient_ref(measurement.patient_id),
                "effectiveDateTime": effective,
                "valueQuantity": _quantity(value, unit),
            }
        )
    return out


def _instrument_code(key: str, title: str) -> dict[str, Any]:
    if key in INSTRUMENT_CODES:
        _panel, _panel_display, total, total_display, _items = INSTRUMENT_CODES[key]
        return loinc(total, total_display)
    return codes.local_code(f"{key}-total", f"{title} total score")


def assessment(response: Any, title: str) -> list[Resource]:
    """A questionnaire's total, and for PHQ-9 and GAD-7 each item with its LOINC code, as US
    Core screening-assessment observations derived from the QuestionnaireResponse."""
    key = response.instrument_key
    derived = [_ref("QuestionnaireResponse", response.pk)]
    base: Resource = {
        "resourceType": "Observation",
        "meta": _meta(PROFILES["screening-assessment"], response.completed_at),
        "status": "final",
        "category": observation_category("survey"),
        "subject": patient_ref(response.patient_id),
        "effectiveDateTime": instant(response.completed_at),
        "derivedFrom": derived,
    }
    if response.completed_by_patient:
        base["performer"] = [patient_ref(response.patient_id)]
    elif response.completed_by_id:
        base["performer"] = [_ref("Practitioner", response.completed_by_id)]
    out: list[Resource] = []
    item_codes = INSTRUMENT_CODES[key][4] if key in INSTRUMENT_CODES else ()
    members = []
    for number, (code, answer) in enumerate(zip(item_codes, response.answers, strict=False), 1):
        item = dict(base, id=f"qr-{response.pk}-item{number}")
        item["code"] = loinc(code, f"{title} item {number}")
        item["valueInteger"] = int(answer)
        out.append(item)
        members.append(_ref("Observation", item["id"]))
    if response.total is not None:
        total = dict(base, id=f"qr-{response.pk}-total")
        total["code"] = _instrument_code(key, title)
        total["valueInteger"] = int(response.total)
        if response.severity:
            total["interpretation"] = [{"text": response.severity}]
        if members:
            total["hasMember"] = members
        out.insert(0, total)
    return out


def session_score(score: Any, label: str) -> Resource:
    """A sedation or dissociation score taken in the chair (MOAA/S, CADSS): local codes."""
    session = score.session
    return {
        "resourceType": "Observation",
        "id": f"score-{score.pk}",
        "meta": _meta(PROFILES["screening-assessment"], score.recorded_at),
        "status": "entered-in-error" if score.struck_at else "final",
        "category": observation_category("survey"),
        "code": codes.local_code(score.instrument, label),
        "subject": patient_ref(session.patient_id),
        "encounter": _ref("Encounter", session.pk),
        "effectiveDateTime": instant(score.taken_at),
        "valueInteger": int(score.score),
    }


def questionnaire(definition: dict[str, Any]) -> Resource:
    """An instrument as a Questionnaire: the shipped definition without ketaclinic's own
    scoring keys, with LOINC codes where the instrument has them."""
    key = definition["id"]
    items = []
    item_codes = INSTRUMENT_CODES[key][4] if key in INSTRUMENT_CODES else ()
    for number, source in enumerate(definition["item"], 1):
        item: dict[str, Any] = {
            "linkId": str(source["linkId"]),
            "text": source["text"],
            "type": source.get("type", "choice"),
            "required": bool(source.get("required", True)),
        }
        if number <= len(item_codes):
            item["code"] = [{"system": codes.LOINC, "code": item_codes[number - 1]}]
        options = [
            {"valueCoding": dict(option["valueCoding"], system=codes.LOCAL_CODES + "/answer")}
            for option in source.get("answerOption", [])
        ]
        if options:
            item["answerOption"] = options
        items.append(item)
    resource: Resource = {
        "resourceType": "Questionnaire",
        "id": key,
        "url": codes.QUESTIONNAIRE_BASE + key,
        "name": definition.get("name", key).replace("-", ""),
        "title": definition["title"],
        "status": "active",
        "subjectType": ["Patient"],
        "description": definition.get("source", ""),
        "item": items,
    }
    if key in INSTRUMENT_CODES:
        panel, panel_display, *_ = INSTRUMENT_CODES[key]
        resource["code"] = [{"system": codes.LOINC, "code": panel, "display": panel_display}]
    return resource


def questionnaire_response(response: Any, definition: dict[str, Any]) -> Resource:
    """One completed questionnaire with every item answer."""
    items = []
    for source, answer in zip(definition["item"], response.answers, strict=False):
        display = next(
            (
                option["valueCoding"].get("display", "")
                for option in source.get("answerOption", [])
                if option.get("extension-value") == answer
            ),
            "",
        )
        coding = {"system": codes.LOCAL_CODES + "/answer", "code": str(answer)}
        if display:
            coding["display"] = display
        items.append(
            {
                "linkId": str(source["linkId"]),
                "text": source["text"],
                "answer": [{"valueCoding": coding}],
            }
        )
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.pk),
        "meta": _meta(PROFILES["QuestionnaireResponse"], response.completed_at),
        "questionnaire": codes.QUESTIONNAIRE_BASE + response.instrument_key,
        "status": "completed",
        "subject": patient_ref(response.patient_id),
        "authored": instant(response.completed_at),
        "item": items,
        "extension": [{"url": EXT_RESPONSE_CONTEXT, "valueCode": response.context}],
    }
    if response.completed_by_patient:
        resource["author"] = patient_ref(response.patient_id)
        resource["source"] = patient_ref(response.patient_id)
    elif response.completed_by_id:
        resource["author"] = _ref("Practitioner", response.completed_by_id)
    return resource


# Treatment sessions --------------------------------------------------------------------------


def encounter(session: Any) -> Resource:
    """A treatment session in the chair (US Core Encounter, class ambulatory)."""
    status = ENCOUNTER_STATUS.get(session.status, "unknown")
    label = "Esketamine session" if session.route == "esketamine" else "IV ketamine infusion"
    resource: Resource = {
        "resourceType": "Encounter",
        "id": str(session.pk),
        "meta": _meta(PROFILES["Encounter"], None),
        "status": status,
        "class": {"system": codes.ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [codes.local_code(f"session-{session.route}", label)],
        "subject": patient_ref(session.patient_id),
        "location": [{"location": _ref("Location", session.location_id)}],
        "serviceProvider": _ref("Organization", session.location.organization_id),
    }
    start = session.checked_in_at or session.scheduled_at
    period = {"start": instant(start)}
    if session.discharged_at:
        period["end"] = instant(session.discharged_at)
    resource["period"] = period
    if session.course.prescriber_id:
        resource["participant"] = [
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "ATND",
                                "display": "attender",
                            }
                        ]
                    }
                ],
                "individual": _ref("Practitioner", session.course.prescriber_id),
            }
        ]
    if session.end_reason:
        resource["reasonCode"] = [{"text": session.end_reason}]
    return resource


def medication_administration(session: Any) -> Resource | None:
    """The ketamine or esketamine given in a session: RxNorm code, dose, route, lot."""
    if session.dose_mg is None or session.dosing_started_at is None:
        return None
    rx_code, rx_display, route_code, route_display = MEDICATIONS[session.route]
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": str(session.pk),
        "status": "completed" if session.dosing_ended_at else "in-progress",
        "medicationCodeableConcept": {
            "coding": [{"system": codes.RXNORM, "code": rx_code, "display": rx_display}],
            "text": rx_display,
        },
        "subject": patient_ref(session.patient_id),
        "context": _ref("Encounter", session.pk),
        "dosage": {
            "route": {
                "coding": [
                    {"system": codes.SNOMED_CT, "code": route_code, "display": route_display}
                ]
            },
            "dose": _quantity(session.dose_mg, "mg"),
        },
    }
    if session.dosing_ended_at:
        resource["effectivePeriod"] = {
            "start": instant(session.dosing_started_at),
            "end": instant(session.dosing_ended_at),
        }
    else:
        resource["effectiveDateTime"] = instant(session.dosing_started_at)
    if session.pump_rate_ml_per_h is not None:
        resource["dosage"]["rateQuantity"] = _quantity(session.pump_rate_ml_per_h, "mL/h")
    if session.lot_number:
        resource["extension"] = [
            {"url": codes.EXTENSION_BASE + "lot-number", "valueString": session.lot_number}
        ]
    if session.dose_change_reason:
        resource["note"] = [{"text": f"Dose changed: {session.dose_change_reason}"}]
    return resource


def provenance(note: Any) -> Resource:
    """Who signed a session note and when (US Core Provenance, with the signature)."""
    signed = instant(note.signed_at)
    agents = [
        {
            "type": {
                "coding": [
                    {"system": codes.PROVENANCE_PARTICIPANT, "code": "author", "display": "Author"}
                ]
            },
            "who": _ref("Practitioner", note.signed_by_id, note.signed_by_name),
        }
    ]
    signatures = [
        {
            "type": [
                {
                    "system": codes.SIGNATURE_TYPE,
                    "code": "1.2.840.10065.1.12.1.1",
                    "display": "Author's Signature",
                }
            ],
            "when": signed,
            "who": _ref("Practitioner", note.signed_by_id, note.signed_by_name),
        }
    ]
    return {
        "resourceType": "Provenance",
        "id": f"note-{note.pk}",
        "meta": _meta(PROFILES["Provenance"], note.signed_at),
        "target": [_ref("Encounter", note.session_id)],
        "recorded": signed,
        "reason": [{"text": note.signature_meaning[:200]}],
        "agent": agents,
        "signature": signatures,
    }


def appointment(booking: Any) -> Resource:
    """A booked appointment (base R4: US Core has no Appointment profile)."""
    participants: list[dict[str, Any]] = [
        {"actor": patient_ref(booking.patient_id), "status": "accepted", "required": "required"},
        {"actor": _ref("Location", booking.location_id), "status": "accepted"},
    ]
    if booking.provider_id:
        participants.append(
            {"actor": _ref("Practitioner", booking.provider_id), "status": "accepted"}
        )
    resource: Resource = {
        "resourceType": "Appointment",
        "id": str(booking.pk),
        "meta": _meta(None, booking.status_changed_at or booking.booked_at),
        "status": APPOINTMENT_STATUS.get(booking.status, "booked"),
        "serviceType": [
            codes.local_code(booking.appointment_type.key, booking.appointment_type.name)
        ],
        "appointmentType": {"text": "Video visit" if booking.telehealth else "In person"},
        "start": instant(booking.starts_at),
        "end": instant(booking.ends_at),
        "minutesDuration": int((booking.ends_at - booking.starts_at).total_seconds() // 60),
        "created": instant(booking.booked_at),
        "participant": participants,
    }
    if booking.status_reason:
        resource["cancelationReason"] = {"text": booking.status_reason}
    return resource


def consent(signature: Any) -> Resource:
    """The patient's signed treatment consent (one version of the clinic's document)."""
    document = signature.document
    return {
        "resourceType": "Consent",
        "id": str(signature.pk),
        "meta": _meta(None, signature.signed_at),
        "status": "active",
        "scope": {
            "coding": [{"system": codes.CONSENT_SCOPE, "code": "treatment", "display": "Treatment"}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": codes.LOINC,
                        "code": "59284-0",
                        "display": "Patient Consent",
                    }
                ]
            }
        ],
        "patient": patient_ref(signature.patient_id),
        "dateTime": instant(signature.signed_at),
        "performer": [patient_ref(signature.patient_id)],
        "sourceAttachment": {
            "contentType": "text/plain",
            "title": f"{document.title} (version {document.version})",
        },
        "policyRule": {"text": f"{document.title}, version {document.version}"},
    }


def group(place: Any) -> Resource:
    """A location's patients as a Group, for a Group-level bulk export."""
    return {
        "resourceType": "Group",
        "id": str(place.pk),
        "type": "person",
        "actual": True,
        "name": f"Patients of {place.name}",
        "managingEntity": _ref("Organization", place.organization_id),
        "characteristic": [
            {
                "code": {"text": "Primary location"},
                "valueReference": _ref("Location", place.pk, place.name),
                "exclude": False,
            }
        ],
    }
