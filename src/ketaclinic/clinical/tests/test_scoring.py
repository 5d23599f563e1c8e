"""Instrument scoring against clinical-reference.md section 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.scoring import (
    INSTRUMENT_KEYS,
    QIDS16_DOMAINS,
    Instrument,
    InvalidResponseError,
    ScoreResult,
    UnknownInstrumentError,
    band_for,
    cssrs_risk,
    get_instrument,
    response_status,
    score,
)
from ketaclinic.instruments.loader import load_definition
from ketaclinic.instruments.schema import InstrumentOverrideError

BANDED = ("phq9", "gad7", "qids-sr16", "madrs", "moaas")
# QIDS-SR16 items that each make up (or can fill) one of its nine domains.
QIDS_ONE_ITEM_PER_DOMAIN = (0, 4, 5, 9, 10, 11, 12, 13, 14)


def vector_with_total(instrument: Instrument, total: int) -> list[int]:
    """Answers scoring exactly `total`, filling items from the first one."""
    answers = [low for low, _ in instrument.item_ranges]
    slots = (
        QIDS_ONE_ITEM_PER_DOMAIN if instrument.key == "qids-sr16" else range(instrument.item_count)
    )
    remaining = total
    for index in slots:
        step = min(remaining, instrument.item_ranges[index][1])
        answers[index] += step
        remaining -= step
    assert remaining == 0
    return answers


def qids_formula(a: list[int]) -> int:
    return max(a[0:4]) + a[4] + max(a[5:9]) + a[9] + a[10] + a[11] + a[12] + a[13] + max(a[14:16])


# --- definitions -------------------------------------------------------------------


EXPECTED_SHAPE = {
    # key: (items, item range, total range, respondent)
    "phq9": (9, (0, 3), (0, 27), "patient"),
    "gad7": (7, (0, 3), (0, 21), "patient"),
    "qids-sr16": (16, (0, 3), (0, 27), "patient"),
    "madrs": (10, (0, 6), (0, 60), "clinician"),
    "cadss": (23, (0, 4), (0, 92), "clinician"),
    "moaas": (1, (0, 5), (0, 5), "clinician"),
}


@pytest.mark.parametrize("key", INSTRUMENT_KEYS)
def test_definitions_are_questionnaires_with_contiguous_options(key: str) -> None:
    definition = load_definition(key, override_dir=None)
    assert definition["resourceType"] == "Questionnaire" and definition["id"] == key
    assert definition["status"] == "active" and definition["source"]
    link_ids = [item["linkId"] for item in definition["item"]]
    assert link_ids == [str(n) for n in range(1, len(link_ids) + 1)]
    instrument = get_instrument(key)
    for options, (low, high) in zip(instrument.item_options, instrument.item_ranges, strict=True):
        assert [value for value, _ in options] == list(range(low, high + 1))
        assert all(display for _, display in options)
    assert all(label for label in instrument.item_labels)
    if key in EXPECTED_SHAPE:
        items, item_range, (low, high), respondent = EXPECTED_SHAPE[key]
        assert instrument.item_count == items and instrument.respondent == respondent
        assert set(instrument.item_ranges) == {item_range}
        assert (instrument.total_min, instrument.total_max) == (low, high)
    if instrument.bands:  # bands tile the whole total range with no gap or overlap
        assert instrument.bands[0].low == instrument.total_min
        assert instrument.bands[-1].high == instrument.total_max
        for before, after in zip(instrument.bands, instrument.bands[1:], strict=False):
            assert after.low == before.high + 1


def test_cssrs_screen_encoding() -> None:
    instrument = get_instrument("cssrs-screen")
    assert instrument.item_ranges == ((0, 1),) * 5 + ((0, 2),)
    assert instrument.total_rule == "none" and instrument.bands == ()
    assert instrument.total_min is None and instrument.total_max is None


def test_unknown_instrument_names_the_known_ones() -> None:
    with pytest.raises(UnknownInstrumentError, match="known: phq9, gad7") as caught:
        score("phq-9", [0] * 9)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown instrument 'phq-9'")
    with pytest.raises(UnknownInstrumentError):
        load_definition("bdi")
    with pytest.raises(UnknownInstrumentError):
        get_instrument("")


def test_clinical_core_and_definitions_import_no_django() -> None:
    code = (
        "import sys, ketaclinic.clinical.scoring, ketaclinic.instruments.loader;"
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- bands -------------------------------------------------------------------------

BAND_EDGES = {
    "phq9": [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
    "gad7": [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
    "qids-sr16": [
        (0, "none"),
        (5, "none"),
        (6, "mild"),
        (10, "mild"),
        (11, "moderate"),
        (15, "moderate"),
        (16, "severe"),
        (20, "severe"),
        (21, "very severe"),
        (27, "very severe"),
    ],
    "madrs": [
        (0, "none"),
        (6, "none"),
        (7, "mild"),
        (19, "mild"),
        (20, "moderate"),
        (34, "moderate"),
        (35, "severe"),
        (60, "severe"),
    ],
    "moaas": [
        (5, "responds readily to name in normal tone"),
        (4, "lethargic response to normal tone"),
        (3, "responds only to loud and/or repeated name"),
        (2, "responds only to mild prodding/shaking"),
        (1, "responds only to trapezius squeeze"),
        (0, "no response"),
    ],
}


@pytest.mark.parametrize(
    ("key", "total", "band"),
    [(key, total, band) for key, edges in BAND_EDGES.items() for total, band in edges],
)
def test_every_band_edge(key: str, total: int, band: str) -> None:
    instrument = get_instrument(key)
    assert band_for(instrument, total) == band
    result = score(key, vector_with_total(instrument, total))
    assert (result.total, result.severity) == (total, band)


def test_instruments_without_bands_report_no_severity() -> None:
    result = score("cadss", [4] * 23)
    assert (result.total, result.severity, result.risk) == (92, None, None)
    assert band_for(get_instrument("cadss"), 50) is None
    assert band_for(get_instrument("phq9"), 28) is None


# --- alerts, subscores, QIDS domains ----------------------------------------------------


def test_phq9_item_9_alerts_whatever_the_total() -> None:
    result = score("phq9", [0] * 8 + [1])
    assert result == ScoreResult("phq9", 1, "minimal", None, ("suicidal_ideation",), {})
    assert score("phq9", [3] * 8 + [0]).alerts == ()


def test_qids_item_12_alerts_whatever_the_total() -> None:
    answers = [0] * 16
    answers[11] = 1
    result = score("qids-sr16", answers)
    assert (result.total, result.severity, result.alerts) == (1, "none", ("suicidal_ideation",))
    assert score("qids-sr16", [0] * 16).alerts == ()


def test_qids_domains_take_the_highest_item_not_the_sum() -> None:
    first = score("qids-sr16", [3, 0, 0, 0] + [0] * 12)
    last = score("qids-sr16", [0, 0, 0, 3] + [0] * 12)
    all_sleep = score("qids-sr16", [3, 3, 3, 3] + [0] * 12)
    assert first.total == last.total == all_sleep.total == 3
    assert first.subscores["sleep"] == last.subscores["sleep"] == 3
    answers = [1, 2, 0, 3, 2, 0, 3, 1, 0, 1, 1, 0, 2, 2, 1, 3]
    result = score("qids-sr16", answers)
    assert sum(answers) == 22  # the plain sum would be "very severe"
    assert result.total == 3 + 2 + 3 + 1 + 1 + 0 + 2 + 2 + 3 == 17
    assert result.severity == "severe"
    assert result.subscores == {"sleep": 3, "appetite_weight": 3, "psychomotor": 3}
    assert result.as_dict()["subscores"] == result.subscores


def test_cadss6_is_the_subtotal_of_items_1_2_6_7_15_22() -> None:
    answers = [0] * 23
    for number, value in {1: 1, 2: 2, 6: 3, 7: 4, 15: 1, 22: 2, 3: 4, 23: 4}.items():
        answers[number - 1] = value
    result = score("cadss", answers)
    assert result.total == 21
    assert result.subscores == {"cadss6": 13}
    assert result.as_dict() == {
        "instrument": "cadss",
        "total": 21,
        "severity": None,
        "alerts": [],
        "subscores": {"cadss6": 13},
    }


# --- C-SSRS screener ---------------------------------------------------------------

CSSRS_PATHS = [
    ([0, 0, 0, 0, 0, 0], "none"),
    ([1, 0, 0, 0, 0, 0], "low"),
    ([0, 1, 0, 0, 0, 0], "low"),
    ([1, 1, 0, 0, 0, 0], "low"),
    ([1, 1, 1, 0, 0, 0], "moderate"),
    ([0, 0, 0, 0, 0, 1], "moderate"),
    ([1, 1, 1, 1, 0, 0], "high"),
    ([0, 1, 0, 0, 1, 0], "high"),
    ([0, 0, 0, 0, 0, 2], "high"),
    ([1, 1, 1, 0, 0, 2], "high"),  # highest level wins
    ([0, 1, 1, 0, 0, 1], "moderate"),
]


@pytest.mark.parametrize(("answers", "risk"), CSSRS_PATHS)
def test_cssrs_triage_paths(answers: list[int], risk: str) -> None:
    assert cssrs_risk(answers) == risk
    result = score("cssrs-screen", answers)
    assert (result.total, result.severity, result.risk) == (None, None, risk)
    expected_alerts = ("suicide_risk",) if risk in {"moderate", "high"} else ()
    assert result.alerts == expected_alerts
    assert result.as_dict() == {
        "instrument": "cssrs-screen",
        "total": None,
        "risk": risk,
        "alerts": list(expected_alerts),
    }


@pytest.mark.parametrize("answers", [[1, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 2]])
def test_cssrs_items_3_to_5_need_a_yes_to_item_2(answers: list[int]) -> None:
    message = "cssrs-screen: items 3-5 must be 0 when item 2 is 0"
    with pytest.raises(InvalidResponseError, match=message):
        score("cssrs-screen", answers)
    with pytest.raises(InvalidResponseError, match=message):
        cssrs_risk(answers)


# --- invalid answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "answers", "message"),
    [
        ("phq9", [0] * 8, "phq9 needs 9 answers, got 8"),
        ("phq9", [0] * 10, "phq9 needs 9 answers, got 10"),
        ("moaas", [], "moaas needs 1 answers, got 0"),
        ("phq9", [0, 0, 4, 0, 0, 0, 0, 0, 0], "phq9 item 3: 4 is outside 0-3"),
        ("madrs", [0] * 9 + [-1], "madrs item 10: -1 is outside 0-6"),
        ("cssrs-screen", [0] * 5 + [3], "cssrs-screen item 6: 3 is outside 0-2"),
        ("gad7", [0, True, 0, 0, 0, 0, 0], "gad7 item 2: True is not a whole number"),
        ("gad7", [0, 0, 1.0, 0, 0, 0, 0], "gad7 item 3: 1.0 is not a whole number"),
        ("gad7", ["1", 0, 0, 0, 0, 0, 0], "gad7 item 1: '1' is not a whole number"),
        ("gad7", [None, 0, 0, 0, 0, 0, 0], "gad7 item 1: None is not a whole number"),
        ("moaas", "5", "moaas: answers must be a list of whole numbers"),
        ("moaas", {5}, "moaas: answers must be a list of whole numbers"),
    ],
)
def test_invalid_answers_are_rejected_with_one_line(
    key: str, answers: object, message: str
) -> None:
    with pytest.raises(InvalidResponseError) as caught:
        score(key, answers)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError) and "\n" not in message


def test_tuples_are_accepted() -> None:
    assert score("moaas", (5,)).total == 5


# --- response and remission -------------------------------------------------------


def test_exactly_half_is_a_response_and_just_less_is_not() -> None:
    madrs = get_instrument("madrs")
    half = response_status(madrs, baseline_total=30, current_total=15)
    assert (half.is_response, half.is_remission, half.label) == (True, False, "responder")
    assert half.change_percent == pytest.approx(-50.0)
    short = response_status(madrs, baseline_total=31, current_total=16)
    assert (short.is_response, short.label) == (False, "neither")
    odd = response_status(madrs, baseline_total=31, current_total=15)
    assert odd.is_response


def test_zero_or_missing_baseline_is_never_a_response() -> None:
    phq9 = get_instrument("phq9")
    zero = response_status(phq9, baseline_total=0, current_total=0)
    assert zero.is_response is False and zero.change_percent is None
    missing = response_status(phq9, baseline_total=None, current_total=12)
    assert (missing.label, missing.is_response, missing.change_percent) == (
        "no baseline",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("key", "total", "remission"),
    [
        ("phq9", 4, True),
        ("phq9", 5, False),
        ("qids-sr16", 5, True),
        ("qids-sr16", 6, False),
        ("madrs", 10, True),
        ("madrs", 11, False),
        ("gad7", 0, False),  # no remission cut-off in the reference
    ],
)
def test_remission_edges(key: str, total: int, remission: bool) -> None:
    instrument = get_instrument(key)
    status = response_status(instrument, baseline_total=total + 1, current_total=total)
    assert status.is_remission is remission
    # Remission without a 50% fall is still labelled a remitter.
    assert status.is_response is (total == 0)
    assert status.label == ("remitter" if remission else "neither" if total else "responder")


def test_remission_cutoff_can_be_overridden() -> None:
    madrs = get_instrument("madrs")
    assert (madrs.remission_operator, madrs.remission_value) == ("<=", 10)
    bio_k = response_status(
        madrs, baseline_total=30, current_total=10, remission_operator="<", remission_value=10
    )
    assert (bio_k.is_remission, bio_k.label) == (False, "responder")
    gad7 = response_status(
        get_instrument("gad7"),
        baseline_total=12,
        current_total=4,
        remission_operator="<",
        remission_value=5,
    )
    assert gad7.label == "remitter"
    with pytest.raises(ValueError, match="both"):
        response_status(madrs, baseline_total=30, current_total=10, remission_value=12)
    with pytest.raises(ValueError, match="remission_operator"):
        response_status(
            madrs, baseline_total=30, current_total=1, remission_operator="=", remission_value=1
        )
    with pytest.raises(ValueError, match="current_total"):
        response_status(madrs, baseline_total=30, current_total=-1)


# --- properties --------------------------------------------------------------------


@st.composite
def valid_answers(draw: st.DrawFn, key: str) -> list[int]:
    instrument = get_instrument(key)
    answers = [draw(st.integers(low, high)) for low, high in instrument.item_ranges]
    if key == "cssrs-screen" and answers[1] == 0:
        answers[2:5] = [0, 0, 0]
    return answers


@st.composite
def keyed_valid_answers(draw: st.DrawFn) -> tuple[str, list[int]]:
    key = draw(st.sampled_from(INSTRUMENT_KEYS))
    return key, draw(valid_answers(key))


@given(keyed_valid_answers())
def test_any_valid_answers_score_within_range_and_band(case: tuple[str, list[int]]) -> None:
    key, answers = case
    instrument = get_instrument(key)
    result = score(key, answers)
    if key == "cssrs-screen":
        assert result.total is None and result.risk in {"none", "low", "moderate", "high"}
        return
    assert result.total is not None and result.risk is None
    assert instrument.total_min is not None and instrument.total_max is not None
    assert instrument.total_min <= result.total <= instrument.total_max
    if instrument.bands:
        assert result.severity == band_for(instrument, result.total) is not None


@given(st.data())
def test_any_value_outside_its_range_is_rejected(data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(INSTRUMENT_KEYS))
    instrument = get_instrument(key)
    answers = data.draw(valid_answers(key))
    index = data.draw(st.integers(0, instrument.item_count - 1))
    low, high = instrument.item_ranges[index]
    answers[index] = data.draw(st.integers(max_value=low - 1) | st.integers(min_value=high + 1))
    with pytest.raises(InvalidResponseError, match=f"item {index + 1}: .* is outside"):
        score(key, answers)


@given(st.sampled_from(INSTRUMENT_KEYS), st.integers(0, 40))
def test_any_wrong_length_is_rejected(key: str, length: int) -> None:
    instrument = get_instrument(key)
    if length == instrument.item_count:
        length += 1
    with pytest.raises(InvalidResponseError, match=f"needs {instrument.item_count} answers"):
        score(key, [0] * length)


@given(valid_answers("qids-sr16"))
def test_qids_total_is_the_domain_formula(answers: list[int]) -> None:
    result = score("qids-sr16", answers)
    assert result.total == qids_formula(answers)
    domains = {name: max(answers[n - 1] for n in items) for name, items in QIDS16_DOMAINS}
    assert result.subscores == {k: domains[k] for k in ("sleep", "appetite_weight", "psychomotor")}


@given(st.integers(0, 60), st.integers(0, 60))
def test_response_is_a_fall_of_at_least_half(baseline: int, current: int) -> None:
    status = response_status(
        get_instrument("madrs"), baseline_total=baseline, current_total=current
    )
    assert status.is_response == (baseline > 0 and current <= baseline / 2)
    assert status.is_remission == (current <= 10)
    if status.is_remission:
        assert status.label == "remitter"


# --- clinic overrides -------------------------------------------------------------


def test_override_changes_wording_and_remission_only(tmp_path: Path) -> None:
    override = {
        "title": "Ignored title",
        "item": [
            {"linkId": "9", "text": "Thoughts that you would be better off dead (local wording)"},
            {"linkId": "1", "answerOption": [{"extension-value": 9}]},
        ],
        "remission": {"operator": "<=", "value": 4, "source": "Clinic protocol 2026-01"},
    }
    (tmp_path / "phq9.json").write_text(json.dumps(override))
    local = get_instrument("phq9", override_dir=tmp_path)
    packaged = get_instrument("phq9")
    assert local.item_labels[8] == "Thoughts that you would be better off dead (local wording)"
    assert local.item_labels[:8] == packaged.item_labels[:8]
    assert (local.remission_operator, local.remission_value) == ("<=", 4)
    assert local.remission_source == "Clinic protocol 2026-01"
    for field in ("title", "item_count", "item_ranges", "item_options", "bands", "alert_rules"):
        assert getattr(local, field) == getattr(packaged, field), field
    assert (local.total_min, local.total_max) == (0, 27)
    definition = load_definition("phq9", override_dir=tmp_path)
    assert definition["scoring"]["remission"]["verified"] is False
    assert definition["scoring"]["alerts"] == [
        {"item": "9", "above": 0, "alert": "suicidal_ideation"}
    ]
    # The packaged definition is untouched, and scoring does not move.
    assert load_definition("phq9")["item"][8]["text"] != local.item_labels[8]
    assert score("phq9", [0] * 8 + [1]).alerts == ("suicidal_ideation",)


def test_override_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "madrs.json").write_text(json.dumps({"remission": {"operator": "<", "value": 10}}))
    monkeypatch.setenv("KETACLINIC_INSTRUMENT_OVERRIDES", str(tmp_path))
    assert get_instrument("madrs").remission_operator == "<"
    assert get_instrument("phq9").remission_value == 5  # no phq9.json there
    status = response_status(get_instrument("madrs"), baseline_total=12, current_total=10)
    assert status.is_remission is False
    monkeypatch.delenv("KETACLINIC_INSTRUMENT_OVERRIDES")
    assert get_instrument("madrs").remission_operator == "<="


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"item": [{"linkId": "10", "text": "x"}]}, "no item with linkId '10'"),
        ({"item": [{"linkId": "1", "text": "  "}]}, "text must be non-empty"),
        ({"remission": {"operator": "=", "value": 5}}, "operator"),
        ({"remission": {"operator": "<", "value": 99}}, "within the total's range"),
        ({"remission": {"operator": "<", "value": True}}, "whole number"),
        ([], "JSON object"),
        # A cut-off under "scoring" would be ignored; refusing it beats a silent no-op.
        ({"scoring": {"remission": {"operator": "<", "value": 4}}}, "not \\['scoring'\\]"),
        ({"alerts": []}, "only 'item' wording and 'remission'"),
    ],
)
def test_bad_override_files_are_refused(tmp_path: Path, override: object, message: str) -> None:
    (tmp_path / "gad7.json").write_text(json.dumps(override))
    with pytest.raises(InstrumentOverrideError, match=message):
        load_definition("gad7", override_dir=tmp_path)
    (tmp_path / "phq9.json").write_text("{not json")
    with pytest.raises(InstrumentOverrideError, match="cannot read"):
        load_definition("phq9", override_dir=tmp_path)


def test_response_is_defined_only_for_the_depression_scales() -> None:
    applies = {key: get_instrument(key).response_applies for key in INSTRUMENT_KEYS}
    assert applies == {
        "phq9": True,
        "qids-sr16": True,
        "madrs": True,
        "gad7": False,
        "cadss": False,
        "moaas": False,
        "cssrs-screen": False,
    }
