"""The code systems, codes and profiles the FHIR API uses, as data with their sources.

- LOINC vital signs, body measurements, PHQ-9 and GAD-7 panels and totals:
  clinical-reference.md sections 2 and 8 (and the HL7 FHIR R4 vital-signs profile,
  hl7.org/fhir/R4/observation-vitalsigns.html).
- PHQ-9 item codes: the LOINC panel 44249-1 (loinc.org/44249-1), items in form order.
  GAD-7 item codes: the LOINC panel 69737-5 (loinc.org/69737-5), items in form order.
- RxNorm: ketamine (ingredient, RxCUI 6130) and esketamine nasal spray (clinical drug form,
  RxCUI 2201623), from the NLM RxNorm release (rxnav.nlm.nih.gov); check them against the
  current release before a payer relies on them.
- US Core 6.1.0 profile canonicals: hl7.org/fhir/us/core/STU6.1 (clinical-reference.md
  section 10). MedicationAdministration and Appointment have no US Core profile: base R4.
- MADRS, QIDS-SR16, C-SSRS, CADSS, MOAA/S have no verified LOINC code
  (clinical-reference.md section 2): they use the clinic's local code system.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED_CT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# The clinic's own systems: identifiers it issues and codes with no standard equivalent.
MRN_SYSTEM = "https://ketaclinic.org/fhir/sid/mrn"
LOCAL_CODES = "https://ketaclinic.org/fhir/CodeSystem/local"
QUESTIONNAIRE_BASE = "https://ketaclinic.org/fhir/Questionnaire/"
EXTENSION_BASE = "https://ketaclinic.org/fhir/StructureDefinition/"

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILES: dict[str, str] = {
    "Patient": US_CORE + "us-core-patient",
    "Practitioner": US_CORE + "us-core-practitioner",
    "Location": US_CORE + "us-core-location",
    "Organization": US_CORE + "us-core-organization",
    "Condition": US_CORE + "us-core-condition-problems-health-concerns",
    "AllergyIntolerance": US_CORE + "us-core-allergyintolerance",
    "MedicationRequest": US_CORE + "us-core-medicationrequest",
    "Encounter": US_CORE + "us-core-encounter",
    "QuestionnaireResponse": US_CORE + "us-core-questionnaireresponse",
    "Provenance": US_CORE + "us-core-provenance",
    "vital-signs": US_CORE + "us-core-vital-signs",
    "blood-pressure": US_CORE + "us-core-blood-pressure",
    "heart-rate": US_CORE + "us-core-heart-rate",
    "respiratory-rate": US_CORE + "us-core-respiratory-rate",
    "pulse-oximetry": US_CORE + "us-core-pulse-oximetry",
    "body-weight": US_CORE + "us-core-body-weight",
    "body-height": US_CORE + "us-core-body-height",
    "bmi": US_CORE + "us-core-bmi",
    "screening-assessment": US_CORE + "us-core-observation-screening-assessment",
}


# code, display, UCUM unit, profile key
VITAL_SIGNS: dict[str, tuple[str, str, str, str]] = {
    "blood_pressure": (
        "85354-9",
        "Blood pressure panel with all children optional",
        "",
        "blood-pressure",
    ),
    "systolic": ("8480-6", "Systolic blood pressure", "mm[Hg]", ""),
    "diastolic": ("8462-4", "Diastolic blood pressure", "mm[Hg]", ""),
    "heart_rate": ("8867-4", "Heart rate", "/min", "heart-rate"),
    "respiratory_rate": ("9279-1", "Respiratory rate", "/min", "respiratory-rate"),
    "spo2": ("2708-6", "Oxygen saturation in Arterial blood", "%", "pulse-oximetry"),
    "spo2_pulse_oximetry": (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "",
    ),
    "weight": ("29463-7", "Body weight", "kg", "body-weight"),
    "height": ("8302-2", "Body height", "cm", "body-height"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "bmi"),
}

# instrument key -> (panel code, panel display, total code, total display, item codes)
INSTRUMENT_CODES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "phq9": (
        "44249-1",
        "PHQ-9 quick depression assessment panel",
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        (
            "44250-9",
            "44255-8",
            "44259-0",
            "44254-1",
            "44251-7",
            "44258-2",
            "44252-5",
            "44253-3",
            "44260-8",
        ),
    ),
    "gad7": (
        "69737-5",
        "Generalized anxiety disorder 7 item (GAD-7)",
        "70274-6",
        "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
        ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    ),
}

# Treatment route -> (RxNorm code, display, SNOMED CT route code, route display)
MEDICATIONS: dict[str, tuple[str, str, str, str]] = {
    "iv_ketamine": ("6130", "ketamine", "47625008", "Intravenous route"),
    "esketamine": ("2201623", "esketamine Nasal Spray", "46713006", "Nasal route"),
}


def local_code(code: str, display: str) -> dict[str, object]:
    """A code of the clinic's own system, for measures with no standard code."""
    return {"coding": [{"system": LOCAL_CODES, "code": code, "display": display}], "text": display}


def loinc(code: str, display: str) -> dict[str, object]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}
