"""Writing the audit log: one function, `audit_record`, for every path (pages, API, admin,
services, middleware, management commands), and the retention purge.

An entry is written inside the caller's transaction: if the change it records rolls back,
so does the entry. The chain is extended under one lock (`_lock_chain`), held from the entry's
write to the end of the caller's transaction, so callers record last, after their own work.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.models import Model
from django.utils import timezone

from cases.models import Case, Unit

from .integrity import entry_seal
from .models import AuditEntry

Action = AuditEntry.Action

# pg_advisory_xact_lock key of the audit chain ("audi"): writers queue here for the head.
CHAIN_LOCK = 0x6175_6469
# How a secret reads in `changes`: whether it is set, never what it is.
REDACTED = "******"


def _lock_chain(alias: str) -> None:
    """Serialise writers of the chain until the end of the transaction. On SQLite (the demo)
    writers are serialised by the database (transactions begin IMMEDIATE); the unique `seq`
    stops a fork on any database."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def _text(value: Any, limit: int | None = None) -> str:
    # PostgreSQL refuses NUL in text and jsonb; a path or a label may carry one.
    text = str(value or "").replace("\x00", "")
    return text[:limit] if limit else text


def _plain(value: Any) -> Any:
    """`changes` as JSON values: models as {"id", "name"}, dates and decimals as text."""
    if isinstance(value, Model):
        return {"id": value.pk, "name": _text(value, 300)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return _text(value)
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{"field": [old, new]} for every field whose value differs (None: absent)."""
    return {
        name: [before.get(name), after.get(name)]
        for name in {**before, **after}
        if before.get(name) != after.get(name)
    }


def url_without_secrets(url: str) -> str:
    """A webhook address as it may be shown: the bot's key is in its query (WeCom's `key`,
    DingTalk's `access_token`), credentials in its user part; both are left out."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _role_of(user: Any) -> str:
    if user is None:
        return ""
    return "superuser" if user.is_superuser else user.role or ""


def _target_unit_id(target: Any) -> int | None:
    if isinstance(target, Unit):
        return target.pk
    for name in ("unit_id", "supervising_unit_id", "responsible_unit_id"):
        unit_id = getattr(target, name, None)
        if unit_id:
            return unit_id
    return None


def _client(request: Any) -> tuple[str, str]:
    if request is None:
        return "", ""
    # Imported here: cases.accounts records through this module.
    from cases.accounts import client_address

    address = client_address(request) or ""
    try:
        address = str(ipaddress.ip_address(address.strip()))
    except ValueError:
        address = ""  # what a misconfigured proxy passes on is not an address
    return address, _text(request.get_full_path(), 500)


def audit_record(
    *,
    actor: Any,
    action: str,
    target: Model | None = None,
    case: Case | int | None = None,
    changes: dict[str, Any] | None = None,
    note: str = "",
    request: Any = None,
) -> AuditEntry:
    """Append one entry to the audit log, sealed after the current head."""
    user = actor if getattr(actor, "pk", None) else None  # AnonymousUser has none
    case_id = case.pk if isinstance(case, Case) else case
    if case_id is None and target is not None:
        case_id = target.pk if isinstance(target, Case) else getattr(target, "case_id", None)
    ip_address, path = _client(request)
    values: dict[str, Any] = {
        "actor_id": user.pk if user else None,
        "actor_unit_id": getattr(user, "unit_id", None),
        "actor_role": _role_of(user),
        "action": str(action),
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": _text(target.pk if target is not None else "", 64),
        "target_label": _text(target if target is not None else "", 300),
        "target_unit_id": _target_unit_id(target),
        "case_id": case_id,
        "ip_address": ip_address,
        "path": path,
        "note": _text(note),
        "changes": _plain(changes or {}),
    }
    alias = router.db_for_write(AuditEntry)
    with transaction.atomic(using=alias):
        _lock_chain(alias)
        chain = AuditEntry.objects.using(alias).order_by("-seq")
        head = chain.values_list("seq", "seal", "at").first()
        seq, prev_seal, prev_at = head if head else (0, "", None)
        # Read under the lock, and never before the head: the chain's times only go forward
        # even when application servers' clocks differ a little.
        at = timezone.now()
        if prev_at is not None and at < prev_at:
            at = prev_at
        values.update(seq=seq + 1, at=at)
        entry = AuditEntry(seal=entry_seal(prev_seal, values), **values)
        entry.save(force_insert=True, using=alias)
    return entry


# --- What the pages and the API record ------------------------------------------------------


def record_case_view(request: Any, case: Case) -> None:
    """A restricted case was shown. One of the deliberate writes of a GET (with evidence
    downloads, ledger exports and refused accesses: nothing else a GET writes), each of them
    the audit log's own row: who read a clue is exactly what a commission must answer."""
    if case.inspection.restricted:
        audit_record(
            actor=request.user, action=Action.VIEW_RESTRICTED_CASE, target=case, request=request
        )


def record_evidence_download(request: Any, evidence: Any) -> None:
    audit_record(
        actor=request.user,
        action=Action.DOWNLOAD_EVIDENCE,
        target=evidence,
        changes={"sha256": evidence.sha256, "size": evidence.size},
        request=request,
    )


def record_refused(request: Any, status: int) -> AuditEntry:
    """A logged-in user was answered 403 or 404 by a view (out of scope, missing, or not for
    their role: the same answer, and the same record)."""
    match = request.resolver_match
    kwargs = {key: _text(value, 64) for key, value in (match.kwargs or {}).items()}
    case_id = kwargs.get("case_id") or (
        kwargs.get("pk") if (match.url_name or "").startswith("case-") else None
    )
    case = None
    if case_id and case_id.isdigit():
        case = Case.objects.filter(pk=int(case_id)).values_list("pk", flat=True).first()
    return audit_record(
        actor=request.user,
        action=Action.ACCESS_REFUSED,
        case=case,
        note=f"{request.method} {status} {match.view_name}",
        request=request,
    )


# --- Retention ------------------------------------------------------------------------------


def audit_purge(*, now: datetime | None = None) -> int:
    """Delete the entries older than AUDIT_RETENTION_DAYS; returns how many.

    The purge is recorded first, as an entry carrying the number and seal of the last entry
    deleted (the anchor): the verifier starts the surviving chain from it, and the delete
    guard of the database lets only entries up to a recorded anchor go. Run with the owner's
    database role: the application's role may not delete from the audit log.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    alias = router.db_for_write(AuditEntry)
    entries = AuditEntry.objects.using(alias)
    with transaction.atomic(using=alias):
        _lock_chain(alias)
        anchor = entries.filter(at__lt=cutoff).order_by("-seq").values_list("seq", "seal").first()
        if anchor is None:
            return 0
        doomed = entries.filter(seq__lte=anchor[0])
        count = doomed.count()
        audit_record(
            actor=None,
            action=Action.AUDIT_PURGE,
            changes={
                "anchor_seq": anchor[0],
                "anchor_seal": anchor[1],
                "purged": count,
                "before": cutoff.isoformat(),
            },
            note=f"AUDIT_RETENTION_DAYS={settings.AUDIT_RETENTION_DAYS}",
        )
        doomed.delete()
    return count
