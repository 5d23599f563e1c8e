from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrisisLine:
    """US 988 Suicide & Crisis Lifeline (clinical-reference.md section 8)."""

    name: str = "988 Suicide & Crisis Lifeline"
    call: str = "988"
    text: str = "988"


def crisis_line() -> CrisisLine:
    return CrisisLine()
