from django.urls import path

from ketaclinic.fhir import views

app_name = "fhir"

urlpatterns = [
    path("fhir/metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_config),
    path("fhir/.well-known/smart-configuration", views.smart_config, name="smart_configuration"),
    path("fhir/auth/token", views.token, name="token"),
    path("fhir/$export", views.export_system, name="export"),
    path("fhir/Patient/$export", views.export_patients, name="export_patients"),
    path("fhir/Group/<str:group_id>/$export", views.export_group, name="export_group"),
    path("fhir/$export-status/<uuid:job_id>", views.export_status, name="export_status"),
    path("fhir/$export-file/<int:file_id>", views.export_file, name="export_file"),
    path("fhir/Patient/<str:patient_id>/$everything", views.everything, name="everything"),
    path("fhir/<str:type_name>", views.search, name="search"),
    path("fhir/<str:type_name>/<str:resource_id>", views.read, name="read"),
    path("exports/", views.exports_page, name="exports"),
]
