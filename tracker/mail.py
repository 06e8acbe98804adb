"""Mail with debug off and no relay configured: nothing is sent, and nothing pretends it was.

tracker/settings.py picks `NoRelayEmailBackend` when DJANGO_DEBUG is off and EMAIL_HOST is
empty (instead of handing mail to a localhost:25 that a container does not have). A message
given to it raises, so a reminder is retried and then failed, never recorded as sent; and the
Celery worker refuses to start in that state while email is a reminder channel
(reminders/checks.py)."""

from collections.abc import Sequence
from smtplib import SMTPException

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

NO_RELAY_BACKEND = f"{__name__}.NoRelayEmailBackend"


class NoMailRelayError(SMTPException):
    """An SMTPException, so that every caller that handles a failed send handles this one."""


class NoRelayEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        raise NoMailRelayError(
            "No mail relay is configured (EMAIL_HOST is empty and DJANGO_DEBUG is off): "
            "the message was not sent."
        )


def default_mail_backend() -> str:
    """The dotted path of the backend that `send()` uses by default, on Django 5.2 (EMAIL_*
    settings) and 6.1+ (MAILERS) alike."""
    mailers = getattr(settings, "MAILERS", None)
    if mailers is not None:
        return str(mailers.get("default", {}).get("BACKEND", ""))
    return str(settings.EMAIL_BACKEND)


def mail_goes_nowhere() -> bool:
    return default_mail_backend() == NO_RELAY_BACKEND
