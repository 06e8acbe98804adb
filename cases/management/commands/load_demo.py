from django.core.management.base import BaseCommand

from cases.demo import load_demo


class Command(BaseCommand):
    help = (
        "Load the Jincheng demo: units, accounts (password jincheng-demo), inspections and cases "
        "reproducing the figures of the 2023 report. Safe to run again: what exists is kept."
    )

    def handle(self, *args, **options):
        summary = load_demo(log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(summary))
