from typing import Any

import django
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cases import account_views

api_docs = SpectacularSwaggerSplitView.as_view(url_name="schema")
if django.VERSION >= (6, 0):
    from django.views.decorators.csp import csp_override

    # Swagger UI injects <style> elements: the docs page alone allows inline styles (never
    # inline scripts).
    policy: dict[str, Any] = dict(settings.SECURE_CSP)
    policy["style-src"] = [*policy["style-src"], "'unsafe-inline'"]
    api_docs = csp_override(policy)(api_docs)

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's auth URLs: the reset view is theirs, throttled (cases.account_views).
    path(
        "accounts/password_reset/",
        account_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("accounts/tokens/", account_views.token_list, name="token_list"),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        account_views.token_revoke,
        name="token_revoke",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # Single sign-on (sso/): 404 unless OIDC is configured.
    path("oidc/", include("sso.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("cases.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file: no inline code on the docs page either.
    path("api/docs/", api_docs, name="api-docs"),
    path("notifications/", include("reminders.urls")),
    path("ledgers/", include("ledgers.urls")),
    path("audit/", include("audit.urls")),
    path("people/", include("cases.people_urls")),
    path("reports/", include("documents.urls")),
    path("lookback/", include("lookback.urls")),
    path("", include("cases.urls")),
]

handler404 = "cases.api.errors.not_found"
handler500 = "cases.api.errors.server_error"
