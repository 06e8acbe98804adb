"""A small OpenID provider for the sign-on tests (django-oauth-toolkit with OIDC): its own
Django project, run by tests/sso/conftest.py as a separate process on a free port, with its
own SQLite database, an RSA key made by the test, and users whose claims the test writes in a
JSON file (read again at every token: a test can change a user's claims between sign-ons)."""

import os
from pathlib import Path

SECRET_KEY = "provider-for-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.sso.provider.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["PROVIDER_DB"]}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = True
LOGIN_URL = "/accounts/login/"
# The RP's session cookie and this one live on different hosts; no clash, but be explicit.
SESSION_COOKIE_NAME = "provider_session"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ["PROVIDER_RSA_KEY"],
    "OAUTH2_VALIDATOR_CLASS": "tests.sso.provider.validator.ClaimsValidator",
    "SCOPES": {"openid": "OpenID Connect", "profile": "profile", "email": "email"},
    "PKCE_REQUIRED": True,
}
