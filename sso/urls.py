from django.urls import path

from . import views

app_name = "sso"

urlpatterns = [
    path("authenticate/", views.oidc_authenticate, name="oidc-authenticate"),
    path("callback/", views.oidc_callback, name="oidc-callback"),
]
