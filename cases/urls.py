from django.urls import path

from . import views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/",
        views.evidence_download,
        name="evidence-download",
    ),
]
