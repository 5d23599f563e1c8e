"""URLs: the public front door, no login (see views_public)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling import views_public

urlpatterns: list[URLPattern] = [
    path("visit/", views_public.visit, name="visit"),
    path("visit/request/", views_public.request_form, name="request_form"),
    path("visit/request/sent/", views_public.request_sent, name="request_sent"),
]
