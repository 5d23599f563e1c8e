"""Each role's home page, composed of the panels the domain apps register
(ketaclinic.plugins.register_home_panel): this app knows the roles, not the panels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.selectors import chosen_location_id
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.plugins import HomePanel, home_panels

ROLE_HOME_URLS = {
    Role.COORDINATOR: "home:home_coordinator",
    Role.NURSE: "home:home_nurse",
    Role.PRESCRIBER: "home:home_prescriber",
    Role.MEDICAL_DIRECTOR: "home:home_director",
    Role.ADMIN: "home:home_admin",
    Role.THERAPIST: "home:home_therapist",
    Role.PATIENT: "portal:home",
}


@dataclass(frozen=True)
class RolePage:
    title: str
    intro: str
    # (URL name, label, primary?) of the buttons beside the title.
    actions: tuple[tuple[str, str, bool], ...] = ()


ROLE_PAGES = {
    Role.COORDINATOR: RolePage(
        "Coordinator desk",
        "Good to see you, {first_name}. Find a patient or register a new one.",
        (("patients:register", "+ Register a patient", True),),
    ),
    Role.NURSE: RolePage(
        "Nursing station",
        "{display_name} · {locations}",
        (("patients:list", "All patients", False),),
    ),
    Role.PRESCRIBER: RolePage(
        "Prescriber workspace",
        "{display_name} · {locations}",
        (("patients:list", "All patients", False),),
    ),
    Role.MEDICAL_DIRECTOR: RolePage(
        "Medical director", "All locations · who has seen what is on the record."
    ),
    Role.ADMIN: RolePage("Administration", "Accounts, lockouts and the audit trail."),
    Role.THERAPIST: RolePage(
        "Therapy",
        "{display_name} · {locations} · the patients on your care team",
        (("patients:list", "My patients", False),),
    ),
}


def home(request: HttpRequest) -> HttpResponse:
    """Send everyone to their role's home page."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return redirect(ROLE_HOME_URLS[request.user.role_enum])


def _rows(panels: list[tuple[HomePanel, dict[str, Any]]]) -> list[list[tuple[HomePanel, Any]]]:
    """Panels in order: a wide one alone on its row, the others two by two."""
    rows: list[list[tuple[HomePanel, Any]]] = []
    for panel, context in panels:
        if panel.wide or not rows or rows[-1][0][0].wide or len(rows[-1]) == 2:
            rows.append([(panel, context)])
        else:
            rows[-1].append((panel, context))
    return rows


def _staff_home(request: HttpRequest, role: Role) -> HttpResponse:
    user = request.user
    if user.role_enum is not role:
        return redirect(ROLE_HOME_URLS[user.role_enum])
    location_id = chosen_location_id(request)
    panels = []
    shown: dict[str, set[int]] = {"patient_ids": set(), "alert_ids": set()}
    for panel in home_panels(user):
        content = panel.content(user, location_id)
        if content is None:
            continue
        panels.append((panel, content.context))
        for key, ids in content.shown.items():
            shown.setdefault(key, set()).update(ids)
    # Home pages name patients (recent, alerts, due): that is a read of patient data.
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        object_type="home",
        detail={key: sorted(ids) for key, ids in shown.items()},
    )
    page = ROLE_PAGES[role]
    names = {
        "first_name": user.first_name or user.username,
        "display_name": user.display_name,
        "locations": ", ".join(loc.short_name for loc in user.locations.all()),
    }
    return render(
        request,
        "home/home.html",
        {
            "role": role,
            "page": page,
            "intro": page.intro.format(**names),
            "rows": _rows(panels),
        },
    )


@login_required
def home_coordinator(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.COORDINATOR)


@login_required
def home_nurse(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.NURSE)


@login_required
def home_prescriber(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.PRESCRIBER)


@login_required
def home_director(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.MEDICAL_DIRECTOR)


@login_required
def home_admin(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.ADMIN)


@login_required
def home_therapist(request: HttpRequest) -> HttpResponse:
    return _staff_home(request, Role.THERAPIST)
