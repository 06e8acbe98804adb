from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .. import selectors, tokens
from ..models import ApiToken


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, the scheme clients use, judged by cases.tokens: the key's
    hash must name a token that is not revoked nor expired, of an active user whose password
    has not changed since. A malformed key never reaches the database (a NUL byte in a header
    would otherwise become a server error). `request.auth` is the ApiToken."""

    model = ApiToken

    def authenticate_credentials(self, key: str):
        token = tokens.token_authenticate(key)
        if token is None:
            # One answer for unknown, revoked, expired and ended tokens alike.
            raise exceptions.AuthenticationFailed(_("令牌无效或已过期。"))
        # Read for this request: it keeps its scope's unit ids for the request (selectors).
        return selectors.remember_scope_for_request(token.user), token
