"""Celery tasks: thin wrappers around the services. They take no arguments because their
work is in the database (the reminders and messages are the outbox), so a lost or repeated
task message costs nothing: the next run does the same work, once."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="reminders.send_due_reminders")
def send_due_reminders() -> dict[str, str]:
    """The scheduled sweep (beat): create today's reminders and deliver."""
    swept, delivered = services.run_once()
    return {"sweep": str(swept), "delivery": str(delivered)}


@shared_task(name="reminders.deliver_reminders")
def deliver_reminders() -> str:
    """Deliver what is due: new follow-ups now, retries when their back-off is over."""
    return str(services.deliver())


def publish(task: Task, *args: Any, **kwargs: Any) -> bool:
    """Send a task to the broker without ever holding up or breaking the caller.

    One attempt on a fresh connection with short socket timeouts (Celery's default is to
    retry for seconds); a broker that is down or hung is logged and the scheduled runs catch
    up, since the work itself is in the database."""
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
