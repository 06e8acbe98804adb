import json
import os
from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


def users() -> dict[str, dict[str, Any]]:
    """username → {"password": ..., "claims": {...}} (the test's file, read afresh)."""
    with open(os.environ["PROVIDER_USERS"], encoding="utf-8") as file:
        return json.load(file)


class ClaimsValidator(OAuth2Validator):
    # Every claim in the ID token and the userinfo, whatever the scopes.
    oidc_claim_scope = None

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        return dict(users().get(request.user.username, {}).get("claims", {}))
