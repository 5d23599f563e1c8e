"""Prior-authorization checklists filled from chart facts, and the request's states."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ketaclinic.clinical.coverage import (
    PRIOR_AUTH_TRANSITIONS,
    ChartFacts,
    checklist_from_data,
    fill_checklist,
    next_statuses,
    sessions_after,
)
from ketaclinic.clinical.eligibility import AntidepressantTrial, TrialPolicy

TEMPLATES = json.loads((Path(__file__).parents[2] / "coverage" / "checklists.json").read_text())[
    "templates"
]
TODAY = date(2027, 3, 14)


def _facts(**changes: object) -> ChartFacts:
    values: dict[str, object] = {
        "age_years": 44,
        "diagnosis_codes": ("F33.2", "I10"),
        "trials": (
            AntidepressantTrial("sertraline", Decimal("150"), 10, "good", "no_response"),
            AntidepressantTrial("bupropion", Decimal("300"), 8, "good", "partial_response"),
        ),
        "latest_scores": {"phq9": (date(2027, 3, 1), 19)},
        "rems_enrolled_on": date(2027, 2, 20),
        "rems_certified_location": True,
    }
    values.update(changes)
    return ChartFacts(**values)  # type: ignore[arg-type]


def _filled(facts: ChartFacts) -> dict[str, bool | None]:
    items = checklist_from_data(TEMPLATES["esketamine-trd"])
    return {r.key: r.met for r in fill_checklist(items, facts, TODAY, TrialPolicy())}


def test_a_complete_chart_meets_every_item_but_the_attested_one() -> None:
    assert _filled(_facts()) == {
        "diagnosis": True,
        "failed_trials": True,
        "recent_score": True,
        "rems": True,
        "adult": True,
        "oral_antidepressant": None,
    }


@pytest.mark.parametrize(
    ("changes", "unmet"),
    [
        ({"diagnosis_codes": ("F41.1",)}, "diagnosis"),
        # F32.A (depression, unspecified) is not a major depressive disorder code.
        ({"diagnosis_codes": ("F32.A",)}, "diagnosis"),
        (
            {
                "trials": (
                    AntidepressantTrial("sertraline", Decimal("150"), 10, "good", "no_response"),
                )
            },
            "failed_trials",
        ),
        # Six weeks is short of the eight-week adequate trial of the default policy.
        (
            {
                "trials": (
                    AntidepressantTrial("a", Decimal("1"), 6, "good", "no_response"),
                    AntidepressantTrial("b", Decimal("1"), 6, "good", "no_response"),
                )
            },
            "failed_trials",
        ),
        ({"latest_scores": {}}, "recent_score"),
        ({"latest_scores": {"phq9": (date(2027, 2, 11), 19)}}, "recent_score"),
        ({"rems_enrolled_on": None}, "rems"),
        ({"rems_certified_location": False}, "rems"),
        ({"age_years": 17}, "adult"),
    ],
)
def test_each_gap_in_the_chart_leaves_its_item_unmet(
    changes: dict[str, object], unmet: str
) -> None:
    filled = _filled(_facts(**changes))
    assert filled[unmet] is False
    assert [k for k, met in filled.items() if met is False] == [unmet]


def test_a_score_is_recent_up_to_its_last_day() -> None:
    # 30 days before 2027-03-14 is 2027-02-12: still recent; the day before is not.
    assert _filled(_facts(latest_scores={"madrs": (date(2027, 2, 12), 30)}))["recent_score"]
    assert not _filled(_facts(latest_scores={"madrs": (date(2027, 2, 11), 30)}))["recent_score"]


def test_the_evidence_names_what_the_chart_shows() -> None:
    items = checklist_from_data(TEMPLATES["esketamine-trd"])
    results = {r.key: r for r in fill_checklist(items, _facts(), TODAY, TrialPolicy())}
    assert results["diagnosis"].evidence == "On the chart: F33.2"
    assert "2 adequate failed trial(s) of 2 needed" in results["failed_trials"].evidence
    assert results["recent_score"].evidence == "PHQ9 19 on 2027-03-01"
    assert all(r.source for r in results.values())


def test_templates_are_checked_when_loaded() -> None:
    for template in TEMPLATES.values():
        assert checklist_from_data(template)
    with pytest.raises(ValueError, match="unknown checklist check"):
        checklist_from_data({"items": [{"key": "x", "label": "x", "check": "guess",
                                        "source": "s"}]})  # fmt: skip
    with pytest.raises(ValueError, match="no source"):
        checklist_from_data({"items": [{"key": "x", "label": "x", "check": "age"}]})
    with pytest.raises(ValueError, match="twice"):
        item = {"key": "x", "label": "x", "check": "age", "source": "s"}
        checklist_from_data({"items": [item, item]})


def test_requests_move_only_forward_and_final_states_stay() -> None:
    assert next_statuses("drafted") == ("sent", "withdrawn")
    assert "approved" in next_statuses("appealed")
    assert next_statuses("approved") == () and next_statuses("withdrawn") == ()
    # Every target is itself a known status.
    for targets in PRIOR_AUTH_TRANSITIONS.values():
        assert set(targets) <= set(PRIOR_AUTH_TRANSITIONS)
    with pytest.raises(ValueError):
        next_statuses("lost")


def test_sessions_after_the_last_covered_day() -> None:
    days = [(1, date(2027, 3, 29)), (2, date(2027, 3, 30)), (3, date(2027, 3, 31))]
    assert sessions_after(days, date(2027, 3, 30)) == [3]
    assert sessions_after(days, date(2027, 4, 1)) == []
