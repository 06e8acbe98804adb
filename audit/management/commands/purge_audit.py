"""`python manage.py purge_audit`: delete audit entries older than AUDIT_RETENTION_DAYS.

Run it with the owner's DATABASE_URL (e.g. from cron on the database host): the application's
runtime role may insert into the audit log and read it, never delete from it. The purge is
itself an entry of the log, carrying the seal of the last entry deleted, so `verify_history`
accepts the shortened chain and nothing else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.services import audit_purge


class Command(BaseCommand):
    help = "Delete audit log entries older than AUDIT_RETENTION_DAYS (run as the owner role)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = audit_purge()
        days = settings.AUDIT_RETENTION_DAYS
        if count:
            self.stdout.write(f"purged {count} audit entries older than {days} days")
        else:
            self.stdout.write(f"no audit entries older than {days} days")
