"""The OpenID provider the sign-on tests sign in at: a real django-oauth-toolkit server in its
own process (tests/sso/provider/), and the relying party's settings pointing at it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.test import override_settings

pytest.importorskip("oauth2_provider", reason="django-oauth-toolkit (the `test` extra)")

ROOT = Path(__file__).resolve().parents[2]
CALLBACK = "http://testserver/oidc/callback/"
PASSWORD = "provider-password"

# The provider's people: their claims as the identity provider asserts them.
PROVIDER_USERS: dict[str, dict[str, Any]] = {
    "wang": {"name": "王监督", "preferred_username": "wang", "groups": ["jc-jiwei-supervisors"]},
    "li": {"name": "李联络", "preferred_username": "li", "org": {"code": "JX-A-01"}},
    "nobody": {"name": "无规则", "preferred_username": "nobody", "groups": ["visitors"]},
    # Values that only look like the supervisors' group, and claims that try to name the
    # unit, the role and admin rights themselves.
    "mallory": {
        "name": "jc-jiwei-supervisors",
        "preferred_username": "mallory",
        "groups": [
            "x-jc-jiwei-supervisors",
            "jc-jiwei-supervisors ",
            ["jc-jiwei-supervisors"],
            {"name": "jc-jiwei-supervisors"},
        ],
        "org": {"code": ["JX-A-01-province", "province JX-A-01"], "unit": "某省"},
        "role": "supervisor",
        "unit": "某省",
        "is_superuser": True,
        "is_staff": True,
    },
    # A provider user named like the tracker's local superuser and supervisor.
    "admin": {"name": "冒名", "preferred_username": "admin", "groups": ["jc-jiwei-supervisors"]},
}


@dataclass
class Provider:
    base: str
    discovery: dict[str, Any]
    users_file: Path
    private_key_pem: str

    def set_claims(self, username: str, claims: dict[str, Any]) -> None:
        users = json.loads(self.users_file.read_text(encoding="utf-8"))
        users[username]["claims"] = claims
        self.users_file.write_text(json.dumps(users, ensure_ascii=False), encoding="utf-8")

    def rp_settings(self, **extra: Any) -> dict[str, Any]:
        """The tracker's settings for this provider, as sso.conf makes them from the
        environment (the test then turns them on with override_settings)."""
        from django.conf import settings

        from sso.conf import sso_settings

        environ = {
            "OIDC_RP_CLIENT_ID": "tracker",
            "OIDC_RP_CLIENT_SECRET": "tracker-secret",
            "OIDC_OP_ISSUER": self.discovery["issuer"],
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.discovery["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": self.discovery["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": self.discovery["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": self.discovery["jwks_uri"],
            **extra,
        }
        return sso_settings(environ, list(settings.AUTHENTICATION_BACKENDS))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("oidc-provider")
    users_file = folder / "users.json"
    users = {name: {"password": PASSWORD, "claims": c} for name, c in PROVIDER_USERS.items()}
    users_file.write_text(json.dumps(users, ensure_ascii=False), encoding="utf-8")
    key = _rsa_key()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {
        key_: value
        for key_, value in os.environ.items()
        if not key_.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    environ.update(
        PROVIDER_DB=str(folder / "provider.sqlite3"),
        PROVIDER_RSA_KEY=key,
        PROVIDER_USERS=str(users_file),
        PYTHONPATH=str(ROOT),
    )
    log = (folder / "provider.log").open("w")
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "tests.sso.provider.main", str(port), CALLBACK],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        discovery = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = requests.get(f"{base}/o/.well-known/openid-configuration/", timeout=2)
                if answer.status_code == 200:
                    discovery = answer.json()
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        if discovery is None:
            log.flush()
            pytest.fail(f"the OIDC provider did not start: {(folder / 'provider.log').read_text()}")
        yield Provider(base, discovery, users_file, key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def oidc(provider: Provider) -> Iterator[Provider]:
    """OIDC turned on in the tracker for one test, pointing at the provider."""
    with override_settings(**provider.rp_settings()):
        yield provider


def provider_login(authorize_url: str, username: str, password: str = PASSWORD) -> str:
    """A browser at the provider: follow the authorisation request to the provider's login
    page, log in, and return where the provider sends the browser back (the callback URL)."""
    browser = requests.Session()
    answer = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    login_url = urljoin(authorize_url, answer.headers["Location"])
    page = browser.get(login_url, timeout=10)
    assert page.status_code == 200
    next_url = dict(
        part.split("=", 1) for part in urlsplit(login_url).query.split("&") if "=" in part
    ).get("next", "")
    from urllib.parse import unquote

    answer = browser.post(
        login_url,
        data={
            "username": username,
            "password": password,
            "next": unquote(next_url),
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    answer = browser.get(
        urljoin(authorize_url, answer.headers["Location"]), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def sign_in(client: Any, username: str, *, next_url: str = "") -> Any:
    """The whole flow through the tracker's test client and the provider: the tracker's
    answer to the callback."""
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start
    callback = urlsplit(provider_login(start["Location"], username))
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == CALLBACK
    return client.get(f"{callback.path}?{callback.query}")
