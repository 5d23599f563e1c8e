"""URLs: public (see views_public)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
