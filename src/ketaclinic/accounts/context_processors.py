from __future__ import annotations

from django.http import HttpRequest

from ketaclinic.accounts.roles import CAPABILITIES
from ketaclinic.accounts.selectors import current_location_id, locations_for

NAV_SECTIONS = {
    "patients:register": "register",
    "accounts:users": "users",
    "accounts:lockouts": "lockouts",
    "fhir:exports": "fhir",
}


def navigation(request: HttpRequest) -> dict[str, object]:
    """Role, locations for the switcher, and the chosen location, for the layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    caps = {name for name in CAPABILITIES if user.can(name)}
    if not user.is_clinic_staff:
        return {"caps": caps}
    locations = list(locations_for(user))
    match = request.resolver_match
    name = f"{match.namespace}:{match.url_name}" if match else ""
    namespace = name.split(":")[0]
    return {
        "caps": caps,
        # The register's namespace is "register"; "Register a patient" is patients:register.
        "nav_section": NAV_SECTIONS.get(
            name, "controlled_substances" if namespace == "register" else namespace
        ),
        "nav_locations": locations,
        "nav_current_location_id": current_location_id(request, locations),
    }
