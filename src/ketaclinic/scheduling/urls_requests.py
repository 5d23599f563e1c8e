"""URLs: requests (see views_requests)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
