"""OpenAPI: every operation documents the error answers it can give, in the one error shape."""

from __future__ import annotations

from typing import Literal

from drf_spectacular import openapi


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict:
        from .serializers import ErrorSerializer

        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "404", "429"]
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            codes += ["403", "415"]
        elif self.get_auth():
            codes += ["403"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ErrorSerializer, code, direction=direction
                )
        return responses
