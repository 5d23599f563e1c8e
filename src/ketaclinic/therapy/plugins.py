"""What therapy shows on pages it does not own (docs/architecture.md, plug-in points)."""

from __future__ import annotations


def register() -> None:
    """Called once from the app's ready()."""
