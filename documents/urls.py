from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("progress.docx", views.progress_docx, name="progress"),
    path("notice.docx", views.notice_docx, name="notice"),
    path("lists.xlsx", views.lists_xlsx, name="lists-xlsx"),
    path("lists.docx", views.lists_docx, name="lists-docx"),
]
