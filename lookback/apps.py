from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LookbackConfig(AppConfig):
    name = "lookback"
    verbose_name = _("回头看与问责")

    def ready(self) -> None:
        from reminders import task_deadlines

        from .deadlines import RECHECKS

        # The re-check tasks' deadlines go through the reminders' one sweep and ledger.
        task_deadlines.register(RECHECKS)
