"""The public front door, no login: where and when the clinic sees people, the 'request an
appointment' form, and its confirmation.

Nothing a visitor sends is ever shown back to anyone else: the confirmation page is the same
for everybody, and the form always opens empty."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from ketaclinic.audit.context import client_address
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.scheduling.public.forms import RequestForm
from ketaclinic.scheduling.requests import selectors as selectors
from ketaclinic.scheduling.requests.services import RequestLimitReached, request_submit


def visit(request: HttpRequest) -> HttpResponse:
    """Locations with address, phone, opening hours, closed days and services; the states
    video visits reach; the crisis line."""
    return render(
        request,
        "scheduling/public_visit.html",
        {
            "locations": selectors.location_facts(),
            "video_states": selectors.telehealth_states(),
            "clinic_phone": selectors.clinic_phone(),
            "crisis": crisis_line(),
        },
    )


@never_cache
def request_form(request: HttpRequest) -> HttpResponse:
    """The request form. A filled-in honeypot gets the same answer as success and stores
    nothing; too many requests from one address get 429 and the clinic's phone number."""
    form = RequestForm(request.POST or None, locations=selectors.public_locations())
    status = 200
    if request.method == "POST":
        if form.is_spam:
            return redirect("scheduling:request_sent")
        if form.is_valid():
            try:
                request_submit(
                    actor=None,
                    address=client_address(request),
                    **form.submission(),
                )
            except RequestLimitReached as refused:
                form.add_error(None, str(refused))
                status = 429
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect("scheduling:request_sent")
    return render(
        request,
        "scheduling/public_request_form.html",
        {"form": form, "crisis": crisis_line(), "clinic_phone": selectors.clinic_phone()},
        status=status,
    )


@never_cache
def request_sent(request: HttpRequest) -> HttpResponse:
    """What happens next; the same page for everybody (nothing of what was sent)."""
    return render(
        request,
        "scheduling/public_request_sent.html",
        {"crisis": crisis_line(), "clinic_phone": selectors.clinic_phone()},
    )
