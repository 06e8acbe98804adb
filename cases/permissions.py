"""Which roles may perform which operation, beyond the workflow's moves (cases.workflow).

The services enforce these; the pages read them to offer only what the user may do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy as _

from .selectors import user_role
from .workflow import Role


class Action(StrEnum):
    CREATE = "create"
    EXTEND_DEADLINE = "extend_deadline"
    ASSIGN = "assign"
    EDIT_DETAILS = "edit_details"
    CHECKLIST = "checklist"
    RECTIFY = "rectify"
    EVIDENCE = "evidence"
    FOLLOW_UP = "follow_up"
    INSPECTION = "inspection"
    REQUEST_EXTENSION = "request_extension"


ACTION_ROLES: dict[Action, frozenset[Role]] = {
    Action.CREATE: frozenset({Role.SUPERVISOR}),
    Action.EXTEND_DEADLINE: frozenset({Role.SUPERVISOR}),
    Action.ASSIGN: frozenset({Role.SUPERVISOR}),
    Action.EDIT_DETAILS: frozenset({Role.SUPERVISOR}),
    Action.CHECKLIST: frozenset({Role.SUPERVISOR}),
    Action.FOLLOW_UP: frozenset({Role.SUPERVISOR}),
    Action.INSPECTION: frozenset({Role.SUPERVISOR}),
    Action.RECTIFY: frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
    Action.EVIDENCE: frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
    # And only by the responsible unit's people (cases.extensions).
    Action.REQUEST_EXTENSION: frozenset({Role.INSPECTOR, Role.SUPERVISOR}),
}

# For messages: "您的角色无权<label>".
ACTION_LABELS = {
    Action.CREATE: _("登记整改问题"),
    Action.EXTEND_DEADLINE: _("调整整改时限"),
    Action.ASSIGN: _("调整责任单位或责任人"),
    Action.EDIT_DETAILS: _("修改问题信息"),
    Action.CHECKLIST: _("设置验收要点"),
    Action.FOLLOW_UP: _("督办"),
    Action.INSPECTION: _("登记或修改检查"),
    Action.RECTIFY: _("更新整改情况"),
    Action.EVIDENCE: _("上传佐证材料"),
    Action.REQUEST_EXTENSION: _("申请延期"),
}


def may(user: Any, action: Action) -> bool:
    return user_role(user) in ACTION_ROLES[action]


def require(user: Any, action: Action) -> None:
    """Refuse, with the action named, a user whose role may not perform it."""
    from django.utils.translation import gettext

    from .errors import Forbidden

    if not may(user, action):
        raise Forbidden(gettext("您的角色无权%(action)s。") % {"action": ACTION_LABELS[action]})


def allowed_actions(user: Any) -> set[str]:
    return {action.value for action in Action if may(user, action)}
