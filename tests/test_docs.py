"""The documentation tells the truth about roles and settings."""

import re
from pathlib import Path

from ketaclinic.accounts.roles import CAPABILITIES, ROLE_LABELS, Role

ROOT = Path(__file__).resolve().parents[1]
ROLE_COLUMNS = [
    Role.COORDINATOR,
    Role.NURSE,
    Role.PRESCRIBER,
    Role.MEDICAL_DIRECTOR,
    Role.ADMIN,
    Role.THERAPIST,
    Role.PATIENT,
]


def test_roles_doc_table_matches_the_code() -> None:
    text = (ROOT / "docs" / "roles.md").read_text()
    header = (
        "| Capability | Description | " + " | ".join(ROLE_LABELS[r] for r in ROLE_COLUMNS) + " |"
    )
    assert header in text
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([a-z_.]+)` \| (.+?) \| (.+) \|$", line)
        if match:
            cells = [c.strip() for c in match.group(3).split("|")]
            rows[match.group(1)] = (match.group(2).strip(), cells)
    assert list(rows) == list(CAPABILITIES)
    for capability, (description, roles) in CAPABILITIES.items():
        doc_description, cells = rows[capability]
        assert doc_description == description, capability
        assert cells == ["yes" if r in roles else "no" for r in ROLE_COLUMNS], capability


def test_every_environment_setting_is_documented() -> None:
    settings_source = (ROOT / "src" / "ketaclinic" / "settings.py").read_text()
    names = set(
        re.findall(r'(?:environ\.get|env_bool|env_int)\(\s*"([A-Z_0-9]+)"', settings_source)
    )
    assert "DATABASE_URL" in names and len(names) > 10
    documented = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if f"`{n}`" not in documented)
    assert missing == []


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    for linked in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (ROOT / linked).exists(), linked
