"""URLs: change requests from the patient portal, for staff (see views.py beside it)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling.changes import views

urlpatterns: list[URLPattern] = [
    path("requests/changes/", views.change_requests, name="change_requests"),
    path(
        "requests/changes/<int:change_id>/handle/",
        views.change_request_handle_view,
        name="change_request_handle",
    ),
]
