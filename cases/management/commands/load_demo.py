from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from cases.demo import load_demo


class Command(BaseCommand):
    help = (
        "Load the Jincheng demo: units, accounts (password jincheng-demo), inspections and cases "
        "reproducing the figures of the 2023 report. Safe to run again: what exists is kept. "
        "Refused with DJANGO_DEBUG off unless --force is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load even with DJANGO_DEBUG off (a staging or training database).",
        )

    def handle(self, *args, **options):
        # The demo's accounts, a superuser among them, share one published password: on a
        # production database they would be the first thing an outsider tries.
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                _(
                    "DJANGO_DEBUG 已关闭，这可能是生产数据库：演示数据（含公开密码的账号）未加载，"
                    "未作任何改动。演示请用 `make demo`；确需在此数据库加载时加 --force。"
                )
            )
        summary = load_demo(log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(summary))
