from django.urls import path

from . import views

app_name = "ledgers"

urlpatterns = [
    path("export/", views.export, name="export"),
    path("exports/<int:job_id>/", views.export_job, name="export-job"),
    path("exports/<int:job_id>/status/", views.export_status, name="export-status"),
    path("exports/<int:job_id>/download/", views.export_download, name="export-download"),
    path("import/", views.import_upload, name="import"),
    path("import/template/", views.import_template, name="import-template"),
    path("imports/<int:job_id>/", views.import_job, name="import-job"),
    path("imports/<int:job_id>/status/", views.import_status, name="import-status"),
    path("imports/<int:job_id>/confirm/", views.import_confirm, name="import-confirm"),
]
