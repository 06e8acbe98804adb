"""Throttles that fail open (a Redis outage must slow nobody down nor break the API) and count
anonymous callers by the address cases.accounts.client_address finds, the one the login
lockout counts by: behind TRUSTED_PROXY_COUNT proxies, never an address the client wrote."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import throttling

# The module, not the function: cases.accounts imports DRF, which loads these throttles.
from .. import accounts

logger = logging.getLogger(__name__)


class _FailOpen:
    """Fails open, and counts by the client's address as the login lockout does."""

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception as error:  # the cache (Redis) is down or hung
            logger.warning("throttle cache unavailable, request allowed: %s", error)
            return True

    def get_ident(self, request: Any) -> str:
        # DRF's own reading trusts the whole X-Forwarded-For unless NUM_PROXIES is set, and
        # with fewer entries than proxies takes the client's own left-most claim.
        return accounts.client_address(request) or ""


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Per user, so per token: a client's tokens share one budget."""


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    pass


class TokenRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    """The token endpoint, per client address: slows down password guessing."""
