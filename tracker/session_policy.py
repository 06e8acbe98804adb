"""Session lifetime: an idle timeout and an absolute lifetime for logged-in sessions.

The session records when its user logged in and, at most once a minute (so that a busy page
does not write the session on every request), when it was last used. A session idle for longer
than SESSION_IDLE_MINUTES, or older than SESSION_MAX_HOURS, is logged out (flushed): pages
then go to the login page with a message, the API answers 401 in its error shape. The idle
clock is thus exact to within a minute.

A session whose user can no longer be loaded (disabled or deleted account) is flushed too, so
that re-enabling the account does not bring old sessions back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.utils.translation import gettext as _

from cases.api.errors import error_body

LOGIN_AT = "_policy_login_at"  # Unix seconds
SEEN_AT = "_policy_seen_at"
WRITE_EVERY_SECONDS = 60


def _now() -> int:
    return int(time.time())


def stamp(request: HttpRequest) -> None:
    now = _now()
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


def _on_login(sender: object, request: HttpRequest | None, user: object, **kwargs: object) -> None:
    # A new login restarts both clocks, even when it replaces a live session of the same user.
    if request is not None and hasattr(request, "session"):
        stamp(request)


user_logged_in.connect(_on_login, dispatch_uid="tracker.session_policy.stamp")


class SessionPolicyMiddleware:
    """Goes after AuthenticationMiddleware and MessageMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            if not request.user.is_authenticated:
                # Disabled or deleted account: end the session for good.
                session.flush()
            else:
                answer = self._check(request)
                if answer is not None:
                    return answer
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        session = request.session
        now = _now()
        login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
        if not isinstance(login_at, int) or not isinstance(seen_at, int):
            stamp(request)  # a session from before this policy: its clocks start now
            return None
        if now - login_at > settings.SESSION_MAX_HOURS * 3600:
            return self._expire(
                request,
                _("登录已超过 %(hours)s 小时，请重新登录。")
                % {"hours": settings.SESSION_MAX_HOURS},
            )
        if now - seen_at > settings.SESSION_IDLE_MINUTES * 60:
            return self._expire(
                request,
                _("您已超过 %(minutes)s 分钟未操作，请重新登录。")
                % {"minutes": settings.SESSION_IDLE_MINUTES},
            )
        if now - seen_at >= WRITE_EVERY_SECONDS:
            session[SEEN_AT] = now
        return None

    def _expire(self, request: HttpRequest, message: str) -> HttpResponse | None:
        logout(request)  # flushes the session (new key, data gone)
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization"):
                return None  # the request carries a token of its own: let it be judged on that
            return JsonResponse(
                error_body(401, "session_expired", message),
                status=401,
                headers={"WWW-Authenticate": "Token"},
            )
        messages.warning(request, message)
        login_url = resolve_url(settings.LOGIN_URL)
        if request.headers.get("HX-Request"):
            # htmx would swap the login page into a fragment: have it load the page instead.
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            target = current.path + (f"?{current.query}" if current.query else "")
            location = redirect_to_login(target, login_url)["Location"] if target else login_url
            return HttpResponse(status=204, headers={"HX-Redirect": location})
        if request.method in ("GET", "HEAD"):
            return redirect_to_login(request.get_full_path(), login_url)
        # A form sent after the timeout: its address may not answer GET; start from home.
        return redirect_to_login("/", login_url)
