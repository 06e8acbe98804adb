"""`python manage.py send_reminders`: one sweep and one delivery round, now, in this process
(for cron instead of Celery beat, and for tests). Safe to run beside the scheduled tasks."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reminders import services


class Command(BaseCommand):
    help = "Create the reminders due today and deliver every message that is due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            help="sweep as of this day (YYYY-MM-DD) instead of today, e.g. to catch up",
        )
        parser.add_argument(
            "--no-deliver",
            action="store_true",
            help="only create reminders (the digest step and delivery run later)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        today = None
        if options["date"]:
            try:
                today = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date must be YYYY-MM-DD, not {options['date']!r}") from None
        swept = services.sweep(today=today)
        self.stdout.write(f"sweep: {swept}")
        if not options["no_deliver"]:
            self.stdout.write(f"delivery: {services.deliver()}")
