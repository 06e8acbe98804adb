from django.urls import path

from . import views

app_name = "lookback"

urlpatterns = [
    path("", views.lookback_list, name="list"),
    path("new/", views.lookback_start, name="start"),
    path("<int:lookback_id>/", views.lookback_detail, name="detail"),
    path("tasks/<int:task_id>/", views.task_detail, name="task"),
    path("tasks/<int:task_id>/decision/", views.task_decide, name="decide"),
    path(
        "tasks/<int:task_id>/accountability/", views.task_accountability, name="task-accountability"
    ),
    path(
        "cases/<int:case_id>/accountability/", views.case_accountability, name="case-accountability"
    ),
]
