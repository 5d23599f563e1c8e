"""URLs: the coordinator's appointment-request queue (see views.py beside it)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling.requests import views as views

urlpatterns: list[URLPattern] = [
    path("requests/", views.request_queue, name="request_queue"),
    path("requests/<int:request_id>/", views.request_detail, name="request_detail"),
    path("requests/<int:request_id>/attempts/", views.request_attempt, name="request_attempt"),
    path("requests/<int:request_id>/link/", views.request_link, name="request_link"),
    path("requests/<int:request_id>/register/", views.request_register, name="request_register"),
    path("requests/<int:request_id>/decline/", views.request_decline, name="request_decline"),
]
