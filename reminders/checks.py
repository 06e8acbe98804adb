"""System checks for what reminders need from the deployment.

Tagged for deployment (`manage.py check --deploy`) and for the worker, which runs them before it
takes its first task (tracker/celery.py) and refuses to start on an error: a worker that
cannot deliver a channel must not claim that channel's messages and record them as sent."""

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.utils.translation import gettext as _

# Checks the Celery worker runs at start (tracker.celery.refuse_to_start_misconfigured).
WORKER_STARTUP = "worker_startup"


@register(WORKER_STARTUP, deploy=True)
def check_mail_relay(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from reminders.models import Channel
    from reminders.services import enabled_channels
    from tracker.mail import mail_goes_nowhere

    if Channel.EMAIL not in enabled_channels() or not mail_goes_nowhere():
        return []
    return [
        Error(
            _(
                "没有配置邮件中继：DJANGO_DEBUG 已关闭而 EMAIL_HOST 为空，"
                "邮件是提醒渠道之一，提醒邮件将无处可发。"
            ),
            hint=_(
                "设置 EMAIL_HOST（SMTP 中继，及 EMAIL_PORT、EMAIL_HOST_USER、"
                "EMAIL_HOST_PASSWORD）；不使用邮件时，设置 REMINDER_CHANNELS=webhook,in_app "
                "关闭邮件渠道。"
            ),
            id="reminders.E001",
        )
    ]
