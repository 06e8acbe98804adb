"""人员管理 (cases.people_views): /people/…, a unit administrator's people and group bots."""

from django.urls import path

from . import people_views as views

app_name = "people"

urlpatterns = [
    path("", views.person_list, name="list"),
    path("new/", views.person_create, name="create"),
    path("<int:person_id>/", views.person_detail, name="detail"),
    path("<int:person_id>/password/", views.person_password, name="password"),
    path("bots/", views.bot_list, name="bots"),
    path("bots/new/", views.bot_create, name="bot-create"),
    path("bots/<int:bot_id>/", views.bot_detail, name="bot-detail"),
]
