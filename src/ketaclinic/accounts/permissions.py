"""The two checks every write service starts with: the role holds the capability, and the
location is one of the user's (directors and administrators: every location)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.organization.models import Location


def require_capability(actor: User, capability: str) -> None:
    """PermissionDenied unless the actor's role holds `capability` (docs/roles.md)."""
    if not actor.can(capability):
        raise PermissionDenied(f"Your role may not do this ({capability}).")


def require_own_location(actor: User, location: Location) -> None:
    """PermissionDenied unless `location` is one of the actor's."""
    if not actor.sees_all_locations and not actor.locations.filter(pk=location.pk).exists():
        raise PermissionDenied("This location is not one of yours.")
