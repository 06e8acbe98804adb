from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = _("提醒与督办")

    def ready(self) -> None:
        from reminders import checks  # noqa: F401  (registers the system checks)
