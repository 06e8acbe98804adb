import logging
import os
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

app = Celery("tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@signals.worker_init.connect
def refuse_to_start_misconfigured(**kwargs: Any) -> None:
    """Run the worker's start-up checks (reminders.checks: a mail relay when email is a
    channel) and exit non-zero with their messages on an error, before any task is taken.

    SystemExit, because Celery logs and swallows an Exception raised by a signal handler."""
    import django
    from django.apps import apps
    from django.core.checks import run_checks
    from django.utils.translation import gettext as _

    if not apps.ready:  # the Django fixup sets Django up when the worker imports its tasks
        django.setup()
    from reminders.checks import WORKER_STARTUP

    errors = [
        message
        for message in run_checks(tags=[WORKER_STARTUP], include_deployment_checks=True)
        if message.is_serious()
    ]
    if errors:
        raise SystemExit("\n".join([_("Celery 工作进程拒绝启动："), *map(str, errors)]))


def publish(task: Task, *args: Any, **kwargs: Any) -> bool:
    """Send a task to the broker without ever holding up or breaking the caller.

    One attempt on a fresh connection with short socket timeouts (Celery's default is to
    retry for seconds). A broker that is down or hung is logged and False returned; the caller
    decides what that means (reminders wait for the scheduled run, a ledger job fails with a
    message), since the work itself is always recorded in the database first."""
    from django.conf import settings

    timeout = settings.REMINDER_PUBLISH_TIMEOUT_SECONDS
    try:
        with task.app.connection_for_write(
            connect_timeout=timeout,
            transport_options={
                "max_retries": 0,
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
            },
        ) as connection:
            task.apply_async(args, kwargs, connection=connection, retry=False)
    except Exception as error:
        logger.warning(
            "could not publish %s (%s); the scheduled run will do its work", task.name, error
        )
        return False
    return True
