"""Billing URLs, included at "" (so each has its full prefix). Patient records are named
by `patient_id` and `estimate_id` (the access walk, tests/victims.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.billing import views

app_name = "billing"

PATIENT = "patients/<int:patient_id>/billing/"
ESTIMATE = PATIENT + "estimates/<int:estimate_id>/"

urlpatterns: list[URLPattern] = [
    path(PATIENT, views.tab, name="tab"),
    path(PATIENT + "payments/", views.payment_new, name="payment_new"),
    path(PATIENT + "adjustments/", views.adjustment_new, name="adjustment_new"),
    path(PATIENT + "estimates/new/", views.estimate_new, name="estimate_new"),
    path(ESTIMATE, views.estimate_view, name="estimate"),
    path(ESTIMATE + "send/", views.estimate_send_view, name="estimate_send"),
    path(ESTIMATE + "signed-copy/", views.estimate_signed_copy_view, name="estimate_signed_copy"),
    path(PATIENT + "superbill.pdf", views.superbill, name="superbill"),
    path("billing/fees/", views.fee_schedule, name="fee_schedule"),
    path("billing/overdue/", views.overdue, name="overdue"),
    path("portal/billing/", views.portal_billing, name="portal_billing"),
    path(
        "portal/billing/estimates/<int:estimate_id>/", views.portal_estimate, name="portal_estimate"
    ),
    path(
        "portal/billing/estimates/<int:estimate_id>/accept/",
        views.portal_estimate_accept,
        name="portal_estimate_accept",
    ),
]
