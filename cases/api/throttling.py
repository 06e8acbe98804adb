"""Throttles that fail open: a Redis outage must slow nobody down nor break the API."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import throttling

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except Exception as error:  # the cache (Redis) is down or hung
            logger.warning("throttle cache unavailable, request allowed: %s", error)
            return True


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Per user, so per token: a client's tokens share one budget."""


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    pass


class TokenRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    """The token endpoint, per client address: slows down password guessing."""
