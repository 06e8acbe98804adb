from django.urls import path

from . import views

app_name = "reminders"

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("read-all/", views.notifications_read_all, name="read-all"),
    path("<int:notification_id>/read/", views.notification_read, name="read"),
]
