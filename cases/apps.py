from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("整改台账")

    def ready(self) -> None:
        from . import lookups  # noqa: F401 (registers `__any`)
        from .history_guard import install_sqlite_guard

        # After every migrate, since SQLite drops a table's triggers when it rebuilds it.
        post_migrate.connect(install_sqlite_guard, sender=self, dispatch_uid="cases_history_guard")
