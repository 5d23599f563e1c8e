"""`ketaclinic score`, run through the real console script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KETACLINIC = Path(sys.executable).parent / "ketaclinic"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(tmp_path / "var")}
    env.pop("KETACLINIC_INSTRUMENT_OVERRIDES", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KETACLINIC, "score", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    return run


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_phq9_example_plain_and_json(run: Run) -> None:
    answers = ["2", "2", "2", "2", "2", "1", "1", "1", "1"]  # 5*2 + 4*1 = 14, item 9 = 1
    plain = run("phq9", *answers)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "phq9: total 14 (moderate); alerts: suicidal_ideation\n"
    as_json = run("phq9", *answers, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(one_line(as_json.stdout)) == {
        "instrument": "phq9",
        "total": 14,
        "severity": "moderate",
        "alerts": ["suicidal_ideation"],
    }
    assert one_line(as_json.stdout) == (
        '{"instrument": "phq9", "total": 14, "severity": "moderate", '
        '"alerts": ["suicidal_ideation"]}'
    )


@pytest.mark.parametrize(
    ("key", "answers", "expected"),
    [
        ("phq9", "0 0 0 0 0 0 0 0 0", {"total": 0, "severity": "minimal", "alerts": []}),
        ("gad7", "3 3 3 3 3 0 0", {"total": 15, "severity": "severe", "alerts": []}),
        (
            "qids-sr16",
            "3 0 0 3 1 0 0 0 2 1 1 1 1 1 1 1",
            {
                "total": 12,
                "severity": "moderate",
                "alerts": ["suicidal_ideation"],
                "subscores": {"sleep": 3, "appetite_weight": 2, "psychomotor": 1},
            },
        ),
        ("madrs", "4 4 2 2 0 0 0 0 0 0", {"total": 12, "severity": "mild", "alerts": []}),
        (
            "cadss",
            " ".join(["1"] * 23),
            {"total": 23, "severity": None, "alerts": [], "subscores": {"cadss6": 6}},
        ),
        (
            "moaas",
            "2",
            {"total": 2, "severity": "responds only to mild prodding/shaking", "alerts": []},
        ),
        (
            "cssrs-screen",
            "1 1 1 0 0 0",
            {"total": None, "risk": "moderate", "alerts": ["suicide_risk"]},
        ),
    ],
)
def test_json_for_every_instrument(
    run: Run, key: str, answers: str, expected: dict[str, Any]
) -> None:
    result = run("--json", key, *answers.split())
    assert result.returncode == 0, result.stderr
    assert json.loads(one_line(result.stdout)) == {"instrument": key, **expected}


def test_cssrs_json_has_a_null_total_and_plain_names_the_risk(run: Run) -> None:
    result = run("cssrs-screen", "0", "1", "0", "0", "1", "0", "--json")
    assert result.returncode == 0, result.stderr
    assert '"total": null' in result.stdout
    assert json.loads(result.stdout)["risk"] == "high"
    plain = run("cssrs-screen", "1", "0", "0", "0", "0", "0")
    assert plain.stdout == "cssrs-screen: risk low; alerts: none\n"


@pytest.mark.parametrize(
    ("command_line", "message"),
    [
        ("phq9 0 0 0 0 0 0 0 0", "phq9 needs 9 answers, got 8"),
        ("phq9 -1 0 0 0 0 0 0 0 0", "phq9 item 1: -1 is outside 0-3"),
        ("phq9 0 0 4 0 0 0 0 0 0 --json", "phq9 item 3: 4 is outside 0-3"),
        ("gad7 0 x 0 0 0 0 0", "gad7 item 2: 'x' is not a whole number"),
        ("gad7 0 0 1.5 0 0 0 0", "gad7 item 3: '1.5' is not a whole number"),
        ("cssrs-screen 0 0 1 0 0 0", "items 3-5 must be 0 when item 2 is 0"),
        ("bdi 1 2", "unknown instrument 'bdi'"),
        ("phq9 --output out.csv", "--output works only with --csv"),
        ("phq9 1 --csv in.csv", "not both"),
        ("phq9 --csv missing.csv", "cannot read missing.csv"),
        ("phq9 0 --jsn", "unknown option --jsn"),
    ],
)
def test_bad_input_exits_2_with_one_line(run: Run, command_line: str, message: str) -> None:
    result = run(*command_line.split())
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert message in line and "Traceback" not in result.stderr


def test_argparse_errors_exit_2(run: Run) -> None:
    result = run()
    assert result.returncode == 2 and "required" in result.stderr


def test_help_explains_the_command(run: Run) -> None:
    for args in (["--help"], ["phq9", "--help"]):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        for text in ("usage: ketaclinic score", "cssrs-screen", "--csv", "exit status", "23 items"):
            assert text in result.stdout, (args, text)


def test_csv_scores_good_rows_and_names_bad_ones(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "responses.csv"
    source.write_text(
        "id,i1,i2,i3,i4,i5,i6,i7,i8,i9\n"
        "P-1,2,2,2,2,2,1,1,1,1\n"
        "P-2,0,0,0,0,0,0,0,0,7\n"
        "\n"
        "P-3,0,1,0,0,0,0,0,0,0\n"
    )
    result = run("phq9", "--csv", str(source))
    assert result.returncode == 2
    assert "1 of 3 rows" in one_line(result.stderr)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["id", "total", "severity", "alerts", "subscores", "error"]
    assert rows[0] == {
        "id": "P-1",
        "total": "14",
        "severity": "moderate",
        "alerts": "suicidal_ideation",
        "subscores": "",
        "error": "",
    }
    assert rows[1]["id"] == "P-2" and rows[1]["error"] == "phq9 item 9: 7 is outside 0-3"
    assert rows[1]["total"] == rows[1]["severity"] == ""
    assert (rows[2]["id"], rows[2]["total"], rows[2]["severity"]) == ("P-3", "1", "minimal")


def test_csv_without_header_numbers_rows_and_writes_output(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "cadss.csv"
    source.write_text(",".join(["1"] * 23) + "\n" + ",".join(["0"] * 23) + "\n")
    out = tmp_path / "scored.csv"
    result = run("cadss", "--csv", str(source), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""
    assert out.read_text().splitlines() == [
        "id,total,severity,alerts,subscores,error",
        "1,23,,,cadss6=6,",
        "2,0,,,cadss6=0,",
    ]


def test_csv_for_cssrs_reports_risk(run: Run, tmp_path: Path) -> None:
    source = tmp_path / "cssrs.csv"
    source.write_text("1,1,0,1,0,0\n0,0,0,0,0,0\n1,0,1,0,0,0\n")
    out = tmp_path / "out.csv"
    result = run("cssrs-screen", "--csv", str(source), f"--output={out}")
    assert result.returncode == 2
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["id"], r["total"], r["risk"], r["alerts"]) for r in rows[:2]] == [
        ("1", "", "high", "suicide_risk"),
        ("2", "", "none", ""),
    ]
    assert rows[2]["error"] == "cssrs-screen: items 3-5 must be 0 when item 2 is 0"


def test_top_level_help_lists_score() -> None:
    result = subprocess.run([KETACLINIC, "--help"], capture_output=True, text=True, check=True)
    assert "  score " in result.stdout
