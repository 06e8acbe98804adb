"""Start the test provider: `python -m tests.sso.provider.main PORT REDIRECT_URI` (with
PROVIDER_DB, PROVIDER_RSA_KEY and PROVIDER_USERS set): migrate, add the clients and users,
serve on 127.0.0.1:PORT until killed."""

import os
import sys

import django


def seed(redirect_uri: str) -> None:
    from django.contrib.auth.models import User
    from oauth2_provider.models import Application

    from tests.sso.provider.validator import users

    for client_id in ("tracker", "other-client"):
        Application.objects.update_or_create(
            client_id=client_id,
            defaults={
                "name": client_id,
                "client_secret": f"{client_id}-secret",
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": redirect_uri,
                "skip_authorization": True,
                "algorithm": Application.RS256_ALGORITHM,
            },
        )
    for username, entry in users().items():
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(entry["password"])
        user.save()


def main() -> None:
    port, redirect_uri = sys.argv[1], sys.argv[2]
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.sso.provider.settings"
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seed(redirect_uri)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, skip_checks=True)


if __name__ == "__main__":
    main()
