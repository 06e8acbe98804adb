"""Celery tasks: thin wrappers around the services. They take no arguments because their
work is in the database (the reminders and messages are the outbox), so a lost or repeated
task message costs nothing: the next run does the same work, once."""

from __future__ import annotations

import logging

from celery import shared_task

from tracker.celery import publish

from . import services

__all__ = ["deliver_reminders", "publish", "send_due_reminders"]

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
