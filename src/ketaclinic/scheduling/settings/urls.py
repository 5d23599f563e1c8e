"""URLs: scheduling settings, per location (see views.py beside it)."""

from __future__ import annotations

from django.urls import URLPattern, path

from ketaclinic.scheduling.settings import views as views

P = "scheduling/settings/<int:location_id>/"

urlpatterns: list[URLPattern] = [
    path("scheduling/settings/", views.settings_home, name="settings"),
    path("scheduling/settings/defaults/", views.settings_defaults, name="settings_defaults"),
    path(
        "scheduling/settings/defaults/types/<slug:key>/",
        views.settings_default_type_edit,
        name="settings_default_type_edit",
    ),
    path(P, views.settings_location, name="settings_location"),
    path(f"{P}types/", views.settings_types, name="settings_types"),
    path(f"{P}types/<slug:key>/", views.settings_type_edit, name="settings_type_edit"),
    path(f"{P}types/<slug:key>/reset/", views.settings_type_reset, name="settings_type_reset"),
    path(f"{P}resources/", views.settings_resources, name="settings_resources"),
    path(
        f"{P}resources/<int:resource_id>/",
        views.settings_resource_rename,
        name="settings_resource_rename",
    ),
    path(
        f"{P}resources/<int:resource_id>/active/",
        views.settings_resource_active,
        name="settings_resource_active",
    ),
    path(f"{P}hours/", views.settings_hours, name="settings_hours"),
    path(f"{P}closed-days/", views.settings_closed_day_add, name="settings_closed_day_add"),
    path(
        f"{P}closed-days/<int:closed_day_id>/remove/",
        views.settings_closed_day_remove,
        name="settings_closed_day_remove",
    ),
    path(f"{P}providers/", views.settings_providers, name="settings_providers"),
    path(
        f"{P}providers/<int:provider_id>/hours/",
        views.settings_provider_hours,
        name="settings_provider_hours",
    ),
    path(f"{P}licenses/", views.settings_licenses, name="settings_licenses"),
    path(
        f"{P}licenses/<int:license_id>/active/",
        views.settings_license_active,
        name="settings_license_active",
    ),
]
