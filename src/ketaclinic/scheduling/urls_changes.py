"""URLs: change requests from the patient portal, for staff (see views_changes)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling import views_changes

urlpatterns: list[URLPattern] = [
    path("requests/changes/", views_changes.change_requests, name="change_requests"),
    path(
        "requests/changes/<int:change_id>/handle/",
        views_changes.change_request_handle_view,
        name="change_request_handle",
    ),
]
