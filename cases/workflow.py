"""The rectification workflow: states, the moves between them and who may make each.

Pure Python with no I/O, so the whole table can be tested exhaustively and shared by the
services, the web pages (to offer only the moves a user may make now) and the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .errors import Conflict, Forbidden, InvalidInput


class Status(models.TextChoices):
    OPEN = "open", _("待整改")
    IN_PROGRESS = "in_progress", _("整改中")
    SUBMITTED = "submitted", _("待验收")
    COMPLETED = "completed", _("已销号")
    ESCALATED = "escalated", _("待上级协调")
    EXEMPTED = "exempted", _("纳入负面清单/不予整改")


class Role(models.TextChoices):
    INSPECTOR = "inspector", _("整改联络员")
    SUPERVISOR = "supervisor", _("监督检查人员")
    API_READER = "api_reader", _("接口只读账号")
    # Manages the people and group bots of their unit's subtree (cases.people); no case moves.
    UNIT_ADMIN = "unit_admin", _("单位管理员")


# "Done" counts towards the completion rate.
DONE_STATES = frozenset({Status.COMPLETED, Status.EXEMPTED})
OPEN_STATES = frozenset(set(Status) - DONE_STATES)

INSPECTOR = frozenset({Role.INSPECTOR, Role.SUPERVISOR})
SUPERVISOR = frozenset({Role.SUPERVISOR})


@dataclass(frozen=True)
class Move:
    source: Status
    target: Status
    name: str  # the verb, for history and for buttons
    label: str | Promise
    roles: frozenset[Role]
    note_required: bool = False
    # Closing needs every verification point confirmed and every item of a problem done.
    verifies: bool = False


def _moves() -> dict[tuple[Status, Status], Move]:
    s = Status
    table = [
        Move(s.OPEN, s.IN_PROGRESS, "start", _("开始整改"), INSPECTOR),
        Move(s.IN_PROGRESS, s.SUBMITTED, "submit", _("申请销号"), INSPECTOR, note_required=True),
        Move(s.SUBMITTED, s.COMPLETED, "close", _("验收销号"), SUPERVISOR, verifies=True),
        Move(s.SUBMITTED, s.IN_PROGRESS, "return", _("退回整改"), SUPERVISOR, note_required=True),
        Move(s.OPEN, s.ESCALATED, "escalate", _("提请上级协调"), INSPECTOR, note_required=True),
        Move(
            s.IN_PROGRESS, s.ESCALATED, "escalate", _("提请上级协调"), INSPECTOR, note_required=True
        ),
        Move(s.ESCALATED, s.OPEN, "resume", _("恢复整改（待整改）"), INSPECTOR),
        Move(s.ESCALATED, s.IN_PROGRESS, "resume", _("恢复整改"), INSPECTOR),
        Move(s.COMPLETED, s.IN_PROGRESS, "reopen", _("重新整改"), SUPERVISOR, note_required=True),
        Move(s.EXEMPTED, s.IN_PROGRESS, "reopen", _("重新整改"), SUPERVISOR, note_required=True),
    ]
    table += [
        Move(
            source, s.EXEMPTED, "exempt", _("纳入负面清单/不予整改"), SUPERVISOR, note_required=True
        )
        for source in (s.OPEN, s.IN_PROGRESS, s.SUBMITTED, s.ESCALATED)
    ]
    return {(move.source, move.target): move for move in table}


MOVES: dict[tuple[Status, Status], Move] = _moves()


class UnknownStatus(InvalidInput):
    code = "unknown_status"


class MoveNotAllowed(Conflict):
    """The move does not exist from the current state (or another request made it first)."""

    code = "move_not_allowed"


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"


class NoteRequired(InvalidInput):
    code = "note_required"


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        message = _("未知的状态：%(value)s") % {"value": value}
        raise UnknownStatus(message, fields={"to": [message]}) from None


def is_done(status: str) -> bool:
    return status in DONE_STATES


def check_move(source: str, target: str, role: Role | str | None, note: str = "") -> Move:
    """Return the move from `source` to `target` for `role`, or raise why it is refused.

    The order of the checks is part of the contract: an unknown state, then a move that does
    not exist from here (a conflict), then a role that may not make it, then a missing note.
    """
    target_status = parse_status(target)
    source_status = Status(source)
    move = MOVES.get((source_status, target_status))
    if move is None:
        raise MoveNotAllowed(
            _("当前状态“%(source)s”不能变更为“%(target)s”。")
            % {"source": source_status.label, "target": target_status.label}
        )
    if role not in move.roles:
        raise RoleNotAllowed(_("您的角色无权执行“%(move)s”。") % {"move": move.label})
    if move.note_required and not note.strip():
        message = _("“%(move)s”须填写说明或理由。") % {"move": move.label}
        raise NoteRequired(message, fields={"note": [message]})
    return move


def moves_for(source: str, role: Role | str | None) -> list[Move]:
    """The moves a user with `role` may offer from `source`, in table order."""
    return [move for move in MOVES.values() if move.source == source and role in move.roles]


class ExtensionCapReached(Conflict):
    code = "extension_cap_reached"


def check_extension_cap(extensions: int, cap: int | None) -> None:
    """The one rule of the extension cap (`Inspection.max_extensions`, empty: no cap), applied
    by `services.case_extend_deadline` to every extension (a supervisor's own, an approved
    request, a bulk action, an import) and by `extensions.extension_request_create` when a
    request is made, so a request that could never be approved is refused at once."""
    if cap is not None and extensions >= cap:
        raise ExtensionCapReached(
            _("该问题已延期 %(count)s 次，已达本检查规定的延期次数上限（%(cap)s 次）。")
            % {"count": extensions, "cap": cap}
        )
