"""The register's read-only pages (mounted at /register/, namespace "register")."""

from django.urls import path

from ketaclinic.register import views_reports as views

urlpatterns: list = [
    path("", views.dashboard, name="dashboard"),
    path("inspection/", views.inspector, name="inspector"),
    path("entries/", views.entries, name="entries"),
    path("reports/inventory/", views.inventory, name="inventory"),
    path("reports/dispensing/", views.dispensing, name="dispensing"),
    path("reports/waste/", views.waste, name="waste"),
    path("reports/discrepancies/", views.discrepancies, name="discrepancies"),
    path("reports/biennial/", views.biennial, name="biennial"),
    path("reports/expiring/", views.expiring, name="expiring"),
]
