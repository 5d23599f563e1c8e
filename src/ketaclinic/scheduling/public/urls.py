"""URLs: the public front door, no login (see views.py beside it)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling.public import views

urlpatterns: list[URLPattern] = [
    path("visit/", views.visit, name="visit"),
    path("visit/request/", views.request_form, name="request_form"),
    path("visit/request/sent/", views.request_sent, name="request_sent"),
]
