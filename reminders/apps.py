from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = _("提醒与督办")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from cases import lights
        from reminders import checks  # noqa: F401  (registers the system checks)
        from reminders.models import CalendarDay

        # The lights' working-day boundaries follow a changed day at once in this process.
        post_save.connect(lights.forget, sender=CalendarDay, dispatch_uid="lights_calendar_save")
        post_delete.connect(lights.forget, sender=CalendarDay, dispatch_uid="lights_calendar_del")
