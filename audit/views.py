"""审计日志: the audit log for a commission's supervisors and the operators.

Reading the log is not itself recorded (every visit would add to what it shows); a refused
visit is, as every refused access (audit.middleware).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from cases.selectors import scope_root, sees_everything
from cases.workflow import Role

from . import selectors
from .filters import AuditFilter
from .models import AuditEntry

PAGE_SIZE = 50


def _change_lines(entry: AuditEntry) -> list[str]:
    lines = []
    for field, value in (entry.changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            old, new = (_shown(item) for item in value)
            lines.append(f"{field}：{old} → {new}")
        else:
            lines.append(f"{field}：{_shown(value)}")
    return lines


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dict) and "name" in value:
        return str(value["name"])
    return str(value)


def _role_label(code: str) -> str:
    if code == "superuser":
        return _("系统管理员")
    return str(dict(Role.choices).get(code, code or "—"))


def _actor_shown(entry: AuditEntry, root_path: str | None) -> tuple[str, str]:
    """Who acted, and their unit and role: a name within the reader's jurisdiction, only
    the unit and role above it (as the case history shows people)."""
    if entry.actor_id is None:
        return _("系统"), ""
    unit = entry.actor_unit
    where = f"{unit.name if unit else '—'} · {_role_label(entry.actor_role)}"
    within = root_path is None or (unit is not None and unit.path.startswith(root_path))
    if within and entry.actor is not None:
        return f"{entry.actor.get_full_name()}（{entry.actor.username}）", where
    return where, ""


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not selectors.may_read_audit(user):
        raise PermissionDenied(_("仅纪委监委的监督人员可以查看审计日志。"))
    audit_filter = AuditFilter(request.GET, queryset=selectors.audit_entries(user), request=request)
    entries = audit_filter.qs if audit_filter.is_valid() else AuditEntry.objects.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    root = None if sees_everything(user) else scope_root(user)
    rows = [
        {
            "entry": entry,
            "actor": _actor_shown(entry, root.path if root else None),
            "changes": _change_lines(entry),
        }
        for entry in page.object_list
    ]
    params = {k: v for k, v in request.GET.lists() if k != "page"}
    return render(request, "audit/audit_list.html", {
        "filter": audit_filter,
        "page": page,
        "rows": rows,
        "query": urlencode(params, doseq=True),
        "filtered": any(v for k, v in request.GET.items() if k != "page"),
    })  # fmt: skip
