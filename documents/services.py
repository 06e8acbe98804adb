"""Writes of the documents app: a new version of a drafting template. The one door for the
admin and anything else; a template that does not compile or render is refused (InvalidInput
naming the field) and nothing is stored."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.errors import Forbidden, InvalidInput

from .drafting import check_template
from .models import DocumentTemplate

LIMITS = {"copy_to": 500, "issuer": 200}


@transaction.atomic
def document_template_save(
    *, actor: Any, kind: str, title: str, body: str, copy_to: str = "", issuer: str = ""
) -> DocumentTemplate:
    """Put a new version of the `kind` template in force (superusers only): the earlier
    versions stay, as the record of who changed the wording and when. Saving what is already
    in force changes nothing."""
    if not (getattr(actor, "is_active", False) and getattr(actor, "is_superuser", False)):
        raise Forbidden(_("只有系统管理员可以修改公文模板。"))
    if kind not in DocumentTemplate.Kind.values:
        message = _("公文类型有误。")
        raise InvalidInput(message, fields={"kind": [message]})
    values = {"copy_to": copy_to.strip(), "issuer": issuer.strip()}
    for field, limit in LIMITS.items():
        if len(values[field]) > limit:
            message = _("不能超过 %(max)s 个字符。") % {"max": limit}
            raise InvalidInput(message, fields={field: [message]})
    check_template(title=title, body=body)
    # Two superusers saving at once: the second waits for the first and compares with it.
    latest = (
        DocumentTemplate.objects.select_for_update()
        .filter(kind=kind)
        .order_by("-created_at", "-id")
        .first()
    )
    same = (title, body, values["copy_to"], values["issuer"])
    if latest is not None and (latest.title, latest.body, latest.copy_to, latest.issuer) == same:
        return latest
    return DocumentTemplate.objects.create(
        kind=kind, title=title, body=body, created_by=actor, created_at=timezone.now(), **values
    )
