"""PDF print-out of the Spravato REMS Patient Monitoring Form."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, date, datetime, timedelta

import pytest

from ketaclinic.charting.rems_pdf import FORM_HEADING, latin1_safe, rems_form_pdf
from ketaclinic.clinical.rems import (
    BloodPressure,
    RemsFacts,
    RemsField,
    RemsForm,
    build_rems_form,
)


def page_text(pdf: bytes) -> bytes:
    """All content streams of the PDF, decompressed (fpdf2 compresses them by default)."""
    parts = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        data = match.group(1)
        try:
            parts.append(zlib.decompress(data))
        except zlib.error:
            parts.append(data)
    return b"\n".join(parts)


def make_form(**extra: str) -> RemsForm:
    fields = [
        RemsField("patient_name", "Patient name", "Jane Doe", missing=False),
        RemsField("dose", "Dose", "56 mg", missing=False),
        RemsField("lot_numbers", "Lot number(s)", "", missing=True),
        RemsField("bp_at_40_min", "Blood pressure at about 40 minutes", "", missing=True),
    ]
    fields += [RemsField(key, key, value, missing=False) for key, value in extra.items()]
    return RemsForm(
        fields=tuple(fields),
        warnings=("Monitoring lasted 110 min, under the REMS minimum of 120 min.",),
    )


def render(form: RemsForm | None = None, title: str = "Jane Doe - 2026-03-02") -> bytes:
    return rems_form_pdf(
        form or make_form(), title=title, generated_at_text="Generated 2026-03-03 10:15"
    )


def test_output_is_a_pdf() -> None:
    out = render()
    assert isinstance(out, bytes)
    assert out.startswith(b"%PDF")
    assert out.rstrip().endswith(b"%%EOF")


def test_contains_heading_labels_values_and_footer() -> None:
    text = page_text(render())
    assert FORM_HEADING.encode() in text
    assert b"Jane Doe - 2026-03-02" in text
    assert b"Patient name" in text
    assert b"Jane Doe" in text
    assert b"56 mg" in text
    assert b"Generated 2026-03-03 10:15" in text
    assert b"Submit within 7 days of the session" in text
    assert b"under the REMS minimum of 120 min." in text


def test_missing_values_shown_as_missing_in_bold() -> None:
    text = page_text(render())
    assert text.count(b"(MISSING)") == 2
    # The cell is written with the bold core font (Helvetica-Bold registered as a font
    # resource, and selected just before the text).
    out = render()
    assert b"Helvetica-Bold" in out
    before = text.split(b"(MISSING)")[0]
    last_font = re.findall(rb"/F(\d+) [\d.]+ Tf", before)[-1]
    bold_font_numbers = re.findall(rb"/F(\d+)", _bold_font_resources(out))
    assert last_font in bold_font_numbers


def _bold_font_resources(out: bytes) -> bytes:
    """The /Font resource dictionary entries whose object is Helvetica-Bold."""
    objects = dict(re.findall(rb"\n(\d+) 0 obj\s*(.*?)endobj", out, re.DOTALL))
    bold_ids = {num for num, body in objects.items() if b"/BaseFont /Helvetica-Bold" in body}
    entries = re.findall(rb"/F(\d+) (\d+) 0 R", out)
    return b" ".join(b"/F" + name for name, obj in entries if obj in bold_ids)


def test_empty_warnings_say_none() -> None:
    form = RemsForm(fields=make_form().fields, warnings=())
    assert b"None." in page_text(render(form))


@pytest.mark.parametrize(
    "text",
    [
        "Zo\u00eb \u2192 \u201cquotes\u201d",
        "en \u2013 em \u2014 \u2026 \u20ac \u2264 \u0159 \u0142 \u4e2d\u6587 \U0001f600",
        "tab\there\x00nul\x85",
    ],
)
def test_non_latin1_text_does_not_raise(text: str) -> None:
    form = make_form(note=text)
    out = rems_form_pdf(form, title=text, generated_at_text=text)
    assert out.startswith(b"%PDF")


def test_latin1_safe_replacements() -> None:
    assert latin1_safe("Zo\u00eb \u2192 \u201cquotes\u201d") == 'Zo\u00eb -> "quotes"'
    assert latin1_safe("9\u201310 \u2014 ok\u2026") == "9-10 - ok..."
    assert latin1_safe("\u0159\u0142\u4e2d") == "r??"
    assert latin1_safe("a\tb\nc") == "a b\nc"
    latin1_safe("\U0001f600 \u2028").encode("latin-1")


def test_non_latin1_text_is_rendered_with_equivalents() -> None:
    text = page_text(render(make_form(note="Zo\u00eb \u2192 \u201cok\u201d")))
    assert b"->" in text
    assert b"Zo\xeb" in text


def test_many_fields_spill_onto_more_pages() -> None:
    extra = {f"field_{i}": f"value {i} " + "long text " * 12 for i in range(60)}
    out = render(make_form(**extra))
    assert out.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b", out)) >= 2
    assert b"value 59" in page_text(out)


def real_form() -> RemsForm:
    t0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    facts = RemsFacts(
        patient_name="Jane Doe",
        patient_date_of_birth=date(1980, 5, 17),
        patient_sex="Female",
        patient_rems_id="",
        patient_enrolled=False,
        first_treatment=True,
        concomitant_classes=frozenset({"benzodiazepine"}),
        monitoring_provider="Sam Nurse, RN",
        setting_name="Lakeside Ketamine Clinic",
        setting_address="1 Main St, Springfield",
        setting_rems_id="",
        treatment_date=date(2026, 3, 2),
        dose_mg=28,
        lot_numbers=(),
        first_device_at=t0,
        monitoring_ended_at=t0 + timedelta(minutes=100),
        ready_to_leave_at=None,
        predose_bp=BloodPressure(at=t0 - timedelta(minutes=8), systolic=128, diastolic=82),
        session_bps=(),
        vitals_acceptable_before_dosing=True,
        vitals_acceptable_at_completion=None,
        sedation=True,
        dissociation=False,
        respiratory_depression=False,
        serious_adverse_event=True,
    )
    return build_rems_form(facts, tz=UTC)


def test_a_full_form_with_warnings_fits_on_one_page() -> None:
    form = real_form()
    assert len(form.fields) == 27
    assert len(form.warnings) >= 4
    out = render(form)
    assert len(re.findall(rb"/Type /Page\b", out)) == 1
    text = page_text(out)
    assert b"Other: 28 mg" in text
    assert b"128/82 mmHg at 13:52" in text
    assert b"No BP was recorded between 30 and 50 min after the first device." in text
