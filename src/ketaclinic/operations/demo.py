"""The fictional demo clinic: deterministic from a fixed seed, dated relative to today.

Every person, number and address here is invented. Phone numbers use the 555-01xx
range reserved for fiction; emails use example.org.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import user_create
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.search import name_key
from ketaclinic.operations.demo_billing import seed_billing
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.operations.demo_coverage import seed_coverage
from ketaclinic.operations.demo_measures import MEASURED_PATIENTS, seed_measures
from ketaclinic.operations.demo_outcomes import Network, seed_outcomes
from ketaclinic.operations.demo_referrals import seed_referrals
from ketaclinic.operations.demo_register import seed_register
from ketaclinic.operations.demo_scheduling import seed_scheduling
from ketaclinic.operations.demo_sessions import seed_sessions, sign_demo_notes
from ketaclinic.operations.demo_therapy import seed_therapy
from ketaclinic.operations.demo_treatment import seed_treatment
from ketaclinic.operations.maintenance import database_analyze
from ketaclinic.organization.models import Location, Organization
from ketaclinic.patients.models import (
    Adherence,
    Allergy,
    AllergySeverity,
    BodyMeasurement,
    Diagnosis,
    Medication,
    MedicationClass,
    Patient,
    SexAtBirth,
    SubstanceUse,
    SubstanceUseStatus,
    TrialOutcome,
)
from ketaclinic.patients.services import mrn_allocate

DEMO_SEED = 20261121
DEFAULT_PATIENTS = 60
BATCH_SIZE = 1000

LOCATIONS = [
    # short name, name, street, city, state, zip, tz, phone, DEA, REMS certified
    ("SLC", "Salt Lake City Clinic", "455 E 400 S, Suite 210", "Salt Lake City", "UT", "84111",
     "America/Denver", "(801) 555-0140", "BK1234563", True),
    ("Boise", "Boise Clinic", "1020 W Main St", "Boise", "ID", "83702",
     "America/Boise", "(208) 555-0160", "FK7654325", True),
    ("Portland", "Portland Clinic", "2340 NW Westover Rd", "Portland", "OR", "97210",
     "America/Los_Angeles", "(503) 555-0180", "BK2468134", False),
]  # fmt: skip

# The further sites of a network-scale demo (ketaclinic demo --locations), each with ten
# chairs and a coordinator, a nurse and a prescriber of its own. Short names differ in
# their first six letters (the register's container labels start with them).
NETWORK_LOCATIONS = [
    ("Denver", "Denver Clinic", "1600 Champa St", "Denver", "CO", "80202",
     "America/Denver", "(303) 555-0120", "BD", False),
    ("Boulder", "Boulder Clinic", "2025 Pearl St", "Boulder", "CO", "80302",
     "America/Denver", "(303) 555-0125", "FB", True),
    ("Phoenix", "Phoenix Clinic", "3200 N Central Ave", "Phoenix", "AZ", "85012",
     "America/Phoenix", "(602) 555-0130", "BP", True),
    ("Tucson", "Tucson Clinic", "1 S Church Ave", "Tucson", "AZ", "85701",
     "America/Phoenix", "(520) 555-0135", "FT", False),
    ("Albuquerque", "Albuquerque Clinic", "500 Gold Ave SW", "Albuquerque", "NM", "87102",
     "America/Denver", "(505) 555-0140", "BA", True),
    ("Reno", "Reno Clinic", "50 W Liberty St", "Reno", "NV", "89501",
     "America/Los_Angeles", "(775) 555-0145", "FR", False),
    ("LasVegas", "Las Vegas Clinic", "600 S Rancho Dr", "Las Vegas", "NV", "89106",
     "America/Los_Angeles", "(702) 555-0150", "BL", True),
    ("Seattle", "Seattle Clinic", "1100 Olive Way", "Seattle", "WA", "98101",
     "America/Los_Angeles", "(206) 555-0155", "FS", True),
    ("Spokane", "Spokane Clinic", "827 W 1st Ave", "Spokane", "WA", "99201",
     "America/Los_Angeles", "(509) 555-0160", "BS", False),
    ("Tacoma", "Tacoma Clinic", "1119 Pacific Ave", "Tacoma", "WA", "98402",
     "America/Los_Angeles", "(253) 555-0165", "FT", False),
    ("Eugene", "Eugene Clinic", "44 W Broadway", "Eugene", "OR", "97401",
     "America/Los_Angeles", "(541) 555-0170", "BE", True),
    ("Bend", "Bend Clinic", "550 NW Franklin Ave", "Bend", "OR", "97703",
     "America/Los_Angeles", "(541) 555-0175", "FB", False),
    ("Missoula", "Missoula Clinic", "101 E Broadway", "Missoula", "MT", "59802",
     "America/Denver", "(406) 555-0180", "BM", False),
    ("Billings", "Billings Clinic", "2822 3rd Ave N", "Billings", "MT", "59101",
     "America/Denver", "(406) 555-0185", "FB", True),
    ("Provo", "Provo Clinic", "100 N University Ave", "Provo", "UT", "84601",
     "America/Denver", "(801) 555-0190", "BP", True),
    ("Ogden", "Ogden Clinic", "2404 Washington Blvd", "Ogden", "UT", "84401",
     "America/Denver", "(801) 555-0195", "FO", False),
    ("StGeorge", "St. George Clinic", "86 S Main St", "St. George", "UT", "84770",
     "America/Denver", "(435) 555-0110", "BS", False),
    ("IdahoFalls", "Idaho Falls Clinic", "501 W Broadway St", "Idaho Falls", "ID", "83402",
     "America/Boise", "(208) 555-0115", "FI", True),
    ("CoeurdAlene", "Coeur d'Alene Clinic", "710 E Mullan Ave", "Coeur d'Alene", "ID",
     "83814", "America/Los_Angeles", "(208) 555-0118", "BC", False),
    ("Sacramento", "Sacramento Clinic", "1215 K St", "Sacramento", "CA", "95814",
     "America/Los_Angeles", "(916) 555-0122", "FS", True),
    ("Fresno", "Fresno Clinic", "2300 Tulare St", "Fresno", "CA", "93721",
     "America/Los_Angeles", "(559) 555-0128", "BF", False),
]  # fmt: skip
NETWORK_CHAIRS = 10
MAX_LOCATIONS = len(LOCATIONS) + len(NETWORK_LOCATIONS)
NETWORK_STAFF_ROLES = (
    ("coordinator", Role.COORDINATOR, ""),
    ("nurse", Role.NURSE, "RN"),
    ("prescriber", Role.PRESCRIBER, "MD"),
)

# username, role, first, last, title, location short names
STAFF = [
    ("coordinator", Role.COORDINATOR, "Maya", "Okafor", "", ["SLC"]),
    ("nurse", Role.NURSE, "Daniel", "Reyes", "RN", ["SLC"]),
    ("prescriber", Role.PRESCRIBER, "Priya", "Raman", "MD", ["SLC", "Boise"]),
    ("director", Role.MEDICAL_DIRECTOR, "Helen", "Marsh", "MD", []),
    ("admin", Role.ADMIN, "Sam", "Whitaker", "", []),
    ("coordinator.boise", Role.COORDINATOR, "Lena", "Fischer", "", ["Boise"]),
    ("nurse.boise", Role.NURSE, "Tom", "Nakamura", "RN", ["Boise"]),
    ("coordinator.portland", Role.COORDINATOR, "Jordan", "Blake", "", ["Portland"]),
    ("nurse.portland", Role.NURSE, "Aisha", "Bello", "RN", ["Portland"]),
    ("prescriber.portland", Role.PRESCRIBER, "Marcus", "Lind", "PMHNP", ["Portland"]),
    ("therapist", Role.THERAPIST, "Nadia", "Hollis", "LCSW", ["SLC"]),
]  # fmt: skip

FIRST_NAMES = {
    SexAtBirth.FEMALE: ["Emma", "Olivia", "Sofia", "Grace", "Hannah", "Mia", "Ava", "Chloe",
                        "Leah", "Nora", "Ruth", "Ana", "Mei", "Fatima", "Julia", "Rosa",
                        "Claire", "Ines", "Aaliyah", "Kateryna", "Yuki", "Brooke", "Tessa"],
    SexAtBirth.MALE: ["Liam", "Noah", "James", "Ethan", "Lucas", "Mateo", "Owen", "Caleb",
                      "David", "Samuel", "Wei", "Omar", "Andre", "Tyler", "Ravi", "Jonah",
                      "Marco", "Kenji", "Elijah", "Pavel", "Diego", "Henry", "Isaac"],
}  # fmt: skip
LAST_NAMES = [
    "Anderson", "Baker", "Castillo", "Chen", "Christensen", "Dahl", "Evans", "Flores",
    "García", "Hansen", "Harris", "Ito", "Jensen", "Johnson", "Kim", "Larsen", "Lopez",
    "Martin", "Morales", "Müller", "Nguyen", "Olsen", "Patel", "Peterson", "Quinn", "Ramos",
    "Robinson", "Sato", "Schmidt", "Smith", "Sørensen", "Taylor", "Thompson", "Torres",
    "Walker", "Warner", "White", "Young", "Zhang", "Novak", "Haddad", "Begay", "Yazzie",
]  # fmt: skip
NICKNAMES = {
    "Samuel": "Sam",
    "Elijah": "Eli",
    "Kateryna": "Katya",
    "Elizabeth": "Liz",
    "Isaac": "Ike",
    "Hannah": "Annie",
    "David": "Dave",
    "James": "Jim",
    "Julia": "Jules",
    "Olivia": "Liv",
    "Henry": "Hank",
    "Matthew": "Matt",
}
STREETS = [
    "Maple Ave",
    "Cedar St",
    "Canyon Rd",
    "Lakeview Dr",
    "Aspen Way",
    "Pioneer Blvd",
    "Willow Ln",
    "Ridge Rd",
    "Orchard St",
    "Juniper Ct",
    "River Rd",
    "Sunset Dr",
]
CITIES = {"UT": ["Salt Lake City", "Provo", "Ogden", "Sandy", "Murray"],
          "ID": ["Boise", "Meridian", "Nampa", "Eagle"],
          "OR": ["Portland", "Beaverton", "Gresham", "Hillsboro"],
          "WA": ["Vancouver", "Camas"], "NV": ["Reno"],
          # The network's further states.
          "CO": ["Denver", "Aurora", "Lakewood", "Boulder"], "AZ": ["Phoenix", "Tempe", "Tucson"],
          "NM": ["Albuquerque", "Rio Rancho", "Santa Fe"], "MT": ["Missoula", "Billings"],
          "CA": ["Sacramento", "Fresno", "Davis"]}  # fmt: skip

# name, mg/day options
ANTIDEPRESSANTS = [
    ("Sertraline", [100, 150, 200]), ("Escitalopram", [10, 20]), ("Fluoxetine", [20, 40, 60]),
    ("Bupropion XL", [150, 300, 450]), ("Venlafaxine XR", [150, 225]),
    ("Duloxetine", [60, 90, 120]), ("Mirtazapine", [30, 45]), ("Vortioxetine", [10, 20]),
    ("Citalopram", [20, 40]), ("Paroxetine", [20, 40]), ("Desvenlafaxine", [50, 100]),
]  # fmt: skip
OTHER_MEDICATIONS = [
    ("Lorazepam", MedicationClass.BENZODIAZEPINE, [1, 2]),
    ("Clonazepam", MedicationClass.BENZODIAZEPINE, [0.5, 1]),
    ("Zolpidem", MedicationClass.NON_BENZO_HYPNOTIC, [5, 10]),
    ("Aripiprazole", MedicationClass.ANTIPSYCHOTIC, [2, 5]),
    ("Quetiapine", MedicationClass.ANTIPSYCHOTIC, [50, 100]),
    ("Lisinopril", MedicationClass.ANTIHYPERTENSIVE, [10, 20]),
    ("Amlodipine", MedicationClass.ANTIHYPERTENSIVE, [5, 10]),
    ("Methylphenidate ER", MedicationClass.PSYCHOSTIMULANT, [18, 36]),
    ("Levothyroxine", MedicationClass.OTHER, [0.05, 0.1]),
]  # fmt: skip
DIAGNOSES = [
    ("F33.2", "Major depressive disorder, recurrent, severe without psychotic features"),
    ("F33.1", "Major depressive disorder, recurrent, moderate"),
    ("F32.2", "Major depressive disorder, single episode, severe without psychotic features"),
]
COMORBID = [
    ("F41.1", "Generalized anxiety disorder"),
    ("F43.10", "Post-traumatic stress disorder, unspecified"),
    ("F31.4", "Bipolar disorder, current episode depressed, severe, without psychotic features"),
    ("I10", "Essential (primary) hypertension"),
]
ALCOHOL_PATTERNS = [
    (SubstanceUseStatus.CURRENT, "1-2 drinks a week"),
    (SubstanceUseStatus.CURRENT, "A glass of wine at weekends"),
    (SubstanceUseStatus.PAST, "Stopped drinking two years ago"),
    (SubstanceUseStatus.NEVER, ""),
]
ALLERGIES = [
    ("Penicillin", "Hives"),
    ("Sulfonamides", "Rash"),
    ("Latex", "Contact dermatitis"),
    ("Codeine", "Nausea and vomiting"),
    ("Shellfish", "Throat swelling"),
]


@dataclass
class DemoResult:
    organization: Organization
    patients_created: int
    staff_created: int


def demo_is_seeded() -> bool:
    return Organization.objects.exists()


def _dea_number(prefix: str, rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(6)]
    check = (digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])) % 10
    return prefix + "".join(map(str, digits)) + str(check)


def _phone(rng: random.Random, area: str) -> str:
    return f"({area}) 555-01{rng.randrange(100):02d}"


AREA_CODES = {"UT": "801", "ID": "208", "OR": "503", "WA": "360", "NV": "775",
              "CO": "303", "AZ": "602", "NM": "505", "MT": "406", "CA": "916"}  # fmt: skip


def seed_organization(
    rng: random.Random, count: int = len(LOCATIONS)
) -> tuple[Organization, list[Location]]:
    """The organization and its first `count` locations (the three of the demo clinic, then
    the network's)."""
    organization = Organization.objects.create(
        name="Clearwater Ketamine Health (demo)",
        phone="(801) 555-0100",
        website="https://clearwater.example.org",
    )
    locations = []
    for index, row in enumerate((LOCATIONS + NETWORK_LOCATIONS)[:count]):
        short, name, street, city, state, zip_code, tz, phone, _dea, rems = row
        location = Location(
            organization=organization,
            short_name=short,
            name=name,
            address_line1=street,
            city=city,
            state=state,
            postal_code=zip_code,
            timezone=tz,
            phone=phone,
            dea_registration_number=_dea_number(_dea[:2], rng),
            spravato_rems_certified=rems,
            spravato_rems_certification_number=f"REMS-{rng.randrange(10**6):06d}" if rems else "",
            chair_count=4 if index < len(LOCATIONS) else NETWORK_CHAIRS,
        )
        location.full_clean()
        location.save()
        locations.append(location)
    return organization, locations


def seed_staff(locations: list[Location]) -> list[User]:
    """The demo clinic's staff, then a coordinator, nurse and prescriber at each of the
    network's further locations (username e.g. nurse.denver)."""
    by_short = {loc.short_name: loc for loc in locations}
    staff = [
        user_create(
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            first_name=first,
            last_name=last,
            title=title,
            email=f"{username}@clearwater.example.org",
            locations=[by_short[s] for s in shorts],
            check_password=False,
        )
        for username, role, first, last, title, shorts in STAFF
    ]
    # Names from a fixed list, not the demo's random sequence, so the three-location demo
    # stays as it is.
    names = FIRST_NAMES[SexAtBirth.FEMALE] + FIRST_NAMES[SexAtBirth.MALE]
    for index, location in enumerate(locations[len(LOCATIONS) :]):
        for offset, (prefix, role, title) in enumerate(NETWORK_STAFF_ROLES):
            username = f"{prefix}.{location.short_name.lower()}"
            staff.append(
                user_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    first_name=names[(index * 3 + offset) % len(names)],
                    last_name=location.city.split()[-1],
                    title=title,
                    email=f"{username}@clearwater.example.org",
                    locations=[location],
                    check_password=False,
                )
            )
    return staff


def _make_patient(
    rng: random.Random, mrn: str, location: Location, today: date, now: datetime
) -> Patient:
    sex = rng.choice(
        [SexAtBirth.FEMALE, SexAtBirth.FEMALE, SexAtBirth.MALE, SexAtBirth.MALE, SexAtBirth.FEMALE]
    )
    first = rng.choice(FIRST_NAMES[sex])
    last = rng.choice(LAST_NAMES)
    preferred = NICKNAMES.get(first, "") if rng.random() < 0.4 else ""
    state = location.state if rng.random() < 0.85 else rng.choice(["WA", "NV", "UT", "ID", "OR"])
    area = AREA_CODES[state]
    age_days = rng.randrange(19 * 365, 78 * 365)
    pronouns = {SexAtBirth.FEMALE: "she/her", SexAtBirth.MALE: "he/him"}[sex]
    gender_identity = ""
    if rng.random() < 0.06:
        pronouns, gender_identity = "they/them", "Non-binary"
    contact_last = rng.choice(LAST_NAMES)
    contact_first = rng.choice(FIRST_NAMES[rng.choice(list(FIRST_NAMES))])
    escort_first = rng.choice(FIRST_NAMES[SexAtBirth.FEMALE])
    relationship = rng.choice(["Spouse", "Partner", "Parent", "Sibling", "Friend"])
    return Patient(
        mrn=mrn, legal_first_name=first, legal_last_name=last, preferred_name=preferred,
        first_name_key=name_key(first), last_name_key=name_key(last),
        preferred_name_key=name_key(preferred),
        date_of_birth=today - timedelta(days=age_days), sex_at_birth=sex,
        gender_identity=gender_identity, pronouns=pronouns,
        phone=_phone(rng, area), email=f"{name_key(first)}.{mrn[-5:]}@example.org",
        address_line1=f"{rng.randrange(100, 9999)} {rng.choice(STREETS)}",
        city=rng.choice(CITIES[state]), state=state,
        postal_code=f"{rng.randrange(83000, 98000)}",
        emergency_contact_name=f"{contact_first} {contact_last}",
        emergency_contact_relationship=relationship,
        emergency_contact_phone=_phone(rng, area),
        escort_name="" if rng.random() < 0.1 else f"{escort_first} {contact_last}",
        escort_phone=_phone(rng, area),
        primary_location=location,
        created_at=now - timedelta(days=rng.randrange(1, 400)),
    )  # fmt: skip


def _history(rng: random.Random, patient: Patient, today: date, clinician: User) -> dict[str, list]:
    """Diagnoses, failed antidepressant trials, other medications and measurements that
    tell a believable treatment-resistant depression story."""
    rows: dict[str, list] = {"dx": [], "med": [], "allergy": [], "substance": [], "measure": []}
    episode_start = today - timedelta(days=rng.randrange(200, 1500))
    code, text = rng.choice(DIAGNOSES)
    rows["dx"].append(
        Diagnosis(
            patient=patient,
            icd10_code=code,
            description=text,
            onset_date=episode_start,
            is_primary=True,
            recorded_by=clinician,
        )
    )
    for comorbid in rng.sample(COMORBID, k=rng.choice([0, 1, 1, 2])):
        rows["dx"].append(
            Diagnosis(
                patient=patient,
                icd10_code=comorbid[0],
                description=comorbid[1],
                recorded_by=clinician,
                onset_date=episode_start - timedelta(days=rng.randrange(0, 3000)),
            )
        )
    trials = rng.sample(ANTIDEPRESSANTS, k=rng.choice([2, 2, 3, 3, 4]))
    start = episode_start + timedelta(days=14)
    for index, (name, doses) in enumerate(trials):
        weeks = rng.choice([4, 6, 8, 8, 10, 12, 16])
        current = index == len(trials) - 1 and rng.random() < 0.7
        stop = None if current else start + timedelta(weeks=weeks + 2)
        rows["med"].append(
            Medication(
                patient=patient,
                name=name,
                medication_class=MedicationClass.ANTIDEPRESSANT,
                dose_mg_per_day=Decimal(rng.choice(doses)),
                started_on=start,
                stopped_on=stop,
                is_current=current,
                weeks_at_dose=weeks,
                in_current_episode=True,
                adherence=rng.choice([Adherence.GOOD, Adherence.GOOD, Adherence.PARTIAL]),
                trial_outcome=TrialOutcome.ONGOING
                if current
                else rng.choice(
                    [
                        TrialOutcome.NO_RESPONSE,
                        TrialOutcome.NO_RESPONSE,
                        TrialOutcome.PARTIAL_RESPONSE,
                        TrialOutcome.INTOLERANCE,
                    ]
                ),
                directions="Once daily",
                recorded_by=clinician,
            )
        )
        start = (stop or today) + timedelta(days=7)
    for name, klass, doses in rng.sample(OTHER_MEDICATIONS, k=rng.choice([0, 1, 1, 2])):
        rows["med"].append(
            Medication(
                patient=patient,
                name=name,
                medication_class=klass,
                dose_mg_per_day=Decimal(str(rng.choice(doses))),
                started_on=episode_start,
                is_current=True,
                directions="As prescribed",
                recorded_by=clinician,
            )
        )
    if rng.random() < 0.3:
        substance, reaction = rng.choice(ALLERGIES)
        rows["allergy"].append(
            Allergy(
                patient=patient,
                substance=substance,
                reaction=reaction,
                severity=rng.choice(list(AllergySeverity)),
                recorded_by=clinician,
            )
        )
    alcohol_status, alcohol_pattern = rng.choice(ALCOHOL_PATTERNS)
    rows["substance"].append(
        SubstanceUse(
            patient=patient,
            substance="Alcohol",
            status=alcohol_status,
            amount_and_frequency=alcohol_pattern,
            recorded_by=clinician,
        )
    )
    if rng.random() < 0.2:
        rows["substance"].append(
            SubstanceUse(
                patient=patient,
                substance="Cannabis",
                status=SubstanceUseStatus.PAST,
                last_use_on=today - timedelta(days=rng.randrange(400, 3000)),
                recorded_by=clinician,
            )
        )
    male = patient.sex_at_birth == SexAtBirth.MALE
    height = Decimal(rng.randrange(1680, 1920) if male else rng.randrange(1530, 1780)) / 10
    weight = Decimal(rng.randrange(620, 1150) if male else rng.randrange(500, 1000)) / 10
    for visit in range(rng.randrange(2, 6)):
        rows["measure"].append(
            BodyMeasurement(
                patient=patient,
                measured_on=today - timedelta(days=30 * visit + rng.randrange(0, 10)),
                height_cm=height if visit == 0 else None,
                weight_kg=(weight + Decimal(rng.randrange(-20, 21)) / 10).quantize(Decimal("0.1")),
                recorded_by=clinician,
            )
        )
    # Patients without an allergy: "no known drug allergies", verified by their clinician
    # shortly after registration (seed_patients saves it); every tenth (by MRN) stays
    # "allergies not recorded" so the demo shows both states. No rng draw here, so the rest
    # of the demo is unchanged.
    if not rows["allergy"] and int(patient.mrn.split("-")[1]) % 10:
        patient.nkda_verified_by = clinician
        patient.nkda_verified_at = patient.created_at + timedelta(minutes=25)
    return rows


def seed_patients(
    *,
    count: int,
    locations: list[Location],
    clinicians: dict[int, User],
    rng: random.Random,
    now: datetime,
    progress: Callable[[int], None] = lambda n: None,
) -> list[Patient]:
    """Create `count` patients with histories in batches, calling progress(n) per batch.
    Dates are counted back from each patient's location's local date at `now`."""
    today = {loc.pk: timezone.localdate(now, timezone=loc.tz) for loc in locations}
    mrns = mrn_allocate(count)
    first_patients: list[Patient] = []
    for batch_start in range(0, count, BATCH_SIZE):
        batch_mrns = mrns[batch_start : batch_start + BATCH_SIZE]
        with transaction.atomic():
            patients = []
            for i, mrn in enumerate(batch_mrns):
                location = locations[(batch_start + i) % len(locations)]
                patients.append(_make_patient(rng, mrn, location, today[location.pk], now))
            Patient.objects.bulk_create(patients)
            rows: dict[str, list] = {
                "dx": [],
                "med": [],
                "allergy": [],
                "substance": [],
                "measure": [],
            }
            for patient in patients:
                for key, items in _history(
                    rng,
                    patient,
                    today[patient.primary_location_id],
                    clinicians[patient.primary_location_id],
                ).items():
                    rows[key].extend(items)
            Diagnosis.objects.bulk_create(rows["dx"])
            Medication.objects.bulk_create(rows["med"])
            Allergy.objects.bulk_create(rows["allergy"])
            SubstanceUse.objects.bulk_create(rows["substance"])
            BodyMeasurement.objects.bulk_create(rows["measure"])
            Patient.objects.bulk_update(patients, ["nkda_verified_by", "nkda_verified_at"])
        if not first_patients:
            first_patients = patients[:5]
        progress(len(patients))
    return first_patients


def seed_demo(
    *,
    patients: int = DEFAULT_PATIENTS,
    progress: Callable[[int], None] = lambda n: None,
    now: datetime | None = None,
    locations: int = len(LOCATIONS),
    sessions: int | None = None,
    session_progress: Callable[[int], None] = lambda n: None,
    register_progress: Callable[[int], None] = lambda n: None,
) -> DemoResult:
    """Seed the whole demo clinic into an empty database.

    `locations` above three adds the network's further sites; `sessions` sizes the
    outcome histories to about that many charted sessions in all (a network-scale demo),
    and session_progress(n) is called as each batch of them is written, register_progress(n)
    as their doses are booked in the register.

    The clinic is a function of the fixed seed and of `now` (default: the current time):
    every date and time in it is placed relative to each location's local date and time at
    `now`, so it seeds at any hour, weekday, holiday or daylight-saving day. Steps that have
    nothing to do at that moment are skipped, never failed."""
    if demo_is_seeded():
        raise RuntimeError(
            "The database already has an organization; demo data goes only into an empty one."
        )
    if not len(LOCATIONS) <= locations <= MAX_LOCATIONS:
        raise ValueError(f"The demo has at least 3 and at most {MAX_LOCATIONS} locations.")
    rng = random.Random(DEMO_SEED)
    now = now or timezone.now()
    with transaction.atomic():
        organization, sites = seed_organization(rng, locations)
        staff = seed_staff(sites)
    clinicians = {}
    for location in sites:
        clinicians[location.pk] = next(
            u
            for u in staff
            if u.role in {Role.NURSE, Role.PRESCRIBER} and location in u.locations.all()
        )
    first = seed_patients(
        count=patients,
        locations=sites,
        clinicians=clinicians,
        rng=rng,
        now=now,
        progress=progress,
    )
    if first:
        user_create(
            username="patient",
            password=DEMO_PASSWORD,
            role=Role.PATIENT,
            first_name=first[0].legal_first_name,
            last_name=first[0].legal_last_name,
            patient=first[0],
            check_password=False,
        )
    measured = list(
        Patient.objects.select_related("primary_location").order_by("pk")[:MEASURED_PATIENTS]
    )
    seed_measures(patients=measured, clinicians=clinicians, rng=rng, now=now)
    seed_treatment(measured, now=now)
    pending_notes = seed_sessions(measured, now=now)
    seed_scheduling(now=now)
    # The outcome histories choose their patients after every other story; the register
    # then books every dose the demo gave, and the notes are signed once it has.
    seed_outcomes(
        now=now,
        network=Network(sessions) if sessions else None,
        progress=session_progress,
    )
    seed_register(now=now, progress=register_progress)
    sign_demo_notes(pending_notes)
    # Therapy, referrals and fees follow the treatment stories they are about.
    seed_therapy(now=now)
    seed_referrals(now=now)
    seed_billing(now=now)
    seed_coverage(now=now)
    audit_record(
        actor=None,
        action=AuditAction.SEED,
        object_type="demo",
        detail={"patients": patients, "staff": len(staff), "seed": DEMO_SEED},
    )
    database_analyze()
    return DemoResult(organization, patients, len(staff))


DEMO_ACCOUNTS = [
    ("coordinator", "Coordinator, Salt Lake City: requests, registration, scheduling"),
    ("nurse", "Nurse, Salt Lake City: session monitoring"),
    ("prescriber", "Prescriber, Salt Lake City and Boise: eligibility and dosing"),
    ("director", "Medical director: all locations, audit, DEA and REMS"),
    ("admin", "Administrator: accounts and lockouts"),
    ("therapist", "Therapist, Salt Lake City: preparation and integration of assigned patients"),
    ("patient", "Patient portal: one patient's own record"),
]
