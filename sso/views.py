"""The two OIDC addresses, mozilla-django-oidc's views behind a switch: where OIDC is not
configured they answer 404, as any address that does not exist."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from .conf import oidc_enabled


def _require_oidc() -> None:
    if not oidc_enabled():
        raise Http404


@never_cache
@require_GET
def oidc_authenticate(request: HttpRequest) -> HttpResponse:
    """Off to the provider, with a fresh state, nonce and PKCE verifier in the session."""
    _require_oidc()
    return OIDCAuthenticationRequestView.as_view()(request)


@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Back from the provider: the code is exchanged for tokens over the back channel and the
    user signed in (a login, as the password form's POST: it writes the session and, on a
    first sign-on, the account), or sent to the login page with the reason."""
    _require_oidc()
    return OIDCAuthenticationCallbackView.as_view()(request)
