from django.urls import path

from ketaclinic.treatment import views

app_name = "treatment"

urlpatterns = [
    path("patients/<int:patient_id>/treatment/", views.tab, name="tab"),
    path("patients/<int:patient_id>/courses/new/", views.course_new, name="course_new"),
    path("patients/<int:patient_id>/courses/<int:course_id>/", views.course, name="course"),
    path("protocols/", views.protocols, name="protocols"),
    path("protocols/<slug:key>/", views.protocol, name="protocol"),
    path("protocols/<slug:key>/edit/", views.protocol_edit, name="protocol_edit"),
]
