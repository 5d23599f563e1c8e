"""`ketaclinic dose` and `ketaclinic pk`, run through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

KETACLINIC = Path(sys.executable).parent / "ketaclinic"
Run = Callable[..., subprocess.CompletedProcess[str]]
IV = ("dose", "iv-ketamine")
STANDARD_IV = (*IV, "--weight-kg", "70", "--mg-per-kg", "0.5", "--minutes", "40")
STANDARD_PK = ("pk", "--weight-kg", "70", "--mg-per-kg", "0.5", "--minutes", "40")


@pytest.fixture
def run(tmp_path: Path) -> Run:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(tmp_path / "var")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KETACLINIC, *args],
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


def test_iv_ketamine_plain(run: Run) -> None:
    result = run(*STANDARD_IV)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == (
        "IV ketamine 35.0 mg = 0.5 mg/kg x 70 kg (actual weight), over 40 minutes\n"
        "draw up 0.35 mL of 100 mg/mL stock into the 100 mL bag (total 100.35 mL)\n"
        "pump rate 150.0 mL/h (bag volume / minutes x 60)\n"
        "warnings: none\n"
    )


def test_iv_ketamine_json(run: Run) -> None:
    result = run(*STANDARD_IV, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(one_line(result.stdout)) == {
        "dose_mg": 35.0,
        "basis_weight_kg": 70.0,
        "weight_basis": "actual",
        "mg_per_kg": 0.5,
        "minutes": 40,
        "bag_ml": 100.0,
        "stock_mg_per_ml": 100.0,
        "drug_volume_ml": 0.35,
        "total_volume_ml": 100.35,
        "rate_ml_per_h": 150.0,
        "warnings": [],
    }


def test_iv_ketamine_adjusted_weight_with_warnings(run: Run) -> None:
    # 120 kg man, 180 cm: IBW 75.0, adjusted 93.0 kg; 0.75 mg/kg -> 69.8 mg (69.75 half up)
    options = (
        "--weight-kg 120 --mg-per-kg 0.75 --minutes 40 --weight-basis adjusted"
        " --height-cm 180 --sex male --bag-ml 250 --stock-mg-per-ml 50"
        " --max-dose-mg 60 --max-mg-per-kg 0.7 --json"
    )
    result = run(*IV, *options.split())
    assert result.returncode == 0, result.stderr
    data = json.loads(one_line(result.stdout))
    assert data["basis_weight_kg"] == 93.0
    assert data["weight_basis"] == "adjusted"
    assert data["dose_mg"] == 69.8
    assert data["drug_volume_ml"] == 1.4  # 69.8 / 50 = 1.396 -> 1.40
    assert data["rate_ml_per_h"] == 375.0  # 250 mL / 40 min x 60
    assert data["warnings"] == [
        "dose 69.8 mg is above the protocol maximum of 60 mg",
        "0.75 mg/kg is above the protocol maximum of 0.7 mg/kg",
        "0.75 mg/kg is a titration above the standard 0.5 mg/kg",
    ]
    plain = run(
        *IV, "--weight-kg", "70", "--mg-per-kg", "0.5", "--minutes", "30", "--max-dose-mg", "30"
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[-2:] == [
        "warning: dose 35 mg is above the protocol maximum of 30 mg",
        "warning: infusion over 30 minutes is shorter than the standard 40 minutes",
    ]


@pytest.mark.parametrize(
    ("dose_mg", "devices", "sprays", "times"),
    [("28", 1, 2, [0]), ("56", 2, 4, [0, 5]), ("84", 3, 6, [0, 5, 10])],
)
def test_esketamine_json(
    run: Run, dose_mg: str, devices: int, sprays: int, times: list[int]
) -> None:
    result = run("dose", "esketamine", "--dose-mg", dose_mg, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(one_line(result.stdout)) == {
        "dose_mg": int(dose_mg),
        "devices": devices,
        "sprays": sprays,
        "minutes_between_devices": 5,
        "device_times_min": times,
    }


def test_esketamine_plain(run: Run) -> None:
    result = run("dose", "esketamine", "--dose-mg", "84")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "esketamine 84 mg: 3 devices of 28 mg, 6 sprays, 5 minutes between devices\n"
        "device 1 at 0 min, device 2 at 5 min, device 3 at 10 min\n"
    )


def test_pk_json_series_every_minute(run: Run) -> None:
    result = run(*STANDARD_PK, "--model", "domino", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(one_line(result.stdout))
    assert data["model"] == "domino"
    assert data["cmax_ng_ml"] == 240.33
    assert data["tmax_min"] == 40.0
    assert data["note"] == "educational estimate, not dosing guidance"
    series = data["series"]
    assert [point[0] for point in series] == [float(m) for m in range(181)]
    assert series[0] == [0.0, 0.0]
    assert max(point[1] for point in series) == data["cmax_ng_ml"]


def test_pk_hours_and_plain_summary(run: Run) -> None:
    longer = run(*STANDARD_PK, "--model", "clements", "--hours", "4", "--json")
    assert longer.returncode == 0, longer.stderr
    assert json.loads(longer.stdout)["series"][-1][0] == 240.0
    plain = run(*STANDARD_PK, "--model", "clements")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert (
        lines[0] == "clements (Clements 1981, 2-compartment): 35 mg (0.5 mg/kg x 70 kg) over 40 min"
    )
    assert lines[1] == "peak plasma ketamine 177.3 ng/mL at minute 40; 43.8 ng/mL at minute 180"
    assert "PMID 7459184" in plain.stdout
    assert "educational estimate, not dosing guidance" in plain.stdout


@pytest.mark.parametrize(
    ("command_line", "problem"),
    [
        ("dose iv-ketamine --weight-kg 0 --mg-per-kg 0.5 --minutes 40", "weight must be"),
        ("dose iv-ketamine --weight-kg -70 --mg-per-kg 0.5 --minutes 40", "weight must be"),
        ("dose iv-ketamine --weight-kg 400 --mg-per-kg 0.5 --minutes 40", "at most 350 kg"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 0", "minutes must be"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes -5", "minutes must be"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0 --minutes 40", "mg/kg must be"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --weight-basis ideal",
         "ideal body weight needs the height and sex"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --weight-basis adjusted"
         " --height-cm 170", "adjusted body weight needs the height and sex"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --weight-basis ideal"
         " --height-cm 90 --sex male", "height must be between 100 and 250 cm"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --bag-ml 0",
         "bag volume must be more than 0"),
        ("dose iv-ketamine --weight-kg heavy --mg-per-kg 0.5 --minutes 40",
         "weight must be a number, got 'heavy'"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40.5", "whole number"),
        ("dose iv-ketamine --weight-kg inf --mg-per-kg 0.5 --minutes 40", "finite number"),
        ("dose iv-ketamine --weight-kg 70", "required: --mg-per-kg, --minutes"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --sex other",
         "invalid choice: 'other'"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --weight-basis lean",
         "invalid choice: 'lean'"),
        ("dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --unknown",
         "unrecognized arguments: --unknown"),
        ("dose", "required: FORM"),
        ("dose oral", "invalid choice: 'oral'"),
        ("dose esketamine --dose-mg 42", "esketamine dose must be 28, 56 or 84 mg, got 42"),
        ("dose esketamine --dose-mg 112", "esketamine dose must be 28, 56 or 84 mg, got 112"),
        ("dose esketamine --dose-mg fifty", "whole number, got 'fifty'"),
        ("dose esketamine", "required: --dose-mg"),
        ("pk --model marsh --weight-kg 70 --mg-per-kg 0.5 --minutes 40",
         "unknown model 'marsh'"),
        ("pk --model domino --weight-kg 0 --mg-per-kg 0.5 --minutes 40", "weight must be"),
        ("pk --model domino --weight-kg 70 --mg-per-kg 0.5 --minutes 0", "minutes must be"),
        ("pk --model domino --weight-kg 70 --mg-per-kg x --minutes 40",
         "mg/kg must be a number, got 'x'"),
        ("pk --model domino --weight-kg 70 --mg-per-kg 0.5 --minutes 40 --hours 0.5",
         "must cover the 40-minute infusion"),
        ("pk --weight-kg 70 --mg-per-kg 0.5 --minutes 40", "required: --model"),
    ],
)  # fmt: skip
def test_nonsense_exits_2_with_one_stderr_line(run: Run, command_line: str, problem: str) -> None:
    result = run(*command_line.split())
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith("error: ")
    assert problem in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("dose", "--help"), "iv-ketamine"),
        (("dose", "iv-ketamine", "--help"), "--weight-basis"),
        (("dose", "esketamine", "--help"), "5 minutes between devices"),
        (("pk", "--help"), "educational estimate, not dosing guidance"),
        (("--help",), "dose  "),
    ],
)
def test_help(run: Run, args: tuple[str, ...], expected: str) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_top_level_help_lists_both_commands(run: Run) -> None:
    text = run("--help").stdout
    assert any(line.lstrip().startswith("dose ") for line in text.splitlines())
    assert any(line.lstrip().startswith("pk ") for line in text.splitlines())


def test_call_command_raises_command_error_instead_of_exiting() -> None:
    with pytest.raises(CommandError, match="weight must be") as caught:
        call_command(
            "dose", "iv-ketamine", "--weight-kg", "0", "--mg-per-kg", "0.5", "--minutes", "40"
        )
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="unknown model"):
        call_command(
            "pk", "--model", "x", "--weight-kg", "70", "--mg-per-kg", "0.5", "--minutes", "40"
        )
