"""Every write. One function per operation, shared by the web pages, the API, the admin,
imports and tasks.

Each takes the row lock of the case it changes, refuses illegal or unauthorised changes with a
domain error (nothing written), writes its history row in the same transaction, and queues side
effects with `transaction.on_commit`. `at` lets loaders of past ledgers (the demo, imports)
record when something really happened; it defaults to now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from reminders.events import remind_event, remind_follow_up

from . import rules, selectors
from .errors import Conflict, Forbidden, InvalidInput, NotFound, Stale
from .evidence import clean_name, inspect_upload
from .history import append_event
from .models import Case, CaseEvent, CheckPoint, Evidence, Inspection, Unit, User
from .permissions import Action, require
from .workflow import DONE_STATES, Status, check_extension_cap, check_move

AuditAction = AuditEntry.Action
MAX_CHECKPOINT = CheckPoint._meta.get_field("text").max_length or 300

# --- Cases -------------------------------------------------------------------------------


def _lock(
    actor: Any, case_id: int, at: datetime | None, action: Action | None = None
) -> tuple[Case, datetime]:
    """Start a write of a case: lock its row, check the actor's role for `action`, and date
    the write. Every case write that may be back-dated depends on order, so all start here.

    Without `at` the time is read once the row is locked, so that writes queued on the lock
    are dated in the order they happen (read before it, a writer that waited would date its
    history row before the one it waited for, or be refused below with a 400 instead of the
    409 its stale move deserves). A loader's `at` may be in the past, but not before the
    case's last change: figures as of a past day are rebuilt from the order of the history."""
    case = selectors.case_get_for_update(actor, case_id)
    at = at or timezone.now()
    if action is not None:
        require(actor, action)
    if at < case.updated_at:
        raise InvalidInput(_("记录时间早于该问题的最近一次变更，不能补录在其之前。"))
    return case, at


def _require_unit_in_scope(actor: Any, unit: Unit, field: str) -> None:
    if not selectors.visible_units(actor).filter(pk=unit.pk).exists():
        message = _("“%(unit)s”不在您的管辖范围内。") % {"unit": unit.name}
        raise Forbidden(message, fields={field: [message]})


def _json(value: Any) -> Any:
    if isinstance(value, date | Decimal):
        return str(value)
    if hasattr(value, "pk"):
        return {"id": value.pk, "name": str(value)}
    return value


@transaction.atomic
def case_create(
    *,
    actor: Any,
    inspection: Inspection,
    title: str,
    responsible_unit: Unit,
    deadline: date | None = None,
    code: str = "",
    description: str = "",
    source: str = Case.Source.CITY_FEEDBACK,
    parent: Case | None = None,
    owner: User | None = None,
    supervising_unit: Unit | None = None,
    region: Unit | None = None,
    measures: str = "",
    method: str = "",
    is_key_problem: bool = False,
    amount: Decimal | None = None,
    checklist: Sequence[str] = (),
    at: datetime | None = None,
    not_for_publication: bool = False,
) -> Case:
    """Register a problem, or an item of one (`parent`). Without a deadline, the end of the
    inspection's rectification period (`Inspection.rectification_deadline`)."""
    at = at or timezone.now()
    require(actor, Action.CREATE)
    if not selectors.visible_inspections(actor).filter(pk=inspection.pk).exists():
        raise NotFound(_("未找到该检查，或您无权查看。"))
    _require_unit_in_scope(actor, responsible_unit, "responsible_unit")
    deadline = deadline or inspection.rectification_deadline
    _require_valid_new_case(
        title=title, source=source, method=method, amount=amount, owner=owner,
        responsible_unit=responsible_unit, code=code, deadline=deadline, checklist=checklist,
    )  # fmt: skip
    assert deadline is not None  # noqa: S101 (for mypy: refused above)
    if parent is not None:
        parent, code = _add_item_to(actor, parent, inspection=inspection, code=code, at=at)
    elif not code:
        code = _next_code(inspection)
    case = _insert_case(
        code=code,
        title=title.strip(),
        description=description,
        inspection=inspection,
        source=source,
        parent=parent,
        responsible_unit=responsible_unit,
        owner=owner,
        supervising_unit=supervising_unit or inspection.supervising_unit,
        region=region if region is not None else responsible_unit.region,
        deadline=deadline,
        original_deadline=deadline,
        measures=measures,
        method=method,
        is_key_problem=is_key_problem,
        amount=amount,
        not_for_publication=not_for_publication,
        status=Status.OPEN,
        created_at=at,
        updated_at=at,
    )
    CheckPoint.objects.bulk_create(
        CheckPoint(case=case, text=text.strip(), position=index)
        for index, text in enumerate(checklist)
        if text.strip()
    )
    append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.CREATED,
        at=at,
        to_status=Status.OPEN,
        deadline=deadline,
        changes=_created_changes(checklist, not_for_publication),
    )
    return case


def _created_changes(checklist: Sequence[str], not_for_publication: bool) -> dict[str, Any]:
    """What a case's first event records beyond its status and deadline."""
    changes: dict[str, Any] = {}
    if checklist:
        changes["checklist"] = [None, [t for t in checklist if t.strip()]]
    if not_for_publication:
        changes["not_for_publication"] = [None, True]
    return changes


def _require_valid_new_case(
    *,
    title: str,
    source: str,
    method: str,
    amount: Decimal | None,
    owner: User | None,
    responsible_unit: Unit,
    code: str,
    deadline: date | None = None,
    checklist: Sequence[str] = (),
) -> None:
    """Refuse a new case's fields, every bad one at once (`fields`), before anything is
    written."""
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("请填写问题标题。")]
    if deadline is None:
        errors["deadline"] = [_("请填写整改时限（该检查未设整改期限）。")]
    long_points = [text for text in checklist if len(text.strip()) > MAX_CHECKPOINT]
    if long_points:
        errors["checklist"] = [
            _("验收要点不超过 %(max)s 个字：%(text)s")
            % {"max": MAX_CHECKPOINT, "text": long_points[0][:20] + "…"}
        ]
    if source not in Case.Source.values:
        errors["source"] = [_("未知的问题来源。")]
    if method and method not in Case.Method.values:
        errors["method"] = [_("未知的整改方式。")]
    if amount is not None and amount < 0:
        errors["amount"] = [_("金额不能为负数。")]
    if (
        owner is not None
        and not selectors.users_in_unit_subtree(responsible_unit).filter(pk=owner.pk).exists()
    ):
        errors["owner"] = [_("责任人须为责任单位的人员。")]
    if code and Case.objects.filter(code=code).exists():
        errors["code"] = [_("问题编号已存在：%(code)s") % {"code": code}]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)


def _add_item_to(
    actor: Any, parent: Case, *, inspection: Inspection, code: str, at: datetime
) -> tuple[Case, str]:
    """Count a new item into its problem, locked: its item counter and the "all items done"
    rule depend on it. Returns the locked problem and the item's code (the next free
    `<problem>-NN` if none was given)."""
    parent = selectors.case_get_for_update(actor, parent.pk)
    if parent.inspection_id != inspection.pk:
        raise InvalidInput(_("事项须与所属问题属于同一检查。"), fields={"parent": [""]})
    if parent.parent_id is not None:
        raise InvalidInput(_("事项下不能再分事项。"), fields={"parent": [""]})
    if parent.status in DONE_STATES:
        raise Conflict(_("所属问题已办结，不能再添加事项。"))
    parent.items_total += 1
    parent.updated_at = max(parent.updated_at, at)
    parent.save(update_fields=["items_total", "updated_at"])
    return parent, code or _free_code(f"{parent.code}-", parent.items_total, width=2)


def _next_code(inspection: Inspection) -> str:
    """The next free `<inspection>-NNN`, counted under the inspection's lock."""
    locked = Inspection.objects.select_for_update().get(pk=inspection.pk)
    code = _free_code(f"{inspection.code}-", locked.last_case_number + 1, width=3)
    locked.last_case_number = int(code.rsplit("-", 1)[1])
    locked.save(update_fields=["last_case_number"])
    return code


def _insert_case(**fields: Any) -> Case:
    try:
        with transaction.atomic():
            return Case.objects.create(**fields)
    except IntegrityError:
        # Two imports racing for the same code: the loser gets the same answer as above.
        message = _("问题编号已存在：%(code)s") % {"code": fields["code"]}
        raise InvalidInput(message, fields={"code": [message]}) from None


def _free_code(prefix: str, number: int, *, width: int) -> str:
    """The first `prefix`+number not yet taken (a code typed in by hand may have used it).

    Called under the lock of the inspection or the problem, so two writers never pick the same.
    """
    while Case.objects.filter(code=f"{prefix}{number:0{width}d}").exists():
        number += 1
    return f"{prefix}{number:0{width}d}"


@transaction.atomic
def case_transition(
    *,
    actor: Any,
    case_id: int,
    to: str,
    note: str = "",
    confirm: Iterable[int] = (),
    notes: Mapping[int, str] | None = None,
    evidence: Sequence[IO[bytes]] = (),
    at: datetime | None = None,
) -> Case:
    """Move a case along the workflow (start, submit, close, return, escalate, exempt…).

    Besides the workflow's table, the commission's rules (cases.rules): separation of duties,
    a supervisor's moves on other units' cases, and the inspection's evidence rule. `notes`
    are the verifier's notes on the checklist points, by point id."""
    case, at = _lock(actor, case_id, at)
    move = check_move(case.status, to, selectors.user_role(actor), note)
    rules.require_allowed(actor, case, move)
    rules.require_evidence_to_submit(case, move, uploading=len(evidence))
    # Refuse a bad file before anything is written; the files' SHA-256 are sealed with the event.
    inspected = [inspect_upload(upload, size=getattr(upload, "size", None)) for upload in evidence]
    was_done = case.status in DONE_STATES
    will_be_done = move.target in DONE_STATES
    _require_items_allow(case, was_done=was_done, will_be_done=will_be_done)
    if move.verifies:
        rules.confirm_checklist(case, actor=actor, confirm=set(confirm), notes=notes or {}, at=at)
    if was_done and not will_be_done:
        _reopen_checklist(case, actor=actor, at=at)
    today = timezone.localtime(at).date()
    late = case.is_overdue(today)  # red before the move (the light rule: cases.lights)
    old_status = case.status
    case.status = move.target
    case.updated_at = at
    if will_be_done:
        case.closed_at = at
        case.overdue_at_close = late
    elif was_done:
        case.closed_at = None
        case.overdue_at_close = False
    event = append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.TRANSITION,
        at=at,
        note=note.strip(),
        from_status=old_status,
        to_status=move.target,
        was_overdue=late,
        changes={"status": [old_status, move.target]},
        evidence=[sha256 for _type, sha256, _size in inspected],
        case_fields=("status", "updated_at", "closed_at", "overdue_at_close"),
    )
    # In this transaction: told if and only if it happened. The locked case is the one the
    # reminders are about (read with what they need by `_lock`): not read again.
    remind_event(event=event, at=at, case=case)
    for upload, found in zip(evidence, inspected, strict=True):
        _store_evidence(case, event=event, actor=actor, upload=upload, inspected=found, at=at)
    if case.parent_id is not None and was_done != will_be_done:
        # The problem's "3 of 8": locked so two items finishing at once both count.
        Case.objects.select_for_update().filter(pk=case.parent_id).update(
            items_done=F("items_done") + (1 if will_be_done else -1),
            updated_at=Greatest("updated_at", Value(at)),
        )
    return case


def _require_items_allow(case: Case, *, was_done: bool, will_be_done: bool) -> None:
    if will_be_done and case.items_done < case.items_total:
        # A problem is done only when all its items are (closed or exempted).
        raise Conflict(
            _("还有 %(left)s 个事项未完成，全部完成后才能办结该问题。")
            % {"left": case.items_total - case.items_done}
        )
    if was_done and not will_be_done and case.parent_id is not None:
        # Locked (item, then problem: the order every writer uses) so that the problem cannot
        # close between this check and the counter update in `case_transition`.
        parent = Case.objects.select_for_update().filter(pk=case.parent_id)
        if parent.values_list("status", flat=True).get() in DONE_STATES:
            raise Conflict(_("所属问题已办结，请先将所属问题重新整改，再重新整改该事项。"))


def _reopen_checklist(case: Case, *, actor: Any, at: datetime) -> None:
    """Reopened: the next close verifies every point again."""
    reset = case.checklist.filter(confirmed=True).update(
        confirmed=False, confirmed_by=None, confirmed_at=None, note=""
    )
    if reset:
        append_event(
            case,
            actor=actor,
            kind=CaseEvent.Kind.CHECKLIST,
            at=at,
            changes={"confirmed": [reset, 0]},
            note=_("重新整改，验收要点待重新确认。"),
        )


@transaction.atomic
def case_extend_deadline(
    *, actor: Any, case_id: int, deadline: date, reason: str, at: datetime | None = None
) -> Case:
    """Change the deadline (延期). Supervisors only, with a reason; a later one counts."""
    case, at = _lock(actor, case_id, at, Action.EXTEND_DEADLINE)
    if not reason.strip():
        message = _("调整时限须填写理由。")
        raise InvalidInput(message, fields={"reason": [message]})
    if case.status in DONE_STATES:
        raise Conflict(_("已办结的问题不能调整时限。"))
    if deadline == case.deadline:
        message = _("新时限与原时限相同。")
        raise InvalidInput(message, fields={"deadline": [message]})
    old = case.deadline
    if deadline > old:  # an extension (延期): counted, and capped by the inspection
        check_extension_cap(case.extensions, case.inspection.max_extensions)
        case.extensions += 1
    case.deadline = deadline
    case.updated_at = at
    case.save(update_fields=["deadline", "extensions", "updated_at"])
    append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.DEADLINE,
        at=at,
        note=reason.strip(),
        deadline=deadline,
        changes={"deadline": [_json(old), _json(deadline)]},
    )
    return case


_UNSET: Any = object()


@transaction.atomic
def case_assign(
    *,
    actor: Any,
    case_id: int,
    responsible_unit: Unit | None = None,
    owner: User | None = _UNSET,
    note: str = "",
    at: datetime | None = None,
) -> Case:
    """Hand a case to another unit and/or owner (调整责任单位/责任人). Supervisors only."""
    case, at = _lock(actor, case_id, at, Action.ASSIGN)
    changes: dict[str, list[Any]] = {}
    unit = responsible_unit or case.responsible_unit
    if responsible_unit is not None and responsible_unit.pk != case.responsible_unit_id:
        _require_unit_in_scope(actor, responsible_unit, "responsible_unit")
        changes["responsible_unit"] = [_json(case.responsible_unit), _json(responsible_unit)]
        case.responsible_unit = responsible_unit
        case.region = responsible_unit.region
        if owner is _UNSET and case.owner_id is not None:
            owner = None  # the old owner does not follow the case to another unit
    if owner is not _UNSET and (owner.pk if owner else None) != case.owner_id:
        if (
            owner is not None
            and not selectors.users_in_unit_subtree(unit).filter(pk=owner.pk).exists()
        ):
            message = _("责任人须为责任单位的人员。")
            raise InvalidInput(message, fields={"owner": [message]})
        changes["owner"] = [_json(case.owner), _json(owner)]
        case.owner = owner
    if not changes:
        return case
    case.updated_at = at
    case.save(update_fields=["responsible_unit", "region", "owner", "updated_at"])
    event = append_event(
        case, actor=actor, kind=CaseEvent.Kind.ASSIGNMENT, at=at, note=note.strip(), changes=changes
    )
    remind_event(event=event, at=at)
    return case


def case_require_unchanged(*, actor: Any, case_id: int, updated_at: datetime) -> Case:
    """Optimistic concurrency for an edit: lock the case and refuse (409, `stale`) if it has
    changed since the caller read it, i.e. its `updated_at` is no longer the one the caller
    sends back. Call it first, in the transaction of the edit: the lock then holds until the
    edit is written, so no other write can come in between."""
    if transaction.get_autocommit():
        raise RuntimeError("case_require_unchanged must run inside the edit's transaction")
    case = selectors.case_get_for_update(actor, case_id)
    if case.updated_at != updated_at:
        message = _("该问题在您读取之后已被修改，请重新读取后再提交。")
        raise Stale(message, fields={"updated_at": [message]})
    return case


@transaction.atomic
def case_update_rectification(
    *,
    actor: Any,
    case_id: int,
    measures: str | None = None,
    progress: str | None = None,
    at: datetime | None = None,
) -> Case:
    """Record rectification measures and progress (整改措施、进展)."""
    case, at = _lock(actor, case_id, at, Action.RECTIFY)
    if case.status in DONE_STATES:
        raise Conflict(_("已办结的问题不能修改整改情况，如需修改请先重新整改。"))
    changes = {}
    for field, value in (("measures", measures), ("progress", progress)):
        if value is not None and value.strip() != getattr(case, field):
            changes[field] = [getattr(case, field), value.strip()]
            setattr(case, field, value.strip())
    if not changes:
        return case
    case.updated_at = at
    case.save(update_fields=[*changes, "updated_at"])
    append_event(case, actor=actor, kind=CaseEvent.Kind.RECTIFICATION, at=at, changes=changes)
    return case


EDITABLE_DETAILS = (
    "title", "description", "source", "method", "is_key_problem", "amount", "not_for_publication",
)  # fmt: skip


@transaction.atomic
def case_update_details(
    *, actor: Any, case_id: int, at: datetime | None = None, **values: Any
) -> Case:
    """Correct a case's descriptive fields. Supervisors only; status, deadline and
    responsibility have their own operations."""
    unknown = set(values) - set(EDITABLE_DETAILS)
    if unknown:
        raise InvalidInput(_("不能在此修改：%(fields)s") % {"fields": ", ".join(sorted(unknown))})
    case, at = _lock(actor, case_id, at, Action.EDIT_DETAILS)
    if "title" in values and not str(values["title"]).strip():
        message = _("请填写问题标题。")
        raise InvalidInput(message, fields={"title": [message]})
    if (values.get("amount") or 0) < 0:
        message = _("金额不能为负数。")
        raise InvalidInput(message, fields={"amount": [message]})
    changes = {
        field: [_json(getattr(case, field)), _json(value)]
        for field, value in values.items()
        if getattr(case, field) != value
    }
    if not changes:
        return case
    for field in changes:
        setattr(case, field, values[field])
    case.updated_at = at
    case.save(update_fields=[*changes, "updated_at"])
    append_event(case, actor=actor, kind=CaseEvent.Kind.EDIT, at=at, changes=changes)
    return case


@transaction.atomic
def case_follow_up(*, actor: Any, case_id: int, note: str, at: datetime | None = None) -> CaseEvent:
    """A supervisor's follow-up (督办) on a case: recorded in its history for the unit to see,
    and sent to its owner (or the unit's inspectors) by every reminder channel.
    """
    case, at = _lock(actor, case_id, at, Action.FOLLOW_UP)
    if not note.strip():
        message = _("请填写督办意见。")
        raise InvalidInput(message, fields={"note": [message]})
    if case.status in DONE_STATES:
        raise Conflict(_("已办结的问题无需督办。"))
    event = append_event(case, actor=actor, kind=CaseEvent.Kind.FOLLOW_UP, at=at, note=note.strip())
    # In this transaction (an outbox): the reminders exist if and only if the follow-up does;
    # they are delivered after commit, and by the scheduled run if the broker is down.
    remind_follow_up(event=event, at=at)
    return event


@transaction.atomic
def evidence_add(
    *,
    actor: Any,
    case_id: int,
    upload: IO[bytes],
    note: str = "",
    at: datetime | None = None,
) -> Evidence:
    """Attach a supporting document (佐证材料) to a case, as its own history entry."""
    case, at = _lock(actor, case_id, at, Action.EVIDENCE)
    found = inspect_upload(upload, size=getattr(upload, "size", None))  # refuse before writing
    event = append_event(
        case,
        actor=actor,
        kind=CaseEvent.Kind.EVIDENCE,
        at=at,
        note=note.strip(),
        evidence=[found[1]],
    )
    evidence = _store_evidence(
        case, event=event, actor=actor, upload=upload, inspected=found, at=at
    )
    case.updated_at = at
    case.save(update_fields=["updated_at"])
    return evidence


def _store_evidence(
    case: Case,
    *,
    event: CaseEvent,
    actor: Any,
    upload: IO[bytes],
    inspected: tuple[str, str, int],
    at: datetime,
) -> Evidence:
    """Store a file already inspected (`inspect_upload`: its type, SHA-256 and size, the
    SHA-256 already sealed into `event`)."""
    content_type, sha256, size = inspected
    original_name = clean_name(getattr(upload, "name", "") or "")
    evidence = Evidence(
        case=case,
        event=event,
        original_name=original_name,
        content_type=content_type,
        size=size,
        sha256=sha256,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
        created_at=at,
    )
    evidence.file.save(original_name, File(upload), save=False)
    try:
        evidence.save()
    except Exception:
        # Keep storage and database in step; an orphan left by a rollback further out is
        # harmless (unreachable: files are only served through their row).
        if evidence.file.name:
            evidence.file.storage.delete(evidence.file.name)
        raise
    return evidence
