"""Every refused access, recorded once: the answer a logged-in user gets when a view says 403
or 404 (a case, job or notification out of their scope or missing, a role not allowed).

Pages turn the selectors' NotFound into Http404 in each view, the API in its exception
handler, the admin and Django's CSRF check answer by themselves: the response is the one
place they all meet. Only requests that reached a view count (`resolver_match` set): a
mistyped address is not an access to anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from .services import record_refused

logger = logging.getLogger(__name__)

REFUSED = frozenset({403, 404})


class RefusedAccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code in REFUSED and getattr(request, "resolver_match", None):
            # The API's authentication sets request.user on this request too (DRF's
            # Request.user setter), so token callers are recorded as themselves.
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                # A write on a GET, deliberately: a refusal is what an audit is for.
                try:
                    record_refused(request, response.status_code)
                except DatabaseError:
                    # The refusal stands; losing its record is logged loudly, not hidden
                    # behind a 500 that would tell the caller more than the 404.
                    logger.exception("audit: refused access of user %s not recorded", user.pk)
        return response
