"""URLs: change requests from the patient portal, for staff (see views_changes)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
