"""Account pages: the user's own API tokens, and the throttled password reset.

The tokens page lists, issues and revokes only the user's own tokens (another user's token
id is answered as a missing one); a new token's key is shown in the answer to the POST that
made it and never again (the page is not cached, the key goes to no session or message).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import accounts, tokens
from .errors import DomainError, NotFound
from .forms import TokenForm, attach_error

LISTED_TOKENS = 50


def _tokens_page(
    request: HttpRequest,
    form: TokenForm,
    issued: tokens.IssuedToken | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    rows = [
        (token, tokens.Status.LABELS[state], state == tokens.Status.ACTIVE)
        for token in tokens.user_tokens(request.user)[:LISTED_TOKENS]
        for state in [tokens.token_status(token, now=now)]
    ]
    context: dict[str, Any] = {
        "form": form,
        "rows": rows,
        "issued": issued,
        "ttl_days": settings.API_TOKEN_TTL_DAYS,
    }
    return render(request, "registration/api_tokens.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """GET: the user's tokens and the form; POST: issue one and show its key, once."""
    if request.method == "GET":
        return _tokens_page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            issued = tokens.token_issue(
                user=request.user,  # type: ignore[arg-type]
                name=form.cleaned_data["name"],
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            return _tokens_page(request, TokenForm(), issued=issued)
    return _tokens_page(request, form, status=400)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = tokens.token_revoke(user=request.user, token_id=token_id)
    except NotFound as error:
        raise Http404(error.message) from None
    messages.success(request, _("令牌“%(name)s”已撤销。") % {"name": token.name})
    return redirect("token_list")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, throttled per client address and per submitted email like
    the login (cases.accounts.password_reset_refusal): 429 with the form and the reason."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refusal = accounts.password_reset_refusal(request, request.POST.get("email", ""))
        if refusal is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.is_valid()
        form.add_error("email", refusal)  # the admin's template shows the field's errors
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(60 * settings.PASSWORD_RESET_WINDOW_MINUTES)
        return response
