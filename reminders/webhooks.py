"""Group bot writes: every creation, change and deletion of a unit's webhook goes through
here, and into the audit log with what changed. The bot's secret and the key in its address
are never written to the log: only that they changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from audit.models import AuditEntry
from audit.services import REDACTED, audit_record, changes_between, url_without_secrets

from .models import UnitWebhook

Action = AuditEntry.Action


def _shown(webhook: UnitWebhook) -> dict[str, Any]:
    return {
        "unit": webhook.unit_id,
        "flavour": webhook.flavour,
        "url": url_without_secrets(webhook.url),
        "secret": REDACTED if webhook.secret else "",
        "timeout_seconds": webhook.timeout_seconds,
        "max_attempts": webhook.max_attempts,
        "enabled": webhook.enabled,
    }


def _secret_changes(old: UnitWebhook, new: UnitWebhook) -> dict[str, list[str]]:
    """A new bot key (in the address's query) or a new signing secret, without either."""
    changes = {}
    if urlsplit(old.url).query != urlsplit(new.url).query:
        changes["url_key"] = [REDACTED, REDACTED + " (new)"]
    if old.secret and new.secret and old.secret != new.secret:
        changes["secret"] = [REDACTED, REDACTED + " (new)"]
    return changes


@transaction.atomic
def webhook_save(*, actor: Any, webhook: UnitWebhook, request: Any = None) -> UnitWebhook:
    """Store a new or edited webhook. The egress policy (UnitWebhook.clean) runs here too, so a
    door without a model form cannot store an internal target (a form has already shown it)."""
    webhook.clean()
    old = (
        UnitWebhook.objects.select_for_update().filter(pk=webhook.pk).first()
        if webhook.pk
        else None
    )
    webhook.save()
    changes = changes_between(_shown(old) if old else {}, _shown(webhook))
    if old is not None:
        changes.update(_secret_changes(old, webhook))
    if changes or old is None:
        audit_record(
            actor=actor,
            action=Action.WEBHOOK_UPDATE if old is not None else Action.WEBHOOK_CREATE,
            target=webhook,
            changes=changes,
            request=request,
        )
    return webhook


@transaction.atomic
def webhook_delete(*, actor: Any, webhook: UnitWebhook, request: Any = None) -> None:
    audit_record(
        actor=actor,
        action=Action.WEBHOOK_DELETE,
        target=webhook,
        changes=changes_between(_shown(webhook), {}),
        request=request,
    )
    webhook.delete()
