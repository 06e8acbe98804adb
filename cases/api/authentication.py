import re

from rest_framework import authentication, exceptions

TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, refusing malformed keys before they reach the database
    (a NUL byte in a header would otherwise become a server error)."""

    def authenticate_credentials(self, key: str):
        if not TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed()
        return super().authenticate_credentials(key)
