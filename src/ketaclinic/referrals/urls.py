"""Referrals' URLs (included at "", so each path carries its full prefix)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.referrals import views

app_name = "referrals"

urlpatterns: list[URLPattern] = [
    path("referrals/resources/", views.resource_list, name="resources"),
    path("referrals/resources/new/", views.resource_create, name="resource_new"),
    path("referrals/resources/<int:resource_id>/edit/", views.resource_edit, name="resource_edit"),
    path("referrals/stalled/", views.stalled, name="stalled"),
    path("referrals/stall-limits/", views.stall_limits, name="stall_limits"),
    path("referrals/<int:referral_id>/", views.referral_detail, name="referral"),
    path("referrals/crisis/<int:alert_id>/", views.crisis_referral, name="crisis_referral"),
    path("patients/<int:patient_id>/referrals/", views.patient_referrals, name="patient"),
    path("patients/<int:patient_id>/referrals/new/", views.referral_new, name="new"),
    path("portal/referrals/", views.portal_referrals, name="portal"),
]
